"""JSON API of the resident register: masked lists and detail, exact search, unmask with a purpose, changes,
import, and exports with approval.

Every route authenticates the caller; a token needs residents:read for reads (and unmasking), residents:write for
changes and imports, exports for the export workflow. Reads of personal data use a write transaction because
they write their audit entry in the same transaction as the read. A search is a POST, so that an identity number
or phone never appears in a URL (and so in no access log).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from gridgov.core.auth import require_permission, require_scope
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import InputError, Issue
from gridgov.core.permissions import can, defer_audit, require
from gridgov.domains.auth.enums import TokenScope
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.people import exports as export_service
from gridgov.domains.people import imports as import_service
from gridgov.domains.people import service
from gridgov.domains.people import tags as tag_service
from gridgov.domains.people.enums import EventKind, ResidenceType, ResidentStatus
from gridgov.domains.people.schemas import (
    Birth,
    ChangeRead,
    ContactChange,
    Correction,
    Death,
    ExportCreate,
    ExportDecision,
    ExportRead,
    HouseholdCreate,
    HouseholdDetail,
    HouseholdMove,
    HouseholdPage,
    HouseholdRead,
    HouseholdUpdate,
    ImportSummary,
    MoveIn,
    MoveOut,
    ResidentDetail,
    ResidentPage,
    ResidentReadMasked,
    SearchIn,
    TagChange,
    TagRead,
    UnmaskIn,
    UnmaskRead,
)
from gridgov.domains.people.service import Context, ResidentFilter

router = APIRouter(tags=["people"])

Viewer = Annotated[Principal, Depends(require_permission("resident.view"))]
Manager = Annotated[Principal, Depends(require_permission("resident.manage"))]
Unmasker = Annotated[Principal, Depends(require_permission("resident.unmask"))]
Requester = Annotated[Principal, Depends(require_permission("export.request"))]
Approver = Annotated[Principal, Depends(require_permission("export.approve"))]
ExportUser = Annotated[Principal, Depends(require_scope(TokenScope.exports))]


def _ctx(principal: Principal) -> Context:
    return Context(actor=principal.actor, source="api", source_address=principal.source_address, audit=defer_audit)


def _attachment(data: bytes, filename: str) -> Response:
    quoted = urllib.parse.quote(filename)
    return Response(
        content=data,
        media_type=export_service.CONTENT_TYPE,
        headers={
            "Content-Disposition": f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quoted}",
            "Cache-Control": "no-store",
        },
    )


def _change(
    db: Session, principal: Principal, resident_id: int | None, household_id: int | None, kind: EventKind | None = None
) -> ChangeRead:
    event = service.last_change(
        db=db, actor=principal.actor, resident_id=resident_id, household_id=household_id, kind=kind
    )
    return ChangeRead(resident_id=resident_id, household_id=household_id, event=event)


# --- tags ---


@router.get("/people/tags", response_model=list[TagRead])
def list_tags(db: DbSession, principal: Viewer) -> list[TagRead]:
    """Lists the tags (9+X groups) the caller may see, with their sensitivity."""
    return [TagRead.model_validate(t) for t in tag_service.list_tags(db=db, actor=principal.actor)]


# --- residents ---


@router.get("/people/residents", response_model=ResidentPage)
def list_residents(
    db: WriteSession,
    principal: Viewer,
    area: Annotated[str | None, Query(max_length=32, description="an area code: its subtree")] = None,
    building: Annotated[str | None, Query(max_length=32)] = None,
    household_id: Annotated[int | None, Query(ge=1, le=service.MAX_ID)] = None,
    status_: Annotated[
        ResidentStatus | Literal["all"], Query(alias="status", description="active (default), moved_out, deceased, all")
    ] = ResidentStatus.active,
    residence_type: ResidenceType | None = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    born_from: dt.date | None = None,
    born_to: dt.date | None = None,
    offset: Annotated[int, Query(ge=0, le=service.MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
    purpose: Annotated[str | None, Query(max_length=200, description="why (recorded with the read)")] = None,
) -> ResidentPage:
    """Lists residents in the caller's area, masked; the read is audited (who, which residents, filters)."""
    filters = ResidentFilter(
        area=area,
        building=building,
        household_id=household_id,
        status=None if status_ == "all" else ResidentStatus(status_),
        residence_type=residence_type,
        tag=tag,
        born_from=born_from,
        born_to=born_to,
    )
    items, total = service.list_residents(
        db=db, ctx=_ctx(principal), filters=filters, offset=offset, limit=limit, purpose=purpose
    )
    return ResidentPage(items=items, total=total, offset=offset, limit=limit)


