"""Exports: a request with filters and purpose, approval by someone else (never oneself), a download that carries
a visible watermark on every sheet and is audited as a read of everyone in it, and expiry."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from gridgov.core import clock
from gridgov.core.errors import Conflict, Forbidden, Invalid
from gridgov.core.permissions import OutOfScope, PermissionDenied
from gridgov.domains.auth.enums import AuditOutcome
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.people import exports
from gridgov.domains.people.enums import ExportStatus
from gridgov.domains.people.schemas import ExportCreate, ExportFilters
from tests.domains.people.conftest import COMMUNITY
from tests.domains.people.helpers import LI_ID, WANG_PHONE, ZHANG_ID, ZHANG_PHONE, ZHAO_ID

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    current = [T0]
    clock.set_clock(lambda: current[0])
    try:
        yield current
    finally:
        clock.set_clock(None)


def ask(register, username: str, **body) -> exports.ExportRequest:
    data = ExportCreate(purpose=body.pop("purpose", "高龄津贴发放核对名单"), **body)
    return exports.request_export(db=register.db, ctx=register.ctx(username), data=data)


def sheets_of(data: bytes):
    return load_workbook(io.BytesIO(data)).worksheets


def test_an_export_is_approved_by_someone_else_and_downloaded_with_a_watermark(register, frozen):
    db = register.db
    export = ask(register, "secretary", filters=ExportFilters(area=COMMUNITY), include_personal=True)
    assert (
        export.status == ExportStatus.pending and export.row_count == 4 and export.scope_path.endswith(f"/{COMMUNITY}/")
    )
    with pytest.raises(Conflict, match="waiting for approval"):
        exports.download(db=db, ctx=register.ctx("secretary"), export_id=export.id)
    exports.decide(db=db, ctx=register.ctx("leader"), export_id=export.id, approve=True, note="同意")
    assert export.expires_at == T0 + dt.timedelta(hours=72)
    file = exports.download(db=db, ctx=register.ctx("secretary"), export_id=export.id)
    assert file.rows == 4 and "secretary 测试" in file.watermark and f"#{export.id}" in file.watermark
    assert "2026-11-25 17:00" in file.watermark  # the district's time
    books = sheets_of(file.data)
    assert [ws.title for ws in books] == ["人口信息", "说明"]
    for ws in books:  # a visible watermark on every sheet: the first row, and the printed header and footer
        assert ws["A1"].value == file.watermark
        assert file.watermark in ws.oddHeader.center.text and file.watermark in ws.oddFooter.center.text
    data = books[0]
    assert [c.value for c in data[3]][:6] == ["序号", "楼院编码", "楼院", "门牌/房号", "与户主关系", "姓名"]
    rows = {row[5]: row for row in data.iter_rows(min_row=4, values_only=True)}
    assert set(rows) == {"张三", "李四", "王五", "王小六"}
    assert rows["张三"][9] == ZHANG_ID and rows["张三"][10] == ZHANG_PHONE  # asked for in clear, approved
    assert rows["李四"][13] == "严重精神障碍患者"  # the secretary sees core tags
    assert export.download_count == 1
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "resident.export_download")).one()
    assert entry.detail["count"] == 4 and entry.detail["export_id"] == export.id and entry.purpose == export.purpose
    assert sorted(entry.detail["resident_ids"]) == sorted(export.resident_ids)


def test_nobody_approves_their_own_export_and_the_refusal_is_audited(register, frozen):
    db = register.db
    export = ask(register, "leader", purpose="全区老年人口统计复核")
    assert export.row_count == 5 and not export.include_personal
    with pytest.raises(PermissionDenied, match="someone other than its requester"):
        exports.decide(db=db, ctx=register.ctx("leader"), export_id=export.id, approve=True)
    denied = db.scalars(select(AuditEntry).where(AuditEntry.outcome == AuditOutcome.denied)).one()
    assert denied.action == "resident.export_approve" and denied.target_id == str(export.id)
    with pytest.raises(PermissionDenied):  # a secretary has no export.approve at all
        exports.decide(db=db, ctx=register.ctx("secretary"), export_id=export.id, approve=True)
    exports.decide(db=db, ctx=register.ctx("leader2"), export_id=export.id, approve=True)
    with pytest.raises(Conflict, match="approved already"):
        exports.decide(db=db, ctx=register.ctx("leader2"), export_id=export.id, approve=False)
    file = exports.download(db=db, ctx=register.ctx("leader"), export_id=export.id)
    rows = list(sheets_of(file.data)[0].iter_rows(min_row=4, values_only=True))
    assert len(rows) == 5
    flat = str(rows)
    for secret in (ZHANG_ID, LI_ID, ZHAO_ID, ZHANG_PHONE, WANG_PHONE, "张三", "严重精神障碍患者", "低保户"):
        assert secret not in flat  # masked values, masked names, no sensitive or core tags for a leader
    assert "张*" in flat and "空巢老人" in flat


def test_only_the_requester_downloads_and_refused_or_expired_exports_do_not(register, frozen):
    db = register.db
    export = ask(register, "secretary")
    exports.decide(db=db, ctx=register.ctx("leader"), export_id=export.id, approve=True)
    with pytest.raises(OutOfScope):  # another community's secretary does not even see it
        exports.download(db=db, ctx=register.ctx("secretary_e"), export_id=export.id)
    with pytest.raises(PermissionDenied, match="only the requester"):  # nor does its approver download it
        exports.download(db=db, ctx=register.ctx("leader"), export_id=export.id)
    frozen[0] = T0 + dt.timedelta(hours=73)
    assert exports.status_of(export, clock.now()) == ExportStatus.expired
    with pytest.raises(exports.ExportExpired) as expired:
        exports.download(db=db, ctx=register.ctx("secretary"), export_id=export.id)
    assert expired.value.status == 410
    refused = ask(register, "secretary", purpose="走访名单打印核对")
    exports.decide(db=db, ctx=register.ctx("leader"), export_id=refused.id, approve=False, note="用途不明确")
    with pytest.raises(Conflict, match="was refused"):
        exports.download(db=db, ctx=register.ctx("secretary"), export_id=refused.id)
    downloads = db.scalars(select(AuditEntry).where(AuditEntry.action == "resident.export_download")).all()
    assert [e.outcome for e in downloads] == [AuditOutcome.denied]  # the approver's attempt; nothing went out


def test_export_requests_are_checked(register, frozen):
    with pytest.raises(Forbidden, match="masked only"):  # a leader may not ask for clear values
        ask(register, "leader", include_personal=True)
    with pytest.raises(Invalid, match="no resident"):
        ask(register, "secretary", filters=ExportFilters(tag="drug_user"))
    with pytest.raises(Invalid) as empty:
        ask(register, "secretary", purpose="查看")
    assert empty.value.details["field"] == "purpose"
    with pytest.raises(PermissionDenied):  # a grid worker has no export.request
        ask(register, "gw_a")
    mine = ask(register, "street", filters=ExportFilters(tag="empty_nest_elderly"))
    assert mine.row_count == 1  # 张三 only, within the street
    listed = {e.id for e in exports.list_exports(db=register.db, ctx=register.ctx("leader"))}
    assert mine.id in listed and exports.list_exports(db=register.db, ctx=register.ctx("secretary_e")) == []
    exports.cancel(db=register.db, ctx=register.ctx("street"), export_id=mine.id)
    with pytest.raises(Conflict):
        exports.decide(db=register.db, ctx=register.ctx("leader"), export_id=mine.id, approve=True)
