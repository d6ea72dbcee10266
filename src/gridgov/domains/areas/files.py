"""Reading the files an area import accepts: GeoJSON (.geojson/.json), XLSX and CSV (UTF-8, with or without BOM, or
GB18030, as Chinese Excel saves it)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gridgov.core.errors import InputError, Issue

GEOJSON_SUFFIXES = (".geojson", ".json")
TABLE_SUFFIXES = (".xlsx", ".csv")
FileKind = Literal["geojson", "table"]


@dataclass
class Table:
    """Rows of a spreadsheet or CSV file, keyed by the header row, with the row numbers a spreadsheet shows."""

    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)


def file_kind(path: Path) -> FileKind:
    """Returns whether `path` is read as GeoJSON or as a table, from its suffix."""
    suffix = path.suffix.lower()
    if suffix in GEOJSON_SUFFIXES:
        return "geojson"
    if suffix in TABLE_SUFFIXES:
        return "table"
    raise InputError(
        [Issue(path.name, f"unsupported file type {suffix or '(none)'!r}: expected .geojson, .json, .xlsx or .csv")],
        "file not read",
    )


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise InputError([Issue(str(path), "no such file")], "file not read")


def _read_bytes(path: Path) -> bytes:
    _require_file(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError([Issue(str(path), f"cannot read the file: {exc.strerror or exc}")], "file not read") from None


def decode_text(data: bytes, source: str) -> str:
    """Returns `data` decoded as UTF-8 (a BOM is dropped) or else GB18030; raises InputError if neither fits."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InputError(
            [Issue(source, f"not UTF-8 or GB18030 text (undecodable byte at offset {exc.start})")], "file not read"
        ) from None


def read_geojson(path: Path) -> dict[str, Any]:
    """Returns the GeoJSON object in `path`; raises InputError naming the line and column of a syntax error."""
    text = decode_text(_read_bytes(path), path.name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            [Issue(f"{path.name} line {exc.lineno} column {exc.colno}", f"not valid JSON: {exc.msg}")], "file not read"
        ) from None
    if not isinstance(data, dict):
        raise InputError([Issue(path.name, "not a GeoJSON object (expected a FeatureCollection)")], "file not read")
    return data


def read_table(path: Path, sheet: str | None = None) -> Table:
    """Returns the rows of an .xlsx (first sheet unless `sheet`) or .csv file under its header row."""
    suffix = path.suffix.lower()
    _require_file(path)
    if suffix == ".xlsx":
        return _read_xlsx(path, sheet)
    if suffix == ".csv":
        return _read_csv(path)
    raise InputError([Issue(path.name, f"not a table file ({suffix!r}): expected .xlsx or .csv")], "file not read")


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return value


def _table_from_rows(source: str, numbered_rows: list[tuple[int, list[Any]]]) -> Table:
    table = Table(source=source)
    rows = [(number, [_cell(value) for value in values]) for number, values in numbered_rows]
    rows = [(number, values) for number, values in rows if any(value is not None for value in values)]
    if not rows:
        raise InputError([Issue(source, "the file has no header row")], "file not read")
    header_number, header_values = rows[0]
    headers: list[str] = []
    issues: list[Issue] = []
    for value in header_values:
        name = "" if value is None else str(value)
        if name and name in headers:
            issues.append(Issue(f"{source} row {header_number}", f"duplicate column {name!r}", name))
        headers.append(name)
    if issues:
        raise InputError(issues, "file not read")
    for number, values in rows[1:]:
        record: dict[str, Any] = {}
        for index, value in enumerate(values):
            name = headers[index] if index < len(headers) else ""
            if not name:
                if value is not None:
                    issues.append(
                        Issue(f"{source} row {number}", f"value {value!r} in column {index + 1}, which has no header")
                    )
                continue
            record[name] = value
        table.rows.append(record)
        table.row_numbers.append(number)
    if issues:
        raise InputError(issues, "file not read")
    return table


def _read_csv(path: Path) -> Table:
    text = decode_text(_read_bytes(path), path.name)
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count) if first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        numbered = [(number, row) for number, row in enumerate(reader, start=1)]
    except csv.Error as exc:
        issue = Issue(f"{path.name} line {reader.line_num}", f"not valid CSV: {exc}")
        raise InputError([issue], "file not read") from None
    return _table_from_rows(path.name, numbered)


def _read_xlsx(path: Path, sheet: str | None) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError([Issue(path.name, f"not a readable XLSX workbook ({exc})")], "file not read") from None
    try:
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            raise InputError(
                [Issue(path.name, f"no sheet named {sheet!r} (sheets: {', '.join(workbook.sheetnames)})")],
                "file not read",
            )
        rows = worksheet.iter_rows(min_row=1, values_only=True)
        numbered = [(number, list(values)) for number, values in enumerate(rows, start=1)]
        return _table_from_rows(f"{path.name} sheet {worksheet.title!r}", numbered)
    finally:
        workbook.close()
