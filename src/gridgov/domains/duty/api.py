"""Duty HTTP API (/api/v1/duty/...): centres and shifts, the roster (rows, rotation, XLSX), who is on duty now or
at any time, coverage gaps, the handover log, duty contacts and the notification log.

Thin: every route calls the service. A user sees the centres within their area scope and those above it (who is on
duty there); edits (duty.manage), handovers and the notification log reach only the centres within their scope.
Times without an offset are read as the district's local time (settings.timezone).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile, status
from sqlalchemy.orm import Session

from gridgov.core.auth import require_permission
from gridgov.core.clock import now as clock_now
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import InputError, Issue, NotFoundError
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.cases.schemas import Page
from gridgov.domains.duty import files, notify, rotation, service
from gridgov.domains.duty.enums import DeliveryStatus
from gridgov.domains.duty.models import DutyContact, DutyHandover, DutyRoster, DutyShift
from gridgov.domains.duty.schemas import (
    AcknowledgeIn,
    CentreRead,
    ContactIn,
    ContactRead,
    DeliveryRead,
    GapRead,
    GenerateRead,
    HandoverIn,
    HandoverRead,
    NoticeRead,
    NowRead,
    OnDutyRead,
    PersonRead,
    RosterIn,
    RosterRead,
    RotationIn,
    ShiftIn,
    ShiftRead,
)

router = APIRouter(tags=["duty"])

Viewer = Annotated[Principal, Depends(require_permission("duty.view"))]
Manager = Annotated[Principal, Depends(require_permission("duty.manage"))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GAP_DAYS_MAX = 93
MAX_OFFSET = 2**31 - 1  # a larger OFFSET overflows the database's integer (a 500)


# --- read models -----------------------------------------------------------------------------------------------


def centre_read(area: Area) -> CentreRead:
    """Returns the read model of a centre."""
    return CentreRead(code=area.code, name=area.name, level=str(area.level), centre=service.centre_name(area))


def shift_read(shift: DutyShift) -> ShiftRead:
    """Returns the read model of a shift."""
    return ShiftRead(
        code=shift.code,
        name=shift.name,
        time=service.format_span(shift.start_minute, shift.duration_minutes),
        start_minute=shift.start_minute,
        duration_minutes=shift.duration_minutes,
        position=shift.position,
        is_active=shift.is_active,
    )


def local_span(starts_at: dt.datetime, ends_at: dt.datetime) -> str:
    """Returns a span in the district's local time ("2026-12-01 16:00 – 2026-12-02 00:00")."""
    tz = service.district_tz()
    return f"{starts_at.astimezone(tz):%Y-%m-%d %H:%M} – {ends_at.astimezone(tz):%Y-%m-%d %H:%M}"


def roster_reads(db: Session, rows: list[DutyRoster], centre: Area) -> list[RosterRead]:
    """Returns the read models of roster rows, their people with their duty mobiles (one query for all contacts)."""
    known = service.contacts(db=db, user_ids=[m.user_id for row in rows for m in row.members])
    return [roster_read(row, centre, known) for row in rows]


def roster_read(row: DutyRoster, centre: Area, known: dict[int, DutyContact]) -> RosterRead:
    """Returns the read model of a roster row, its people with their duty mobiles (from `known` contacts)."""
    people = [
        PersonRead(
            username=m.user.username,
            name=m.user.display_name,
            role=str(m.user.role),
            is_leader=m.is_leader,
            mobile=known[m.user_id].mobile if m.user_id in known else None,
        )
        for m in row.members
    ]
    leader = next((p.username for p in people if p.is_leader), "")
    return RosterRead(
        id=row.id,
        centre=centre.code,
        date=row.duty_date,
        shift=row.shift.code,
        shift_name=row.shift.name,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        local_time=local_span(row.starts_at, row.ends_at),
        leader=leader,
        people=people,
        note=row.note,
    )


