"""Reading 12345 work-order exports: XLSX (a sheet) or CSV (UTF-8 with or without BOM, or GBK/GB18030).

Columns are found by the names real exports use (工单编号, 受理时间, 诉求分类 ...) or by the field names, in any
order and beside any number of other columns (ignored). A title line above the header is skipped. Row numbers
are the ones Excel shows, so an error report points at the right line. Anything that makes the whole file
unusable (unreadable, no header, a required column missing) raises InputError before a row is imported.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridgov.core import sheets
from gridgov.core.errors import InputError, Issue

SUFFIXES = sheets.TABLE_SUFFIXES

# field → column names accepted (compared without spaces, case, "*" marks and a bracketed note: "经度(GCJ02)").
COLUMNS: dict[str, tuple[str, ...]] = {
    "order_id": (
        "工单编号",
        "工单号",
        "工单编码",
        "工单流水号",
        "诉求编号",
        "受理编号",
        "受理号",
        "order_id",
        "order_no",
    ),
    "received_at": ("受理时间", "来电时间", "登记时间", "诉求时间", "创建时间", "received_at", "received"),
    "category": (
        "诉求分类",
        "问题分类",
        "诉求类别",
        "问题类别",
        "事项分类",
        "业务分类",
        "分类",
        "分类编码",
        "诉求分类编码",
        "category",
        "category_code",
    ),
    "category_1": ("一级分类", "诉求一级分类"),
    "category_2": ("二级分类", "诉求二级分类"),
    "category_3": ("三级分类", "诉求三级分类"),
    "category_4": ("四级分类", "诉求四级分类"),
    "matter_type": ("事项编码", "matter_type"),
    "title": ("标题", "工单标题", "诉求标题", "主题", "title"),
    "content": (
        "诉求内容",
        "问题描述",
        "来电内容",
        "工单内容",
        "诉求描述",
        "事项描述",
        "内容",
        "content",
        "description",
    ),
    "caller_name": ("来电人", "来电人姓名", "诉求人", "诉求人姓名", "市民姓名", "姓名", "caller_name", "caller"),
    "caller_phone": ("联系电话", "来电号码", "来电电话", "联系方式", "手机号码", "电话", "caller_phone", "phone"),
    "address": ("地址", "事发地址", "事发地点", "问题地址", "诉求地址", "详细地址", "address"),
    "street": ("所属街道", "街道", "街道名称", "乡镇街道", "所属街镇", "street"),
    "community": ("所属社区", "社区", "社区名称", "community"),
    "grid": ("所属网格", "网格", "网格编码", "grid"),
    "area_code": ("区域编码", "区划编码", "area_code", "area"),
    "lng": ("经度", "lng", "lon", "longitude", "x"),
    "lat": ("纬度", "lat", "latitude", "y"),
    "crs": ("坐标系", "crs"),
    "urgency": ("紧急程度", "缓急程度", "紧急度", "urgency"),
    "deadline": ("办理时限", "办结时限", "要求办结时间", "截止时间", "处理时限", "deadline"),
}
AREA_FIELDS = ("grid", "community", "street", "area_code")
CATEGORY_LEVELS = ("category_1", "category_2", "category_3", "category_4")
HEADER_SEARCH_ROWS = 10  # a title line or two above the header is common in exported sheets


def _key(text: str) -> str:
    text = re.sub(r"[（(][^）)]*[）)]\s*$", "", text.strip())
    return re.sub(r"[\s_\-*]", "", text).casefold()


_BY_KEY: dict[str, str] = {_key(name): name_field for name_field, names in COLUMNS.items() for name in names}


@dataclass
class OrderRow:
    """One data row: its number as Excel shows it, and its values by field (blank cells left out)."""

    number: int
    values: dict[str, Any]


@dataclass
class OrderTable:
    """The rows of a hotline export, with which column of the file each field came from."""

    source: str
    sheet: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # field → the column title as written
    ignored: list[str] = field(default_factory=list)
    rows: list[OrderRow] = field(default_factory=list)

    def column(self, *fields: str) -> str | None:
        """Returns the file's column title(s) holding `fields`, joined, or None if the file has none of them."""
        titles = [self.columns[f] for f in fields if f in self.columns]
        return ", ".join(titles) if titles else None


