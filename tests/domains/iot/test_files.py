"""IoT files without the database: the config in YAML and XLSX, device tables (XLSX, GBK CSV) and GeoJSON."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import Workbook, load_workbook

from gridgov.core.errors import InputError
from gridgov.core.geo import Crs
from gridgov.domains.iot import files
from gridgov.domains.iot.enums import AlertCategory, Operator, RuleKind, Severity
from gridgov.domains.iot.schemas import IotConfigDocument

CONFIG: dict[str, Any] = {
    "version": 1,
    "device_types": [
        {
            "code": "manhole_tilt",
            "name": "井盖倾斜监测仪",
            "name_en": "Manhole-cover tilt sensor",
            "properties": {"tilt": "°", "battery": "%"},
        },
        {"code": "water_level", "name": "积水水位监测仪", "properties": {"waterLevel": "cm"}},
    ],
    "rules": [
        {
            "code": "tilt",
            "name": "井盖倾斜",
            "device_type": "manhole_tilt",
            "kind": "threshold",
            "property": "tilt",
            "operator": ">",
            "threshold": 15,
            "clear_threshold": 5,
            "severity": "high",
            "category": "traffic",
            "sub_category": "hazardOnRoad",
            "matter_type": "BJ0101",
        },
        {
            "code": "ponding",
            "name": "路面积水",
            "device_type": "water_level",
            "kind": "duration",
            "property": "waterLevel",
            "operator": ">=",
            "threshold": 20,
            "duration_s": 300,
            "severity": "high",
            "category": "naturalDisaster",
            "sub_category": "flood",
            "matter_type": "SJ0102",
        },
        {
            "code": "rise",
            "name": "积水上涨",
            "device_type": "water_level",
            "kind": "rate",
            "property": "waterLevel",
            "rate_per_min": 2,
        },
        {
            "code": "offline",
            "name": "离线",
            "device_type": "manhole_tilt",
            "kind": "offline",
            "offline_after_s": 3600,
            "severity": "low",
            "matter_type": "SJ0601",
        },
    ],
}


def config(**changes: Any) -> dict[str, Any]:
    """Returns a deep copy of the sample config, with top-level sections replaced by `changes`."""
    data = copy.deepcopy(CONFIG)
    data.update(changes)
    return data


def write_yaml(data: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_sheets(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        ws = workbook.create_sheet(title)
        for row in rows:
            ws.append(row)
    workbook.save(path)
    return path


# --- config -----------------------------------------------------------------------------------------------------


def test_config_reads_the_same_from_yaml_and_xlsx_and_round_trips(tmp_path):
    document = files.load_config(write_yaml(config(), tmp_path / "iot.yaml"))
    assert [t.code for t in document.device_types] == ["manhole_tilt", "water_level"]
    tilt = document.rules[0]
    assert (tilt.kind, tilt.operator, tilt.threshold, tilt.severity) == (
        RuleKind.threshold,
        Operator.gt,
        15,
        Severity.high,
    )
    assert document.rules[1].category is AlertCategory.natural_disaster
    assert document.rules[2].severity is Severity.medium and document.rules[2].category is AlertCategory.security
    assert document.location("rules", 1) == "iot.yaml rules item 2 (code ponding, type water_level)"

    for name in ("out.xlsx", "out.yaml"):
        files.write_config(document, tmp_path / name)
        again = files.load_config(tmp_path / name)
        assert again == document, name
    sheet = load_workbook(tmp_path / "out.xlsx")["device_types"]
    assert [c.value for c in sheet[2]] == [
        "manhole_tilt",
        "井盖倾斜监测仪",
        "Manhole-cover tilt sensor",
        "sensor",
        "tilt:°, battery:%",
    ]
    assert files.load_config(tmp_path / "out.xlsx").location("rules", 3) == "out.xlsx sheet rules row 5"


def test_a_yaml_error_names_section_item_code_and_field(tmp_path):
    data = config()
    data["rules"][1]["operator"] = "about"
    data["rules"][3]["severity"] = "huge"
    data["device_types"][1]["properties"] = {"water level": "cm"}
    data["extra"] = 1
    with pytest.raises(InputError) as caught:
        files.load_config(write_yaml(data, tmp_path / "bad.yaml"))
    error = caught.value
    assert error.summary == "bad.yaml: config rejected"
    by_field = {issue.field: issue for issue in error.issues}
    assert by_field["operator"].where == "bad.yaml rules item 2 (code ponding, type water_level)"
    assert by_field["severity"].where == "bad.yaml rules item 4 (code offline, type manhole_tilt)"
    assert "'huge'" in by_field["severity"].message
    assert by_field["properties"].where == "bad.yaml device_types item 2 (code water_level)"
    assert "property name 'water level'" in by_field["properties"].message
    assert by_field["extra"].message.startswith("unknown section")


def test_an_xlsx_error_names_sheet_row_and_column(tmp_path):
    path = write_sheets(
        tmp_path / "bad.xlsx",
        {
            "设备类型": [["编码", "名称", "属性"], ["manhole_tilt", "井盖倾斜", "tilt:°, battery:%"], ["x", "", ""]],
            "告警规则": [
                ["编码", "名称", "设备类型", "规则类型", "属性", "运算符", "阈值", "级别", "子类别", "colour"],
                ["tilt", "井盖倾斜", "manhole_tilt", "阈值", "tilt", "≥", 15, "高", None, None],
                ["tilt2", "倾斜2", "manhole_tilt", "threshold", "tilt", ">", "fifteen", "high", "floood", None],
            ],
            "说明": [["free notes are skipped"]],
        },
    )
    with pytest.raises(InputError) as caught:
        files.load_config(path)
    issues = caught.value.issues
    header = next(issue for issue in issues if issue.field == "colour")
    assert header.where == "bad.xlsx sheet 告警规则 row 1"
    assert header.message.startswith("unknown column 'colour' (column J); expected code, name, device_type")
    wheres = {(issue.where, issue.field) for issue in issues}
    assert ("bad.xlsx sheet 设备类型 row 3", "name") in wheres
    assert ("bad.xlsx sheet 设备类型 row 3", "properties") in wheres
    assert ("bad.xlsx sheet 告警规则 row 3", "threshold") in wheres
    assert ("bad.xlsx sheet 告警规则 row 3", "sub_category") in wheres
    assert not any(issue.where.endswith("row 2") for issue in issues)  # the Chinese labels of row 2 are fine


def test_xlsx_chinese_headers_and_labels_are_read(tmp_path):
    path = write_sheets(
        tmp_path / "cn.xlsx",
        {
            "设备类型": [["编码", "名称", "类别", "属性"], ["bin", "垃圾桶", "传感器", "fillingLevel:%，battery:%"]],
            "规则": [
                [
                    "编码",
                    "名称",
                    "设备类型",
                    "规则类型",
                    "属性",
                    "运算符",
                    "阈值",
                    "恢复阈值",
                    "级别",
                    "事项编码",
                    "启用",
                ],
                ["full", "满溢", "bin", "阈值", "fillingLevel", "≥", 90, 50, "中", "BJ0302", "是"],
                ["offline", "离线", "bin", "离线", None, None, None, None, "低", None, "否"],
            ],
        },
    )
    document = files.load_config(path)
    assert document.device_types[0].properties == {"fillingLevel": "%", "battery": "%"}
    full, offline = document.rules
    assert (full.operator, full.threshold, full.clear_threshold, full.matter_type) == (Operator.ge, 90, 50, "BJ0302")
    assert offline.kind is RuleKind.offline and offline.severity is Severity.low and offline.is_active is False


def test_unsupported_and_missing_config_files_are_rejected(tmp_path):
    with pytest.raises(InputError, match="unsupported file type '.txt'"):
        files.load_config(tmp_path / "iot.txt")
    with pytest.raises(InputError) as caught:
        files.load_config(tmp_path / "none.yaml")
    assert caught.value.issues[0].message == "file not found"
    (tmp_path / "broken.yaml").write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        files.load_config(tmp_path / "broken.yaml")
    assert caught.value.issues[0].where.startswith("broken.yaml line ")


# --- device files -----------------------------------------------------------------------------------------------

HEADER = ["code", "serial", "name", "type", "owner", "address", "installed_at", "lng", "lat"]


def test_device_xlsx_rows_are_read_with_numbers_as_codes(tmp_path):
    path = write_sheets(
        tmp_path / "devices.xlsx",
        {
            "Sheet1": [
                HEADER,
                [1001, 778899, "井盖1", "manhole_tilt", "WATER", "花园路1号", "2024-05-01", 113.701, 34.781],
            ]
        },
    )
    result = files.read_devices(path)
    assert result.issues == []
    (row,) = result.rows
    assert row.where == "devices.xlsx sheet 'Sheet1' row 2"
    assert (row.device.code, row.device.serial, row.device.crs) == ("1001", "778899", Crs.wgs84)
    assert row.device.installed_at is not None and row.device.installed_at.year == 2024


def test_a_gbk_csv_with_chinese_headers_and_a_crs_column(tmp_path):
    text = (
        "设备编码,设备类型,权属单位,经度(GCJ02),纬度,坐标系,安装地址\n"
        "JG-1,manhole_tilt,WATER,113.705,34.785,gcj02,花园路口\n"
        "JG-2,manhole_tilt,,113.706,34.786,,金水路\n"
    )
    path = tmp_path / "devices.csv"
    path.write_bytes(text.encode("gbk"))
    result = files.read_devices(path, crs="bd09")
    assert result.issues == []
    first, second = result.rows
    assert (first.device.code, first.device.owner, first.device.crs, first.device.address) == (
        "JG-1",
        "WATER",
        Crs.gcj02,
        "花园路口",
    )
    assert second.device.crs is Crs.bd09 and second.device.owner is None  # the file default where the row names none


def test_bad_device_rows_are_collected_with_their_row_and_field(tmp_path):
    text = (
        "code,type,lng,lat\n"
        "A,manhole_tilt,east,34.78\n"  # row 2: not a number
        "B,manhole_tilt,34.78,113.70\n"  # row 3: swapped
        "C,manhole_tilt,113.70,34.78\n"
        "C,manhole_tilt,113.70,34.78\n"  # row 5: duplicate
        ",manhole_tilt,113.70,34.78\n"  # row 6: no code
    )
    (tmp_path / "bad.csv").write_text(text, encoding="utf-8")
    result = files.read_devices(tmp_path / "bad.csv")
    assert [row.device.code for row in result.rows] == ["C", "C"]
    got = {(issue.where, issue.field) for issue in result.issues}
    assert got == {
        ("bad.csv row 2", "lng"),
        ("bad.csv row 3", "lat"),
        ("bad.csv row 5", "code"),
        ("bad.csv row 6", "code"),
    }
    swapped = next(i for i in result.issues if i.where == "bad.csv row 3")
    assert "look swapped" in swapped.message
    duplicate = next(i for i in result.issues if i.where == "bad.csv row 5")
    assert duplicate.message == "duplicate code 'C' (first at bad.csv row 4)"


def test_a_device_table_with_an_unknown_or_missing_column_is_refused_as_a_whole(tmp_path):
    (tmp_path / "cols.csv").write_text("code,type,lng,colour\nA,t,113.7,red\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        files.read_devices(tmp_path / "cols.csv")
    messages = [issue.message for issue in caught.value.issues]
    assert any(m.startswith("unknown column 'colour'") for m in messages)
    assert "missing column(s) lat" in messages
    assert caught.value.summary == "cols.csv: devices rejected, nothing written"


def test_geojson_point_features_are_read_and_bad_features_named(tmp_path):
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "YG-1", "type": "smoke", "owner": "WATER", "fid": 7, "crs": "gcj02"},
                "geometry": {"type": "Point", "coordinates": [113.70, 34.78]},
            },
            {
                "type": "Feature",
                "properties": {"code": "YG-2", "type": "smoke"},
                "geometry": {"type": "LineString", "coordinates": [[113.7, 34.7], [113.8, 34.8]]},
            },
            {
                "type": "Feature",
                "properties": {"code": "YG-3", "type": "smoke"},
                "geometry": {"type": "Point", "coordinates": [200, 34.7]},
            },
            {
                "type": "Feature",
                "properties": {"code": "YG-1", "type": "smoke"},
                "geometry": {"type": "Point", "coordinates": [113.7, 34.7]},
            },
        ],
    }
    path = tmp_path / "d.geojson"
    path.write_text(json.dumps(collection), encoding="utf-8")
    result = files.read_devices(path)
    assert [r.device.code for r in result.rows] == ["YG-1", "YG-1"]
    assert result.rows[0].device.crs is Crs.gcj02 and result.rows[0].where == "d.geojson feature 1 (code YG-1)"
    got = {(issue.where, issue.field) for issue in result.issues}
    assert got == {
        ("d.geojson feature 2 (code YG-2)", "geometry"),
        ("d.geojson feature 3 (code YG-3)", "geometry"),
        ("d.geojson feature 4 (code YG-1)", "code"),
    }


def test_ngsi_ld_files_are_written_as_json_ld_or_geojson(tmp_path):
    entity = {
        "id": "urn:ngsi-ld:Device:A",
        "type": "Device",
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [113.7, 34.78]}},
        "@context": files.NGSI_LD_CONTEXT,
    }
    files.write_ngsi_ld([entity], tmp_path / "d.json")
    assert json.loads((tmp_path / "d.json").read_text(encoding="utf-8")) == [entity]
    files.write_ngsi_ld([entity], tmp_path / "d.geojson")
    collection = json.loads((tmp_path / "d.geojson").read_text(encoding="utf-8"))
    (feature,) = collection["features"]
    assert feature["id"] == "urn:ngsi-ld:Device:A" and feature["geometry"]["type"] == "Point"
    assert feature["properties"]["type"] == "Device"
    with pytest.raises(InputError):
        files.write_ngsi_ld([entity], tmp_path / "d.csv")


def test_parse_config_accepts_an_already_read_mapping():
    document = files.parse_config(config(), source="inline")
    assert isinstance(document, IotConfigDocument) and len(document.rules) == 4
