"""Console pages of triage: the hotspot list (/hotspots) with escalation into one supervised case and dismissal.

Thin, like the JSON API: the list reads through `triage.service.list_hotspots` (hotspots with a member the user
may see) and shows each as `triage.service.views` makes it (only those members; the title only when its member
is one of them), and both buttons go through the same service functions. A refused
decision (a hotspot someone else decided first, a case that cannot be placed) is shown above the list (422).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from gridgov.core.auth import After
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import Invalid
from gridgov.core.pages import PageForm, PageUser, attempt, require_page
from gridgov.core.permissions import can, defer_audit, recheck_case
from gridgov.core.templating import render
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.service import Context
from gridgov.domains.triage import service as triage_service
from gridgov.domains.triage.enums import HotspotStatus

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _context(db: Session, principal: Principal, status: HotspotStatus, errors: list[str]) -> dict[str, Any]:
    actor = principal.actor
    rows, total = triage_service.list_hotspots(db=db, actor=actor, status=status, limit=PAGE_SIZE)
    matters = triage_service.matter_types(db=db, ids=[row.matter_type_id for row in rows])
    made = [r.case_id for r in rows if r.case_id]
    cases = triage_service.visible_cases(db=db, actor=actor, case_ids=made) if made else {}
    return {
        "hotspots": triage_service.views(db=db, actor=actor, rows=rows),
        "total": total,
        "status": status,
        "statuses": list(HotspotStatus),
        "matters": matters,
        "streets": triage_service.streets(db=db, ids=[r.street_id for r in rows]),
        "cases": cases,
        "can_decide": can(actor, "hotspot.decide"),
        "errors": errors,
    }


@router.get("/hotspots")
def get_hotspots(request: Request, db: DbSession, principal: PageUser, status: str = "open") -> Response:
    """The hotspots (高频事项) with a member case the user may see, hottest first, with those members."""
    require_page(principal, "triage.view")
    chosen = HotspotStatus(status) if status in HotspotStatus.__members__ else HotspotStatus.open
    return render(request, "triage/hotspots.html", _context(db, principal, chosen, []), principal=principal)


@router.post("/hotspots/{hotspot_id}/{operation}")
def post_hotspot(
    hotspot_id: int,
    operation: str,
    request: Request,
    db: WriteSession,
    principal: PageUser,
    after: After,
    form: PageForm,
) -> Response:
    """Turns a hotspot into one supervised case (立为督办案件) or dismisses it (忽略)."""
    require_page(principal, "hotspot.decide")
    note = str(form.get("note") or "").strip()[:1000] or None
    ctx = Context.of(principal.actor)

    def decide() -> Case | None:
        hotspot = triage_service.get(db=db, hotspot_id=hotspot_id, actor=principal.actor, for_update=True)
        if operation == "case":
            case = triage_service.escalate(db=db, hotspot=hotspot, ctx=ctx, note=note)
            recheck_case(db, principal.actor, "case.view", case, audit=defer_audit)
            return case
        if operation == "dismiss":
            triage_service.dismiss(db=db, hotspot=hotspot, ctx=ctx, note=note)
            return None
        raise Invalid(f"unknown operation {operation!r}: case or dismiss", code="bad_operation")

    # NOTE: wrapped in a tuple: a dismissal succeeds with None, which `attempt` would not tell from a refusal.
    done, errors = attempt(db, after, lambda: (decide(),))
    if errors or done is None:
        context = _context(db, principal, HotspotStatus.open, errors)
        return render(request, "triage/hotspots.html", context, principal=principal, status_code=422)
    made = done[0]
    return RedirectResponse(f"/cases/{made.id}" if made is not None else "/hotspots", status_code=303)
