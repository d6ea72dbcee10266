"""IoT files: the config (device types and alarm rules) as YAML or XLSX, device lists as XLSX, CSV or GeoJSON,
and the NGSI-LD export of devices.

A config error names the section, the item and its code in YAML ("iot.yaml rules item 4 (code tilt)") or the
sheet, the row and the column in XLSX ("iot.xlsx sheet rules row 5", field "threshold"). A device file error
names the row ("devices.csv row 7", field "owner") or the feature ("devices.geojson feature 3 (code YG-0001)").
Both config formats carry the same content, so any config file can be converted to the other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from gridgov.core import sheets
from gridgov.core.errors import InputError, Issue
from gridgov.core.geo import Crs
from gridgov.domains.areas import files as area_files
from gridgov.domains.areas.locate import parse_coordinates
from gridgov.domains.iot.schemas import (
    CONFIG_SECTIONS,
    DeviceIn,
    DeviceTypeIn,
    IotConfigDocument,
    RuleIn,
    format_properties,
)

YAML_SUFFIXES = frozenset({".yaml", ".yml"})
XLSX_SUFFIXES = frozenset({".xlsx"})
DEVICE_TABLE_SUFFIXES = frozenset({".xlsx", ".csv"})
DEVICE_GEOJSON_SUFFIXES = frozenset({".geojson", ".json"})

SHEET_MODELS: dict[str, type[BaseModel]] = {"device_types": DeviceTypeIn, "rules": RuleIn}
SHEET_ALIASES = {"设备类型": "device_types", "告警规则": "rules", "规则": "rules", "报警规则": "rules"}
CONFIG_HEADER_ALIASES: dict[str, dict[str, str]] = {
    "device_types": {
        "编码": "code",
        "类型编码": "code",
        "名称": "name",
        "类型名称": "name",
        "英文名称": "name_en",
        "类别": "category",
        "设备类别": "category",
        "属性": "properties",
        "监测属性": "properties",
    },
    "rules": {
        "编码": "code",
        "告警类型": "code",
        "名称": "name",
        "规则名称": "name",
        "设备类型": "device_type",
        "设备": "device",
        "设备编码": "device",
        "规则类型": "kind",
        "类型": "kind",
        "属性": "property",
        "监测属性": "property",
        "运算符": "operator",
        "比较": "operator",
        "阈值": "threshold",
        "恢复阈值": "clear_threshold",
        "持续秒数": "duration_s",
        "持续时间": "duration_s",
        "变化率": "rate_per_min",
        "每分钟变化": "rate_per_min",
        "离线秒数": "offline_after_s",
        "离线时间": "offline_after_s",
        "级别": "severity",
        "严重程度": "severity",
        "告警类别": "category",
        "类别": "category",
        "子类别": "sub_category",
        "事项": "matter_type",
        "事项编码": "matter_type",
        "启用": "is_active",
        "是否启用": "is_active",
    },
}
# Columns written as text, so Excel keeps codes such as 0101 as they are when someone edits the sheet.
_TEXT_COLUMNS = frozenset({"code", "device_type", "device", "matter_type", "property", "operator"})

# Device file columns (XLSX, CSV) and GeoJSON properties: field → accepted names (compared without spaces, case,
# "*" marks and a bracketed note such as "经度(GCJ02)").
DEVICE_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "设备编码", "设备编号", "编码", "设备id", "device_id", "deviceid"),
    "serial": ("serial", "序列号", "设备序列号", "出厂编号", "sn", "serial_number", "serialnumber"),
    "name": ("name", "名称", "设备名称"),
    "type": ("type", "设备类型", "类型", "类型编码", "device_type"),
    "owner": ("owner", "权属单位", "权属单位编码", "产权单位", "owner_unit"),
    "address": ("address", "地址", "安装地址", "安装位置"),
    "installed_at": ("installed_at", "安装时间", "安装日期", "installed"),
    "lng": ("lng", "经度", "lon", "longitude"),
    "lat": ("lat", "纬度", "latitude"),
    "crs": ("crs", "坐标系"),
}
DEVICE_REQUIRED = ("code", "type", "lng", "lat")
_TEXT_FIELDS = ("code", "serial", "name", "type", "owner", "address")

NGSI_LD_CONTEXT = "https://smartdatamodels.org/context.jsonld"
DEVICE_URN = "urn:ngsi-ld:Device:"  # + the device's code
"""The Smart Data Models JSON-LD context, named by URL (never fetched)."""


# --- pydantic errors → issues -----------------------------------------------------------------------------------


def _field(loc: tuple[int | str, ...]) -> str | None:
    parts = [str(part) for part in loc if part != "[key]" and not isinstance(part, int)]
    return ".".join(parts) or None


def _rejected(name: str, what: str = "config") -> str:
    return f"{name}: {what} rejected"


def _check_suffix(path: Path, allowed: frozenset[str], summary: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        expected = ", ".join(sorted(allowed))
        raise InputError(
            [Issue(path.name, f"unsupported file type {path.suffix or '(none)'!r}; use {expected}")], summary
        )
    return suffix


# --- config: YAML -----------------------------------------------------------------------------------------------


def describe_item(source: str, section: str, index: int, item: Any) -> str:
    """Returns the YAML-style place of a config item: section, 1-based item number, code and scope."""
    where = f"{source} {section} item {index + 1}"
    get = item.get if isinstance(item, dict) else lambda key: getattr(item, key, None)
    code = get("code")
    if not code:
        return where
    scope = (
        f", device {get('device')}" if get("device") else f", type {get('device_type')}" if get("device_type") else ""
    )
    return f"{where} (code {code}{scope})"


_Loader = sheets.yaml_loader(frozenset({sheets.TIMESTAMP}))


def _load_yaml(path: Path) -> IotConfigDocument:
    name = path.name
    summary = _rejected(name)
    data = sheets.read_yaml(path, loader=_Loader, summary=summary)
    return parse_config(data, source=name)


def parse_config(data: Any, *, source: str) -> IotConfigDocument:
    """Validates config data already read (a mapping, as in YAML); raises InputError naming section and item."""
    summary = _rejected(source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError([Issue(source, f"expected a mapping with the sections {', '.join(CONFIG_SECTIONS)}")], summary)
    try:
        document = IotConfigDocument.model_validate(data)
    except ValidationError as exc:
        raise InputError([_yaml_issue(source, data, error) for error in exc.errors()], summary=summary) from None
    for section in CONFIG_SECTIONS:
        for index, item in enumerate(getattr(document, section)):
            document.set_location(section, index, describe_item(source, section, index, item))
    return document


def _yaml_issue(name: str, data: dict[str, Any], error: ErrorDetails) -> Issue:
    loc = error["loc"]
    if len(loc) >= 2 and loc[0] in CONFIG_SECTIONS and isinstance(loc[1], int):
        section, index = str(loc[0]), loc[1]
        items = data.get(section)
        item = items[index] if isinstance(items, list) and index < len(items) else None
        return Issue(
            describe_item(name, section, index, item if isinstance(item, dict) else {}),
            sheets.error_message(error),
            _field(loc[2:]),
        )
    if len(loc) == 1 and error["type"] == "extra_forbidden":
        return Issue(name, f"unknown section; expected {', '.join(('version', *CONFIG_SECTIONS))}", str(loc[0]))
    return Issue(name, sheets.error_message(error), _field(loc))


class _Flow(dict[str, Any]):
    """A mapping written on one line ({tilt: °, battery: '%'})."""


class _Dumper(sheets.SafeDumper):  # type: ignore[misc,valid-type]
    """Writes config YAML for people: block style, properties on one line."""


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))


def dump_yaml(document: IotConfigDocument) -> str:
    """Returns `document` as config YAML text (absent values left out)."""
    data = document.model_dump(mode="json")
    out: dict[str, Any] = {"version": data["version"]}
    for section in CONFIG_SECTIONS:
        items = []
        for item in data[section]:
            tidy = {k: v for k, v in item.items() if v is not None}
            if "properties" in tidy:
                tidy["properties"] = _Flow(tidy["properties"])
            if tidy.get("is_active") is True:
                del tidy["is_active"]
            items.append(tidy)
        out[section] = items
    header = "# gridgov IoT config: device types and alarm rules; format described in docs/iot.md\n"
    return header + yaml.dump(out, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=120)


# --- config: XLSX -----------------------------------------------------------------------------------------------


def _sheet_rows(ws: Worksheet, section: str, where: str, issues: list[Issue]) -> Iterator[tuple[int, dict[str, Any]]]:
    model = SHEET_MODELS[section]
    required = [name for name, info in model.model_fields.items() if info.is_required()]
    return sheets.read_sheet_rows(
        ws,
        fields=list(model.model_fields),
        required=required,
        aliases=CONFIG_HEADER_ALIASES[section],
        where=where,
        issues=issues,
    )


def _load_xlsx(path: Path) -> IotConfigDocument:
    name = path.name
    summary = _rejected(name)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors alike for broken files
        raise InputError([Issue(name, f"not a readable XLSX workbook: {exc}")], summary=summary) from None
    issues: list[Issue] = []
    document = IotConfigDocument()
    locations: list[tuple[str, int, str]] = []
    try:
        seen: dict[str, str] = {}
        for ws in workbook.worksheets:
            section = sheets.sheet_section(ws.title, SHEET_MODELS, SHEET_ALIASES)
            if section == "":
                continue
            if section is None:
                issues.append(Issue(f"{name} sheet {ws.title}", f"unknown sheet; expected {', '.join(SHEET_MODELS)}"))
                continue
            if section in seen:
                issues.append(Issue(f"{name} sheet {ws.title}", f"a second {section} sheet (first: {seen[section]})"))
                continue
            seen[section] = ws.title
            where = f"{name} sheet {ws.title}"
            items: list[Any] = getattr(document, section)
            for number, record in _sheet_rows(ws, section, where, issues):
                row_where = f"{where} row {number}"
                try:
                    item = SHEET_MODELS[section].model_validate(record)
                except ValidationError as exc:
                    issues.extend(Issue(row_where, sheets.error_message(e), _field(e["loc"][:1])) for e in exc.errors())
                    continue
                locations.append((section, len(items), row_where))
                items.append(item)
    finally:
        workbook.close()
    if issues:
        raise InputError(issues, summary=summary)
    for section, index, where in locations:
        document.set_location(section, index, where)
    return document


def _write_xlsx(document: IotConfigDocument, path: Path) -> None:
    data = document.model_dump(mode="json")
    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    for section, model in SHEET_MODELS.items():
        ws = workbook.create_sheet(section)
        columns = list(model.model_fields)
        ws.append(columns)
        for cell in ws[1]:
            cell.font = bold
        widths = [len(column) for column in columns]
        for item in data[section]:
            values: list[Any] = []
            for column in columns:
                value = item.get(column)
                if column == "properties":
                    value = format_properties(value)
                elif isinstance(value, bool):
                    value = "yes" if value else "no"
                values.append(value)
            ws.append(values)
            widths = [max(w, min(60, len(str(v)) if v is not None else 0)) for w, v in zip(widths, values, strict=True)]
        for index, (column, width) in enumerate(zip(columns, widths, strict=True), start=1):
            letter = get_column_letter(index)
            ws.column_dimensions[letter].width = width + 2
            if column in _TEXT_COLUMNS:
                for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = "@"
        ws.freeze_panes = "A2"
    workbook.save(path)


def load_config(path: Path) -> IotConfigDocument:
    """Reads a config file (.yaml, .yml or .xlsx); raises InputError naming every problem and its place."""
    path = Path(path)
    suffix = _check_suffix(path, YAML_SUFFIXES | XLSX_SUFFIXES, _rejected(path.name))
    if not path.is_file():
        raise InputError([Issue(str(path), "file not found")], summary=_rejected(path.name))
    return _load_yaml(path) if suffix in YAML_SUFFIXES else _load_xlsx(path)


def write_config(document: IotConfigDocument, path: Path) -> None:
    """Writes `document` as YAML or XLSX (by suffix), in the layout load_config reads back unchanged."""
    path = Path(path)
    suffix = _check_suffix(path, YAML_SUFFIXES | XLSX_SUFFIXES, f"{path.name}: cannot write the config")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in YAML_SUFFIXES:
        path.write_text(dump_yaml(document), encoding="utf-8")
    else:
        _write_xlsx(document, path)


# --- device files -----------------------------------------------------------------------------------------------


@dataclass
class DeviceRow:
    """One device read from a file, with the place it came from."""

    where: str
    device: DeviceIn


@dataclass
class DeviceFile:
    """The devices of a file that parsed, and the problems of the rows that did not (checked later as a whole)."""

    source: str
    rows: list[DeviceRow] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


def _key(text: str) -> str:
    text = re.sub(r"[（(][^）)]*[）)]", "", text)  # a bracketed note: 经度(GCJ02)
    return text.strip().rstrip("*").strip().casefold().replace(" ", "").replace("-", "_")


_COLUMN_BY_KEY = {_key(name): field_name for field_name, names in DEVICE_COLUMNS.items() for name in names}


def _text(value: Any) -> Any:
    """Returns a cell as text for the text fields (XLSX makes 1001 a number)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _device_record(
    raw: dict[str, Any], where: str, default_crs: Crs, issues: list[Issue], geometry_field: str | None = None
) -> DeviceRow | None:
    """Validates one row's values (already keyed by field); appends its problems to `issues`."""
    record = {name: _text(raw[name]) if name in _TEXT_FIELDS else raw[name] for name in raw if raw[name] is not None}
    record.setdefault("crs", default_crs.value)
    problems: list[Issue] = []
    try:
        lng, lat, _crs = parse_coordinates(record.get("lng"), record.get("lat"), None, where)
        record["lng"], record["lat"] = lng, lat
    except InputError as error:
        problems.extend(Issue(i.where, i.message, geometry_field or i.field) for i in error.issues)
        record.pop("lng", None), record.pop("lat", None)
    try:
        device = DeviceIn.model_validate(record)
    except ValidationError as exc:
        for error in exc.errors():
            name = _field(error["loc"][:1])
            if name in ("lng", "lat") and problems:
                continue  # already said, better, by parse_coordinates
            problems.append(Issue(where, sheets.error_message(error), name))
        issues.extend(problems)
        return None
    if problems:
        issues.extend(problems)
        return None
    return DeviceRow(where=where, device=device)


