"""Evaluation HTTP API: indicators and rankings, bulletins and ledgers, campaigns, the dashboard."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import clock, permissions
from gridgov.core.auth import CurrentUser, require_permission
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import NotFoundError
from gridgov.core.permissions import defer_audit
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.cases.enums import CaseStage, Channel
from gridgov.domains.cases.service import MAX_ID
from gridgov.domains.evaluation import bulletins as bulletin_service
from gridgov.domains.evaluation import campaigns as campaign_service
from gridgov.domains.evaluation import dashboard as dashboard_service
from gridgov.domains.evaluation import engine as counts_engine
from gridgov.domains.evaluation import indicators as indicator_service
from gridgov.domains.evaluation import ledgers as ledger_service
from gridgov.domains.evaluation import service as ranking_service
from gridgov.domains.evaluation.counts import BASE_COUNTS
from gridgov.domains.evaluation.enums import CampaignStatus, Dimension, EvaluationObject
from gridgov.domains.evaluation.models import Bulletin, Campaign
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.evaluation.schemas import (
    BulletinCreate,
    BulletinRead,
    CampaignBulletinCreate,
    CampaignCaseRead,
    CampaignCreate,
    CampaignProgressRead,
    CampaignRead,
    CampaignUpdate,
    CountTableRead,
    DashboardRead,
    IndicatorCreate,
    IndicatorRead,
    IndicatorUpdate,
    RankingRead,
    StaffingRead,
)

router = APIRouter(tags=["evaluation"])


# --- indicators and rankings ---

EvaluationViewer = Annotated[Principal, Depends(require_permission("evaluation.view"))]
IndicatorManager = Annotated[Principal, Depends(require_permission("evaluation.manage"))]
IndicatorCode = Annotated[str, Path(min_length=1, max_length=64, description="e.g. on_time_closure_rate")]
PeriodText = Annotated[
    str, Query(max_length=40, description="2026-11, 2026-Q4, 2026, 2026-11-25 or 2026-11-01..2026-11-15 (local dates)")
]
AreaCode = Annotated[
    str | None, Query(max_length=32, description="Only this area's subtree (within the caller's own area).")
]
_may_view = require_permission("evaluation.view")
_may_manage = require_permission("evaluation.manage")


async def _indicator_reader(request: Request, principal: CurrentUser) -> Principal:
    """The caller, if they may see evaluation (evaluation.view) or edit the indicators (the administrator)."""
    if permissions.can(principal.actor, "evaluation.manage"):
        return await _may_manage(request, principal)
    return await _may_view(request, principal)


IndicatorReader = Annotated[Principal, Depends(_indicator_reader)]


def _evaluation_scope(db: Session, principal: Principal, area: str | None) -> tuple[str | None, str | None]:
    """Returns the area path a request is limited to and that area's code: the caller's own area, narrowed to
    `area` (404 for an area outside it, like an unknown one)."""
    actor = principal.actor
    own = actor.scope_path if permissions.scope_of(actor, "evaluation.view") is permissions.Scope.area else None
    if area is None:
        return own, (own.strip("/").split("/")[-1] if own else None)
    found = db.scalars(select(Area).where(Area.code == area)).one_or_none()
    if found is None or (own and not found.path.startswith(own)):
        raise NotFoundError(f"unknown area {area!r}")
    return found.path, found.code


def _period(request: Request, text: str) -> Period:
    return Period.parse(text, request.app.state.settings.tz)


@router.get("/evaluation/indicators", response_model=list[IndicatorRead])
def list_indicators(
    db: DbSession,
    principal: IndicatorReader,
    object_: Annotated[EvaluationObject | None, Query(alias="object", description="area, department or post")] = None,
    active: Annotated[bool, Query(description="Only the active ones")] = False,
) -> list[IndicatorRead]:
    """Lists the indicators (评价指标) with their formulas, weights and minimum samples, in display order."""
    found = indicator_service.list_definitions(db=db, obj=object_, active_only=active)
    return [IndicatorRead(**d.as_dict()) for d in found]


@router.post("/evaluation/indicators", status_code=status.HTTP_201_CREATED, response_model=IndicatorRead)
def create_indicator(body: IndicatorCreate, db: WriteSession, principal: IndicatorManager) -> IndicatorRead:
    """Adds an indicator; 422 with the reasons for a bad formula or field, 409 when the code exists."""
    # NOTE: only the fields sent: a division needs when_zero written, even as null.
    row = indicator_service.create(db=db, data=body.model_dump(exclude_unset=True), actor=principal.actor)
    return IndicatorRead(**indicator_service.from_row(row).as_dict())


@router.put("/evaluation/indicators/{code}", response_model=IndicatorRead)
def update_indicator(
    code: IndicatorCode, body: IndicatorUpdate, db: WriteSession, principal: IndicatorManager
) -> IndicatorRead:
    """Changes an indicator (weight, formula, minimum sample ...): only the fields sent; 422 with the reasons."""
    changes = body.model_dump(exclude_unset=True)
    row = indicator_service.update(db=db, code=code, changes=changes, actor=principal.actor)
    return IndicatorRead(**indicator_service.from_row(row).as_dict())


@router.get("/evaluation/rankings", response_model=RankingRead)
def get_ranking(
    request: Request,
    db: DbSession,
    principal: EvaluationViewer,
    period: PeriodText,
    dimension: Annotated[Dimension, Query(description="street, community, grid, district, unit or person")] = (
        Dimension.street
    ),
    area: AreaCode = None,
) -> RankingRead:
    """Ranks the areas, units or people of a period on the active indicators, with the change against the
    previous period; a key with too small a sample is listed, not ranked. No data: an empty ranking."""
    scope_path, scope_code = _evaluation_scope(db, principal, area)
    ranking = ranking_service.rank(
        db=db,
        period=_period(request, period),
        dimension=dimension,
        scope_path=scope_path,
        engine=request.app.state.settings.evaluation_engine,
    )
    return RankingRead.of(ranking, scope_code=scope_code)


@router.get("/evaluation/counts", response_model=CountTableRead)
def get_counts(
    request: Request,
    db: DbSession,
    principal: EvaluationViewer,
    period: PeriodText,
    dimension: Annotated[Dimension, Query(description="what the counts are grouped by")] = Dimension.street,
    area: AreaCode = None,
) -> CountTableRead:
    """Returns the base counts (受理, 立案, 应结案, 结案 ...) of a period by a dimension, from the event log."""
    scope_path, scope_code = _evaluation_scope(db, principal, area)
    table = counts_engine.compute(
        db=db,
        period=_period(request, period),
        dimension=dimension,
        scope_path=scope_path,
        engine=request.app.state.settings.evaluation_engine,
    )
    return CountTableRead.of(table, BASE_COUNTS.values(), scope_code=scope_code)


@router.get("/evaluation/staffing", response_model=list[StaffingRead])
def get_staffing(
    db: DbSession,
    principal: EvaluationViewer,
    level: Annotated[AreaLevel, Query(description="community, street or grid")] = AreaLevel.community,
    area: AreaCode = None,
) -> list[StaffingRead]:
    """Lists the areas of a level with their community workers per 10,000 residents against the standard
    (GRIDGOV_STAFFING_STANDARD_PER_10K), the least staffed first."""
    scope_path, _ = _evaluation_scope(db, principal, area)
    return [StaffingRead.of(row) for row in ranking_service.staffing(db=db, level=level, scope_path=scope_path)]


# --- bulletins and ledgers ---

BulletinViewer = Annotated[Principal, Depends(require_permission("evaluation.view"))]
LedgerExporter = Annotated[Principal, Depends(require_permission("ledger.export"))]


def _bulletin_read(row: Bulletin) -> BulletinRead:
    return BulletinRead.model_validate(row).model_copy(update={"url": f"/api/v1/evaluation/bulletins/{row.id}"})


def _attachment(data: bytes, filename: str, content_type: str) -> Response:
    quoted = urllib.parse.quote(filename)
    disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quoted}"
    return Response(content=data, media_type=content_type, headers={"Content-Disposition": disposition})


def bulletin_transactions(request: Request) -> bulletin_service.Transactions:
    """Returns how bulletin and ledger requests open their own short transactions (tests join their own)."""
    return bulletin_service.engine_transactions(request.app.state.engine)


OwnTransactions = Annotated[bulletin_service.Transactions, Depends(bulletin_transactions)]


@router.post("/evaluation/bulletins", status_code=status.HTTP_201_CREATED, response_model=list[BulletinRead])
def create_bulletin(
    body: BulletinCreate, request: Request, principal: BulletinViewer, open_tx: OwnTransactions
) -> list[BulletinRead]:
    """Generates a bulletin (通报) of the caller's district or street in the formats asked, replacing a stored one."""
    # NOTE: no request transaction: the figures are computed and the files written (Chromium for a PDF) in a read
    # transaction, and only the storing takes SQLite's one write lock, briefly.
    with open_tx(False) as db:
        area = bulletin_service.bulletin_scope(db=db, actor=principal.actor)
        written = bulletin_service.write(
            db=db,
            period=bulletin_service.parse_period(body.period),
            level=body.level,
            formats=body.formats,
            actor=principal.actor,
            scope_path=area.path if area is not None else None,
            engine=request.app.state.settings.evaluation_engine,
        )
    with open_tx(True) as db:
        rows = bulletin_service.save(
            db=db, written=written, actor=principal.actor, source_address=principal.source_address
        )
        return [_bulletin_read(row) for row in rows]


