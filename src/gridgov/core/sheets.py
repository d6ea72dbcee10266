"""Reading data files people edit by hand (XLSX sheets, YAML sections) into pydantic models, with errors that
name the sheet, row and column — shared by the catalogue, the IoT configuration and the video mappings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from pydantic_core import ErrorDetails

from gridgov.core.errors import InputError, Issue

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
