"""JSON API of cases: report (create), list, detail with timeline, and one endpoint per action."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Query, Request, Response, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import AwareDatetime
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import media
from gridgov.core.auth import After, require_scope
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import Invalid, NotFoundError
from gridgov.core.permissions import (
    CASE_ACTION_PERMISSIONS,
    PermissionDenied,
    can,
    check_case,
    defer_audit,
    recheck_after_action,
    recheck_case,
    require,
    restrict,
)
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth import terminals
from gridgov.domains.auth.enums import AuditOutcome, TokenScope
from gridgov.domains.auth.schemas import Actor, AuditRecord, Principal
from gridgov.domains.cases import machine
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Action, CaseStage, Channel
from gridgov.domains.cases.models import Case, CaseAttachment, CaseContact, MediaFile
from gridgov.domains.cases.schemas import (
    CaseCreated,
    CaseEventRead,
    CaseRead,
    CaseReadMinimal,
    Command,
    ContactRead,
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
    ReclassifyCommand,
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

# Every route authenticates the caller (session cookie or Bearer token); a token also needs the scope: reads
# cases:read, writes cases:write. The role's permission and area/unit scope are then checked per case.
Reader = Annotated[Principal, Depends(require_scope(TokenScope.cases_read))]
Writer = Annotated[Principal, Depends(require_scope(TokenScope.cases_write))]
_UPLOAD_PERMISSIONS = ("case.report", "case.handle", "case.verify")


def read_case(*, db: Session, case: Case, actor: Actor | None = None) -> CaseRead:
    """Returns the full read model of a case, with its timeline and the actions `actor` may take."""
    data = CaseRead.model_validate(case)
    data.timeline = [CaseEventRead.model_validate(e) for e in case_service.timeline(db=db, case=case)]
    data.has_contact = db.get(CaseContact, case.id) is not None
    data.allowed_actions = machine.allowed_actions(case.stage, actor.role if actor else None)
    return data


def _case(db: Session, principal: Principal, case_id: int, permission: str = "case.view") -> Case:
    """Returns the case if the caller may take `permission` on it: 403 without the permission, 404 out of scope."""
    if not 0 < case_id <= case_service.MAX_ID:
        # NOTE: beyond the id column the driver would fail (a 500); such a case cannot exist.
        require(principal.actor, permission, audit=defer_audit, source_address=principal.source_address)
        raise NotFoundError(f"case {case_id} not found")
    return check_case(
        db, principal.actor, permission, case_id, source_address=principal.source_address, audit=defer_audit
    )


def _acting(db: Session, principal: Principal, case_id: int, action: Action) -> Case:
    """Returns the case the caller may take the state-machine `action` on (its permission, within scope)."""
    return _case(db, principal, case_id, CASE_ACTION_PERMISSIONS[action])


def _ctx(principal: Principal) -> Context:
    return Context.of(principal.actor)


@router.post("/cases", status_code=status.HTTP_201_CREATED, response_model=CaseCreated)
def create_case(
    report: CaseSubmit,
    db: WriteSession,
    principal: Writer,
    response: Response,
    after: After,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    device_id: Annotated[str | None, Header(alias="X-Device-Id", max_length=64)] = None,
) -> CaseCreated:
    """Reports a problem through any channel. A retry with the same Idempotency-Key returns the same case.

    A grid worker reports from their bound phone: the request carries its device id (X-Device-Id).
    """
    actor = principal.actor
    require(actor, "case.report", audit=defer_audit, source_address=principal.source_address)
    terminals.require_bound(db=db, actor=actor, device_id=device_id, after=after)
    result = intake_service.submit(db=db, report=report, ctx=_ctx(principal), idempotency_key=idempotency_key)
    # NOTE: a grid worker reporting outside their grid, or a key replayed onto a case out of scope, is refused.
    recheck_case(db, actor, "case.report", result.case, source_address=principal.source_address, audit=defer_audit)
    if not result.created:
        response.headers["Idempotent-Replayed"] = "true"
    return CaseCreated(
        case=read_case(db=db, case=result.case, actor=actor), created=result.created, duplicates=result.duplicates
    )


@router.get("/cases", response_model=Page[CaseReadMinimal])
def list_cases(
    db: DbSession,
    principal: Reader,
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
    """Lists the cases the caller may see (role and area/unit scope), with filters, newest first."""
    require(principal.actor, "case.view", audit=defer_audit, source_address=principal.source_address)

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
    items, total = case_service.list_cases(
        db=db,
        filters=filters,
        offset=offset,
        limit=limit,
        scope=lambda stmt: restrict(stmt, principal.actor, "case.view"),
    )
    return Page[CaseReadMinimal](
        items=[CaseReadMinimal.model_validate(c) for c in items], total=total, offset=offset, limit=limit
    )


def _lookup(db: Session, stmt, message: str):  # noqa: ANN001, ANN202 - a scalar of any column type
    value = db.scalar(stmt)
    if value is None:
        raise Invalid(message, code="unknown_filter_value")
    return value


@router.get("/cases/{case_id}", response_model=CaseRead)
def get_case(case_id: int, db: DbSession, principal: Reader) -> CaseRead:
    """Returns a case with its timeline, attachments and the actions the caller may take (404 out of scope)."""
    return read_case(db=db, case=_case(db, principal, case_id), actor=principal.actor)


@router.get("/cases/{case_id}/timeline", response_model=list[CaseEventRead])
def get_timeline(case_id: int, db: DbSession, principal: Reader) -> list[CaseEventRead]:
    """Returns the case's event log in order (404 out of scope)."""
    case = _case(db, principal, case_id)
    return [CaseEventRead.model_validate(e) for e in case_service.timeline(db=db, case=case)]


