"""Console pages of the staff register (/staff): staff per area, a person's grids, the staffing report, the
filings inbox with approve and refuse, visit coverage, and phones to report lost. Every page shows only the
user's area; the pages are thin faces over the same services as the JSON API.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from gridgov.core.auth import After
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import Invalid, NotFoundError
from gridgov.core.pages import PageForm, PageUser, attempt, require_page
from gridgov.core.permissions import can
from gridgov.core.templating import N_, render
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.enums import TerminalStatus
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.staff import coverage as coverage_service
from gridgov.domains.staff import filings as filing_service
from gridgov.domains.staff import lost as lost_service
from gridgov.domains.staff import service
from gridgov.domains.staff import staffing as staffing_service
from gridgov.domains.staff.enums import (
    FILED_LEVELS,
    Employment,
    FilingAction,
    FilingKind,
    FilingStatus,
    GridLevel,
    Post,
)
from gridgov.domains.staff.models import Filing
from gridgov.domains.staff.schemas import FilingCreate

router = APIRouter(include_in_schema=False)

POST_LABELS: dict[Post, str] = {
    Post.grid_leader: N_("Grid leader"),
    Post.grid_worker: N_("Grid worker"),
    Post.community_police: N_("Community police officer"),
    Post.grid_instructor: N_("Grid instructor"),
    Post.community_secretary: N_("Community party secretary"),
    Post.community_director: N_("Residents' committee director"),
    Post.committee_member: N_("Community committee member"),
    Post.community_worker: N_("Community worker"),
}
EMPLOYMENT_LABELS: dict[Employment, str] = {
    Employment.full_time: N_("Full-time"),
    Employment.part_time: N_("Part-time"),
}
GRID_LEVEL_LABELS: dict[int, str] = {
    GridLevel.street: N_("Level 1 (street)"),
    GridLevel.community: N_("Level 2 (community)"),
    GridLevel.grid: N_("Level 3 (grid)"),
}
KIND_LABELS: dict[FilingKind, str] = {
    FilingKind.onboard: N_("Takes a post"),
    FilingKind.leave: N_("Leaves a post"),
    FilingKind.transfer: N_("Transfer"),
    FilingKind.change_post: N_("Change of post"),
}
STATUS_LABELS: dict[FilingStatus, str] = {
    FilingStatus.requested: N_("Awaiting approval"),
    FilingStatus.approved: N_("Approved, not yet in effect"),
    FilingStatus.applied: N_("In effect"),
    FilingStatus.refused: N_("Refused"),
    FilingStatus.withdrawn: N_("Withdrawn"),
    FilingStatus.failed: N_("Could not take effect"),
}
ACTION_LABELS: dict[FilingAction, str] = {
    FilingAction.requested: N_("Requested"),
    FilingAction.approved: N_("Approved"),
    FilingAction.refused: N_("Refused"),
    FilingAction.withdrawn: N_("Withdrawn"),
    FilingAction.applied: N_("Took effect"),
    FilingAction.failed: N_("Could not take effect"),
}
LEVEL_LABELS: dict[str, str] = {
    AreaLevel.district: N_("District"),
    AreaLevel.street: N_("Street"),
    AreaLevel.community: N_("Community"),
    AreaLevel.grid: N_("Grid"),
    AreaLevel.building: N_("Building"),
}
TERMINAL_LABELS: dict[TerminalStatus, str] = {
    TerminalStatus.pending: N_("Pending"),
    TerminalStatus.active: N_("Bound"),
    TerminalStatus.revoked: N_("Revoked"),
}
LABELS = {
    "posts": POST_LABELS,
    "employments": EMPLOYMENT_LABELS,
    "grid_levels": GRID_LEVEL_LABELS,
    "kinds": KIND_LABELS,
    "statuses": STATUS_LABELS,
    "actions": ACTION_LABELS,
    "levels": LEVEL_LABELS,
    "terminal_statuses": TERMINAL_LABELS,
}
FILINGS_SHOWN = 50


def _render(
    request: Request, principal: Principal, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    actor = principal.actor
    tabs = {
        "may_manage": can(actor, "staff.manage"),
        "may_approve": can(actor, "filing.approve"),
        "may_view": can(actor, "staff.view"),
    }
    return render(request, name, {**LABELS, **tabs, **context}, principal=principal, status_code=status_code)


def _page_area(db: Session, principal: Principal, code: str | None) -> Area:
    """Returns the area a page shows: `code` within the user's area, else the user's own area (the district)."""
    try:
        _, area = service.scope_area(db=db, actor=principal.actor, code=code or None)
    except NotFoundError:
        _, area = service.scope_area(db=db, actor=principal.actor, code=None)
    if area is None:
        area = db.scalars(select(Area).where(Area.level == AreaLevel.district).order_by(Area.code)).first()
    if area is None:
        raise NotFoundError("no areas yet: import the area tree first")
    return area


# --- staff per area, a person ----------------------------------------------------------------------------------


@router.get("/staff")
def get_staff(
    request: Request, db: DbSession, principal: PageUser, area: str | None = None, history: bool = False
) -> Response:
    """The staff of an area (网格力量): the posts held in it, and the areas below with their community workers."""
    require_page(principal, "staff.view")
    actor = principal.actor
    place = _page_area(db, principal, area)
    rows, _ = service.list_assignments(db=db, actor=actor, area=place, subtree=False, history=history, limit=None)
    children = list(db.scalars(select(Area).where(Area.parent_id == place.id).order_by(Area.code)))
    counts = service.community_worker_counts(db=db, scope_path=place.path)
    held = service.posts_below(db=db, actor=actor, area=place) if children else {}
    ancestors = [a for a in _ancestors(db, place) if service.in_scope(actor, a.path)]
    open_on = {
        f.assignment_id
        for f in db.scalars(
            select(Filing).where(
                Filing.assignment_id.in_([r.id for r in rows]),
                Filing.status.in_([FilingStatus.requested, FilingStatus.approved]),
            )
        )
    }
    context = {
        "place": place,
        "ancestors": ancestors,
        "assignments": rows,
        "history": history,
        "children": children,
        "counts": counts,
        "held": held,
        "is_counted": service.is_counted,
        "filed_level": GridLevel.of(place.level) in FILED_LEVELS,
        "open_on": open_on,
        "today": service.today(),
    }
    return _render(request, principal, "staff/area_staff.html", context)


def _ancestors(db: Session, area: Area) -> list[Area]:
    codes = [c for c in area.path.strip("/").split("/") if c][:-1]
    if not codes:
        return []
    found = {a.code: a for a in db.scalars(select(Area).where(Area.code.in_(codes)))}
    return [found[c] for c in codes if c in found]


@router.get("/staff/members/{member_id}")
def get_member(member_id: int, request: Request, db: DbSession, principal: PageUser) -> Response:
    """A person's grids: every post they hold or held in the user's area, and their filings."""
    require_page(principal, "staff.view")
    member = service.get_member(db=db, actor=principal.actor, member_id=member_id)
    rows, _ = service.list_assignments(db=db, actor=principal.actor, member_id=member.id, history=True, limit=None)
    found, _ = filing_service.list_filings(db=db, actor=principal.actor, member_id=member.id, limit=FILINGS_SHOWN)
    context = {"member": member, "assignments": rows, "filings": found, "today": service.today()}
    return _render(request, principal, "staff/member_detail.html", context)


# --- staffing ---------------------------------------------------------------------------------------------------


@router.get("/staff/staffing")
def get_staffing(request: Request, db: DbSession, principal: PageUser, level: str = "community") -> Response:
    """Community workers per 10,000 residents per community or street, the under-staffed first (社区工作者配备)."""
    require_page(principal, "staff.view")
    chosen = level if level in ("community", "street") else "community"
    report = staffing_service.report(db=db, level=chosen, scope_path=principal.actor.scope_path)
    return _render(request, principal, "staff/staffing.html", {"report": report, "level": chosen})


# --- filings ----------------------------------------------------------------------------------------------------


def _inbox_context(db: Session, principal: Principal) -> dict[str, Any]:
    actor = principal.actor
    to_decide: list[Filing] = []
    if can(actor, "filing.approve"):
        to_decide, _ = filing_service.list_filings(db=db, actor=actor, to_decide=True, limit=FILINGS_SHOWN)
    mine, _ = filing_service.list_filings(db=db, actor=actor, mine=True, limit=FILINGS_SHOWN)
    recent, _ = filing_service.list_filings(db=db, actor=actor, limit=FILINGS_SHOWN)
    return {"to_decide": to_decide, "mine": mine, "recent": recent}


@router.get("/staff/filings")
def get_filings(request: Request, db: DbSession, principal: PageUser) -> Response:
    """The filings inbox (报备): those to decide, the user's own requests, and the latest of the area."""
    require_page(principal, "staff.view")
    return _render(request, principal, "staff/filings.html", _inbox_context(db, principal))


