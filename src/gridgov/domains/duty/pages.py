"""Console pages of duty (值班): who is on duty now (/duty, and a block other pages include), the month's roster
calendar with its editing, rotation and XLSX import (/duty/roster), the handover log (/duty/handovers) and the
notification log (/duty/notifications).

Thin, like the JSON API: every page reads and writes through `duty.service` (and `rotation`, `files`, `notify`),
scoped per user exactly as the API is: the centres within the user's area and those above it for who is on duty
and the roster, only those within it for edits, handovers and notifications. A refused command is shown above the
page (422) and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from gridgov.core import clock
from gridgov.core.auth import After
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import InputError, Issue, NotFoundError
from gridgov.core.pages import PageForm, PageUser, attempt, require_page
from gridgov.core.permissions import can
from gridgov.core.templating import N_, render
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.schemas import Actor, Principal
from gridgov.domains.duty import files, notify, rotation, service
from gridgov.domains.duty.enums import DeliveryStatus, NoticeKind
from gridgov.domains.duty.models import DutyHandover, DutyRoster

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
MAX_OFFSET = 2**31 - 1  # a larger OFFSET overflows the database's integer (a 500)
GAP_WINDOW = dt.timedelta(days=7)

KIND_LABELS = {NoticeKind.urgent: N_("Urgent case"), NoticeKind.overdue: N_("Overdue case")}
STATUS_LABELS = {
    DeliveryStatus.pending: N_("Waiting"),
    DeliveryStatus.sending: N_("Sending"),
    DeliveryStatus.delivered: N_("Delivered"),
    DeliveryStatus.failed: N_("Failed"),
    DeliveryStatus.skipped: N_("Not sent"),
}


def _local(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Formats an instant in the district's time zone ("" for None)."""
    return value.astimezone(service.district_tz()).strftime(fmt) if value is not None else ""


def _common(db: Session, principal: Principal, centre: Area | None, tab: str) -> dict[str, Any]:
    actor = principal.actor
    managed = set()
    if can(actor, "duty.manage"):
        managed = {c.id for c in service.list_centres(db=db, actor=actor, action="duty.manage", above=False)}
    within = {c.id for c in service.list_centres(db=db, actor=actor, above=False)}
    return {
        "centres": service.list_centres(db=db, actor=actor),
        "centre": centre,
        "centre_name": service.centre_name,
        "tab": tab,
        "local": _local,
        "within_ids": within,
        "can_manage": centre is not None and centre.id in managed,
        "errors": [],
    }


def _centre(db: Session, actor: Actor, code: str | None, *, above: bool = True) -> Area | None:
    """Returns the centre a page shows: the one asked for, else the user's own (None when they may see none)."""
    if code:
        return service.get_centre(db=db, code=code, actor=actor, above=above)
    if above:
        return service.default_centre(db=db, actor=actor)
    centres = service.list_centres(db=db, actor=actor, above=False)
    own = service.default_centre(db=db, actor=actor)
    return own if own is not None and own in centres else (centres[0] if centres else None)


# --- who is on duty --------------------------------------------------------------------------------------------


def block_context(*, db: Session, actor: Actor, centre: Area | None = None) -> dict[str, Any]:
    """Returns what `duty/_on_duty.html` needs (who is on duty now at `centre`, or at every centre the user sees),
    for any page that includes the block."""
    if centre is not None:
        centres = [centre]
    else:
        centres = service.keeping_roster(db=db, centres=service.list_centres(db=db, actor=actor))
    return {
        "duty_groups": service.on_duty(db=db, centres=centres, at=clock.now()),
        "duty_local": _local,
        "centre_name": service.centre_name,
    }


@router.get("/duty")
def get_duty(request: Request, db: DbSession, principal: PageUser) -> Response:
    """Who is on duty now at every centre the user sees, the gaps of the next days, and the user's own handovers."""
    require_page(principal, "duty.view")
    actor = principal.actor
    now = clock.now()
    context = _common(db, principal, None, "now")
    context.update(block_context(db=db, actor=actor))
    gaps = []
    gap_centres = service.keeping_roster(db=db, centres=service.list_centres(db=db, actor=actor, above=False))
    for centre in gap_centres:
        gaps += [(centre, g) for g in service.coverage_gaps(db=db, centre=centre, start=now, end=now + GAP_WINDOW)]
    context.update(
        now=now,
        gaps=gaps,
        gap_centres=gap_centres,
        to_hand_over=service.shifts_to_hand_over(db=db, actor=actor, now=now),
        to_acknowledge=service.handovers_to_acknowledge(db=db, actor=actor),
    )
    return render(request, "duty/now.html", context, principal=principal)


