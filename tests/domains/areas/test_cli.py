import json

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from gridgov.cli import app
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from tests.domains.areas.synthetic import lnglat, tree_collections

runner = CliRunner()


def write_tree(folder) -> dict[AreaLevel, str]:
    paths = {}
    for level, fc in tree_collections().items():
        path = folder / f"{level.value}.geojson"
        path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
        paths[level] = str(path)
    return paths


def invoke(*args: str):
    return runner.invoke(app, ["areas", *args])


def grid_count(url: str) -> int:
    engine = create_db_engine(url)
    try:
        with transaction(engine) as db:
            return db.scalar(select(func.count(Area.id)).where(Area.level == AreaLevel.grid))
    finally:
        engine.dispose()


@pytest.fixture
def migrated(cli_env):
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return cli_env


@pytest.fixture
def imported(migrated, tmp_path):
    for level, path in write_tree(tmp_path).items():
        result = invoke("import", path, "--level", level.value)
        assert result.exit_code == 0, result.output
    return migrated


def test_import_every_level_then_locate(migrated, tmp_path):
    paths = write_tree(tmp_path)
    result = invoke("import", paths[AreaLevel.district], "--level", "district")
    assert result.exit_code == 0, result.output
    assert "district areas from district.geojson: 1 created, 0 updated, 0 unchanged" in result.output
    for level in (AreaLevel.street, AreaLevel.community, AreaLevel.grid):
        assert invoke("import", paths[level], "--level", level.value).exit_code == 0
    assert grid_count(migrated) == 16

    lng, lat = lnglat(125, 875)
    result = invoke("locate", str(lng), str(lat))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "inside: 经八路街道 / 经八路北社区 / 经八路北社区第1网格 (410105001001001)"

    lng, lat = lnglat(1100, 600)
    result = invoke("locate", str(lng), str(lat))
    assert result.exit_code == 0
    assert result.output.startswith("outside: in no grid; nearest is 花园路北社区第4网格 (410105002001004), 100 m")


def test_locate_gcj02_and_bad_arguments(imported):
    from gridgov.core.geo import Crs, from_wgs84

    lng, lat = (float(v) for v in from_wgs84(*lnglat(875, 125), Crs.gcj02))
    result = invoke("locate", str(lng), str(lat), "--crs", "gcj02")
    assert result.exit_code == 0 and "(410105002002004)" in result.output
    result = invoke("locate", "34.78", "113.70")
    assert result.exit_code == 1
    assert "look swapped" in result.output


def test_locate_without_grids_exits_non_zero(migrated):
    result = invoke("locate", "113.7", "34.78")
    assert result.exit_code == 1
    assert "no grids imported yet" in result.output


def test_commands_refuse_an_unmigrated_database(cli_env):
    result = invoke("tree")
    assert result.exit_code == 1
    assert "is not migrated (empty): run `gridgov db upgrade` first" in result.output


def test_a_bad_file_is_reported_and_nothing_written(migrated, tmp_path):
    paths = write_tree(tmp_path)
    for level in (AreaLevel.district, AreaLevel.street, AreaLevel.community):
        assert invoke("import", paths[level], "--level", level.value).exit_code == 0
    fc = tree_collections()[AreaLevel.grid]
    fc["features"][4]["properties"]["parent"] = "410105009001"
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(fc), encoding="utf-8")
    result = invoke("import", str(bad), "--level", "grid")
    assert result.exit_code == 1
    assert "bad.geojson: nothing imported (1 problem)" in result.output
    assert "bad.geojson feature 4 (code 410105001002001), parent: unknown parent 410105009001" in result.output
    assert grid_count(migrated) == 0

    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection",\n "features": [}', encoding="utf-8")
    result = invoke("import", str(broken), "--level", "grid")
    assert result.exit_code == 1 and "broken.geojson line 2 column" in result.output
    result = invoke("import", str(tmp_path / "missing.geojson"), "--level", "grid")
    assert result.exit_code == 1 and "no such file" in result.output


def test_dry_run_writes_nothing(migrated, tmp_path):
    paths = write_tree(tmp_path)
    result = invoke("import", paths[AreaLevel.district], "--level", "district", "--dry-run")
    assert result.exit_code == 0
    assert "dry run, nothing written: district areas from district.geojson: 1 created" in result.output
    assert invoke("tree").exit_code == 1  # still no areas


def test_export_reimports_with_the_level_read_from_the_file(imported, tmp_path):
    out = tmp_path / "grids.geojson"
    result = invoke("export", "--level", "grid", "--out", str(out))
    assert result.exit_code == 0 and "wrote 16 grid areas" in result.output
    result = invoke("import", str(out))  # no --level: every feature says "grid"
    assert result.exit_code == 0, result.output
    assert "0 created, 0 updated, 16 unchanged" in result.output


def test_attributes_from_a_gb18030_csv(imported, tmp_path):
    table = tmp_path / "人口.csv"
    table.write_bytes("编码,人口,户数,网格员\n410105001001001,1500,520,王五\n".encode("gb18030"))
    result = invoke("import", str(table))
    assert result.exit_code == 0, result.output
    assert "attributes from 人口.csv: 0 created, 1 updated" in result.output
    shown = invoke("tree", "--root", "410105001001")
    assert "经八路北社区第1网格" in shown.output


def test_tree_prints_names_and_counts(imported):
    result = invoke("tree")
    assert result.exit_code == 0
    assert "区 金水区 (410105) · 2 streets, 4 communities, 16 grids" in result.output
    assert "社区 经八路北社区 (410105001001) · 4 grids" in result.output


def test_attributes_ride_in_the_same_transaction_as_the_boundaries(migrated, tmp_path):
    from openpyxl import Workbook

    paths = write_tree(tmp_path)
    for level in (AreaLevel.district, AreaLevel.street, AreaLevel.community):
        assert invoke("import", paths[level], "--level", level.value).exit_code == 0
    workbook = Workbook()
    workbook.active.append(["code", "households"])
    workbook.active.append(["410105001001001", 210])
    workbook.active.append(["410105009009009", 5])
    bad = tmp_path / "households.xlsx"
    workbook.save(bad)
    result = invoke("import", paths[AreaLevel.grid], "--level", "grid", "--attributes", str(bad))
    assert result.exit_code == 1
    assert "households.xlsx sheet 'Sheet' row 3 (code 410105009009009), code: unknown area code" in result.output
    assert grid_count(migrated) == 0  # the boundaries were rolled back with the attributes

    workbook.active.delete_rows(3)
    workbook.save(bad)
    result = invoke("import", paths[AreaLevel.grid], "--level", "grid", "--attributes", str(bad))
    assert result.exit_code == 0, result.output
    assert "grid areas from grid.geojson: 16 created" in result.output
    assert "attributes from households.xlsx sheet 'Sheet': 0 created, 1 updated" in result.output