def _note_duplicates(rows: list[tuple[str, Any]], issues: list[Issue]) -> None:
    first: dict[str, str] = {}
    for where, code in rows:
        if code is None or not str(code).strip():
            continue
        code = str(_text(code)).strip()
        if code in first:
            issues.append(Issue(where, f"duplicate code {code!r} (first at {first[code]})", "code"))
        first.setdefault(code, where)


def _read_device_table(path: Path, default_crs: Crs) -> DeviceFile:
    table = area_files.read_table(path)
    result = DeviceFile(source=path.name)
    header_where = f"{table.source} row {table.row_numbers[0] - 1 if table.row_numbers else 1}"
    columns: dict[str, str] = {}
    header_issues: list[Issue] = []
    names = list(table.rows[0]) if table.rows else []
    for name in names:
        field_name = _COLUMN_BY_KEY.get(_key(name))
        if field_name is None:
            accepted = ", ".join(DEVICE_COLUMNS)
            header_issues.append(Issue(header_where, f"unknown column {name!r}; expected {accepted}", name))
        elif field_name in columns.values():
            header_issues.append(Issue(header_where, f"two columns for {field_name}", name))
        else:
            columns[name] = field_name
    missing = [name for name in DEVICE_REQUIRED if name not in columns.values()]
    if table.rows and missing:
        header_issues.append(Issue(header_where, f"missing column(s) {', '.join(missing)}", missing[0]))
    if header_issues:
        raise InputError(header_issues, f"{path.name}: devices rejected, nothing written")
    codes: list[tuple[str, Any]] = []
    for number, row in zip(table.row_numbers, table.rows, strict=True):
        where = f"{table.source} row {number}"
        raw = {columns[name]: value for name, value in row.items() if name in columns}
        codes.append((where, raw.get("code")))
        record = _device_record(raw, where, default_crs, result.issues)
        if record is not None:
            result.rows.append(record)
    _note_duplicates(codes, result.issues)
    return result


