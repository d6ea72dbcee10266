"""Exports of residents (数据导出): request with filters and purpose → approval by someone else → watermarked XLSX.

The request freezes the residents it holds (their ids, within the requester's area) and says whether identity
numbers and phones are wanted in clear (only for a requester who may unmask). An approver (export.approve, whose
area covers the requester's) who is not the requester approves or refuses it; an approved export may be
downloaded by its requester until it expires (GRIDGOV_PEOPLE_EXPORT_VALID_HOURS). Every sheet of the workbook
carries a visible watermark — who, when, which request — in a red first row and in the printed header and
footer, and every download is written to the audit log as a read of personal data (resident.export_download).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import xlsxwriter
from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session, selectinload

from gridgov.config import get_settings
from gridgov.core.errors import Conflict, DomainError, Forbidden, InputError, Invalid, Issue, NotFoundError
from gridgov.core.models import fill_defaults
from gridgov.core.permissions import OutOfScope, PermissionDenied, can, require, write_to_session
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import AuditOutcome
from gridgov.domains.auth.schemas import Actor, AuditRecord
from gridgov.domains.people import privacy
from gridgov.domains.people import service as people_service
from gridgov.domains.people.enums import (
    GENDER_ZH,
    RELATION_ZH,
    RESIDENCE_ZH,
    STATUS_ZH,
    ExportStatus,
)
from gridgov.domains.people.models import ExportRequest, Household, Resident, ResidentTag
from gridgov.domains.people.schemas import ExportCreate, ExportRead
from gridgov.domains.people.service import Context, ResidentFilter

MAX_ROWS = 50_000
CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BATCH = 1000
COLUMNS: tuple[tuple[str, int], ...] = (
    ("序号", 6),
    ("楼院编码", 20),
    ("楼院", 24),
    ("门牌/房号", 12),
    ("与户主关系", 10),
    ("姓名", 10),
    ("性别", 6),
    ("出生日期", 12),
    ("民族", 8),
    ("公民身份号码", 21),
    ("联系电话", 15),
    ("人口类型", 8),
    ("状态", 8),
    ("标签", 24),
)


class ExportExpired(DomainError):
    """An approved export past its expiry: ask again (410)."""

    status = 410
    code = "export_expired"


@dataclass(frozen=True)
class ExportFile:
    """A downloaded export: the workbook's bytes, its file name, rows, and the watermark it carries."""

    data: bytes
    filename: str
    rows: int
    watermark: str


def status_of(export: ExportRequest, now: dt.datetime) -> ExportStatus:
    """Returns where an export stands now: an approved one past its expiry is `expired`."""
    if export.status == ExportStatus.approved and export.expires_at is not None and now >= export.expires_at:
        return ExportStatus.expired
    return export.status


def read(export: ExportRequest, now: dt.datetime) -> ExportRead:
    """Returns the read model of an export request (its derived status)."""
    data = ExportRead.model_validate(export)
    data.status = status_of(export, now)
    return data


def request_export(*, db: Session, ctx: Context, data: ExportCreate) -> ExportRequest:
    """Records an export request: the residents matching the filters in the requester's area are frozen now."""
    actor = ctx.actor
    for action in ("export.request", "resident.view"):
        require(actor, action, db=db, target_type="export", source_address=ctx.source_address, audit=ctx.audit)
    if actor.user_id is None:
        raise Forbidden("an export is requested by a signed-in user", code="export_needs_user")
    purpose = privacy.check_purpose(data.purpose)
    if data.include_personal and not privacy.may_unmask(actor):
        raise Forbidden(
            "your role sees identity numbers and phones masked only: request the export without them",
            code="export_personal",
        )
    given = data.filters
    filters = ResidentFilter(
        area=given.area,
        status=given.status,
        residence_type=given.residence_type,
        tag=given.tag,
        born_from=given.born_from,
        born_to=given.born_to,
    )
    stmt = people_service.statement(db=db, actor=actor, filters=filters)
    ids = list(db.scalars(stmt.with_only_columns(Resident.id).order_by(Resident.id)))
    if not ids:
        raise Invalid("no resident in your area matches these filters", code="export_empty", field="filters")
    if len(ids) > MAX_ROWS:
        raise InputError(
            [
                Issue(
                    "filters", f"{len(ids):,} residents match; an export holds at most {MAX_ROWS:,}: narrow the filters"
                )
            ],
            "export too large",
        )
    export = fill_defaults(
        ExportRequest(
            requested_by_user_id=actor.user_id,
            requester_name=actor.name[:100],
            requester_role=actor.role,
            scope_path=actor.scope_path,
            filters=filters.as_dict(),
            purpose=purpose,
            include_personal=data.include_personal,
            resident_ids=ids,
            row_count=len(ids),
            status=ExportStatus.pending,
            requested_at=ctx.now,
        )
    )
    db.add(export)
    db.flush()
    _audit(db, ctx, "resident.export_request", export, purpose=purpose)
    return export


