"""Shapes of the staff register's API: people, assignments, filings, the staffing report, visit coverage, phones."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.auth.enums import TerminalStatus
from gridgov.domains.staff.enums import Employment, FilingAction, FilingKind, FilingStatus, Post


class StaffBase(BaseModel):
    """Base of read models: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class AreaBrief(StaffBase):
    """An area as staff lists show it."""

    code: str
    name: str
    level: AreaLevel


# People: MemberRead in lists and details; MemberUpdate corrects a record.
class MemberRead(StaffBase):
    """A person of the grid force: a user of gridgov, or someone known by name and work phone only."""

    id: int
    name: str
    work_phone: str | None
    user_id: int | None


class MemberUpdate(BaseModel):
    """Corrections of a person's record (a user's name is their account's and cannot be changed here)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100)
    work_phone: str | None = Field(None, max_length=32, description="a work number; empty string clears it")


# Assignments: AssignmentCreate for street posts, AssignmentEnd to end one, AssignmentRead everywhere.
class AssignmentCreate(BaseModel):
    """A person takes a street post (一级网格). Community and grid posts are changed through a filing."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    area: str = Field(min_length=1, max_length=32, description="the street's area code")
    post: Post
    employment: Employment = Employment.full_time
    starts_on: dt.date | None = Field(None, description="default: today (district time)")
    username: str | None = Field(None, max_length=64, description="the person, when a user")
    member_id: int | None = Field(None, gt=0, description="the person, when already in the register")
    name: str | None = Field(None, max_length=100, description="a new person without login")
    work_phone: str | None = Field(None, max_length=32)


class AssignmentEnd(BaseModel):
    """Ends a street post from a day (the first day without it)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    ends_on: dt.date | None = Field(None, description="default: today (district time)")
    reason: str = Field(min_length=1, max_length=400)


class AssignmentRead(StaffBase):
    """A person holding a post in an area from a date (until a date, when ended)."""

    id: int
    member: MemberRead
    area: AreaBrief
    grid_level: int
    post: Post
    employment: Employment
    starts_on: dt.date
    ends_on: dt.date | None
    end_reason: str | None
    counted: bool = False  # a community worker (社区工作者) in the staffing ratio

    @classmethod
    def of(cls, row: Any) -> AssignmentRead:
        """Returns the read model of an Assignment."""
        from gridgov.domains.staff.service import is_counted

        return cls.model_validate(row).model_copy(update={"counted": is_counted(row)})


class AreaStaffRead(BaseModel):
    """An area's current staff: the posts held in it, and its community workers (the area and below)."""

    area: AreaBrief
    on: dt.date
    community_workers: int
    assignments: list[AssignmentRead]


class MemberDetail(MemberRead):
    """A person with every assignment the caller may see (current and ended): their grids, their history."""

    assignments: list[AssignmentRead] = Field(default_factory=list)


# Filings: FilingCreate asks, FilingDecision decides, FilingRead shows one with its history.
class FilingCreate(BaseModel):
    """A personnel change to file (人员变动报备).

    - onboard: `to_area`, `post` (and `employment`), the person as `username`, `member_id` or `person_name`;
    - leave: `assignment_id`;
    - transfer: `assignment_id`, `to_area` (the post and employment stay unless given);
    - change_post: `assignment_id` and the new `post` and/or `employment`.
    """

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    kind: FilingKind
    effective_on: dt.date = Field(description="the day the change takes effect (district date)")
    reason: str = Field(min_length=1, max_length=2000)
    assignment_id: int | None = Field(None, gt=0)
    to_area: str | None = Field(None, max_length=32, description="community or grid code")
    post: Post | None = None
    employment: Employment | None = None
    username: str | None = Field(None, max_length=64)
    member_id: int | None = Field(None, gt=0)
    person_name: str | None = Field(None, max_length=100)
    work_phone: str | None = Field(None, max_length=32)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> FilingCreate:
        if self.kind == FilingKind.onboard and self.assignment_id is not None:
            raise ValueError("an onboarding names no assignment_id: it starts a new one")
        if self.kind != FilingKind.onboard and any((self.username, self.member_id, self.person_name)):
            raise ValueError(f"a {self.kind} filing names the person through assignment_id")
        if self.kind in (FilingKind.leave, FilingKind.change_post) and self.to_area:
            raise ValueError(f"a {self.kind} filing has no to_area")
        if self.kind == FilingKind.leave and (self.post or self.employment):
            raise ValueError("a leave filing has no post")
        return self