def handover_read(row: DutyHandover) -> HandoverRead:
    """Returns the read model of a handover."""

    def label(roster: DutyRoster | None) -> str | None:
        return f"{roster.duty_date.isoformat()} {roster.shift.name}" if roster is not None else None

    return HandoverRead(
        id=row.id,
        centre=row.roster.centre.code,
        roster_id=row.roster_id,
        shift=label(row.roster) or "",
        incoming_roster_id=row.incoming_roster_id,
        incoming_shift=label(row.incoming),
        written_by=row.written_by.display_name,
        written_at=row.written_at,
        open_matters=row.open_matters,
        case_numbers=list(row.case_numbers or []),
        notes=row.notes,
        acknowledged_by=row.acknowledged_by.display_name if row.acknowledged_by else None,
        acknowledged_at=row.acknowledged_at,
        acknowledgement_note=row.acknowledgement_note,
    )


def on_duty_read(group: service.OnDuty) -> OnDutyRead:
    """Returns the read model of who is on duty at one centre."""
    people = [
        PersonRead(username=p.username, name=p.name, role=p.role, is_leader=p.is_leader, mobile=p.mobile, shift=p.shift)
        for p in group.people
    ]
    return OnDutyRead(
        centre=centre_read(group.centre),
        at=group.at,
        gap=group.is_gap,
        leaders=[p for p in people if p.is_leader],
        people=people,
        shifts=[f"{r.duty_date.isoformat()} {r.shift.name}" for r in group.rosters],
        next_change_at=group.next_change_at,
    )


# --- parameters ------------------------------------------------------------------------------------------------


def local_instant(value: dt.datetime | None, *, default: dt.datetime | None = None) -> dt.datetime:
    """Returns `value` as an aware instant: a time without offset is the district's local time."""
    if value is None:
        return default or clock_now()
    aware = value if value.tzinfo is not None else value.replace(tzinfo=service.district_tz())
    try:
        aware.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01 00:00 at +08:00 lies before the first instant Python knows
        raise InputError([Issue("query", f"{value.isoformat()} is out of range", "at")], "time refused") from None
    return aware


