"""Files of video AI: the camera register (XLSX, CSV or GeoJSON) and the algorithm mappings (YAML or XLSX).

Errors name the spot like the area and catalogue imports do: "cams.xlsx sheet 'cameras' row 7 (code X), lng",
"cams.geojson feature 3 (code X)", "algorithms.yaml algorithms item 2 (algorithm 占道经营)". Reading checks each
row on its own; what needs the database (grids, units, matter types, sources) is checked by the service, and an
import writes nothing unless every row is good.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gridgov.core import sheets
from gridgov.core.errors import InputError, Issue
from gridgov.domains.areas import files as area_files
from gridgov.domains.video.schemas import CODE_MAX, AlgorithmDocument, AlgorithmIn

NAME_MAX = 200
URL_MAX = 500
_URL_RE = re.compile(r"^[a-z][a-z0-9+.\-]*://\S+$", re.IGNORECASE)
_TRUE = frozenset({"yes", "y", "true", "t", "1", "on", "是", "√", "启用"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "off", "否", "×", "停用"})

# Column names a district is likely to use (English field names always work), per field of the camera register.
CAMERA_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "camera_code", "编码", "摄像机编码", "设备编码", "国标编码", "点位编码"),
    "name": ("name", "camera_name", "名称", "摄像机名称", "设备名称", "点位名称"),
    "lng": ("lng", "lon", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
    "direction": ("direction", "heading", "方向", "朝向", "方位角"),
    "stream_url": ("stream_url", "url", "视频流地址", "流地址", "取流地址"),
    "owner_unit": ("owner_unit", "owner", "owner_unit_code", "权属单位", "权属单位编码", "建设单位"),
    "is_active": ("is_active", "active", "启用", "是否启用"),
}
CAMERA_REQUIRED = ("code", "name", "lng", "lat")
# Columns kept for people and ignored by the import.
IGNORED_COLUMNS = frozenset({"备注", "说明", "notes", "note", "remark", "remarks", "comment"})

ALGORITHM_SHEETS = ("algorithms", "算法", "算法映射", "算法清单")
ALGORITHM_COLUMNS: dict[str, tuple[str, ...]] = {
    "source": ("source", "来源", "平台", "算法平台"),
    "algorithm_code": ("algorithm_code", "algorithm", "算法编码", "算法代码"),
    "name": ("name", "名称", "算法名称"),
    "matter_type": ("matter_type", "事项", "事项编码"),
    "min_confidence": ("min_confidence", "最低置信度", "置信度阈值", "阈值"),
    "is_active": ("is_active", "启用", "是否启用"),
}


@dataclass(frozen=True)
class CameraRecord:
    """One camera of a register file, checked on its own; coordinates still in the file's CRS."""

    where: str
    code: str
    name: str
    lng: float
    lat: float
    direction: float | None = None
    stream_url: str | None = None
    owner_unit: str | None = None
    is_active: bool = True
    column: dict[str, str | None] | None = None  # field → the file's column/property name, for later errors


# --- cameras -------------------------------------------------------------------------------------------------------


def read_cameras(path: Path, *, sheet: str | None = None) -> list[CameraRecord]:
    """Reads a camera register (.xlsx, .csv, .geojson or .json); raises InputError naming every bad row."""
    path = Path(path)
    kind = area_files.file_kind(path)
    if kind == "geojson":
        return cameras_from_geojson(area_files.read_geojson(path), source=path.name)
    table = area_files.read_table(path, sheet)
    return cameras_from_rows(table.rows, source=table.source, row_numbers=table.row_numbers)


def _match_columns(headers: list[str], aliases: dict[str, tuple[str, ...]]) -> tuple[dict[str, str], list[str]]:
    """Maps each known field to the header naming it; returns the mapping and the unknown headers."""
    lookup = {alias.casefold(): name for name, names in aliases.items() for alias in names}
    found: dict[str, str] = {}
    unknown: list[str] = []
    for header in headers:
        key = header.strip().rstrip("*").strip().casefold()
        name = lookup.get(key)
        if name is None:
            if key not in IGNORED_COLUMNS and not key.startswith(("_", "#")):
                unknown.append(header)
        elif name not in found:
            found[name] = header
    return found, unknown


