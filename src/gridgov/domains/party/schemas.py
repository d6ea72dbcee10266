"""Pydantic shapes of the party register: the tree file format and the API bodies (one section per part).

Organisations, partner organisations and communities are named by code in every body, members and households by
id. Dates are local dates (the district's time zone); hours are decimal hours (1.5 = 90 minutes).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gridgov.domains.party.enums import (
    ORG_KIND_LABELS_ZH,
    ORG_LEVEL_LABELS_ZH,
    SERVICE_CATEGORY_LABELS_ZH,
    MemberStatus,
    OrgKind,
    OrgLevel,
    RegistrantKind,
    RegistrationStatus,
    ServiceCategory,
)

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
CODE_RULE = "1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
_LEVEL_ALIASES = {label: level for level, label in ORG_LEVEL_LABELS_ZH.items()}
_KIND_ALIASES = {label: kind for kind, label in ORG_KIND_LABELS_ZH.items()}
_CATEGORY_ALIASES = {label: category for category, label in SERVICE_CATEGORY_LABELS_ZH.items()}
# What people write for a community's party body in a file (社区党委 = 党委 ...).
_KIND_ALIASES.update(
    {"社区党委": OrgKind.committee, "社区党总支": OrgKind.general_branch, "社区党支部": OrgKind.branch}
)
_KIND_ALIASES.update(
    {"网格党支部": OrgKind.branch, "楼院党小组": OrgKind.group, "街道党工委": OrgKind.working_committee}
)


def parse_level(value: object) -> object:
    """Returns an organisation level given as its code or its Chinese name (街道党工委 ...)."""
    if isinstance(value, str):
        text = value.strip()
        return _LEVEL_ALIASES.get(text, text.lower())
    return value


def parse_kind(value: object) -> object:
    """Returns an organisation kind given as its code or its Chinese name (党委, 党总支, 党支部 ...)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        return _KIND_ALIASES.get(text, text.lower())
    return value


def parse_category(value: object) -> object:
    """Returns a service category given as its code or its Chinese name (政策宣讲, 环境整治 ...)."""
    if isinstance(value, str):
        text = value.strip()
        return _CATEGORY_ALIASES.get(text, text.lower())
    return value


def _code(value: str) -> str:
    text = value.strip()
    if not CODE_RE.match(text):
        raise ValueError(f"bad code {value!r}: {CODE_RULE}")
    return text


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    return text or None


class PartyBase(BaseModel):
    """Base of read models: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


# --- organisations ---------------------------------------------------------------------------------------------


# OrgIn is one organisation of a tree file and the body of POST /party/orgs; OrgUpdate the body of
# PATCH /party/orgs/{code} (only the fields given change); OrgRead what the API returns; OrgNode the tree.
class OrgIn(BaseModel):
    """One party organisation: its code, name, level, kind, parent (by code), areas (by code) and secretary."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description=f"Unique code: {CODE_RULE}.")
    name: str = Field(min_length=1, max_length=200)
    level: OrgLevel = Field(description="street, community, grid, building, household (or 街道党工委 ... 党员中心户).")
    kind: OrgKind | None = Field(
        None, description="working_committee, committee, general_branch, branch, group, household; default by level."
    )
    parent: str | None = Field(None, description="Code of the organisation one level up; empty for a street's.")
    areas: list[str] = Field(default_factory=list, description="Codes of the areas it covers (may be empty).")
    secretary: str | None = Field(None, max_length=100, description="Secretary's name (书记), or the household head.")
    household_id: int | None = Field(None, description="党员中心户 only: its own household in the people register.")

    @field_validator("code")
    @classmethod
    def _check_code(cls, value: str) -> str:
        return _code(value)

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: object) -> object:
        return parse_level(value)

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: object) -> object:
        return parse_kind(value)

    @field_validator("parent", "secretary", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return _text(value) if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise ValueError("the name is empty")
        return text

    @field_validator("areas", mode="before")
    @classmethod
    def _areas(cls, value: object) -> object:
        # NOTE: a spreadsheet cell holds several codes as "410105003005001, 410105003005002" (or 、 ; / newlines).
        if isinstance(value, str):
            return [part for part in re.split(r"[,，、;；\s]+", value) if part]
        if isinstance(value, int):
            return [str(value)]
        return value

    @field_validator("areas")
    @classmethod
    def _unique_areas(cls, value: list[str]) -> list[str]:
        codes = [str(v).strip() for v in value if str(v).strip()]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"area {repeated[0]} is listed twice")
        return codes