def _audit(db: Session, ctx: Context, action: str, export: ExportRequest, **extra: Any) -> None:
    auth_service.write_audit(
        db=db,
        actor=ctx.actor,
        action=action,
        target_type="export",
        target_id=export.id,
        purpose=extra.pop("purpose", None),
        source_address=ctx.source_address,
        detail={"rows": export.row_count, "include_personal": export.include_personal, **extra},
    )


def _approvable(actor: Actor) -> ColumnElement[bool]:
    """Exports whose requester's area lies within the approver's area."""
    if actor.scope_path is None:
        return true()
    return ExportRequest.scope_path.startswith(actor.scope_path, autoescape=True)


def _denied(db: Session, ctx: Context, action: str, export_id: int, reason: str) -> AuditRecord:
    record = AuditRecord.of(
        ctx.actor,
        action,
        outcome=AuditOutcome.denied,
        target_type="export",
        target_id=str(export_id),
        source_address=ctx.source_address,
        detail={"reason": reason},
    )
    (ctx.audit or write_to_session)(db, record)
    return record


def list_exports(*, db: Session, ctx: Context, limit: int = 100) -> list[ExportRequest]:
    """Returns the export requests the actor may see: its own, and those it may approve; newest first."""
    actor = ctx.actor
    conditions = []
    if actor.user_id is not None:
        conditions.append(ExportRequest.requested_by_user_id == actor.user_id)
    if can(actor, "export.approve"):
        conditions.append(_approvable(actor))
    if not conditions:
        return []
    stmt = (
        select(ExportRequest)
        .where(or_(*conditions))
        .order_by(ExportRequest.requested_at.desc(), ExportRequest.id.desc())
    )
    return list(db.scalars(stmt.limit(limit)))


def get_export(*, db: Session, ctx: Context, export_id: int) -> ExportRequest:
    """Returns an export request the actor requested or may approve; 404 otherwise (audited)."""
    export = db.get(ExportRequest, export_id) if 0 < export_id <= people_service.MAX_ID else None
    if export is None:
        raise NotFoundError(f"export {export_id} not found")
    mine = export.requested_by_user_id == ctx.actor.user_id
    approver = can(ctx.actor, "export.approve") and (
        ctx.actor.scope_path is None or (export.scope_path or "").startswith(ctx.actor.scope_path)
    )
    if mine or approver:
        return export
    record = _denied(db, ctx, "resident.export_read", export_id, "neither the requester nor an approver of its area")
    raise OutOfScope(f"export {export_id} not found", audit_record=record)


def decide(*, db: Session, ctx: Context, export_id: int, approve: bool, note: str | None = None) -> ExportRequest:
    """Approves or refuses a pending export: export.approve, within the approver's area, never one's own request."""
    actor = ctx.actor
    require(
        actor,
        "export.approve",
        db=db,
        target_type="export",
        target_id=export_id,
        source_address=ctx.source_address,
        audit=ctx.audit,
    )
    export = get_export(db=db, ctx=ctx, export_id=export_id)
    if export.requested_by_user_id == actor.user_id:
        record = _denied(db, ctx, "resident.export_approve", export_id, "the requester may not decide their own export")
        raise PermissionDenied(
            "an export is approved by someone other than its requester (双人审批): ask another approver",
            audit_record=record,
            action="export.approve",
        )
    current = status_of(export, ctx.now)
    if current != ExportStatus.pending:
        raise Conflict(f"export {export_id} is {current} already", code="export_decided")
    export.status = ExportStatus.approved if approve else ExportStatus.refused
    export.decided_by_user_id = actor.user_id
    export.decided_by_name = actor.name[:100]
    export.decided_at = ctx.now
    export.decision_note = note
    if approve:
        export.expires_at = ctx.now + dt.timedelta(hours=get_settings().people_export_valid_hours)
    db.flush()
    _audit(db, ctx, "resident.export_approve" if approve else "resident.export_refuse", export, note=note)
    return export


