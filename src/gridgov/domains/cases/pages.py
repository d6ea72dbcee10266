"""Console pages of cases: my inbox, the case list, case detail with its action forms, the dispatch queue.

Thin: every page reads through `permissions.restrict`/`check_case` and writes through the case services, like
the JSON API; the actions offered are `machine.allowed_actions` for the role, kept to those `permissions.can`
grants. A refused command is shown inline in its form (htmx swaps the form region; status 422).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from gridgov.config import Settings, get_settings
from gridgov.core import media
from gridgov.core.auth import After, AfterRequest
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import Invalid, NotFoundError
from gridgov.core.pages import PageUser, attempt, is_htmx
from gridgov.core.permissions import (
    CASE_ACTION_PERMISSIONS,
    can,
    check_case,
    defer_audit,
    pending_audit,
    recheck_after_action,
    restrict,
)
from gridgov.core.templating import LOCAL_TZ, N_, render
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.cases import machine, media_public
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Action, CaseStage, Channel, Reasonableness, Satisfaction
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.public import UNREASONABLE_REASONS
from gridgov.domains.cases.service import REJECT_REASONS, RETURN_REASONS, CaseFilter, Context
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.triage import duplicates as duplicate_service
from gridgov.domains.triage.duplicates import DuplicateCandidate

router = APIRouter(include_in_schema=False)
# The public copies of citizens' photos (no login) are served by their own router, mounted with the pages.
router.include_router(media_public.router)
S = CaseStage
INBOX_LIMIT = 20
QUEUE_STAGES = [S.reported, S.verifying, S.registered, S.returned]


@dataclass(frozen=True)
class Section:
    """One box of the inbox: the cases a permission reaches, narrowed by `filters` (and `keep`)."""

    key: str
    title: str
    permission: str
    filters: Callable[[], CaseFilter]
    keep: Callable[[Case], bool] = field(default=lambda _case: True)


SECTIONS: tuple[Section, ...] = (
    Section("to_register", N_("To register"), "case.register", lambda: CaseFilter(stage=[S.reported])),
    Section("to_dispatch", N_("To dispatch"), "case.dispatch", lambda: CaseFilter(stage=[S.registered, S.returned])),
    Section("to_sign", N_("To sign"), "case.handle", lambda: CaseFilter(stage=[S.dispatched])),
    Section("to_handle", N_("To handle"), "case.handle", lambda: CaseFilter(stage=[S.signed, S.handling])),
    Section("to_verify", N_("To verify"), "case.verify", lambda: CaseFilter(stage=[S.verifying, S.handled])),
    Section(
        "to_approve",
        N_("To approve"),
        "case.approve",
        lambda: CaseFilter(stage=[S.dispatched, S.signed, S.handling]),
        keep=lambda case: bool(case.pending_request),
    ),
    Section("overdue", N_("Overdue"), "case.view", lambda: CaseFilter(is_open=True, overdue=True)),
    Section("warnings", N_("Warnings"), "case.view", lambda: CaseFilter(is_open=True, min_warning_level=50)),
)


def _scoped(principal: Principal, permission: str) -> Callable[[Any], Any]:
    return lambda stmt: restrict(stmt, principal.actor, permission)


@router.get("/inbox")
def get_inbox(request: Request, db: DbSession, principal: PageUser) -> Response:
    """Renders the user's inbox: one section per kind of work the role does, within its scope."""
    sections = []
    for section in SECTIONS:
        if not can(principal.actor, section.permission):
            continue
        items, total = case_service.list_cases(
            db=db, filters=section.filters(), limit=INBOX_LIMIT, scope=_scoped(principal, section.permission)
        )
        kept = [case for case in items if section.keep(case)]
        sections.append({"key": section.key, "title": section.title, "cases": kept, "total": total})
    return render(request, "cases/inbox.html", {"sections": sections}, principal=principal)


# --- the case list ---------------------------------------------------------------------------------------------


def _flag(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get((value or "").lower())


def _day(value: str | None, what: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), LOCAL_TZ)
    except ValueError:
        raise Invalid(f"{what}: {value!r} is not a date (YYYY-MM-DD)", code="bad_date") from None


