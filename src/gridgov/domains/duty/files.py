"""The roster as a workbook (值班表.xlsx): exported for a month, edited by hand, imported back, all or nothing.

Sheet 值班表 (or "roster"): one row per date and shift — 日期 date, 班次 shift (code or name), 值班长 leader
(username), 值班人员 staff (usernames separated by commas, 、 or spaces), 备注 note; the name columns the export
adds (班次名称, 时间, 值班长姓名, 值班人员姓名) are for reading and ignored on import. Sheet 班次 (or "shifts"),
optional: 代码 code, 名称 name, 时间 time (HH:MM-HH:MM), 顺序 position, 启用 active — shifts are created or
updated before the roster rows are read. A 说明 sheet is skipped.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field

import xlsxwriter
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from gridgov.core.errors import Conflict, InputError, Issue
from gridgov.core.sheets import read_sheet_rows, sheet_section
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.duty import service
from gridgov.domains.duty.models import DutyRoster

ROSTER_FIELDS = ["date", "shift", "shift_name", "time", "leader", "leader_name", "staff", "staff_names", "note"]
ROSTER_TITLES = {
    "date": "日期",
    "shift": "班次",
    "shift_name": "班次名称",
    "time": "时间",
    "leader": "值班长",
    "leader_name": "值班长姓名",
    "staff": "值班人员",
    "staff_names": "值班人员姓名",
    "note": "备注",
}
ROSTER_ALIASES = {**{title: name for name, title in ROSTER_TITLES.items()}, "值班领导": "leader"}
SHIFT_FIELDS = ["code", "name", "time", "position", "active"]
SHIFT_TITLES = {"code": "代码", "name": "名称", "time": "时间", "position": "顺序", "active": "启用"}
SHIFT_ALIASES = {title: name for name, title in SHIFT_TITLES.items()}
SECTIONS = {"roster": ROSTER_FIELDS, "shifts": SHIFT_FIELDS}
SHEET_ALIASES = {"值班表": "roster", "排班表": "roster", "班次": "shifts"}
_DATE_RE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ]00:00(?::00)?)?$")
_TRUE = {"1", "true", "yes", "y", "是", "启用"}
_FALSE = {"0", "false", "no", "n", "否", "停用"}
MAX_BYTES = 5 * 1024 * 1024

README = [
    "值班表 / duty roster of one operation centre",
    "",
    "Sheet 值班表: one row per date and shift. 日期 YYYY-MM-DD; 班次 the shift's code or name; 值班长 the duty "
    "leader's username (required); 值班人员 usernames separated by commas or 、; 备注 a note.",
    "Columns 班次名称, 时间, 值班长姓名, 值班人员姓名 are for reading; the import ignores them.",
    "Sheet 班次 (optional): 代码, 名称, 时间 HH:MM-HH:MM (22:00-08:00 runs past midnight; 08:00-08:00 is 24 hours), "
    "顺序, 启用 是/否.",
    "Rows given replace the same date and shift; others are kept. A file with any error writes nothing.",
]


@dataclass
class ImportReport:
    """What a roster import wrote."""

    source: str
    shifts: int = 0
    rows: int = 0
    dates: list[dt.date] = field(default_factory=list)


def export_roster(*, db: Session, centre: Area, start: dt.date, end: dt.date) -> bytes:
    """Returns the roster of a centre for dates in [start, end) as an XLSX workbook (shifts sheet included)."""
    rows = service.list_rosters(db=db, centre=centre, start=start, end=end)
    shifts = service.list_shifts(db=db, centre=centre)
    buffer = io.BytesIO()
    # NOTE: text stays text: a note or a name starting with "=" must not become a formula in whoever opens the file.
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    book.set_properties({"title": f"{service.centre_name(centre)} 值班表", "author": "gridgov"})
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF4"})
    sheet = book.add_worksheet("值班表")
    sheet.write_row(0, 0, [ROSTER_TITLES[name] for name in ROSTER_FIELDS], bold)
    for number, row in enumerate(rows, start=1):
        staff = [m.user for m in row.members if not m.is_leader]
        leader = next((m.user for m in row.members if m.is_leader), None)
        sheet.write_row(
            number,
            0,
            [
                row.duty_date.isoformat(),
                row.shift.code,
                row.shift.name,
                service.format_span(row.shift.start_minute, row.shift.duration_minutes),
                leader.username if leader else "",
                leader.display_name if leader else "",
                ", ".join(u.username for u in staff),
                "、".join(u.display_name for u in staff),
                row.note or "",
            ],
        )
    for column, width in enumerate((12, 10, 10, 12, 14, 18, 30, 36, 24)):
        sheet.set_column(column, column, width)
    sheet.freeze_panes(1, 0)
    shift_sheet = book.add_worksheet("班次")
    shift_sheet.write_row(0, 0, [SHIFT_TITLES[name] for name in SHIFT_FIELDS], bold)
    for number, shift in enumerate(shifts, start=1):
        span = service.format_span(shift.start_minute, shift.duration_minutes)
        shift_sheet.write_row(
            number, 0, [shift.code, shift.name, span, shift.position, "是" if shift.is_active else "否"]
        )
    shift_sheet.set_column(0, 4, 12)
    notes = book.add_worksheet("说明")
    for number, line in enumerate(README):
        notes.write(number, 0, line)
    notes.set_column(0, 0, 120)
    book.close()
    return buffer.getvalue()


def _date(value: object, where: str, issues: list[Issue]) -> dt.date | None:
    match = _DATE_RE.match(str(value or "").strip())
    if match:
        try:
            return dt.date(*(int(g) for g in match.groups()))
        except ValueError:
            pass
    issues.append(Issue(where, f"not a date (YYYY-MM-DD): {value!r}", "date"))
    return None


def _flag(value: object, where: str, issues: list[Issue]) -> bool:
    if value is None or isinstance(value, bool):
        return True if value is None else value
    text = str(value).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    issues.append(Issue(where, f"expected 是 or 否 (yes/no), got {value!r}", "active"))
    return True


def import_roster(*, db: Session, centre: Area, data: bytes, filename: str, actor: Actor) -> ImportReport:
    """Imports a roster workbook for a centre: its shifts sheet (if any), then its rows; all or nothing."""
    if len(data) > MAX_BYTES:
        raise InputError([Issue(filename, f"larger than {MAX_BYTES // (1024 * 1024)} MiB")], "roster not imported")
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError(
            [Issue(filename, f"not an XLSX workbook ({exc.__class__.__name__})")], "roster not imported"
        ) from None
    issues: list[Issue] = []
    shift_rows: list[tuple[str, dict[str, object]]] = []
    roster_rows: list[tuple[str, dict[str, object]]] = []
    try:
        for sheet in book.worksheets:
            section = sheet_section(sheet.title, SECTIONS, SHEET_ALIASES)
            if section == "":
                continue
            if section is None:
                issues.append(Issue(f"{filename} sheet {sheet.title}", "unknown sheet; expected 值班表 and 班次"))
                continue
            fields = SECTIONS[section]
            required = ["code", "name", "time"] if section == "shifts" else ["date", "shift", "leader"]
            aliases = SHIFT_ALIASES if section == "shifts" else ROSTER_ALIASES
            target = shift_rows if section == "shifts" else roster_rows
            where = f"{filename} sheet {sheet.title}"
            for number, record in read_sheet_rows(
                sheet, fields=fields, required=required, aliases=aliases, where=where, issues=issues
            ):
                target.append((f"{where} row {number}", record))
    finally:
        book.close()
    if not roster_rows and not issues:
        issues.append(Issue(filename, "no roster rows (sheet 值班表)"))
    report = ImportReport(source=filename)
    shift_specs = []
    for where, record in shift_rows:
        before = len(issues)
        try:
            service.parse_span(str(record.get("time") or ""), where=where)
        except InputError as exc:
            issues += exc.issues
        active = _flag(record.get("active"), where, issues)
        position = record.get("position")
        if position is not None and not str(position).strip().lstrip("-").isdigit():
            issues.append(Issue(where, f"not a whole number: {position!r}", "position"))
        if len(issues) == before:
            shift_specs.append((where, record, active, int(str(position)) if position is not None else None))
    entries = []
    for where, record in roster_rows:
        day = _date(record.get("date"), where, issues)
        if day is None:
            continue
        entries.append(
            service.RosterInput(
                day=day,
                shift=str(record.get("shift") or ""),
                leader=str(record["leader"]).strip() if record.get("leader") else None,
                staff=service.split_names(str(record.get("staff") or "")),
                note=str(record["note"]) if record.get("note") else None,
                where=where,
            )
        )
    # NOTE: a savepoint: shifts written before a row is found bad are undone, whatever the caller's transaction.
    with db.begin_nested():
        shifts_ok = len(shift_specs) == len(shift_rows)
        if shifts_ok:
            for where, record, active, position in shift_specs:
                try:
                    service.set_shift(
                        db=db,
                        centre=centre,
                        code=str(record["code"]).strip(),
                        name=str(record["name"]),
                        span=str(record["time"]),
                        position=position,
                        is_active=active,
                        actor=actor,
                    )
                except InputError as exc:
                    issues += [Issue(where, i.message, i.field) for i in exc.issues]
                    shifts_ok = False
                except Conflict as exc:
                    issues.append(Issue(where, exc.message, "time"))
                    shifts_ok = False
        planned: list[service.PlannedRow] = []
        if shifts_ok:
            # NOTE: the rows are checked even when some failed to parse, so one import lists every problem.
            planned, row_issues = service.check_rosters(db=db, centre=centre, entries=entries)
            issues += row_issues
        if issues:
            raise InputError(issues, f"{filename}: roster not imported, nothing written")
        rows: list[DutyRoster] = service.write_rosters(
            db=db, centre=centre, planned=planned, actor=actor, source=filename
        )
    report.shifts = len(shift_specs)
    report.rows = len(rows)
    report.dates = sorted({r.duty_date for r in rows})
    return report
