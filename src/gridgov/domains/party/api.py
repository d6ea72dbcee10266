"""Party register HTTP API (/api/v1/party/...): the organisation tree, members, partner organisations, 党员中心户
households, 双报到 registrations, volunteer activities, service records and the totals of a period.

Reads need party.view, writes party.manage; both are limited to the caller's area (see service.py). Every write
is audited. Organisations, partner organisations and communities are named by code, the rest by id.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile, status
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core.auth import require_permission
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import InputError, Issue
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.cases.schemas import Page
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.party import dual, files, service
from gridgov.domains.party.enums import OrgLevel, RegistrantKind, RegistrationStatus
from gridgov.domains.party.models import HouseholdLink, PartyOrg
from gridgov.domains.party.schemas import (
    ActivityCreate,
    ActivityRead,
    HouseholdCare,
    HouseholdLinkRead,
    HouseholdLinksIn,
    MemberCreate,
    MemberRead,
    MemberUpdate,
    OrgIn,
    OrgNode,
    OrgRead,
    OrgRef,
    OrgUpdate,
    PartnerOrgIn,
    PartnerOrgRead,
    PledgesIn,
    RegistrationCreate,
    RegistrationEnd,
    RegistrationRead,
    ServiceRecordCreate,
    ServiceRecordRead,
    SummaryRead,
    TreeImportReport,
)

router = APIRouter(prefix="/party", tags=["party"])

Viewer = Annotated[Principal, Depends(require_permission("party.view"))]
Manager = Annotated[Principal, Depends(require_permission("party.manage"))]
MAX_ID = 2**31 - 1
# NOTE: bounded, so that a huge number is a 422 and not an integer overflow in the database (a 500).
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _attachment(data: bytes, filename: str, content_type: str) -> Response:
    return Response(
        content=data, media_type=content_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _org_read(db: Session, org: PartyOrg) -> OrgRead:
    return service.org_reads(db=db, orgs=[org])[0]


# --- organisations ---------------------------------------------------------------------------------------------


@router.get("/tree", response_model=list[OrgNode])
def get_tree(db: DbSession, principal: Viewer) -> list[OrgNode]:
    """The organisation tree as the caller may see it: a community secretary gets their community's organisation
    and everything below it, a street user their street's 街道党工委 and below."""
    return service.get_tree(db=db, actor=principal.actor)


@router.get("/tree/export")
def export_tree(
    db: DbSession, principal: Viewer, format: Annotated[Literal["yaml", "xlsx"], Query()] = "yaml"
) -> Response:
    """Downloads the visible part of the tree as the YAML or XLSX file `POST /party/tree/import` reads back."""
    document = service.export_tree(db=db, actor=principal.actor)
    if format == "xlsx":
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return _attachment(files.tree_xlsx(document), "party-tree.xlsx", content_type)
    return _attachment(files.tree_yaml(document), "party-tree.yaml", "application/yaml")


@router.post("/tree/import", response_model=TreeImportReport)
def import_tree(
    request: Request,
    db: WriteSession,
    principal: Manager,
    file: Annotated[UploadFile, File(description="a tree file: .yaml, .yml or .xlsx")],
) -> TreeImportReport:
    """Creates or updates the organisations of a tree file within the caller's area, all or nothing (422 with
    every bad row); organisations missing from the file are kept."""
    limit = request.app.state.settings.max_upload_bytes
    data = file.file.read(limit + 1)
    name = file.filename or "tree.yaml"
    if len(data) > limit:
        raise InputError([Issue(name, f"larger than {limit:,} bytes: import it with `gridgov party import`")])
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix == "xlsx":
        rows = files.rows_from_xlsx(data, source=name)
    elif suffix in ("yaml", "yml"):
        rows = files.rows_from_yaml(data, source=name)
    else:
        raise InputError([Issue(name, "unsupported file type: .yaml, .yml or .xlsx")], "file not read")
    return service.apply_orgs(
        db=db, actor=principal.actor, rows=rows, source=name, source_address=principal.source_address
    )


@router.get("/orgs", response_model=list[OrgRead])
def list_orgs(
    db: DbSession,
    principal: Viewer,
    level: OrgLevel | None = None,
    under: Annotated[str | None, Query(description="code of a subtree's root")] = None,
) -> list[OrgRead]:
    """Lists the visible organisations in tree order, optionally one level or one subtree."""
    orgs = service.list_orgs(db=db, actor=principal.actor, level=level, under=under)
    return service.org_reads(db=db, orgs=orgs)


