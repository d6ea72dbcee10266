"""Device imports (XLSX, GBK CSV, GeoJSON) located on the grids, all-or-nothing, and the NGSI-LD export."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gridgov.core.errors import InputError
from gridgov.core.geo import Crs, from_wgs84
from gridgov.domains.iot import files, registry
from gridgov.domains.iot.enums import DeviceState
from gridgov.domains.iot.models import Device
from gridgov.domains.iot.schemas import DeviceIn
from tests.domains.areas.synthetic import grid_code_at, lnglat
from tests.domains.iot.test_files import HEADER, config, write_sheets


@pytest.fixture
def types(db, world):
    """The synthetic world with the sample device types and rules imported."""
    registry.import_config(db=db, document=files.parse_config(config(), source="iot.yaml"), source="iot.yaml")
    return world


def _devices(db) -> dict[str, Device]:
    return {d.code: d for d in db.scalars(select(Device))}


def _import(db, path: Path, crs: Crs | str | None = None):
    return registry.import_devices(db=db, devices=registry.read_devices(path, crs=crs))


def _rejected(db, path: Path, crs: str | None = None) -> list[tuple[str, str | None, str]]:
    before = db.scalar(select(func.count()).select_from(Device))
    with pytest.raises(InputError) as caught:
        _import(db, path, crs)
    assert caught.value.summary == f"{path.name}: devices rejected, nothing written"
    assert db.scalar(select(func.count()).select_from(Device)) == before
    return [(issue.where, issue.field, issue.message) for issue in caught.value.issues]


def test_an_xlsx_import_locates_each_device_and_a_reimport_upserts_by_code(db, types, tmp_path):
    west, east = lnglat(120, 880), lnglat(760, 140)
    rows = [
        HEADER,
        ["JG-1", "SN1", "井盖1", "manhole_tilt", "WATER", "经八路1号", "2024-05-01 08:30", *west],
        ["JS-1", None, None, "water_level", "410105002-HWS", None, None, *east],
    ]
    report = _import(db, write_sheets(tmp_path / "devices.xlsx", {"设备": rows}))
    assert (report.devices.created, report.devices.updated) == (2, 0)
    found = _devices(db)
    jg = found["JG-1"]
    assert registry.grid_code(jg) == grid_code_at(120, 880) == "410105001001001"
    assert jg.area_path == "/410105/410105001/410105001001/410105001001001/"
    assert jg.owner_unit is not None and jg.owner_unit.code == "WATER" and jg.state is DeviceState.normal
    assert jg.installed_at == dt.datetime(2024, 5, 1, 0, 30, tzinfo=dt.UTC)  # 08:30 in Shanghai
    assert (jg.lng, jg.lat) == pytest.approx(west)
    assert registry.grid_code(found["JS-1"]) == grid_code_at(760, 140)

    same = _import(db, write_sheets(tmp_path / "again.xlsx", {"设备": rows}))
    assert (same.devices.created, same.devices.updated, same.devices.unchanged) == (0, 0, 2)

    rows[1][-2:] = lnglat(880, 880)  # moved to the east street
    rows[2][4] = None
    moved = _import(db, write_sheets(tmp_path / "moved.xlsx", {"设备": rows}))
    assert (moved.devices.updated, moved.devices.unchanged) == (2, 0)
    found = _devices(db)
    assert found["JG-1"].area_path.startswith("/410105/410105002/") and found["JS-1"].owner_unit_id is None


def test_a_gbk_csv_with_gcj02_coordinates_is_converted_to_wgs84(db, types, tmp_path):
    lng, lat = lnglat(300, 600)
    glng, glat = (float(v) for v in from_wgs84(lng, lat, Crs.gcj02))
    assert abs(glng - lng) > 1e-3  # the offset is hundreds of metres: a wrong crs lands outside this district
    text = f"设备编码,设备类型,权属单位,经度,纬度\nJG-9,manhole_tilt,WATER,{glng:.7f},{glat:.7f}\n"
    (tmp_path / "gcj.csv").write_bytes(text.encode("gbk"))

    _import(db, tmp_path / "gcj.csv", crs="gcj02")
    device = _devices(db)["JG-9"]
    assert device.lng == pytest.approx(lng, abs=1e-6) and device.lat == pytest.approx(lat, abs=1e-6)
    assert registry.grid_code(device) == grid_code_at(300, 600)


def test_a_geojson_import_reads_point_features_with_their_own_crs(db, types, tmp_path):
    lng, lat = lnglat(600, 300)
    blng, blat = (float(v) for v in from_wgs84(lng, lat, Crs.bd09))
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "BD-1", "type": "water_level", "crs": "bd09", "name": "积水点"},
                "geometry": {"type": "Point", "coordinates": [blng, blat]},
            },
            {
                "type": "Feature",
                "properties": {"code": "W-1", "type": "water_level"},
                "geometry": {"type": "Point", "coordinates": list(lnglat(100, 100))},
            },
        ],
    }
    path = tmp_path / "devices.geojson"
    path.write_text(json.dumps(collection), encoding="utf-8")
    report = _import(db, path)
    assert report.devices.created == 2
    found = _devices(db)
    assert found["BD-1"].lng == pytest.approx(lng, abs=1e-6) and found["BD-1"].name == "积水点"
    assert registry.grid_code(found["W-1"]) == grid_code_at(100, 100)


def test_bad_rows_are_all_reported_in_file_order_and_nothing_is_written(db, types, tmp_path):
    inside = lnglat(200, 200)
    outside = lnglat(1500, 200)  # 500 m east of the district
    rows = [
        ["code", "type", "owner", "lng", "lat"],
        ["OK-1", "manhole_tilt", "WATER", *inside],
        ["X-1", "radar", "WATER", *inside],  # 3: unknown type
        ["X-2", "manhole_tilt", "NOBODY", *inside],  # 4: unknown owner
        ["X-3", "manhole_tilt", "WATER", *outside],  # 5: outside the district
        ["X-4", "manhole_tilt", "WATER", "abc", inside[1]],  # 6: bad coordinate
        ["OK-1", "manhole_tilt", "WATER", *inside],  # 7: duplicate code
    ]
    issues = _rejected(db, write_sheets(tmp_path / "bad.xlsx", {"devices": rows}))
    where = "bad.xlsx sheet 'devices' row"
    assert [(w, f) for w, f, _ in issues] == [
        (f"{where} 3", "type"),
        (f"{where} 4", "owner"),
        (f"{where} 5", "lng"),
        (f"{where} 6", "lng"),
        (f"{where} 7", "code"),
    ]
    messages = [m for _, _, m in issues]
    assert messages[0] == "unknown device type 'radar' (known: manhole_tilt, water_level)"
    assert messages[1] == "unknown owner unit 'NOBODY' (not in the catalogue)"
    assert "lies outside the district's grids (nearest grid 410105002002004" in messages[2]
    assert re.search(r", 50[01] m away\); check the coordinates and crs$", messages[2])
    assert messages[4] == f"duplicate code 'OK-1' (first at {where} 2)"


def test_a_wrong_crs_is_caught_as_outside_the_district(db, types, tmp_path):
    lng, lat = lnglat(500, 500)
    (tmp_path / "wgs.csv").write_text(f"code,type,lng,lat\nA,water_level,{lng},{lat}\n", encoding="utf-8")
    # WGS84 coordinates declared as BD-09 move by ~1 km: outside this 1 km district.
    issues = _rejected(db, tmp_path / "wgs.csv", crs="bd09")
    assert issues[0][0] == "wgs.csv row 2" and "bd09 lies outside the district's grids" in issues[0][2]


def test_save_device_creates_then_updates_and_set_state_records_who(db, types):
    lng, lat = lnglat(700, 700)
    device, created = registry.save_device(db=db, device=DeviceIn(code="LD-1", type="water_level", lng=lng, lat=lat))
    assert created and device.state is DeviceState.normal and registry.grid_code(device) == grid_code_at(700, 700)
    device, created = registry.save_device(
        db=db, device=DeviceIn(code="LD-1", type="water_level", lng=lng, lat=lat, name="新名")
    )
    assert not created and device.name == "新名"
    with pytest.raises(InputError) as caught:
        registry.save_device(db=db, device=DeviceIn(code="LD-2", type="nope", lng=lng, lat=lat), where="body")
    assert caught.value.issues[0].where == "body" and caught.value.issues[0].field == "type"

    registry.set_state(
        db=db, device=device, state=DeviceState.maintenance, actor=types.district_dispatcher, note="换电池"
    )
    assert device.state is DeviceState.maintenance
    assert device.attributes["state_change"]["from"] == "normal"
    assert device.attributes["state_change"]["note"] == "换电池"
    with pytest.raises(Exception, match="set by the alarm rules"):
        registry.set_state(db=db, device=device, state=DeviceState.alarm, actor=types.district_dispatcher)


def test_ngsi_ld_export_has_the_device_entity_shape(db, types):
    lng, lat = lnglat(120, 880)
    device, _ = registry.save_device(
        db=db,
        device=DeviceIn(code="JG-1", serial="SN-7", name="井盖", type="manhole_tilt", owner="WATER", lng=lng, lat=lat),
    )
    device.battery = 0.83
    device.last_values = {"tilt": 3.5, "battery": 83}
    device.last_reading_at = dt.datetime(2026, 11, 25, 1, 2, 3, tzinfo=dt.UTC)
    bare, _ = registry.save_device(db=db, device=DeviceIn(code="JS-1", type="water_level", lng=lng, lat=lat))
    db.flush()

    entity, other = registry.export_ngsi_ld(db=db)
    assert entity["id"] == "urn:ngsi-ld:Device:JG-1" and entity["type"] == "Device"
    assert entity["@context"] == "https://smartdatamodels.org/context.jsonld"
    assert entity["location"] == {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lng, lat]}}
    assert entity["controlledProperty"] == {"type": "Property", "value": ["tilt", "battery"]}
    assert entity["category"]["value"] == ["sensor"]
    assert entity["serialNumber"]["value"] == "SN-7" and entity["deviceState"]["value"] == "normal"
    assert entity["batteryLevel"]["value"] == 0.83
    assert entity["owner"]["value"] == ["urn:ngsi-ld:Organization:WATER"]
    assert entity["value"]["value"] == "battery=83;tilt=3.5"
    assert entity["dateLastValueReported"]["value"] == {"@type": "DateTime", "@value": "2026-11-25T01:02:03Z"}
    assert entity["areaServed"]["value"] == "410105001001001"
    assert entity["refDeviceModel"] == {"type": "Relationship", "object": "urn:ngsi-ld:DeviceModel:manhole_tilt"}
    attributes = [v for k, v in entity.items() if k not in ("id", "type", "@context", "refDeviceModel")]
    assert all(attribute["type"] in ("Property", "GeoProperty") for attribute in attributes)
    # Unknown battery is -1 (Smart Data Models); absent facts are left out.
    assert other["batteryLevel"]["value"] == -1
    assert "value" not in other and "dateLastValueReported" not in other and "owner" not in other
    json.dumps(entity)  # plain JSON, no datetimes or enums left
