"""Shapes of intake: what every channel submits, and what it gets back."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gridgov.core.geo import Crs
from gridgov.domains.cases.enums import Channel
from gridgov.domains.catalog.enums import Urgency


class ContactIn(BaseModel):
    """A citizen reporter's contact (personal data: kept apart from the case and masked in listings)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40, pattern=r"^[0-9+\- ]{5,40}$")
    email: str | None = Field(None, max_length=200)


class ClassificationIn(BaseModel):
    """A model's classification of the report, when the matter type was suggested by triage."""

    model_config = ConfigDict(extra="forbid")

    label: str
    confidence: float = Field(ge=0, le=1)
    model: str | None = None
    suggestions: list[dict[str, float | str]] = []


class SelfHandledIn(BaseModel):
    """即时处置: the reporter fixed the problem on the spot."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    result: str = Field(min_length=1, max_length=2000)
    evidence: list[str] = Field(default_factory=list, description="sha256 of uploaded after-photos")


class CaseSubmit(BaseModel):
    """One report from any channel; `intake.submit` turns it into a case (or returns the one it already made)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    channel: Channel
    matter_type: str = Field(min_length=1, max_length=32, description="matter type code (事项编码)")
    urgency: Urgency | None = Field(None, description="default: the matter type's default urgency")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    lng: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Crs = Crs.wgs84
    address: str | None = Field(None, max_length=300)
    external_id: str | None = Field(None, max_length=100, description="the id in the source system")
    contact: ContactIn | None = None
    component_owner: str | None = Field(None, description="unit code owning the component (部件权属单位)")
    classification: ClassificationIn | None = None
    attachments: list[str] = Field(default_factory=list, description="sha256 of uploaded photos")
    self_handled: SelfHandledIn | None = None

    @field_validator("description")
    @classmethod
    def _no_html(cls, value: str) -> str:
        if "<" in value and ">" in value:
            raise ValueError("description must be plain text, not HTML")
        return value


class DuplicateSuggestion(BaseModel):
    """An open case that may be the same problem."""

    case_id: int
    number: str
    title: str
    distance_m: float
    reported_at: str
