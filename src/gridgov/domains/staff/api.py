"""JSON API of the staff register: people and assignments, personnel filings (报备), the staffing report, household
visit coverage, and reporting a phone lost (挂失). Every list is limited to the caller's area."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from gridgov.core.auth import CurrentUser, require_permission, require_scope
from gridgov.core.db import DbSession, WriteSession
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.auth.enums import TokenScope
from gridgov.domains.auth.models import Terminal
from gridgov.domains.auth.schemas import Actor, Principal
from gridgov.domains.cases.schemas import Page
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.staff import coverage as coverage_service
from gridgov.domains.staff import filings as filing_service
from gridgov.domains.staff import lost as lost_service
from gridgov.domains.staff import service
from gridgov.domains.staff import staffing as staffing_service
from gridgov.domains.staff.enums import FilingKind, FilingStatus
from gridgov.domains.staff.models import Filing
from gridgov.domains.staff.schemas import (
    AreaBrief,
    AreaStaffRead,
    AssignmentCreate,
    AssignmentEnd,
    AssignmentRead,
    CoverageRead,
    CoverageRowRead,
    FilingCreate,
    FilingDecision,
    FilingRead,
    LostReport,
    MemberDetail,
    MemberRead,
    MemberUpdate,
    PhoneRead,
    StaffingReportRead,
    StaffingRowRead,
    TerminalLossRead,
    WorkerCoverageRead,
)

router = APIRouter(tags=["staff"])

Viewer = Annotated[Principal, Depends(require_permission("staff.view"))]
Manager = Annotated[Principal, Depends(require_permission("staff.manage"))]
Approver = Annotated[Principal, Depends(require_permission("filing.approve"))]


async def _phone_reader(request: Request, principal: CurrentUser) -> Principal:
    """The caller; a token needs registers:read (staff managers) or cases:read (a worker's own phones)."""
    wanted = TokenScope.registers_read if lost_service.may_manage(principal.actor) else TokenScope.cases_read
    return await require_scope(wanted)(request, principal)


async def _phone_writer(request: Request, principal: CurrentUser) -> Principal:
    """The caller; a token needs registers:write (staff managers) or cases:write (a worker's own phone)."""
    wanted = TokenScope.registers_write if lost_service.may_manage(principal.actor) else TokenScope.cases_write
    return await require_scope(wanted)(request, principal)


PhoneReader = Annotated[Principal, Depends(_phone_reader)]
PhoneWriter = Annotated[Principal, Depends(_phone_writer)]
AreaCode = Annotated[
    str | None, Query(max_length=32, description="Only this area's subtree (within the caller's own area).")
]
Id = Annotated[int, Path(ge=1, le=service.MAX_ID)]
PeriodText = Annotated[
    str | None,
    Query(
        max_length=40, description="2026-11, 2026-Q4, 2026, 2026-11-25 or 2026-11-01..2026-11-15 (default: this month)"
    ),
]


def period_of(request: Request, text: str | None) -> Period:
    """Returns the period written as `text` in the district's dates (default: the current month)."""
    return Period.parse(text or service.today().strftime("%Y-%m"), request.app.state.settings.tz)


def filing_read(filing: Filing, actor: Actor) -> FilingRead:
    """Returns the read model of a filing, with whether the caller may decide it now."""
    read = FilingRead.model_validate(filing)
    may = filing.status == FilingStatus.requested and filing_service.may_decide(actor, filing)
    return read.model_copy(update={"may_decide": may})


# --- people and assignments ---------------------------------------------------------------------------------------


@router.get("/staff/members", response_model=Page[MemberRead])
def list_members(
    db: DbSession,
    principal: Viewer,
    q: Annotated[str | None, Query(max_length=100, description="part of the name")] = None,
    offset: Annotated[int, Query(ge=0, le=service.MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[MemberRead]:
    """Lists the people with a post in the caller's area (now or before), by name."""
    rows, total = service.list_members(db=db, actor=principal.actor, text=q, offset=offset, limit=limit)
    return Page[MemberRead](items=[MemberRead.model_validate(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/staff/members/{member_id}", response_model=MemberDetail)
def get_member(member_id: Id, db: DbSession, principal: Viewer) -> MemberDetail:
    """Returns a person with every assignment in the caller's area, current and ended: their grids and history."""
    member = service.get_member(db=db, actor=principal.actor, member_id=member_id)
    rows, _ = service.list_assignments(db=db, actor=principal.actor, member_id=member.id, history=True, limit=None)
    detail = MemberDetail.model_validate(member)
    return detail.model_copy(update={"assignments": [AssignmentRead.of(r) for r in rows]})


@router.patch("/staff/members/{member_id}", response_model=MemberRead)
def update_member(member_id: Id, body: MemberUpdate, db: WriteSession, principal: Manager) -> MemberRead:
    """Corrects the name (people without login) or the work phone of someone holding a post in the caller's area."""
    member = service.get_member(db=db, actor=principal.actor, member_id=member_id, action="staff.manage")
    service.update_member(
        db=db,
        actor=principal.actor,
        member=member,
        name=body.name,
        work_phone=body.work_phone or None,
        clear_phone=body.work_phone == "",
        source_address=principal.source_address,
    )
    return MemberRead.model_validate(member)


@router.get("/staff/assignments", response_model=Page[AssignmentRead])
def list_assignments(
    db: DbSession,
    principal: Viewer,
    area: AreaCode = None,
    member_id: Annotated[int | None, Query(ge=1, le=service.MAX_ID)] = None,
    on: Annotated[dt.date | None, Query(description="held on this day (default today)")] = None,
    history: Annotated[bool, Query(description="every assignment, ended ones too")] = False,
    offset: Annotated[int, Query(ge=0, le=service.MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> Page[AssignmentRead]:
    """Lists the assignments of the caller's area (or of `area` and below), held today or on `on`, or all of them."""
    _, found = service.scope_area(db=db, actor=principal.actor, code=area)
    rows, total = service.list_assignments(
        db=db,
        actor=principal.actor,
        area=found if area else None,
        member_id=member_id,
        on=on,
        history=history,
        offset=offset,
        limit=limit,
    )
    return Page[AssignmentRead](items=[AssignmentRead.of(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/staff/areas/{code}", response_model=AreaStaffRead)
def get_area_staff(
    code: Annotated[str, Path(max_length=32)],
    db: DbSession,
    principal: Viewer,
    on: Annotated[dt.date | None, Query(description="default today")] = None,
) -> AreaStaffRead:
    """Returns the staff holding posts in a grid, community or street now (or on `on`): a grid's current staff."""
    _, found = service.scope_area(db=db, actor=principal.actor, code=code)
    assert found is not None
    staff = service.area_staff(db=db, actor=principal.actor, area=found, on=on)
    return AreaStaffRead(
        area=AreaBrief.model_validate(found),
        on=on or service.today(),
        community_workers=staff.community_workers,
        assignments=[AssignmentRead.of(r) for r in staff.assignments],
    )


@router.post("/staff/assignments", status_code=status.HTTP_201_CREATED, response_model=AssignmentRead)
def create_assignment(body: AssignmentCreate, db: WriteSession, principal: Manager) -> AssignmentRead:
    """Assigns a person to a street post (一级网格); community and grid posts answer 409: they need a filing."""
    area = service.get_area(db=db, code=body.area)
    user = service.get_user(db=db, username=body.username) if body.username else None
    member = (
        service.get_member(db=db, actor=principal.actor, member_id=body.member_id, action="staff.manage")
        if body.member_id
        else None
    )
    row = service.assign(
        db=db,
        actor=principal.actor,
        area=area,
        post=body.post,
        employment=body.employment,
        starts_on=body.starts_on,
        user=user,
        member=member,
        name=body.name,
        work_phone=body.work_phone,
        source_address=principal.source_address,
    )
    return AssignmentRead.of(row)


@router.post("/staff/assignments/{assignment_id}/end", response_model=AssignmentRead)
def end_assignment(assignment_id: Id, body: AssignmentEnd, db: WriteSession, principal: Manager) -> AssignmentRead:
    """Ends a street post from a day (kept as history); community and grid posts answer 409: they need a filing."""
    row = service.get_assignment(db=db, actor=principal.actor, assignment_id=assignment_id, action="staff.manage")
    service.end(
        db=db,
        actor=principal.actor,
        assignment=row,
        ends_on=body.ends_on,
        reason=body.reason,
        source_address=principal.source_address,
    )
    return AssignmentRead.of(row)


# --- filings ------------------------------------------------------------------------------------------------------


@router.get("/staff/filings", response_model=Page[FilingRead])
def list_filings(
    db: DbSession,
    principal: Viewer,
    status_: Annotated[list[FilingStatus] | None, Query(alias="status")] = None,
    kind: FilingKind | None = None,
    to_decide: Annotated[bool, Query(description="only those the caller may approve or refuse now")] = False,
    mine: Annotated[bool, Query(description="only those the caller asked for")] = False,
    member_id: Annotated[int | None, Query(ge=1, le=service.MAX_ID)] = None,
    offset: Annotated[int, Query(ge=0, le=service.MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[FilingRead]:
    """Lists the personnel filings touching the caller's area, newest first (the approver's inbox: to_decide)."""
    rows, total = filing_service.list_filings(
        db=db,
        actor=principal.actor,
        statuses=status_ or (),
        kind=kind,
        to_decide=to_decide,
        mine=mine,
        member_id=member_id,
        offset=offset,
        limit=limit,
    )
    items = [filing_read(r, principal.actor) for r in rows]
    return Page[FilingRead](items=items, total=total, offset=offset, limit=limit)


@router.post("/staff/filings", status_code=status.HTTP_201_CREATED, response_model=FilingRead)
def create_filing(body: FilingCreate, db: WriteSession, principal: Manager) -> FilingRead:
    """Files a personnel change (人员变动报备) of community or grid staff in the caller's area, for approval."""
    filing = filing_service.request(db=db, actor=principal.actor, data=body, source_address=principal.source_address)
    found = filing_service.get_filing(db=db, actor=principal.actor, filing_id=filing.id)
    return filing_read(found, principal.actor)


@router.get("/staff/filings/{filing_id}", response_model=FilingRead)
def get_filing(filing_id: Id, db: DbSession, principal: Viewer) -> FilingRead:
    """Returns a filing with its whole history (requested, decided, applied: by whom, when)."""
    return filing_read(filing_service.get_filing(db=db, actor=principal.actor, filing_id=filing_id), principal.actor)


@router.post("/staff/filings/{filing_id}/approve", response_model=FilingRead)
def approve_filing(filing_id: Id, body: FilingDecision, db: WriteSession, principal: Approver) -> FilingRead:
    """Approves a filing (403 for its own requester, 409 once decided); applied at once if its date has come."""
    filing = filing_service.get_filing(db=db, actor=principal.actor, filing_id=filing_id, for_update=True)
    filing_service.approve(
        db=db, actor=principal.actor, filing=filing, note=body.note, source_address=principal.source_address
    )
    db.refresh(filing)
    return filing_read(filing, principal.actor)


@router.post("/staff/filings/{filing_id}/refuse", response_model=FilingRead)
def refuse_filing(filing_id: Id, body: FilingDecision, db: WriteSession, principal: Approver) -> FilingRead:
    """Refuses a filing with the reason in `note` (403 for its own requester, 409 once decided)."""
    filing = filing_service.get_filing(db=db, actor=principal.actor, filing_id=filing_id, for_update=True)
    filing_service.refuse(
        db=db, actor=principal.actor, filing=filing, note=body.note or "", source_address=principal.source_address
    )
    db.refresh(filing)
    return filing_read(filing, principal.actor)


@router.post("/staff/filings/{filing_id}/withdraw", response_model=FilingRead)
def withdraw_filing(filing_id: Id, body: FilingDecision, db: WriteSession, principal: Manager) -> FilingRead:
    """Withdraws the caller's own filing before it is applied (409 once applied, refused or withdrawn)."""
    filing = filing_service.get_filing(db=db, actor=principal.actor, filing_id=filing_id, for_update=True)
    filing_service.withdraw(
        db=db, actor=principal.actor, filing=filing, note=body.note, source_address=principal.source_address
    )
    db.refresh(filing)
    return filing_read(filing, principal.actor)


# --- staffing and coverage ----------------------------------------------------------------------------------------


@router.get("/staff/staffing", response_model=StaffingReportRead)
def get_staffing(
    db: DbSession,
    principal: Viewer,
    level: Annotated[AreaLevel, Query(description="community or street")] = AreaLevel.community,
    area: AreaCode = None,
    below_only: Annotated[bool, Query(description="only the under-staffed areas")] = False,
) -> StaffingReportRead:
    """Returns community workers per 10,000 residents per community or street against the standard
    (GRIDGOV_STAFFING_STANDARD_PER_10K), the least staffed first, with how many each under-staffed area lacks."""
    scope_path, _ = service.scope_area(db=db, actor=principal.actor, code=area)
    report = staffing_service.report(db=db, level=level, scope_path=scope_path)
    rows = report.below if below_only else report.rows
    return StaffingReportRead(
        level=report.level,
        standard=report.standard,
        on=report.on,
        areas=len(report.rows),
        below_standard=len(report.below),
        short_total=report.short_total,
        rows=[
            StaffingRowRead(
                code=r.area.code,
                name=r.area.name,
                level=r.area.level,
                staff=r.staff,
                population=r.population,
                per_10k=r.per_10k,
                standard=r.standard,
                short_by=r.short_by,
                below_standard=r.below_standard,
            )
            for r in rows
        ],
    )


def coverage_row(row: coverage_service.CoverageRow) -> CoverageRowRead:
    """Returns the read model of a coverage row."""
    return CoverageRowRead(
        code=row.code,
        name=row.name,
        level=row.level,
        households=row.households,
        households_visited=row.households_visited,
        coverage=row.coverage,
        visits=row.visits,
        workers=len(row.workers),
        visits_per_worker=row.visits_per_worker,
        findings=row.findings,
        cases=row.cases,
        cases_closed=row.cases_closed,
    )


@router.get("/staff/coverage", response_model=CoverageRead)
def get_coverage(
    request: Request,
    db: DbSession,
    principal: Viewer,
    period: PeriodText = None,
    level: Annotated[AreaLevel, Query(description="grid, community or street")] = AreaLevel.grid,
    area: AreaCode = None,
    workers: Annotated[bool, Query(description="also each visiting worker's figures (listed by name)")] = False,
) -> CoverageRead:
    """Returns household visit coverage (走访覆盖率) per grid, community or street over a period, from the visits
    and the cases made from their findings only (no check-ins, no online time)."""
    scope_path, _ = service.scope_area(db=db, actor=principal.actor, code=area)
    found = coverage_service.coverage(
        db=db, period=period_of(request, period), level=level, scope_path=scope_path, with_workers=workers
    )
    return CoverageRead(
        period=found.period.label,
        level=found.level,
        rows=[coverage_row(r) for r in found.rows],
        total=coverage_row(found.total),
        workers=[
            WorkerCoverageRead(
                user_id=w.user_id,
                name=w.name,
                visits=w.visits,
                households_visited=len(w.visited),
                findings=w.findings,
                cases=w.cases,
            )
            for w in found.workers
        ],
    )


# --- phones -------------------------------------------------------------------------------------------------------


def phone_read(terminal: Terminal) -> PhoneRead:
    """Returns the read model of a phone, with its owner's name."""
    return PhoneRead.model_validate(terminal).model_copy(update={"owner": terminal.user.display_name})


@router.get("/staff/phones", response_model=list[PhoneRead])
def list_phones(db: DbSession, principal: PhoneReader) -> list[PhoneRead]:
    """Lists the caller's own phones and, for staff managers, those of the workers of their area."""
    return [phone_read(t) for t in lost_service.list_phones(db=db, actor=principal.actor)]


@router.post("/staff/phones/{terminal_id}/lost", status_code=status.HTTP_201_CREATED, response_model=TerminalLossRead)
def report_phone_lost(terminal_id: Id, body: LostReport, db: WriteSession, principal: PhoneWriter) -> TerminalLossRead:
    """Reports a phone lost (挂失): revoked at once, with the reason; its owner's other browser sessions end."""
    terminal = lost_service.get_phone(db=db, actor=principal.actor, terminal_id=terminal_id)
    loss = lost_service.report_lost(
        db=db,
        actor=principal.actor,
        terminal=terminal,
        reason=body.reason,
        keep_session=principal.session_id,
        source_address=principal.source_address,
    )
    return TerminalLossRead.model_validate(loss)