def cameras_from_rows(
    rows: list[dict[str, Any]], *, source: str, row_numbers: list[int] | None = None
) -> list[CameraRecord]:
    """Checks table rows (header → value) as cameras; raises InputError naming sheet, row and column."""
    numbers = row_numbers if row_numbers is not None else list(range(2, len(rows) + 2))
    headers: dict[str, None] = {}
    for row in rows:
        headers.update(dict.fromkeys(row))
    columns, unknown = _match_columns(list(headers), CAMERA_COLUMNS)
    issues: list[Issue] = []
    expected = ", ".join(CAMERA_COLUMNS)
    for header in unknown:
        issues.append(Issue(f"{source} row 1", f"unknown column {header!r}; expected {expected}", header))
    missing = [name for name in CAMERA_REQUIRED if name not in columns]
    if missing:
        issues.append(Issue(f"{source} row 1", f"missing column(s) {', '.join(missing)}", missing[0]))
    if issues:
        raise InputError(issues, f"{source}: no camera imported")
    if not rows:
        raise InputError([Issue(source, "the file has no camera rows")], f"{source}: no camera imported")
    records: list[CameraRecord] = []
    seen: dict[str, str] = {}
    for number, row in zip(numbers, rows, strict=True):
        values = {name: row.get(header) for name, header in columns.items()}
        code, _ = _code(values.get("code"))
        where = f"{source} row {number}" + (f" (code {code})" if code else "")
        record = _camera(values, where, dict(columns), seen, issues)
        if record is not None:
            records.append(record)
    if issues:
        raise InputError(issues, f"{source}: no camera imported")
    return records


def cameras_from_geojson(collection: Any, *, source: str) -> list[CameraRecord]:
    """Checks a FeatureCollection of Point features as cameras; raises InputError naming each bad feature."""
    summary = f"{source}: no camera imported"
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise InputError([Issue(source, "not a GeoJSON FeatureCollection", "type")], summary)
    features = collection.get("features")
    if not isinstance(features, list) or not features:
        raise InputError([Issue(source, "the FeatureCollection has no features")], summary)
    issues: list[Issue] = []
    records: list[CameraRecord] = []
    seen: dict[str, str] = {}
    for index, feature in enumerate(features):
        where = f"{source} feature {index}"
        if not isinstance(feature, dict) or not isinstance(feature.get("properties") or {}, dict):
            issues.append(Issue(where, "not a GeoJSON Feature with properties"))
            continue
        properties: dict[str, Any] = feature.get("properties") or {}
        columns, unknown = _match_columns(list(properties), CAMERA_COLUMNS)
        values = {name: properties.get(key) for name, key in columns.items()}
        code, _ = _code(values.get("code"))
        if code:
            where += f" (code {code})"
        for key in unknown:
            issues.append(Issue(where, f"unknown property {key!r}; expected {', '.join(CAMERA_COLUMNS)}", key))
        geometry = feature.get("geometry")
        if geometry is not None:
            coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
            if (
                not isinstance(geometry, dict)
                or geometry.get("type") != "Point"
                or not isinstance(coordinates, list)
                or len(coordinates) < 2
            ):
                issues.append(Issue(where, "the geometry must be a Point [lng, lat]", "geometry"))
                continue
            values["lng"], values["lat"] = coordinates[0], coordinates[1]
            columns["lng"] = columns["lat"] = "geometry"
        record = _camera(values, where, dict(columns), seen, issues)
        if record is not None:
            records.append(record)
    if issues:
        raise InputError(issues, summary)
    return records


