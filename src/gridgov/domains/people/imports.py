"""Importing residents and households from XLSX or CSV (UTF-8 or GBK) with Chinese column headers.

One row is one resident; rows with the same building code and door make one household (a new one, or the one
already registered behind that door). Every row is checked before anything is written: the identity number
(18 characters, GB 11643 check digit, a real birth date matching the 出生日期 column when given), the phone,
the building (it exists, is a building, and lies in the importer's area), duplicates (in the file and on the
register), one 户主 per new household, and tags the importer may see. Any problem refuses the whole file with a
row error report (row as Excel numbers it, column header, message) — unless the partial mode is asked for
(`skip_bad`), which writes the good rows and reports the skipped ones. Messages never repeat a personal value.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import xlsxwriter
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gridgov.core import sheets
from gridgov.core.errors import InputError, Issue
from gridgov.core.models import fill_defaults
from gridgov.core.permissions import require
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.people import privacy
from gridgov.domains.people import service as people_service
from gridgov.domains.people.checks import parse_date
from gridgov.domains.people.enums import (
    EventKind,
    Gender,
    HouseholdKind,
    Relation,
    ResidenceType,
    ResidentStatus,
)
from gridgov.domains.people.models import Household, Resident, ResidentEvent, ResidentTag, Tag
from gridgov.domains.people.schemas import ImportSummary, RowIssue
from gridgov.domains.people.service import CheckedPerson, Context

SUFFIXES = sheets.TABLE_SUFFIXES
MAX_ROWS = 50_000
HEADER_SEARCH_ROWS = 5  # a title line or two may stand above the header

# field → accepted headers (compared without spaces, "*" marks and a bracketed note: "公民身份号码(18位)").
COLUMNS: dict[str, tuple[str, ...]] = {
    "building": ("楼院编码", "楼栋编码", "建筑编码", "楼院代码", "building"),
    "room": ("门牌号", "门牌/房号", "房号", "门牌", "户号", "室号", "room"),
    "household_kind": ("户类型", "户别", "household_kind"),
    "household_residence": ("户属性", "户籍性质", "户口性质", "household_residence"),
    "relation": ("与户主关系", "关系", "relation"),
    "name": ("姓名", "name"),
    "gender": ("性别", "gender"),
    "birth_date": ("出生日期", "出生年月日", "birth_date"),
    "ethnicity": ("民族", "ethnicity"),
    "id_number": ("公民身份号码", "身份证号码", "身份证号", "身份证", "id_number"),
    "phone": ("联系电话", "手机号码", "手机号", "电话", "phone"),
    "residence_type": ("人口类型", "居住类型", "居住性质", "residence_type"),
    "tags": ("标签", "人群标签", "重点人群", "人员类别", "tags"),
    "notes": ("备注", "notes"),
}
REQUIRED = ("building", "room", "relation", "name", "id_number", "residence_type")
FIELD_HEADERS_ZH = {field: names[0] for field, names in COLUMNS.items()}

RELATIONS: dict[str, Relation] = {
    **{r.value: r for r in Relation},
    **dict.fromkeys(("户主", "本人"), Relation.head),
    **dict.fromkeys(("配偶", "妻", "夫", "妻子", "丈夫"), Relation.spouse),
    **dict.fromkeys(
        ("子女", "子", "女", "儿子", "女儿", "长子", "长女", "次子", "次女", "养子", "养女"), Relation.child
    ),
    **dict.fromkeys(("父母", "父亲", "母亲", "父", "母", "公公", "婆婆", "岳父", "岳母"), Relation.parent),
    **dict.fromkeys(("孙子女", "孙子", "孙女", "外孙子", "外孙女", "外孙"), Relation.grandchild),
    **dict.fromkeys(("祖父母", "祖父", "祖母", "外祖父", "外祖母"), Relation.grandparent),
    **dict.fromkeys(("兄弟姐妹", "兄", "弟", "姐", "妹", "哥哥", "弟弟", "姐姐", "妹妹"), Relation.sibling),
    **dict.fromkeys(("儿媳", "女婿", "儿媳/女婿"), Relation.child_in_law),
    **dict.fromkeys(("其他亲属", "亲属"), Relation.other_relative),
    **dict.fromkeys(("非亲属", "其他", "租户", "室友", "集体户成员"), Relation.non_relative),
}
GENDERS: dict[str, Gender] = {
    **{g.value: g for g in Gender},
    **dict.fromkeys(("男", "m", "M"), Gender.male),
    **dict.fromkeys(("女", "f", "F"), Gender.female),
}
RESIDENCES: dict[str, ResidenceType] = {
    **{r.value: r for r in ResidenceType},
    **dict.fromkeys(("户籍", "户籍人口", "户籍户", "户籍在册"), ResidenceType.registered),
    **dict.fromkeys(("常住", "常住人口", "常住户", "人户分离"), ResidenceType.resident),
    **dict.fromkeys(("流动", "流动人口", "流动户", "暂住"), ResidenceType.floating),
}
KINDS: dict[str, HouseholdKind] = {
    **{k.value: k for k in HouseholdKind},
    **dict.fromkeys(("家庭户", "家庭"), HouseholdKind.family),
    **dict.fromkeys(("集体户", "集体"), HouseholdKind.collective),
}
_TAG_SPLIT = re.compile(r"[,，、;；/\s]+")


class ImportRejected(InputError):
    """An import refused as a whole (nothing written); `report` holds the summary with every row error."""

    def __init__(self, report: ImportSummary) -> None:
        issues = [
            Issue(f"{report.source} row {e.row}" if e.row else report.source, e.message, e.column)
            for e in report.errors
        ]
        super().__init__(issues, f"{report.source}: import refused, nothing written")
        self.report = report


@dataclass
class ParsedRow:
    """One data row after the per-row checks."""

    number: int
    building: str
    room: str
    person: CheckedPerson
    household_kind: HouseholdKind | None = None
    household_residence: ResidenceType | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None


@dataclass
class _Reader:
    source: str
    headers: dict[str, str] = field(default_factory=dict)  # field → the header as written in the file
    errors: list[RowIssue] = field(default_factory=list)

    def add(self, row: int | None, name: str | None, message: str) -> None:
        column = self.headers.get(name, FIELD_HEADERS_ZH.get(name, name)) if name else None
        # NOTE: a message may quote the cell ("unknown value ..."): a number typed into the wrong column would land
        # in the error report, the API answer and the CLI in clear, so identity numbers and phones are masked.
        self.errors.append(RowIssue(row=row, column=column, message=privacy.redact(message)))


def _key(text: str) -> str:
    return re.sub(r"[（(].*?[)）]", "", text).replace(" ", "").replace("*", "").strip().casefold()


_LOOKUP = {_key(name): field for field, names in COLUMNS.items() for name in names}


def read_rows(table: sheets.Table) -> tuple[list[tuple[int, dict[str, Any]]], _Reader]:
    """Returns the data rows of a table as (row number, {field: raw value}), finding the header row."""
    reader = _Reader(source=table.source)
    header_at = None
    for index, (_number, values) in enumerate(table.rows[:HEADER_SEARCH_ROWS]):
        found = {_LOOKUP.get(_key(str(v))) for v in values if v is not None and str(v).strip()}
        if "name" in found and "id_number" in found:
            header_at = index
            break
    if header_at is None:
        expected = "、".join(FIELD_HEADERS_ZH[f] for f in REQUIRED)
        raise InputError(
            [Issue(table.source, f"no header row found in the first {HEADER_SEARCH_ROWS} rows: expected {expected}")],
            f"{table.source}: not read",
        )
    header_number, header = table.rows[header_at]
    columns: dict[int, str] = {}
    for index, title in enumerate(header):
        if title is None or not str(title).strip():
            continue
        name = _LOOKUP.get(_key(str(title)))
        if name is None:
            continue  # other columns (序号 ...) are ignored
        if name in reader.headers:
            reader.add(header_number, name, f"column {str(title).strip()!r} appears twice")
            continue
        columns[index] = name
        reader.headers[name] = str(title).strip()
    missing = [FIELD_HEADERS_ZH[name] for name in REQUIRED if name not in reader.headers]
    if missing:
        raise InputError(
            [Issue(f"{table.source} row {header_number}", f"missing column(s): {'、'.join(missing)}")],
            f"{table.source}: not read",
        )
    rows = []
    for number, values in table.rows[header_at + 1 :]:
        record = {
            columns[i]: value
            for i, value in enumerate(values)
            if i in columns and value is not None and not (isinstance(value, str) and not value.strip())
        }
        if record:
            rows.append((number, record))
    return rows, reader


def parse_rows(
    raw: Sequence[tuple[int, Mapping[str, Any]]], reader: _Reader, *, today: dt.date
) -> dict[int, ParsedRow]:
    """Checks each row on its own (formats, the identity number and its birth date); returns the good rows by number
    and adds the problems of the others to the reader."""
    parsed: dict[int, ParsedRow] = {}
    for number, record in raw:
        problems: list[tuple[str, str]] = []
        values: dict[str, Any] = {"name": _text(record.get("name"))}
        for name, table in (("relation", RELATIONS), ("gender", GENDERS), ("residence_type", RESIDENCES)):
            values[name] = _choice(record.get(name), table, name, problems)
        kind = _choice(record.get("household_kind"), KINDS, "household_kind", problems)
        residence = _choice(record.get("household_residence"), RESIDENCES, "household_residence", problems)
        raw_id = record.get("id_number")
        if isinstance(raw_id, int | float) and not isinstance(raw_id, bool):
            problems.append(("id_number", "stored as a number, which Excel rounds to 15 digits: format it as text"))
        elif raw_id is not None:
            values["id_number"] = _text(raw_id)
        if record.get("birth_date") is not None:
            try:
                values["birth_date"] = parse_date(record["birth_date"])
            except ValueError as exc:
                problems.append(("birth_date", str(exc)))
        values["phone"] = _text(record.get("phone"))
        values["ethnicity"] = _text(record.get("ethnicity"))
        building, room = _text(record.get("building")), _text(record.get("room"))
        if not building:
            problems.append(("building", "required"))
        if not room:
            problems.append(("room", "required"))
        elif len(room) > 50:
            problems.append(("room", "at most 50 characters"))
        known = {name for name, _ in problems}
        person, more = people_service.check_person(values, today=today, require_id="id_number" not in known)
        for name, message in more:
            if name in known or ("id_number" in known and "no identity number" in message):
                continue
            problems.append((name, message))
        for name, message in problems:
            reader.add(number, name, message)
        if problems or person is None:
            continue
        parsed[number] = ParsedRow(
            number=number,
            building=building or "",
            room=room or "",
            person=person,
            household_kind=kind,
            household_residence=residence,
            tags=list(dict.fromkeys(t for t in _TAG_SPLIT.split(_text(record.get("tags")) or "") if t)),
            notes=_text(record.get("notes")),
        )
    return parsed


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _choice(value: Any, table: Mapping[str, Any], name: str, problems: list[tuple[str, str]]) -> Any | None:
    text = _text(value)
    if text is None:
        return None
    if text in table:
        return table[text]
    choices = "、".join(sorted({k for k in table if not k.isascii()}))
    problems.append((name, f"unknown value {text!r}: one of {choices}"))
    return None


@dataclass
class _HouseholdPlan:
    building: Area
    room: str
    rows: list[ParsedRow]
    existing: Household | None = None


def import_table(
    *,
    db: Session,
    ctx: Context,
    table: sheets.Table,
    skip_bad: bool = False,
    dry_run: bool = False,
) -> ImportSummary:
    """Imports the residents of a table (all-or-nothing unless `skip_bad`); raises ImportRejected with the row
    error report when any row is refused (and `skip_bad` is off)."""
    require(
        ctx.actor, "resident.manage", db=db, target_type="resident", source_address=ctx.source_address, audit=ctx.audit
    )
    raw, reader = read_rows(table)
    if len(raw) > MAX_ROWS:
        raise InputError([Issue(table.source, f"{len(raw):,} rows; an import takes at most {MAX_ROWS:,}")], "too large")
    today = ctx.now.astimezone(_tz()).date()
    parsed = parse_rows(raw, reader, today=today)
    raw_heads = {
        (_text(record.get("building")) or "", _text(record.get("room")) or "")
        for _number, record in raw
        if RELATIONS.get(_text(record.get("relation")) or "") == Relation.head
    }
    plans = _plan(db, ctx, parsed, reader, raw_heads)
    refused = {e.row for e in reader.errors if e.row is not None}
    summary = ImportSummary(
        source=table.source,
        rows=len(raw),
        households_created=0,
        households_reused=0,
        residents_created=0,
        tags_added=0,
        skipped_rows=len({n for n, _ in raw} & refused),
        dry_run=dry_run,
        partial=skip_bad,
        errors=sorted(reader.errors, key=lambda e: (e.row or 0, e.column or "")),
    )
    if reader.errors and not skip_bad:
        raise ImportRejected(summary)
    good = [plan for plan in plans if plan.rows]
    summary.households_created = sum(plan.existing is None for plan in good)
    summary.households_reused = sum(plan.existing is not None for plan in good)
    summary.residents_created = sum(len(plan.rows) for plan in good)
    summary.tags_added = sum(len(row.tags) for plan in good for row in plan.rows)
    if dry_run or not good:
        return summary
    _write(db, ctx, good, table.source)
    auth_service.write_audit(
        db=db,
        actor=ctx.actor,
        action="resident.import",
        target_type="resident",
        source_address=ctx.source_address,
        detail={
            "source": table.source,
            "rows": summary.rows,
            "residents_created": summary.residents_created,
            "households_created": summary.households_created,
            "skipped_rows": summary.skipped_rows,
        },
    )
    return summary


def _tz() -> dt.tzinfo:
    from gridgov.config import get_settings

    return get_settings().tz


def _plan(
    db: Session,
    ctx: Context,
    parsed: dict[int, ParsedRow],
    reader: _Reader,
    raw_heads: set[tuple[str, str]],
) -> list[_HouseholdPlan]:
    """Checks the rows against each other and the register; drops refused rows and returns households to write."""
    codes = sorted({row.building for row in parsed.values()})
    buildings = {a.code: a for a in db.scalars(select(Area).where(Area.code.in_(codes)))} if codes else {}
    tags = {t.code: t for t in db.scalars(select(Tag))}
    tags |= {t.name: t for t in list(tags.values())}
    ring = privacy.keyring()
    indexes = {
        number: ring.blind_index(privacy.FieldKind.identity_number, row.person.id_number or "")
        for number, row in parsed.items()
    }
    on_register: set[str | None] = set()
    values = list(indexes.values())
    for start in range(0, len(values), 1000):
        chunk = values[start : start + 1000]
        on_register |= set(db.scalars(select(Resident.id_number_index).where(Resident.id_number_index.in_(chunk))))
    seen: dict[str, int] = {}
    for number in sorted(parsed):
        row = parsed[number]
        number_id = row.person.id_number or ""
        if number_id in seen:
            reader.add(number, "id_number", f"the same identity number as row {seen[number_id]}")
        else:
            seen[number_id] = number
        if indexes[number] in on_register:
            reader.add(number, "id_number", "this identity number is on the register already")
        building = buildings.get(row.building)
        if building is None or building.level != AreaLevel.building:
            reader.add(number, "building", f"building {row.building!r} not found (an area code of level building)")
        elif not people_service.in_scope(ctx.actor, "resident.manage", building.path):
            reader.add(number, "building", f"building {row.building} ({building.name}) lies outside your area")
        for code in row.tags:
            tag = tags.get(code)
            if tag is None:
                reader.add(number, "tags", f"unknown tag {code!r}")
            elif not tag.is_active:
                reader.add(number, "tags", f"tag {tag.code} is retired")
            elif not privacy.may_see_tag(ctx.actor, tag.sensitivity):
                reader.add(number, "tags", f"tag {tag.code} ({tag.sensitivity}) may not be set by your role")
        # NOTE: a tag written by its code and by its name is one tag: the row carries it once.
        row.tags = list(dict.fromkeys(tags[code].code if code in tags else code for code in row.tags))
    groups: dict[tuple[str, str], list[ParsedRow]] = defaultdict(list)
    for number in sorted(parsed):
        groups[(parsed[number].building, parsed[number].room)].append(parsed[number])
    building_ids = [b.id for b in buildings.values()]
    existing_households = {
        (h.building_id, h.room): h
        for h in (db.scalars(select(Household).where(Household.building_id.in_(building_ids))) if building_ids else [])
    }
    plans = []
    for (code, room), rows in groups.items():
        building = buildings.get(code)
        if building is None or building.level != AreaLevel.building:
            continue
        existing = existing_households.get((building.id, room))
        refused = {e.row for e in reader.errors}
        heads = [row for row in rows if row.person.relation == Relation.head]
        if existing is None:
            if not heads or heads[0].number in refused:
                why = (
                    "its 户主 row was refused, so this row is too"
                    if (code, room) in raw_heads
                    else "it is new and has no 户主 row"
                )
                for row in rows:
                    if row.number not in refused:
                        reader.add(row.number, "relation", f"household {code} {room}: {why}")
            for extra in heads[1:]:
                reader.add(extra.number, "relation", f"household {code} {room} has its 户主 in row {heads[0].number}")
        elif heads:
            has_head = db.scalar(
                select(Resident.id).where(
                    Resident.household_id == existing.id,
                    Resident.relation == Relation.head,
                    Resident.status == ResidentStatus.active,
                )
            )
            if has_head is not None:
                for row in heads:
                    reader.add(row.number, "relation", f"household {code} {room} has an active 户主 already")
        refused = {e.row for e in reader.errors}
        kept = [row for row in rows if row.number not in refused]
        plans.append(_HouseholdPlan(building=building, room=room, rows=kept, existing=existing))
    return plans


def _write(db: Session, ctx: Context, plans: list[_HouseholdPlan], source: str) -> None:
    """Writes the planned households, residents, tags and their events (one flush per kind, events in bulk)."""
    ring = privacy.keyring()
    events: list[dict[str, Any]] = []
    tag_rows: dict[str, Tag] = {t.code: t for t in db.scalars(select(Tag))}
    tag_rows |= {t.name: t for t in list(tag_rows.values())}
    created: list[Household] = []
    for plan in plans:
        if plan.existing is not None:
            continue
        head = next((r for r in plan.rows if r.person.relation == Relation.head), plan.rows[0])
        household = fill_defaults(
            Household(
                building_id=plan.building.id,
                area_path=plan.building.path,
                room=plan.room,
                kind=head.household_kind or HouseholdKind.family,
                residence=head.household_residence or head.person.residence_type,
                notes=head.notes,
            )
        )
        db.add(household)
        plan.existing = household
        created.append(household)
    db.flush()
    for household in created:
        events.append(
            _event_row(ctx, EventKind.household_created, None, household.id, {"room": [None, household.room]}, source)
        )
    placed: list[tuple[Resident, ParsedRow]] = []
    for plan in plans:
        assert plan.existing is not None
        for row in plan.rows:
            person = row.person
            resident = fill_defaults(
                Resident(
                    household_id=plan.existing.id,
                    relation=person.relation,
                    name=person.name,
                    gender=person.gender,
                    birth_date=person.birth_date,
                    ethnicity=person.ethnicity,
                    residence_type=person.residence_type,
                    status=ResidentStatus.active,
                )
            )
            privacy.store(resident, privacy.ID_NUMBER, person.id_number, ring)
            privacy.store(resident, privacy.PHONE, person.phone, ring)
            db.add(resident)
            placed.append((resident, row))
    db.flush()
    links = []
    for resident, row in placed:
        where = f"{source} row {row.number}"
        changes = people_service.person_changes(row.person)
        events.append(_event_row(ctx, EventKind.registered, resident.id, resident.household_id, changes, where))
        for code in dict.fromkeys(row.tags):
            tag = tag_rows[code]
            links.append(
                {
                    "resident_id": resident.id,
                    "tag_id": tag.id,
                    "added_at": ctx.now,
                    "added_by_user_id": ctx.actor.user_id,
                }
            )
            tag_changes = {"tag": [None, tag.code], "tag_name": tag.name, "sensitivity": str(tag.sensitivity)}
            events.append(_event_row(ctx, EventKind.tag_added, resident.id, resident.household_id, tag_changes, where))
    if links:
        db.execute(insert(ResidentTag), links)
    db.execute(insert(ResidentEvent), events)
    db.flush()


def _event_row(
    ctx: Context, kind: EventKind, resident_id: int | None, household_id: int, changes: dict[str, Any], source: str
) -> dict[str, Any]:
    return {
        "resident_id": resident_id,
        "household_id": household_id,
        "kind": kind,
        "occurred_on": None,
        "recorded_at": ctx.now,
        "actor_user_id": ctx.actor.user_id,
        "actor_name": ctx.actor.name[:100],
        "source": source[:200],
        "changes": changes,
        "note": None,
    }


def import_file(
    *,
    db: Session,
    ctx: Context,
    data: bytes,
    filename: str,
    sheet: str | None = None,
    skip_bad: bool = False,
    dry_run: bool = False,
) -> ImportSummary:
    """Imports residents from the bytes of an XLSX or CSV file (see `import_table`)."""
    table = sheets.read_table(data, filename, sheet=sheet, summary=f"{filename}: import refused, nothing written")
    return import_table(db=db, ctx=ctx, table=table, skip_bad=skip_bad, dry_run=dry_run)


def error_report(summary: ImportSummary) -> bytes:
    """Returns the row error report of an import as XLSX: 行号, 列, 问题 (no personal values in it)."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False}
    )
    sheet = workbook.add_worksheet("错误报告")
    bold = workbook.add_format({"bold": True, "bg_color": "#EEEEEE", "border": 1})
    title = workbook.add_format({"bold": True, "font_color": "#C00000"})
    state = "未导入任何数据" if not summary.partial else f"已跳过 {summary.skipped_rows} 行"
    sheet.write(0, 0, f"{summary.source}：{len(summary.errors)} 个问题，{state}", title)
    for column, (header, width) in enumerate((("行号", 8), ("列", 16), ("问题", 90))):
        sheet.write(1, column, header, bold)
        sheet.set_column(column, column, width)
    for index, error in enumerate(summary.errors, start=2):
        if error.row is not None:
            sheet.write_number(index, 0, error.row)
        sheet.write_string(index, 1, error.column or "")
        sheet.write_string(index, 2, error.message)
    sheet.freeze_panes(2, 0)
    workbook.close()
    return buffer.getvalue()