def _lookup(db: Session, stmt: Any, message: str) -> Any:
    value = db.scalar(stmt)
    if value is None:
        raise Invalid(message, code="unknown_filter_value")
    return value


def parse_filters(db: Session, params: Any) -> tuple[CaseFilter, dict[str, Any]]:
    """Returns the case filter named by the query string (the API's parameter names) and the form's values."""
    values = {
        "stage": params.getlist("stage"),
        "channel": params.getlist("channel"),
        **{k: params.get(k, "") for k in ("is_open", "overdue", "warning", "unit", "area", "matter_type", "q")},
        **{k: params.get(k, "") for k in ("reported_from", "reported_to", "supervised")},
    }
    try:
        stages = [CaseStage(s) for s in values["stage"] if s]
        channels = [Channel(c) for c in values["channel"] if c]
        warning = int(values["warning"]) if values["warning"] else None
    except ValueError as exc:
        raise Invalid(f"bad filter value: {exc}", code="bad_filter") from None
    filters = CaseFilter(
        stage=stages or None,
        channel=[str(c) for c in channels] or None,
        is_open=_flag(values["is_open"]),
        overdue=_flag(values["overdue"]),
        supervised=_flag(values["supervised"]),
        min_warning_level=warning,
        reported_from=_day(values["reported_from"], "reported_from"),
        reported_to=_day(values["reported_to"], "reported_to"),
        text=values["q"][:100] or None,
    )
    if values["unit"]:
        filters.unit_id = _lookup(
            db, select(Unit.id).where(Unit.code == values["unit"]), f"unknown unit {values['unit']!r}"
        )
    if values["area"]:
        filters.area_path = _lookup(
            db, select(Area.path).where(Area.code == values["area"]), f"unknown area {values['area']!r}"
        )
    if values["matter_type"]:
        filters.matter_type_id = _lookup(
            db,
            select(MatterType.id).where(MatterType.code == values["matter_type"]),
            f"unknown matter type {values['matter_type']!r}",
        )
    return filters, values


@router.get("/cases")
def get_case_list(request: Request, db: DbSession, principal: PageUser, offset: int = 0, limit: int = 50) -> Response:
    """Renders the cases the user may see, filtered like GET /api/v1/cases, newest first."""
    offset, limit = max(offset, 0), min(max(limit, 1), 200)
    values: dict[str, Any] = {"stage": [], "channel": []}
    errors: list[str] = []
    items: list[Case] = []
    total = 0
    if can(principal.actor, "case.view"):
        try:
            filters, values = parse_filters(db, request.query_params)
        except Invalid as exc:
            errors = [exc.message]
        else:
            items, total = case_service.list_cases(
                db=db, filters=filters, offset=offset, limit=limit, scope=_scoped(principal, "case.view")
            )
    context = {
        "cases": items,
        "total": total,
        "offset": offset,
        "limit": limit,
        "values": values,
        "errors": errors,
        "stages": list(CaseStage),
        "channels": list(Channel),
    }
    return render(request, "cases/case_list.html", context, principal=principal, status_code=422 if errors else 200)


# --- case detail and actions -------------------------------------------------------------------------------------

# Actions the console offers a form for (the others are the system's or the intake's own).
FORM_ACTIONS = frozenset(Action) - {Action.report, Action.self_handle, Action.warn, Action.overdue}
# A request form is offered while nothing is pending; a decision form only for the request of its kind.
REQUEST_KIND = {
    Action.request_extension: None,
    Action.request_suspension: None,
    Action.decide_extension: "extension",
    Action.decide_suspension: "suspension",
}
CLOCK_UNIT_LABELS: dict[str, str] = {
    "working_hours": N_("working hours"),
    "working_days": N_("working days"),
    "natural_hours": N_("hours"),
}


def _pending_kind(case: Case) -> str | None:
    return (case.pending_request or {}).get("kind")


