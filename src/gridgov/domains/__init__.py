"""Domain packages. Each is listed once here so tables and routers are found without import side effects."""

from __future__ import annotations

import importlib
from types import ModuleType

DOMAINS: tuple[str, ...] = (
    "areas",
    "catalog",
    "auth",
    "cases",
    "dispatch",
    "intake",
    "snapshot",
    "open311",
    "hotline",
    "iot",
    "video",
    "triage",
    "evaluation",
    "people",
    "party",
    "staff",
    "duty",
)


def import_domain_modules(module: str) -> list[ModuleType]:
    """Imports `gridgov.domains.<domain>.<module>` for every domain that has it."""
    found = []
    for domain in DOMAINS:
        name = f"gridgov.domains.{domain}.{module}"
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def load_models() -> None:
    """Imports every domain's models so Base.metadata knows all tables."""
    importlib.import_module("gridgov.core.ratelimit")
    import_domain_modules("models")