PersonalDataReader = Annotated[Principal, Depends(require_scope(TokenScope.residents_read))]


@router.get("/cases/{case_id}/contact", response_model=ContactRead)
def get_contact(
    case_id: int,
    db: WriteSession,
    principal: PersonalDataReader,
    purpose: Annotated[str, Query(min_length=4, max_length=200, description="why you need it (recorded)")],
) -> ContactRead:
    """Returns the reporter's contact (personal data): only with a stated purpose, and every read is audited."""
    case = _case(db, principal, case_id, "case.contact")
    contact = db.get(CaseContact, case.id)
    if contact is None:
        raise NotFoundError(f"case {case.number} has no reporter contact")
    auth_service.write_audit(
        db=db,
        actor=principal.actor,
        action="case.contact_read",
        target_type="case",
        target_id=case.id,
        purpose=purpose,
        source_address=principal.source_address,
    )
    return ContactRead.model_validate(contact)


def _unit(db: Session, code: str) -> Unit:
    unit = db.scalars(select(Unit).where(Unit.code == code)).first()
    if unit is None:
        raise Invalid(f"unknown unit {code!r}", code="unknown_unit")
    return unit


def _matter_type(db: Session, code: str) -> MatterType:
    matter = db.scalars(select(MatterType).where(MatterType.code == code, MatterType.is_active)).first()
    if matter is None:
        raise Invalid(f"unknown matter type {code!r}", code="unknown_matter_type", field="matter_type")
    return matter


def _done(db: Session, case: Case, principal: Principal, action: Action) -> CaseRead:
    """Re-selects the written case through the caller's scope (STYLE rule 13) and returns its read model."""
    recheck_after_action(db, principal.actor, action, case, source_address=principal.source_address)
    db.flush()
    return read_case(db=db, case=case, actor=principal.actor)


@router.post("/cases/{case_id}/confirm", response_model=CaseRead)
def confirm_case(case_id: int, body: Command, db: WriteSession, principal: Writer) -> CaseRead:
    """核实属实: confirms a public report on site; it is registered (and auto-dispatched when unambiguous)."""
    case = _acting(db, principal, case_id, Action.confirm)
    case_service.confirm(db=db, case=case, ctx=_ctx(principal), note=body.note, expected_version=body.version)
    return _done(db, case, principal, Action.confirm)


