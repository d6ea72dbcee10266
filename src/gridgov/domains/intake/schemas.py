"""Shapes of intake: what every channel submits, and what it gets back."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from gridgov.core.geo import Crs
from gridgov.domains.cases.enums import Channel
from gridgov.domains.catalog.enums import Urgency


class ContactIn(BaseModel):
    """A citizen reporter's contact (personal data: kept apart from the case and masked in listings)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40, pattern=r"^[0-9+\- ]{5,40}$")
    email: str | None = Field(None, max_length=200)


class SuggestionIn(BaseModel):
    """One label an external classifier suggested, with its probability."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=100)
    code: str | None = Field(None, max_length=32, description="the matter type code the label stands for")
    name: str | None = Field(None, max_length=100)
    probability: float = Field(ge=0, le=1)


class ClassificationIn(BaseModel):
    """An external classifier's classification of the report (gridgov's own model fills this in by itself)."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=100)
    confidence: float = Field(ge=0, le=1)
    model: str | None = Field(None, max_length=100)
    suggestions: list[SuggestionIn] = Field(default_factory=list, max_length=10)


class SelfHandledIn(BaseModel):
    """即时处置: the reporter fixed the problem on the spot."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    result: str = Field(min_length=1, max_length=2000)
    evidence: list[str] = Field(default_factory=list, description="sha256 of uploaded after-photos")


class CaseSubmit(BaseModel):
    """One report from any channel; `intake.submit` turns it into a case (or returns the one it already made)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    channel: Channel
    matter_type: str | None = Field(
        None,
        min_length=1,
        max_length=32,
        description="matter type code (事项编码); left out (or the catch-all 'other' type), the active triage model "
        "classifies the title and description",
    )
    urgency: Urgency | None = Field(None, description="default: the matter type's default urgency")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    lng: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    crs: Crs = Crs.wgs84
    area_code: str | None = Field(
        None,
        max_length=32,
        description="without coordinates: the grid, community or street code the report names; the case is "
        "placed at that area's representative point",
    )
    address: str | None = Field(None, max_length=300)
    external_id: str | None = Field(None, max_length=100, description="the id in the source system")
    contact: ContactIn | None = None
    component_owner: str | None = Field(None, description="unit code owning the component (部件权属单位)")
    classification: ClassificationIn | None = None
    attachments: list[str] = Field(default_factory=list, description="sha256 of uploaded photos")
    self_handled: SelfHandledIn | None = None
    assigned_unit: str | None = Field(None, description="交办 only: the unit code the leader assigns the case to")
    due_at: AwareDatetime | None = Field(None, description="交办 only: the leader's deadline for handling")

    @model_validator(mode="after")
    def _location_and_assignment(self) -> CaseSubmit:
        if (self.lng is None) != (self.lat is None):
            raise ValueError("give both lng and lat, or neither")
        if self.lng is None and not self.area_code:
            raise ValueError("missing location: give lng and lat, or the area_code of a grid, community or street")
        if (self.assigned_unit or self.due_at) and self.channel != Channel.assignment:
            raise ValueError("assigned_unit and due_at belong to leader assignments (channel 'assignment')")
        return self

    @field_validator("description")
    @classmethod
    def _no_html(cls, value: str) -> str:
        if "<" in value and ">" in value:
            raise ValueError("description must be plain text, not HTML")
        return value


class DuplicateSuggestion(BaseModel):
    """An open case that may be the same problem (see docs/triage.md, Duplicates)."""

    case_id: int
    number: str
    title: str
    distance_m: float | None = Field(description="metres apart; null when either report has no coordinates")
    reported_at: str
    score: float = Field(description="duplicate score in [0, 1] from text, distance, time and matter type")
    text_similarity: float = Field(description="cosine similarity of the two texts in [0, 1]")


class FindingIn(BaseModel):
    """Something found on a household visit; with `create_case` it becomes a patrol case."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    description: str = Field(min_length=1, max_length=2000)
    create_case: bool = False
    matter_type: str | None = Field(None, max_length=32, description="required when create_case is true")
    title: str | None = Field(None, max_length=200, description="default: the start of the description")
    attachments: list[str] = Field(default_factory=list, description="sha256 of uploaded photos")


class VisitIn(BaseModel):
    """A household visit (入户走访) logged by a grid worker."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    household_ref: str = Field(min_length=1, max_length=200, description="building, unit and room (楼栋单元户)")
    household_id: int | None = Field(None, gt=0, description="the register's household, when known")
    lng: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Crs = Crs.wgs84
    visited_at: AwareDatetime | None = Field(None, description="default: now")
    purpose: str | None = Field(None, max_length=100, description="例行走访, 关爱走访, 矛盾排查 ...")
    summary: str = Field("", max_length=4000)
    findings: list[FindingIn] = Field(default_factory=list, max_length=20)


class VisitRead(BaseModel):
    """A logged visit and the cases its findings became."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    grid_id: int
    worker_user_id: int
    household_ref: str
    household_id: int | None
    visited_at: dt.datetime
    purpose: str | None
    summary: str
    findings: list[dict[str, Any]]
    case_ids: list[int]
