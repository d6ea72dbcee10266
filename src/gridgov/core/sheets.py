"""Reading data files people edit by hand (XLSX sheets, YAML sections) into pydantic models, with errors that
name the sheet, row and column — shared by the catalogue, the IoT configuration and the video mappings — and
reading exported tables (XLSX or CSV in UTF-8 or GBK/GB18030) into numbered rows, for the hotline import and
the triage training files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from pydantic_core import ErrorDetails

from gridgov.core.errors import InputError, Issue
from gridgov.domains.areas.files import decode_text

# Sheets a workbook may carry besides its sections (instructions for whoever fills it in).
NOTE_SHEETS = frozenset({"readme", "notes", "说明", "填表说明"})


def error_message(error: ErrorDetails) -> str:
    """Returns a pydantic error as a short message for a person: "required", "unknown field", "..., got 'x'"."""
    kind = error["type"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    message = error["msg"]
    if kind == "value_error":  # our own validators already quote the offending value
        return message.removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    value = error.get("input")
    if isinstance(value, str | int | float | bool):
        message += f", got {value!r}"
    return message


def normalise(text: str) -> str:
    """Returns a header or sheet title as a field name: lower case, "_" for spaces and dashes, no "*" marks."""
    return text.strip().rstrip("*").strip().casefold().replace(" ", "_").replace("-", "_")


def cell_value(value: object) -> object:
    """Returns a cell's value as the file models expect: text, or a bool for a boolean cell."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def sheet_section(title: str, sections: Mapping[str, object], aliases: Mapping[str, str]) -> str | None:
    """Returns the section a sheet holds, "" for a sheet to skip (notes), or None for an unknown sheet."""
    key = normalise(title)
    if key in sections:
        return key
    if title.strip() in aliases:
        return aliases[title.strip()]
    if key.startswith(("_", "#")) or key in NOTE_SHEETS:
        return ""
    return None


