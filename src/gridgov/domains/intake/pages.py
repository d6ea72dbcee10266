"""Pages of intake for signed-in staff: the grid worker's phone pages (/m: report, tasks, household visits), the
leader's assignment form (/assign) and the administrator's terminal list (/terminals).

The phone pages are plain HTML forms enhanced by /static/js/report.js (position, map pick, photo previews, a
stable idempotency key). A phone is known by a random device id kept in a long-lived cookie; reports from a
phone not bound to the worker are refused with that id on screen, so the worker can ask for the binding.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from gridgov.config import Settings
from gridgov.core import security
from gridgov.core.auth import After, cookie_secure
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import Invalid, NotFoundError
from gridgov.core.pages import PageForbidden, PageForm, PageUser, attempt, require_page
from gridgov.core.permissions import restrict
from gridgov.core.templating import N_, render
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import terminals
from gridgov.domains.auth.enums import TerminalStatus
from gridgov.domains.auth.models import Terminal
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import AttachmentKind, CaseStage, Channel
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.pages import store_photos
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake import visits
from gridgov.domains.intake.models import HouseholdVisit
from gridgov.domains.intake.schemas import CaseSubmit, FindingIn, SelfHandledIn, VisitIn

router = APIRouter(include_in_schema=False)

DEVICE_COOKIE = "gridgov_device"
DEVICE_COOKIE_AGE = 5 * 365 * 24 * 3600
MAX_PHOTOS = 6
BOUNDARIES_URL = "/api/v1/areas/geojson?level=community&simplify=5"
TASK_STAGES = (CaseStage.verifying, CaseStage.handled)
TASK_LIST_LIMIT = 100
TERMINAL_STATUS_LABELS = {
    TerminalStatus.pending: N_("Pending"),
    TerminalStatus.active: N_("Bound"),
    TerminalStatus.revoked: N_("Revoked"),
}


def device_of(request: Request) -> str | None:
    """Returns the device id this browser carries, or None before its first visit to the phone pages."""
    value = request.cookies.get(DEVICE_COOKIE)
    try:
        return terminals.check_device_id(value) if value else None
    except Invalid:
        return None


def _with_device(request: Request, response: Response, device_id: str) -> Response:
    if request.cookies.get(DEVICE_COOKIE) != device_id:
        response.set_cookie(
            DEVICE_COOKIE,
            device_id,
            max_age=DEVICE_COOKIE_AGE,
            httponly=True,
            samesite="lax",
            secure=cookie_secure(request),
        )
    return response


def _worker(principal: Principal) -> None:
    if principal.actor.role not in terminals.BOUND_ROLES:
        raise PageForbidden(principal, "these pages are the grid worker's phone pages")


def _terminal(db: Session, device_id: str) -> Terminal | None:
    return db.scalars(select(Terminal).where(Terminal.device_id == device_id)).first()


def _page(
    request: Request, principal: Principal, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    device_id = device_of(request) or f"m-{security.random_token(12)}"
    settings: Settings = request.app.state.settings
    full = {
        "device_id": device_id,
        "boundaries_url": BOUNDARIES_URL,
        "tile_url": "",
        "max_photos": MAX_PHOTOS,
        "max_bytes": settings.max_upload_bytes,
        "max_mb": f"{settings.max_upload_bytes / 1048576:.1f}".removesuffix(".0"),
        **context,
    }
    response = render(request, name, full, principal=principal, status_code=status_code)
    return _with_device(request, response, device_id)


def _matter_types(db: Session) -> list[MatterType]:
    return list(db.scalars(select(MatterType).where(MatterType.is_active).order_by(MatterType.code)))


# --- home ---------------------------------------------------------------------------------------------------


@router.get("/m")
def get_home(request: Request, db: DbSession, principal: PageUser) -> Response:
    """The worker's phone home: this phone's binding, tasks waiting, own recent reports."""
    _worker(principal)
    device_id = device_of(request)
    terminal = _terminal(db, device_id) if device_id else None
    tasks = _tasks(db, principal)
    mine = db.scalars(
        select(Case).where(Case.reporter_user_id == principal.actor.user_id).order_by(Case.reported_at.desc()).limit(10)
    ).all()
    context = {"terminal": terminal, "task_count": len(tasks), "mine": mine, "TerminalStatus": TerminalStatus}
    return _page(request, principal, "mobile/worker_home.html", context)


# --- report -------------------------------------------------------------------------------------------------


def _report_context(db: Session, values: dict[str, str], key: str, errors: list[str]) -> dict[str, Any]:
    return {
        "matter_types": _matter_types(db),
        "values": values,
        "idempotency_key": key,
        "errors": errors,
        "form_id": "patrol",
    }


@router.get("/m/report")
def get_report(request: Request, db: DbSession, principal: PageUser) -> Response:
    """The worker's report form: photos, position, matter type, description, optional on-the-spot handling."""
    _worker(principal)
    context = _report_context(db, {}, security.random_token(24), [])
    return _page(request, principal, "mobile/worker_report.html", context)


