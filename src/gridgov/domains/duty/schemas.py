"""Shapes of the duty API: centres and shifts, roster rows, who is on duty, gaps, handovers, contacts and the
notification log."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from gridgov.domains.duty.enums import DeliveryStatus, NoticeKind


class DutyBase(BaseModel):
    """Base of read models: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


# Centres and shifts: CentreRead lists a centre; ShiftIn is the body of PUT /duty/shifts/{centre}/{code}.
class CentreRead(DutyBase):
    """An operation centre: the district's or a street's (an area of that level)."""

    code: str
    name: str
    level: str
    centre: str  # "人民路街道城运中心"


class ShiftIn(BaseModel):
    """A shift to create or update: its name and wall-clock span in the district's time zone."""

    name: str = Field(min_length=1, max_length=50, examples=["早班"])
    time: str = Field(
        examples=["08:00-16:00"],
        description="HH:MM-HH:MM; 16:00-24:00 ends at midnight, "
        "20:00-08:00 runs past midnight, 08:00-08:00 is 24 hours",
    )
    position: int | None = Field(None, description="order among shifts starting at the same time")
    is_active: bool = True


class ShiftRead(DutyBase):
    """A shift of a centre."""

    code: str
    name: str
    time: str
    start_minute: int
    duration_minutes: int
    position: int
    is_active: bool


# Roster rows: RosterIn is the body of PUT /duty/roster/{centre}/{date}/{shift}; RosterRead what lists return.
class PersonRead(BaseModel):
    """Someone on a roster row or on duty now, with the duty contact shown to whoever may see the roster."""

    username: str
    name: str
    role: str
    is_leader: bool
    mobile: str | None = None
    shift: str | None = None


class RosterIn(BaseModel):
    """Who is on duty on one date and shift: the duty leader (值班长, required) and the other staff (usernames)."""

    leader: str | None = Field(None, max_length=64)
    staff: list[str] = Field(default_factory=list, max_length=50)
    note: str | None = Field(None, max_length=1000)


class RosterRead(BaseModel):
    """One roster row: a date and shift of a centre, its span (UTC and local), its people."""

    id: int
    centre: str
    date: dt.date
    shift: str
    shift_name: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    local_time: str  # "2026-12-01 16:00 – 2026-12-02 00:00" in the district's zone
    leader: str
    people: list[PersonRead]
    note: str | None


class RotationIn(BaseModel):
    """The body of POST /duty/roster/generate: a month's roster from a rotation of teams (and daily leaders)."""

    centre: str
    month: str = Field(pattern=r"^\d{4}-\d{1,2}$", examples=["2026-12"])
    teams: list[list[str]] = Field(
        min_length=1,
        max_length=20,
        description="usernames per team; teams take the "
        "shifts in turn; a team's first member leads unless leaders are given",
    )
    leaders: list[str] = Field(default_factory=list, max_length=62, description="daily rota of duty leaders")
    shifts: list[str] | None = Field(None, description="shift codes taking part (default: the active shifts)")
    anchor: dt.date | None = Field(None, description="day 0 of the rotation (default: the month's first day)")
    replace: bool = Field(False, description="replace rows already on the roster")


class GenerateRead(BaseModel):
    """What a generation or an import wrote."""

    centre: str
    rows: int
    shifts: int = 0
    first: dt.date | None = None
    last: dt.date | None = None


# Who is on duty.
class OnDutyRead(BaseModel):
    """Who is on duty at one centre at one instant; `gap` when nobody is."""

    centre: CentreRead
    at: dt.datetime
    gap: bool
    leaders: list[PersonRead]
    people: list[PersonRead]
    shifts: list[str]
    next_change_at: dt.datetime | None


class NowRead(BaseModel):
    """The answer of GET /duty/now: each centre asked for (or each the caller may see)."""

    at: dt.datetime
    centres: list[OnDutyRead]


class GapRead(BaseModel):
    """A period with nobody on duty at a centre."""

    centre: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    hours: float


# Handovers: HandoverIn is the body of POST /duty/handovers; HandoverRead what the log returns.
class HandoverIn(BaseModel):
    """A shift's handover (交接班), by someone on duty on it."""

    roster_id: int
    open_matters: str = Field("", max_length=4000, description="matters left open (遗留事项)")
    case_numbers: list[str] = Field(default_factory=list, max_length=100, description="cases they concern")
    notes: str = Field("", max_length=4000)


class AcknowledgeIn(BaseModel):
    """The incoming leader's acknowledgement (接班确认), with an optional note."""

    note: str | None = Field(None, max_length=1000)


class HandoverRead(BaseModel):
    """A handover with its shifts, writer and acknowledgement."""

    id: int
    centre: str
    roster_id: int
    shift: str  # "2026-12-01 早班"
    incoming_roster_id: int | None
    incoming_shift: str | None
    written_by: str
    written_at: dt.datetime
    open_matters: str
    case_numbers: list[str]
    notes: str
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    acknowledgement_note: str | None


# Contacts.
class ContactIn(BaseModel):
    """Where a member of the duty staff is notified; empty values clear them."""

    email: str | None = Field(None, max_length=200)
    mobile: str | None = Field(None, max_length=20)


class ContactRead(BaseModel):
    """A duty contact."""

    username: str
    name: str
    email: str | None
    mobile: str | None


# The notification log.
class DeliveryRead(DutyBase):
    """One delivery of a notice."""

    id: int
    notifier: str
    recipient: str
    address: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    last_error: str | None


class NoticeRead(BaseModel):
    """A notice to the on-duty staff and its deliveries."""

    id: int
    kind: NoticeKind
    case_id: int
    case_number: str
    subject: str
    body: str
    remark: str | None
    occurred_at: dt.datetime
    created_at: dt.datetime
    deliveries: list[DeliveryRead]