@router.post(
    "/evaluation/campaigns/{code}/bulletins", status_code=status.HTTP_201_CREATED, response_model=list[BulletinRead]
)
def create_campaign_bulletin(
    code: str, body: CampaignBulletinCreate, request: Request, principal: BulletinViewer, open_tx: OwnTransactions
) -> list[BulletinRead]:
    """Generates a campaign's bulletin (专项督查通报) over its cases in the caller's district or street, by default
    for the campaign's own dates, in the formats asked; replaces a stored one (scope campaign:<code>[@street])."""
    # NOTE: like the period bulletin: built in a read transaction, stored in a short write transaction.
    with open_tx(False) as db:
        written = bulletin_service.write_campaign(
            db=db,
            code=code,
            actor=principal.actor,
            formats=body.formats,
            period=body.period,
            level=body.level,
            engine=request.app.state.settings.evaluation_engine,
            now=clock.now(),
        )
    with open_tx(True) as db:
        rows = bulletin_service.save(
            db=db, written=written, actor=principal.actor, source_address=principal.source_address
        )
        return [_bulletin_read(row) for row in rows]


@router.get("/evaluation/bulletins", response_model=list[BulletinRead])
def list_bulletins(
    db: DbSession,
    principal: BulletinViewer,
    period: Annotated[str | None, Query(max_length=32, description="only this period's (label as stored)")] = None,
) -> list[BulletinRead]:
    """Lists the stored bulletins the caller may read (a street user: their street's), newest period first."""
    return [_bulletin_read(row) for row in bulletin_service.list_bulletins(db=db, actor=principal.actor, period=period)]


