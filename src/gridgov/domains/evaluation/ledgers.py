"""Case ledgers (台账): the cases an actor may see, filtered, exported to XLSX with a visible watermark, audited.

A ledger carries what a centre keeps about each case and nothing about people: no reporter, no contact, no
free text a resident wrote (the description, the handler's result), no staff names. Every sheet shows "导出人
<name> · <time>" above the table and in its printed header and footer, the workbook's properties carry the
same, and every export is written to the audit log ("ledger.export") with its filters and row count. Exports
above `MAX_ROWS` are refused (422): narrow the filters. The sheet is written by XlsxWriter in `constant_memory`
mode: rows go to a temporary file as they are read from the database, so memory stays flat however many cases
the ledger holds (see docs/evaluation.md, "Ledgers", for the figures).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
from dataclasses import dataclass
from typing import Any

import xlsxwriter
from sqlalchemy import Select, func, select, true
from sqlalchemy.orm import Session
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from gridgov.config import get_settings
from gridgov.core import clock
from gridgov.core.errors import InputError, Invalid, Issue
from gridgov.core.permissions import require, restrict
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.enums import CaseStage, Channel, Reasonableness, Satisfaction
from gridgov.domains.cases.models import Case
from gridgov.domains.catalog.enums import Urgency
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.evaluation.periods import Period

MAX_ROWS = 100_000
SHEET = "案件台账"
CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BATCH = 2000
MARK_COLOR = "#C00000"  # the watermark line: bold dark red
HEADER_FILL = "#DDE7F3"  # the column headers: bold on a light blue fill
HEADER_FOOTER_MAX = 255  # Excel's limit on a page header or footer (XlsxWriter drops a longer one)
# XML 1.0 forbids most control characters; a title pasted from elsewhere may carry one. Dropped, as before.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# NOTE: a title a resident typed ("=HYPERLINK(...)", "http://...") stays text: never a formula or a link.
WORKBOOK_OPTIONS: dict[str, Any] = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}

SATISFACTION_ZH = {
    Satisfaction.satisfied: "满意",
    Satisfaction.basically_satisfied: "基本满意",
    Satisfaction.unsatisfied: "不满意",
}
REASONABLENESS_ZH = {Reasonableness.reasonable: "合理", Reasonableness.unreasonable: "不合理"}
URGENCY_ZH = {Urgency.normal: "一般", Urgency.urgent: "紧急", Urgency.emergency: "特急"}

# The columns of a ledger (header, width); no column holds personal data.
COLUMNS: tuple[tuple[str, int], ...] = (
    ("编号", 22),
    ("渠道", 12),
    ("事项大类", 12),
    ("事项", 16),
    ("紧急程度", 8),
    ("标题", 30),
    ("地址", 30),
    ("街道", 14),
    ("社区", 14),
    ("网格", 16),
    ("上报时间", 17),
    ("立案时间", 17),
    ("派遣时间", 17),
    ("阶段", 10),
    ("承办单位", 20),
    ("处置时限", 17),
    ("处置完成时间", 17),
    ("结案时间", 17),
    ("是否超期", 8),
    ("回退次数", 8),
    ("返工次数", 8),
    ("延期次数", 8),
    ("是否督办", 8),
    ("满意度", 10),
    ("合理性认定", 10),
)


@dataclass(frozen=True)
class LedgerFilter:
    """What a ledger holds: every field optional, combined with AND, within the actor's case.view scope."""

    period: Period | None = None  # reported within (上报时间)
    stages: tuple[CaseStage, ...] = ()
    matter_types: tuple[str, ...] = ()  # matter type codes
    area: str | None = None  # an area code: its whole subtree
    unit: str | None = None  # the handling unit's code
    overdue_only: bool = False
    channels: tuple[Channel, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Returns the filters as plain values (for the audit log and the 说明 line)."""
        out: dict[str, Any] = {}
        if self.period is not None:
            out["period"] = self.period.label
        if self.stages:
            out["stages"] = [str(s) for s in self.stages]
        if self.matter_types:
            out["matter_types"] = list(self.matter_types)
        if self.area:
            out["area"] = self.area
        if self.unit:
            out["unit"] = self.unit
        if self.overdue_only:
            out["overdue_only"] = True
        if self.channels:
            out["channels"] = [str(c) for c in self.channels]
        return out


def period_of(*, period: str | None, first: dt.date | None, last: dt.date | None) -> Period | None:
    """Returns the report period of a ledger: a label ("2026-11"), or local dates from/to (both included)."""
    if period and (first or last):
        raise Invalid("give either a period or from/to dates, not both", field="period")
    if period:
        return Period.parse(period, get_settings().tz)
    if first is None and last is None:
        return None
    if first is None or last is None:
        raise Invalid(
            "give both from and to (local dates, both included), or a period", field="from" if first is None else "to"
        )
    return Period.parse(f"{first.isoformat()}..{last.isoformat()}", get_settings().tz)


@dataclass(frozen=True)
class Ledger:
    """A written ledger: the workbook's bytes, its file name and how many cases it holds."""

    data: bytes
    filename: str
    rows: int
    watermark: str
    filters: dict[str, Any]  # as audited


def statement(*, db: Session, actor: Actor, filters: LedgerFilter) -> Select[Any]:
    """Returns the select of the cases a ledger holds: the actor's visible cases (case.view) matching `filters`.

    Unknown codes (area, unit, matter type) are refused with an InputError naming the filter.
    """
    issues: list[Issue] = []
    conditions = []
    if filters.period is not None:
        conditions += [Case.reported_at >= filters.period.start, Case.reported_at < filters.period.end]
    if filters.stages:
        conditions.append(Case.stage.in_(filters.stages))
    if filters.channels:
        conditions.append(Case.channel.in_(filters.channels))
    if filters.overdue_only:
        conditions.append(Case.is_overdue.is_(True))
    if filters.matter_types:
        codes = select(MatterType.code, MatterType.id).where(MatterType.code.in_(filters.matter_types))
        found: dict[str, int] = dict(db.execute(codes).all())
        unknown = [code for code in filters.matter_types if code not in found]
        if unknown:
            issues.append(Issue("filters", f"unknown matter type code(s): {', '.join(unknown)}", "matter"))
        conditions.append(Case.matter_type_id.in_(list(found.values())))
    if filters.area:
        path = db.scalar(select(Area.path).where(Area.code == filters.area))
        if path is None:
            issues.append(Issue("filters", f"unknown area code {filters.area!r}", "area"))
        else:
            conditions.append(Case.area_path.startswith(path, autoescape=True))
    if filters.unit:
        unit_id = db.scalar(select(Unit.id).where(Unit.code == filters.unit))
        if unit_id is None:
            issues.append(Issue("filters", f"unknown unit code {filters.unit!r}", "unit"))
        else:
            conditions.append(Case.handling_unit_id == unit_id)
    if issues:
        raise InputError(issues, "ledger filters refused")
    return restrict(select(Case).where(true(), *conditions), actor, "case.view")


def export_cases(
    *,
    db: Session,
    actor: Actor,
    filters: LedgerFilter,
    max_rows: int | None = None,
    source_address: str | None = None,
) -> bytes:
    """Returns the XLSX ledger of the cases the actor may see matching `filters` (watermarked, audited)."""
    return export(db=db, actor=actor, filters=filters, max_rows=max_rows, source_address=source_address).data


def export(
    *,
    db: Session,
    actor: Actor,
    filters: LedgerFilter,
    max_rows: int | None = None,
    source_address: str | None = None,
    audit: bool = True,
) -> Ledger:
    """Writes the ledger (see `export_cases`) and returns it with its file name and row count.

    `audit` False leaves the audit entry to the caller (`audit_export`, in a write transaction of its own: the API
    writes the workbook in a read transaction so that a large ledger does not hold SQLite's one write lock).
    """
    require(actor, "ledger.export", db=db, target_type="ledger", source_address=source_address)
    max_rows = MAX_ROWS if max_rows is None else max_rows
    stmt = statement(db=db, actor=actor, filters=filters)
    total = db.scalar(select(func.count()).select_from(stmt.with_only_columns(Case.id).subquery())) or 0
    if total > max_rows:
        raise InputError(
            [Issue("filters", f"{total:,} cases match; a ledger holds at most {max_rows:,}: narrow the filters")],
            "ledger too large",
        )
    now = clock.now()
    tz = get_settings().tz
    stamp = now.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    who = actor.name + (f"（#{actor.user_id}）" if actor.user_id is not None else "")
    watermark = f"导出人 {who} · {stamp}"
    data = _workbook(db=db, stmt=stmt, watermark=watermark, filters=filters, total=int(total), tz=tz)
    suffix = filters.period.label if filters.period is not None else now.astimezone(tz).strftime("%Y%m%d-%H%M")
    ledger = Ledger(
        data=data, filename=f"ledger-{suffix}.xlsx", rows=int(total), watermark=watermark, filters=filters.as_dict()
    )
    if audit:
        audit_export(db=db, actor=actor, ledger=ledger, source_address=source_address)
    return ledger


def audit_export(*, db: Session, actor: Actor, ledger: Ledger, source_address: str | None = None) -> None:
    """Writes a ledger's export to the audit log ("ledger.export": its filters, rows and size)."""
    auth_service.write_audit(
        db=db,
        actor=actor,
        action="ledger.export",
        target_type="ledger",
        source_address=source_address,
        detail={"filters": ledger.filters, "rows": ledger.rows, "bytes": len(ledger.data)},
    )


def _clean(value: str | None) -> str | None:
    """Returns text without the control characters XML cannot carry (None stays None)."""
    return _ILLEGAL.sub("", value) if value and _ILLEGAL.search(value) else value


def header_footer(text: str, *, left: str = "", right: str = "") -> str:
    """Returns an Excel page header/footer showing `text` in the centre ("&" doubled: a literal ampersand),
    shortened with "…" if the whole would pass Excel's 255 characters."""
    room = HEADER_FOOTER_MAX - len(left) - len(right) - 2
    centre = text.replace("&", "&&")
    if len(centre) > room:
        centre = centre[: room - 1].rstrip("&") + "…"
    return f"{left}&C{centre}{right}"


def _workbook(
    *, db: Session, stmt: Select[Any], watermark: str, filters: LedgerFilter, total: int, tz: dt.tzinfo
) -> bytes:
    from gridgov.core.templating import CHANNEL_LABELS, STAGE_LABELS, translator

    zh = translator("zh_CN")["_"]
    stage_zh = {stage: zh(label) for stage, label in STAGE_LABELS.items()}
    channel_zh = {channel: zh(label) for channel, label in CHANNEL_LABELS.items()}
    names = {
        kind: {key: _clean(name) or "" for key, name in found.items()} for kind, found in _reference_names(db).items()
    }
    area, unit, matter, major = names["area"], names["unit"], names["matter"], names["major"]
    described = "；".join(f"{k}={v}" for k, v in filters.as_dict().items()) or "无（全部可见案件）"

    def local(value: dt.datetime | None) -> str | None:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value is not None else None

    wanted = (
        Case.number,
        Case.channel,
        Case.matter_type_id,
        Case.urgency,
        Case.title,
        Case.address,
        Case.street_id,
        Case.community_id,
        Case.grid_id,
        Case.reported_at,
        Case.registered_at,
        Case.dispatched_at,
        Case.stage,
        Case.handling_unit_id,
        Case.handle_due_at,
        Case.handled_at,
        Case.closed_at,
        Case.is_overdue,
        Case.return_count,
        Case.rework_count,
        Case.extension_count,
        Case.is_supervised,
        Case.satisfaction,
        Case.reasonableness,
    )
    # NOTE: plain columns streamed in batches (a server-side cursor on PostgreSQL) into a sheet XlsxWriter writes
    # row by row to a temporary file (constant_memory): memory stays flat however many cases the ledger holds.
    # Its temporary files live in a directory of their own, removed even when the export fails half-way.
    ordered = stmt.with_only_columns(*wanted).order_by(Case.reported_at, Case.id)
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="gridgov-ledger-") as scratch:
        book = xlsxwriter.Workbook(buffer, {**WORKBOOK_OPTIONS, "tmpdir": scratch})
        try:
            sheet = _ledger_sheet(book, watermark=watermark)
            sheet.write_string(1, 0, f"筛选条件：{described}；共 {total} 件。本台账不含报告人及联系方式等个人信息。")
            write_row = sheet.write_row
            for index, row in enumerate(db.execute(ordered.execution_options(yield_per=BATCH)), start=3):
                write_row(
                    index,
                    0,
                    (
                        row.number,
                        channel_zh.get(row.channel, str(row.channel)),
                        major.get(row.matter_type_id),
                        matter.get(row.matter_type_id),
                        URGENCY_ZH.get(row.urgency, str(row.urgency)),
                        _clean(row.title),
                        _clean(row.address),
                        area.get(row.street_id) if row.street_id else None,
                        area.get(row.community_id) if row.community_id else None,
                        area.get(row.grid_id) if row.grid_id else None,
                        local(row.reported_at),
                        local(row.registered_at),
                        local(row.dispatched_at),
                        stage_zh.get(row.stage, str(row.stage)),
                        unit.get(row.handling_unit_id) if row.handling_unit_id else None,
                        local(row.handle_due_at),
                        local(row.handled_at),
                        local(row.closed_at),
                        "是" if row.is_overdue else "否",
                        row.return_count,
                        row.rework_count,
                        row.extension_count,
                        "是" if row.is_supervised else "否",
                        SATISFACTION_ZH.get(row.satisfaction) if row.satisfaction else None,
                        REASONABLENESS_ZH.get(row.reasonableness) if row.reasonableness else None,
                    ),
                )
        except BaseException:
            _discard(book)
            raise
        book.close()
    return buffer.getvalue()


