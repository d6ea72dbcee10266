"""`gridgov iot import-config|export-config|import-devices|export-devices` against a fresh, migrated database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from gridgov import migrations
from gridgov.cli import app
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.iot import registry
from gridgov.domains.iot.models import AlarmRule, Device, DeviceType
from tests.domains.areas.synthetic import lnglat
from tests.domains.cases.world import load_world
from tests.domains.iot.test_files import config, write_yaml

runner = CliRunner()


@pytest.fixture
def cli_db(cli_env: str) -> Iterator[Engine]:
    """The CLI's fresh database, migrated and holding the synthetic world (areas and catalogue)."""
    migrations.upgrade(cli_env)
    engine = create_db_engine(cli_env)
    with transaction(engine) as db:
        load_world(db)
    locate.invalidate()
    yield engine
    engine.dispose()


def _count(engine: Engine, model: Any) -> int:
    with transaction(engine, write=False) as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def _run(*args: Any) -> Any:
    return runner.invoke(app, ["iot", *map(str, args)])


def test_config_and_devices_round_trip_through_the_cli(cli_db, tmp_path):
    result = _run("import-config", write_yaml(config(), tmp_path / "iot.yaml"))
    assert result.exit_code == 0, result.output
    assert "imported iot.yaml" in result.output
    assert (_count(cli_db, DeviceType), _count(cli_db, AlarmRule)) == (2, 4)

    result = _run("export-config", tmp_path / "out" / "iot.xlsx")
    assert result.exit_code == 0, result.output
    assert "2 device types, 4 rules" in result.output
    with transaction(cli_db, write=False) as db:
        assert registry.load_config(tmp_path / "out" / "iot.xlsx") == registry.export_config(db=db)

    (lng1, lat1), (lng2, lat2) = lnglat(100, 100), lnglat(900, 900)
    text = "设备编码,设备类型,权属单位,经度,纬度\n"
    text += f"JG-1,manhole_tilt,WATER,{lng1},{lat1}\nJS-1,water_level,,{lng2},{lat2}\n"
    (tmp_path / "devices.csv").write_bytes(text.encode("gbk"))
    result = _run("import-devices", tmp_path / "devices.csv")
    assert result.exit_code == 0, result.output
    assert _count(cli_db, Device) == 2

    result = _run("export-devices", tmp_path / "devices.json")
    assert result.exit_code == 0, result.output
    assert "2 devices" in result.output
    entities = json.loads((tmp_path / "devices.json").read_text(encoding="utf-8"))
    assert [e["id"] for e in entities] == ["urn:ngsi-ld:Device:JG-1", "urn:ngsi-ld:Device:JS-1"]
    assert _run("export-devices", tmp_path / "devices.geojson").exit_code == 0
    collection = json.loads((tmp_path / "devices.geojson").read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 2


def test_bad_files_exit_1_with_every_problem_and_write_nothing(cli_db, tmp_path):
    data = config()
    data["rules"][1].pop("duration_s")
    result = _run("import-config", write_yaml(data, tmp_path / "bad.yaml"))
    assert result.exit_code == 1
    assert "bad.yaml: config rejected, nothing written (1 problem)" in result.stderr
    assert "bad.yaml rules item 2 (code ponding, type water_level), duration_s: required by a duration rule" in (
        result.stderr
    )
    assert _count(cli_db, DeviceType) == 0

    assert _run("import-config", write_yaml(config(), tmp_path / "iot.yaml")).exit_code == 0
    lng, lat = lnglat(100, 100)
    far = lnglat(5000, 100)
    text = f"code,type,lng,lat\nA,manhole_tilt,{lng},{lat}\nB,radar,{lng},{lat}\nC,manhole_tilt,{far[0]},{far[1]}\n"
    (tmp_path / "bad.csv").write_text(text, encoding="utf-8")
    result = _run("import-devices", tmp_path / "bad.csv")
    assert result.exit_code == 1
    assert "bad.csv: devices rejected, nothing written (2 problems)" in result.stderr
    assert "bad.csv row 3, type: unknown device type 'radar'" in result.stderr
    assert "bad.csv row 4, lng: (" in result.stderr
    assert _count(cli_db, Device) == 0

    result = _run("import-devices", tmp_path / "bad.csv", "--crs", "mercator")
    assert result.exit_code == 2  # typer refuses an unknown choice
    result = _run("export-devices", tmp_path / "devices.csv")
    assert result.exit_code == 1 and "unsupported file type '.csv'" in result.stderr
