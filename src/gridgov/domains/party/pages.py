"""Console pages of the party register (/party ...): the organisation tree, members, 双报到 registrations, volunteer
activities (with a form to add one and to record and verify service hours) and the community summary of a period.

Thin, like the JSON API: every page reads through party.service / party.dual with the user's Actor, so it shows
exactly what the API would give the same user (their area only); the forms call the same commands, audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from gridgov.config import get_settings
from gridgov.core import clock
from gridgov.core.auth import After
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import DomainError, NotFoundError
from gridgov.core.pages import PageForm, PageUser, attempt, require_page
from gridgov.core.permissions import can
from gridgov.core.templating import render
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.party import dual, service
from gridgov.domains.party.enums import (
    MEMBER_STATUS_LABELS,
    ORG_KIND_LABELS,
    ORG_LEVEL_LABELS,
    REGISTRANT_KIND_LABELS,
    REGISTRATION_STATUS_LABELS,
    SERVICE_CATEGORY_LABELS,
    RegistrantKind,
    RegistrationStatus,
    ServiceCategory,
)
from gridgov.domains.party.schemas import ActivityCreate, ServiceRecordCreate

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
MEMBER_CHOICES = 500  # members offered in the service-record form's list
LABELS = {
    "level_labels": ORG_LEVEL_LABELS,
    "kind_labels": ORG_KIND_LABELS,
    "status_labels": MEMBER_STATUS_LABELS,
    "registrant_labels": REGISTRANT_KIND_LABELS,
    "registration_labels": REGISTRATION_STATUS_LABELS,
    "category_labels": SERVICE_CATEGORY_LABELS,
}


def _render(
    request: Request, principal: Principal, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    full = {**LABELS, "can_manage": can(principal.actor, "party.manage"), "errors": [], **context}
    return render(request, name, full, principal=principal, status_code=status_code)


def _period(text: str | None) -> tuple[Period, list[str]]:
    """Returns the period asked for (this month when none or a bad one, with the error to show)."""
    tz = get_settings().tz
    this_month = Period.parse(clock.now().astimezone(tz).strftime("%Y-%m"), tz)
    if not text:
        return this_month, []
    try:
        return Period.parse(text, tz), []
    except DomainError as error:
        return this_month, [error.message]


def _int(value: str | None, default: int = 0) -> int:
    try:
        return min(max(int(value or default), 0), service.MAX_ID)
    except ValueError:
        return default


@router.get("/party")
def get_tree(request: Request, db: DbSession, principal: PageUser) -> Response:
    """The party organisation tree of the user's area (街道党工委 → … → 党员中心户)."""
    require_page(principal, "party.view")
    roots = service.get_tree(db=db, actor=principal.actor)
    return _render(request, principal, "party/tree.html", {"roots": roots, "tab": "tree"})


@router.get("/party/members")
def get_members(
    request: Request,
    db: DbSession,
    principal: PageUser,
    name: str | None = None,
    org: str | None = None,
    offset: str | None = None,
) -> Response:
    """The members the user may see, by name, with their organisation and standing."""
    require_page(principal, "party.view")
    start = _int(offset)
    errors: list[str] = []
    try:
        rows, total = service.list_members(
            db=db, actor=principal.actor, name=name or None, org=org or None, offset=start, limit=PAGE_SIZE
        )
    except LookupError as error:
        rows, total, errors = [], 0, [str(error)]
    context = {
        "members": [service.member_read(m) for m in rows],
        "registered": dual.registered_since(db=db, member_ids=[m.id for m in rows]),
        "total": total,
        "offset": start,
        "page_size": PAGE_SIZE,
        "filters": {"name": name or "", "org": org or ""},
        "errors": errors,
        "tab": "members",
    }
    return _render(request, principal, "party/members.html", context)


@router.get("/party/registrations")
def get_registrations(
    request: Request,
    db: DbSession,
    principal: PageUser,
    status: str | None = None,
    kind: str | None = None,
    offset: str | None = None,
) -> Response:
    """The 双报到 registrations with the communities of the user's area, newest first, with their pledges."""
    require_page(principal, "party.view")
    chosen_status = RegistrationStatus(status) if status in {s.value for s in RegistrationStatus} else None
    chosen_kind = RegistrantKind(kind) if kind in {k.value for k in RegistrantKind} else None
    start = _int(offset)
    rows, total = dual.list_registrations(
        db=db, actor=principal.actor, status=chosen_status, kind=chosen_kind, offset=start, limit=PAGE_SIZE
    )
    context = {
        "registrations": [dual.registration_read(r) for r in rows],
        "total": total,
        "offset": start,
        "page_size": PAGE_SIZE,
        "status": chosen_status,
        "kind": chosen_kind,
        "tab": "registrations",
    }
    return _render(request, principal, "party/registrations.html", context)


def _activities_context(db: Session, principal: Principal, period_text: str | None, offset: int) -> dict[str, Any]:
    period, errors = _period(period_text)
    rows, total = dual.list_activities(db=db, actor=principal.actor, period=period, offset=offset, limit=PAGE_SIZE)
    manager = can(principal.actor, "party.manage")
    communities = dual.communities(db=db, actor=principal.actor) if manager else []
    return {
        "activities": dual.activity_reads(db=db, rows=rows),
        "total": total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "period": period,
        "errors": errors,
        "communities": communities,
        "categories": list(ServiceCategory),
        "form": {},
        "tab": "activities",
    }