@router.post("/cases/{case_id}/register", response_model=CaseRead)
def register_case(case_id: int, body: Command, db: WriteSession, principal: Writer) -> CaseRead:
    """立案."""
    case = _acting(db, principal, case_id, Action.register)
    case_service.register(db=db, case=case, ctx=_ctx(principal), note=body.note, expected_version=body.version)
    return _done(db, case, principal, Action.register)


@router.post("/cases/{case_id}/reject", response_model=CaseRead)
def reject_case(case_id: int, body: RejectCommand, db: WriteSession, principal: Writer) -> CaseRead:
    """不予立案, with a reason code."""
    case = _acting(db, principal, case_id, Action.reject)
    case_service.reject(
        db=db,
        case=case,
        ctx=_ctx(principal),
        reason_code=body.reason_code,
        note=body.note,
        expected_version=body.version,
    )
    return _done(db, case, principal, Action.reject)


@router.post("/cases/{case_id}/merge", response_model=CaseRead)
def merge_case(case_id: int, body: MergeCommand, db: WriteSession, principal: Writer) -> CaseRead:
    """并单 into a parent case."""
    case = _acting(db, principal, case_id, Action.merge)
    try:
        parent = _acting(db, principal, body.parent_id, Action.merge)
    except NotFoundError:
        raise Invalid(f"parent case {body.parent_id} not found", code="unknown_parent") from None
    case_service.merge(
        db=db, case=case, parent=parent, ctx=_ctx(principal), note=body.note, expected_version=body.version
    )
    return _done(db, case, principal, Action.merge)


@router.post("/cases/{case_id}/reclassify", response_model=CaseRead)
def reclassify_case(case_id: int, body: ReclassifyCommand, db: WriteSession, principal: Writer) -> CaseRead:
    """改类: correct the matter type before dispatch (e.g. pick one of the model's suggestions)."""
    case = _acting(db, principal, case_id, Action.reclassify)
    case_service.reclassify(
        db=db,
        case=case,
        matter_type=_matter_type(db, body.matter_type),
        ctx=_ctx(principal),
        note=body.note,
        expected_version=body.version,
    )
    return _done(db, case, principal, Action.reclassify)


@router.post("/cases/{case_id}/dispatch", response_model=CaseRead)
def dispatch_case(case_id: int, body: DispatchCommand, db: WriteSession, principal: Writer) -> CaseRead:
    """派遣 to a handling unit (and co-units)."""
    case = _acting(db, principal, case_id, Action.dispatch)
    case_service.dispatch(
        db=db,
        case=case,
        unit=_unit(db, body.unit),
        co_units=[_unit(db, c) for c in body.co_units],
        ctx=_ctx(principal),
        note=body.note,
        expected_version=body.version,
    )
    return _done(db, case, principal, Action.dispatch)


@router.post("/cases/{case_id}/sign", response_model=CaseRead)
def sign_case(case_id: int, body: Command, db: WriteSession, principal: Writer) -> CaseRead:
    """签收 by the handling unit."""
    case = _acting(db, principal, case_id, Action.sign)
    case_service.sign(db=db, case=case, ctx=_ctx(principal), expected_version=body.version)
    return _done(db, case, principal, Action.sign)


@router.post("/cases/{case_id}/return", response_model=CaseRead)
def return_case(case_id: int, body: ReturnCommand, db: WriteSession, principal: Writer) -> CaseRead:
    """回退 by the handling unit, with a reason code and the list item it cites."""
    case = _acting(db, principal, case_id, Action.return_)
    case_service.return_case(
        db=db,
        case=case,
        ctx=_ctx(principal),
        reason_code=body.reason_code,
        citation=body.citation,
        note=body.note,
        expected_version=body.version,
    )
    return _done(db, case, principal, Action.return_)