@router.get("/duty/block")
def get_duty_block(request: Request, db: DbSession, principal: PageUser, centre: str | None = None) -> Response:
    """The "on duty now" block alone (for htmx: `hx-get="/duty/block"`), for one centre or every one the user sees."""
    require_page(principal, "duty.view")
    area = service.get_centre(db=db, code=centre, actor=principal.actor) if centre else None
    return render(
        request, "duty/_on_duty.html", block_context(db=db, actor=principal.actor, centre=area), principal=principal
    )


# --- roster ----------------------------------------------------------------------------------------------------


def _month(value: str | None) -> tuple[dt.date, dt.date]:
    try:
        return service.month_bounds(value) if value else service.month_bounds(service.local_date(clock.now()))
    except InputError:
        return service.month_bounds(service.local_date(clock.now()))


def _roster_context(db: Session, principal: Principal, centre: Area | None, month: str | None) -> dict[str, Any]:
    context = _common(db, principal, centre, "roster")
    first, following = _month(month)
    context.update(first=first, month=f"{first:%Y-%m}", days=[], shifts=[], cells={}, gaps=[], form={})
    previous = (first - dt.timedelta(days=1)).replace(day=1)
    context.update(previous_month=f"{previous:%Y-%m}", next_month=f"{following:%Y-%m}")
    if centre is None:
        return context
    rows = service.list_rosters(db=db, centre=centre, start=first, end=following)
    used = {r.shift_id for r in rows}
    shifts = [s for s in service.list_shifts(db=db, centre=centre) if s.is_active or s.id in used]
    tz = service.district_tz()
    start = dt.datetime.combine(first, dt.time(), tz)
    end = dt.datetime.combine(following, dt.time(), tz)
    context.update(
        days=[first + dt.timedelta(days=n) for n in range((following - first).days)],
        shifts=shifts,
        spans={s.id: service.format_span(s.start_minute, s.duration_minutes) for s in shifts},
        cells={(r.duty_date, r.shift_id): r for r in rows},
        gaps=service.coverage_gaps(db=db, centre=centre, start=start, end=end) if shifts else [],
        today=service.local_date(clock.now()),
    )
    return context


@router.get("/duty/roster")
def get_roster(
    request: Request, db: DbSession, principal: PageUser, centre: str | None = None, month: str | None = None
) -> Response:
    """The month's roster calendar of a centre (dates × shifts), its gaps, and for its managers the tools."""
    require_page(principal, "duty.view")
    area = _centre(db, principal.actor, centre)
    return render(request, "duty/roster.html", _roster_context(db, principal, area, month), principal=principal)


def _managed(db: Session, principal: Principal, code: str) -> Area:
    return service.get_centre(db=db, code=code, actor=principal.actor, action="duty.manage", above=False)


def _teams(text: str) -> list[list[str]]:
    return [service.split_names(line) for line in text.splitlines() if line.strip()]


@router.post("/duty/roster/generate")
def post_generate(request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm) -> Response:
    """Writes a month's roster from the rotation typed in the form (one team per line)."""
    require_page(principal, "duty.manage")
    code, month = str(form.get("centre") or ""), str(form.get("month") or "")

    def generate() -> list[DutyRoster]:
        centre = _managed(db, principal, code)
        rules = rotation.Rotation(
            teams=_teams(str(form.get("teams") or "")),
            leaders=service.split_names(str(form.get("leaders") or "")),
        )
        return rotation.generate_month(
            db=db, centre=centre, month=month, rotation=rules, actor=principal.actor, replace=bool(form.get("replace"))
        )

    done, errors = attempt(db, after, generate)
    if errors:
        area = _centre(db, principal.actor, code)
        context = _roster_context(db, principal, area, month)
        context.update(errors=errors, form={k: str(v) for k, v in form.items() if k != "csrf_token"})
        return render(request, "duty/roster.html", context, principal=principal, status_code=422)
    return RedirectResponse(f"/duty/roster?centre={code}&month={month}", status_code=303)


