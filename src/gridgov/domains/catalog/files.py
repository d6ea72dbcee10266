"""Catalogue files: YAML (one document) and XLSX (one sheet per section), read with errors that name the spot.

A YAML error names the section, the item number and its code ("catalog.yaml matter_types item 4 (code 010203)");
an XLSX error names the sheet, the row and the column ("catalog.xlsx sheet matter_types row 14", field
"department_only"). Both formats carry exactly the same content, so any file can be converted to the other.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from gridgov.domains.catalog.schemas import (
    SECTIONS,
    CatalogDocument,
    CrosswalkIn,
    FileModel,
    GridAccessIn,
    MatterTypeIn,
    PowerIn,
    ResponsibilityIn,
    TimeLimitRowIn,
    UnitIn,
)

YAML_SUFFIXES = frozenset({".yaml", ".yml"})
XLSX_SUFFIXES = frozenset({".xlsx"})

SHEET_MODELS: dict[str, type[FileModel]] = {
    "units": UnitIn,
    "matter_types": MatterTypeIn,
    "time_limits": TimeLimitRowIn,
    "responsibilities": ResponsibilityIn,
    "grid_access": GridAccessIn,
    "powers": PowerIn,
    "crosswalks": CrosswalkIn,
}
"""The XLSX sheets in the order they are written; `time_limits` holds one row per matter × urgency × stage.
`crosswalks` is written only when the catalogue has crosswalk rows."""

SHEET_ALIASES = {
    "单位": "units",
    "单位清单": "units",
    "事项": "matter_types",
    "事项清单": "matter_types",
    "时限": "time_limits",
    "处置时限": "time_limits",
    "责任清单": "responsibilities",
    "准入清单": "grid_access",
    "网格事项准入清单": "grid_access",
    "权责清单": "powers",
    "对照表": "crosswalks",
    "分类对照表": "crosswalks",
    "12345对照表": "crosswalks",
}

# Chinese column headers a district is likely to type, per sheet (English field names always work).
HEADER_ALIASES: dict[str, dict[str, str]] = {
    "units": {
        "编码": "code",
        "单位编码": "code",
        "代码": "code",
        "名称": "name",
        "单位名称": "name",
        "类型": "kind",
        "单位类型": "kind",
        "层级": "level",
        "级别": "level",
        "职能": "function",
        "上级": "parent",
        "上级单位": "parent",
        "区域": "area",
        "所属区域": "area",
        "区域编码": "area",
        "电话": "phone",
        "联系电话": "phone",
        "启用": "is_active",
        "是否启用": "is_active",
    },
    "matter_types": {
        "编码": "code",
        "事项编码": "code",
        "代码": "code",
        "名称": "name",
        "事项名称": "name",
        "英文名称": "name_en",
        "类别": "kind",
        "分类": "kind",
        "大类代码": "major_code",
        "大类编码": "major_code",
        "大类名称": "major_name",
        "大类": "major_name",
        "小类代码": "minor_code",
        "小类编码": "minor_code",
        "立案条件": "register_condition",
        "结案条件": "close_condition",
        "紧急程度": "default_urgency",
        "部门专办": "department_only",
        "仅限部门": "department_only",
        "需要证据": "evidence_required",
        "需要照片": "evidence_required",
        "关键词": "keywords",
        "启用": "is_active",
        "是否启用": "is_active",
    },
    "time_limits": {
        "事项": "matter",
        "事项编码": "matter",
        "紧急程度": "urgency",
        "环节": "stage",
        "阶段": "stage",
        "时限": "limit",
    },
    "responsibilities": {
        "事项": "matter",
        "事项编码": "matter",
        "区域": "area",
        "区域编码": "area",
        "层级": "level",
        "责任单位": "unit",
        "主办单位": "unit",
        "职能": "function",
        "主办职能": "function",
        "协办单位": "co_units",
        "协办职能": "co_functions",
        "法律依据": "legal_basis",
        "依据": "legal_basis",
    },
    "grid_access": {
        "事项": "matter",
        "事项编码": "matter",
        "区域": "area",
        "区域编码": "area",
        "准入": "admitted",
        "是否准入": "admitted",
        "依据": "basis",
    },
    "powers": {
        "编码": "code",
        "权责编码": "code",
        "单位": "unit",
        "实施单位": "unit",
        "名称": "title",
        "事项名称": "title",
        "类别": "category",
        "权力类型": "category",
        "法律依据": "legal_basis",
        "依据": "legal_basis",
        "关联事项": "matters",
        "事项": "matters",
    },
    "crosswalks": {
        "来源": "source",
        "来源系统": "source",
        "外部编码": "external_code",
        "分类编码": "external_code",
        "诉求分类编码": "external_code",
        "外部名称": "external_name",
        "分类名称": "external_name",
        "诉求分类": "external_name",
        "事项": "matter_type",
        "事项编码": "matter_type",
    },
}


def describe_item(source: str, section: str, index: int, item: Any) -> str:
    """Returns the YAML-style location of an item: section, 1-based item number and its code or key."""
    where = f"{source} {section} item {index + 1}"
    get = item.get if isinstance(item, dict) else lambda key: getattr(item, key, None)
    if get("code"):
        return f"{where} (code {get('code')})"
    if get("external_code"):
        return f"{where} (source {get('source') or '12345'}, code {get('external_code')})"
    if get("matter"):
        scope = f"area {get('area')}" if get("area") else "everywhere"
        return f"{where} (matter {get('matter')}, {scope})"
    return where


def load_file(path: Path) -> CatalogDocument:
    """Reads a catalogue file (.yaml, .yml or .xlsx); raises InputError naming every problem and its place."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in YAML_SUFFIXES | XLSX_SUFFIXES:
        raise InputError(
            [Issue(path.name, f"unsupported file type {path.suffix!r}; use .yaml, .yml or .xlsx")],
            summary=f"{path.name}: catalogue rejected",
        )
    if not path.is_file():
        raise InputError([Issue(str(path), "file not found")], summary=f"{path.name}: catalogue rejected")
    return _load_yaml(path) if suffix in YAML_SUFFIXES else _load_xlsx(path)