def actions_for(principal: Principal, case: Case) -> list[Action]:
    """Returns the actions the user may take on `case` now: legal in its stage for the role, and permitted."""
    return [
        action
        for action in machine.allowed_actions(case.stage, principal.actor.role)
        if action in FORM_ACTIONS
        and can(principal.actor, CASE_ACTION_PERMISSIONS[action])
        and REQUEST_KIND.get(action, _pending_kind(case)) == _pending_kind(case)
    ]


def _load_case(db: Session, principal: Principal, after: AfterRequest, case_id: int, permission: str) -> Case:
    try:
        if not 0 < case_id <= case_service.MAX_ID:
            raise NotFoundError(f"case {case_id} not found")
        return check_case(
            db, principal.actor, permission, case_id, source_address=principal.source_address, audit=defer_audit
        )
    except Exception as exc:
        # NOTE: the denial's audit entry must be written although the page answers by itself (404 page).
        record = pending_audit(exc)
        if record is not None:
            after.audit(record)
        raise


def _detail_context(db: Session, principal: Principal, case: Case) -> dict[str, Any]:
    units = {
        u.id: u for u in db.scalars(select(Unit).where(Unit.id.in_([case.handling_unit_id or 0, *case.co_unit_ids])))
    }
    return {
        "case": case,
        "timeline": case_service.timeline(db=db, case=case),
        "actions": actions_for(principal, case),
        "handling_unit": units.get(case.handling_unit_id or 0),
        "candidates": case.dispatch_candidates or [],
        **_triage_context(db, principal, case),
        "reject_reasons": REJECT_REASONS,
        "return_reasons": RETURN_REASONS,
        "satisfactions": list(Satisfaction),
        "rulings": list(Reasonableness),
        "unreasonable_reasons": {code: label for code, (label, _reply) in UNREASONABLE_REASONS.items()},
        "pending": _pending_view(case),
        "clock_unit_label": CLOCK_UNIT_LABELS.get(str(case.clock_unit), N_("hours")),
        "errors": {},
        "values": {},
    }


def _triage_context(db: Session, principal: Principal, case: Case) -> dict[str, Any]:
    """Returns what triage suggests for a case awaiting dispatch: the model's labels and possible duplicates."""
    if case.stage not in QUEUE_STAGES or not can(principal.actor, "triage.view"):
        return {"classification": None, "duplicates": [], "matter_types": []}
    matter_types = (
        list(db.execute(select(MatterType.code, MatterType.name).where(MatterType.is_active).order_by(MatterType.code)))
        if can(principal.actor, CASE_ACTION_PERMISSIONS[Action.reclassify])
        else []
    )
    return {
        "classification": case.classification,
        "duplicates": _duplicates(db, principal, case),
        "matter_types": matter_types,
    }


def _duplicates(db: Session, principal: Principal, case: Case) -> list[DuplicateCandidate]:
    found = duplicate_service.suggest_for_case(db=db, case=case, limit=3)
    return duplicate_service.visible_to(db=db, actor=principal.actor, candidates=found)


def _pending_view(case: Case) -> dict[str, Any] | None:
    """Returns the pending extension or suspension request for display (its end time parsed), or None."""
    pending = case.pending_request
    if not pending:
        return None
    until = pending.get("until")
    return {
        **pending,
        "until": dt.datetime.fromisoformat(until) if until else None,
        "unit_label": CLOCK_UNIT_LABELS.get(pending.get("unit") or "", N_("hours")),
    }


def _not_found(request: Request, principal: Principal, case_id: int) -> Response:
    return render(request, "cases/case_missing.html", {"case_id": case_id}, principal=principal, status_code=404)


@router.get("/cases/{case_id}")
def get_case_detail(case_id: int, request: Request, db: DbSession, principal: PageUser, after: After) -> Response:
    """Renders a case: its facts, map pin, photos, timeline and the action forms the user may use."""
    try:
        case = _load_case(db, principal, after, case_id, "case.view")
    except NotFoundError:
        return _not_found(request, principal, case_id)
    return render(request, "cases/case_detail.html", _detail_context(db, principal, case), principal=principal)


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _version(form: FormData) -> int | None:
    value = _text(form, "version")
    return int(value) if value and value.isdigit() else None