def _read_device_geojson(path: Path, default_crs: Crs) -> DeviceFile:
    data = area_files.read_geojson(path)
    name = path.name
    result = DeviceFile(source=name)
    summary = f"{name}: devices rejected, nothing written"
    if data.get("type") == "Feature":
        features: Any = [data]
    elif data.get("type") == "FeatureCollection":
        features = data.get("features")
    else:
        raise InputError([Issue(name, "expected a GeoJSON FeatureCollection of Point features", "type")], summary)
    if not isinstance(features, list):
        raise InputError([Issue(name, "`features` must be a list", "features")], summary)
    codes: list[tuple[str, Any]] = []
    for index, feature in enumerate(features):
        where = f"{name} feature {index + 1}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            result.issues.append(Issue(where, "not a GeoJSON Feature", "type"))
            continue
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            result.issues.append(Issue(where, "`properties` must be an object", "properties"))
            continue
        # NOTE: GIS exports carry other properties (fid, styles ...): only the known ones are read.
        raw = {}
        for key, value in properties.items():
            field_name = _COLUMN_BY_KEY.get(_key(str(key)))
            if field_name is not None and field_name not in ("lng", "lat") and field_name not in raw:
                raw[field_name] = value.strip() or None if isinstance(value, str) else value
        if raw.get("code"):
            where = f"{where} (code {_text(raw['code'])})"
        codes.append((where, raw.get("code")))
        geometry = feature.get("geometry")
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            kind = geometry.get("type") if isinstance(geometry, dict) else None
            result.issues.append(Issue(where, f"geometry must be a Point, got {kind or 'none'}", "geometry"))
            continue
        coordinates = geometry.get("coordinates")
        if (
            not isinstance(coordinates, list)
            or len(coordinates) < 2
            or any(isinstance(c, bool | str) for c in coordinates[:2])
        ):
            result.issues.append(
                Issue(where, f"Point coordinates must be [lng, lat] numbers, got {coordinates!r}", "geometry")
            )
            continue
        raw["lng"], raw["lat"] = coordinates[0], coordinates[1]
        record = _device_record(raw, where, default_crs, result.issues, geometry_field="geometry")
        if record is not None:
            result.rows.append(record)
    _note_duplicates(codes, result.issues)
    return result