def _ledger_sheet(book: Workbook, *, watermark: str) -> Worksheet:
    """Adds the ledger's sheet to `book`: properties and watermark, widths, frozen header, print setup, the first
    line (the watermark, bold red) and the column headers (row 3, bold on a fill); the cases follow from row 4."""
    book.set_properties({"title": "案件台账", "author": "gridgov", "comments": watermark, "keywords": watermark})
    book.set_custom_property("watermark", watermark)
    sheet = book.add_worksheet(SHEET)
    for index, (_header, width) in enumerate(COLUMNS):
        sheet.set_column(index, index, width)
    sheet.freeze_panes(3, 0)
    sheet.repeat_rows(2)  # the column headers on every printed page
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)  # as wide as one page, as long as it takes
    sheet.set_margins(left=0.5, right=0.5, top=0.75, bottom=0.75)
    sheet.set_header(header_footer(watermark), {"margin": 0.3})
    sheet.set_footer(header_footer(watermark, right="&R&P / &N"), {"margin": 0.3})
    sheet.write_string(0, 0, watermark, book.add_format({"bold": True, "font_color": MARK_COLOR}))
    header = book.add_format({"bold": True, "bg_color": HEADER_FILL})
    sheet.write_row(2, 0, [name for name, _width in COLUMNS], header)
    return sheet


def _discard(book: Workbook) -> None:
    """Closes the row files of a workbook that will not be written (an export that failed half-way)."""
    for sheet in book.worksheets():
        handle = getattr(sheet, "row_data_fh", None)
        if handle is not None and not handle.closed:
            handle.close()


def _reference_names(db: Session) -> dict[str, dict[int, str]]:
    """Returns the names of areas, units and matter types by id (reference data: small, read once)."""
    return {
        "area": dict(db.execute(select(Area.id, Area.name)).all()),
        "unit": dict(db.execute(select(Unit.id, Unit.name)).all()),
        "matter": dict(db.execute(select(MatterType.id, MatterType.name)).all()),
        "major": dict(db.execute(select(MatterType.id, MatterType.major_name)).all()),
    }