class OrgUpdate(BaseModel):
    """Changes to an organisation: a field left out stays; `parent: null` makes it a root (streets only)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    kind: OrgKind | None = None
    parent: str | None = None
    areas: list[str] | None = None
    secretary: str | None = Field(None, max_length=100)
    household_id: int | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: object) -> object:
        return parse_kind(value)


class AreaRef(PartyBase):
    """An area an organisation covers."""

    code: str
    name: str
    level: str


class OrgRef(PartyBase):
    """An organisation named in another record."""

    code: str
    name: str
    level: OrgLevel


class OrgRead(PartyBase):
    """A party organisation with its place in the tree, its areas and how many members it holds."""

    id: int
    code: str
    name: str
    level: OrgLevel
    kind: OrgKind
    parent: str | None = None
    areas: list[AreaRef] = Field(default_factory=list)
    secretary: str | None
    household_id: int | None = None
    members: int = 0


class OrgNode(OrgRead):
    """An organisation with its children, as the tree shows it."""

    children: list[OrgNode] = Field(default_factory=list)


class PartyTreeDocument(BaseModel):
    """The tree file: every organisation, in any order (parents are found by code, in the file or the database)."""

    model_config = ConfigDict(extra="forbid")

    orgs: list[OrgIn] = Field(default_factory=list)


class TreeImportReport(BaseModel):
    """What an import did: organisations created, changed and left as they were."""

    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)


# --- partner organisations (机关企事业单位党组织) -----------------------------------------------------------------


class PartnerOrgIn(BaseModel):
    """A unit's party organisation that registers with communities: code, name, the unit (catalogue code)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description=f"Unique code: {CODE_RULE}.")
    name: str = Field(min_length=1, max_length=200)
    unit: str | None = Field(None, description="Code of the unit in the catalogue, if it is one.")
    secretary: str | None = Field(None, max_length=100)
    is_active: bool = True

    @field_validator("code")
    @classmethod
    def _check_code(cls, value: str) -> str:
        return _code(value)


class PartnerOrgRead(PartyBase):
    """A partner organisation."""

    id: int
    code: str
    name: str
    unit: str | None = None
    secretary: str | None
    is_active: bool


class PartnerRef(PartyBase):
    """A partner organisation named in another record."""

    code: str
    name: str


# --- members ---------------------------------------------------------------------------------------------------


# MemberCreate is the body of POST /party/members (and of a new member in a registration); MemberUpdate of
# PATCH /party/members/{id}; MemberRead what lists and details return.
class MemberCreate(BaseModel):
    """A party member: name, organisation (a tree org's code, or a partner org's), joined date, standing."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    org: str | None = Field(None, description="Code of the party organisation holding the membership.")
    partner_org: str | None = Field(None, description="Or: code of the unit's party organisation (in-service).")
    joined_on: dt.date = Field(description="入党日期.")
    status: MemberStatus = MemberStatus.full
    in_service: bool = Field(False, description="在职党员: works for an employer (then `employer` is required).")
    employer: str | None = Field(None, max_length=200)
    household_org: str | None = Field(None, description="Code of the 党员中心户 the member's household forms.")
    resident_id: int | None = Field(None, description="The member's record in the people register (by id).")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise ValueError("the name is empty")
        return text

    @field_validator("org", "partner_org", "employer", "household_org", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return _text(value) if isinstance(value, str) else value


class MemberUpdate(BaseModel):
    """Changes to a member: a field left out stays; `left_on` records the transfer out (组织关系转出)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    org: str | None = None
    joined_on: dt.date | None = None
    status: MemberStatus | None = None
    in_service: bool | None = None
    employer: str | None = Field(None, max_length=200)
    household_org: str | None = None
    resident_id: int | None = None
    left_on: dt.date | None = None


class MemberRef(PartyBase):
    """A member named in another record."""

    id: int
    name: str


class MemberRead(PartyBase):
    """A party member (no personal data beyond the name: the people register holds it, by `resident_id`)."""

    id: int
    name: str
    org: OrgRef | None = None
    partner_org: PartnerRef | None = None
    joined_on: dt.date
    status: MemberStatus
    in_service: bool
    employer: str | None
    household_org: OrgRef | None = None
    resident_id: int | None
    left_on: dt.date | None


# --- 党员中心户 and the households they look after ---------------------------------------------------------------


class HouseholdLinksIn(BaseModel):
    """Households (people register ids) a 党员中心户 looks after."""

    model_config = ConfigDict(extra="forbid")

    household_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=100)


class HouseholdLinkRead(PartyBase):
    """A household looked after by a 党员中心户."""

    household_id: int
    org: OrgRef
    linked_at: dt.datetime


class HouseholdCare(BaseModel):
    """The party side of one household: the 党员中心户 looking after it, and the one it forms itself."""

    household_id: int
    looked_after_by: OrgRef | None = None
    forms: OrgRef | None = None


# --- 双报到 --------------------------------------------------------------------------------------------------------


class PledgeIn(BaseModel):
    """One pledged service (认领服务): a category and what is promised."""

    model_config = ConfigDict(extra="forbid")

    category: ServiceCategory
    item: str = Field(min_length=1, max_length=200)

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value: object) -> object:
        return parse_category(value)


