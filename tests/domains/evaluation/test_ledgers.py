"""Case ledgers (台账): only the actor's cases, the filters, the watermark, no personal data, the audit, the cap."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from pathlib import Path

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
from gridgov.domains.evaluation import bulletins, ledgers
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


def test_the_sheet_keeps_its_layout_escapes_text_and_never_makes_formulas(db, november, now):
    leader = user(db, "leader", Role.district_leader, "CENTRE", None, "区领导 & 副手")
    november.overdue.title = '=HYPERLINK("http://evil.example","a < b & c")'
    november.late.title = " padded "
    november.late.address = "bell\x07gone http://x.example"
    db.flush()
    data = ledgers.export_cases(db=db, actor=leader, filters=LedgerFilter())
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook[ledgers.SHEET]
    table = cells(data)
    header, rows = table[2], {row[0]: row for row in table[3:]}
    title, address = header.index("标题"), header.index("地址")
    # a resident's text stays text: no formula, no hyperlink; control characters XML cannot carry are dropped
    assert rows[november.overdue.number][title] == '=HYPERLINK("http://evil.example","a < b & c")'
    assert sheet.cell(row=list(rows).index(november.overdue.number) + 4, column=title + 1).data_type == "s"
    late = rows[november.late.number]
    assert late[title] == " padded " and late[address] == "bellgone http://x.example"
    assert not sheet._hyperlinks
    # counts stay numbers, a missing value stays an empty cell
    assert late[header.index("回退次数") : header.index("延期次数") + 1] == [0, 0, 0]
    assert late[header.index("合理性认定")] is None
    # the layout: watermark bold red, headers bold on a fill, frozen below them and printed on every page
    assert sheet["A1"].font.b and sheet["A1"].font.color.rgb == "FFC00000"
    assert sheet["A3"].font.b and sheet["A3"].fill.fgColor.rgb == "FFDDE7F3"
    assert sheet.freeze_panes == "A4" and sheet.print_title_rows == "$3:$3"
    widths = {n: d.width for d in sheet.column_dimensions.values() for n in range(d.min, d.max + 1)}
    assert [round(widths[n] - 0.71) for n in range(1, len(ledgers.COLUMNS) + 1)] == [w for _, w in ledgers.COLUMNS]
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
    assert sheet.page_setup.fitToWidth in (None, 1) and sheet.page_setup.fitToHeight == 0  # absent: 1 (Excel's default)
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    watermark = sheet["A1"].value
    assert "区领导 & 副手" in watermark
    assert sheet.oddHeader.center.text == watermark.replace("&", "&&")  # "&&": an ampersand, not a formatting code
    assert sheet.oddFooter.center.text == watermark.replace("&", "&&") and sheet.oddFooter.right.text == "&P / &N"
    assert workbook.properties.keywords == watermark and workbook.properties.title == "案件台账"


def test_a_header_or_footer_is_kept_within_excels_255_characters():
    short = ledgers.header_footer("导出人 A & B", right="&R&P / &N")
    assert short == "&C导出人 A && B&R&P / &N"
    long = ledgers.header_footer("导出人 " + "&" * 300, right="&R&P / &N")
    assert len(long) <= 255 and long.endswith("…&R&P / &N") and "&…" not in long  # no half of an "&&"


def test_the_workbook_is_written_through_temporary_files_removed_afterwards_even_on_failure(
    db, november, monkeypatch, tmp_path
):
    leader = user(db, "leader", Role.district_leader, "CENTRE", None, "区领导")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[str] = []
    real = ledgers.xlsxwriter.Workbook

    def workbook(target, options):
        seen.append(options["tmpdir"])
        assert options["constant_memory"] and not options["strings_to_formulas"] and not options["strings_to_urls"]
        return real(target, options)

    monkeypatch.setattr(ledgers.xlsxwriter, "Workbook", workbook)
    assert len(numbers(ledgers.export_cases(db=db, actor=leader, filters=LedgerFilter()))) == 7
    assert seen and seen[0].startswith(str(tmp_path)) and list(tmp_path.iterdir()) == []

    written_so_far: list[list[Path]] = []
    real_clean = ledgers._clean

    def failing(value):
        if value == november.overdue.title:  # a case half-way down the ledger
            written_so_far.append([f for scratch in tmp_path.iterdir() for f in scratch.iterdir()])
            raise RuntimeError("the database went away")
        return real_clean(value)

    monkeypatch.setattr(ledgers, "_clean", failing)
    with pytest.raises(RuntimeError, match="went away"):
        ledgers.export_cases(db=db, actor=leader, filters=LedgerFilter())
    assert len(written_so_far) == 1 and written_so_far[0]  # rows were going to a temporary file ...
    assert list(tmp_path.iterdir()) == []  # ... which is gone
    exports = db.scalars(select(AuditEntry).where(AuditEntry.action == "ledger.export")).all()
    assert len(exports) == 1  # the failed export is not audited