@router.post("/cases/{case_id}/start", response_model=CaseRead)
def start_case(case_id: int, body: Command, db: WriteSession, principal: Writer) -> CaseRead:
    """开始处置."""
    case = _acting(db, principal, case_id, Action.start)
    case_service.start(db=db, case=case, ctx=_ctx(principal), expected_version=body.version)
    return _done(db, case, principal, Action.start)


@router.post("/cases/{case_id}/finish", response_model=CaseRead)
def finish_case(case_id: int, body: FinishCommand, db: WriteSession, principal: Writer) -> CaseRead:
    """处置反馈: the result, with after-photos where the matter type requires evidence."""
    case = _acting(db, principal, case_id, Action.finish)
    case_service.finish(
        db=db, case=case, ctx=_ctx(principal), result=body.result, evidence=body.evidence, expected_version=body.version
    )
    return _done(db, case, principal, Action.finish)


@router.post("/cases/{case_id}/verify", response_model=CaseRead)
def verify_case(case_id: int, body: VerifyCommand, db: WriteSession, principal: Writer) -> CaseRead:
    """核查 by someone other than the handler: ok closes, not ok sends it back for rework (返工)."""
    case = _acting(db, principal, case_id, Action.verify)
    case_service.verify(
        db=db,
        case=case,
        ctx=_ctx(principal),
        ok=body.ok,
        note=body.note,
        evidence=body.evidence,
        expected_version=body.version,
    )
    return _done(db, case, principal, Action.verify)


@router.post("/cases/{case_id}/extension-requests", response_model=CaseRead)
def request_extension(case_id: int, body: ExtensionRequest, db: WriteSession, principal: Writer) -> CaseRead:
    """申请延期."""
    case = _acting(db, principal, case_id, Action.request_extension)
    case_service.request_extension(
        db=db, case=case, ctx=_ctx(principal), amount=body.amount, reason=body.reason, expected_version=body.version
    )
    return _done(db, case, principal, Action.request_extension)


@router.post("/cases/{case_id}/extension-decisions", response_model=CaseRead)
def decide_extension(case_id: int, body: Decision, db: WriteSession, principal: Writer) -> CaseRead:
    """审批延期."""
    case = _acting(db, principal, case_id, Action.decide_extension)
    case_service.decide_extension(
        db=db, case=case, ctx=_ctx(principal), approve=body.approve, note=body.note, expected_version=body.version
    )
    return _done(db, case, principal, Action.decide_extension)


@router.post("/cases/{case_id}/suspension-requests", response_model=CaseRead)
def request_suspension(case_id: int, body: SuspensionRequest, db: WriteSession, principal: Writer) -> CaseRead:
    """申请挂账 until a date."""
    case = _acting(db, principal, case_id, Action.request_suspension)
    case_service.request_suspension(
        db=db, case=case, ctx=_ctx(principal), until=body.until, reason=body.reason, expected_version=body.version
    )
    return _done(db, case, principal, Action.request_suspension)


@router.post("/cases/{case_id}/suspension-decisions", response_model=CaseRead)
def decide_suspension(case_id: int, body: Decision, db: WriteSession, principal: Writer) -> CaseRead:
    """审批挂账."""
    case = _acting(db, principal, case_id, Action.decide_suspension)
    case_service.decide_suspension(
        db=db, case=case, ctx=_ctx(principal), approve=body.approve, note=body.note, expected_version=body.version
    )
    return _done(db, case, principal, Action.decide_suspension)


@router.post("/cases/{case_id}/resume", response_model=CaseRead)
def resume_case(case_id: int, body: Command, db: WriteSession, principal: Writer) -> CaseRead:
    """挂账恢复."""
    case = _acting(db, principal, case_id, Action.resume)
    case_service.resume(db=db, case=case, ctx=_ctx(principal), note=body.note, expected_version=body.version)
    return _done(db, case, principal, Action.resume)


