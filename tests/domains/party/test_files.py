"""The tree file (YAML, XLSX) and `gridgov party import|validate|export|summary`: row errors, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import xlsxwriter
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from gridgov import migrations
from gridgov.cli import app
from gridgov.core.db import create_db_engine, transaction
from gridgov.core.errors import InputError
from gridgov.domains.party import files, service
from gridgov.domains.party.models import PartyOrg
from tests.domains.areas.synthetic import load_tree
from tests.domains.party.world import W_N, PartyWorld, W, tree_document

runner = CliRunner()

GOOD_YAML = f"""\
orgs:
  - code: W-DGW
    name: 经八路街道党工委
    level: 街道党工委
    areas: [{W}]
    secretary: 王书记
  - code: W-N
    name: 经八北社区党委
    level: 社区党组织
    kind: 党委
    parent: W-DGW
    areas: {W_N}
  - code: W-N-G1
    name: 经八北社区第一网格党支部
    level: grid
    parent: W-N
    areas: "{W_N}001, {W_N}002"
"""


def write_xlsx(path: Path, header: list[str], rows: list[list[str]], sheet: str = "党组织") -> Path:
    workbook = xlsxwriter.Workbook(path)
    worksheet = workbook.add_worksheet(sheet)
    for column, title in enumerate(header):
        worksheet.write_string(0, column, title)
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if value:
                worksheet.write_string(number, column, value)
    workbook.add_worksheet("说明").write_string(0, 0, "notes are skipped")
    workbook.close()
    return path


def test_an_xlsx_with_chinese_headers_reads_and_bad_rows_are_named(tmp_path: Path):
    header = ["编码", "名称", "层级", "类型", "上级编码", "区域编码", "书记"]
    good = write_xlsx(
        tmp_path / "tree.xlsx",
        header,
        [
            ["W-DGW", "经八路街道党工委", "街道党工委", "", "", W, "王书记"],
            ["W-N", "经八北社区党委", "社区党组织", "党委", "W-DGW", W_N, ""],
        ],
    )
    rows = files.read_tree(good)
    assert [(where, o.code, o.level.value, o.areas) for where, o in rows] == [
        ("tree.xlsx sheet '党组织' row 2 (code W-DGW)", "W-DGW", "street", [W]),
        ("tree.xlsx sheet '党组织' row 3 (code W-N)", "W-N", "community", [W_N]),
    ]
    bad = write_xlsx(
        tmp_path / "bad.xlsx",
        [*header, "备用"],
        [
            ["W-DGW", "经八路街道党工委", "区委", "", "", W, "", ""],
            ["bad code", "x", "grid", "", "", "", "", ""],
            ["W-N", "", "community", "", "W-DGW", "", "", ""],
        ],
    )
    with pytest.raises(InputError) as error:
        files.read_tree(bad)
    found = [(i.where, i.field) for i in error.value.issues]
    assert ("bad.xlsx sheet '党组织' row 1", "备用") in found  # an unknown column
    assert ("bad.xlsx sheet '党组织' row 2 (code W-DGW)", "level") in found
    assert ("bad.xlsx sheet '党组织' row 3 (code bad code)", "code") in found
    assert ("bad.xlsx sheet '党组织' row 4 (code W-N)", "name") in found
    assert error.value.summary == "bad.xlsx: nothing imported"


def test_database_checks_name_the_file_row(world: PartyWorld, tmp_path: Path):
    path = write_xlsx(
        tmp_path / "more.xlsx",
        ["code", "name", "level", "parent", "areas"],
        [
            ["W-N-G4", "第四网格党支部", "grid", "W-N", f"{W_N}004"],
            ["W-N-G5", "跳级党支部", "grid", "W-DGW", ""],
            ["W-N-G4-B1", "党小组", "building", "W-N-G9", ""],
        ],
        sheet="orgs",
    )
    with pytest.raises(InputError) as error:
        service.apply_orgs(db=world.db, actor=service.OPERATOR, rows=files.read_tree(path), source="more.xlsx")
    assert [(i.where, i.field) for i in error.value.issues] == [
        ("more.xlsx sheet 'orgs' row 3 (code W-N-G5)", "parent"),
        ("more.xlsx sheet 'orgs' row 4 (code W-N-G4-B1)", "parent"),
    ]
    assert world.db.scalar(select(PartyOrg.id).where(PartyOrg.code == "W-N-G4")) is None  # all or nothing


def test_yaml_errors_name_the_item_and_line(tmp_path: Path):
    path = tmp_path / "t.yaml"
    path.write_text("orgs:\n  - code: A\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"t.yaml line \d+: not valid YAML"):
        files.read_tree(path)
    path.write_text("orgs:\n  - {code: A, name: 甲, level: street, colour: red}\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        files.read_tree(path)
    assert [(i.where, i.field, i.message) for i in error.value.issues] == [
        ("t.yaml orgs item 1 (code A)", "colour", "unknown field")
    ]
    path.write_text("units: []\n", encoding="utf-8")
    with pytest.raises(InputError, match="expected a mapping with 'orgs:'"):
        files.read_tree(path)
    with pytest.raises(InputError, match="unsupported file type '.csv'"):
        files.read_tree(tmp_path / "t.csv")


def test_yaml_and_xlsx_round_trip(tmp_path: Path):
    document = tree_document()
    for name in ("t.yaml", "t.xlsx"):
        files.write_tree(document, tmp_path / name)
        assert [o for _, o in files.read_tree(tmp_path / name)] == document.orgs


@pytest.fixture
def cli_db(cli_env: str) -> Iterator[Engine]:
    """The CLI's fresh database, migrated and holding the synthetic areas."""
    migrations.upgrade(cli_env)
    engine = create_db_engine(cli_env)
    with transaction(engine) as db:
        load_tree(db)
    yield engine
    engine.dispose()


def _count(engine: Engine) -> int:
    with transaction(engine, write=False) as db:
        return db.scalar(select(func.count()).select_from(PartyOrg)) or 0


def test_the_cli_imports_all_or_nothing_with_a_row_report(cli_db: Engine, tmp_path: Path):
    bad = tmp_path / "tree.yaml"
    bad.write_text(GOOD_YAML + "  - {code: W-N-G9, name: 错层, level: building, parent: W-N}\n", encoding="utf-8")
    result = runner.invoke(app, ["party", "validate", str(bad)])
    assert result.exit_code == 1
    result = runner.invoke(app, ["party", "import", str(bad)])
    assert result.exit_code == 1
    assert "tree.yaml: nothing written (1 problem)" in result.output
    assert (
        "tree.yaml orgs item 4 (code W-N-G9), parent: parent W-N is a community (社区党组织); a building (楼院党小组) "
        "sits directly under a grid (网格党支部)" in result.output
    )
    assert _count(cli_db) == 0

    good = tmp_path / "good.yaml"
    good.write_text(GOOD_YAML, encoding="utf-8")
    result = runner.invoke(app, ["party", "validate", str(good)])
    assert result.exit_code == 0 and "good.yaml is valid" in result.output
    assert _count(cli_db) == 0
    result = runner.invoke(app, ["party", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "imported good.yaml" in result.output and _count(cli_db) == 3

    out = tmp_path / "out.xlsx"
    result = runner.invoke(app, ["party", "export", str(out)])
    assert result.exit_code == 0 and "3 organisations" in result.output
    assert [o.code for _, o in files.read_tree(out)] == ["W-DGW", "W-N", "W-N-G1"]
    result = runner.invoke(app, ["party", "summary", "2026-11"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["party", "summary", "2026-13"])
    assert result.exit_code == 1 and "bad period '2026-13'" in result.output
