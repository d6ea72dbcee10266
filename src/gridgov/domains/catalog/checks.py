"""The checks of a catalogue import: the file against itself and against what the database already holds.

Every problem is collected (not just the first) with the place it comes from, before anything is written.
Stored rows the file leaves alone are checked too when the file changes what they depend on (a matter type
becoming department_only while a stored rule hands it to a community), so an import never leaves the catalogue
inconsistent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from gridgov.core.errors import Issue
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.catalog import files
from gridgov.domains.catalog.enums import UnitKind
from gridgov.domains.catalog.models import GridAccessEntry, MatterType, PowerItem, ResponsibilityRule, Unit
from gridgov.domains.catalog.schemas import CatalogDocument, ResponsibilityIn, UnitIn

KIND_LEVELS: dict[UnitKind, frozenset[AreaLevel]] = {
    UnitKind.district_centre: frozenset({AreaLevel.district}),
    UnitKind.district_bureau: frozenset({AreaLevel.district}),
    UnitKind.street_centre: frozenset({AreaLevel.street}),
    UnitKind.street_office: frozenset({AreaLevel.street}),
    UnitKind.street_team: frozenset({AreaLevel.street}),
    UnitKind.community: frozenset({AreaLevel.community}),
    UnitKind.grid_team: frozenset({AreaLevel.community, AreaLevel.grid}),
    UnitKind.enterprise: frozenset(AreaLevel),
}
"""The levels a unit of each kind may sit at (an enterprise may serve any level)."""

GRASSROOTS_LEVELS = frozenset({AreaLevel.community, AreaLevel.grid, AreaLevel.building})
"""Levels a `department_only` matter type may never be handed to (属地管理 must not be abused)."""

_CHUNK = 500


@dataclass
class _UnitFacts:
    """What the checks need to know of a unit, from the file (where set) or else the database."""

    level: AreaLevel
    parent: str | None
    function: str | None
    where: str | None = None


@dataclass
class ImportState:
    """The database rows an import reads once, checks the file against, then updates in place."""

    units: dict[str, Unit]
    unit_parents: dict[str, str | None]
    unit_codes: dict[int, str]
    matters: dict[str, MatterType]
    rules: dict[tuple[str, str | None], ResponsibilityRule]
    access: dict[tuple[str, str | None], GridAccessEntry]
    powers: dict[str, PowerItem]
    areas: dict[str, tuple[int, AreaLevel]]
    issues: list[Issue] = field(default_factory=list)


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def load_state(db: Session, document: CatalogDocument) -> ImportState:
    """Reads the stored catalogue rows, and the areas `document` names, that an import checks and updates."""
    units = {unit.code: unit for unit in db.scalars(select(Unit))}
    unit_codes = {unit.id: code for code, unit in units.items()}
    matters = {m.code: m for m in db.scalars(select(MatterType).options(selectinload(MatterType.time_limits)))}
    matter_codes = {matter.id: code for code, matter in matters.items()}
    rules = list(db.scalars(select(ResponsibilityRule)))
    access = list(db.scalars(select(GridAccessEntry)))
    powers = {p.code: p for p in db.scalars(select(PowerItem).options(selectinload(PowerItem.matter_types)))}

    # Only the areas the file names or the stored rows point at; a city's area table can be large.
    areas: dict[str, tuple[int, AreaLevel]] = {}
    area_codes: dict[int, str] = {}
    named = sorted({i.area for i in (*document.units, *document.responsibilities, *document.grid_access) if i.area})
    pointed = sorted({row.area_id for row in (*rules, *access) if row.area_id is not None})
    for column, values in ((Area.code, named), (Area.id, pointed)):
        for chunk in _chunks(values):
            for area_id, code, level in db.execute(select(Area.id, Area.code, Area.level).where(column.in_(chunk))):
                areas[code] = (area_id, level)
                area_codes[area_id] = code

    return ImportState(
        units=units,
        unit_parents={code: unit_codes.get(u.parent_id) if u.parent_id else None for code, u in units.items()},
        unit_codes=unit_codes,
        matters=matters,
        rules={(matter_codes[r.matter_type_id], area_codes[r.area_id] if r.area_id else None): r for r in rules},
        access={(matter_codes[a.matter_type_id], area_codes[a.area_id] if a.area_id else None): a for a in access},
        powers=powers,
        areas=areas,
    )


class _Checker:
    """Checks a document against itself and the database, collecting every issue before anything is written."""

    def __init__(self, state: ImportState, document: CatalogDocument, source: str) -> None:
        self.state = state
        self.document = document
        self.source = source
        self.issues = state.issues
        self.units: dict[str, _UnitFacts] = {
            code: _UnitFacts(unit.level, state.unit_parents[code], unit.function) for code, unit in state.units.items()
        }
        self.department_only = {code: matter.department_only for code, matter in state.matters.items()}
        self.matter_where: dict[str, str] = {}

    def where(self, section: str, index: int, item: Any) -> str:
        return self.document.location(section, index) or files.describe_item(self.source, section, index, item)

    def add(self, where: str, message: str, field: str | None = None) -> None:
        self.issues.append(Issue(where, message, field))

    def area(self, code: str | None, where: str) -> tuple[int, AreaLevel] | None:
        if code is None:
            return None
        found = self.state.areas.get(code)
        if found is None:
            self.add(where, f"area {code!r} is not in the area table (import the area tree first)", "area")
        return found

    def run(self) -> None:
        self.duplicates()
        self.check_units()
        self.check_matters()
        self.check_responsibilities()
        self.check_grid_access()
        self.check_powers()

    def duplicates(self) -> None:
        keyed: list[tuple[str, Sequence[Any], str, Any]] = [
            ("units", self.document.units, "code", lambda i: i.code),
            ("matter_types", self.document.matter_types, "code", lambda i: i.code),
            ("responsibilities", self.document.responsibilities, "area", lambda i: (i.matter, i.area)),
            ("grid_access", self.document.grid_access, "area", lambda i: (i.matter, i.area)),
            ("powers", self.document.powers, "code", lambda i: i.code),
        ]
        for section, items, field_name, key in keyed:
            first: dict[Any, str] = {}
            for index, item in enumerate(items):
                where = self.where(section, index, item)
                if key(item) in first:
                    what = f"code {item.code!r}" if field_name == "code" else "matter type and area scope"
                    self.add(where, f"duplicate {what} (first at {first[key(item)]})", field_name)
                else:
                    first[key(item)] = where

    def check_units(self) -> None:
        items: list[tuple[UnitIn, str]] = []
        for index, item in enumerate(self.document.units):
            where = self.where("units", index, item)
            items.append((item, where))
            self.units[item.code] = _UnitFacts(item.level, item.parent, item.function, where)
        for item, where in items:
            allowed = KIND_LEVELS[item.kind]
            if item.level not in allowed:
                levels = ", ".join(level.value for level in AreaLevel if level in allowed)
                self.add(where, f"a {item.kind.value} unit sits at level {levels}, not {item.level.value}", "level")
            area = self.area(item.area, where)
            if area is not None and area[1] != item.level:
                message = f"area {item.area} is a {area[1].value}, but the unit is at level {item.level.value}"
                self.add(where, message, "area")
        for code, unit in self.units.items():
            if unit.parent is None:
                continue
            parent = self.units.get(unit.parent)
            where = unit.where or (parent.where if parent else None)
            if where is None:  # both rows already stored: not this file's doing
                continue
            if parent is None:
                self.add(where, f"parent unit {unit.parent!r} is neither in the file nor in the database", "parent")
            elif parent.level.depth > unit.level.depth:
                message = (
                    f"parent {unit.parent} is at level {parent.level.value}, below level {unit.level.value} "
                    f"of unit {code}"
                )
                self.add(where, message, "parent" if unit.where else "level")
        self.check_cycles()

    def check_cycles(self) -> None:
        reported: set[frozenset[str]] = set()
        for code, unit in self.units.items():
            if unit.where is None:
                continue
            chain, current = [code], unit.parent
            while current is not None and current in self.units:
                if current in chain:
                    loop = [*chain[chain.index(current) :], current]
                    if frozenset(loop) not in reported:
                        reported.add(frozenset(loop))
                        self.add(unit.where, f"parent chain loops: {' → '.join(loop)}", "parent")
                    break
                chain.append(current)
                current = self.units[current].parent

    def check_matters(self) -> None:
        for index, item in enumerate(self.document.matter_types):
            self.department_only[item.code] = item.department_only
            self.matter_where[item.code] = self.where("matter_types", index, item)

    def matter(self, code: str, where: str, field: str = "matter") -> bool:
        if code in self.department_only:
            return True
        self.add(where, f"matter type {code!r} is neither in the file nor in the database", field)
        return False

    def check_responsibilities(self) -> None:
        functions: dict[str, set[AreaLevel]] = {}
        for unit in self.units.values():
            if unit.function:
                functions.setdefault(unit.function, set()).add(unit.level)
        for index, item in enumerate(self.document.responsibilities):
            where = self.where("responsibilities", index, item)
            self.check_rule(item, where, functions)
        # Stored rules the file leaves alone must still agree with the matter types and units the file changes.
        in_file = {(item.matter, item.area) for item in self.document.responsibilities}
        for (matter, area), rule in self.state.rules.items():
            if (matter, area) in in_file:
                continue
            scope = f"area {area}" if area else "everywhere"
            if matter in self.matter_where and self.department_only[matter] and rule.level in GRASSROOTS_LEVELS:
                message = (
                    f"department_only, but the stored responsibility rule ({scope}) hands it to level "
                    f"{rule.level.value}; change that rule in the same file"
                )
                self.add(self.matter_where[matter], message, "department_only")
            unit = self.units.get(self.state.unit_codes.get(rule.unit_id or 0, ""))
            if unit is not None and unit.where is not None and unit.level != rule.level:
                message = (
                    f"level {unit.level.value}, but the stored responsibility rule for matter {matter} ({scope}) "
                    f"names this unit at level {rule.level.value}; change that rule in the same file"
                )
                self.add(unit.where, message, "level")

    def check_rule(self, item: ResponsibilityIn, where: str, functions: dict[str, set[AreaLevel]]) -> None:
        known_matter = self.matter(item.matter, where)
        self.area(item.area, where)
        if item.unit and item.function:
            self.add(where, "give either a handling unit or a unit function, not both", "unit")
        elif not item.unit and not item.function:
            self.add(where, "give a handling unit or a unit function", "unit")
        if item.unit:
            unit = self.units.get(item.unit)
            if unit is None:
                self.add(where, f"unit {item.unit!r} is neither in the file nor in the database", "unit")
            elif unit.level != item.level:
                message = (
                    f"unit {item.unit} is at level {unit.level.value}, but the rule is at level {item.level.value}"
                )
                self.add(where, message, "level")
        if item.function and item.level not in functions.get(item.function, set()):
            self.add(where, f"no unit has function {item.function!r} at level {item.level.value}", "function")
        for code in item.co_units:
            if code not in self.units:
                self.add(where, f"co-unit {code!r} is neither in the file nor in the database", "co_units")
        for name in item.co_functions:
            if name not in functions:
                self.add(where, f"no unit has function {name!r}", "co_functions")
        if not (known_matter and self.department_only[item.matter]):
            return
        if item.level in GRASSROOTS_LEVELS:
            message = f"matter type {item.matter} is department_only: it cannot be handed to level {item.level.value}"
            self.add(where, message, "level")
        for code in item.co_units:
            unit = self.units.get(code)
            if unit is not None and unit.level in GRASSROOTS_LEVELS:
                message = f"matter type {item.matter} is department_only: co-unit {code} is at level {unit.level.value}"
                self.add(where, message, "co_units")

    def check_grid_access(self) -> None:
        for index, item in enumerate(self.document.grid_access):
            where = self.where("grid_access", index, item)
            self.area(item.area, where)
            if self.matter(item.matter, where) and item.admitted and self.department_only[item.matter]:
                message = f"matter type {item.matter} is department_only and cannot be admitted to grids"
                self.add(where, message, "admitted")
        in_file = {(item.matter, item.area) for item in self.document.grid_access}
        for (matter, area), entry in self.state.access.items():
            if (matter, area) in in_file or not entry.admitted:
                continue
            if matter in self.matter_where and self.department_only[matter]:
                scope = f"area {area}" if area else "everywhere"
                message = (
                    f"department_only, but the stored grid access list admits it ({scope}); "
                    "change that row in the same file"
                )
                self.add(self.matter_where[matter], message, "department_only")

    def check_powers(self) -> None:
        for index, item in enumerate(self.document.powers):
            where = self.where("powers", index, item)
            if item.unit not in self.units:
                self.add(where, f"unit {item.unit!r} is neither in the file nor in the database", "unit")
            for code in item.matters:
                self.matter(code, where, "matters")


def check(state: ImportState, document: CatalogDocument, source: str) -> list[Issue]:
    """Returns every problem of `document` against itself and `state` (empty when it may be imported)."""
    _Checker(state, document, source).run()
    return state.issues