@router.post("/cases/{case_id}/supervise", response_model=CaseRead)
def supervise_case(case_id: int, body: SuperviseCommand, db: WriteSession, principal: Writer) -> CaseRead:
    """督办 with a note and optionally a new deadline."""
    case = _acting(db, principal, case_id, Action.supervise)
    case_service.supervise(
        db=db,
        case=case,
        ctx=_ctx(principal),
        note=body.note,
        new_deadline=body.new_deadline,
        expected_version=body.version,
    )
    return _done(db, case, principal, Action.supervise)


@router.post("/cases/{case_id}/escalate", response_model=CaseRead)
def escalate_case(case_id: int, body: NoteRequired, db: WriteSession, principal: Writer) -> CaseRead:
    """提级 to the district centre."""
    case = _acting(db, principal, case_id, Action.escalate)
    case_service.escalate(db=db, case=case, ctx=_ctx(principal), note=body.note, expected_version=body.version)
    return _done(db, case, principal, Action.escalate)


@router.post("/cases/{case_id}/rate", response_model=CaseRead)
def rate_case(case_id: int, body: RateCommand, db: WriteSession, principal: Writer) -> CaseRead:
    """回访评价; unsatisfied within the window reopens the case."""
    case = _acting(db, principal, case_id, Action.rate)
    case_service.rate(
        db=db,
        case=case,
        ctx=_ctx(principal),
        satisfaction=body.satisfaction,
        note=body.note,
        expected_version=body.version,
    )
    return _done(db, case, principal, Action.rate)


@router.post("/cases/{case_id}/reopen", response_model=CaseRead)
def reopen_case(case_id: int, body: NoteRequired, db: WriteSession, principal: Writer) -> CaseRead:
    """重办 a closed case."""
    case = _acting(db, principal, case_id, Action.reopen)
    case_service.reopen(db=db, case=case, ctx=_ctx(principal), note=body.note, expected_version=body.version)
    return _done(db, case, principal, Action.reopen)


@router.post("/cases/{case_id}/reasonableness", response_model=CaseRead)
def rule_reasonableness(case_id: int, body: ReasonablenessCommand, db: WriteSession, principal: Writer) -> CaseRead:
    """诉求合理性认定."""
    case = _acting(db, principal, case_id, Action.rule_reasonableness)
    case_service.rule_reasonableness(
        db=db,
        case=case,
        ctx=_ctx(principal),
        ruling=body.ruling,
        note=body.note,
        reason_code=body.reason_code,
        reply=body.reply,
        expected_version=body.version,
    )
    return _done(db, case, principal, Action.rule_reasonableness)


@router.post("/cases/{case_id}/notes", response_model=CaseRead)
def add_note(case_id: int, body: NoteRequired, db: WriteSession, principal: Writer) -> CaseRead:
    """Adds a note to the timeline."""
    case = _acting(db, principal, case_id, Action.note)
    case_service.add_note(db=db, case=case, ctx=_ctx(principal), note=body.note)
    return _done(db, case, principal, Action.note)


@router.post("/media", status_code=status.HTTP_201_CREATED, response_model=MediaRead)
def upload_media(
    request: Request, db: WriteSession, principal: Writer, file: Annotated[UploadFile, File()]
) -> MediaRead:
    """Uploads a photo (JPEG/PNG/WebP) or PDF; returns its sha256 to reference in reports and results.

    Photos are decoded before they are kept (a corrupt or disguised file gets 422 `bad_image`); the answer
    carries what the photo's EXIF says: shown size, when it was taken, and its WGS84 GPS position.
    """
    # Reporters attach photos, handlers and verifiers evidence: any of these permissions may upload.
    if not any(can(principal.actor, p) for p in _UPLOAD_PERMISSIONS):
        require(principal.actor, "case.report", audit=defer_audit, source_address=principal.source_address)
    settings = request.app.state.settings
    limit = settings.max_upload_bytes
    if file.size is not None and file.size > limit:
        raise media.TooLarge(f"file of {file.size} bytes exceeds the limit of {limit} bytes", limit=limit)
    data = media.read_upload(file.file, max_bytes=limit)
    stored = media.store(data, media_dir=settings.media_dir, max_bytes=limit, tz=settings.tz)
    found = case_service.register_media(db=db, stored=stored, filename=file.filename, ctx=_ctx(principal))
    return MediaRead(
        sha256=found.sha256,
        content_type=found.content_type,
        size=found.size,
        width=found.width,
        height=found.height,
        taken_at=found.taken_at,
        gps_lng=found.gps_lng,
        gps_lat=found.gps_lat,
    )