def cancel(*, db: Session, ctx: Context, export_id: int) -> ExportRequest:
    """Withdraws the actor's own export request (pending or approved); it can no longer be downloaded."""
    export = get_export(db=db, ctx=ctx, export_id=export_id)
    if export.requested_by_user_id != ctx.actor.user_id:
        raise Forbidden("only the requester withdraws an export request", code="not_requester")
    if export.status not in (ExportStatus.pending, ExportStatus.approved):
        raise Conflict(f"export {export_id} is {export.status} already", code="export_decided")
    export.status = ExportStatus.cancelled
    db.flush()
    _audit(db, ctx, "resident.export_cancel", export)
    return export


def download(*, db: Session, ctx: Context, export_id: int) -> ExportFile:
    """Returns the watermarked workbook of an approved, unexpired export to its requester; the download is audited
    as a read of the personal data of every resident in it."""
    actor = ctx.actor
    require(
        actor,
        "export.request",
        db=db,
        target_type="export",
        target_id=export_id,
        source_address=ctx.source_address,
        audit=ctx.audit,
    )
    export = get_export(db=db, ctx=ctx, export_id=export_id)
    if export.requested_by_user_id != actor.user_id:
        record = _denied(db, ctx, "resident.export_download", export_id, "only the requester downloads an export")
        raise PermissionDenied("only the requester downloads an export", audit_record=record, action="export.request")
    current = status_of(export, ctx.now)
    if current == ExportStatus.expired:
        raise ExportExpired(f"export {export_id} expired at {_local(export.expires_at)}: request it again")
    if current != ExportStatus.approved:
        waiting = "is waiting for approval" if current == ExportStatus.pending else f"was {current}"
        raise Conflict(f"export {export_id} {waiting}: it cannot be downloaded", code="export_not_approved")
    stamp = _local(ctx.now)
    who = f"{actor.name}（#{actor.user_id}）"
    watermark = f"导出人 {who} · {stamp} · 导出申请 #{export.id} · 仅限：{export.purpose}"[:250]
    data, rows, shown_ids = _workbook(db=db, ctx=ctx, export=export, watermark=watermark)
    export.download_count += 1
    export.last_downloaded_at = ctx.now
    db.flush()
    privacy.audit_read(
        db=db,
        actor=actor,
        kind=privacy.ReadKind.export,
        resident_ids=shown_ids,
        purpose=export.purpose,
        source_address=ctx.source_address,
        detail={"export_id": export.id, "rows": rows, "include_personal": export.include_personal},
    )
    filename = f"residents-export-{export.id}-{ctx.now.astimezone(get_settings().tz):%Y%m%d-%H%M}.xlsx"
    return ExportFile(data=data, filename=filename, rows=rows, watermark=watermark)


def _local(value: dt.datetime | None) -> str:
    return value.astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M") if value else ""


def _footer(text: str) -> str:
    # NOTE: "&" starts a code in Excel headers and footers; a literal one is doubled.
    return "&C" + text.replace("&", "&&")[:240]


