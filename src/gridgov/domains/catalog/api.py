"""Read-only JSON API of the catalogue: units, matter types (with limits and lists) and responsibility rules."""

from __future__ import annotations

from fastapi import APIRouter, Query

from gridgov.core.db import DbSession
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.catalog import service
from gridgov.domains.catalog.enums import MatterKind, UnitKind
from gridgov.domains.catalog.schemas import (
    MatterTypeDetail,
    MatterTypeRead,
    PowerRead,
    ResponsibilityRead,
    UnitDetail,
    UnitRead,
)

router = APIRouter(prefix="/catalog", tags=["catalog"])


@router.get("/units", response_model=list[UnitRead])
def list_units(
    db: DbSession,
    kind: UnitKind | None = None,
    level: AreaLevel | None = None,
    function: str | None = Query(None, description="unit function, e.g. urban_management"),
    area: str | None = Query(None, description="code of the area the unit serves"),
    parent: str | None = Query(None, description="code of the parent unit"),
    q: str | None = Query(None, description="text in the code or name"),
    include_inactive: bool = False,
) -> list[UnitRead]:
    """Lists units by level then code."""
    units = service.list_units(
        db=db,
        kind=kind,
        level=level,
        function=function,
        area_code=area,
        parent_code=parent,
        q=q,
        active=None if include_inactive else True,
    )
    return [UnitRead.of(unit) for unit in units]


@router.get("/units/{code}", response_model=UnitDetail)
def get_unit(db: DbSession, code: str) -> UnitDetail:
    """Returns one unit with its direct sub-units and its power list."""
    unit = service.get_unit(db=db, code=code)
    children = service.list_units(db=db, parent_code=code, active=None)
    powers = service.list_powers(db=db, unit_id=unit.id)
    return UnitDetail(
        **UnitRead.of(unit).model_dump(),
        parent_name=unit.parent.name if unit.parent else None,
        area_name=unit.area.name if unit.area else None,
        children=[UnitRead.of(child) for child in children],
        powers=[PowerRead.of(power) for power in powers],
    )


@router.get("/matter-types", response_model=list[MatterTypeRead])
def list_matter_types(
    db: DbSession,
    kind: MatterKind | None = None,
    major_code: str | None = Query(None, description="major class code (大类代码)"),
    q: str | None = Query(None, description="text in the code, names or keywords"),
    include_inactive: bool = False,
) -> list[MatterTypeRead]:
    """Lists matter types by code."""
    matters = service.list_matter_types(
        db=db, kind=kind, major_code=major_code, q=q, active=None if include_inactive else True
    )
    return [MatterTypeRead.model_validate(matter) for matter in matters]


@router.get("/matter-types/{code}", response_model=MatterTypeDetail)
def get_matter_type(db: DbSession, code: str) -> MatterTypeDetail:
    """Returns one matter type with its time limits, responsibility rules, grid access entries and powers."""
    matter = service.get_matter_type(db=db, code=code)
    return MatterTypeDetail.of(
        matter,
        rules=service.responsibility_rules_for(db=db, matter_type_id=matter.id),
        grid_access=service.grid_access_for(db=db, matter_type_id=matter.id),
        powers=service.list_powers(db=db, matter_type_id=matter.id),
    )


@router.get("/responsibilities", response_model=list[ResponsibilityRead])
def list_responsibilities(
    db: DbSession,
    matter: str | None = Query(None, description="matter type code"),
    unit: str | None = Query(None, description="code of the named handling unit"),
) -> list[ResponsibilityRead]:
    """Lists responsibility rules by matter code, widest scope first."""
    matter_type_id = service.get_matter_type(db=db, code=matter).id if matter else None
    unit_id = service.get_unit(db=db, code=unit).id if unit else None
    rules = service.list_responsibility_rules(db=db, matter_type_id=matter_type_id, unit_id=unit_id)
    return [ResponsibilityRead.of(rule) for rule in rules]