class PledgeRead(PartyBase):
    """A pledged service."""

    category: ServiceCategory
    item: str


# RegistrationCreate is the body of POST /party/registrations; RegistrationEnd of .../{id}/end.
class RegistrationCreate(BaseModel):
    """A 双报到 registration: who (a member, by id or new; or a partner organisation), which community, pledges."""

    model_config = ConfigDict(extra="forbid")

    kind: RegistrantKind
    community: str = Field(description="Code of the community (社区) registered with.")
    member_id: int | None = Field(None, description="kind member: an existing in-service member.")
    member: MemberCreate | None = Field(None, description="kind member: or a new one (of a partner organisation).")
    partner_org: str | None = Field(None, description="kind organisation: code of the partner organisation.")
    registered_on: dt.date | None = Field(None, description="Default: today.")
    pledges: list[PledgeIn] = Field(default_factory=list)
    note: str | None = Field(None, max_length=2000)


class RegistrationEnd(BaseModel):
    """Ends a registration (moved away, retired, the partnership ended)."""

    model_config = ConfigDict(extra="forbid")

    ended_on: dt.date | None = Field(None, description="Default: today.")
    note: str | None = Field(None, max_length=2000)


class PledgesIn(BaseModel):
    """The whole new list of a registration's pledges."""

    model_config = ConfigDict(extra="forbid")

    pledges: list[PledgeIn]


class RegistrationRead(PartyBase):
    """A registration with its registrant, community and pledges."""

    id: int
    kind: RegistrantKind
    member: MemberRef | None = None
    partner_org: PartnerRef | None = None
    community: AreaRef
    registered_on: dt.date
    status: RegistrationStatus
    ended_on: dt.date | None
    note: str | None
    pledges: list[PledgeRead] = Field(default_factory=list)


# --- activities and service records ------------------------------------------------------------------------------


class ActivityCreate(BaseModel):
    """A volunteer activity: where (community code), what, when, which category, who organises it."""

    model_config = ConfigDict(extra="forbid")

    community: str
    title: str = Field(min_length=1, max_length=200)
    held_on: dt.date = Field(description="Local date; may be in the future (a planned activity).")
    category: ServiceCategory
    organiser: str = Field(min_length=1, max_length=200)
    organiser_org: str | None = Field(None, description="Code of the organising party organisation, if any.")
    description: str | None = Field(None, max_length=4000)

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value: object) -> object:
        return parse_category(value)


class ActivityRead(PartyBase):
    """An activity with what has been recorded for it."""

    id: int
    community: AreaRef
    title: str
    held_on: dt.date
    category: ServiceCategory
    organiser: str
    organiser_org: OrgRef | None = None
    description: str | None
    records: int = 0
    hours: float = 0.0
    verified_hours: float = 0.0


class ServiceRecordCreate(BaseModel):
    """Hours served at an activity by a member (by id) or a partner organisation (by code)."""

    model_config = ConfigDict(extra="forbid")

    member_id: int | None = None
    partner_org: str | None = None
    hours: float = Field(description="Decimal hours, more than 0 and at most 24 (rounded to whole minutes).")
    note: str | None = Field(None, max_length=500)
    verified: bool = Field(False, description="Recorded as verified (核实) by the caller.")


class ServiceRecordRead(PartyBase):
    """A service record."""

    id: int
    activity_id: int
    member: MemberRef | None = None
    partner_org: PartnerRef | None = None
    hours: float
    note: str | None
    recorded_by: str | None = None
    verified_by: str | None = None
    verified_at: dt.datetime | None


# --- totals ------------------------------------------------------------------------------------------------------


class CommunityTotals(BaseModel):
    """A community's volunteer service in a period, and how its registered members report (报到率)."""

    code: str
    name: str
    activities: int = 0
    records: int = 0
    hours: float = 0.0  # verified hours
    unverified_hours: float = 0.0
    volunteers: int = 0  # distinct members with verified hours
    registered_members: int = 0  # members registered with it (双报到) at some time in the period
    reporting_members: int = 0  # of those, with verified hours at its activities in the period
    reporting_rate: float | None = None  # reporting / registered
    registered_orgs: int = 0
    reporting_orgs: int = 0
    pledges: int = 0  # pledged services of registrations in force at the end of the period


class MemberTotals(BaseModel):
    """One member's verified service in a period (within the caller's area)."""

    id: int
    name: str
    hours: float
    activities: int


class PartnerTotals(BaseModel):
    """One partner organisation's verified service in a period (within the caller's area)."""

    code: str
    name: str
    hours: float
    activities: int
    communities: int  # communities it is registered with at some time in the period


class SummaryRead(BaseModel):
    """Totals of a period: per community, per member, per partner organisation."""

    period: str
    first_day: dt.date
    last_day: dt.date
    communities: list[CommunityTotals]
    members: list[MemberTotals]
    partner_orgs: list[PartnerTotals]