class FilingDecision(BaseModel):
    """An approval (note optional) or refusal (note required: why)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    note: str | None = Field(None, max_length=2000)


class FilingEventRead(StaffBase):
    """One step of a filing's history."""

    action: FilingAction
    at: dt.datetime
    actor_user_id: int | None
    actor_name: str
    note: str | None


class FilingRead(StaffBase):
    """A personnel filing with its whole history."""

    id: int
    kind: FilingKind
    status: FilingStatus
    person_name: str
    member_id: int | None
    user_id: int | None
    assignment_id: int | None
    from_area: AreaBrief | None
    to_area: AreaBrief | None
    post: Post | None
    employment: Employment | None
    effective_on: dt.date
    reason: str
    requested_by_user_id: int
    requested_at: dt.datetime
    decided_by_user_id: int | None
    decided_at: dt.datetime | None
    decision_note: str | None
    applied_at: dt.datetime | None
    new_assignment_id: int | None
    events: list[FilingEventRead]
    may_decide: bool = False  # the caller may approve or refuse it now


# The staffing report (社区工作者配备).
class StaffingRowRead(BaseModel):
    """An area's community workers against the standard per 10,000 residents."""

    code: str
    name: str
    level: AreaLevel
    staff: int
    population: int | None
    per_10k: float | None
    standard: float
    short_by: int
    below_standard: bool


class StaffingReportRead(BaseModel):
    """Every area of a level in the caller's area, the least staffed first, with totals."""

    level: AreaLevel
    standard: float
    on: dt.date
    areas: int
    below_standard: int
    short_total: int
    rows: list[StaffingRowRead]


# Household visit coverage (走访覆盖率).
class CoverageRowRead(BaseModel):
    """An area's household visits over a period: households visited against the households there."""

    code: str
    name: str
    level: AreaLevel
    households: int | None
    households_visited: int
    coverage: float | None
    visits: int
    workers: int
    visits_per_worker: float | None
    findings: int
    cases: int
    cases_closed: int


class WorkerCoverageRead(BaseModel):
    """One worker's visits over the period (not a ranking: listed by name)."""

    user_id: int
    name: str
    visits: int
    households_visited: int
    findings: int
    cases: int


class CoverageRead(BaseModel):
    """Visit coverage of the areas of a level over a period, with the total of the caller's area."""

    period: str
    level: AreaLevel
    rows: list[CoverageRowRead]
    total: CoverageRowRead | None
    workers: list[WorkerCoverageRead] = Field(default_factory=list)


# Phones (终端) and lost reports (挂失).
class PhoneRead(StaffBase):
    """A grid worker's phone as the staff pages show it."""

    id: int
    device_id: str
    user_id: int
    owner: str = ""  # the worker's display name
    label: str | None
    status: TerminalStatus
    bound_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_seen_at: dt.datetime | None


class LostReport(BaseModel):
    """Why a phone is reported lost (挂失): stolen, lost, left in a taxi ..."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    reason: str = Field(min_length=2, max_length=1000)


class TerminalLossRead(StaffBase):
    """A phone reported lost: revoked at once, its owner's sessions ended."""

    id: int
    terminal_id: int
    user_id: int
    device_id: str
    reason: str
    reported_at: dt.datetime
    reported_by_user_id: int | None
    reported_by_name: str
    sessions_ended: int
