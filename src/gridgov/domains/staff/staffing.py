"""The staffing report (社区工作者配备): community workers per 10,000 urban residents against the standard, per
community or street, with how many workers each under-staffed area lacks.

The rows are evaluation's `staffing()` — one computation for the report, the API and the evaluation pages — over
the register's count of community workers (`service.community_worker_counts`).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core import clock
from gridgov.core.errors import Invalid
from gridgov.domains.areas.enums import LEVEL_LABELS_ZH, AreaLevel
from gridgov.domains.evaluation import service as evaluation_service
from gridgov.domains.evaluation.service import StaffingRow
from gridgov.domains.staff import service

LEVELS = (AreaLevel.community, AreaLevel.street)


@dataclass(frozen=True)
class StaffingReport:
    """The staffing of every area of one level in a scope, the least staffed first."""

    level: AreaLevel
    standard: float
    on: dt.date
    rows: list[StaffingRow]

    @property
    def below(self) -> list[StaffingRow]:
        """The under-staffed areas (缺员), the least staffed first."""
        return [row for row in self.rows if row.below_standard]

    @property
    def short_total(self) -> int:
        """Community workers missing over all the under-staffed areas."""
        return sum(row.short_by for row in self.rows)


def check_level(level: AreaLevel | str) -> AreaLevel:
    """Returns the level of a staffing report (community or street), or raises Invalid."""
    try:
        found = AreaLevel(level)
    except ValueError:
        found = None
    if found not in LEVELS:
        raise Invalid(f"the staffing report is by community or street, not {level!r}", code="bad_level", field="level")
    return found


def report(
    *,
    db: Session,
    level: AreaLevel | str = AreaLevel.community,
    scope_path: str | None = None,
    standard: float | None = None,
) -> StaffingReport:
    """Returns the staffing of every community or street in `scope_path` (today), least staffed first."""
    level = check_level(level)
    rows = evaluation_service.staffing(db=db, level=level, scope_path=scope_path, standard=standard)
    used = rows[0].standard if rows else (standard if standard is not None else _default_standard())
    return StaffingReport(level=level, standard=used, on=service.today(), rows=rows)


def _default_standard() -> float:
    return get_settings().staffing_standard_per_10k


HEADERS = (
    "代码 code",
    "名称 name",
    "层级 level",
    "社区工作者 workers",
    "常住人口 residents",
    "每万人 per 10,000",
    "标准 standard",
    "缺口 short by",
)
WIDTHS = (18, 26, 10, 14, 14, 14, 12, 12)


def write_xlsx(staffing: StaffingReport, target: Path | io.BytesIO) -> None:
    """Writes the report as an XLSX sheet: a title, one row per area, under-staffed areas marked in red."""
    # NOTE: text stays text: an area name starting with "=" must not become a formula in whoever opens the file.
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    workbook = xlsxwriter.Workbook(target if isinstance(target, io.BytesIO) else str(target), options)
    try:
        sheet = workbook.add_worksheet("社区工作者配备")
        title = workbook.add_format({"bold": True, "font_size": 13})
        header = workbook.add_format({"bold": True, "bg_color": "#E8EEF4", "border": 1, "text_wrap": True})
        plain = workbook.add_format({"border": 1})
        number = workbook.add_format({"border": 1, "num_format": "0.0"})
        short = workbook.add_format({"border": 1, "bold": True, "font_color": "#B00020"})
        for column, width in enumerate(WIDTHS):
            sheet.set_column(column, column, width)
        sheet.write(
            0,
            0,
            f"社区工作者配备情况 Community workers per 10,000 residents — {LEVEL_LABELS_ZH[staffing.level]}, "
            f"标准 standard {staffing.standard:g}",
            title,
        )
        generated = clock.now().isoformat(timespec="minutes")
        sheet.write(
            1,
            0,
            f"截至 as on {staffing.on.isoformat()}; 缺员 under-staffed: {len(staffing.below)} of {len(staffing.rows)}, "
            f"缺口合计 short in all: {staffing.short_total}; gridgov {generated}",
        )
        sheet.write_row(3, 0, HEADERS, header)
        sheet.freeze_panes(4, 0)
        for n, row in enumerate(staffing.rows, start=4):
            sheet.write(n, 0, row.area.code, plain)
            sheet.write(n, 1, row.area.name, plain)
            sheet.write(n, 2, LEVEL_LABELS_ZH[row.area.level], plain)
            sheet.write_number(n, 3, row.staff, plain)
            if row.population is None:
                sheet.write_blank(n, 4, None, plain)
                sheet.write_blank(n, 5, None, plain)
            else:
                sheet.write_number(n, 4, row.population, plain)
                sheet.write_number(n, 5, row.per_10k or 0.0, number)
            sheet.write_number(n, 6, row.standard, number)
            sheet.write_number(n, 7, row.short_by, short if row.below_standard else plain)
        if staffing.rows:
            sheet.autofilter(3, 0, 3 + len(staffing.rows), len(HEADERS) - 1)
    finally:
        workbook.close()
