"""JSON API of the 12345 hotline channel: push work orders (one or a batch), pull status and replies, poll for
changes, return the caller's satisfaction, and import an exported file.

Push and pull are for the hotline integration's service user (role `system`) and dispatchers; the import is for
dispatchers. A token needs cases:write to push, rate or import, and cases:read to pull.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Query, Request, Response, UploadFile, status
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from gridgov.core.auth import require_scope
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import InputError, Issue
from gridgov.core.geo import Crs
from gridgov.core.permissions import check_case, defer_audit, recheck_after_action, restrict
from gridgov.domains.auth.enums import DISPATCHER_ROLES, TokenScope
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Action
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.service import Context
from gridgov.domains.hotline import files
from gridgov.domains.hotline import service as hotline_service
from gridgov.domains.hotline.schemas import (
    MAX_BATCH,
    BatchResult,
    HotlineOrder,
    ImportSummary,
    OrderAccepted,
    OrderStatus,
    RatingIn,
    UpdatesPage,
)

router = APIRouter(tags=["hotline"])

Reader = Annotated[Principal, Depends(require_scope(TokenScope.cases_read))]
Writer = Annotated[Principal, Depends(require_scope(TokenScope.cases_write))]
Locale = Annotated[str, Query(pattern=r"^(zh_CN|en)$", description="language of stage labels and notes")]


def _allowed(principal: Principal, action: str, roles: frozenset[Any] = hotline_service.HOTLINE_ROLES) -> None:
    hotline_service.check_actor(principal.actor, action=action, roles=roles)


def _order(db: Session, principal: Principal, order_id: str, action: str) -> Case:
    """Returns the work order's case if the caller may take `action` on it (404 when outside their scope)."""
    _allowed(principal, action)
    case = hotline_service.get_order(db=db, order_id=order_id)
    return check_case(db, principal.actor, action, case.id, source_address=principal.source_address, audit=defer_audit)


@router.post("/hotline/requests", status_code=status.HTTP_201_CREATED, response_model=OrderAccepted)
def push_order(order: HotlineOrder, db: WriteSession, principal: Writer, response: Response) -> OrderAccepted:
    """Takes one 12345 work order: 201 with the new case; 200 with the same case when the order came before."""
    _allowed(principal, "case.report")
    result = hotline_service.submit_order(db=db, order=order, ctx=Context.of(principal.actor))
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return hotline_service.accepted(result)


@router.post("/hotline/requests:batch", response_model=BatchResult)
def push_batch(
    db: WriteSession,
    principal: Writer,
    orders: Annotated[list[Any], Body(max_length=MAX_BATCH, description="up to 500 work orders (objects)")],
) -> BatchResult:
    """Takes up to 500 work orders, each on its own: one refused order never stops or half-writes the others."""
    _allowed(principal, "case.report")
    return hotline_service.submit_batch(db=db, orders=orders, ctx=Context.of(principal.actor))


@router.get("/hotline/requests/{order_id}", response_model=OrderStatus)
def get_order(order_id: str, db: DbSession, principal: Reader, locale: Locale = "zh_CN") -> OrderStatus:
    """Returns a work order's status for the hotline: stage, public notes, the reply (办理结果) and satisfaction."""
    case = _order(db, principal, order_id, "case.view")
    return hotline_service.order_status(db=db, case=case, locale=locale)


@router.post("/hotline/requests/{order_id}/rating", response_model=OrderStatus)
def rate_order(
    order_id: str, body: RatingIn, db: WriteSession, principal: Writer, locale: Locale = "zh_CN"
) -> OrderStatus:
    """回访评价: records the caller's satisfaction with a closed case; unsatisfied (within the window) reopens it."""
    case = _order(db, principal, order_id, "case.rate")
    case_service.rate(db=db, case=case, ctx=Context.of(principal.actor), satisfaction=body.satisfaction, note=body.note)
    recheck_after_action(db, principal.actor, Action.rate, case, source_address=principal.source_address)
    return hotline_service.order_status(db=db, case=case, locale=locale)


@router.get("/hotline/updates", response_model=UpdatesPage)
def list_updates(
    db: DbSession,
    principal: Reader,
    since: Annotated[AwareDatetime | None, Query(description="ISO time with offset: changes at or after it")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="the `next` of the previous answer")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    locale: Locale = "zh_CN",
) -> UpdatesPage:
    """Returns work orders whose case changed after `cursor` (or since `since`), oldest change first."""
    _allowed(principal, "case.view")
    return hotline_service.list_updates(
        db=db,
        since=since,
        cursor=cursor,
        limit=limit,
        scope=lambda stmt: restrict(stmt, principal.actor, "case.view"),
        locale=locale,
    )


@router.post("/hotline/imports", response_model=ImportSummary)
def import_file(
    request: Request,
    db: WriteSession,
    principal: Writer,
    file: Annotated[UploadFile, File(description="a hotline export: .xlsx or .csv (UTF-8 or GBK)")],
    sheet: Annotated[str | None, Query(max_length=100, description="sheet of an .xlsx (default: the first)")] = None,
    dry_run: Annotated[bool, Query(description="check and count, keep nothing")] = False,
    crs: Annotated[Crs, Query(description="coordinates of the file, unless a 坐标系 column says")] = Crs.wgs84,
) -> ImportSummary:
    """Imports a 12345 export: good rows become cases, bad rows are reported (row, column, message) and skipped."""
    _allowed(principal, "case.report", roles=DISPATCHER_ROLES)
    limit = request.app.state.settings.max_upload_bytes
    data = file.file.read(limit + 1)
    name = file.filename or "upload.xlsx"
    if len(data) > limit:
        raise InputError([Issue(name, f"larger than {limit:,} bytes: import it with `gridgov hotline import`")])
    table = files.read_orders(data, name, sheet=sheet)
    ctx = Context.of(principal.actor)
    return hotline_service.import_table(db=db, table=table, ctx=ctx, dry_run=dry_run, crs=crs)