def _month_or_range(month: str | None, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    if start is not None or end is not None:
        if start is None or end is None or end <= start or (end - start).days > 366:
            raise InputError([Issue("query", "give start < end, at most a year apart", "end")], "period refused")
        return start, end
    return service.month_bounds(month or service.local_date(clock_now()).strftime("%Y-%m"))


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError([Issue("path", f"not a date (YYYY-MM-DD): {value!r}", "date")], "date refused") from None


# --- centres and shifts ----------------------------------------------------------------------------------------


@router.get("/duty/centres", response_model=list[CentreRead])
def list_centres(db: DbSession, principal: Viewer) -> list[CentreRead]:
    """Lists the operation centres the caller may see: within their area and above it."""
    return [centre_read(c) for c in service.list_centres(db=db, actor=principal.actor)]


@router.get("/duty/shifts", response_model=list[ShiftRead])
def list_shifts(db: DbSession, principal: Viewer, centre: Annotated[str, Query(max_length=32)]) -> list[ShiftRead]:
    """Lists a centre's shifts in the order of a day."""
    area = service.get_centre(db=db, code=centre, actor=principal.actor)
    return [shift_read(s) for s in service.list_shifts(db=db, centre=area)]


@router.put("/duty/shifts/{centre}/{code}", response_model=ShiftRead)
def set_shift(centre: str, code: str, body: ShiftIn, db: WriteSession, principal: Manager) -> ShiftRead:
    """Creates or updates a shift of a centre (its times only while no roster row uses it: 409)."""
    area = service.get_centre(db=db, code=centre, actor=principal.actor, action="duty.manage", above=False)
    shift = service.set_shift(
        db=db,
        centre=area,
        code=code,
        name=body.name,
        span=body.time,
        position=body.position,
        is_active=body.is_active,
        actor=principal.actor,
    )
    return shift_read(shift)


# --- who is on duty, gaps --------------------------------------------------------------------------------------


@router.get("/duty/now", response_model=NowRead)
def get_on_duty(
    db: DbSession,
    principal: Viewer,
    centre: Annotated[
        str | None, Query(max_length=32, description="area code; default: every centre you see that keeps a roster")
    ] = None,
    at: Annotated[dt.datetime | None, Query(description="an instant; without offset: district local time")] = None,
) -> NowRead:
    """Who is on duty now (or at `at`) at a centre or at every centre the caller may see; `gap` when nobody is."""
    instant = local_instant(at)
    centres = (
        [service.get_centre(db=db, code=centre, actor=principal.actor)]
        if centre
        else service.keeping_roster(db=db, centres=service.list_centres(db=db, actor=principal.actor))
    )
    groups = service.on_duty(db=db, centres=centres, at=instant)
    return NowRead(at=instant, centres=[on_duty_read(g) for g in groups])


@router.get("/duty/gaps", response_model=list[GapRead])
def list_gaps(
    db: DbSession,
    principal: Viewer,
    centre: Annotated[str, Query(max_length=32)],
    start: Annotated[dt.datetime | None, Query(description="default: now")] = None,
    end: Annotated[dt.datetime | None, Query(description="default: 7 days after start")] = None,
) -> list[GapRead]:
    """Lists the periods with nobody on duty at a centre (值班空档) between start and end (at most 93 days)."""
    area = service.get_centre(db=db, code=centre, actor=principal.actor)
    first = local_instant(start)
    try:
        last = local_instant(end, default=first + dt.timedelta(days=7))
    except OverflowError:  # a start in the year 9999: its week ends after the last date Python knows
        raise InputError([Issue("query", "the period ends after 9999-12-31", "start")], "period refused") from None
    if last - first > dt.timedelta(days=GAP_DAYS_MAX):
        raise InputError([Issue("query", f"at most {GAP_DAYS_MAX} days at a time", "end")], "period refused")
    gaps = service.coverage_gaps(db=db, centre=area, start=first, end=last)
    return [
        GapRead(centre=g.centre_code, starts_at=g.starts_at, ends_at=g.ends_at, hours=round(g.hours, 2)) for g in gaps
    ]


# --- roster ----------------------------------------------------------------------------------------------------


@router.get("/duty/roster", response_model=list[RosterRead])
def list_roster(
    db: DbSession,
    principal: Viewer,
    centre: Annotated[str, Query(max_length=32)],
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{1,2}$", description="YYYY-MM; default: this month")] = None,
    start: Annotated[dt.date | None, Query(description="first date (with end, instead of month)")] = None,
    end: Annotated[dt.date | None, Query(description="date after the last")] = None,
) -> list[RosterRead]:
    """Lists a centre's roster rows of a month (or dates start ≤ d < end), in time order."""
    area = service.get_centre(db=db, code=centre, actor=principal.actor)
    first, following = _month_or_range(month, start, end)
    return roster_reads(db, service.list_rosters(db=db, centre=area, start=first, end=following), area)


@router.put("/duty/roster/{centre}/{day}/{shift}", response_model=RosterRead)
def set_roster(centre: str, day: str, shift: str, body: RosterIn, db: WriteSession, principal: Manager) -> RosterRead:
    """Sets who is on duty on a date and shift (created or replaced); 422 naming every problem (no leader, an
    overlapping shift, someone outside the centre's area ...)."""
    area = service.get_centre(db=db, code=centre, actor=principal.actor, action="duty.manage", above=False)
    entry = service.RosterInput(
        day=_day(day), shift=shift, leader=body.leader, staff=body.staff, note=body.note, where=f"{day} {shift}"
    )
    row = service.set_rosters(db=db, centre=area, entries=[entry], actor=principal.actor)[0]
    return roster_reads(db, [row], area)[0]


@router.delete("/duty/roster/{centre}/{day}/{shift}", status_code=status.HTTP_204_NO_CONTENT)
def delete_roster(centre: str, day: str, shift: str, db: WriteSession, principal: Manager) -> None:
    """Deletes a roster row (409 once a handover refers to it)."""
    area = service.get_centre(db=db, code=centre, actor=principal.actor, action="duty.manage", above=False)
    row = service.get_roster(db=db, centre=area, day=_day(day), shift=shift)
    service.delete_roster(db=db, roster=row, actor=principal.actor)


@router.post("/duty/roster/generate", response_model=GenerateRead, status_code=status.HTTP_201_CREATED)
def generate_roster(body: RotationIn, db: WriteSession, principal: Manager) -> GenerateRead:
    """Writes a month's roster from a rotation of teams (and a daily rota of leaders); all or nothing."""
    area = service.get_centre(db=db, code=body.centre, actor=principal.actor, action="duty.manage", above=False)
    rows = rotation.generate_month(
        db=db,
        centre=area,
        month=body.month,
        rotation=rotation.Rotation(teams=body.teams, leaders=body.leaders, shifts=body.shifts, anchor=body.anchor),
        actor=principal.actor,
        replace=body.replace,
    )
    days = [r.duty_date for r in rows]
    return GenerateRead(centre=area.code, rows=len(rows), first=min(days, default=None), last=max(days, default=None))


@router.get("/duty/roster.xlsx")
def export_roster(
    db: DbSession,
    principal: Viewer,
    centre: Annotated[str, Query(max_length=32)],
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{1,2}$")] = None,
) -> Response:
    """Downloads a centre's roster of a month as XLSX (值班表 and 班次 sheets), ready to edit and import back."""
    area = service.get_centre(db=db, code=centre, actor=principal.actor)
    first, following = _month_or_range(month, None, None)
    data = files.export_roster(db=db, centre=area, start=first, end=following)
    filename = f"duty-roster-{area.code}-{first:%Y-%m}.xlsx"
    return Response(
        content=data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.post("/duty/roster/import", response_model=GenerateRead)
def import_roster(
    request: Request,
    db: WriteSession,
    principal: Manager,
    centre: Annotated[str, Query(max_length=32)],
    file: Annotated[UploadFile, File(description="a roster workbook (.xlsx), as the export writes it")],
) -> GenerateRead:
    """Imports a roster workbook for a centre: its rows replace the same dates and shifts; all or nothing (422)."""
    area = service.get_centre(db=db, code=centre, actor=principal.actor, action="duty.manage", above=False)
    data = file.file.read(files.MAX_BYTES + 1)
    report = files.import_roster(
        db=db, centre=area, data=data, filename=file.filename or "roster.xlsx", actor=principal.actor
    )
    return GenerateRead(
        centre=area.code,
        rows=report.rows,
        shifts=report.shifts,
        first=report.dates[0] if report.dates else None,
        last=report.dates[-1] if report.dates else None,
    )


# --- handovers -------------------------------------------------------------------------------------------------


@router.get("/duty/handovers", response_model=Page[HandoverRead])
def list_handovers(
    db: DbSession,
    principal: Viewer,
    centre: Annotated[str, Query(max_length=32)],
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[HandoverRead]:
    """Lists a centre's handover log (交接班记录), newest shift first (centres within the caller's area only)."""
    area = service.get_centre(db=db, code=centre, actor=principal.actor, above=False)
    rows, total = service.list_handovers(db=db, centre=area, offset=offset, limit=limit)
    return Page[HandoverRead](items=[handover_read(r) for r in rows], total=total, offset=offset, limit=limit)


@router.post("/duty/handovers", response_model=HandoverRead, status_code=status.HTTP_201_CREATED)
def write_handover(body: HandoverIn, db: WriteSession, principal: Viewer) -> HandoverRead:
    """Writes a shift's handover: by someone on duty on that shift (403 otherwise), once (409)."""
    centres = service.list_centres(db=db, actor=principal.actor)
    roster = service.get_roster_by_id(db=db, roster_id=body.roster_id, centres=centres)
    row = service.write_handover(
        db=db,
        roster=roster,
        actor=principal.actor,
        open_matters=body.open_matters,
        case_numbers=body.case_numbers,
        notes=body.notes,
    )
    return handover_read(row)


@router.post("/duty/handovers/{handover_id}/acknowledge", response_model=HandoverRead)
def acknowledge_handover(handover_id: int, body: AcknowledgeIn, db: WriteSession, principal: Viewer) -> HandoverRead:
    """Acknowledges a handover: by the duty leader of the incoming shift (403 otherwise), once (409)."""
    centres = service.list_centres(db=db, actor=principal.actor)
    row = service.get_handover(db=db, handover_id=handover_id, centres=centres)
    return handover_read(service.acknowledge_handover(db=db, handover=row, actor=principal.actor, note=body.note))


# --- contacts --------------------------------------------------------------------------------------------------


@router.get("/duty/contacts", response_model=list[ContactRead])
def list_contacts(db: DbSession, principal: Manager, centre: Annotated[str, Query(max_length=32)]) -> list[ContactRead]:
    """Lists the people who may be on a centre's duty, with their duty contacts."""
    area = service.get_centre(db=db, code=centre, actor=principal.actor, action="duty.manage", above=False)
    users = service.staff_candidates(db=db, centre=area)
    known = service.contacts(db=db, user_ids=[u.id for u in users])
    return [
        ContactRead(
            username=u.username,
            name=u.display_name,
            email=known[u.id].email if u.id in known else None,
            mobile=known[u.id].mobile if u.id in known else None,
        )
        for u in users
    ]


@router.put("/duty/contacts/{username}", response_model=ContactRead)
def set_contact(username: str, body: ContactIn, db: WriteSession, principal: Manager) -> ContactRead:
    """Sets where someone of the caller's centres' duty staff is notified (work e-mail, duty mobile)."""
    managed = service.list_centres(db=db, actor=principal.actor, action="duty.manage", above=False)
    user = service.get_user(db=db, username=username)
    if not service.manages_contact(actor=principal.actor, user=user, centres=managed):
        raise NotFoundError(f"no user {username!r} on the duty staff of your centres")
    contact = service.set_contact(db=db, user=user, email=body.email, mobile=body.mobile, actor=principal.actor)
    return ContactRead(username=user.username, name=user.display_name, email=contact.email, mobile=contact.mobile)


# --- the notification log --------------------------------------------------------------------------------------


@router.get("/duty/notifications", response_model=Page[NoticeRead])
def list_notifications(
    db: DbSession,
    principal: Viewer,
    centre: Annotated[str, Query(max_length=32)],
    status_: Annotated[
        DeliveryStatus | None, Query(alias="status", description="notices with a delivery in it")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[NoticeRead]:
    """Lists the notices sent to a centre's on-duty staff and their deliveries (centres within the caller's area)."""
    area = service.get_centre(db=db, code=centre, actor=principal.actor, above=False)
    rows, total = notify.list_notices(db=db, centre=area, offset=offset, limit=limit, status=status_)
    numbers = notify.case_numbers(db=db, case_ids=[r.case_id for r in rows])
    items = [
        NoticeRead(
            id=r.id,
            kind=r.kind,
            case_id=r.case_id,
            case_number=numbers.get(r.case_id, ""),
            subject=r.subject,
            body=r.body,
            remark=r.remark,
            occurred_at=r.occurred_at,
            created_at=r.created_at,
            deliveries=[DeliveryRead.model_validate(d) for d in r.deliveries],
        )
        for r in rows
    ]
    return Page[NoticeRead](items=items, total=total, offset=offset, limit=limit)