def _code(value: Any) -> tuple[str | None, str | None]:
    """Returns a code cell as (text, None), (None, what is wrong with it), or (None, None) when it is empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, bool):
        return None, f"expected a code, got {value!r}"
    if isinstance(value, float):
        # NOTE: Excel keeps 15 significant digits: a 20-digit national camera code (国标编码) typed as a number
        # comes back rounded. Refuse it rather than import a wrong code.
        if not value.is_integer() or abs(value) >= 1e15:
            return None, f"the code {value!r} was stored as a number and lost digits: format the column as text"
        return str(int(value)), None
    if isinstance(value, int):
        return str(value), None
    return str(value).strip(), None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def parse_flag(value: Any) -> bool | None:
    """Returns a yes/no cell (yes/no, true/false, 1/0, 是/否, 启用/停用) as a bool; None when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().casefold()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def _camera(
    values: dict[str, Any],
    where: str,
    columns: dict[str, str],
    seen: dict[str, str],
    issues: list[Issue],
) -> CameraRecord | None:
    """Checks one camera's values; appends its problems to `issues`; returns the record when it has none."""
    before = len(issues)

    def problem(field: str, message: str) -> None:
        issues.append(Issue(where, message, columns.get(field, field)))

    code, wrong = _code(values.get("code"))
    if wrong:
        problem("code", wrong)
    elif code is None:
        problem("code", "code missing")
    elif len(code) > CODE_MAX or "/" in code or any(ch.isspace() or not ch.isprintable() for ch in code):
        problem("code", f"code {code!r} must be at most {CODE_MAX} characters without spaces or slashes")
    elif code in seen:
        problem("code", f"duplicate code {code} (also {seen[code]})")
    name = values.get("name")
    name = str(name).strip() if name is not None else ""
    if not name:
        problem("name", "name missing")
    elif len(name) > NAME_MAX:
        problem("name", f"name longer than {NAME_MAX} characters")
    lng, lat = _number(values.get("lng")), _number(values.get("lat"))
    if lng is None or not -180 <= lng <= 180:
        problem("lng", f"longitude must be a number between -180 and 180, got {values.get('lng')!r}")
    if lat is None or not -90 <= lat <= 90:
        problem("lat", f"latitude must be a number between -90 and 90, got {values.get('lat')!r}")
    direction = None
    if values.get("direction") is not None and values.get("direction") != "":
        direction = _number(values["direction"])
        if direction is None or not 0 <= direction <= 360:
            problem("direction", f"direction must be degrees from north, 0 to 360, got {values['direction']!r}")
    stream_url = values.get("stream_url")
    stream_url = str(stream_url).strip() if stream_url is not None else None
    if stream_url and (len(stream_url) > URL_MAX or not _URL_RE.match(stream_url)):
        problem("stream_url", f"stream_url must be a URL such as rtsp://... of at most {URL_MAX} characters")
    owner, wrong = _code(values.get("owner_unit"))
    if wrong:
        problem("owner_unit", wrong)
    is_active = True
    if values.get("is_active") is not None and values.get("is_active") != "":
        flag = parse_flag(values["is_active"])
        if flag is None:
            problem("is_active", f"expected yes/no, got {values['is_active']!r}")
        else:
            is_active = flag
    if len(issues) > before:
        return None
    assert isinstance(code, str) and lng is not None and lat is not None
    seen[code] = where.split(" (code")[0]
    return CameraRecord(
        where=where,
        code=code,
        name=name,
        lng=lng,
        lat=lat,
        direction=direction,
        stream_url=stream_url or None,
        owner_unit=owner,
        is_active=is_active,
        column=dict(columns),
    )


# --- algorithm mappings --------------------------------------------------------------------------------------------

LOADER = sheets.yaml_loader(frozenset({sheets.INT, sheets.TIMESTAMP}))  # codes like 0101 stay text


@dataclass(frozen=True)
class AlgorithmRecord:
    """One mapping of an algorithm file, with where it is."""

    where: str
    item: AlgorithmIn


