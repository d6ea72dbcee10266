"""Triage HTTP API: classification suggestions and the model versions; hotspots below."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core import clock
from gridgov.core.auth import require_permission
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import Conflict, NotFoundError
from gridgov.core.permissions import PermissionDenied, defer_audit, recheck_case
from gridgov.domains.auth.enums import AuditOutcome
from gridgov.domains.auth.schemas import Actor, AuditRecord, Principal
from gridgov.domains.cases.schemas import Page
from gridgov.domains.cases.service import Context
from gridgov.domains.triage import jobs, registry
from gridgov.domains.triage import service as triage_service
from gridgov.domains.triage.enums import HotspotStatus
from gridgov.domains.triage.models import Hotspot
from gridgov.domains.triage.schemas import (
    ClassifyIn,
    ClassifyRead,
    HotspotCase,
    HotspotDetail,
    HotspotMember,
    HotspotNote,
    HotspotRead,
    ModelRead,
    RefreshRead,
    Suggested,
)
from gridgov.domains.triage.service import HotspotView

router = APIRouter(tags=["triage"])

Viewer = Annotated[Principal, Depends(require_permission("triage.view"))]
ModelManager = Annotated[Principal, Depends(require_permission("triage.manage"))]
HotspotDecider = Annotated[Principal, Depends(require_permission("hotspot.decide"))]


# --- classification and models ---------------------------------------------------------------------------------

# NOTE: there is no upload route: a model file is a pickle, that is code, so only the operator of the server adds
# one (`gridgov triage add` on the server); the API lists, activates and deactivates the stored versions.


@router.post("/triage/classify", response_model=ClassifyRead)
def classify_text(body: ClassifyIn, db: DbSession, principal: Viewer) -> ClassifyRead:
    """Suggests matter types for a text with the active model, with the words that drove it (404: no model)."""
    found = registry.classify(db=db, text=body.text)
    if found is None:
        raise NotFoundError("no triage model is active (or none of its labels is in the catalogue)")
    return ClassifyRead(
        model_version=found.model_version,
        label_target=found.target,
        suggestions=[Suggested(**s) for s in found.suggestions],
        words=found.words,
        confidence=found.confidence,
        auto=found.confidence >= get_settings().auto_dispatch_min_confidence,
    )


@router.get("/triage/models", response_model=list[ModelRead])
def list_models(db: DbSession, principal: Viewer) -> list[ModelRead]:
    """Lists the stored model versions, newest first, with their training figures."""
    return [ModelRead(**dataclasses.asdict(registry.summary(row))) for row in registry.list_models(db=db)]


@router.post("/triage/models/{version}/activate", response_model=ModelRead)
def activate_model(version: int, db: WriteSession, principal: ModelManager) -> ModelRead:
    """Makes a stored version the model intake uses (the previous one stays stored for a roll-back)."""
    row = registry.activate(db=db, version=version, actor=principal.actor)
    return ModelRead(**dataclasses.asdict(registry.summary(row)))


@router.delete("/triage/models/active", status_code=status.HTTP_204_NO_CONTENT)
def deactivate_model(db: WriteSession, principal: ModelManager) -> None:
    """Stops classification at intake: reports must then name their matter type."""
    registry.deactivate(db=db, actor=principal.actor)


# --- hotspots ---------------------------------------------------------------------------------------------------


def _hotspot_reads(db: Session, actor: Actor, rows: list[Hotspot]) -> list[tuple[HotspotRead, HotspotView]]:
    """Returns the read models of hotspots as the actor may see them (only the members within the actor's scope),
    with their matter type codes and street names."""
    matters = triage_service.matter_types(db=db, ids=[r.matter_type_id for r in rows])
    streets = triage_service.streets(db=db, ids=[r.street_id for r in rows])
    reads = []
    for row, seen in zip(rows, triage_service.views(db=db, actor=actor, rows=rows), strict=True):
        read = HotspotRead.model_validate(row).model_copy(update=seen.as_fields())
        read.matter_type = matters[row.matter_type_id].code if row.matter_type_id in matters else None
        read.street = streets[row.street_id].name if row.street_id in streets else None
        reads.append((read, seen))
    return reads


def refresh_transactions(request: Request) -> jobs.Transactions:
    """Returns how a refresh on request opens its own short transactions: `open(write)` (tests join their own)."""
    return jobs.engine_transactions(request.app.state.engine)


@router.get("/triage/hotspots", response_model=Page[HotspotRead])
def list_hotspots(
    db: DbSession,
    principal: Viewer,
    status_: Annotated[HotspotStatus | None, Query(alias="status", description="open, escalated or dismissed")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[HotspotRead]:
    """Lists the hotspots (高频事项) with a member case the caller may see, hottest first (only those members)."""
    rows, total = triage_service.list_hotspots(db=db, actor=principal.actor, status=status_, offset=offset, limit=limit)
    items = [read for read, _ in _hotspot_reads(db, principal.actor, rows)]
    return Page[HotspotRead](items=items, total=total, offset=offset, limit=limit)


@router.get("/triage/hotspots/{hotspot_id}", response_model=HotspotDetail)
def get_hotspot(hotspot_id: int, db: DbSession, principal: Viewer) -> HotspotDetail:
    """Returns a hotspot with the member cases the caller may see (404 when the caller may see none of them)."""
    row = triage_service.get(db=db, hotspot_id=hotspot_id, actor=principal.actor)
    read, seen = _hotspot_reads(db, principal.actor, [row])[0]
    detail = HotspotDetail(**read.model_dump())
    detail.members = [HotspotMember.model_validate(c) for c in seen.members]
    return detail


@router.post("/triage/hotspots/{hotspot_id}/case", status_code=status.HTTP_201_CREATED, response_model=HotspotCase)
def escalate_hotspot(hotspot_id: int, body: HotspotNote, db: WriteSession, principal: HotspotDecider) -> HotspotCase:
    """立为督办案件: turns an open hotspot into one supervised case (channel discovered); 409 once decided."""
    row = triage_service.get(db=db, hotspot_id=hotspot_id, actor=principal.actor, for_update=True)
    case = triage_service.escalate(db=db, hotspot=row, ctx=Context.of(principal.actor), note=body.note)
    recheck_case(db, principal.actor, "case.view", case, source_address=principal.source_address, audit=defer_audit)
    return HotspotCase(hotspot_id=row.id, case_id=case.id, number=case.number)


@router.post("/triage/hotspots/{hotspot_id}/dismiss", response_model=HotspotRead)
def dismiss_hotspot(hotspot_id: int, body: HotspotNote, db: WriteSession, principal: HotspotDecider) -> HotspotRead:
    """忽略: marks an open hotspot as not a real one; refreshes do not bring it back. 409 once decided."""
    row = triage_service.get(db=db, hotspot_id=hotspot_id, actor=principal.actor, for_update=True)
    triage_service.dismiss(db=db, hotspot=row, ctx=Context.of(principal.actor), note=body.note)
    return _hotspot_reads(db, principal.actor, [row])[0][0]


@router.post("/triage/hotspots/refresh", response_model=RefreshRead)
def refresh_hotspots(
    request: Request,
    principal: HotspotDecider,
    open_tx: Annotated[jobs.Transactions, Depends(refresh_transactions)],
    window_days: Annotated[
        float | None,
        Query(gt=0, le=triage_service.MAX_WINDOW_DAYS, description="default: hotspot_window_days"),
    ] = None,
) -> RefreshRead:
    """Finds the hotspots again now (the job does it every 15 minutes); returns what changed. District-wide users
    only (it re-clusters every street's cases); 409 while another refresh runs."""
    actor = principal.actor
    if not triage_service.district_wide(actor):
        record = AuditRecord.of(
            actor,
            "hotspot.refresh",
            outcome=AuditOutcome.denied,
            target_type="triage_hotspot",
            source_address=principal.source_address,
            detail={"reason": "a refresh covers the whole district"},
        )
        raise PermissionDenied(
            "only district-wide users (the district dispatcher or leader) may refresh the hotspots: a refresh "
            "re-clusters the cases of every street; the hotspots are refreshed every 15 minutes anyway",
            audit_record=record,
            action="hotspot.refresh",
            role=str(actor.role),
        )
    # NOTE: no request transaction: the job's own short read and store transactions, the clustering between them
    # (SQLite's one writer is not held while it runs).
    summary = jobs.refresh_hotspots(
        engine=request.app.state.engine, now=clock.now(), window_days=window_days, min_age_s=0, open_tx=open_tx
    )
    if summary is None:
        raise Conflict("another refresh of the hotspots is running; try again in a minute", code="refresh_running")
    return RefreshRead(**dataclasses.asdict(summary))