@router.get("/evaluation/bulletins/{bulletin_id}", response_class=Response)
def get_bulletin_file(
    bulletin_id: Annotated[int, Path(gt=0, le=MAX_ID)], db: DbSession, principal: BulletinViewer
) -> Response:
    """Returns a stored bulletin's file (XLSX, HTML or PDF) as a download."""
    row = bulletin_service.get_bulletin(db=db, actor=principal.actor, bulletin_id=bulletin_id)
    return _attachment(row.data, row.filename, row.content_type)


@router.get("/evaluation/ledger.xlsx", response_class=Response)
def export_ledger(
    principal: LedgerExporter,
    open_tx: OwnTransactions,
    period: Annotated[str | None, Query(max_length=32, description="reported in: 2026-11, 2026-Q4 ...")] = None,
    from_: Annotated[dt.date | None, Query(alias="from", description="reported on or after (local date)")] = None,
    to: Annotated[dt.date | None, Query(description="reported on or before (local date)")] = None,
    stage: Annotated[list[CaseStage] | None, Query()] = None,
    matter: Annotated[list[str] | None, Query(description="matter type code; repeat for several")] = None,
    area: Annotated[str | None, Query(max_length=32, description="area code: its whole subtree")] = None,
    unit: Annotated[str | None, Query(max_length=64, description="handling unit code")] = None,
    overdue: Annotated[bool, Query(description="only cases marked overdue")] = False,
    channel: Annotated[list[Channel] | None, Query()] = None,
) -> Response:
    """Exports the caller's visible cases matching the filters as an XLSX ledger (台账), watermarked and audited."""
    filters = ledger_service.LedgerFilter(
        period=ledger_service.period_of(period=period, first=from_, last=to),
        stages=tuple(stage or ()),
        matter_types=tuple(matter or ()),
        area=area,
        unit=unit,
        overdue_only=overdue,
        channels=tuple(channel or ()),
    )
    # NOTE: written in a read transaction; the audit entry in a short write transaction of its own, committed
    # before the file is sent (no audit entry, no file).
    with open_tx(False) as db:
        ledger = ledger_service.export(db=db, actor=principal.actor, filters=filters, audit=False)
    with open_tx(True) as db:
        ledger_service.audit_export(
            db=db, actor=principal.actor, ledger=ledger, source_address=principal.source_address
        )
    return _attachment(ledger.data, ledger.filename, ledger_service.CONTENT_TYPE)


# --- campaigns ---

CampaignViewer = Annotated[Principal, Depends(require_permission("evaluation.view"))]
CampaignManager = Annotated[Principal, Depends(require_permission("campaign.manage"))]
CaseId = Annotated[int, Path(gt=0, le=MAX_ID)]


def _campaign_read(db: Session, row: Campaign, principal: Principal) -> CampaignRead:
    # NOTE: the cases in the caller's area, as its progress counts them (a street user: its street's)
    counts = campaign_service.case_counts(db=db, campaign_ids=[row.id], scope_path=principal.actor.scope_path)
    return CampaignRead.model_validate(row).model_copy(update={"cases": counts.get(row.id, 0)})


