"""Reading and writing catalogue files: YAML and XLSX, with errors that name section/sheet, item/row and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from gridgov.core.errors import InputError, Issue
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.catalog import service
from gridgov.domains.catalog.enums import Stage, Urgency
from gridgov.domains.catalog.schemas import CatalogDocument
from tests.domains.catalog.helpers import write_both, write_yaml


def _issues(path: Path) -> list[Issue]:
    with pytest.raises(InputError) as caught:
        service.load_file(path)
    return caught.value.issues


def _edit_cell(path: Path, sheet: str, row: int, column: str, value: Any) -> None:
    """Overwrites the cell under header `column` in `row` of `sheet`."""
    workbook = load_workbook(path)
    ws = workbook[sheet]
    header = [cell.value for cell in ws[1]]
    ws.cell(row=row, column=header.index(column) + 1, value=value)
    workbook.save(path)


def test_yaml_and_xlsx_read_back_the_same_document(sample, tmp_path):
    paths = write_both(sample, tmp_path)
    expected = CatalogDocument.model_validate(sample)
    assert service.load_file(paths["yaml"]) == expected
    assert service.load_file(paths["xlsx"]) == expected


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".xlsx"])
def test_write_file_round_trips(sample, tmp_path, suffix):
    document = CatalogDocument.model_validate(sample)
    path = tmp_path / f"out{suffix}"
    service.write_file(document, path)
    again = service.load_file(path)
    assert again == document
    assert again.matter_types[0].time_limits[Urgency.emergency][Stage.handle] == "2h"
    assert again.responsibilities[1].co_units == ["JS-CGJ"]


def test_xlsx_layout_has_one_sheet_per_section_and_a_time_limits_sheet(sample, tmp_path):
    path = write_both(sample, tmp_path)["xlsx"]
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["units", "matter_types", "time_limits", "responsibilities", "grid_access", "powers"]
    limits = list(workbook["time_limits"].iter_rows(values_only=True))
    assert limits[0] == ("matter", "urgency", "stage", "limit")
    assert ("C0105", "emergency", "handle", "2h") in limits
    matter_header = [cell.value for cell in workbook["matter_types"][1]]
    assert "time_limits" not in matter_header
    row = {h: c.value for h, c in zip(matter_header, workbook["matter_types"][2], strict=True)}
    assert row["department_only"] == "yes" and row["keywords"] == "井盖, 燃气"


def test_yaml_keeps_leading_zeros_of_unquoted_codes(tmp_path):
    path = tmp_path / "cat.yaml"
    path.write_text(
        "matter_types:\n"
        "- {code: 0101, name: 上水井盖, kind: component, major_code: 01, major_name: 公用设施, minor_code: 01,\n"
        "   department_only: yes, time_limits: {normal: {handle: 4wh}}}\n",
        encoding="utf-8",
    )
    matter = service.load_file(path).matter_types[0]
    assert (matter.code, matter.major_code, matter.minor_code) == ("0101", "01", "01")
    assert matter.department_only is True


def test_yaml_value_error_names_section_item_code_and_field(sample, tmp_path):
    sample["matter_types"][1]["department_only"] = "可能"
    (issue,) = _issues(write_yaml(sample, tmp_path / "cat.yaml"))
    assert issue == Issue(
        where="cat.yaml matter_types item 2 (code E0102)",
        field="department_only",
        message="expected yes/no, got '可能'",
    )


def test_yaml_time_limit_errors_name_urgency_and_stage(sample, tmp_path):
    sample["matter_types"][0]["time_limits"]["normal"]["handle"] = "4 hours"
    sample["matter_types"][2]["time_limits"]["sometimes"] = {"handle": "1wd"}
    issues = _issues(write_yaml(sample, tmp_path / "cat.yaml"))
    assert [(i.where, i.field) for i in issues] == [
        ("cat.yaml matter_types item 1 (code C0105)", "time_limits.normal.handle"),
        ("cat.yaml matter_types item 3 (code E0501)", "time_limits.sometimes"),
    ]
    assert "expected a positive number followed by wh, wd or h" in issues[0].message
    assert "'normal', 'urgent' or 'emergency'" in issues[1].message and "'sometimes'" in issues[1].message


def test_yaml_missing_unknown_and_enum_fields(sample, tmp_path):
    del sample["units"][0]["name"]
    sample["units"][1]["colour"] = "red"
    sample["responsibilities"][0]["level"] = "province"
    issues = _issues(write_yaml(sample, tmp_path / "cat.yaml"))
    assert [(i.where, i.field, i.message.split(",")[0]) for i in issues] == [
        ("cat.yaml units item 1 (code JS-CYZX)", "name", "required"),
        ("cat.yaml units item 2 (code JS-CGJ)", "colour", "unknown field"),
        ("cat.yaml responsibilities item 1 (matter C0105, everywhere)", "level", "input should be 'district'"),
    ]
    assert issues[2].message.endswith("got 'province'")


def test_yaml_unknown_section_and_syntax_error(tmp_path):
    path = tmp_path / "cat.yaml"
    path.write_text("version: 1\nunitz: []\n", encoding="utf-8")
    (issue,) = _issues(path)
    assert (issue.where, issue.field) == ("cat.yaml", "unitz") and issue.message.startswith("unknown section")

    path.write_text("units:\n  - code: A\n   name: [unclosed\n", encoding="utf-8")
    (issue,) = _issues(path)
    assert issue.where.startswith("cat.yaml line ") and "not valid YAML" in issue.message

    path.write_text("- just\n- a list\n", encoding="utf-8")
    assert "expected a mapping" in _issues(path)[0].message


def test_chinese_labels_are_accepted_for_enum_values(sample, tmp_path):
    sample["units"][4]["level"] = "街道"
    sample["matter_types"][0]["kind"] = "部件"
    sample["matter_types"][1]["time_limits"] = {"紧急": {"处置": "2wh"}}
    document = service.load_file(write_yaml(sample, tmp_path / "cat.yaml"))
    assert document.units[4].level == AreaLevel.street
    assert document.matter_types[1].time_limits == {Urgency.urgent: {Stage.handle: "2wh"}}


def test_xlsx_cell_error_names_sheet_row_and_column(sample, tmp_path):
    path = write_both(sample, tmp_path)["xlsx"]
    _edit_cell(path, "matter_types", 3, "department_only", "可能")
    _edit_cell(path, "units", 2, "kind", "bureau")
    issues = _issues(path)
    assert Issue("cat.xlsx sheet matter_types row 3", "expected yes/no, got '可能'", "department_only") in issues
    (kind,) = [i for i in issues if i.field == "kind"]
    assert kind.where == "cat.xlsx sheet units row 2" and kind.message.endswith("got 'bureau'")


def test_xlsx_time_limit_rows_are_checked_where_they_are(sample, tmp_path):
    path = write_both(sample, tmp_path)["xlsx"]
    workbook = load_workbook(path)
    ws = workbook["time_limits"]
    ws.append(["E0102", "urgent", "verify", "3 days"])  # row 11: bad limit
    ws.append(["X999", "normal", "handle", "1wd"])  # row 12: unknown matter
    ws.append(["E0102", "normal", "handle", "8wh"])  # row 13: second normal handle limit
    ws.append([None, None, None, None])  # blank rows are skipped
    ws.append(["E0501", "urgent", "wrap-up", "1wd"])  # row 15: unknown stage
    workbook.save(path)
    issues = _issues(path)
    assert [(i.where, i.field) for i in issues] == [
        ("cat.xlsx sheet time_limits row 11", "limit"),
        ("cat.xlsx sheet time_limits row 12", "matter"),
        ("cat.xlsx sheet time_limits row 13", "stage"),
        ("cat.xlsx sheet time_limits row 15", "stage"),
    ]
    assert "not in sheet matter_types" in issues[1].message
    assert "second normal handle limit" in issues[2].message


def test_xlsx_header_problems(sample, tmp_path):
    path = write_both(sample, tmp_path)["xlsx"]
    workbook = load_workbook(path)
    workbook["units"]["J1"] = "colour"
    workbook["units"]["J2"] = "red"
    workbook["powers"].delete_cols(4)  # category, a required column
    workbook.create_sheet("responsibility")
    workbook.create_sheet("说明")  # a notes sheet is skipped
    workbook.save(path)
    issues = _issues(path)
    assert Issue("cat.xlsx sheet responsibility", issues[-1].message) == issues[-1]
    assert "unknown sheet" in issues[-1].message
    colour = [i for i in issues if i.field == "colour"]
    assert colour and colour[0].where == "cat.xlsx sheet units row 1" and "unknown column 'colour'" in colour[0].message
    missing = [i for i in issues if i.where == "cat.xlsx sheet powers row 1"]
    assert missing and missing[0].message == "missing column(s) category"


def test_xlsx_with_chinese_headers_lists_and_yes_no(tmp_path):
    workbook = Workbook()
    ws = workbook.active
    ws.title = "事项"
    ws.append(["事项编码", "事项名称", "类别", "大类代码", "大类名称", "小类代码", "部门专办", "关键词"])
    ws.append(["E0501", "占道经营", "事件", "05", "街面秩序", 1, "否", "占道，摆摊、 流动摊贩"])
    ws.append([None] * 8)
    ws.append(["C0105", "燃气井盖", "component", 1, "公用设施", 5, "是", None])
    limits = workbook.create_sheet("时限")
    limits.append(["事项", "紧急程度", "环节", "时限"])
    limits.append(["E0501", "一般", "处置", "0.5wd"])
    limits.append(["C0105", "特急", "处置", "2h"])
    path = tmp_path / "手工.xlsx"
    workbook.save(path)

    document = service.load_file(path)
    first, second = document.matter_types
    assert first.kind.value == "event" and first.department_only is False
    assert first.minor_code == "1" and second.major_code == "1"  # numeric cells come back as text
    assert first.keywords == ["占道", "摆摊", "流动摊贩"]
    assert first.time_limits == {Urgency.normal: {Stage.handle: "0.5wd"}}
    assert second.department_only is True and second.time_limits == {Urgency.emergency: {Stage.handle: "2h"}}
    assert document.location("matter_types", 1) == "手工.xlsx sheet 事项 row 4"


def test_bad_paths(tmp_path):
    assert "unsupported file type '.csv'" in _issues(tmp_path / "cat.csv")[0].message
    assert _issues(tmp_path / "missing.yaml")[0].message == "file not found"
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    assert "not a readable XLSX workbook" in _issues(broken)[0].message
    with pytest.raises(InputError):
        service.write_file(CatalogDocument(), tmp_path / "out.json")
