"""Dispatch (派遣): which unit handles a case, from its matter type and location, under the three lists.

Order of precedence (DESIGN.md §4): responsibility rules scoped to an area that contains the case (the most
specific scope wins), then the component's owner unit (a manhole's owner), then district-wide rules.
`department_only` matter types never go to a grid or community unit. A case goes out automatically only when
exactly one unit results and, if a model classified it, the model was confident enough; otherwise it waits in
the queue of the centre that owns it (street, or district for department-level matters).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.catalog.models import MatterType, ResponsibilityRule, Unit
from gridgov.domains.dispatch.schemas import Candidate, DispatchPlan

GRASSROOTS_LEVELS = frozenset({AreaLevel.grid, AreaLevel.community})


def _area_of_level(case_areas: dict[AreaLevel, int | None], level: AreaLevel) -> int | None:
    return case_areas.get(level)


def _resolve_function(
    *, db: Session, function: str, level: AreaLevel, case_areas: dict[AreaLevel, int | None]
) -> Unit | None:
    area_id = _area_of_level(case_areas, level)
    if area_id is None:
        return None
    return db.scalars(
        select(Unit)
        .where(Unit.function == function, Unit.level == level, Unit.area_id == area_id, Unit.is_active)
        .order_by(Unit.code)
        .limit(1)
    ).first()


def _units_by_code(*, db: Session, codes: Sequence[str]) -> list[Unit]:
    if not codes:
        return []
    return list(db.scalars(select(Unit).where(Unit.code.in_(codes), Unit.is_active)))


def _rule_candidate(
    *, db: Session, rule: ResponsibilityRule, case_areas: dict[AreaLevel, int | None], source: str
) -> Candidate | None:
    unit = rule.unit if rule.unit_id else None
    if unit is None and rule.unit_function:
        unit = _resolve_function(db=db, function=rule.unit_function, level=rule.level, case_areas=case_areas)
    if unit is None or not unit.is_active:
        return None
    co_units = _units_by_code(db=db, codes=rule.co_unit_codes)
    for function in rule.co_unit_functions:
        found = _resolve_function(db=db, function=function, level=rule.level, case_areas=case_areas)
        if found is not None:
            co_units.append(found)
    return Candidate(
        unit_id=unit.id,
        unit_code=unit.code,
        unit_name=unit.name,
        level=unit.level,
        source=source,
        rule_id=rule.id,
        co_unit_ids=[u.id for u in co_units if u.id != unit.id],
        legal_basis=rule.legal_basis,
    ).with_unit(unit)


def candidates(
    *,
    db: Session,
    matter_type: MatterType,
    area_path: str,
    case_areas: dict[AreaLevel, int | None],
    component_owner: Unit | None = None,
) -> list[Candidate]:
    """Returns the units that may handle a case, best first, under the precedence described above."""
    rules = list(
        db.scalars(
            select(ResponsibilityRule)
            .options(joinedload(ResponsibilityRule.unit))
            .where(ResponsibilityRule.matter_type_id == matter_type.id)
            .order_by(ResponsibilityRule.id)
        )
    )
    scoped: list[tuple[int, ResponsibilityRule]] = []
    district_wide: list[ResponsibilityRule] = []
    if rules:
        scope_ids = {r.area_id for r in rules if r.area_id}
        area_paths = (
            {row.id: row.path for row in db.execute(select(Area.id, Area.path).where(Area.id.in_(scope_ids)))}
            if scope_ids
            else {}
        )
        for rule in rules:
            if rule.area_id is None:
                district_wide.append(rule)
            elif area_path.startswith(area_paths.get(rule.area_id, "\0")):
                scoped.append((len(area_paths[rule.area_id]), rule))

    admitted: list[bool] = []  # computed once, only if a grid or community unit turns up

    def allowed(candidate: Candidate | None) -> bool:
        if candidate is None or candidate.level not in GRASSROOTS_LEVELS:
            return candidate is not None
        if matter_type.department_only:
            return False
        if not admitted:
            grid = db.get(Area, case_areas[AreaLevel.grid]) if case_areas.get(AreaLevel.grid) else None
            admitted.append(catalog_service.is_grid_admitted(db=db, matter_type_id=matter_type.id, area=grid))
        return admitted[0]

    if scoped:
        most_specific = max(depth for depth, _ in scoped)
        found = [
            _rule_candidate(db=db, rule=rule, case_areas=case_areas, source="area_rule")
            for depth, rule in scoped
            if depth == most_specific
        ]
        found = [c for c in found if allowed(c)]
        if found:
            return _unique(found)
    if component_owner is not None and component_owner.is_active:
        owner = Candidate(
            unit_id=component_owner.id,
            unit_code=component_owner.code,
            unit_name=component_owner.name,
            level=component_owner.level,
            source="component_owner",
        ).with_unit(component_owner)
        if allowed(owner):
            return [owner]
    found = [_rule_candidate(db=db, rule=rule, case_areas=case_areas, source="district_rule") for rule in district_wide]
    return _unique([c for c in found if allowed(c)])


def _unique(found: list[Candidate | None]) -> list[Candidate]:
    seen: set[int] = set()
    result = []
    for candidate in found:
        if candidate is not None and candidate.unit_id not in seen:
            seen.add(candidate.unit_id)
            result.append(candidate)
    return result


def plan(
    *,
    db: Session,
    matter_type: MatterType,
    area_path: str,
    case_areas: dict[AreaLevel, int | None],
    component_owner: Unit | None = None,
    confidence: float | None = None,
    min_confidence: float = 0.8,
) -> DispatchPlan:
    """Returns the dispatch plan of a case: its candidates, the unit to auto-dispatch to (if any), its centre."""
    found = candidates(
        db=db, matter_type=matter_type, area_path=area_path, case_areas=case_areas, component_owner=component_owner
    )
    department_level = matter_type.department_only or any(c.level == AreaLevel.district for c in found)
    centre = AreaLevel.district if department_level or case_areas.get(AreaLevel.street) is None else AreaLevel.street
    if not found:
        return DispatchPlan(candidates=[], auto_unit_id=None, centre_level=centre, reason="no responsible unit found")
    if len(found) > 1:
        return DispatchPlan(
            candidates=found, auto_unit_id=None, centre_level=centre, reason=f"{len(found)} candidate units"
        )
    if confidence is not None and confidence < min_confidence:
        return DispatchPlan(
            candidates=found,
            auto_unit_id=None,
            centre_level=centre,
            reason=f"classification confidence {confidence:.2f} below {min_confidence:.2f}",
        )
    return DispatchPlan(candidates=found, auto_unit_id=found[0].unit_id, centre_level=centre, reason="one rule matches")


def check_unit(*, db: Session, matter_type: MatterType, unit: Unit, grid_id: int | None) -> str | None:
    """Returns why `unit` may not handle `matter_type` (department-only and grid access lists), or None."""
    if not unit.is_active:
        return f"unit {unit.code} is inactive"
    if unit.level not in GRASSROOTS_LEVELS:
        return None
    if matter_type.department_only:
        return f"matter type {matter_type.code} is department-only and may not go to {unit.level} unit {unit.code}"
    grid = db.get(Area, grid_id) if grid_id else None
    if not catalog_service.is_grid_admitted(db=db, matter_type_id=matter_type.id, area=grid):
        return (
            f"matter type {matter_type.code} is not on the grid access list (网格事项准入清单) and may not go to"
            f" {unit.level} unit {unit.code}"
        )
    return None