def _unit_by_code(db: Session, code: str | None) -> Unit:
    unit = db.scalars(select(Unit).where(Unit.code == (code or ""))).first()
    if unit is None:
        raise Invalid(f"unknown unit {code!r}" if code else "choose a unit", code="unknown_unit")
    return unit


def _matter_by_code(db: Session, code: str | None) -> MatterType:
    matter = db.scalars(select(MatterType).where(MatterType.code == (code or ""), MatterType.is_active)).first()
    if matter is None:
        raise Invalid(f"unknown matter type {code!r}" if code else "choose a matter type", code="unknown_matter_type")
    return matter


def _co_units(db: Session, codes: str | None, unit: Unit) -> list[Unit]:
    """Returns the co-units named by comma- or space-separated codes (the handling unit itself dropped)."""
    found: list[Unit] = []
    for code in (codes or "").replace("，", ",").replace(",", " ").split():
        if code != unit.code and code not in [u.code for u in found]:
            found.append(_unit_by_code(db, code))
    return found


def _amount(form: FormData) -> float:
    value = _required(form, "amount")
    try:
        return float(value)
    except ValueError:
        raise Invalid(f"amount: {value!r} is not a number", code="bad_amount") from None


def _until(form: FormData, tz: dt.tzinfo) -> dt.datetime:
    """Returns the form's `until` (YYYY-MM-DDTHH:MM, the district's local time) as an aware date-time."""
    value = _required(form, "until")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"until: {value!r} is not a date and time (YYYY-MM-DD HH:MM)", code="bad_until") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _parent(db: Session, principal: Principal, reference: str | None) -> Case:
    if not reference:
        raise Invalid("give the number (or id) of the case to merge into", code="unknown_parent")
    found = db.scalar(select(Case.id).where(Case.number == reference))
    parent_id = found or (int(reference) if reference.isdigit() and int(reference) <= case_service.MAX_ID else 0)
    try:
        return check_case(db, principal.actor, "case.register", parent_id, audit=defer_audit)
    except NotFoundError:
        raise Invalid(f"parent case {reference} not found", code="unknown_parent") from None


def _required(form: FormData, name: str) -> str:
    value = _text(form, name)
    if value is None:
        raise Invalid(f"{name}: required", code="required")
    return value


def store_photos(*, db: Session, ctx: Context, uploads: list[Any], settings: Settings | None) -> list[str]:
    """Stores a form's uploaded photos like POST /api/v1/media (checked, by content hash); returns their sha256."""
    found = []
    for upload in uploads:
        if not isinstance(upload, UploadFile) or not upload.filename or settings is None:
            continue
        data = media.read_upload(upload.file, max_bytes=settings.max_upload_bytes)
        stored = media.store(data, media_dir=settings.media_dir, max_bytes=settings.max_upload_bytes, tz=settings.tz)
        found.append(case_service.register_media(db=db, stored=stored, filename=upload.filename, ctx=ctx).sha256)
    return found