def _float(form: FormData, name: str) -> float | None:
    try:
        return float(str(form.get(name) or ""))
    except ValueError:
        return None


@router.post("/m/report")
def post_report(request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm) -> Response:
    """Stores the photos and reports through the one intake function, from this phone only."""
    _worker(principal)
    settings: Settings = request.app.state.settings
    values = {k: str(form.get(k) or "") for k in ("matter_type", "title", "description", "address", "lng", "lat")}
    values["crs"] = str(form.get("crs") or "wgs84")
    values["self_handled"] = "on" if form.get("self_handled") else ""
    values["result"] = str(form.get("result") or "")
    key = str(form.get("idempotency_key") or "")[:100] or None
    ctx = Context.of(principal.actor)

    def report() -> Case:
        terminals.require_bound(db=db, actor=principal.actor, device_id=device_of(request), after=after)
        photos = store_photos(db=db, ctx=ctx, uploads=form.getlist("photo"), settings=settings)
        after_photos = store_photos(db=db, ctx=ctx, uploads=form.getlist("after_photo"), settings=settings)
        description = values["description"].strip()
        submitted = CaseSubmit(
            channel=Channel.patrol,
            matter_type=values["matter_type"],
            title=values["title"].strip() or description[:30] or values["matter_type"],
            description=description,
            lng=_float(form, "lng"),
            lat=_float(form, "lat"),
            crs=values["crs"],
            address=values["address"] or None,
            attachments=photos,
            self_handled=SelfHandledIn(result=values["result"], evidence=after_photos)
            if values["self_handled"]
            else None,
        )
        return intake_service.submit(db=db, report=submitted, ctx=ctx, idempotency_key=key).case

    case, errors = attempt(db, after, report)
    if case is None:
        context = _report_context(db, values, key or security.random_token(24), errors)
        return _page(request, principal, "mobile/worker_report.html", context, status_code=422)
    context = {"case": case, "form_id": "patrol", "used_key": key or ""}
    return _page(request, principal, "mobile/worker_done.html", context)


# --- tasks: 核实 public reports, 核查 handled cases ---------------------------------------------------------------


def _task_query(principal: Principal) -> Select[tuple[Case]]:
    """Cases the worker may verify in their area: public reports to confirm (核实) and handled cases to check
    (核查) assigned to them or to nobody, but not the cases they handled on the spot themselves (巡办分离)."""
    actor = principal.actor
    stmt = select(Case).where(
        Case.stage.in_(TASK_STAGES),
        or_(Case.verifier_user_id.is_(None), Case.verifier_user_id == actor.user_id),
        ~and_(Case.stage == CaseStage.handled, Case.reporter_user_id == actor.user_id, Case.handling_unit_id.is_(None)),
    )
    return restrict(stmt, actor, "case.verify")


def _tasks(db: Session, principal: Principal) -> list[Case]:
    order = (Case.verify_due_at, Case.register_due_at, Case.id)
    return list(db.scalars(_task_query(principal).order_by(*order).limit(TASK_LIST_LIMIT)))


@router.get("/m/tasks")
def get_tasks(request: Request, db: DbSession, principal: PageUser) -> Response:
    """The worker's verification tasks in their area: public reports to confirm, handled cases to check."""
    _worker(principal)
    return _page(request, principal, "mobile/worker_tasks.html", {"tasks": _tasks(db, principal)})


def _task(db: Session, principal: Principal, case_id: int) -> Case:
    found = db.scalars(_task_query(principal).where(Case.id == case_id)).first()
    if found is None:
        raise NotFoundError(f"case {case_id} is not among your verification tasks")
    return found