@router.get("/evaluation/campaigns", response_model=list[CampaignRead])
def list_campaigns(
    db: DbSession,
    principal: CampaignViewer,
    status_: Annotated[CampaignStatus | None, Query(alias="status", description="active or closed")] = None,
) -> list[CampaignRead]:
    """Lists the special supervision campaigns (专项督查), active first, with how many cases each holds in the
    caller's area."""
    rows = campaign_service.list_campaigns(db=db, status=status_)
    counts = campaign_service.case_counts(
        db=db, campaign_ids=[r.id for r in rows], scope_path=principal.actor.scope_path
    )
    return [CampaignRead.model_validate(r).model_copy(update={"cases": counts.get(r.id, 0)}) for r in rows]


@router.post("/evaluation/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignRead)
def create_campaign(body: CampaignCreate, db: WriteSession, principal: CampaignManager) -> CampaignRead:
    """Creates a campaign and tags the cases in its scope (422 naming an unknown code; 409 for a taken code)."""
    row = campaign_service.create(db=db, data=body, actor=principal.actor, now=clock.now())
    return _campaign_read(db, row, principal)


@router.get("/evaluation/campaigns/{code}", response_model=CampaignRead)
def get_campaign(code: str, db: DbSession, principal: CampaignViewer) -> CampaignRead:
    """Returns a campaign."""
    return _campaign_read(db, campaign_service.get_by_code(db=db, code=code), principal)


@router.patch("/evaluation/campaigns/{code}", response_model=CampaignRead)
def update_campaign(code: str, body: CampaignUpdate, db: WriteSession, principal: CampaignManager) -> CampaignRead:
    """Changes an active campaign; a changed scope re-tags its cases (409 once closed)."""
    row = campaign_service.get_by_code(db=db, code=code)
    campaign_service.update(db=db, campaign=row, data=body, actor=principal.actor, now=clock.now())
    return _campaign_read(db, row, principal)


@router.post("/evaluation/campaigns/{code}/close", response_model=CampaignRead)
def close_campaign(code: str, db: WriteSession, principal: CampaignManager) -> CampaignRead:
    """Closes a campaign: tagging stops and its progress is frozen (409 when closed already)."""
    row = campaign_service.get_by_code(db=db, code=code)
    campaign_service.close(db=db, campaign=row, actor=principal.actor, now=clock.now())
    return _campaign_read(db, row, principal)


@router.post("/evaluation/campaigns/{code}/cases/{case_id}", response_model=CampaignCaseRead)
def tag_case(
    code: str, case_id: CaseId, response: Response, db: WriteSession, principal: CampaignManager
) -> CampaignCaseRead:
    """Tags a case into the campaign by hand: 201 when added, 200 when it was there (404: a case you cannot see)."""
    row = campaign_service.get_by_code(db=db, code=code)
    added = campaign_service.tag(
        db=db,
        campaign=row,
        case_id=case_id,
        actor=principal.actor,
        now=clock.now(),
        source_address=principal.source_address,
        audit=defer_audit,
    )
    response.status_code = status.HTTP_201_CREATED if added else status.HTTP_200_OK
    return CampaignCaseRead(campaign=row.code, case_id=case_id, tagged=added)


@router.delete("/evaluation/campaigns/{code}/cases/{case_id}", status_code=status.HTTP_204_NO_CONTENT)
def untag_case(code: str, case_id: CaseId, db: WriteSession, principal: CampaignManager) -> None:
    """Removes a case tagged by hand (422 for a case within the campaign's scope, 404 when not in it)."""
    row = campaign_service.get_by_code(db=db, code=code)
    campaign_service.untag(
        db=db,
        campaign=row,
        case_id=case_id,
        actor=principal.actor,
        source_address=principal.source_address,
        audit=defer_audit,
    )


@router.get("/evaluation/campaigns/{code}/progress", response_model=CampaignProgressRead)
def get_campaign_progress(code: str, db: DbSession, principal: CampaignViewer) -> CampaignProgressRead:
    """Returns the campaign's progress over its cases in the caller's area: counts, targets, streets, days."""
    row = campaign_service.get_by_code(db=db, code=code)
    found = campaign_service.progress(db=db, campaign=row, now=clock.now(), scope_path=principal.actor.scope_path)
    return CampaignProgressRead.model_validate(found)


# --- dashboard ---

DashboardViewer = Annotated[Principal, Depends(require_permission("evaluation.view"))]


@router.get("/evaluation/dashboard", response_model=DashboardRead)
def get_dashboard(db: DbSession, principal: DashboardViewer) -> DashboardRead:
    """Returns the operation centre's dashboard for the caller's area (cached for dashboard_cache_s seconds)."""
    found = dashboard_service.overview(db=db, actor=principal.actor, now=clock.now())
    return DashboardRead.model_validate(found)
