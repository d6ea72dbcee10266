"""API shapes of cases: the read family and one command body per action."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gridgov.domains.auth.enums import Role
from gridgov.domains.cases.enums import Action, CaseStage, Channel, Reasonableness, Satisfaction
from gridgov.domains.catalog.enums import Stage, Urgency
from gridgov.domains.intake.schemas import DuplicateSuggestion

T = TypeVar("T")


class AppBase(BaseModel):
    """Base of read models: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class Page(AppBase, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    offset: int
    limit: int


class CaseEventRead(AppBase):
    """One event of a case's timeline."""

    seq: int
    action: Action
    from_stage: CaseStage | None
    to_stage: CaseStage
    actor_name: str
    actor_role: Role
    actor_unit_id: int | None
    reason_code: str | None
    note: str | None
    data: dict[str, Any]
    clock_stage: Stage | None
    deadline_at: dt.datetime | None
    occurred_at: dt.datetime


class AttachmentRead(AppBase):
    """A photo or file of a case; fetch it from /api/v1/media/{sha256}."""

    kind: str
    sha256: str
    content_type: str
    size: int


class CaseReadMinimal(AppBase):
    """A case in a list: no personal data, no timeline."""

    id: int
    number: str
    version: int
    channel: Channel
    matter_type_id: int
    urgency: Urgency
    title: str
    stage: CaseStage
    lng: float
    lat: float
    address: str | None
    grid_id: int | None
    street_id: int | None
    handling_unit_id: int | None
    is_overdue: bool
    is_supervised: bool
    is_escalated: bool
    is_suspended: bool
    warning_level: int
    reported_at: dt.datetime
    closed_at: dt.datetime | None


class CaseRead(CaseReadMinimal):
    """A case in full, for people who work on it. The reporter's contact is never included."""

    description: str
    external_id: str | None
    tracking_code: str | None
    community_id: int | None
    district_id: int | None
    centre_area_id: int | None
    co_unit_ids: list[int]
    parent_id: int | None
    result: str | None
    flags: list[str] = []
    reporter_role: Role | None
    has_contact: bool = False
    is_extended: bool
    is_final_ruling: bool
    pending_request: dict[str, Any] | None
    dispatch_candidates: list[dict[str, Any]]
    classification: dict[str, Any] | None
    clock_stage: Stage | None
    register_due_at: dt.datetime | None
    dispatch_due_at: dt.datetime | None
    handle_due_at: dt.datetime | None
    verify_due_at: dt.datetime | None
    suspended_until: dt.datetime | None
    hop_count: int
    return_count: int
    rework_count: int
    extension_count: int
    limbo_seconds: float
    satisfaction: Satisfaction | None
    reasonableness: Reasonableness | None
    registered_at: dt.datetime | None
    dispatched_at: dt.datetime | None
    signed_at: dt.datetime | None
    handled_at: dt.datetime | None
    verified_at: dt.datetime | None
    allowed_actions: list[Action] = []
    attachments: list[AttachmentRead] = []
    timeline: list[CaseEventRead] = []


class ContactRead(AppBase):
    """A citizen reporter's contact: personal data, returned only by the audited contact endpoint."""

    name: str | None
    phone: str | None
    email: str | None


class CaseCreated(BaseModel):
    """The answer to a report: the case, whether this call created it, and possible duplicates."""

    case: CaseRead
    created: bool
    duplicates: list[DuplicateSuggestion]


class Command(BaseModel):
    """Base of action bodies: `version` is the case version the client saw (stale → 409)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    version: int | None = Field(None, description="the case version you acted on; a stale one gets 409")
    note: str | None = Field(None, max_length=2000)


class RejectCommand(Command):
    reason_code: str


class MergeCommand(Command):
    parent_id: int


class ReclassifyCommand(Command):
    matter_type: str = Field(description="code of the correct matter type (事项编码)")


class DispatchCommand(Command):
    unit: str = Field(description="code of the handling unit")
    co_units: list[str] = []


class ReturnCommand(Command):
    reason_code: str
    citation: str | None = Field(None, description="the responsibility/power list item relied on")


class FinishCommand(Command):
    result: str = Field(min_length=1, max_length=2000)
    evidence: list[str] = Field(default_factory=list, description="sha256 of uploaded after-photos")


class VerifyCommand(Command):
    ok: bool
    evidence: list[str] = []


class ExtensionRequest(Command):
    amount: float = Field(gt=0, description="extra time in the clock's own unit (hours or working days)")
    reason: str = Field(min_length=1)


class Decision(Command):
    approve: bool


class SuspensionRequest(Command):
    until: AwareDatetime
    reason: str = Field(min_length=1)


class SuperviseCommand(Command):
    note: str = Field(min_length=1, max_length=2000)
    new_deadline: AwareDatetime | None = None


class NoteRequired(Command):
    note: str = Field(min_length=1, max_length=2000)


class RateCommand(Command):
    satisfaction: Satisfaction


class ReasonablenessCommand(Command):
    ruling: Reasonableness
    note: str = Field(min_length=1, max_length=2000, description="the ruling's grounds (internal)")
    reason_code: str | None = Field(None, description="required for an unreasonable ruling (see the docs)")
    reply: str | None = Field(None, max_length=2000, description="reply to the reporter; default: the template")


class MediaRead(BaseModel):
    """An uploaded file: reference it by sha256 in reports and results."""

    sha256: str
    content_type: str
    size: int
    width: int | None = Field(None, description="photo width in pixels, as shown (EXIF orientation applied)")
    height: int | None = Field(None, description="photo height in pixels, as shown")
    taken_at: AwareDatetime | None = Field(None, description="when the camera says the photo was taken (EXIF)")
    gps_lng: float | None = Field(None, description="WGS84 longitude from the photo's EXIF GPS")
    gps_lat: float | None = Field(None, description="WGS84 latitude from the photo's EXIF GPS")
