"""Reading a classifier's training data: a district's own history as XLSX or CSV (UTF-8 or GBK/GB18030).

The user names the columns (`--text-col 诉求内容 --label-col 事项类型`): any column of the export may hold the
texts or the labels, so nothing here knows a fixed set of names. The header row is the first of the first ten
rows that holds every named column (a title line above it is common in exports). Several text columns (标题 and
诉求内容) are joined with "。". A row without a text or a label is skipped and reported, not fatal; a file that
cannot train anything (a column missing, one class only, every text empty, unreadable) raises InputError.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridgov.core import sheets
from gridgov.core.errors import InputError, Issue
from gridgov.domains.triage.text import clean_text

HEADER_SEARCH_ROWS = 10
_KEY = re.compile(r"[\s*]")


@dataclass
class TrainingData:
    """Texts and their labels read from a file, with what was skipped and where the data came from."""

    texts: list[str]
    labels: list[str]
    source: str  # "history.xlsx sheet 工单" or "history.csv", as error messages name it
    rows_used: int
    rows_skipped: list[Issue] = field(default_factory=list)
    filename: str = ""
    sha256: str = ""
    header_row: int = 1
    columns: dict[str, str] = field(default_factory=dict)  # column asked for → the title as the file writes it

    @property
    def class_counts(self) -> dict[str, int]:
        """Returns the number of texts per label, most frequent first."""
        return dict(Counter(self.labels).most_common())

    def source_meta(self) -> dict[str, Any]:
        """Returns the description of the file a model records: name, sha256, sheet source, rows used."""
        return {"file": self.filename, "source": self.source, "sha256": self.sha256, "rows": self.rows_used}


def column_key(title: object) -> str:
    """Returns a column title as compared: without whitespace and "*" marks, case-folded."""
    return _KEY.sub("", str(title)).casefold()


def read_training(
    data: Path | bytes,
    filename: str | None = None,
    *,
    text_columns: list[str],
    label_column: str,
    sheet: str | None = None,
    min_classes: int = 2,
) -> TrainingData:
    """Reads labelled texts from a file path or an upload's bytes; raises InputError if unusable.

    `min_classes` is 2 for training; evaluating a model on held-out data may accept one class.
    """
    if isinstance(data, bytes):
        if filename is None:
            raise ValueError("read_training needs the file name with bytes (its suffix says XLSX or CSV)")
        name = filename
    else:
        name = filename or Path(data).name
        data = sheets.read_file(Path(data), summary=f"{name}: not read")
    summary = f"{name}: not read"
    texts_asked = list(dict.fromkeys(c.strip() for c in text_columns if c.strip()))
    label_asked = label_column.strip()
    if not texts_asked or not label_asked:
        raise InputError([Issue(name, "name at least one text column and the label column")], summary)
    if column_key(label_asked) in {column_key(c) for c in texts_asked}:
        message = f"column {label_asked!r} is both a text and the label column: the model would read the answer"
        raise InputError([Issue(name, message)], summary)
    table = sheets.read_table(data, name, sheet=sheet, summary=summary)
    result = TrainingData(
        texts=[], labels=[], source=table.source, rows_used=0, filename=name, sha256=hashlib.sha256(data).hexdigest()
    )
    wanted = [*texts_asked, label_asked]
    header_at, positions = find_header(table, wanted, summary)
    result.header_row = table.rows[header_at][0]
    result.columns = {asked: str(table.rows[header_at][1][positions[asked]]).strip() for asked in wanted}
    text_positions = [positions[c] for c in texts_asked]
    label_position = positions[label_asked]
    data_rows = 0
    empty_texts = 0
    for number, values in table.rows[header_at + 1 :]:
        if all(blank(value) for value in values):
            continue
        data_rows += 1
        parts = [clean_text(_cell(values, i)).rstrip("。").strip() for i in text_positions]
        text = "。".join(part for part in parts if part)
        label = clean_text(_cell(values, label_position))
        where = f"{table.source} row {number}"
        if not text:
            empty_texts += 1
            result.rows_skipped.append(Issue(where, "empty text: row skipped", ", ".join(texts_asked)))
        elif not label:
            result.rows_skipped.append(Issue(where, "no label: row skipped", label_asked))
        else:
            result.texts.append(text)
            result.labels.append(label)
    result.rows_used = len(result.texts)
    where = f"{table.source} row {result.header_row}"
    if data_rows == 0:
        raise InputError([Issue(where, "no data rows under the header")], summary)
    if empty_texts == data_rows:
        message = f"all {data_rows} texts are empty (column {', '.join(result.columns[c] for c in texts_asked)})"
        raise InputError([Issue(table.source, message)], summary)
    if not result.texts:
        message = f"no usable row: none of the {data_rows} rows has both a text and a label"
        raise InputError([Issue(table.source, message)], summary)
    counts = Counter(result.labels)
    if len(counts) < min_classes:
        (label, count), *_ = counts.items()
        message = (
            f"only one class: {label!r} ({count} rows); a classifier needs at least 2 different labels "
            f"in column {result.columns[label_asked]}"
        )
        raise InputError([Issue(table.source, message, label_asked)], summary)
    return result


def find_header(table: sheets.Table, wanted: list[str], summary: str) -> tuple[int, dict[str, int]]:
    """Returns the index of the header row (the first of the first rows holding every wanted column) and the
    position of each wanted column in it; InputError naming the missing columns and the file's own."""
    keys = {column_key(name): name for name in wanted}
    best: tuple[int, int, dict[str, int]] | None = None  # (found, index, positions)
    for index, (_, values) in enumerate(table.rows[:HEADER_SEARCH_ROWS]):
        positions: dict[str, int] = {}
        for position, value in enumerate(values):
            if blank(value):
                continue
            asked = keys.get(column_key(value))
            if asked is not None and asked not in positions:
                positions[asked] = position
        if len(positions) == len(wanted):
            return index, positions
        non_blank = sum(not blank(v) for v in values)
        if non_blank and (best is None or len(positions) > best[0]):
            best = (len(positions), index, positions)
    if best is None:
        raise InputError([Issue(table.source, "not a table: no row with column titles in the first rows")], summary)
    found, index, positions = best
    number, values = table.rows[index]
    missing = [name for name in wanted if name not in positions]
    present = ", ".join(str(v).strip() for v in values if not blank(v))
    message = f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; the file has: {present}"
    where = f"{table.source} row {number}" if found else table.source
    raise InputError([Issue(where, message, missing[0])], summary)


def blank(value: object) -> bool:
    """Tells whether a cell is empty (None or only whitespace)."""
    return value is None or (isinstance(value, str) and not value.strip())


def _cell(values: tuple[Any, ...], position: int) -> str:
    """Returns the cell at `position` as text ("" if absent); a whole number reads without ".0"."""
    value = values[position] if position < len(values) else None
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