def run_action(
    db: Session, principal: Principal, case: Case, action: Action, form: FormData, settings: Settings | None = None
) -> None:
    """Runs `action` on `case` with the form's fields through the case service (rules are the service's)."""
    ctx = Context.of(principal.actor)
    common = {"db": db, "case": case, "ctx": ctx, "expected_version": _version(form)}
    note = _text(form, "note")
    match action:
        case Action.register:
            case_service.register(**common, note=note)
        case Action.confirm:
            case_service.confirm(**common, note=note)
        case Action.reject:
            case_service.reject(**common, reason_code=_required(form, "reason_code"), note=note)
        case Action.merge:
            case_service.merge(**common, parent=_parent(db, principal, _text(form, "parent")), note=note)
        case Action.reclassify:
            code = _text(form, "matter_type_other") or _text(form, "matter_type")
            case_service.reclassify(**common, matter_type=_matter_by_code(db, code), note=note)
        case Action.dispatch:
            unit = _unit_by_code(db, _text(form, "unit_other") or _text(form, "unit"))
            co_units = _co_units(db, _text(form, "co_units"), unit)
            case_service.dispatch(**common, unit=unit, co_units=co_units, note=note)
        case Action.sign:
            case_service.sign(**common)
        case Action.return_:
            case_service.return_case(
                **common, reason_code=_required(form, "reason_code"), citation=_text(form, "citation"), note=note
            )
        case Action.start:
            case_service.start(**common)
        case Action.finish:
            evidence = store_photos(db=db, ctx=ctx, uploads=form.getlist("photo"), settings=settings)
            case_service.finish(**common, result=_required(form, "result"), evidence=evidence)
        case Action.verify:
            case_service.verify(**common, ok=True, note=note)
        case Action.rework:
            case_service.verify(**common, ok=False, note=note)
        case Action.request_extension:
            case_service.request_extension(**common, amount=_amount(form), reason=_required(form, "reason"))
        case Action.request_suspension:
            until = _until(form, settings.tz if settings is not None else LOCAL_TZ)
            case_service.request_suspension(**common, until=until, reason=_required(form, "reason"))
        case Action.decide_extension | Action.decide_suspension:
            decide = (
                case_service.decide_extension if action == Action.decide_extension else case_service.decide_suspension
            )
            decide(**common, approve=_text(form, "approve") == "true", note=note)
        case Action.resume:
            case_service.resume(**common, note=note)
        case Action.supervise:
            case_service.supervise(**common, note=_required(form, "note"))
        case Action.escalate:
            case_service.escalate(**common, note=_required(form, "note"))
        case Action.rate:
            case_service.rate(**common, satisfaction=Satisfaction(_required(form, "satisfaction")), note=note)
        case Action.reopen:
            case_service.reopen(**common, note=_required(form, "note"))
        case Action.rule_reasonableness:
            ruling = Reasonableness(_required(form, "ruling"))
            case_service.rule_reasonableness(
                **common,
                ruling=ruling,
                note=_required(form, "note"),
                reason_code=str(form.get("reason_code") or "") or None,
                reply=str(form.get("reply") or "") or None,
            )
        case Action.note:
            case_service.add_note(db=db, case=case, ctx=ctx, note=_required(form, "note"))
        case _:
            raise Invalid(f"the console has no form for {action}", code="no_form")
    recheck_after_action(db, principal.actor, action, case, source_address=principal.source_address)