def _form_text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _filing_from_form(form: FormData) -> FilingCreate:
    """Returns the filing a form describes (pydantic checks the fields; the service checks the rest)."""
    values: dict[str, Any] = {}
    for name in (
        "kind",
        "effective_on",
        "reason",
        "to_area",
        "post",
        "employment",
        "username",
        "person_name",
        "work_phone",
    ):
        text = _form_text(form, name)
        if text is not None:
            values[name] = text
    for name in ("assignment_id", "member_id"):
        text = _form_text(form, name)
        if text is not None:
            # NOTE: isdigit() alone takes "²", which int() refuses with a ValueError (a 500).
            if not (text.isascii() and text.isdigit()):
                raise Invalid(f"{name}: a number", field=name)
            values[name] = int(text)
    return FilingCreate.model_validate(values)


def _new_filing_context(db: Session, principal: Principal, values: dict[str, str]) -> dict[str, Any]:
    actor = principal.actor
    assignment = None
    given = values.get("assignment_id", "")
    if given.isascii() and given.isdigit():
        try:
            assignment = service.get_assignment(
                db=db, actor=actor, assignment_id=int(values["assignment_id"]), action="staff.manage"
            )
        except NotFoundError:
            assignment = None
    return {
        "values": values,
        "assignment": assignment,
        "kinds_for_assignment": [k for k in FilingKind if k != FilingKind.onboard],
        "errors": [],
        "today": service.today(),
    }