def read_algorithms(path: Path) -> list[AlgorithmRecord]:
    """Reads an algorithm mapping file (.yaml, .yml or .xlsx); raises InputError naming every problem."""
    path = Path(path)
    summary = f"{path.name}: no algorithm imported"
    suffix = path.suffix.lower()
    if suffix not in {".yaml", ".yml", ".xlsx"}:
        raise InputError([Issue(path.name, f"unsupported file type {suffix!r}; use .yaml, .yml or .xlsx")], summary)
    if not path.is_file():
        raise InputError([Issue(str(path), "file not found")], summary)
    if suffix == ".xlsx":
        return _algorithms_from_xlsx(path, summary)
    data = sheets.read_yaml(path, loader=LOADER, summary=summary)
    return algorithms_from_data(data, source=path.name)


def algorithms_from_data(data: Any, *, source: str) -> list[AlgorithmRecord]:
    """Checks a parsed algorithm document ({algorithms: [...]}); raises InputError naming each bad item."""
    summary = f"{source}: no algorithm imported"
    if not isinstance(data, dict):
        raise InputError([Issue(source, "expected a mapping with the section 'algorithms'")], summary)
    try:
        document = AlgorithmDocument.model_validate(data)
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc = error["loc"]
            if len(loc) >= 2 and loc[0] == "algorithms" and isinstance(loc[1], int):
                items = data.get("algorithms")
                item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
                where = _item_where(source, loc[1], item)
                issues.append(Issue(where, sheets.error_message(error), ".".join(str(p) for p in loc[2:]) or None))
            else:
                issues.append(Issue(source, sheets.error_message(error), ".".join(str(p) for p in loc) or None))
        raise InputError(issues, summary) from None
    records = [
        AlgorithmRecord(where=_item_where(source, index, item.model_dump()), item=item)
        for index, item in enumerate(document.algorithms)
    ]
    if not records:
        raise InputError([Issue(source, "no algorithms in the file", "algorithms")], summary)
    return records


def _item_where(source: str, index: int, item: Any) -> str:
    where = f"{source} algorithms item {index + 1}"
    code = item.get("algorithm_code") if isinstance(item, dict) else None
    if code:
        where += f" (algorithm {code}" + (f", source {item['source']}" if item.get("source") else "") + ")"
    return where


def _algorithms_from_xlsx(path: Path, summary: str) -> list[AlgorithmRecord]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors alike for broken files
        raise InputError([Issue(path.name, f"not a readable XLSX workbook: {exc}")], summary) from None
    try:
        names = [title for title in workbook.sheetnames if title.strip().casefold() in ALGORITHM_SHEETS]
        sheet = names[0] if names else workbook.sheetnames[0]
    finally:
        workbook.close()
    table = area_files.read_table(path, sheet)
    columns, unknown = _match_columns(list(dict.fromkeys(k for row in table.rows for k in row)), ALGORITHM_COLUMNS)
    issues = [
        Issue(f"{table.source} row 1", f"unknown column {header!r}; expected {', '.join(ALGORITHM_COLUMNS)}", header)
        for header in unknown
    ]
    required = [name for name in ("algorithm_code", "name", "matter_type") if name not in columns]
    if required:
        issues.append(Issue(f"{table.source} row 1", f"missing column(s) {', '.join(required)}", required[0]))
    if issues:
        raise InputError(issues, summary)
    records: list[AlgorithmRecord] = []
    for number, row in zip(table.row_numbers, table.rows, strict=True):
        values: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for name, header in columns.items():
            value = row.get(header)
            if value is None:
                continue
            if name in ("source", "algorithm_code", "matter_type"):
                value, wrong = _code(value)
                if wrong:
                    problems.append((header, wrong))
                    continue
            elif name == "is_active":
                flag = parse_flag(value)
                value = value if flag is None else flag
            values[name] = value
        where = f"{table.source} row {number}"
        if values.get("algorithm_code"):
            where += f" (algorithm {values['algorithm_code']})"
        if problems:
            issues.extend(Issue(where, message, header) for header, message in problems)
            continue
        try:
            records.append(AlgorithmRecord(where=where, item=AlgorithmIn.model_validate(values)))
        except ValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else None
                issues.append(Issue(where, sheets.error_message(error), columns.get(field or "", field)))
    if issues:
        raise InputError(issues, summary)
    if not records:
        raise InputError([Issue(table.source, "no algorithm rows")], summary)
    return records