def read_sheet_rows(
    ws: Worksheet,
    *,
    fields: list[str],
    required: list[str],
    aliases: Mapping[str, str],
    where: str,
    issues: list[Issue],
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields (row number, {field: value}) for each non-blank data row of `ws`, checking the header row.

    A header is a field name (any case, spaces for underscores) or one of `aliases` (Chinese titles); unknown or
    repeated headers, missing required columns and values under no header are added to `issues`.
    """
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None) or ()
    columns: dict[int, str] = {}
    for index, title in enumerate(header):
        if title is None or not str(title).strip():
            continue
        text = str(title).strip()
        field = normalise(text) if normalise(text) in fields else aliases.get(text)
        header_where = f"{where} row 1"
        if field is None:
            message = f"unknown column {text!r} (column {get_column_letter(index + 1)}); expected {', '.join(fields)}"
            issues.append(Issue(header_where, message, text))
        elif field in columns.values():
            issues.append(Issue(header_where, f"column {field!r} appears twice", field))
        else:
            columns[index] = field
    missing = [name for name in required if name not in columns.values()]
    if missing:
        issues.append(Issue(f"{where} row 1", f"missing column(s) {', '.join(missing)}", missing[0]))
        return
    for number, values in enumerate(rows, start=2):
        if all(value is None or (isinstance(value, str) and not value.strip()) for value in values):
            continue
        record: dict[str, Any] = {}
        for index, value in enumerate(values):
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if index not in columns:
                message = f"value in column {get_column_letter(index + 1)}, which has no known header"
                issues.append(Issue(f"{where} row {number}", message))
                continue
            record[columns[index]] = cell_value(value)
        yield number, record


# NOTE: the libyaml parser and emitter are several times faster than the pure-Python ones; both behave the same.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
INT, FLOAT, TIMESTAMP = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"


def yaml_loader(plain: frozenset[str]) -> type[yaml.SafeLoader]:
    """Returns a safe YAML loader that leaves the scalars of the `plain` tags as text (codes like 0101 keep their
    leading zero; dates stay as written, for the file model to read)."""
    loader = type("PlainLoader", (SafeLoader,), {})
    loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in plain]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return loader


def assign(row: Any, values: Mapping[str, Any]) -> bool:
    """Sets `values` on an ORM row; returns whether anything changed (an import counts updated vs unchanged)."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def read_yaml(path: Path, *, loader: type[yaml.SafeLoader], summary: str) -> Any:
    """Returns the data of a UTF-8 YAML file, or raises InputError naming the line and column of a syntax error."""
    name = path.name
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except UnicodeDecodeError as exc:
        raise InputError([Issue(name, f"not UTF-8 text: {exc}")], summary=summary) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name} line {mark.line + 1} column {mark.column + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError([Issue(where, f"not valid YAML: {problem}")], summary=summary) from None


# --- exported tables (XLSX or CSV) as numbered rows -------------------------------------------------------------

TABLE_SUFFIXES = (".xlsx", ".csv")


@dataclass
class Table:
    """The raw rows of one sheet or CSV file, each with its number as Excel shows it (the header is a row too)."""

    source: str  # "orders.xlsx sheet 工单明细" or "orders.csv": where an error message says the problem is
    sheet: str | None = None
    rows: list[tuple[int, tuple[Any, ...]]] = field(default_factory=list)


def read_file(path: Path, *, summary: str = "file not read") -> bytes:
    """Returns the bytes of the file at `path`; raises InputError if it is missing or cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise InputError([Issue(str(path), "no such file")], summary)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError([Issue(str(path), f"cannot read the file: {exc.strerror or exc}")], summary) from None


def read_table(data: bytes, filename: str, *, sheet: str | None = None, summary: str | None = None) -> Table:
    """Returns the rows of an XLSX sheet (the first unless `sheet`) or a CSV file given as bytes.

    The suffix of `filename` says which; a CSV may be UTF-8 (with or without BOM) or GB18030 (a superset of GBK),
    separated by commas, semicolons or tabs. Raises InputError (with `summary`, default "<filename>: not read")
    for an empty, unreadable or unsupported file.
    """
    summary = summary or f"{filename}: not read"
    suffix = Path(filename).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        message = f"unsupported file type {suffix or '(none)'!r}: expected .xlsx or .csv"
        raise InputError([Issue(filename, message)], summary)
    if not data:
        raise InputError([Issue(filename, "the file is empty")], summary)
    if suffix == ".xlsx":
        title, rows = _xlsx_rows(data, filename, sheet, summary)
        return Table(source=f"{filename} sheet {title}", sheet=title, rows=rows)
    if sheet is not None:
        raise InputError([Issue(filename, "a CSV file has no sheets; leave out --sheet")], summary)
    return Table(source=filename, rows=_csv_rows(data, filename, summary))


def _xlsx_rows(
    data: bytes, filename: str, sheet: str | None, summary: str
) -> tuple[str, list[tuple[int, tuple[Any, ...]]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError([Issue(filename, f"not a readable XLSX workbook ({exc})")], summary) from None
    try:
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            message = f"no sheet named {sheet!r} (sheets: {', '.join(workbook.sheetnames)})"
            raise InputError([Issue(filename, message)], summary)
        rows = [(number, values) for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1)]
        return worksheet.title, rows
    finally:
        workbook.close()


def _csv_rows(data: bytes, filename: str, summary: str) -> list[tuple[int, tuple[Any, ...]]]:
    try:
        text = decode_text(data, filename)  # UTF-8 (BOM dropped), else GB18030, a superset of GBK
    except InputError as error:
        raise InputError(error.issues, summary) from None
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count) if first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        # NOTE: numbered by record, not by line: a quoted cell spanning lines is one row, as Excel shows it.
        return [(number, tuple(values)) for number, values in enumerate(reader, start=1)]
    except csv.Error as exc:
        issue = Issue(f"{filename} row {reader.line_num}", f"not valid CSV: {exc}")
        raise InputError([issue], summary) from None