@router.post("/duty/roster/import")
def post_import(request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm) -> Response:
    """Imports a roster workbook for the centre; all or nothing, every problem listed."""
    require_page(principal, "duty.manage")
    code = str(form.get("centre") or "")
    upload = form.get("file")

    def run() -> files.ImportReport:
        centre = _managed(db, principal, code)
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InputError([Issue("form", "choose a roster workbook (.xlsx)", "file")], "nothing imported")
        data = upload.file.read(files.MAX_BYTES + 1)
        return files.import_roster(db=db, centre=centre, data=data, filename=upload.filename, actor=principal.actor)

    report, errors = attempt(db, after, run)
    if errors or report is None:
        context = _roster_context(db, principal, _centre(db, principal.actor, code), None)
        context["errors"] = errors
        return render(request, "duty/roster.html", context, principal=principal, status_code=422)
    month = f"{report.dates[0]:%Y-%m}" if report.dates else ""
    return RedirectResponse(f"/duty/roster?centre={code}&month={month}", status_code=303)


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise NotFoundError(f"not a date: {value!r}") from None


def _edit_context(db: Session, principal: Principal, centre: Area, day: dt.date, shift_key: str) -> dict[str, Any]:
    shift = service.find_shift(service.list_shifts(db=db, centre=centre), shift_key)
    if shift is None:
        raise NotFoundError(f"no shift {shift_key!r} at {service.centre_name(centre)}")
    try:
        row = service.get_roster(db=db, centre=centre, day=day, shift=shift.code)
    except NotFoundError:
        row = None
    context = _common(db, principal, centre, "roster")
    starts_at, ends_at = service.shift_span(shift, day)
    context.update(
        day=day,
        shift=shift,
        span=f"{_local(starts_at)} – {_local(ends_at)}",
        row=row,
        candidates=service.staff_candidates(db=db, centre=centre),
        leader=next((m.user.username for m in row.members if m.is_leader), "") if row else "",
        staff={m.user.username for m in row.members if not m.is_leader} if row else set(),
        note=row.note if row and row.note else "",
    )
    return context


@router.get("/duty/roster/{centre}/{day}/{shift}")
def get_roster_row(request: Request, centre: str, day: str, shift: str, db: DbSession, principal: PageUser) -> Response:
    """The form of one date and shift: its duty leader, its staff and a note."""
    require_page(principal, "duty.manage")
    area = _managed(db, principal, centre)
    return render(
        request, "duty/roster_edit.html", _edit_context(db, principal, area, _day(day), shift), principal=principal
    )


@router.post("/duty/roster/{centre}/{day}/{shift}")
def post_roster_row(
    request: Request,
    centre: str,
    day: str,
    shift: str,
    db: WriteSession,
    principal: PageUser,
    after: After,
    form: PageForm,
) -> Response:
    """Saves (or with `delete`, deletes) one date and shift of the roster."""
    require_page(principal, "duty.manage")
    area = _managed(db, principal, centre)
    date = _day(day)

    def save() -> object:
        if form.get("delete"):
            service.delete_roster(
                db=db, roster=service.get_roster(db=db, centre=area, day=date, shift=shift), actor=principal.actor
            )
            return True
        entry = service.RosterInput(
            day=date,
            shift=shift,
            leader=str(form.get("leader") or "").strip() or None,
            staff=[str(v) for v in form.getlist("staff") if str(v).strip()]
            + service.split_names(str(form.get("more_staff") or "")),
            note=str(form.get("note") or ""),
            where=f"{day} {shift}",
        )
        return service.set_rosters(db=db, centre=area, entries=[entry], actor=principal.actor)

    done, errors = attempt(db, after, save)
    if errors:
        context = _edit_context(db, principal, area, date, shift)
        context["errors"] = errors
        context["leader"] = str(form.get("leader") or "")
        context["staff"] = {str(v) for v in form.getlist("staff")}
        context["note"] = str(form.get("note") or "")
        return render(request, "duty/roster_edit.html", context, principal=principal, status_code=422)
    return RedirectResponse(f"/duty/roster?centre={area.code}&month={date:%Y-%m}", status_code=303)


# --- handovers -------------------------------------------------------------------------------------------------


