"""Pydantic shapes of the catalogue: the file format a district maintains (YAML/XLSX) and the API reads."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.catalog.enums import TIME_UNIT_SUFFIX, MatterKind, Stage, TimeUnit, UnitKind, Urgency

_LIMIT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(wh|wd|h)\s*$")


def parse_limit(text: str) -> tuple[float, TimeUnit]:
    """Parses a time limit such as "4wh" (工作时), "2wd" (工作日) or "24h" (natural hours)."""
    match = _LIMIT_RE.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"time limit {text!r}: expected a positive number followed by wh, wd or h (e.g. 4wh)")
    return float(match.group(1)), TIME_UNIT_SUFFIX[match.group(2)]


def format_limit(amount: float, unit: TimeUnit) -> str:
    """Formats a time limit back into the file syntax ("4wh")."""
    suffix = next(s for s, u in TIME_UNIT_SUFFIX.items() if u == unit)
    return f"{amount:g}{suffix}"


def _split_list(value: object) -> object:
    """Accepts a list or a comma-separated string (XLSX cells), with Chinese or Latin commas."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,，、;；]", value) if part.strip()]
    return value


StrList = Annotated[list[str], BeforeValidator(_split_list)]
Limit = Annotated[str, BeforeValidator(lambda v: str(v).strip())]


class FileModel(BaseModel):
    """Base of the catalogue file rows: unknown keys are errors, blank strings count as absent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, use_enum_values=False)


class UnitIn(FileModel):
    """A unit as written in a catalogue file."""

    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    kind: UnitKind
    level: AreaLevel
    function: str | None = Field(None, max_length=64, description="what the unit does, for rule resolution")
    parent: str | None = Field(None, description="code of the parent unit")
    area: str | None = Field(None, description="code of the area the unit serves")
    phone: str | None = Field(None, max_length=40)
    is_active: bool = True


class MatterTypeIn(FileModel):
    """A matter type as written in a catalogue file; `time_limits` maps urgency → stage → limit."""

    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = None
    kind: MatterKind
    major_code: str = Field(min_length=1, max_length=16)
    major_name: str = Field(min_length=1, max_length=100)
    minor_code: str = Field(min_length=1, max_length=16)
    register_condition: str | None = None
    close_condition: str | None = None
    default_urgency: Urgency = Urgency.normal
    department_only: bool = False
    evidence_required: bool = True
    keywords: StrList = []
    is_active: bool = True
    time_limits: dict[Urgency, dict[Stage, Limit]] = Field(
        default_factory=dict, description="urgency → stage → limit such as 4wh, 2wd or 24h"
    )

    @field_validator("time_limits")
    @classmethod
    def _valid_limits(cls, value: dict[Urgency, dict[Stage, str]]) -> dict[Urgency, dict[Stage, str]]:
        for stages in value.values():
            for limit in stages.values():
                parse_limit(limit)
        return value


class ResponsibilityIn(FileModel):
    """A responsibility-list row: matter type × area scope → handling unit (named, or by function at a level)."""

    matter: str = Field(description="matter type code")
    area: str | None = Field(None, description="area code of the scope; empty = everywhere")
    level: AreaLevel
    unit: str | None = Field(None, description="code of a named handling unit")
    function: str | None = Field(None, description="unit function resolved at `level` in the case's area")
    co_units: StrList = []
    co_functions: StrList = []
    legal_basis: str | None = None


class GridAccessIn(FileModel):
    """A grid-access-list row: may the matter type be pushed down to grid and community units?"""

    matter: str
    area: str | None = None
    admitted: bool
    basis: str | None = None


class PowerIn(FileModel):
    """A power-list row of a unit, with the matter types it covers."""

    code: str = Field(min_length=1, max_length=64)
    unit: str
    title: str = Field(min_length=1, max_length=300)
    category: str = Field(min_length=1, max_length=40)
    legal_basis: str | None = None
    matters: StrList = []


class CatalogDocument(FileModel):
    """A whole catalogue file. Every section is optional; an import upserts what the file contains."""

    version: int = 1
    units: list[UnitIn] = []
    matter_types: list[MatterTypeIn] = []
    responsibilities: list[ResponsibilityIn] = []
    grid_access: list[GridAccessIn] = []
    powers: list[PowerIn] = []