@router.get("/staff/filings/new")
def get_new_filing(
    request: Request,
    db: DbSession,
    principal: PageUser,
    assignment: int | None = None,
    to_area: str | None = None,
    kind: str | None = None,
) -> Response:
    """The form to file a personnel change: from an assignment (leave, transfer, change of post) or an onboarding."""
    require_page(principal, "staff.manage")
    values = {
        "assignment_id": str(assignment) if assignment else "",
        "to_area": to_area or "",
        "kind": kind or ("leave" if assignment else "onboard"),
        "effective_on": service.today().isoformat(),
        "employment": "full_time",
    }
    return _render(request, principal, "staff/filing_form.html", _new_filing_context(db, principal, values))


@router.post("/staff/filings")
def post_filing(request: Request, db: WriteSession, principal: PageUser, form: PageForm, after: After) -> Response:
    """Files the change from the form; shows the refusal inline, or goes to the new filing."""
    require_page(principal, "staff.manage")

    def file() -> Filing:
        return filing_service.request(
            db=db, actor=principal.actor, data=_filing_from_form(form), source_address=principal.source_address
        )

    filing, errors = attempt(db, after, file)
    if filing is None:
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
        context = {**_new_filing_context(db, principal, values), "errors": errors}
        return _render(request, principal, "staff/filing_form.html", context, status_code=422)
    return RedirectResponse(f"/staff/filings/{filing.id}", status_code=303)


@router.get("/staff/filings/{filing_id}")
def get_filing(filing_id: int, request: Request, db: DbSession, principal: PageUser) -> Response:
    """A filing with its history and, for the user who may, the approve, refuse or withdraw forms."""
    require_page(principal, "staff.view")
    filing = filing_service.get_filing(db=db, actor=principal.actor, filing_id=filing_id)
    return _render(request, principal, "staff/filing_detail.html", _detail_context(principal, filing, []))


def _detail_context(principal: Principal, filing: Filing, errors: list[str]) -> dict[str, Any]:
    actor = principal.actor
    return {
        "filing": filing,
        "errors": errors,
        "may_decide": filing.status == FilingStatus.requested and filing_service.may_decide(actor, filing),
        "is_requester": filing.requested_by_user_id == actor.user_id,
        "may_withdraw": filing.requested_by_user_id == actor.user_id
        and filing.status in (FilingStatus.requested, FilingStatus.approved),
    }


