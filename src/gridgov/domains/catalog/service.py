"""The catalogue's commands and queries: import and export of the reference data, and the look-ups others need.

An import is checked as a whole against the file and the database before anything is written, then upserted
(units, matter types and powers by code; responsibility and grid-access rows by matter × area). Services never
commit: the caller's transaction makes the import all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from gridgov.core import sheets
from gridgov.core.errors import InputError, Issue, NotFoundError
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.catalog import checks, files
from gridgov.domains.catalog.checks import ImportState
from gridgov.domains.catalog.enums import MatterKind, Stage, TimeUnit, UnitKind, Urgency
from gridgov.domains.catalog.models import (
    CategoryMapping,
    GridAccessEntry,
    MatterType,
    PowerItem,
    ResponsibilityRule,
    TimeLimit,
    Unit,
)
from gridgov.domains.catalog.schemas import (
    CatalogDocument,
    CatalogReport,
    CrosswalkIn,
    GridAccessIn,
    MatterTypeIn,
    PowerIn,
    ResponsibilityIn,
    SectionCount,
    UnitIn,
    format_limit,
    parse_limit,
)

# --- files ------------------------------------------------------------------------------------------------------


def load_file(path: Path) -> CatalogDocument:
    """Reads a catalogue file (.yaml, .yml or .xlsx); raises InputError naming sheet/section, row and field."""
    return files.load_file(path)


def write_file(document: CatalogDocument, path: Path) -> None:
    """Writes `document` to a .yaml, .yml or .xlsx file that load_file reads back unchanged."""
    files.write_file(document, path)


# --- import -----------------------------------------------------------------------------------------------------


def _area_id(state: ImportState, code: str | None) -> int | None:
    return state.areas[code][0] if code else None


def _write_units(db: Session, items: list[UnitIn], state: ImportState, counts: SectionCount) -> None:
    outcome: list[tuple[bool, bool]] = []
    for item in items:
        values = {
            "name": item.name,
            "kind": item.kind,
            "level": item.level,
            "function": item.function,
            "area_id": _area_id(state, item.area),
            "phone": item.phone,
            "is_active": item.is_active,
        }
        unit = state.units.get(item.code)
        if unit is None:
            unit = state.units[item.code] = Unit(code=item.code, **values)
            db.add(unit)
            outcome.append((True, True))
        else:
            outcome.append((False, sheets.assign(unit, values)))
    # Parents once every unit exists, so a file may list children before their parents.
    for item, (created, changed) in zip(items, outcome, strict=True):
        unit = state.units[item.code]
        parent = state.units[item.parent] if item.parent else None
        if created or unit.parent_id != (parent.id if parent else None):
            unit.parent = parent
            changed = True
        counts.add(created=created, changed=changed)


def _write_matter_types(db: Session, items: list[MatterTypeIn], state: ImportState, report: CatalogReport) -> None:
    for item in items:
        values = {
            "name": item.name,
            "name_en": item.name_en,
            "kind": item.kind,
            "major_code": item.major_code,
            "major_name": item.major_name,
            "minor_code": item.minor_code,
            "register_condition": item.register_condition,
            "close_condition": item.close_condition,
            "default_urgency": item.default_urgency,
            "department_only": item.department_only,
            "evidence_required": item.evidence_required,
            "keywords": list(item.keywords),
            "is_active": item.is_active,
        }
        matter = state.matters.get(item.code)
        created = matter is None
        if matter is None:
            matter = state.matters[item.code] = MatterType(code=item.code, **values)
            db.add(matter)
            changed = True
        else:
            changed = sheets.assign(matter, values)
        report.matter_types.add(created=created, changed=changed)
        _replace_time_limits(matter, item, report.time_limits)


def _replace_time_limits(matter: MatterType, item: MatterTypeIn, counts: SectionCount) -> None:
    wanted = {
        (urgency, stage): parse_limit(limit)
        for urgency, stages in item.time_limits.items()
        for stage, limit in stages.items()
    }
    # NOTE: update rows in place rather than delete-and-insert: one flush would insert before deleting and trip
    # the (matter_type_id, urgency, stage) unique constraint.
    existing = {(row.urgency, row.stage): row for row in matter.time_limits}
    for key, row in existing.items():
        if key not in wanted:
            matter.time_limits.remove(row)
            counts.deleted += 1
    for (urgency, stage), (amount, unit) in wanted.items():
        row = existing.get((urgency, stage))
        if row is None:
            matter.time_limits.append(TimeLimit(urgency=urgency, stage=stage, amount=amount, unit=unit))
            counts.created += 1
        else:
            counts.add(created=False, changed=sheets.assign(row, {"amount": amount, "unit": unit}))


def _write_responsibilities(
    db: Session, items: list[ResponsibilityIn], state: ImportState, counts: SectionCount
) -> None:
    for item in items:
        values = {
            "level": item.level,
            "unit_function": item.function,
            "co_unit_codes": list(item.co_units),
            "co_unit_functions": list(item.co_functions),
            "legal_basis": item.legal_basis,
        }
        unit = state.units[item.unit] if item.unit else None
        rule = state.rules.get((item.matter, item.area))
        if rule is None:
            rule = ResponsibilityRule(
                matter_type=state.matters[item.matter], area_id=_area_id(state, item.area), unit=unit, **values
            )
            state.rules[(item.matter, item.area)] = rule
            db.add(rule)
            counts.add(created=True, changed=True)
            continue
        changed = sheets.assign(rule, values)
        if rule.unit_id != (unit.id if unit else None):
            rule.unit = unit
            changed = True
        counts.add(created=False, changed=changed)


def _write_grid_access(db: Session, items: list[GridAccessIn], state: ImportState, counts: SectionCount) -> None:
    for item in items:
        values = {"admitted": item.admitted, "basis": item.basis}
        entry = state.access.get((item.matter, item.area))
        if entry is None:
            entry = GridAccessEntry(
                matter_type=state.matters[item.matter], area_id=_area_id(state, item.area), **values
            )
            state.access[(item.matter, item.area)] = entry
            db.add(entry)
            counts.add(created=True, changed=True)
        else:
            counts.add(created=False, changed=sheets.assign(entry, values))


def _write_powers(db: Session, items: list[PowerIn], state: ImportState, counts: SectionCount) -> None:
    for item in items:
        values = {"title": item.title, "category": item.category, "legal_basis": item.legal_basis}
        unit = state.units[item.unit]
        matters = [state.matters[code] for code in dict.fromkeys(item.matters)]
        power = state.powers.get(item.code)
        if power is None:
            power = state.powers[item.code] = PowerItem(code=item.code, unit=unit, matter_types=matters, **values)
            db.add(power)
            counts.add(created=True, changed=True)
            continue
        changed = sheets.assign(power, values)
        if power.unit_id != unit.id:
            power.unit = unit
            changed = True
        if sorted(m.code for m in power.matter_types) != sorted(m.code for m in matters):
            power.matter_types = matters
            changed = True
        counts.add(created=False, changed=changed)


def _write_crosswalks(
    db: Session, items: list[CrosswalkIn], state: ImportState, stored: dict[tuple[str, str], CategoryMapping]
) -> SectionCount:
    counts = SectionCount()
    for item in items:
        matter = state.matters[item.matter_type]
        row = stored.get((item.source, item.external_code))
        if row is None:
            row = CategoryMapping(
                source=item.source, external_code=item.external_code, external_name=item.external_name
            )
            row.matter_type = matter
            stored[(item.source, item.external_code)] = row
            db.add(row)
            counts.add(created=True, changed=True)
            continue
        changed = sheets.assign(row, {"external_name": item.external_name})
        if row.matter_type_id != matter.id:
            row.matter_type = matter
            changed = True
        counts.add(created=False, changed=changed)
    return counts


def _check_crosswalks(
    db: Session, document: CatalogDocument, source: str, state: ImportState
) -> dict[tuple[str, str], CategoryMapping]:
    """Checks the crosswalk rows (known matter types, no key twice); returns the stored rows by key."""
    known = set(state.matters) | {item.code for item in document.matter_types}
    first: dict[tuple[str, str], str] = {}
    for index, item in enumerate(document.crosswalks):
        where = document.location("crosswalks", index) or files.describe_item(source, "crosswalks", index, item)
        key = (item.source, item.external_code)
        if key in first:
            message = f"duplicate code {item.external_code!r} of source {item.source!r} (first at {first[key]})"
            state.issues.append(Issue(where, message, "external_code"))
        first.setdefault(key, where)
        if item.matter_type not in known:
            message = f"matter type {item.matter_type!r} is neither in the file nor in the database"
            state.issues.append(Issue(where, message, "matter_type"))
    if not document.crosswalks:
        return {}
    return {(row.source, row.external_code): row for row in db.scalars(select(CategoryMapping))}


def validate_document(*, db: Session, document: CatalogDocument, source: str) -> None:
    """Checks `document` against itself and the database; raises InputError listing every problem."""
    _check(db, document, source)


def _check(
    db: Session, document: CatalogDocument, source: str
) -> tuple[ImportState, dict[tuple[str, str], CategoryMapping]]:
    state = checks.load_state(db, document)
    checks.check(state, document, source)
    crosswalks = _check_crosswalks(db, document, source, state)
    if state.issues:
        raise InputError(state.issues, summary=f"{source}: catalogue rejected, nothing written")
    return state, crosswalks


def import_document(*, db: Session, document: CatalogDocument, source: str) -> CatalogReport:
    """Checks `document` as a whole, then upserts it; raises InputError (writing nothing) on any problem."""
    state, crosswalks = _check(db, document, source)
    report = CatalogReport(source=source)
    _write_units(db, document.units, state, report.units)
    _write_matter_types(db, document.matter_types, state, report)
    _write_responsibilities(db, document.responsibilities, state, report.responsibilities)
    _write_grid_access(db, document.grid_access, state, report.grid_access)
    _write_powers(db, document.powers, state, report.powers)
    report.crosswalks = _write_crosswalks(db, document.crosswalks, state, crosswalks)
    db.flush()
    return report


# --- export -----------------------------------------------------------------------------------------------------


def _scope_key(area: Area | None) -> tuple[int, str]:
    """Sorts rows from the widest scope (everywhere) to the narrowest."""
    return (-1, "") if area is None else (area.level.depth, area.code)


def export_document(*, db: Session) -> CatalogDocument:
    """Returns the whole stored catalogue as a document (units by level then code, the rest by code)."""
    units = db.scalars(select(Unit).options(selectinload(Unit.parent), selectinload(Unit.area))).all()
    matters = db.scalars(select(MatterType).options(selectinload(MatterType.time_limits))).all()
    rules = db.scalars(
        select(ResponsibilityRule).options(
            selectinload(ResponsibilityRule.matter_type),
            selectinload(ResponsibilityRule.area),
            selectinload(ResponsibilityRule.unit),
        )
    ).all()
    access = db.scalars(
        select(GridAccessEntry).options(selectinload(GridAccessEntry.matter_type), selectinload(GridAccessEntry.area))
    ).all()
    powers = db.scalars(
        select(PowerItem).options(selectinload(PowerItem.unit), selectinload(PowerItem.matter_types))
    ).all()
    crosswalks = list_crosswalks(db=db)
    return CatalogDocument(
        units=[
            UnitIn(
                code=u.code,
                name=u.name,
                kind=u.kind,
                level=u.level,
                function=u.function,
                parent=u.parent.code if u.parent else None,
                area=u.area.code if u.area else None,
                phone=u.phone,
                is_active=u.is_active,
            )
            for u in sorted(units, key=lambda u: (u.level.depth, u.code))
        ],
        matter_types=[_matter_in(m) for m in sorted(matters, key=lambda m: m.code)],
        responsibilities=[
            ResponsibilityIn(
                matter=r.matter_type.code,
                area=r.area.code if r.area else None,
                level=r.level,
                unit=r.unit.code if r.unit else None,
                function=r.unit_function,
                co_units=list(r.co_unit_codes),
                co_functions=list(r.co_unit_functions),
                legal_basis=r.legal_basis,
            )
            for r in sorted(rules, key=lambda r: (r.matter_type.code, _scope_key(r.area)))
        ],
        grid_access=[
            GridAccessIn(
                matter=a.matter_type.code, area=a.area.code if a.area else None, admitted=a.admitted, basis=a.basis
            )
            for a in sorted(access, key=lambda a: (a.matter_type.code, _scope_key(a.area)))
        ],
        powers=[
            PowerIn(
                code=p.code,
                unit=p.unit.code,
                title=p.title,
                category=p.category,
                legal_basis=p.legal_basis,
                matters=sorted(m.code for m in p.matter_types),
            )
            for p in sorted(powers, key=lambda p: p.code)
        ],
        crosswalks=[
            CrosswalkIn(
                source=c.source,
                external_code=c.external_code,
                external_name=c.external_name,
                matter_type=c.matter_type.code,
            )
            for c in crosswalks
        ],
    )


def _matter_in(matter: MatterType) -> MatterTypeIn:
    limits: dict[Urgency, dict[Stage, str]] = {}
    for urgency in Urgency:
        stages = {row.stage: row for row in matter.time_limits if row.urgency == urgency}
        if stages:
            limits[urgency] = {
                stage: format_limit(stages[stage].amount, stages[stage].unit) for stage in Stage if stage in stages
            }
    return MatterTypeIn(
        code=matter.code,
        name=matter.name,
        name_en=matter.name_en,
        kind=matter.kind,
        major_code=matter.major_code,
        major_name=matter.major_name,
        minor_code=matter.minor_code,
        register_condition=matter.register_condition,
        close_condition=matter.close_condition,
        default_urgency=matter.default_urgency,
        department_only=matter.department_only,
        evidence_required=matter.evidence_required,
        keywords=list(matter.keywords),
        is_active=matter.is_active,
        time_limits=limits,
    )


# --- queries ----------------------------------------------------------------------------------------------------


def _contains(column: Any, text: str) -> Any:
    return func.lower(column).contains(text.lower(), autoescape=True)


def get_unit(*, db: Session, code: str) -> Unit:
    """Returns the unit with `code` (parent and area loaded); raises NotFoundError."""
    unit = db.scalar(select(Unit).where(Unit.code == code).options(selectinload(Unit.parent), selectinload(Unit.area)))
    if unit is None:
        raise NotFoundError(f"unit {code!r} not found")
    return unit


def list_units(
    *,
    db: Session,
    kind: UnitKind | None = None,
    level: AreaLevel | None = None,
    function: str | None = None,
    area_code: str | None = None,
    parent_code: str | None = None,
    q: str | None = None,
    active: bool | None = True,
) -> list[Unit]:
    """Returns units matching every filter given, by level then code (`active=None`: active or not)."""
    stmt = select(Unit).options(selectinload(Unit.parent), selectinload(Unit.area))
    if kind is not None:
        stmt = stmt.where(Unit.kind == kind)
    if level is not None:
        stmt = stmt.where(Unit.level == level)
    if function is not None:
        stmt = stmt.where(Unit.function == function)
    if area_code is not None:
        stmt = stmt.join(Area, Unit.area_id == Area.id).where(Area.code == area_code)
    if parent_code is not None:
        parent = aliased(Unit)
        stmt = stmt.join(parent, Unit.parent_id == parent.id).where(parent.code == parent_code)
    if q:
        stmt = stmt.where(or_(_contains(Unit.code, q), _contains(Unit.name, q)))
    if active is not None:
        stmt = stmt.where(Unit.is_active.is_(active))
    return sorted(db.scalars(stmt), key=lambda unit: (unit.level.depth, unit.code))


def get_matter_type(*, db: Session, code: str) -> MatterType:
    """Returns the matter type with `code` (time limits loaded); raises NotFoundError."""
    matter = db.scalar(select(MatterType).where(MatterType.code == code).options(selectinload(MatterType.time_limits)))
    if matter is None:
        raise NotFoundError(f"matter type {code!r} not found")
    return matter


def list_matter_types(
    *,
    db: Session,
    kind: MatterKind | None = None,
    major_code: str | None = None,
    q: str | None = None,
    active: bool | None = True,
) -> list[MatterType]:
    """Returns matter types by code; `q` matches code, names and keywords (`active=None`: active or not)."""
    stmt = select(MatterType).order_by(MatterType.code)
    if kind is not None:
        stmt = stmt.where(MatterType.kind == kind)
    if major_code is not None:
        stmt = stmt.where(MatterType.major_code == major_code)
    if active is not None:
        stmt = stmt.where(MatterType.is_active.is_(active))
    matters = list(db.scalars(stmt))
    if not q:
        return matters
    # NOTE: filtered here, not in SQL: keywords are a JSON list, stored with \u escapes on SQLite.
    needle = q.strip().casefold()

    def matches(matter: MatterType) -> bool:
        texts = [matter.code, matter.name, matter.name_en or "", matter.major_name, *matter.keywords]
        return any(needle in text.casefold() for text in texts)

    return [matter for matter in matters if matches(matter)]


def time_limits_for(*, db: Session, matter_type_id: int, urgency: Urgency) -> dict[Stage, tuple[float, TimeUnit]]:
    """Returns stage → (amount, unit) at `urgency`; a stage without a row at that urgency takes the normal one."""
    rows = db.scalars(
        select(TimeLimit).where(
            TimeLimit.matter_type_id == matter_type_id, TimeLimit.urgency.in_({urgency, Urgency.normal})
        )
    ).all()
    merged = {row.stage: (row.amount, row.unit) for row in rows if row.urgency == Urgency.normal}
    merged.update({row.stage: (row.amount, row.unit) for row in rows if row.urgency == urgency})
    return {stage: merged[stage] for stage in Stage if stage in merged}


def _rule_options() -> list[Any]:
    return [
        selectinload(ResponsibilityRule.matter_type),
        selectinload(ResponsibilityRule.area),
        selectinload(ResponsibilityRule.unit),
    ]


def list_responsibility_rules(
    *, db: Session, matter_type_id: int | None = None, unit_id: int | None = None
) -> list[ResponsibilityRule]:
    """Returns responsibility rules by matter code, each matter's widest scope first (relations loaded)."""
    stmt = select(ResponsibilityRule).options(*_rule_options())
    if matter_type_id is not None:
        stmt = stmt.where(ResponsibilityRule.matter_type_id == matter_type_id)
    if unit_id is not None:
        stmt = stmt.where(ResponsibilityRule.unit_id == unit_id)
    return sorted(db.scalars(stmt), key=lambda rule: (rule.matter_type.code, _scope_key(rule.area)))


