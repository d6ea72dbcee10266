"""Shapes of the citizen snapshot channel: the report a citizen sends and what the public may read back."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gridgov.core.geo import Crs
from gridgov.domains.cases.enums import Action, CaseStage, Satisfaction

MAX_PHOTOS = 6
MAX_DESCRIPTION = 2000
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
_PHONE_RE = re.compile(r"^\+?\d{5,20}$")


def normalize_phone(value: str | None) -> str | None:
    """Returns the phone number without spaces, dashes and brackets (None when blank); raises ValueError if bad."""
    if value is None or not value.strip():
        return None
    phone = _PHONE_SEPARATORS.sub("", value.strip())
    if not _PHONE_RE.match(phone):
        raise ValueError("a phone number has 5 to 20 digits (an optional leading +), e.g. 13800000000")
    return phone


class SnapshotIn(BaseModel):
    """One citizen report (随手拍): what, where, a description that will be public, optional photos and phone."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    matter_type: str = Field(
        min_length=1, max_length=32, description="matter type code from GET /api/v1/public/matter-types"
    )
    description: str = Field(
        min_length=1, max_length=MAX_DESCRIPTION, description="what is wrong; shown publicly, no personal data"
    )
    lng: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Crs = Field(Crs.wgs84, description="coordinate system of lng/lat: wgs84 (phone GPS), gcj02 or bd09")
    address: str | None = Field(None, max_length=300, description="where, in words (optional)")
    phone: str | None = Field(None, max_length=40, description="for a call-back only; never shown publicly")
    photos: list[str] = Field(
        default_factory=list, max_length=MAX_PHOTOS, description="sha256 of photos from POST /api/v1/public/media"
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value)

    @field_validator("photos")
    @classmethod
    def _hashes(cls, value: list[str]) -> list[str]:
        bad = [h for h in value if not _SHA256_RE.match(h)]
        if bad:
            raise ValueError(f"photos are the sha256 (64 lower-case hex digits) returned by the upload: {bad[0]!r}")
        return list(dict.fromkeys(value))

    @field_validator("description")
    @classmethod
    def _plain_text(cls, value: str) -> str:
        if "<" in value and ">" in value:
            raise ValueError("description must be plain text, not HTML")
        return value


class SnapshotCreated(BaseModel):
    """The answer to a report: keep the tracking code to follow the case."""

    tracking_code: str
    status_url: str = Field(description="the public status page of the case")
    api_url: str = Field(description="the public status of the case as JSON")
    created: bool = Field(description="false when a retry with the same Idempotency-Key found the earlier report")


class MatterChoice(BaseModel):
    """A matter type a citizen may choose."""

    code: str
    name: str


class MatterGroup(BaseModel):
    """The citizen's choices of one major class (大类); the last group holds 'other'."""

    name: str
    choices: list[MatterChoice]


class ProgressStep(BaseModel):
    """One step of the progress bar of the status page."""

    key: str
    label: str
    state: str = Field(description="done, current or todo")


class PublicNoteRead(BaseModel):
    """One public line of the case's history."""

    at: dt.datetime
    action: Action
    stage: CaseStage
    text: str


class PublicCaseRead(BaseModel):
    """What anyone holding the tracking code may know of a case (never the reporter, contact or staff)."""

    tracking_code: str
    number: str
    stage: CaseStage
    stage_label: str
    is_open: bool
    matter_type: str
    title: str
    reported_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    expected_at: dt.datetime | None = Field(description="the handling deadline in force, while one runs")
    agency: str | None = Field(description="the responsible unit")
    reply: str | None = Field(description="the official answer: the handling result, or a ruling's reply")
    satisfaction: Satisfaction | None
    can_rate: bool
    steps: list[ProgressStep]
    notes: list[PublicNoteRead]


class RatingIn(BaseModel):
    """回访评价 by the reporter after closure."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    satisfaction: Satisfaction
    comment: str | None = Field(None, max_length=500, description="kept with the case; not shown publicly")