@router.post("/cases/{case_id}/actions/{action}")
async def post_case_action(
    case_id: int, action: str, request: Request, db: WriteSession, principal: PageUser, after: After
) -> Response:
    """Takes one action on a case from its form; errors come back inline in the form, success reloads the case."""
    try:
        chosen = Action(action)
    except ValueError:
        return _not_found(request, principal, case_id)
    try:
        case = _load_case(db, principal, after, case_id, CASE_ACTION_PERMISSIONS.get(chosen, "case.view"))
    except NotFoundError:
        return _not_found(request, principal, case_id)
    form = await request.form()
    settings = request.app.state.settings
    _result, errors = attempt(db, after, lambda: run_action(db, principal, case, chosen, form, settings))
    if not errors:
        target = f"/cases/{case_id}"
        if is_htmx(request):
            # NOTE: not a 303: the browser would follow it inside htmx's request and swap the whole page into
            # the form; HX-Redirect makes htmx load the case page itself.
            return Response(status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    db.refresh(case)
    context = _detail_context(db, principal, case)
    context["errors"] = {str(chosen): errors}
    context["values"] = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    if is_htmx(request):
        return render(
            request, "cases/_action_form.html", {**context, "action": chosen}, principal=principal, status_code=422
        )
    return render(request, "cases/case_detail.html", context, principal=principal, status_code=422)


# --- the dispatch queue ------------------------------------------------------------------------------------------

BULK_OPS = {"dispatch": Action.dispatch, "merge": Action.merge, "reject": Action.reject}
# One-click buttons of a queue row ("reclassify:<case id>:<matter type>", "merge:<case id>:<parent number>"): the
# field each passes its argument in.
QUICK_OPS = {"reclassify": (Action.reclassify, "matter_type"), "merge": (Action.merge, "parent")}
TRIAGED_ROWS = 50  # rows of the queue that get duplicate suggestions (each costs a query and a text comparison)


def _queue_context(db: Session, principal: Principal) -> dict[str, Any]:
    items, total = case_service.list_cases(
        db=db, filters=CaseFilter(stage=QUEUE_STAGES), limit=200, scope=_scoped(principal, "case.register")
    )
    triage = can(principal.actor, "triage.view")
    duplicates = {case.id: _duplicates(db, principal, case) for case in (items[:TRIAGED_ROWS] if triage else [])}
    return {
        "cases": items,
        "total": total,
        "reject_reasons": REJECT_REASONS,
        "results": [],
        "values": {},
        "triage": triage,
        "duplicates": duplicates,
        "min_confidence": get_settings().auto_dispatch_min_confidence,
    }


def _quick(db: Session, principal: Principal, after: AfterRequest, form: FormData, value: str) -> dict[str, Any]:
    """Runs one row button of the queue (reclassify to a suggestion, merge into a suggested duplicate)."""
    op, _, rest = value.partition(":")
    case_id, _, argument = rest.partition(":")
    if op not in QUICK_OPS or not case_id.isdigit() or not argument:
        return {"case": None, "ok": False, "errors": [f"unknown queue operation {value!r}"]}
    action, field = QUICK_OPS[op]

    def one() -> str:
        case = check_case(db, principal.actor, CASE_ACTION_PERMISSIONS[action], int(case_id), audit=defer_audit)
        run_action(db, principal, case, action, FormData({field: argument, "note": _text(form, "note") or ""}))
        return case.number

    number, errors = attempt(db, after, one)
    return {"case": number or case_id, "ok": not errors, "errors": errors}


@router.get("/queue")
def get_queue(request: Request, db: DbSession, principal: PageUser) -> Response:
    """Renders the dispatcher's queue: cases awaiting registration or dispatch, with their candidate units."""
    if not can(principal.actor, "case.register"):
        return render(request, "cases/queue.html", {"cases": [], "total": 0, "denied": True}, principal=principal)
    return render(request, "cases/queue.html", {**_queue_context(db, principal), "denied": False}, principal=principal)


@router.post("/queue/bulk")
async def post_queue_bulk(request: Request, db: WriteSession, principal: PageUser, after: After) -> Response:
    """Dispatches, merges or rejects the ticked cases, each on its own: one refusal does not stop the others."""
    form = await request.form()
    op = _text(form, "op") or ""
    action = BULK_OPS.get(op)
    ids = [int(v) for v in form.getlist("case") if isinstance(v, str) and v.isdigit()]
    results: list[dict[str, Any]] = []
    if quick := _text(form, "quick"):
        action, ids = None, []
        results.append(_quick(db, principal, after, form, quick))
    elif action is None:
        results.append({"case": None, "ok": False, "errors": ["choose dispatch, merge or reject"]})
    elif not ids:
        results.append({"case": None, "ok": False, "errors": ["tick at least one case"]})
    for case_id in ids if action else []:

        def one(case_id: int = case_id, action: Action = action) -> str:
            case = check_case(db, principal.actor, CASE_ACTION_PERMISSIONS[action], case_id, audit=defer_audit)
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            fields["unit"] = fields.get(f"unit_{case_id}", "")
            fields.pop("version", None)
            run_action(db, principal, case, action, FormData(fields))
            return case.number

        number, errors = attempt(db, after, one)
        results.append({"case": number or str(case_id), "ok": not errors, "errors": errors})
    context = {**_queue_context(db, principal), "denied": False, "results": results, "op": op}
    status = 200 if results and all(r["ok"] for r in results) else 422
    template = "cases/_queue_table.html" if is_htmx(request) else "cases/queue.html"
    return render(request, template, context, principal=principal, status_code=status)