@router.get("/party/activities")
def get_activities(
    request: Request, db: DbSession, principal: PageUser, period: str | None = None, offset: str | None = None
) -> Response:
    """The volunteer activities of the user's area in a period (this month by default), with their hours."""
    require_page(principal, "party.view")
    context = _activities_context(db, principal, period, _int(offset))
    return _render(request, principal, "party/activities.html", context)


@router.post("/party/activities")
def post_activity(request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm) -> Response:
    """Adds a volunteer activity from the console form; a refusal comes back inline with the form as filled."""
    require_page(principal, "party.manage")
    values = {
        key: str(form.get(key) or "").strip() for key in ("community", "title", "held_on", "category", "organiser")
    }
    description = str(form.get("description") or "").strip() or None

    def create() -> int:
        data = ActivityCreate.model_validate({**values, "description": description})
        return dual.create_activity(db=db, actor=principal.actor, data=data, source_address=principal.source_address).id

    created, errors = attempt(db, after, create)
    if created is None:
        context = _activities_context(db, principal, None, 0)
        context.update(errors=errors, form={**values, "description": description or ""})
        return _render(request, principal, "party/activities.html", context, status_code=422)
    return RedirectResponse(f"/party/activities/{created}", status_code=303)


def _activity_context(db: Session, principal: Principal, activity_id: int) -> dict[str, Any]:
    row = dual.get_activity(db=db, actor=principal.actor, activity_id=activity_id)
    members: list[Any] = []
    partners: list[Any] = []
    if can(principal.actor, "party.manage"):
        members, _ = service.list_members(db=db, actor=principal.actor, limit=MEMBER_CHOICES)
        partners = service.list_partner_orgs(db=db, active_only=True)
    return {
        "activity": dual.activity_reads(db=db, rows=[row])[0],
        "records": dual.record_reads(db=db, rows=dual.list_records(db=db, actor=principal.actor, activity_id=row.id)),
        "members": members,
        "partners": partners,
        "is_past": row.held_on <= service.today(),
        "form": {},
        "tab": "activities",
    }


@router.get("/party/activities/{activity_id}")
def get_activity(activity_id: int, request: Request, db: DbSession, principal: PageUser) -> Response:
    """One activity with its service records (and, for managers, the form to record and verify hours)."""
    require_page(principal, "party.view")
    return _render(request, principal, "party/activity.html", _activity_context(db, principal, activity_id))


@router.post("/party/activities/{activity_id}/records")
def post_record(
    activity_id: int, request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm
) -> Response:
    """Records a member's or a partner organisation's hours at the activity from the console form."""
    require_page(principal, "party.manage")
    who = str(form.get("who") or "")
    values: dict[str, Any] = {
        "hours": str(form.get("hours") or "").strip() or "0",
        "note": str(form.get("note") or "").strip() or None,
        "verified": form.get("verified") == "on",
    }
    if who.startswith("member:"):
        values["member_id"] = who.removeprefix("member:")
    elif who.startswith("partner:"):
        values["partner_org"] = who.removeprefix("partner:")

    def create() -> int:
        data = ServiceRecordCreate.model_validate(values)
        return dual.create_record(
            db=db, actor=principal.actor, activity_id=activity_id, data=data, source_address=principal.source_address
        ).id

    created, errors = attempt(db, after, create)
    if created is None:
        context = _activity_context(db, principal, activity_id)
        context.update(errors=errors, form={"who": who, "hours": values["hours"], "note": values["note"] or ""})
        return _render(request, principal, "party/activity.html", context, status_code=422)
    return RedirectResponse(f"/party/activities/{activity_id}", status_code=303)


@router.post("/party/service-records/{record_id}/verify")
def post_verify(record_id: int, request: Request, db: WriteSession, principal: PageUser, after: After) -> Response:
    """Verifies (核实) a service record from the activity page."""
    require_page(principal, "party.manage")
    done, errors = attempt(
        db,
        after,
        lambda: dual.verify_record(
            db=db, actor=principal.actor, record_id=record_id, source_address=principal.source_address
        ),
    )
    if done is None:
        activity_id = dual.record_activity_id(db=db, actor=principal.actor, record_id=record_id)
        if activity_id is None:
            raise NotFoundError(f"service record {record_id} not found")
        context = _activity_context(db, principal, activity_id)
        context["errors"] = errors
        return _render(request, principal, "party/activity.html", context, status_code=409)
    return RedirectResponse(f"/party/activities/{done.activity_id}", status_code=303)


@router.get("/party/summary")
def get_summary(request: Request, db: DbSession, principal: PageUser, period: str | None = None) -> Response:
    """The community summary of a period: activities, verified hours, 双报到 members and organisations, 报到率."""
    require_page(principal, "party.view")
    chosen, errors = _period(period)
    totals = dual.summarize(db=db, actor=principal.actor, period=chosen)
    context = {"totals": totals, "period": chosen, "errors": errors, "tab": "summary"}
    return _render(request, principal, "party/summary.html", context)