@router.post("/people/residents/search", response_model=list[ResidentReadMasked])
def search_residents(body: SearchIn, db: WriteSession, principal: Viewer) -> list[ResidentReadMasked]:
    """Finds residents of the caller's area by exact identity number or phone, or by name; audited."""
    return service.search(db=db, ctx=_ctx(principal), query=body)


@router.get("/people/residents/{resident_id}", response_model=ResidentDetail)
def get_resident(
    resident_id: int,
    db: WriteSession,
    principal: Viewer,
    purpose: Annotated[str | None, Query(max_length=200, description="why (recorded with the read)")] = None,
) -> ResidentDetail:
    """Returns a resident (masked) with their history; 404 outside the caller's area; audited."""
    return service.read_resident(db=db, ctx=_ctx(principal), resident_id=resident_id, purpose=purpose)


@router.post("/people/residents/{resident_id}/unmask", response_model=UnmaskRead)
def unmask_resident(
    resident_id: int, body: UnmaskIn, response: Response, db: WriteSession, principal: Unmasker
) -> UnmaskRead:
    """Returns the identity number and/or phone in clear, for the purpose stated (audited with it)."""
    # NOTE: clear personal values are kept by no browser or proxy cache.
    response.headers["Cache-Control"] = "no-store"
    return service.unmask(db=db, ctx=_ctx(principal), resident_id=resident_id, purpose=body.purpose, fields=body.fields)


@router.post("/people/residents/{resident_id}/move-out", response_model=ChangeRead)
def move_out(resident_id: int, body: MoveOut, db: WriteSession, principal: Manager) -> ChangeRead:
    """迁出: the resident leaves the district (the record stays)."""
    service.move_out(db=db, ctx=_ctx(principal), resident_id=resident_id, occurred_on=body.occurred_on, note=body.note)
    return _change(db, principal, resident_id, None)


@router.post("/people/residents/{resident_id}/death", response_model=ChangeRead)
def record_death(resident_id: int, body: Death, db: WriteSession, principal: Manager) -> ChangeRead:
    """死亡: records the resident's death."""
    service.record_death(
        db=db, ctx=_ctx(principal), resident_id=resident_id, occurred_on=body.occurred_on, note=body.note
    )
    return _change(db, principal, resident_id, None)


@router.post("/people/residents/{resident_id}/contact", response_model=ChangeRead)
def change_contact(resident_id: int, body: ContactChange, db: WriteSession, principal: Manager) -> ChangeRead:
    """联系方式变更: a new phone (null removes it); the history keeps both masked."""
    service.change_contact(db=db, ctx=_ctx(principal), resident_id=resident_id, phone=body.phone, note=body.note)
    return _change(db, principal, resident_id, None)


@router.post("/people/residents/{resident_id}/household", response_model=ChangeRead)
def change_household(resident_id: int, body: HouseholdMove, db: WriteSession, principal: Manager) -> ChangeRead:
    """户变更: the resident joins another household of the caller's area."""
    resident = service.change_household(
        db=db,
        ctx=_ctx(principal),
        resident_id=resident_id,
        household_id=body.household_id,
        relation=body.relation,
        occurred_on=body.occurred_on,
        note=body.note,
    )
    return _change(db, principal, resident.id, None)


@router.post("/people/residents/{resident_id}/corrections", response_model=ChangeRead)
def correct_resident(resident_id: int, body: Correction, db: WriteSession, principal: Manager) -> ChangeRead:
    """信息更正: fixes recorded facts, with the reason; the old values stay in the history (personal ones masked)."""
    service.correct(db=db, ctx=_ctx(principal), resident_id=resident_id, data=body)
    return _change(db, principal, resident_id, None)