def template() -> bytes:
    """Returns an empty import workbook: the headers (required ones marked *) and a sheet explaining them."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("人口信息")
    text = workbook.add_format({"num_format": "@"})
    bold = workbook.add_format({"bold": True, "bg_color": "#EEEEEE", "border": 1})
    order = list(COLUMNS)
    for column, name in enumerate(order):
        mark = "*" if name in REQUIRED else ""
        sheet.write(0, column, FIELD_HEADERS_ZH[name] + mark, bold)
        sheet.set_column(column, column, 22 if name in ("id_number", "building") else 12, text)
    notes = workbook.add_worksheet("填表说明")
    lines = [
        "每行一人；楼院编码与门牌号相同的行为同一户。带 * 的列必填。",
        "公民身份号码：18 位，末位校验码按 GB 11643 计算（X 大写）；请设置为文本格式，避免 Excel 截断。",
        "出生日期、性别可不填，由身份号码推出；填写时须与身份号码一致。",
        "联系电话：11 位手机号（1[3-9] 开头）或固定电话（区号-号码）。",
        "与户主关系：户主、配偶、子女、父母、孙子女、祖父母、兄弟姐妹、儿媳/女婿、其他亲属、非亲属；新户须有一名户主。",
        "人口类型：户籍、常住、流动。户类型：家庭户、集体户。户属性：户籍户、常住户、流动户（默认取户主的人口类型）。",
        "标签：标签代码或名称，多个以顿号分隔，如 空巢老人、低保户；只能填写本人角色可见的标签。",
        "楼院编码须为本人辖区内的楼院（网格编码 + 3 位）。任何一行有误，整个文件不导入，并给出逐行错误报告。",
    ]
    for index, line in enumerate(lines):
        notes.write(index, 0, line)
    notes.set_column(0, 0, 120)
    workbook.close()
    return buffer.getvalue()