def _workbook(*, db: Session, ctx: Context, export: ExportRequest, watermark: str) -> tuple[bytes, int, list[int]]:
    actor = ctx.actor
    ring = privacy.keyring()
    shown_levels = set(privacy.visible_sensitivities(actor))
    # NOTE: checked again at download: a requester whose role no longer unmasks gets masked values.
    clear = export.include_personal and privacy.may_unmask(actor)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False})
    book.set_properties(
        {
            "title": f"人口信息导出 #{export.id}",
            "author": actor.name,
            "company": "gridgov",
            "comments": watermark,
            "keywords": watermark,
        }
    )
    book.set_custom_property("watermark", watermark)
    mark = book.add_format({"bold": True, "font_color": "#C00000", "font_size": 12})
    header = book.add_format({"bold": True, "bg_color": "#EEEEEE", "border": 1})
    text = book.add_format({"num_format": "@"})
    sheet = book.add_worksheet("人口信息")
    sheet.set_header(_footer(watermark))
    sheet.set_footer(_footer(watermark + " · 第 &P/&N 页"))
    sheet.merge_range(0, 0, 0, len(COLUMNS) - 1, watermark, mark)
    described = "；".join(f"{k}={v}" for k, v in export.filters.items()) or "无"
    sheet.merge_range(
        1,
        0,
        1,
        len(COLUMNS) - 1,
        f"审批人：{export.decided_by_name}（{_local(export.decided_at)}）；筛选条件：{described}；"
        f"{'含身份号码与电话明文' if clear else '身份号码与电话已脱敏'}。"
        "本表含个人信息，仅限上述用途使用，不得转发、上传群聊或另作他用，用后删除。",
    )
    for column, (title, width) in enumerate(COLUMNS):
        sheet.write(2, column, title, header)
        sheet.set_column(column, column, width, text)
    sheet.freeze_panes(3, 0)
    sheet.repeat_rows(2)
    row_index = 3
    shown_ids: list[int] = []
    ids = list(export.resident_ids)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        # NOTE: re-selected through the requester's scope now: a requester moved to another area sees less.
        stmt = (
            select(Resident)
            .join(Household)
            .where(Resident.id.in_(chunk), people_service.visible(actor))
            .options(
                selectinload(Resident.household).selectinload(Household.building),
                selectinload(Resident.tags).selectinload(ResidentTag.tag),
            )
            .order_by(Household.area_path, Household.room, Resident.id)
        )
        for resident in db.scalars(stmt):
            household = resident.household
            if clear:
                id_number = privacy.reveal(resident, privacy.ID_NUMBER, ring)
                phone = privacy.reveal(resident, privacy.PHONE, ring)
            else:
                id_number = privacy.masked(resident, privacy.ID_NUMBER, ring)
                phone = privacy.masked(resident, privacy.PHONE, ring)
            tags = "、".join(
                link.tag.name
                for link in sorted(resident.tags, key=lambda link: link.tag.code)
                if link.tag.sensitivity in shown_levels
            )
            values = [
                row_index - 2,
                household.building.code,
                household.building.name,
                household.room,
                RELATION_ZH[resident.relation],
                privacy.show_name(actor, resident.name),
                GENDER_ZH.get(resident.gender, "") if resident.gender else "",
                privacy.show_birth(actor, resident.birth_date) or "",
                resident.ethnicity or "",
                id_number or "",
                phone or "",
                RESIDENCE_ZH[resident.residence_type],
                STATUS_ZH[resident.status],
                tags,
            ]
            sheet.write_number(row_index, 0, values[0])
            for column, value in enumerate(values[1:], start=1):
                sheet.write_string(row_index, column, str(value))
            shown_ids.append(resident.id)
            row_index += 1
    notes = book.add_worksheet("说明")
    notes.set_header(_footer(watermark))
    notes.set_footer(_footer(watermark))
    notes.write(0, 0, watermark, mark)
    lines = [
        f"导出申请 #{export.id}：申请人 {export.requester_name}，申请时间 {_local(export.requested_at)}。",
        f"用途：{export.purpose}",
        f"审批人：{export.decided_by_name}，审批时间 {_local(export.decided_at)}，"
        f"有效期至 {_local(export.expires_at)}。",
        f"共 {row_index - 3} 人（申请时 {export.row_count} 人；仅含下载人辖区内的居民）。",
        "本文件每次下载均记入审计日志（下载人、时间、涉及居民）。水印标明导出人，文件外传可追溯。",
        "依据《个人信息保护法》，本文件仅限上述用途使用，不得转发、上传群聊或另作他用；用毕请删除。",
    ]
    for index, line in enumerate(lines, start=2):
        notes.write(index, 0, line)
    notes.set_column(0, 0, 110)
    book.close()
    return buffer.getvalue(), row_index - 3, shown_ids
