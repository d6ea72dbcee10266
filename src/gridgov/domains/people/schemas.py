"""Shapes of the resident register's API: masked reads, the change commands, unmasking, import and export.

Reads are masked by default (`ResidentReadMasked`): identity numbers and phones as `410105********1234` and
`138****5678`, and for roles that may not unmask the name as 张* and the birth date as its year. Clear values
come only from `UnmaskRead`, the answer to an unmask with a stated purpose.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gridgov.domains.people.enums import (
    EventKind,
    ExportStatus,
    Gender,
    HouseholdKind,
    Relation,
    ResidenceType,
    ResidentStatus,
    Sensitivity,
)

Name = Field(min_length=1, max_length=100)
Note = Field(None, max_length=1000)
Purpose = Field(min_length=1, max_length=200, description="Why (recorded in the audit log); at least 4 characters.")


class PeopleBase(BaseModel):
    """Base of read models: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class Command(BaseModel):
    """Base of request bodies: unknown fields are refused, text is trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- tags ---


class TagRead(PeopleBase):
    """A tag definition (9+X group) and its sensitivity."""

    code: str
    name: str
    sensitivity: Sensitivity
    description: str | None
    is_builtin: bool
    is_active: bool


class TagBrief(PeopleBase):
    """A tag a resident carries."""

    code: str
    name: str
    sensitivity: Sensitivity


# --- reads ---


class EventRead(PeopleBase):
    """One change of the register: what, when it happened, who recorded it and what changed (masked)."""

    id: int
    kind: EventKind
    resident_id: int | None
    household_id: int | None
    occurred_on: dt.date | None
    recorded_at: dt.datetime
    actor_name: str
    source: str | None
    changes: dict[str, Any]
    note: str | None


class HouseholdRead(PeopleBase):
    """A household: its building and door, kind and residence, and how many active residents it has."""

    id: int
    building_code: str
    building_name: str
    room: str
    kind: HouseholdKind
    residence: ResidenceType
    notes: str | None
    active_residents: int = 0


class ResidentReadMasked(BaseModel):
    """A resident as lists show them: identity number and phone masked; the name and birth date masked too for roles
    that may not unmask; only the tags the caller may see."""

    id: int
    household_id: int
    building_code: str
    building_name: str
    room: str
    relation: Relation
    name: str
    gender: Gender | None
    birth: str | None = Field(description="Birth date (1956-03-02), or its year alone for roles that may not unmask.")
    ethnicity: str | None
    id_number: str | None = Field(description="Masked: 410105********1234.")
    phone: str | None = Field(description="Masked: 138****5678 or 0371-****1234.")
    residence_type: ResidenceType
    status: ResidentStatus
    status_on: dt.date | None
    tags: list[TagBrief]


class ResidentDetail(ResidentReadMasked):
    """A resident with the history of their changes."""

    events: list[EventRead]
    may_unmask: bool


class HouseholdDetail(HouseholdRead):
    """A household with its residents (masked) and its history."""

    residents: list[ResidentReadMasked]
    events: list[EventRead]


class ChangeRead(BaseModel):
    """The answer to a change: which resident and household, and the event that records it."""

    resident_id: int | None
    household_id: int | None
    event: EventRead | None


class HouseholdPage(BaseModel):
    """One page of households (doors and counts, no personal data)."""

    items: list[HouseholdRead]
    total: int
    offset: int
    limit: int


class ResidentPage(BaseModel):
    """One page of residents (masked)."""

    items: list[ResidentReadMasked]
    total: int
    offset: int
    limit: int


# --- commands ---


class PersonIn(Command):
    """A person entering the register (moving in): the identity number and phone are checked and encrypted."""

    name: str = Name
    relation: Relation
    residence_type: ResidenceType
    id_number: str | None = Field(None, max_length=40, description="18 characters with a GB 11643 check digit.")
    phone: str | None = Field(None, max_length=40, description="Mainland mobile or landline.")
    gender: Gender | None = Field(None, description="Default: from the identity number.")
    birth_date: dt.date | None = Field(None, description="Default: from the identity number; must match it.")
    ethnicity: str | None = Field(None, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=20, description="Tag codes.")


class HouseholdCreate(Command):
    """A new household (立户) behind a door of a building in the caller's area."""

    building: str = Field(min_length=1, max_length=32, description="The building's area code.")
    room: str = Field(min_length=1, max_length=50, description="Door / room number: 2单元501.")
    kind: HouseholdKind = HouseholdKind.family
    residence: ResidenceType = ResidenceType.registered
    notes: str | None = Note


class HouseholdUpdate(Command):
    """A change of a household's kind, residence or notes; `reason` is kept in its history."""

    kind: HouseholdKind | None = None
    residence: ResidenceType | None = None
    notes: str | None = Note
    reason: str | None = Note


