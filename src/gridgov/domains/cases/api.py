"""JSON API of cases: report (create), list, detail with timeline, and one endpoint per action."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Header, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import AwareDatetime
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import media
from gridgov.core.auth import CurrentActor
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import Invalid, NotFoundError
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases import machine
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import CaseStage, Channel
from gridgov.domains.cases.models import Case, CaseContact, MediaFile
from gridgov.domains.cases.schemas import (
    CaseCreated,
    CaseEventRead,
    CaseRead,
    CaseReadMinimal,
    Command,
    Decision,
    DispatchCommand,
    ExtensionRequest,
    FinishCommand,
    MediaRead,
    MergeCommand,
    NoteRequired,
    Page,
    RateCommand,
    ReasonablenessCommand,
    RejectCommand,
    ReturnCommand,
    SuperviseCommand,
    SuspensionRequest,
    VerifyCommand,
)
from gridgov.domains.cases.service import CaseFilter, Context
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.schemas import CaseSubmit

router = APIRouter(tags=["cases"])


def read_case(*, db: Session, case: Case, actor: Actor | None = None) -> CaseRead:
    """Returns the full read model of a case, with its timeline and the actions `actor` may take."""
    data = CaseRead.model_validate(case)
    data.timeline = [CaseEventRead.model_validate(e) for e in case_service.timeline(db=db, case=case)]
    data.has_contact = db.get(CaseContact, case.id) is not None
    data.allowed_actions = machine.allowed_actions(case.stage, actor.role if actor else None)
    return data


def _case(db: Session, case_id: int) -> Case:
    return case_service.get(db=db, case_id=case_id)


def _ctx(actor: Actor) -> Context:
    return Context.of(actor)


@router.post("/cases", status_code=status.HTTP_201_CREATED, response_model=CaseCreated)
def create_case(
    report: CaseSubmit,
    db: WriteSession,
    actor: CurrentActor,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CaseCreated:
    """Reports a problem through any channel. A retry with the same Idempotency-Key returns the same case."""
    result = intake_service.submit(db=db, report=report, ctx=_ctx(actor), idempotency_key=idempotency_key)
    if not result.created:
        response.headers["Idempotent-Replayed"] = "true"
    return CaseCreated(
        case=read_case(db=db, case=result.case, actor=actor), created=result.created, duplicates=result.duplicates
    )


@router.get("/cases", response_model=Page[CaseReadMinimal])
def list_cases(
    db: DbSession,
    actor: CurrentActor,
    stage: Annotated[list[CaseStage] | None, Query()] = None,
    is_open: bool | None = None,
    overdue: bool | None = None,
    warning: Annotated[int | None, Query(ge=0, le=100, description="minimum warning level")] = None,
    unit: Annotated[str | None, Query(description="handling unit code")] = None,
    area: Annotated[str | None, Query(description="area code: its whole subtree")] = None,
    matter_type: Annotated[str | None, Query(description="matter type code")] = None,
    channel: Annotated[list[Channel] | None, Query()] = None,
    reported_from: Annotated[AwareDatetime | None, Query(description="ISO time with offset, inclusive")] = None,
    reported_to: Annotated[AwareDatetime | None, Query(description="ISO time with offset, exclusive")] = None,
    supervised: bool | None = None,
    q: Annotated[str | None, Query(max_length=100, description="text in number, title or description")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[CaseReadMinimal]:
    """Lists cases with filters, newest first."""
    from gridgov.domains.areas.models import Area

    filters = CaseFilter(
        stage=stage,
        is_open=is_open,
        overdue=overdue,
        min_warning_level=warning,
        channel=channel,
        reported_from=reported_from,
        reported_to=reported_to,
        supervised=supervised,
        text=q,
    )
    if unit:
        filters.unit_id = _lookup(db, select(Unit.id).where(Unit.code == unit), f"unknown unit {unit!r}")
    if area:
        filters.area_path = _lookup(db, select(Area.path).where(Area.code == area), f"unknown area {area!r}")
    if matter_type:
        filters.matter_type_id = _lookup(
            db, select(MatterType.id).where(MatterType.code == matter_type), f"unknown matter type {matter_type!r}"
        )
    items, total = case_service.list_cases(db=db, filters=filters, offset=offset, limit=limit)
    return Page[CaseReadMinimal](
        items=[CaseReadMinimal.model_validate(c) for c in items], total=total, offset=offset, limit=limit
    )


def _lookup(db: Session, stmt, message: str):  # noqa: ANN001, ANN202 - a scalar of any column type
    value = db.scalar(stmt)
    if value is None:
        raise Invalid(message, code="unknown_filter_value")
    return value


@router.get("/cases/{case_id}", response_model=CaseRead)
def get_case(case_id: int, db: DbSession, actor: CurrentActor) -> CaseRead:
    """Returns a case with its timeline, attachments and the actions the caller may take."""
    return read_case(db=db, case=_case(db, case_id), actor=actor)


@router.get("/cases/{case_id}/timeline", response_model=list[CaseEventRead])
def get_timeline(case_id: int, db: DbSession, actor: CurrentActor) -> list[CaseEventRead]:
    """Returns the case's event log in order."""
    return [CaseEventRead.model_validate(e) for e in case_service.timeline(db=db, case=_case(db, case_id))]