@router.post("/people/residents/{resident_id}/tags", response_model=ChangeRead, status_code=status.HTTP_201_CREATED)
def add_tag(resident_id: int, body: TagChange, db: WriteSession, principal: Manager) -> ChangeRead:
    """Tags the resident with a group the caller's role may see."""
    service.add_tag(db=db, ctx=_ctx(principal), resident_id=resident_id, tag=body.tag, note=body.note)
    return _change(db, principal, resident_id, None)


@router.delete("/people/residents/{resident_id}/tags/{tag}", response_model=ChangeRead)
def remove_tag(
    resident_id: int,
    tag: str,
    db: WriteSession,
    principal: Manager,
    note: Annotated[str | None, Query(max_length=1000)] = None,
) -> ChangeRead:
    """Removes a tag from the resident (recorded in the history)."""
    service.remove_tag(db=db, ctx=_ctx(principal), resident_id=resident_id, tag=tag, note=note)
    return _change(db, principal, resident_id, None)


# --- households ---


@router.get("/people/households", response_model=HouseholdPage)
def list_households(
    db: DbSession,
    principal: Viewer,
    building: Annotated[str | None, Query(max_length=32)] = None,
    offset: Annotated[int, Query(ge=0, le=service.MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
) -> HouseholdPage:
    """Lists the households of the caller's area: doors and how many live there, no personal data."""
    items, total = service.list_households(db=db, ctx=_ctx(principal), building=building, offset=offset, limit=limit)
    return HouseholdPage(items=items, total=total, offset=offset, limit=limit)


@router.post("/people/households", response_model=HouseholdRead, status_code=status.HTTP_201_CREATED)
def create_household(body: HouseholdCreate, db: WriteSession, principal: Manager) -> HouseholdRead:
    """立户: opens a household behind a door of a building in the caller's area."""
    household = service.create_household(db=db, ctx=_ctx(principal), data=body)
    return service.household_read(household, 0)


@router.get("/people/households/{household_id}", response_model=HouseholdDetail)
def get_household(
    household_id: int,
    db: WriteSession,
    principal: Viewer,
    purpose: Annotated[str | None, Query(max_length=200)] = None,
) -> HouseholdDetail:
    """Returns a household with its residents (masked) and history; audited."""
    return service.read_household(db=db, ctx=_ctx(principal), household_id=household_id, purpose=purpose)


@router.patch("/people/households/{household_id}", response_model=ChangeRead)
def update_household(household_id: int, body: HouseholdUpdate, db: WriteSession, principal: Manager) -> ChangeRead:
    """Changes a household's kind, residence or notes (recorded in its history)."""
    service.update_household(db=db, ctx=_ctx(principal), household_id=household_id, data=body)
    return _change(db, principal, None, household_id)


@router.post(
    "/people/households/{household_id}/move-in", response_model=ChangeRead, status_code=status.HTTP_201_CREATED
)
def move_in(household_id: int, body: MoveIn, db: WriteSession, principal: Manager) -> ChangeRead:
    """迁入: a person moves into the household (identity number checked, encrypted; duplicates refused)."""
    resident = service.move_in(db=db, ctx=_ctx(principal), household_id=household_id, data=body)
    return _change(db, principal, resident.id, resident.household_id, EventKind.move_in)


@router.post("/people/households/{household_id}/births", response_model=ChangeRead, status_code=status.HTTP_201_CREATED)
def record_birth(household_id: int, body: Birth, db: WriteSession, principal: Manager) -> ChangeRead:
    """出生: a child born into the household."""
    resident = service.record_birth(db=db, ctx=_ctx(principal), household_id=household_id, data=body)
    return _change(db, principal, resident.id, resident.household_id, EventKind.birth)


# --- import ---


@router.post("/people/import", response_model=ImportSummary)
def import_residents(
    request: Request,
    db: WriteSession,
    principal: Manager,
    file: Annotated[UploadFile, File(description="residents: .xlsx or .csv (UTF-8 or GBK), Chinese headers")],
    sheet: Annotated[str | None, Query(max_length=100, description="sheet of an .xlsx (default: the first)")] = None,
    skip_bad: Annotated[
        bool, Query(description="write the good rows and skip the bad (default: all or nothing)")
    ] = False,
    dry_run: Annotated[bool, Query(description="check and count, write nothing")] = False,
    report: Annotated[Literal["json", "xlsx"], Query(description="xlsx: the row error report as a workbook")] = "json",
) -> Response:
    """Imports residents and households; a refused file answers 422 with every row error (row, column, message),
    as JSON or, with report=xlsx, as a workbook to download."""
    limit = request.app.state.settings.max_upload_bytes
    data = file.file.read(limit + 1)
    name = file.filename or "upload.xlsx"
    if len(data) > limit:
        raise InputError([Issue(name, f"larger than {limit:,} bytes: import it with `gridgov people import`")])
    try:
        summary = import_service.import_file(
            db=db, ctx=_ctx(principal), data=data, filename=name, sheet=sheet, skip_bad=skip_bad, dry_run=dry_run
        )
    except import_service.ImportRejected as rejected:
        # NOTE: answered, not raised, to carry the report; a refused import has written nothing to roll back.
        if report == "xlsx":
            response = _attachment(import_service.error_report(rejected.report), f"{name}-errors.xlsx")
            response.status_code = 422
            return response
        content = {
            "detail": rejected.summary,
            "issues": [issue.as_dict() for issue in rejected.issues],
            "report": rejected.report.model_dump(mode="json"),
        }
        return JSONResponse(status_code=422, content=content)
    if report == "xlsx" and summary.errors:
        return _attachment(import_service.error_report(summary), f"{name}-errors.xlsx")
    return JSONResponse(content=summary.model_dump(mode="json"))


@router.get("/people/import/template")
def import_template(principal: Manager) -> Response:
    """Returns an empty import workbook with the Chinese headers and a sheet explaining each column."""
    return _attachment(import_service.template(), "residents-template.xlsx")


# --- exports ---


@router.post("/people/exports", response_model=ExportRead, status_code=status.HTTP_201_CREATED)
def request_export(body: ExportCreate, db: WriteSession, principal: Requester) -> ExportRead:
    """Asks for an export (filters, purpose, clear personal values or not); an approver must decide it."""
    ctx = _ctx(principal)
    return export_service.read(export_service.request_export(db=db, ctx=ctx, data=body), ctx.now)


@router.get("/people/exports", response_model=list[ExportRead])
def list_exports(db: DbSession, principal: ExportUser) -> list[ExportRead]:
    """Lists the caller's own export requests and those it may approve, newest first."""
    _may_export(principal)
    ctx = _ctx(principal)
    return [export_service.read(e, ctx.now) for e in export_service.list_exports(db=db, ctx=ctx)]


@router.get("/people/exports/{export_id}", response_model=ExportRead)
def get_export(export_id: int, db: DbSession, principal: ExportUser) -> ExportRead:
    """Returns an export request (its requester's or one the caller may approve)."""
    _may_export(principal)
    ctx = _ctx(principal)
    return export_service.read(export_service.get_export(db=db, ctx=ctx, export_id=export_id), ctx.now)


@router.post("/people/exports/{export_id}/decision", response_model=ExportRead)
def decide_export(export_id: int, body: ExportDecision, db: WriteSession, principal: Approver) -> ExportRead:
    """Approves or refuses a pending export; never one's own request (403)."""
    ctx = _ctx(principal)
    row = export_service.decide(db=db, ctx=ctx, export_id=export_id, approve=body.approve, note=body.note)
    return export_service.read(row, ctx.now)


@router.post("/people/exports/{export_id}/cancel", response_model=ExportRead)
def cancel_export(export_id: int, db: WriteSession, principal: Requester) -> ExportRead:
    """Withdraws the caller's own export request."""
    ctx = _ctx(principal)
    return export_service.read(export_service.cancel(db=db, ctx=ctx, export_id=export_id), ctx.now)


@router.get("/people/exports/{export_id}/download")
def download_export(export_id: int, db: WriteSession, principal: Requester) -> Response:
    """Downloads an approved export (its requester only, until it expires): a watermarked XLSX; audited."""
    file = export_service.download(db=db, ctx=_ctx(principal), export_id=export_id)
    return _attachment(file.data, file.filename)


def _may_export(principal: Principal) -> None:
    if not (can(principal.actor, "export.request") or can(principal.actor, "export.approve")):
        require(principal.actor, "export.request", source_address=principal.source_address, audit=defer_audit)
