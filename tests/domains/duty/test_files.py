"""The roster workbook: exported, edited by hand, imported back; a bad file names every bad row and writes nothing."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from gridgov.core.errors import InputError
from gridgov.domains.duty import files, rotation, service
from gridgov.domains.duty.models import DutyRoster, DutyShift
from tests.domains.duty.conftest import OPERATOR

D = dt.date


def workbook(rows: list[list[object]], shifts: list[list[object]] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "值班表"
    sheet.append(["日期", "班次", "值班长", "值班人员", "备注"])
    for row in rows:
        sheet.append(row)
    if shifts is not None:
        extra = book.create_sheet("班次")
        extra.append(["代码", "名称", "时间", "启用"])
        for row in shifts:
            extra.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def count(db) -> int:
    return db.scalar(select(func.count(DutyRoster.id)))


def test_export_then_import_round_trips_and_applies_edits(duty):
    rotation.generate_month(
        db=duty.db,
        centre=duty.west,
        month="2026-12",
        rotation=rotation.Rotation(teams=[["w_disp1", "w_disp2"], ["w_disp3"], ["d_disp1"], ["d_disp2"]]),
        actor=OPERATOR,
    )
    data = files.export_roster(db=duty.db, centre=duty.west, start=D(2026, 12, 1), end=D(2027, 1, 1))
    book = load_workbook(io.BytesIO(data))
    sheet = book["值班表"]
    header = [c.value for c in sheet[1]]
    assert header == ["日期", "班次", "班次名称", "时间", "值班长", "值班长姓名", "值班人员", "值班人员姓名", "备注"]
    first = [c.value for c in sheet[2]]
    assert first[:7] == ["2026-12-01", "night", "夜班", "00:00-08:00", "w_disp1", "西街值班长", "w_disp2"]
    assert sheet.max_row == 1 + 93
    assert [c.value for c in book["班次"][2]] == ["night", "夜班", "00:00-08:00", 0, "是"]

    sheet["E2"], sheet["G2"], sheet["I2"] = "w_disp2", "w_disp1、w_disp3", "交换值班"
    sheet.delete_rows(3, 90)  # the import touches only the rows it has
    edited = io.BytesIO()
    book.save(edited)
    report = files.import_roster(
        db=duty.db, centre=duty.west, data=edited.getvalue(), filename="dec.xlsx", actor=OPERATOR
    )
    assert (report.rows, report.shifts) == (3, 3)
    assert count(duty.db) == 93
    row = service.get_roster(db=duty.db, centre=duty.west, day=D(2026, 12, 1), shift="night")
    assert row.leader.username == "w_disp2" and row.note == "交换值班"
    assert sorted(m.user.username for m in row.members) == ["w_disp1", "w_disp2", "w_disp3"]


def test_a_bad_workbook_lists_every_problem_and_writes_nothing(duty):
    data = workbook(
        [
            ["2026-12-01", "early", "w_disp1", "w_disp2", None],
            ["2026-12-32", "early", "w_disp1", None, None],
            ["2026-12-02", "early", None, "w_disp2", None],
            ["2026-12-03", "evening", "w_disp1", None, None],
            ["2026-12-04", "early", "e_disp1", None, None],
            ["2026-12-05", "早班", "w_disp1", "w_disp1, w_disp2", None],
        ]
    )
    with pytest.raises(InputError) as refused:
        files.import_roster(db=duty.db, centre=duty.west, data=data, filename="bad.xlsx", actor=OPERATOR)
    where = [(i.where, i.field) for i in refused.value.issues]
    assert where == [
        ("bad.xlsx sheet 值班表 row 3", "date"),
        ("bad.xlsx sheet 值班表 row 4", "leader"),
        ("bad.xlsx sheet 值班表 row 5", "shift"),
        ("bad.xlsx sheet 值班表 row 6", "leader"),
    ]
    assert "nothing written" in refused.value.summary
    assert count(duty.db) == 0


def test_a_shifts_sheet_defines_the_shifts_before_the_rows(duty):
    data = workbook(
        [["2026-12-01", "duty24", "w_disp1", None, None], ["2026-12-02", "全天", "w_disp2", None, None]],
        shifts=[["duty24", "全天", "08:00-08:00", "是"]],
    )
    report = files.import_roster(db=duty.db, centre=duty.west, data=data, filename="new.xlsx", actor=OPERATOR)
    assert (report.shifts, report.rows) == (1, 2)
    shift = duty.db.scalars(select(DutyShift).where(DutyShift.code == "duty24")).one()
    assert (shift.start_minute, shift.duration_minutes) == (480, 1440)
    bad = workbook([["2026-12-03", "x", "w_disp1", None, None]], shifts=[["x", "X", "25:00-01:00", "maybe"]])
    with pytest.raises(InputError) as refused:
        files.import_roster(db=duty.db, centre=duty.west, data=bad, filename="b.xlsx", actor=OPERATOR)
    assert {(i.where, i.field) for i in refused.value.issues} == {
        ("b.xlsx sheet 班次 row 2", "time"),
        ("b.xlsx sheet 班次 row 2", "active"),
    }


def test_not_a_workbook_and_unknown_columns_are_refused(duty):
    with pytest.raises(InputError, match="not an XLSX workbook"):
        files.import_roster(db=duty.db, centre=duty.west, data=b"date,shift\n", filename="x.xlsx", actor=OPERATOR)
    book = Workbook()
    book.active.title = "值班表"
    book.active.append(["日期", "班次", "值班长", "颜色"])
    book.active.append(["2026-12-01", "early", "w_disp1", "red"])
    buffer = io.BytesIO()
    book.save(buffer)
    with pytest.raises(InputError) as refused:
        files.import_roster(db=duty.db, centre=duty.west, data=buffer.getvalue(), filename="c.xlsx", actor=OPERATOR)
    assert "unknown column '颜色'" in refused.value.issues[0].message