class MoveIn(PersonIn):
    """迁入: a person moves into a household (a former resident who moved out is taken back by identity number)."""

    occurred_on: dt.date | None = None
    note: str | None = Note


class Birth(Command):
    """出生: a child born into a household (the identity number may follow later as a correction)."""

    name: str = Name
    gender: Gender
    birth_date: dt.date
    relation: Relation = Relation.child
    residence_type: ResidenceType = ResidenceType.registered
    ethnicity: str | None = Field(None, max_length=20)
    id_number: str | None = Field(None, max_length=40)
    note: str | None = Note


class MoveOut(Command):
    """迁出: the resident leaves the district (the record stays, with its history)."""

    occurred_on: dt.date
    note: str | None = Note


class Death(Command):
    """死亡."""

    occurred_on: dt.date
    note: str | None = Note


class ContactChange(Command):
    """联系方式变更: a new phone (null removes it)."""

    phone: str | None = Field(max_length=40)
    note: str | None = Note


class HouseholdMove(Command):
    """户变更: the resident joins another household of the caller's area."""

    household_id: int
    relation: Relation
    occurred_on: dt.date | None = None
    note: str | None = Note


class TagChange(Command):
    """Adds a tag to a resident (removal is DELETE .../tags/{code})."""

    tag: str = Field(min_length=1, max_length=50, description="Tag code (or its Chinese name).")
    note: str | None = Note


class Correction(Command):
    """信息更正: fixes recorded facts; each changed field is kept in the history with `reason`."""

    name: str | None = Field(None, min_length=1, max_length=100)
    gender: Gender | None = None
    birth_date: dt.date | None = None
    ethnicity: str | None = Field(None, max_length=20)
    id_number: str | None = Field(None, max_length=40)
    residence_type: ResidenceType | None = None
    relation: Relation | None = None
    reason: str = Field(min_length=2, max_length=1000)


class UnmaskIn(Command):
    """Asks for a resident's identity number and/or phone in clear, with the purpose (audited)."""

    purpose: str = Purpose
    fields: list[Literal["id_number", "phone"]] = Field(default_factory=lambda: ["id_number", "phone"], min_length=1)


class UnmaskRead(BaseModel):
    """The clear values asked for (only those), and that the read was audited."""

    resident_id: int
    id_number: str | None = None
    phone: str | None = None
    purpose: str
    audited: bool = True


class SearchIn(Command):
    """A search by exactly one of: identity number or phone (exact match, blind index), or name (within scope).

    A POST body rather than a query string, so that the number never lands in an access log.
    """

    id_number: str | None = Field(None, max_length=40)
    phone: str | None = Field(None, max_length=40)
    name: str | None = Field(None, min_length=1, max_length=100)
    include_inactive: bool = Field(False, description="Also residents who moved out or died.")

    @model_validator(mode="after")
    def _one(self) -> SearchIn:
        given = [v for v in (self.id_number, self.phone, self.name) if v]
        if len(given) != 1:
            raise ValueError("give exactly one of id_number, phone or name")
        return self


# --- import ---


class RowIssue(BaseModel):
    """One problem of an import file: the row as Excel numbers it, the column (its header), and what is wrong."""

    row: int | None
    column: str | None
    message: str


class ImportSummary(BaseModel):
    """What an import did (or, in a dry run, would do), and the rows it refused."""

    source: str
    rows: int
    households_created: int
    households_reused: int
    residents_created: int
    tags_added: int
    skipped_rows: int = 0
    dry_run: bool = False
    partial: bool = False
    errors: list[RowIssue] = Field(default_factory=list)


# --- exports ---


class ExportFilters(Command):
    """Which residents an export holds (all within the requester's area)."""

    area: str | None = Field(None, max_length=32, description="An area code: its whole subtree.")
    status: ResidentStatus | None = ResidentStatus.active
    residence_type: ResidenceType | None = None
    tag: str | None = Field(None, max_length=50, description="Only residents carrying this tag.")
    born_from: dt.date | None = None
    born_to: dt.date | None = None


class ExportCreate(Command):
    """An export request: filters, the purpose, and whether identity numbers and phones are wanted in clear."""

    filters: ExportFilters = Field(default_factory=ExportFilters)
    purpose: str = Purpose
    include_personal: bool = Field(False, description="Identity numbers and phones in clear (needs resident.unmask).")


class ExportDecision(Command):
    """An approver's decision on an export request."""

    approve: bool
    note: str | None = Note


class ExportRead(PeopleBase):
    """An export request and where it stands (`expired` once an approved one is past `expires_at`)."""

    id: int
    status: ExportStatus
    requester_name: str
    requested_by_user_id: int
    requested_at: dt.datetime
    purpose: str
    filters: dict[str, Any]
    include_personal: bool
    row_count: int
    decided_by_name: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    expires_at: dt.datetime | None
    download_count: int
    last_downloaded_at: dt.datetime | None