# Originals keep the camera's EXIF (where the reporter stood, the phone model): evidence for those who register
# and verify cases; everyone else sees the public copy, which has none.
_ORIGINAL_PERMISSIONS = ("case.verify", "case.register")


def _may_see_media(db: Session, principal: Principal, found: MediaFile) -> bool:
    """A file is seen by whoever uploaded it and by those who may see a case it is attached to (else: 404)."""
    if found.uploaded_by is not None and found.uploaded_by == principal.actor.user_id:
        return True
    attached = select(Case.id).join(CaseAttachment, CaseAttachment.case_id == Case.id)
    attached = attached.where(CaseAttachment.sha256 == found.sha256).limit(1)
    return db.scalar(restrict(attached, principal.actor, "case.view")) is not None


@router.get(
    "/media/{sha256}",
    response_class=FileResponse,
    responses={304: {"description": "Not modified (If-None-Match)"}, 403: {"description": "Original refused"}},
)
def get_media(
    sha256: str,
    request: Request,
    db: DbSession,
    principal: Reader,
    variant: Annotated[
        media.Variant,
        Query(description="public: no EXIF, orientation applied; thumb: ≤320 px; original: dispatchers/grid workers"),
    ] = media.Variant.public,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Returns an uploaded file by its sha256: the public copy of a photo unless another variant is asked."""
    require(principal.actor, "case.view", audit=defer_audit, source_address=principal.source_address)
    if variant is media.Variant.original and not any(can(principal.actor, p) for p in _ORIGINAL_PERMISSIONS):
        record = AuditRecord.of(
            principal.actor,
            "case.verify",
            outcome=AuditOutcome.denied,
            target_type="media",
            target_id=sha256[:64],
            source_address=principal.source_address,
            detail={"reason": "original photo (with EXIF) asked by a role without case.verify or case.register"},
        )
        raise PermissionDenied(
            f"role '{principal.actor.role}' may not fetch original photos (they carry the camera's EXIF, its GPS "
            "position included); ask for the public copy",
            audit_record=record,
            action="case.verify",
            role=str(principal.actor.role),
        )
    found = db.get(MediaFile, sha256) if media.is_sha256(sha256) else None
    if found is None or not _may_see_media(db, principal, found):
        raise NotFoundError(f"media {sha256} not found")
    media_dir = request.app.state.settings.media_dir
    if variant is not media.Variant.original and found.content_type not in media.IMAGE_FORMATS:
        if variant is media.Variant.thumb:
            raise NotFoundError(f"media {sha256} is a {found.content_type} file and has no thumbnail")
        variant = media.Variant.original  # a PDF has no derived copy: it is its own public copy
    elif variant is not media.Variant.original:
        media.ensure_derived(media_dir, sha256)
    path = media.variant_path(media_dir, sha256, variant)
    if not path.exists():
        raise NotFoundError(f"media {sha256}: the stored file is missing")
    etag = sha256 if variant is media.Variant.public else f"{sha256}-{variant.value}"
    return media.file_response(
        path, etag=etag, cache_control=f"private, max-age={media.CACHE_SECONDS}", if_none_match=if_none_match
    )