def write_file(document: CatalogDocument, path: Path) -> None:
    """Writes `document` as YAML or XLSX (by suffix), in the layout load_file reads back unchanged."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in YAML_SUFFIXES | XLSX_SUFFIXES:
        raise InputError(
            [Issue(path.name, f"unsupported file type {path.suffix!r}; use .yaml, .yml or .xlsx")],
            summary=f"{path.name}: cannot write the catalogue",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in YAML_SUFFIXES:
        path.write_text(dump_yaml(document), encoding="utf-8")
    else:
        _write_xlsx(document, path)


# --- pydantic errors → issues -----------------------------------------------------------------------------------


def _field(loc: tuple[int | str, ...]) -> str | None:
    parts: list[str] = []
    for part in loc:
        if part == "[key]":  # pydantic marks an invalid mapping key this way; the key itself is already in loc
            continue
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts) or None


# --- YAML -------------------------------------------------------------------------------------------------------

_Loader = sheets.yaml_loader(frozenset({sheets.INT, sheets.FLOAT, sheets.TIMESTAMP}))


def _load_yaml(path: Path) -> CatalogDocument:
    name = path.name
    summary = f"{name}: catalogue rejected"
    data = sheets.read_yaml(path, loader=_Loader, summary=summary)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        message = f"expected a mapping with the sections {', '.join(SECTIONS)}"
        raise InputError([Issue(name, message)], summary=summary)
    try:
        return CatalogDocument.model_validate(data)
    except ValidationError as exc:
        raise InputError([_yaml_issue(name, data, error) for error in exc.errors()], summary=summary) from None


def _yaml_issue(name: str, data: dict[str, Any], error: ErrorDetails) -> Issue:
    loc = error["loc"]
    if len(loc) >= 2 and loc[0] in SECTIONS and isinstance(loc[1], int):
        section, index = str(loc[0]), loc[1]
        items = data.get(section)
        item = items[index] if isinstance(items, list) and index < len(items) else None
        return Issue(describe_item(name, section, index, item or {}), sheets.error_message(error), _field(loc[2:]))
    if len(loc) == 1 and error["type"] == "extra_forbidden":
        return Issue(name, f"unknown section; expected {', '.join(('version', *SECTIONS))}", str(loc[0]))
    return Issue(name, sheets.error_message(error), _field(loc))


class _Flow(dict[str, Any]):
    """A mapping written on one line ({register: 1wh, handle: 4wh})."""


class _FlowList(list[Any]):
    """A list written on one line ([井盖, 窨井])."""


class _Dumper(sheets.SafeDumper):  # type: ignore[misc,valid-type]
    """Writes catalogue YAML for people: block style, flow style for short maps and lists, `|` for long text."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
_Dumper.add_representer(str, _represent_text)


def _tidy(item: dict[str, Any]) -> dict[str, Any]:
    tidy: dict[str, Any] = {}
    for key, value in item.items():
        if value is None or value == [] or value == {}:
            continue
        if key == "time_limits":
            value = {urgency: _Flow(stages) for urgency, stages in value.items()}
        elif isinstance(value, list):
            value = _FlowList(value)
        tidy[key] = value
    return tidy


def dump_yaml(document: CatalogDocument) -> str:
    """Returns `document` as catalogue YAML text (absent values and empty lists left out)."""
    data = document.model_dump(mode="json")
    out: dict[str, Any] = {"version": data["version"]}
    for section in SECTIONS:
        out[section] = [_tidy(item) for item in data[section]]
    header = "# gridgov catalogue (reference data); format described in docs/catalog.md\n"
    body = yaml.dump(out, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=120)
    return header + body


# --- XLSX -------------------------------------------------------------------------------------------------------


def _columns(sheet: str) -> list[str]:
    """Returns the columns of `sheet` in written order (matter types keep their limits in `time_limits`)."""
    return [name for name in SHEET_MODELS[sheet].model_fields if name != "time_limits"]


