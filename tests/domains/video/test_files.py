"""Camera registers (XLSX, CSV, GeoJSON) and algorithm mapping files (YAML, XLSX): all or nothing, errors that
name the sheet, row and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from gridgov.core.errors import InputError
from gridgov.core.geo import from_wgs84
from gridgov.domains.video import files, service
from gridgov.domains.video.models import AlgorithmMapping, Camera
from tests.domains.areas.synthetic import lnglat

HEADER = "编码,名称,经度,纬度,方向,视频流地址,权属单位,备注"


def _csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "cameras.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8-sig")
    return path


def _xlsx(tmp_path: Path, rows: list[list[object]], title: str = "摄像机") -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    path = tmp_path / "cameras.xlsx"
    workbook.save(path)
    return path


def _issues(excinfo: pytest.ExceptionInfo[InputError]) -> list[tuple[str, str | None, str]]:
    return [(i.where, i.field, i.message) for i in excinfo.value.issues]


def _cameras(db) -> int:
    return db.scalar(select(func.count(Camera.id)))


def test_a_csv_register_in_gcj02_is_located_and_reimported_without_change(video, world, db, tmp_path):
    lng, lat = lnglat(620, 120)  # east street, south community
    glng, glat = (float(v) for v in from_wgs84(lng, lat, "gcj02"))
    path = _csv(tmp_path, f"C-100,花园路口球机,{glng},{glat},90,rtsp://10.0.0.5/live/100,CGJ,雪亮工程")
    records = files.read_cameras(path)
    report = service.import_cameras(db=db, records=records, crs="gcj02", source=path.name)
    assert (report.created, report.updated) == (["C-100"], [])
    camera = db.scalars(select(Camera).where(Camera.code == "C-100")).one()
    assert abs(camera.lng - lng) < 1e-5 and abs(camera.lat - lat) < 1e-5  # stored in WGS84
    assert camera.grid_id == world.area("410105002002003").id and camera.area_path.endswith("/410105002002003/")
    assert (camera.direction, camera.stream_url, camera.owner_unit_id) == (
        90,
        "rtsp://10.0.0.5/live/100",
        world.unit("CGJ").id,
    )

    again = service.import_cameras(db=db, records=files.read_cameras(path), crs="gcj02", source=path.name)
    assert again.unchanged == ["C-100"]
    renamed = _csv(tmp_path, f"C-100,花园路口球机（新）,{glng},{glat},90,,CGJ,")
    update = service.import_cameras(db=db, records=files.read_cameras(renamed), crs="gcj02", source=path.name)
    assert update.updated == ["C-100"] and camera.name == "花园路口球机（新）" and camera.stream_url is None


def test_bad_rows_are_all_named_and_nothing_is_written(video, db, tmp_path):
    inside = lnglat(100, 100)
    path = _csv(
        tmp_path,
        f"C-1,好摄像机,{inside[0]},{inside[1]},,,,",
        f"C-2,,{inside[0]},abc,400,ftp:/bad,,",
        f"C-1,重复,{inside[0]},{inside[1]},,,,",
    )
    with pytest.raises(InputError) as excinfo:
        files.read_cameras(path)
    assert _issues(excinfo) == [
        ("cameras.csv row 3 (code C-2)", "名称", "name missing"),
        ("cameras.csv row 3 (code C-2)", "纬度", "latitude must be a number between -90 and 90, got 'abc'"),
        ("cameras.csv row 3 (code C-2)", "方向", "direction must be degrees from north, 0 to 360, got '400'"),
        (
            "cameras.csv row 3 (code C-2)",
            "视频流地址",
            "stream_url must be a URL such as rtsp://... of at most 500 characters",
        ),
        ("cameras.csv row 4 (code C-1)", "编码", "duplicate code C-1 (also cameras.csv row 2)"),
    ]
    before = _cameras(db)
    outside = _csv(
        tmp_path,
        f"C-1,好摄像机,{inside[0]},{inside[1]},,,CGJ,",
        "C-3,城外摄像机,113.9,34.9,,,,",
        f"C-4,无主摄像机,{inside[0]},{inside[1]},,,NOBODY,",
    )
    with pytest.raises(InputError) as excinfo:
        service.import_cameras(db=db, records=files.read_cameras(outside), source=outside.name)
    issues = _issues(excinfo)
    assert issues[0][:2] == ("cameras.csv row 3 (code C-3)", "经度")
    assert "outside the district's grids; the nearest grid" in issues[0][2]
    assert issues[1] == (
        "cameras.csv row 4 (code C-4)",
        "权属单位",
        "unknown owner unit 'NOBODY': import it with the catalogue first",
    )
    assert _cameras(db) == before


def test_unknown_and_missing_columns_are_refused(tmp_path):
    with pytest.raises(InputError) as excinfo:
        files.read_cameras(_csv(tmp_path, "C-1,甲,113.7,34.78", header="code,name,lng,高度"))
    assert _issues(excinfo) == [
        ("cameras.csv row 1", "高度", "unknown column '高度'; expected " + ", ".join(files.CAMERA_COLUMNS)),
        ("cameras.csv row 1", "lat", "missing column(s) lat"),
    ]


def test_an_xlsx_code_stored_as_a_number_is_refused_with_sheet_row_and_column(video, tmp_path):
    lng, lat = lnglat(100, 100)
    path = _xlsx(
        tmp_path,
        [
            ["code", "name", "lng", "lat", "is_active"],
            ["41010500001320000001", "文本编码", lng, lat, "是"],
            [41010500001320000002, "数字编码", lng, lat, "也许"],
        ],
    )
    with pytest.raises(InputError) as excinfo:
        files.read_cameras(path)
    assert _issues(excinfo) == [
        (
            "cameras.xlsx sheet '摄像机' row 3",
            "code",
            "the code 4.101050000132e+19 was stored as a number and lost digits: format the column as text",
        ),
        ("cameras.xlsx sheet '摄像机' row 3", "is_active", "expected yes/no, got '也许'"),
    ]


def test_a_geojson_register_takes_points_only(video, db, tmp_path):
    lng, lat = lnglat(300, 700)
    point = {"type": "Point", "coordinates": [lng, lat]}
    line = {"type": "LineString", "coordinates": [[lng, lat], [lng, lat + 0.001]]}
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": "G-1", "name": "点位一", "方向": 45}, "geometry": point},
            {"type": "Feature", "properties": {"code": "G-2", "name": "线"}, "geometry": line},
        ],
    }
    path = tmp_path / "cameras.geojson"
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(InputError) as excinfo:
        files.read_cameras(path)
    assert _issues(excinfo) == [
        ("cameras.geojson feature 1 (code G-2)", "geometry", "the geometry must be a Point [lng, lat]")
    ]
    collection["features"].pop()
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    report = service.import_cameras(db=db, records=files.read_cameras(path), source=path.name)
    assert report.created == ["G-1"]
    assert db.scalars(select(Camera.direction).where(Camera.code == "G-1")).one() == 45


def test_algorithm_files_are_checked_as_a_whole(video, db, tmp_path):
    path = tmp_path / "algorithms.yaml"
    path.write_text(
        "algorithms:\n"
        "  - {algorithm_code: smoke, name: 烟火识别, matter_type: SJ0102, min_confidence: 0.8}\n"
        "  - {algorithm_code: smoke, name: 重复, matter_type: SJ0102}\n"
        "  - {source: nobody, algorithm_code: litter, name: 垃圾, matter_type: XX9999}\n"
        "  - {algorithm_code: crowd, name: 人群, matter_type: SJ0102, min_confidence: 1.5, colour: red}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as excinfo:
        files.read_algorithms(path)
    assert _issues(excinfo) == [
        (
            "algorithms.yaml algorithms item 4 (algorithm crowd)",
            "min_confidence",
            "input should be less than or equal to 1, got 1.5",
        ),
        ("algorithms.yaml algorithms item 4 (algorithm crowd)", "colour", "unknown field"),
    ]
    path.write_text(path.read_text(encoding="utf-8").rsplit("  - {algorithm_code: crowd", 1)[0], encoding="utf-8")
    records = files.read_algorithms(path)
    before = db.scalar(select(func.count(AlgorithmMapping.id)))
    with pytest.raises(InputError) as excinfo:
        service.import_algorithms(db=db, records=records, source=path.name)
    assert _issues(excinfo) == [
        (
            "algorithms.yaml algorithms item 2 (algorithm smoke)",
            None,
            "algorithm smoke repeated (first: algorithms.yaml algorithms item 1 (algorithm smoke))",
        ),
        (
            "algorithms.yaml algorithms item 3 (algorithm litter, source nobody)",
            "source",
            "unknown source 'nobody': add it first",
        ),
        (
            "algorithms.yaml algorithms item 3 (algorithm litter, source nobody)",
            "matter_type",
            "unknown or inactive matter type 'XX9999' (catalogue code)",
        ),
    ]
    assert db.scalar(select(func.count(AlgorithmMapping.id))) == before


def test_an_xlsx_algorithm_sheet_with_chinese_headers_is_imported(video, db, tmp_path):
    workbook = Workbook()
    workbook.active.title = "说明"
    sheet = workbook.create_sheet("算法映射")
    sheet.append(["来源", "算法编码", "算法名称", "事项编码", "最低置信度", "启用"])
    sheet.append(["ai-1", "vending", "占道经营（平台专用）", "SJ0501", 0.75, "是"])
    sheet.append([None, "litter", "垃圾", "SJ0102", None, "否"])
    path = tmp_path / "algorithms.xlsx"
    workbook.save(path)
    report = service.import_algorithms(db=db, records=files.read_algorithms(path), source=path.name)
    assert report.created == ["ai-1:vending", "*:litter"]
    own = db.scalars(select(AlgorithmMapping).where(AlgorithmMapping.source_id == video.source.id)).one()
    assert (own.algorithm_code, own.min_confidence, own.is_active) == ("vending", 0.75, True)
    litter = db.scalars(select(AlgorithmMapping).where(AlgorithmMapping.algorithm_code == "litter")).one()
    assert (litter.min_confidence, litter.is_active) == (0.5, False)

    sheet.append([None, None, "无编码", "SJ0102", 2, None])
    workbook.save(path)
    with pytest.raises(InputError) as excinfo:
        files.read_algorithms(path)
    assert _issues(excinfo) == [
        ("algorithms.xlsx sheet '算法映射' row 4", "算法编码", "required"),
        ("algorithms.xlsx sheet '算法映射' row 4", "最低置信度", "input should be less than or equal to 1, got 2"),
    ]