def responsibility_rules_for(*, db: Session, matter_type_id: int) -> list[ResponsibilityRule]:
    """Returns every responsibility rule of a matter type, widest scope first (matter, area and unit loaded)."""
    return list_responsibility_rules(db=db, matter_type_id=matter_type_id)


def scope_codes(area: Area) -> list[str]:
    """Returns the codes of `area` and its ancestors, from its `path` (district first)."""
    codes = [code for code in area.path.split("/") if code]
    return codes if area.code in codes else [*codes, area.code]


_Scoped = TypeVar("_Scoped", ResponsibilityRule, GridAccessEntry)


def _most_specific(
    db: Session, model: type[_Scoped], matter_type_id: int, area: Area | None, options: Iterable[Any] = ()
) -> _Scoped | None:
    codes = scope_codes(area) if area is not None else []
    stmt = (
        select(model, Area.level)
        .outerjoin(Area, model.area_id == Area.id)
        .where(model.matter_type_id == matter_type_id, or_(model.area_id.is_(None), Area.code.in_(codes)))
        .options(*options)
    )
    rows = db.execute(stmt).all()
    if not rows:
        return None
    return max(rows, key=lambda row: -1 if row[1] is None else AreaLevel(row[1]).depth)[0]


def applicable_rule(*, db: Session, matter_type_id: int, area: Area | None) -> ResponsibilityRule | None:
    """Returns the responsibility rule whose scope covers `area` most specifically (None if none applies)."""
    return _most_specific(db, ResponsibilityRule, matter_type_id, area, _rule_options())


