"""The catalogue's crosswalk section (分类对照): external categories (12345 诉求分类) → matter types, in YAML and
XLSX, imported all-or-nothing with the rest, exported back, and present in the Jinshui demo catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.core.errors import InputError, Issue
from gridgov.demo.catalog import load_static_catalog
from gridgov.domains.catalog import service
from gridgov.domains.catalog.models import CategoryMapping, MatterType, Unit
from gridgov.domains.catalog.schemas import CatalogDocument, SectionCount
from tests.domains.catalog.helpers import write_both, write_yaml

CROSSWALKS = [
    {"source": "12345", "external_code": "010101", "external_name": "市容环境/占道经营", "matter_type": "E0501"},
    {"source": "12345", "external_code": "020101", "external_name": "环境卫生/垃圾清运", "matter_type": "E0102"},
    {"external_code": "030101", "external_name": "市政设施/井盖", "matter_type": "C0105"},  # source defaults to 12345
    {"source": "szcg", "external_code": "010101", "matter_type": "C0105"},  # same code, another system
]


@pytest.fixture
def with_crosswalks(sample: dict[str, Any]) -> dict[str, Any]:
    return {**sample, "crosswalks": [dict(row) for row in CROSSWALKS]}


def _import(db: Session, data: dict[str, Any]) -> Any:
    return service.import_document(db=db, document=CatalogDocument.model_validate(data), source="cat.yaml")


def _mapping(db: Session) -> dict[tuple[str, str], tuple[str | None, str]]:
    rows = service.list_crosswalks(db=db)
    return {(r.source, r.external_code): (r.external_name, r.matter_type.code) for r in rows}


def _issues(path: Path) -> list[Issue]:
    with pytest.raises(InputError) as caught:
        service.load_file(path)
    return caught.value.issues


def test_yaml_and_xlsx_carry_the_crosswalk_the_same_way(with_crosswalks, tmp_path):
    paths = write_both(with_crosswalks, tmp_path)
    expected = CatalogDocument.model_validate(with_crosswalks)
    assert expected.crosswalks[2].source == "12345"
    assert service.load_file(paths["yaml"]) == expected
    assert service.load_file(paths["xlsx"]) == expected
    workbook = load_workbook(paths["xlsx"])
    assert workbook.sheetnames[-1] == "crosswalks"
    rows = list(workbook["crosswalks"].iter_rows(values_only=True))
    assert rows[0] == ("source", "external_code", "external_name", "matter_type")
    assert rows[1] == ("12345", "010101", "市容环境/占道经营", "E0501")


def test_xlsx_without_crosswalks_keeps_the_classic_layout(sample, tmp_path):
    workbook = load_workbook(write_both(sample, tmp_path)["xlsx"])
    assert "crosswalks" not in workbook.sheetnames


def test_a_chinese_crosswalk_sheet_with_chinese_headers_is_read(with_crosswalks, tmp_path):
    path = write_both(with_crosswalks, tmp_path)["xlsx"]
    workbook = load_workbook(path)
    ws = workbook["crosswalks"]
    ws.title = "对照表"
    for cell, title in zip(ws[1], ("来源", "分类编码", "分类名称", "事项编码"), strict=True):
        cell.value = title
    workbook.save(path)
    assert service.load_file(path) == CatalogDocument.model_validate(with_crosswalks)


def test_xlsx_crosswalk_errors_name_sheet_row_and_column(with_crosswalks, tmp_path):
    path = write_both(with_crosswalks, tmp_path)["xlsx"]
    workbook = load_workbook(path)
    ws = workbook["crosswalks"]
    ws.cell(row=3, column=2).value = None  # external_code of the second row
    ws.cell(row=4, column=3, value="x" * 201)  # external_name too long
    workbook.save(path)
    issues = _issues(path)
    assert [(i.where, i.field) for i in issues] == [
        ("cat.xlsx sheet crosswalks row 3", "external_code"),
        ("cat.xlsx sheet crosswalks row 4", "external_name"),
    ]
    assert issues[0].message == "required"


def test_xlsx_crosswalk_sheet_missing_a_required_column(with_crosswalks, tmp_path):
    path = write_both(with_crosswalks, tmp_path)["xlsx"]
    workbook = load_workbook(path)
    workbook["crosswalks"].delete_cols(4)  # matter_type
    workbook.save(path)
    (issue,) = _issues(path)
    assert issue == Issue("cat.xlsx sheet crosswalks row 1", "missing column(s) matter_type", "matter_type")


def test_import_creates_then_leaves_unchanged_then_updates(db, areas, with_crosswalks):
    report = _import(db, with_crosswalks)
    assert report.crosswalks == SectionCount(created=4)
    assert "crosswalks" in report.sections()
    assert _mapping(db) == {
        ("12345", "010101"): ("市容环境/占道经营", "E0501"),
        ("12345", "020101"): ("环境卫生/垃圾清运", "E0102"),
        ("12345", "030101"): ("市政设施/井盖", "C0105"),
        ("szcg", "010101"): (None, "C0105"),
    }
    assert _import(db, with_crosswalks).crosswalks == SectionCount(unchanged=4)

    # A later file may carry the crosswalk alone (its matter types are in the database), and re-point a code.
    later = {"crosswalks": [{"external_code": "010101", "external_name": "占道经营", "matter_type": "E0102"}]}
    assert _import(db, later).crosswalks == SectionCount(updated=1)
    assert _mapping(db)[("12345", "010101")] == ("占道经营", "E0102")
    assert len(_mapping(db)) == 4  # rows the file leaves out are kept


def test_import_with_a_bad_crosswalk_writes_nothing_at_all(db, areas, with_crosswalks):
    with_crosswalks["crosswalks"].append({"external_code": "990101", "matter_type": "NOPE"})
    with_crosswalks["crosswalks"].append({"external_code": "020101", "matter_type": "E0501"})
    with pytest.raises(InputError) as caught:
        _import(db, with_crosswalks)
    assert caught.value.summary == "cat.yaml: catalogue rejected, nothing written"
    assert [(i.where, i.field, i.message) for i in caught.value.issues] == [
        (
            "cat.yaml crosswalks item 5 (source 12345, code 990101)",
            "matter_type",
            "matter type 'NOPE' is neither in the file nor in the database",
        ),
        (
            "cat.yaml crosswalks item 6 (source 12345, code 020101)",
            "external_code",
            "duplicate code '020101' of source '12345' "
            "(first at cat.yaml crosswalks item 2 (source 12345, code 020101))",
        ),
    ]
    for model in (CategoryMapping, MatterType, Unit):
        assert db.scalar(select(func.count()).select_from(model)) == 0


def test_yaml_crosswalk_errors_name_the_item(with_crosswalks, tmp_path):
    with_crosswalks["crosswalks"][1]["colour"] = "red"
    (issue,) = _issues(write_yaml(with_crosswalks, tmp_path / "cat.yaml"))
    assert issue == Issue("cat.yaml crosswalks item 2 (source 12345, code 020101)", "unknown field", "colour")


def test_export_writes_the_crosswalk_back(db, areas, with_crosswalks, tmp_path):
    _import(db, with_crosswalks)
    exported = service.export_document(db=db)
    assert [(c.source, c.external_code, c.matter_type) for c in exported.crosswalks] == [
        ("12345", "010101", "E0501"),
        ("12345", "020101", "E0102"),
        ("12345", "030101", "C0105"),
        ("szcg", "010101", "C0105"),
    ]
    for suffix in (".yaml", ".xlsx"):
        path = tmp_path / f"export{suffix}"
        service.write_file(exported, path)
        assert service.load_file(path) == exported


def test_the_demo_catalogue_maps_typical_12345_categories_to_its_matter_types():
    demo = load_static_catalog()
    matters = {m.code: m.name for m in demo.matter_types}
    by_name = {c.external_name: c.matter_type for c in demo.crosswalks}
    assert all(c.source == "12345" and c.matter_type in matters for c in demo.crosswalks)
    assert len({c.external_code for c in demo.crosswalks}) == len(demo.crosswalks) >= 30
    assert matters[by_name["市容环境/占道经营"]] == "占道经营"
    assert matters[by_name["环境卫生/垃圾清运"]] == "暴露垃圾"
    assert matters[by_name["市政设施/井盖"]].endswith("井盖")
    assert matters[by_name["噪声扰民/社会生活噪声"]] == "社会生活噪声"
    assert matters[by_name["违章建筑/私搭乱建"]] == "私搭乱建"
    assert {"物业管理/物业服务纠纷", "供水/管道漏水", "供暖/暖气不热"} <= set(by_name)
