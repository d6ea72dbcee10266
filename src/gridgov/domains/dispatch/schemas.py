"""Shapes of dispatch decisions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, PrivateAttr

from gridgov.domains.areas.enums import AreaLevel


class Candidate(BaseModel):
    """A unit that may handle a case, and why (the rule that names it)."""

    unit_id: int
    unit_code: str
    unit_name: str
    level: AreaLevel
    source: str  # "area_rule", "component_owner" or "district_rule"
    rule_id: int | None = None
    co_unit_ids: list[int] = []
    legal_basis: str | None = None
    # The Unit row it was resolved from, kept so that dispatching to it needs no second query.
    _unit: Any = PrivateAttr(None)

    def with_unit(self, unit: Any) -> Candidate:
        self._unit = unit
        return self

    @property
    def unit(self) -> Any:
        """The resolved Unit row (None when built from stored JSON)."""
        return self._unit


class DispatchPlan(BaseModel):
    """What dispatch would do with a case: the candidates, whether it may go automatically, and which centre."""

    candidates: list[Candidate]
    auto_unit_id: int | None
    centre_level: AreaLevel  # street or district: whose queue holds the case
    reason: str