@router.post("/orgs", response_model=OrgRead, status_code=status.HTTP_201_CREATED)
def create_org(body: OrgIn, db: WriteSession, principal: Manager) -> OrgRead:
    """Adds an organisation one level below its parent, inside the caller's area (409 when the code exists)."""
    org = service.create_org(db=db, actor=principal.actor, data=body, source_address=principal.source_address)
    return _org_read(db, org)


@router.get("/orgs/{code}", response_model=OrgRead)
def get_org(code: str, db: DbSession, principal: Viewer) -> OrgRead:
    """One organisation (404 outside the caller's area)."""
    return _org_read(db, service.get_org(db=db, actor=principal.actor, code=code))


@router.patch("/orgs/{code}", response_model=OrgRead)
def update_org(code: str, body: OrgUpdate, db: WriteSession, principal: Manager) -> OrgRead:
    """Changes an organisation (name, kind, parent, areas, secretary, household); moves are checked for levels,
    cycles and areas like an import."""
    org = service.update_org(
        db=db, actor=principal.actor, code=code, data=body, source_address=principal.source_address
    )
    return _org_read(db, org)


@router.delete("/orgs/{code}", status_code=status.HTTP_204_NO_CONTENT)
def delete_org(code: str, db: WriteSession, principal: Manager) -> None:
    """Deletes an organisation without children, members or households (409 otherwise)."""
    service.delete_org(db=db, actor=principal.actor, code=code, source_address=principal.source_address)


# --- 党员中心户 households -----------------------------------------------------------------------------------------


def _links(rows: list[HouseholdLink]) -> list[HouseholdLinkRead]:
    return [
        HouseholdLinkRead(household_id=r.household_id, org=OrgRef.model_validate(r.org), linked_at=r.linked_at)
        for r in rows
    ]


@router.get("/orgs/{code}/households", response_model=list[HouseholdLinkRead])
def list_households(code: str, db: DbSession, principal: Viewer) -> list[HouseholdLinkRead]:
    """The households a 党员中心户 looks after."""
    return _links(service.list_household_links(db=db, actor=principal.actor, code=code))


@router.post("/orgs/{code}/households", response_model=list[HouseholdLinkRead])
def link_households(code: str, body: HouseholdLinksIn, db: WriteSession, principal: Manager) -> list[HouseholdLinkRead]:
    """Links households nearby (same grid) to a 党员中心户; returns all it looks after (at most 10)."""
    rows = service.link_households(
        db=db,
        actor=principal.actor,
        code=code,
        household_ids=body.household_ids,
        source_address=principal.source_address,
    )
    return _links(rows)


@router.delete("/orgs/{code}/households/{household_id}", status_code=status.HTTP_204_NO_CONTENT)
def unlink_household(code: str, household_id: Id, db: WriteSession, principal: Manager) -> None:
    """Removes a household from a 党员中心户's list."""
    service.unlink_household(
        db=db, actor=principal.actor, code=code, household_id=household_id, source_address=principal.source_address
    )


@router.get("/households/{household_id}", response_model=HouseholdCare)
def household_care(household_id: Id, db: DbSession, principal: Viewer) -> HouseholdCare:
    """The 党员中心户 looking after a household, and the one it forms itself (none visible: both empty)."""
    return service.household_care(db=db, actor=principal.actor, household_id=household_id)


# --- partner organisations ---------------------------------------------------------------------------------------


@router.get("/partner-orgs", response_model=list[PartnerOrgRead])
def list_partner_orgs(db: DbSession, principal: Viewer, active: bool = False) -> list[PartnerOrgRead]:
    """Lists the units' party organisations (机关企事业单位党组织) that register with communities."""
    return [service.partner_read(p) for p in service.list_partner_orgs(db=db, active_only=active)]