def grid_access_for(*, db: Session, matter_type_id: int) -> list[GridAccessEntry]:
    """Returns the grid access entries of a matter type, widest scope first (area loaded)."""
    stmt = (
        select(GridAccessEntry)
        .where(GridAccessEntry.matter_type_id == matter_type_id)
        .options(selectinload(GridAccessEntry.matter_type), selectinload(GridAccessEntry.area))
    )
    return sorted(db.scalars(stmt), key=lambda entry: _scope_key(entry.area))


def is_grid_admitted(*, db: Session, matter_type_id: int, area: Area | None = None) -> bool:
    """Returns whether a matter type may go to grid and community units in `area` (most specific entry wins)."""
    department_only = db.scalar(select(MatterType.department_only).where(MatterType.id == matter_type_id))
    if department_only is None:
        raise NotFoundError(f"matter type {matter_type_id} not found")
    if department_only:
        return False
    entry = _most_specific(db, GridAccessEntry, matter_type_id, area)
    return entry is not None and entry.admitted


def list_powers(*, db: Session, unit_id: int | None = None, matter_type_id: int | None = None) -> list[PowerItem]:
    """Returns power-list rows by code, optionally of one unit or covering one matter type (relations loaded)."""
    stmt = (
        select(PowerItem)
        .options(selectinload(PowerItem.unit), selectinload(PowerItem.matter_types))
        .order_by(PowerItem.code)
    )
    if unit_id is not None:
        stmt = stmt.where(PowerItem.unit_id == unit_id)
    if matter_type_id is not None:
        stmt = stmt.where(PowerItem.matter_types.any(MatterType.id == matter_type_id))
    return list(db.scalars(stmt))


def list_crosswalks(*, db: Session, source: str | None = None) -> list[CategoryMapping]:
    """Returns the crosswalk rows (of one external `source`, or all) by source and code, matter types loaded."""
    stmt = (
        select(CategoryMapping)
        .options(selectinload(CategoryMapping.matter_type))
        .order_by(CategoryMapping.source, CategoryMapping.external_code)
    )
    if source is not None:
        stmt = stmt.where(CategoryMapping.source == source)
    return list(db.scalars(stmt))