def read_path(path: Path, *, sheet: str | None = None) -> OrderTable:
    """Reads a hotline export from disk (.xlsx or .csv); raises InputError for a file that cannot be used."""
    path = Path(path)
    return read_orders(sheets.read_file(path), path.name, sheet=sheet)


def read_orders(data: bytes, filename: str, *, sheet: str | None = None) -> OrderTable:
    """Reads a hotline export given as bytes (an upload); the suffix of `filename` says XLSX or CSV."""
    raw = sheets.read_table(data, filename, sheet=sheet, summary=f"{filename}: not imported")
    table = OrderTable(source=raw.source, sheet=raw.sheet)
    _fill(table, raw.rows, filename)
    return table


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cell(value: object) -> object:
    """Returns a cell's value: stripped text, an int for a whole number, a float, or a datetime."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, dt.time):
        return value.isoformat()
    return value


def _fill(table: OrderTable, rows: list[tuple[int, tuple[Any, ...]]], filename: str) -> None:
    summary = f"{filename}: not imported"
    header_at = next(
        (
            index
            for index, (_, values) in enumerate(rows[:HEADER_SEARCH_ROWS])
            if any(isinstance(v, str) and _BY_KEY.get(_key(v)) == "order_id" for v in values)
        ),
        None,
    )
    if header_at is None:
        names = ", ".join(COLUMNS["order_id"][:4])
        message = f"no header row with a work-order id column in the first {HEADER_SEARCH_ROWS} rows (e.g. {names})"
        raise InputError([Issue(table.source, message)], summary)
    header_number, header = rows[header_at]
    positions: dict[int, str] = {}
    for index, title in enumerate(header):
        if _blank(title):
            continue
        text = str(title).strip()
        found = _BY_KEY.get(_key(text))
        if found is None or found in table.columns:
            table.ignored.append(text)  # another export column (承办单位, 回访结果 ...) or a second one for a field
            continue
        table.columns[found] = text
        positions[index] = found
    _check_columns(table, header_number, summary)
    for number, values in rows[header_at + 1 :]:
        record = {positions[i]: _cell(v) for i, v in enumerate(values) if i in positions and not _blank(v)}
        if record:
            table.rows.append(OrderRow(number=number, values=record))


def _check_columns(table: OrderTable, header_number: int, summary: str) -> None:
    where = f"{table.source} row {header_number}"
    issues: list[Issue] = []

    def names(*fields: str) -> str:
        return " / ".join(COLUMNS[f][0] for f in fields)

    if "content" not in table.columns:
        issues.append(Issue(where, f"missing column {names('content')} (or {', '.join(COLUMNS['content'][1:4])})"))
    if not {"category", "matter_type", *CATEGORY_LEVELS} & set(table.columns):
        message = f"missing column {names('category')} (or {', '.join(COLUMNS['category'][1:4])}, 一级分类 ...)"
        issues.append(Issue(where, message))
    if ("lng" in table.columns) != ("lat" in table.columns):
        present, absent = ("lng", "lat") if "lng" in table.columns else ("lat", "lng")
        message = f"column {table.columns[present]} without {COLUMNS[absent][0]}: coordinates need both"
        issues.append(Issue(where, message))
    if "lng" not in table.columns and not set(AREA_FIELDS) & set(table.columns):
        message = (
            f"no location columns: give {names('lng')} and {names('lat')}, or {names('street')}, "
            f"{names('community')}, {names('grid')} or {names('area_code')}"
        )
        issues.append(Issue(where, message))
    if issues:
        raise InputError(issues, summary)
