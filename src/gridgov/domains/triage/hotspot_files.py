"""Reading an exported history (XLSX or CSV, UTF-8 or GBK/GB18030) as messages for hotspot discovery.

The user names the columns (`--text-col 诉求内容 --time-col 受理时间 ...`). The header row is the first of the
first ten rows holding every named column. Times may be "2026-11-03 14:22:05", "2026/11/3 14:22", a date alone,
ISO 8601 with an offset, or Excel date cells; a time without an offset is in the district's time zone. A row
with an empty text is skipped (and counted); anything else wrong — a missing column, a time, number or
coordinate that cannot be read, a repeated id — rejects the whole file with every problem listed (row and
column), so nothing is half-read.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridgov.core import sheets
from gridgov.core.errors import InputError, Issue
from gridgov.core.geo import Crs, point_to_wgs84
from gridgov.domains.triage.files import blank, find_header
from gridgov.domains.triage.hotspots import Message
from gridgov.domains.triage.text import clean_text

MAX_ISSUES = 20
_TIME = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?$")
_CHINESE_UNITS = str.maketrans({"年": "-", "月": "-", "日": " ", "时": ":", "分": ":", "秒": " ", "：": ":"})


@dataclass
class HistoryFile:
    """The messages of an exported history, where they came from, and how many rows had no text."""

    messages: list[Message]
    source: str
    header_row: int
    columns: dict[str, str]  # column asked for → its title in the file
    empty_texts: int = 0
    unlocated: int = 0
    rows: int = 0
    skipped: list[Issue] = field(default_factory=list)


def parse_time(value: object, tz: dt.tzinfo) -> dt.datetime:
    """Returns a cell's time as an aware datetime (naive times are in `tz`); raises ValueError if unreadable."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    else:
        raw = clean_text(value)
        # NOTE: 2026年11月3日 14时22分 reads like 2026-11-3 14:22.
        match = _TIME.match(" ".join(raw.translate(_CHINESE_UNITS).split()).rstrip(":").replace(": ", " "))
        if match:
            year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
            parsed = dt.datetime(year, month, day, hour, minute, second)
        else:
            try:
                parsed = dt.datetime.fromisoformat(raw)
            except ValueError:
                raise ValueError(f"cannot read {raw!r} as a time; write e.g. 2026-11-03 14:22:05") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _number(value: object) -> float:
    number = float(value if isinstance(value, int | float) else clean_text(value))
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def read_history(
    path: Path,
    *,
    text_columns: list[str],
    time_column: str,
    tz: dt.tzinfo,
    id_column: str | None = None,
    likes_column: str | None = None,
    lng_column: str | None = None,
    lat_column: str | None = None,
    crs: Crs = Crs.wgs84,
    sheet: str | None = None,
) -> HistoryFile:
    """Reads the messages of an exported history file; raises InputError naming every problem (nothing read)."""
    name = Path(path).name
    summary = f"{name}: not read"
    texts_asked = list(dict.fromkeys(c.strip() for c in text_columns if c.strip()))
    time_column = time_column.strip()
    id_column, likes_column, lng_column, lat_column = (
        (c.strip() or None) if c else None for c in (id_column, likes_column, lng_column, lat_column)
    )
    if not texts_asked or not time_column:
        raise InputError([Issue(name, "name at least one text column (--text-col) and the time column")], summary)
    if (lng_column is None) != (lat_column is None):
        raise InputError([Issue(name, "give both --lng-col and --lat-col, or neither")], summary)
    optional = [c for c in (id_column, likes_column, lng_column, lat_column) if c]
    wanted = list(dict.fromkeys([*texts_asked, time_column, *optional]))
    table = sheets.read_table(sheets.read_file(Path(path), summary=summary), name, sheet=sheet, summary=summary)
    header_at, positions = find_header(table, wanted, summary)
    header_number, header_values = table.rows[header_at]
    result = HistoryFile(
        messages=[],
        source=table.source,
        header_row=header_number,
        columns={asked: str(header_values[positions[asked]]).strip() for asked in wanted},
    )
    issues: list[Issue] = []
    seen_ids: dict[str, int] = {}

    def cell(values: tuple[Any, ...], column: str | None) -> Any:
        if column is None:
            return None
        position = positions[column]
        return values[position] if position < len(values) else None

    for number, values in table.rows[header_at + 1 :]:
        if all(blank(v) for v in values):
            continue
        result.rows += 1
        where = f"{table.source} row {number}"
        # NOTE: whitespace collapsed but not NFKC-normalised (tokenizing does that): titles keep their "，".
        parts = [" ".join(str(cell(values, c) or "").split()).rstrip("。").strip() for c in texts_asked]
        text = "。".join(p for p in parts if p)
        if not text:
            result.empty_texts += 1
            result.skipped.append(Issue(where, "empty text: row skipped", ", ".join(texts_asked)))
            continue
        raw_time = cell(values, time_column)
        try:
            if blank(raw_time):
                raise ValueError("no time")
            at = parse_time(raw_time, tz)
        except ValueError as exc:
            issues.append(Issue(where, str(exc), result.columns[time_column]))
            continue
        ident: str | int = number
        if id_column:
            raw_id = cell(values, id_column)
            ident = clean_text(sheets.cell_value(raw_id)) if not blank(raw_id) else ""
            if not ident:
                issues.append(Issue(where, "no id", result.columns[id_column]))
                continue
            if ident in seen_ids:
                message = f"id {ident!r} repeats row {seen_ids[ident]}"
                issues.append(Issue(where, message, result.columns[id_column]))
                continue
            seen_ids[str(ident)] = number
        likes = 0
        if likes_column and not blank(raw_likes := cell(values, likes_column)):
            try:
                count = _number(raw_likes)
                if count < 0 or not count.is_integer():
                    raise ValueError
                likes = int(count)
            except ValueError:
                message = f"likes {raw_likes!r} is not a whole number ≥ 0"
                issues.append(Issue(where, message, result.columns[likes_column]))
                continue
        lng = lat = None
        if lng_column and lat_column:
            raw_lng, raw_lat = cell(values, lng_column), cell(values, lat_column)
            if not (blank(raw_lng) and blank(raw_lat)):
                try:
                    x, y = _number(raw_lng), _number(raw_lat)
                    if not (-180 <= x <= 180 and -90 <= y <= 90):
                        raise ValueError
                except (ValueError, TypeError):
                    message = f"coordinates ({raw_lng!r}, {raw_lat!r}) are not a longitude and latitude"
                    issues.append(Issue(where, message, f"{result.columns[lng_column]}/{result.columns[lat_column]}"))
                    continue
                # NOTE: exports write 0, 0 for "no coordinates"; that point lies in the Gulf of Guinea.
                if (x, y) != (0.0, 0.0):
                    lng, lat = point_to_wgs84(x, y, crs)
        if lng is None:
            result.unlocated += 1
        result.messages.append(Message(id=ident, text=text, at=at, lng=lng, lat=lat, likes=likes))
        if len(issues) >= MAX_ISSUES:
            break
    if issues:
        shown = issues[:MAX_ISSUES]
        more = " (the first 20 shown)" if len(issues) >= MAX_ISSUES else ""
        raise InputError(shown, summary + more)
    if not result.messages:
        raise InputError([Issue(table.source, f"no message with a text among {result.rows} data rows")], summary)
    return result