def _read_rows(ws: Worksheet, sheet: str, where: str, issues: list[Issue]) -> Iterator[tuple[int, dict[str, Any]]]:
    required = [name for name, info in SHEET_MODELS[sheet].model_fields.items() if info.is_required()]
    return sheets.read_sheet_rows(
        ws, fields=_columns(sheet), required=required, aliases=HEADER_ALIASES.get(sheet, {}), where=where, issues=issues
    )


def _validate_row(model: type[FileModel], record: dict[str, Any], where: str, issues: list[Issue]) -> BaseModel | None:
    try:
        return model.model_validate(record)
    except ValidationError as exc:
        issues.extend(Issue(where, sheets.error_message(error), _field(error["loc"][:1])) for error in exc.errors())
        return None


def _load_xlsx(path: Path) -> CatalogDocument:
    name = path.name
    summary = f"{name}: catalogue rejected"
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors alike for broken files
        raise InputError([Issue(name, f"not a readable XLSX workbook: {exc}")], summary=summary) from None
    issues: list[Issue] = []
    raw: dict[str, list[tuple[str, dict[str, Any]]]] = {sheet: [] for sheet in SHEET_MODELS}
    try:
        seen: dict[str, str] = {}
        for ws in workbook.worksheets:
            sheet = sheets.sheet_section(ws.title, SHEET_MODELS, SHEET_ALIASES)
            if sheet == "":
                continue
            if sheet is None:
                known = ", ".join(SHEET_MODELS)
                issues.append(Issue(f"{name} sheet {ws.title}", f"unknown sheet; expected {known}"))
                continue
            if sheet in seen:
                issues.append(Issue(f"{name} sheet {ws.title}", f"a second {sheet} sheet (first: {seen[sheet]})"))
                continue
            seen[sheet] = ws.title
            where = f"{name} sheet {ws.title}"
            raw[sheet] = [(f"{where} row {number}", record) for number, record in _read_rows(ws, sheet, where, issues)]
    finally:
        workbook.close()

    # Time limits first, so each matter type row is validated with its limits attached; they attach by code, so a
    # repeated matter code is reported here rather than at import.
    matter_codes: dict[str, str] = {}
    for where, record in raw["matter_types"]:
        code = str(record.get("code", ""))
        if code in matter_codes:
            issues.append(Issue(where, f"duplicate code {code!r} (first at {matter_codes[code]})", "code"))
        matter_codes.setdefault(code, where)
    limits: dict[str, dict[str, dict[str, str]]] = {}
    for where, record in raw["time_limits"]:
        row = _validate_row(TimeLimitRowIn, record, where, issues)
        if not isinstance(row, TimeLimitRowIn):
            continue
        if row.matter not in matter_codes:
            message = f"matter type {row.matter!r} is not in sheet matter_types (limits are imported with it)"
            issues.append(Issue(where, message, "matter"))
            continue
        stages = limits.setdefault(row.matter, {}).setdefault(row.urgency.value, {})
        if row.stage.value in stages:
            message = f"a second {row.urgency.value} {row.stage.value} limit for {row.matter}"
            issues.append(Issue(where, message, "stage"))
            continue
        stages[row.stage.value] = row.limit

    document = CatalogDocument()
    locations: list[tuple[str, int, str]] = []
    for section in SECTIONS:
        items: list[BaseModel] = []
        for where, record in raw[section]:
            if section == "matter_types" and "code" in record:
                record = {**record, "time_limits": limits.get(str(record["code"]), {})}
            item = _validate_row(SHEET_MODELS[section], record, where, issues)
            if item is not None:
                locations.append((section, len(items), where))
                items.append(item)
        setattr(document, section, items)
    if issues:
        raise InputError(issues, summary=summary)
    for section, index, where in locations:
        document.set_location(section, index, where)
    return document


def _xlsx_value(value: object) -> object:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or None
    return value


def _write_xlsx(document: CatalogDocument, path: Path) -> None:
    data = document.model_dump(mode="json")
    rows: dict[str, list[dict[str, Any]]] = {section: data[section] for section in SECTIONS}
    rows["time_limits"] = [
        {"matter": item["code"], "urgency": urgency, "stage": stage, "limit": limit}
        for item in data["matter_types"]
        for urgency, stages in item["time_limits"].items()
        for stage, limit in stages.items()
    ]
    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    for sheet in SHEET_MODELS:
        if sheet == "crosswalks" and not rows[sheet]:
            continue  # an optional sheet: a catalogue without crosswalks keeps the classic layout
        ws = workbook.create_sheet(sheet)
        columns = _columns(sheet)
        ws.append(columns)
        for cell in ws[1]:
            cell.font = bold
        widths = [len(column) for column in columns]
        for item in rows[sheet]:
            values = [_xlsx_value(item.get(column)) for column in columns]
            ws.append(values)
            widths = [max(w, min(60, len(str(v)) if v is not None else 0)) for w, v in zip(widths, values, strict=True)]
        # NOTE: text format keeps Excel from turning codes such as 0101 into numbers when someone edits the sheet.
        for index, width in enumerate(widths, start=1):
            letter = get_column_letter(index)
            ws.column_dimensions[letter].width = width + 2
            ws.column_dimensions[letter].number_format = "@"
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                cell.number_format = "@"
        ws.freeze_panes = "A2"
    workbook.save(path)