@router.put("/partner-orgs/{code}", response_model=PartnerOrgRead)
def save_partner_org(
    code: str, body: PartnerOrgIn, response: Response, db: WriteSession, principal: Manager
) -> PartnerOrgRead:
    """Creates (201) or replaces (200) a partner organisation; the code in the path and the body must agree."""
    if body.code != code:
        raise InputError([Issue("body", f"the code {body.code!r} differs from the path's {code!r}", "code")])
    row, created = service.save_partner_org(
        db=db, actor=principal.actor, data=body, source_address=principal.source_address
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
    return service.partner_read(row)


# --- members -----------------------------------------------------------------------------------------------------


@router.get("/members", response_model=Page[MemberRead])
def list_members(
    db: DbSession,
    principal: Viewer,
    org: Annotated[str | None, Query(description="code of an organisation: its whole subtree")] = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
    in_service: bool | None = None,
    include_left: bool = False,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[MemberRead]:
    """Lists the members the caller may see: of organisations in their area, or registered with its communities."""
    rows, total = service.list_members(
        db=db,
        actor=principal.actor,
        org=org,
        name=name,
        in_service=in_service,
        include_left=include_left,
        offset=offset,
        limit=limit,
    )
    return Page[MemberRead](items=[service.member_read(m) for m in rows], total=total, offset=offset, limit=limit)


@router.post("/members", response_model=MemberRead, status_code=status.HTTP_201_CREATED)
def create_member(body: MemberCreate, db: WriteSession, principal: Manager) -> MemberRead:
    """Adds a member to an organisation of the caller's area."""
    member = service.create_member(db=db, actor=principal.actor, data=body, source_address=principal.source_address)
    return service.member_read(member)


@router.get("/members/{member_id}", response_model=MemberRead)
def get_member(member_id: Id, db: DbSession, principal: Viewer) -> MemberRead:
    """One member (404 outside the caller's area)."""
    return service.member_read(service.get_member(db=db, actor=principal.actor, member_id=member_id))


@router.patch("/members/{member_id}", response_model=MemberRead)
def update_member(member_id: Id, body: MemberUpdate, db: WriteSession, principal: Manager) -> MemberRead:
    """Changes a member (standing, service, organisation within the caller's area, transfer out)."""
    member = service.update_member(
        db=db, actor=principal.actor, member_id=member_id, data=body, source_address=principal.source_address
    )
    return service.member_read(member)


# --- 双报到 registrations ------------------------------------------------------------------------------------------


@router.get("/registrations", response_model=Page[RegistrationRead])
def list_registrations(
    db: DbSession,
    principal: Viewer,
    community: Annotated[str | None, Query(description="community code")] = None,
    status_: Annotated[RegistrationStatus | None, Query(alias="status")] = None,
    kind: RegistrantKind | None = None,
    member_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[RegistrationRead]:
    """Lists the registrations with the communities of the caller's area, newest first."""
    rows, total = dual.list_registrations(
        db=db,
        actor=principal.actor,
        community=community,
        status=status_,
        kind=kind,
        member_id=member_id,
        offset=offset,
        limit=limit,
    )
    items = [dual.registration_read(r) for r in rows]
    return Page[RegistrationRead](items=items, total=total, offset=offset, limit=limit)


@router.post("/registrations", response_model=RegistrationRead, status_code=status.HTTP_201_CREATED)
def create_registration(body: RegistrationCreate, db: WriteSession, principal: Manager) -> RegistrationRead:
    """Registers a unit's party organisation or an in-service member (existing, or new with `member`) with a
    community of the caller's area, with the services they pledge."""
    row = dual.create_registration(db=db, actor=principal.actor, data=body, source_address=principal.source_address)
    return dual.registration_read(row)


@router.get("/registrations/{registration_id}", response_model=RegistrationRead)
def get_registration(registration_id: Id, db: DbSession, principal: Viewer) -> RegistrationRead:
    """One registration (404 outside the caller's area)."""
    return dual.registration_read(dual.get_registration(db=db, actor=principal.actor, registration_id=registration_id))


@router.post("/registrations/{registration_id}/end", response_model=RegistrationRead)
def end_registration(
    registration_id: Id, body: RegistrationEnd, db: WriteSession, principal: Manager
) -> RegistrationRead:
    """Ends a registration (409 when it has ended already)."""
    row = dual.end_registration(
        db=db,
        actor=principal.actor,
        registration_id=registration_id,
        data=body,
        source_address=principal.source_address,
    )
    return dual.registration_read(row)


@router.put("/registrations/{registration_id}/pledges", response_model=RegistrationRead)
def replace_pledges(registration_id: Id, body: PledgesIn, db: WriteSession, principal: Manager) -> RegistrationRead:
    """Replaces the pledged services (认领服务) of a registration in force."""
    row = dual.replace_pledges(
        db=db,
        actor=principal.actor,
        registration_id=registration_id,
        pledges=body.pledges,
        source_address=principal.source_address,
    )
    return dual.registration_read(row)


# --- activities and service records ------------------------------------------------------------------------------


def _period(text: str | None) -> Period | None:
    return Period.parse(text, get_settings().tz) if text else None


PeriodQuery = Annotated[str | None, Query(description="2026-11, 2026-Q4, 2026, 2026-11-25 or 2026-11-01..2026-11-15")]


@router.get("/activities", response_model=Page[ActivityRead])
def list_activities(
    db: DbSession,
    principal: Viewer,
    community: Annotated[str | None, Query(description="community code")] = None,
    period: PeriodQuery = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[ActivityRead]:
    """Lists the volunteer activities of the caller's area, latest first, with their records and hours."""
    rows, total = dual.list_activities(
        db=db, actor=principal.actor, community=community, period=_period(period), offset=offset, limit=limit
    )
    return Page[ActivityRead](items=dual.activity_reads(db=db, rows=rows), total=total, offset=offset, limit=limit)


@router.post("/activities", response_model=ActivityRead, status_code=status.HTTP_201_CREATED)
def create_activity(body: ActivityCreate, db: WriteSession, principal: Manager) -> ActivityRead:
    """Records a volunteer activity in a community of the caller's area."""
    row = dual.create_activity(db=db, actor=principal.actor, data=body, source_address=principal.source_address)
    return dual.activity_reads(db=db, rows=[row])[0]


@router.get("/activities/{activity_id}", response_model=ActivityRead)
def get_activity(activity_id: Id, db: DbSession, principal: Viewer) -> ActivityRead:
    """One activity (404 outside the caller's area)."""
    row = dual.get_activity(db=db, actor=principal.actor, activity_id=activity_id)
    return dual.activity_reads(db=db, rows=[row])[0]


@router.delete("/activities/{activity_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_activity(activity_id: Id, db: WriteSession, principal: Manager) -> None:
    """Deletes an activity without service records (409 otherwise)."""
    dual.delete_activity(db=db, actor=principal.actor, activity_id=activity_id, source_address=principal.source_address)


@router.get("/activities/{activity_id}/records", response_model=list[ServiceRecordRead])
def list_records(activity_id: Id, db: DbSession, principal: Viewer) -> list[ServiceRecordRead]:
    """The service records of an activity."""
    rows = dual.list_records(db=db, actor=principal.actor, activity_id=activity_id)
    return dual.record_reads(db=db, rows=rows)


@router.post("/activities/{activity_id}/records", response_model=ServiceRecordRead, status_code=status.HTTP_201_CREATED)
def create_record(
    activity_id: Id, body: ServiceRecordCreate, db: WriteSession, principal: Manager
) -> ServiceRecordRead:
    """Records the hours a member or a partner organisation served at a past activity (one record each)."""
    row = dual.create_record(
        db=db, actor=principal.actor, activity_id=activity_id, data=body, source_address=principal.source_address
    )
    return dual.record_reads(db=db, rows=[row])[0]


@router.post("/service-records/{record_id}/verify", response_model=ServiceRecordRead)
def verify_record(record_id: Id, db: WriteSession, principal: Manager) -> ServiceRecordRead:
    """Marks a service record as verified (核实) by the caller; only verified hours count in totals."""
    row = dual.verify_record(db=db, actor=principal.actor, record_id=record_id, source_address=principal.source_address)
    return dual.record_reads(db=db, rows=[row])[0]


@router.delete("/service-records/{record_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_record(record_id: Id, db: WriteSession, principal: Manager) -> None:
    """Deletes a service record entered by mistake."""
    dual.delete_record(db=db, actor=principal.actor, record_id=record_id, source_address=principal.source_address)


@router.get("/summary", response_model=SummaryRead)
def summary(
    db: DbSession,
    principal: Viewer,
    period: Annotated[str, Query(description="2026-11, 2026-Q4, 2026, 2026-11-25 or 2026-11-01..2026-11-15")],
    community: Annotated[str | None, Query(description="community code")] = None,
) -> SummaryRead:
    """Totals of a period within the caller's area: per community (activities, verified hours, registered and
    reporting members, 报到率), per member and per partner organisation."""
    found = Period.parse(period, get_settings().tz)
    return dual.summarize(db=db, actor=principal.actor, period=found, community=community)
