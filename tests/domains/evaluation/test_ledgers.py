"""Case ledgers (台账): only the actor's cases, the filters, the watermark, no personal data, the audit, the cap."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core.errors import InputError, Invalid
from gridgov.core.permissions import PermissionDenied
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.enums import CaseStage, Channel
from gridgov.domains.evaluation import bulletins, ledgers, xlsx
from gridgov.domains.evaluation.ledgers import LedgerFilter
from tests.domains.cases.world import STREET_E, STREET_W, World
from tests.domains.evaluation.bulletin_world import CONTACT_NAME, CONTACT_PHONE, November, build_november, user


@pytest.fixture
def november(db: Session, world: World) -> November:
    return build_november(db, world)


def cells(data: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(data))[ledgers.SHEET]
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def numbers(data: bytes) -> set[str]:
    return {row[0] for row in cells(data)[3:]}


def test_a_ledger_holds_only_the_actors_cases_with_a_watermark_and_no_personal_data(db, november, now):
    west = user(db, "street_w", Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W, "西街道派遣员")
    data = ledgers.export_cases(db=db, actor=west, filters=LedgerFilter())
    west_cases = {c.number for c in [*november.on_time, november.overdue, november.snapshot, november.october]}
    assert numbers(data) == west_cases  # not the east street's case
    watermark = f"导出人 西街道派遣员（#{west.user_id}） · 2026-11-25 09:00"
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook[ledgers.SHEET]
    assert sheet["A1"].value == watermark  # the first line, above the table
    assert sheet.oddHeader.center.text == watermark and sheet.oddFooter.center.text == watermark
    assert workbook.properties.description == watermark
    assert [p.value for p in workbook.custom_doc_props.props if p.name == "watermark"] == [watermark]
    assert sheet.protection.sheet is False  # protection off: the mark is visible, not a lock
    rows = cells(data)
    assert rows[2][:6] == ["编号", "渠道", "事项大类", "事项", "紧急程度", "标题"]
    text = "\n".join(str(value) for row in rows for value in row if value is not None)
    assert CONTACT_PHONE not in text and CONTACT_NAME not in text
    assert not {"描述", "报告人", "联系电话", "处置结果"} & set(rows[2])  # free text and people stay out
    overdue = next(row for row in rows if row[0] == november.overdue.number)
    header = rows[2]
    assert overdue[header.index("是否超期")] == "是" and overdue[header.index("街道")] == "经八路街道"
    assert overdue[header.index("上报时间")] == "2026-11-25 09:00"

    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "ledger.export")).one()
    assert audit.actor_user_id == west.user_id and audit.target_type == "ledger"
    assert audit.detail == {"filters": {}, "rows": len(west_cases), "bytes": len(data)}


def test_the_filters_narrow_the_ledger_and_are_audited(db, november, world):
    leader = user(db, "leader", Role.district_leader, "CENTRE", None, "区领导")

    def export(**filters) -> set[str]:
        return numbers(ledgers.export_cases(db=db, actor=leader, filters=LedgerFilter(**filters)))

    everything = export()
    assert november.october.number in everything and november.late.number in everything
    november_only = export(period=bulletins.parse_period("2026-11"))
    assert november.october.number not in november_only and len(november_only) == len(everything) - 1
    assert export(area=STREET_E) == {november.late.number}
    assert export(unit=f"{STREET_E}-HWS") == {november.late.number}
    assert export(overdue_only=True) >= {november.overdue.number} and november.late.number not in export(
        overdue_only=True, stages=(CaseStage.dispatched,)
    )
    closed = {c.number for c in [*november.on_time, november.late, november.october]}
    assert export(stages=(CaseStage.closed,)) == closed
    assert export(channels=(Channel.snapshot,)) == {november.snapshot.number}
    assert export(matter_types=("SJ0501",)) == set()
    exports = select(AuditEntry).where(AuditEntry.action == "ledger.export").order_by(AuditEntry.id.desc())
    last = db.scalars(exports).first()
    assert last.detail["filters"] == {"matter_types": ["SJ0501"]} and last.detail["rows"] == 0


def test_unknown_codes_a_bad_period_and_too_many_rows_are_refused_and_nothing_is_audited(db, november):
    leader = user(db, "leader", Role.district_leader, "CENTRE", None, "区领导")
    with pytest.raises(InputError) as refused:
        ledgers.export_cases(db=db, actor=leader, filters=LedgerFilter(area="999", unit="NOPE", matter_types=("XX",)))
    assert {(i.field, i.message) for i in refused.value.issues} == {
        ("area", "unknown area code '999'"),
        ("unit", "unknown unit code 'NOPE'"),
        ("matter", "unknown matter type code(s): XX"),
    }
    with pytest.raises(InputError, match="7 cases match; a ledger holds at most 3: narrow the filters"):
        ledgers.export_cases(db=db, actor=leader, filters=LedgerFilter(), max_rows=3)
    with pytest.raises(Invalid, match="bad period"):
        ledgers.period_of(period="2026-11-31", first=None, last=None)
    with pytest.raises(Invalid, match="either a period or from/to"):
        ledgers.period_of(period="2026-11", first=dt.date(2026, 11, 1), last=None)
    assert db.scalars(select(AuditEntry).where(AuditEntry.action == "ledger.export")).first() is None


def test_a_role_without_ledger_export_is_refused(db, november, world):
    grid_worker = Actor(name="网格员", role=Role.grid_worker, scope_path=world.area(STREET_W).path)
    with pytest.raises(PermissionDenied, match="may not ledger.export"):
        ledgers.export_cases(db=db, actor=grid_worker, filters=LedgerFilter())


def test_the_streamed_sheet_escapes_text_keeps_types_and_reads_back_with_openpyxl():
    setup = xlsx.SheetSetup(
        name="台账 'x'",
        widths=[12, 8],
        freeze_rows=1,
        print_title_row=1,
        header="导出人 张三 & 李四",
        footer="<mark>",
        custom={"watermark": "导出人 A & B"},
    )
    with xlsx.StreamingSheet(setup) as sheet:
        sheet.append(["编号", "值"], style=xlsx.HEADER)
        sheet.append(["a < b & c > d", 3, 2.5, True, None, "", " padded ", "bell\x07gone"])
    workbook = load_workbook(io.BytesIO(sheet.data))
    ws = workbook["台账 'x'"]
    assert [c.value for c in ws[2]] == ["a < b & c > d", 3, 2.5, True, None, None, " padded ", "bellgone"]
    assert ws["A1"].font.b and ws.freeze_panes == "A2" and ws.column_dimensions["A"].width == 12
    assert ws.oddHeader.center.text == "导出人 张三 && 李四"  # "&&": an ampersand, not a formatting code
    assert ws.oddFooter.center.text == "<mark>" and ws.print_title_rows == "$1:$1"
    assert [(p.name, p.value) for p in workbook.custom_doc_props.props] == [("watermark", "导出人 A & B")]