@router.post("/staff/filings/{filing_id}/{operation}")
def post_filing_decision(
    filing_id: int,
    operation: str,
    request: Request,
    db: WriteSession,
    principal: PageUser,
    form: PageForm,
    after: After,
) -> Response:
    """Approves, refuses or withdraws a filing from its page; a refused command is shown inline."""
    require_page(principal, "filing.approve" if operation in ("approve", "refuse") else "staff.manage")
    actor = principal.actor
    note = _form_text(form, "note")

    def decide() -> Filing:
        filing = filing_service.get_filing(db=db, actor=actor, filing_id=filing_id, for_update=True)
        common: dict[str, Any] = {
            "db": db,
            "actor": actor,
            "filing": filing,
            "source_address": principal.source_address,
        }
        if operation == "approve":
            return filing_service.approve(note=note, **common)
        if operation == "refuse":
            return filing_service.refuse(note=note or "", **common)
        if operation == "withdraw":
            return filing_service.withdraw(note=note, **common)
        raise Invalid(f"unknown operation {operation!r}: approve, refuse or withdraw", code="bad_operation")

    done, errors = attempt(db, after, decide)
    if done is None:
        filing = filing_service.get_filing(db=db, actor=actor, filing_id=filing_id)
        return _render(request, principal, "staff/filing_detail.html", _detail_context(principal, filing, errors), 422)
    return RedirectResponse(f"/staff/filings/{filing_id}", status_code=303)


# --- coverage ---------------------------------------------------------------------------------------------------


@router.get("/staff/coverage")
def get_coverage(
    request: Request,
    db: DbSession,
    principal: PageUser,
    period: str | None = None,
    level: str = "grid",
    area: str | None = None,
) -> Response:
    """Household visit coverage (走访覆盖率) of the user's area over a period, per grid, community or street."""
    require_page(principal, "staff.view")
    tz = request.app.state.settings.tz
    errors: list[str] = []
    text = period or service.today().strftime("%Y-%m")
    try:
        chosen = Period.parse(text, tz)
    except Invalid as error:
        errors.append(error.message)
        chosen = Period.parse(service.today().strftime("%Y-%m"), tz)
    chosen_level = level if level in ("grid", "community", "street") else "grid"
    place = _page_area(db, principal, area)
    found = coverage_service.coverage(
        db=db, period=chosen, level=chosen_level, scope_path=place.path, with_workers=True
    )
    context = {"coverage": found, "period_text": text, "level": chosen_level, "place": place, "errors": errors}
    return _render(request, principal, "staff/coverage.html", context)


# --- phones -----------------------------------------------------------------------------------------------------


def _phones_context(db: Session, principal: Principal, errors: list[str]) -> dict[str, Any]:
    actor = principal.actor
    return {
        "phones": lost_service.list_phones(db=db, actor=actor),
        "losses": lost_service.list_losses(db=db, actor=actor),
        "errors": errors,
        "TerminalStatus": TerminalStatus,
    }


@router.get("/staff/phones")
def get_phones(request: Request, db: DbSession, principal: PageUser) -> Response:
    """The user's own phones (and, for staff managers, their workers'), each with a 'report lost' form (挂失)."""
    return _render(request, principal, "staff/phones.html", _phones_context(db, principal, []))


@router.post("/staff/phones/{terminal_id}/lost")
def post_phone_lost(
    terminal_id: int, request: Request, db: WriteSession, principal: PageUser, form: PageForm, after: After
) -> Response:
    """Reports a phone lost: revoked at once, with the reason given."""

    def report() -> object:
        terminal = lost_service.get_phone(db=db, actor=principal.actor, terminal_id=terminal_id)
        return lost_service.report_lost(
            db=db,
            actor=principal.actor,
            terminal=terminal,
            reason=_form_text(form, "reason") or "",
            keep_session=principal.session_id,
            source_address=principal.source_address,
        )

    done, errors = attempt(db, after, report)
    if done is None:
        return _render(request, principal, "staff/phones.html", _phones_context(db, principal, errors), 422)
    return RedirectResponse("/staff/phones", status_code=303)