@router.get("/m/tasks/{case_id}")
def get_task(case_id: int, request: Request, db: DbSession, principal: PageUser) -> Response:
    """One task: the case as reported, and the decision form (404 for a case that is not the worker's task)."""
    _worker(principal)
    case, errors = attempt(db, None, lambda: _task(db, principal, case_id))
    context = {"case": case, "errors": errors, "values": {}}
    return _page(request, principal, "mobile/worker_task.html", context, status_code=404 if case is None else 200)


@router.post("/m/tasks/{case_id}")
def post_task(
    case_id: int, request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm
) -> Response:
    """Records the decision: 核实 (true → registered; not true → a note for the dispatcher) or 核查 (close/rework)."""
    _worker(principal)
    settings: Settings = request.app.state.settings
    decision = str(form.get("decision") or "")
    note = str(form.get("note") or "").strip() or None
    ctx = Context.of(principal.actor)

    def decide() -> Case:
        terminals.require_bound(db=db, actor=principal.actor, device_id=device_of(request), after=after)
        case = _task(db, principal, case_id)
        photos = store_photos(db=db, ctx=ctx, uploads=form.getlist("photo"), settings=settings)
        if case.stage == CaseStage.verifying:
            if decision == "true":
                case_service.confirm(db=db, case=case, ctx=ctx, note=note)
                case_service.attach(db=db, case=case, sha256s=photos, kind=AttachmentKind.verification, ctx=ctx)
            elif decision == "false":
                text = "现场核实不属实 (not confirmed on site)" + (f": {note}" if note else "")
                case_service.add_note(db=db, case=case, ctx=ctx, note=text, data={"verified": False})
                case_service.attach(db=db, case=case, sha256s=photos, kind=AttachmentKind.verification, ctx=ctx)
            else:
                raise Invalid("choose whether the report is true", code="decision_required")
        elif decision in ("pass", "rework"):
            case_service.verify(db=db, case=case, ctx=ctx, ok=decision == "pass", note=note, evidence=photos)
        else:
            raise Invalid("choose whether the problem is solved", code="decision_required")
        db.flush()
        return case

    case, errors = attempt(db, after, decide)
    if case is None:
        shown, _ = attempt(db, None, lambda: _task(db, principal, case_id))  # only a task of the worker's is shown
        context = {"case": shown, "errors": errors, "values": {"note": note or ""}}
        return _page(request, principal, "mobile/worker_task.html", context, status_code=422)
    return RedirectResponse("/m/tasks?done=" + case.number, status_code=303)


# --- household visits --------------------------------------------------------------------------------------


@router.get("/m/visits")
def get_visits(request: Request, db: DbSession, principal: PageUser) -> Response:
    """The worker's recent visits, and the form to log one."""
    _worker(principal)
    recent = visits.list_visits(db=db, ctx=Context.of(principal.actor), limit=20)
    context = {
        "recent": recent,
        "matter_types": _matter_types(db),
        "values": {},
        "errors": [],
        "idempotency_key": security.random_token(24),
        "form_id": "visit",
    }
    return _page(request, principal, "mobile/worker_visits.html", context)


@router.post("/m/visits")
def post_visit(request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm) -> Response:
    """Logs a visit; a finding with a matter type chosen becomes a patrol case."""
    _worker(principal)
    names = ("household_ref", "purpose", "summary", "finding", "matter_type", "lng", "lat", "crs")
    values = {k: str(form.get(k) or "") for k in names}
    key = str(form.get("idempotency_key") or "")[:100] or None
    ctx = Context.of(principal.actor)

    def log() -> HouseholdVisit:
        terminals.require_bound(db=db, actor=principal.actor, device_id=device_of(request), after=after)
        findings = []
        if values["finding"].strip():
            matter = values["matter_type"] or None
            findings.append(FindingIn(description=values["finding"], create_case=bool(matter), matter_type=matter))
        visit = VisitIn(
            household_ref=values["household_ref"],
            lng=_float(form, "lng"),
            lat=_float(form, "lat"),
            crs=values["crs"] or "wgs84",
            purpose=values["purpose"] or None,
            summary=values["summary"],
            findings=findings,
        )
        return visits.log_visit(db=db, visit=visit, ctx=ctx, idempotency_key=key)

    logged, errors = attempt(db, after, log)
    if logged is None:
        context = {
            "recent": visits.list_visits(db=db, ctx=ctx, limit=20),
            "matter_types": _matter_types(db),
            "values": values,
            "errors": errors,
            "idempotency_key": key or security.random_token(24),
            "form_id": "visit",
        }
        return _page(request, principal, "mobile/worker_visits.html", context, status_code=422)
    return RedirectResponse(f"/m/visits?logged={logged.id}", status_code=303)