def _unit(db: Session, code: str) -> Unit:
    unit = db.scalars(select(Unit).where(Unit.code == code)).first()
    if unit is None:
        raise Invalid(f"unknown unit {code!r}", code="unknown_unit")
    return unit


def _done(db: Session, case: Case, actor: Actor) -> CaseRead:
    db.flush()
    return read_case(db=db, case=case, actor=actor)


@router.post("/cases/{case_id}/confirm", response_model=CaseRead)
def confirm_case(case_id: int, body: Command, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """核实属实: confirms a public report on site; it is registered (and auto-dispatched when unambiguous)."""
    case = _case(db, case_id)
    case_service.confirm(db=db, case=case, ctx=_ctx(actor), note=body.note, expected_version=body.version)
    return _done(db, case, actor)


@router.post("/cases/{case_id}/register", response_model=CaseRead)
def register_case(case_id: int, body: Command, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """立案."""
    case = _case(db, case_id)
    case_service.register(db=db, case=case, ctx=_ctx(actor), note=body.note, expected_version=body.version)
    return _done(db, case, actor)


@router.post("/cases/{case_id}/reject", response_model=CaseRead)
def reject_case(case_id: int, body: RejectCommand, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """不予立案, with a reason code."""
    case = _case(db, case_id)
    case_service.reject(
        db=db, case=case, ctx=_ctx(actor), reason_code=body.reason_code, note=body.note, expected_version=body.version
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/merge", response_model=CaseRead)
def merge_case(case_id: int, body: MergeCommand, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """并单 into a parent case."""
    case = _case(db, case_id)
    try:
        parent = _case(db, body.parent_id)
    except NotFoundError:
        raise Invalid(f"parent case {body.parent_id} not found", code="unknown_parent") from None
    case_service.merge(db=db, case=case, parent=parent, ctx=_ctx(actor), note=body.note, expected_version=body.version)
    return _done(db, case, actor)


@router.post("/cases/{case_id}/dispatch", response_model=CaseRead)
def dispatch_case(case_id: int, body: DispatchCommand, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """派遣 to a handling unit (and co-units)."""
    case = _case(db, case_id)
    case_service.dispatch(
        db=db,
        case=case,
        unit=_unit(db, body.unit),
        co_units=[_unit(db, c) for c in body.co_units],
        ctx=_ctx(actor),
        note=body.note,
        expected_version=body.version,
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/sign", response_model=CaseRead)
def sign_case(case_id: int, body: Command, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """签收 by the handling unit."""
    case = _case(db, case_id)
    case_service.sign(db=db, case=case, ctx=_ctx(actor), expected_version=body.version)
    return _done(db, case, actor)


@router.post("/cases/{case_id}/return", response_model=CaseRead)
def return_case(case_id: int, body: ReturnCommand, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """回退 by the handling unit, with a reason code and the list item it cites."""
    case = _case(db, case_id)
    case_service.return_case(
        db=db,
        case=case,
        ctx=_ctx(actor),
        reason_code=body.reason_code,
        citation=body.citation,
        note=body.note,
        expected_version=body.version,
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/start", response_model=CaseRead)
def start_case(case_id: int, body: Command, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """开始处置."""
    case = _case(db, case_id)
    case_service.start(db=db, case=case, ctx=_ctx(actor), expected_version=body.version)
    return _done(db, case, actor)


@router.post("/cases/{case_id}/finish", response_model=CaseRead)
def finish_case(case_id: int, body: FinishCommand, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """处置反馈: the result, with after-photos where the matter type requires evidence."""
    case = _case(db, case_id)
    case_service.finish(
        db=db, case=case, ctx=_ctx(actor), result=body.result, evidence=body.evidence, expected_version=body.version
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/verify", response_model=CaseRead)
def verify_case(case_id: int, body: VerifyCommand, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """核查 by someone other than the handler: ok closes, not ok sends it back for rework (返工)."""
    case = _case(db, case_id)
    case_service.verify(
        db=db,
        case=case,
        ctx=_ctx(actor),
        ok=body.ok,
        note=body.note,
        evidence=body.evidence,
        expected_version=body.version,
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/extension-requests", response_model=CaseRead)
def request_extension(case_id: int, body: ExtensionRequest, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """申请延期."""
    case = _case(db, case_id)
    case_service.request_extension(
        db=db, case=case, ctx=_ctx(actor), amount=body.amount, reason=body.reason, expected_version=body.version
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/extension-decisions", response_model=CaseRead)
def decide_extension(case_id: int, body: Decision, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """审批延期."""
    case = _case(db, case_id)
    case_service.decide_extension(
        db=db, case=case, ctx=_ctx(actor), approve=body.approve, note=body.note, expected_version=body.version
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/suspension-requests", response_model=CaseRead)
def request_suspension(case_id: int, body: SuspensionRequest, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """申请挂账 until a date."""
    case = _case(db, case_id)
    case_service.request_suspension(
        db=db, case=case, ctx=_ctx(actor), until=body.until, reason=body.reason, expected_version=body.version
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/suspension-decisions", response_model=CaseRead)
def decide_suspension(case_id: int, body: Decision, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """审批挂账."""
    case = _case(db, case_id)
    case_service.decide_suspension(
        db=db, case=case, ctx=_ctx(actor), approve=body.approve, note=body.note, expected_version=body.version
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/resume", response_model=CaseRead)
def resume_case(case_id: int, body: Command, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """挂账恢复."""
    case = _case(db, case_id)
    case_service.resume(db=db, case=case, ctx=_ctx(actor), note=body.note, expected_version=body.version)
    return _done(db, case, actor)


@router.post("/cases/{case_id}/supervise", response_model=CaseRead)
def supervise_case(case_id: int, body: SuperviseCommand, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """督办 with a note and optionally a new deadline."""
    case = _case(db, case_id)
    case_service.supervise(
        db=db, case=case, ctx=_ctx(actor), note=body.note, new_deadline=body.new_deadline, expected_version=body.version
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/escalate", response_model=CaseRead)
def escalate_case(case_id: int, body: NoteRequired, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """提级 to the district centre."""
    case = _case(db, case_id)
    case_service.escalate(db=db, case=case, ctx=_ctx(actor), note=body.note, expected_version=body.version)
    return _done(db, case, actor)


@router.post("/cases/{case_id}/rate", response_model=CaseRead)
def rate_case(case_id: int, body: RateCommand, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """回访评价; unsatisfied within the window reopens the case."""
    case = _case(db, case_id)
    case_service.rate(
        db=db, case=case, ctx=_ctx(actor), satisfaction=body.satisfaction, note=body.note, expected_version=body.version
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/reopen", response_model=CaseRead)
def reopen_case(case_id: int, body: NoteRequired, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """重办 a closed case."""
    case = _case(db, case_id)
    case_service.reopen(db=db, case=case, ctx=_ctx(actor), note=body.note, expected_version=body.version)
    return _done(db, case, actor)


@router.post("/cases/{case_id}/reasonableness", response_model=CaseRead)
def rule_reasonableness(case_id: int, body: ReasonablenessCommand, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """诉求合理性认定."""
    case = _case(db, case_id)
    case_service.rule_reasonableness(
        db=db, case=case, ctx=_ctx(actor), ruling=body.ruling, note=body.note, expected_version=body.version
    )
    return _done(db, case, actor)


@router.post("/cases/{case_id}/notes", response_model=CaseRead)
def add_note(case_id: int, body: NoteRequired, db: WriteSession, actor: CurrentActor) -> CaseRead:
    """Adds a note to the timeline."""
    case = _case(db, case_id)
    case_service.add_note(db=db, case=case, ctx=_ctx(actor), note=body.note)
    return _done(db, case, actor)


@router.post("/media", status_code=status.HTTP_201_CREATED, response_model=MediaRead)
def upload_media(
    request: Request, db: WriteSession, actor: CurrentActor, file: Annotated[UploadFile, File()]
) -> MediaRead:
    """Uploads a photo (JPEG/PNG/WebP) or PDF; returns its sha256 to reference in reports and results."""
    settings = request.app.state.settings
    data = file.file.read(settings.max_upload_bytes + 1)
    stored = media.store(data, media_dir=settings.media_dir, max_bytes=settings.max_upload_bytes)
    found = case_service.register_media(db=db, stored=stored, filename=file.filename, ctx=_ctx(actor))
    return MediaRead(sha256=found.sha256, content_type=found.content_type, size=found.size)


@router.get("/media/{sha256}", response_class=FileResponse)
def get_media(sha256: str, request: Request, db: DbSession, actor: CurrentActor) -> FileResponse:
    """Returns an uploaded file by its sha256."""
    found = db.get(MediaFile, sha256)
    if found is None:
        raise NotFoundError(f"media {sha256} not found")
    return FileResponse(media.path_for(request.app.state.settings.media_dir, sha256), media_type=found.content_type)