def _handover_context(
    db: Session, principal: Principal, centre: Area | None, offset: int = 0, errors: list[str] | None = None
) -> dict[str, Any]:
    context = _common(db, principal, centre, "handovers")
    rows, total = service.list_handovers(db=db, centre=centre, offset=offset, limit=PAGE_SIZE) if centre else ([], 0)
    context.update(
        handovers=rows,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        to_hand_over=service.shifts_to_hand_over(db=db, actor=principal.actor),
        to_acknowledge=service.handovers_to_acknowledge(db=db, actor=principal.actor),
        errors=errors or [],
    )
    return context


@router.get("/duty/handovers")
def get_handovers(
    request: Request, db: DbSession, principal: PageUser, centre: str | None = None, offset: int = 0
) -> Response:
    """The handover log of a centre (交接班记录), with the user's own shifts to hand over and handovers to take."""
    require_page(principal, "duty.view")
    area = _centre(db, principal.actor, centre, above=False)
    context = _handover_context(db, principal, area, min(max(offset, 0), MAX_OFFSET))
    return render(request, "duty/handovers.html", context, principal=principal)


@router.post("/duty/handovers")
def post_handover(request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm) -> Response:
    """Writes the handover of one of the user's shifts."""
    require_page(principal, "duty.view")

    def write() -> DutyHandover:
        centres = service.list_centres(db=db, actor=principal.actor)
        roster_id = str(form.get("roster_id") or "")
        if not (roster_id.isascii() and roster_id.isdigit()):  # isdigit() alone takes "²", which int() refuses
            raise NotFoundError("choose one of your shifts")
        roster = service.get_roster_by_id(db=db, roster_id=int(roster_id), centres=centres)
        return service.write_handover(
            db=db,
            roster=roster,
            actor=principal.actor,
            open_matters=str(form.get("open_matters") or ""),
            case_numbers=service.split_names(str(form.get("case_numbers") or "")),
            notes=str(form.get("notes") or ""),
        )

    done, errors = attempt(db, after, write)
    if errors or done is None:
        area = _centre(db, principal.actor, None, above=False)
        context = _handover_context(db, principal, area, errors=errors)
        return render(request, "duty/handovers.html", context, principal=principal, status_code=422)
    centre = db.get(Area, done.centre_area_id)
    return RedirectResponse(f"/duty/handovers?centre={centre.code if centre else ''}", status_code=303)


@router.post("/duty/handovers/{handover_id}/acknowledge")
def post_acknowledge(
    request: Request, handover_id: int, db: WriteSession, principal: PageUser, after: After, form: PageForm
) -> Response:
    """Acknowledges a handover as the incoming shift's duty leader."""
    require_page(principal, "duty.view")

    def acknowledge() -> object:
        centres = service.list_centres(db=db, actor=principal.actor)
        row = service.get_handover(db=db, handover_id=handover_id, centres=centres)
        return service.acknowledge_handover(
            db=db, handover=row, actor=principal.actor, note=str(form.get("note") or "")
        )

    done, errors = attempt(db, after, acknowledge)
    if errors or done is None:
        area = _centre(db, principal.actor, None, above=False)
        context = _handover_context(db, principal, area, errors=errors)
        return render(request, "duty/handovers.html", context, principal=principal, status_code=422)
    return RedirectResponse("/duty/handovers", status_code=303)


# --- notifications ---------------------------------------------------------------------------------------------


@router.get("/duty/notifications")
def get_notifications(
    request: Request,
    db: DbSession,
    principal: PageUser,
    centre: str | None = None,
    status: str | None = None,
    offset: int = 0,
) -> Response:
    """The notices sent to a centre's on-duty staff and how each delivery went."""
    require_page(principal, "duty.view")
    area = _centre(db, principal.actor, centre, above=False)
    chosen = DeliveryStatus(status) if status in DeliveryStatus.__members__ else None
    rows, total = (
        notify.list_notices(db=db, centre=area, offset=min(max(offset, 0), MAX_OFFSET), limit=PAGE_SIZE, status=chosen)
        if area
        else ([], 0)
    )
    context = _common(db, principal, area, "notifications")
    context.update(
        notices=rows,
        total=total,
        offset=min(max(offset, 0), MAX_OFFSET),
        page_size=PAGE_SIZE,
        status=chosen,
        statuses=list(DeliveryStatus),
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        numbers=notify.case_numbers(db=db, case_ids=[r.case_id for r in rows]),
    )
    return render(request, "duty/notifications.html", context, principal=principal)