def read_devices(path: Path, *, crs: Crs | str | None = None) -> DeviceFile:
    """Reads a device file (.xlsx, .csv, .geojson or .json); `crs` is the default of rows that name none.

    A file that cannot be read at all raises InputError; problems of single rows are collected in the result.
    """
    path = Path(path)
    summary = f"{path.name}: devices rejected, nothing written"
    suffix = _check_suffix(path, DEVICE_TABLE_SUFFIXES | DEVICE_GEOJSON_SUFFIXES, summary)
    try:
        default_crs = Crs(crs or Crs.wgs84)
    except ValueError:
        choices = ", ".join(c.value for c in Crs)
        raise InputError(
            [Issue(path.name, f"unknown coordinate system {crs!r}: use {choices}", "crs")], summary
        ) from None
    try:
        if suffix in DEVICE_TABLE_SUFFIXES:
            return _read_device_table(path, default_crs)
        return _read_device_geojson(path, default_crs)
    except InputError as error:
        if error.summary.startswith(path.name):
            raise
        raise InputError(error.issues, summary) from None


# --- NGSI-LD ----------------------------------------------------------------------------------------------------


def write_ngsi_ld(entities: list[dict[str, Any]], path: Path) -> None:
    """Writes NGSI-LD Device entities: a JSON-LD array (.json) or the NGSI-LD GeoJSON representation (.geojson)."""
    path = Path(path)
    suffix = _check_suffix(path, DEVICE_GEOJSON_SUFFIXES, f"{path.name}: cannot write the devices")
    path.parent.mkdir(parents=True, exist_ok=True)
    data: Any = entities if suffix == ".json" else to_geojson(entities)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def to_geojson(entities: list[dict[str, Any]]) -> dict[str, Any]:
    """Returns entities in the NGSI-LD GeoJSON representation: one Feature per entity, `location` as geometry."""
    features = []
    for entity in entities:
        properties = {k: v for k, v in entity.items() if k not in ("id", "@context")}
        features.append(
            {"id": entity["id"], "type": "Feature", "geometry": entity["location"]["value"], "properties": properties}
        )
    return {"type": "FeatureCollection", "features": features, "@context": NGSI_LD_CONTEXT}
