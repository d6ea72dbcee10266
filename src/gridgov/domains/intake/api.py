"""JSON API of the grid worker's field work beyond reporting: household visits (入户走访)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, status

from gridgov.core.auth import After, require_scope
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.permissions import defer_audit, require
from gridgov.domains.auth import terminals
from gridgov.domains.auth.enums import TokenScope
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import visits
from gridgov.domains.intake.schemas import VisitIn, VisitRead

router = APIRouter(tags=["intake"])

Reader = Annotated[Principal, Depends(require_scope(TokenScope.cases_read))]
Writer = Annotated[Principal, Depends(require_scope(TokenScope.cases_write))]
DeviceId = Annotated[str | None, Header(alias="X-Device-Id", max_length=64, description="the worker's phone")]
# NOTE: shorter than a case's key column: each finding's case gets the key plus ":finding:<n>".
IdempotencyKey = Annotated[str | None, Header(max_length=150)]


@router.post("/visits", status_code=status.HTTP_201_CREATED, response_model=VisitRead)
def log_visit(
    body: VisitIn,
    db: WriteSession,
    principal: Writer,
    after: After,
    device_id: DeviceId = None,
    idempotency_key: IdempotencyKey = None,
) -> VisitRead:
    """Logs a household visit from the worker's bound phone; findings marked create_case become patrol cases."""
    actor = principal.actor
    require(actor, "visit.log", audit=defer_audit, source_address=principal.source_address)
    terminals.require_bound(db=db, actor=actor, device_id=device_id, after=after)
    visit = visits.log_visit(db=db, visit=body, ctx=Context.of(actor), idempotency_key=idempotency_key)
    return VisitRead.model_validate(visit)


@router.get("/visits", response_model=list[VisitRead])
def list_visits(
    db: DbSession,
    principal: Reader,
    grid_id: int | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[VisitRead]:
    """Lists the visits in the caller's area, newest first."""
    require(principal.actor, "visit.view", audit=defer_audit, source_address=principal.source_address)
    ctx = Context.of(principal.actor)
    found = visits.list_visits(db=db, ctx=ctx, grid_id=grid_id, limit=limit, offset=offset)
    return [VisitRead.model_validate(v) for v in found]


@router.get("/visits/{visit_id}", response_model=VisitRead)
def get_visit(visit_id: int, db: DbSession, principal: Reader) -> VisitRead:
    """Returns one visit in the caller's area."""
    require(principal.actor, "visit.view", audit=defer_audit, source_address=principal.source_address)
    return VisitRead.model_validate(visits.get_visit(db=db, ctx=Context.of(principal.actor), visit_id=visit_id))