# --- leader assignment (交办) -------------------------------------------------------------------------------


def _assign_context(db: Session, values: dict[str, str], key: str, errors: list[str]) -> dict[str, Any]:
    areas = db.scalars(
        select(Area).where(Area.level.in_([AreaLevel.street, AreaLevel.community])).order_by(Area.code)
    ).all()
    units = db.scalars(select(Unit).where(Unit.is_active).order_by(Unit.level, Unit.code)).all()
    return {
        "matter_types": _matter_types(db),
        "areas": areas,
        "units": units,
        "values": values,
        "errors": errors,
        "idempotency_key": key,
    }


def _assigner(principal: Principal) -> None:
    if principal.actor.role not in intake_service.CHANNEL_ROLES[Channel.assignment]:
        raise PageForbidden(principal, "only leaders and the district centre assign cases (交办)")


@router.get("/assign")
def get_assign(request: Request, db: DbSession, principal: PageUser) -> Response:
    """The leader's assignment form: what, where, to which unit, by when."""
    _assigner(principal)
    context = _assign_context(db, {}, security.random_token(24), [])
    return render(request, "intake/assign.html", context, principal=principal)


@router.post("/assign")
def post_assign(request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm) -> Response:
    """Creates the assigned case: dispatched to the unit, with the leader's deadline, supervised from the start."""
    _assigner(principal)
    names = ("matter_type", "title", "description", "area_code", "unit", "due_at")
    values = {k: str(form.get(k) or "").strip() for k in names}
    key = str(form.get("idempotency_key") or "")[:100] or None
    tz = request.app.state.settings.tz

    def assign() -> Case:
        due = _local_time(values["due_at"], tz) if values["due_at"] else None
        report = CaseSubmit(
            channel=Channel.assignment,
            matter_type=values["matter_type"],
            title=values["title"],
            description=values["description"],
            area_code=values["area_code"] or None,
            assigned_unit=values["unit"] or None,
            due_at=due,
        )
        ctx = Context.of(principal.actor)
        return intake_service.submit(db=db, report=report, ctx=ctx, idempotency_key=key).case

    case, errors = attempt(db, after, assign)
    if case is None:
        context = _assign_context(db, values, key or security.random_token(24), errors)
        return render(request, "intake/assign.html", context, principal=principal, status_code=422)
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


def _local_time(value: str, tz: dt.tzinfo) -> dt.datetime:
    """Reads a form's date and time (datetime-local), in the district's zone unless it names its own offset."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"deadline {value!r}: give a date and time, e.g. 2026-12-04T18:00", field="due_at") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


# --- terminals (administrator) -----------------------------------------------------------------------------


@router.get("/terminals")
def get_terminals(request: Request, db: DbSession, principal: PageUser) -> Response:
    """Grid workers' phones: pending ones to bind, bound ones to revoke when lost."""
    require_page(principal, "terminal.manage")
    found = terminals.list_terminals(db=db)
    found.sort(key=lambda t: (t.status != TerminalStatus.pending, t.status == TerminalStatus.revoked))
    context = {
        "terminals": found,
        "TerminalStatus": TerminalStatus,
        "status_labels": TERMINAL_STATUS_LABELS,
        "errors": [],
    }
    return render(request, "intake/terminals.html", context, principal=principal)


@router.post("/terminals/{terminal_id}/{operation}")
def post_terminal(
    terminal_id: int, operation: str, request: Request, db: WriteSession, principal: PageUser, after: After
) -> Response:
    """Binds or revokes a phone from the console."""
    require_page(principal, "terminal.manage")

    def change() -> Terminal:
        terminal = terminals.get_terminal(db=db, terminal_id=terminal_id)
        common = {"db": db, "actor": principal.actor, "terminal": terminal, "source_address": principal.source_address}
        if operation == "bind":
            return terminals.bind(**common)
        if operation == "revoke":
            return terminals.revoke(**common)
        raise Invalid(f"unknown operation {operation!r}: bind or revoke", code="bad_operation")

    done, errors = attempt(db, after, change)
    if done is None:
        context = {"terminals": terminals.list_terminals(db=db), "TerminalStatus": TerminalStatus, "errors": errors}
        context["status_labels"] = TERMINAL_STATUS_LABELS
        return render(request, "intake/terminals.html", context, principal=principal, status_code=422)
    return RedirectResponse("/terminals", status_code=303)
