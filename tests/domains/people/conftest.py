"""Fixtures of the register tests: the synthetic district with buildings, one user per role and area, the standard
population imported through the real importer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import security
from gridgov.core.permissions import ACTION_TOKEN_SCOPES, PERMISSIONS
from gridgov.domains.areas import locate
from gridgov.domains.areas import service as area_service
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor, UserCreate
from gridgov.domains.people import imports
from gridgov.domains.people.models import Resident
from gridgov.domains.people.service import Context
from tests.domains.areas.synthetic import collection, feature, grid_boxes, lnglat
from tests.domains.cases.world import load_world
from tests.domains.people.helpers import rows_east, rows_west, workbook

PASSWORD = "register-test-password"
STREET = "410105001"
COMMUNITY = "410105001001"
GRID_A, GRID_B = f"{COMMUNITY}001", f"{COMMUNITY}002"
EAST_COMMUNITY = "410105002001"
GRID_E = f"{EAST_COMMUNITY}001"
BUILDING_A, BUILDING_A2, BUILDING_B, BUILDING_E = f"{GRID_A}001", f"{GRID_A}002", f"{GRID_B}001", f"{GRID_E}001"
TOKEN_SCOPES = ("residents:read", "residents:write", "exports", "cases:read", "audit:read")

# username → role, unit, scope
USERS: dict[str, tuple[Role, str, str | None]] = {
    "secretary": (Role.community_secretary, f"{COMMUNITY}-JWH", COMMUNITY),
    "gw_a": (Role.grid_worker, f"{COMMUNITY}-JWH", GRID_A),
    "gw_b": (Role.grid_worker, f"{COMMUNITY}-JWH", GRID_B),
    "leader": (Role.district_leader, "CENTRE", None),
    "leader2": (Role.district_leader, "CENTRE", None),
    "street": (Role.street_dispatcher, f"{STREET}-CYZX", STREET),
    "secretary_e": (Role.community_secretary, f"{EAST_COMMUNITY}-JWH", EAST_COMMUNITY),
    "auditor": (Role.auditor, "CENTRE", None),
}


@dataclass
class Register:
    """The loaded world: users as actors, their API headers, and the standard residents by name."""

    db: Session
    actors: dict[str, Actor] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def ctx(self, username: str, **extra: object) -> Context:
        return Context(actor=self.actors[username], source="test", **extra)  # type: ignore[arg-type]

    def resident(self, name: str) -> Resident:
        return self.db.scalars(select(Resident).where(Resident.name == name)).one()

    def area(self, code: str) -> Area:
        return self.db.scalars(select(Area).where(Area.code == code)).one()


def buildings() -> dict:
    """Two buildings in grid A, one in grid B and one in the east community's first grid (points inside)."""
    features = []
    for grid, codes in ((GRID_A, (BUILDING_A, BUILDING_A2)), (GRID_B, (BUILDING_B,)), (GRID_E, (BUILDING_E,))):
        x0, y0, x1, y1 = grid_boxes(grid[:12])[grid]
        for n, code in enumerate(codes, start=1):
            x, y = x0 + (x1 - x0) * n / (len(codes) + 1), (y0 + y1) / 2
            geometry = {"type": "Point", "coordinates": list(lnglat(x, y))}
            features.append(feature(code, f"{grid[-3:]}网格{n}号楼院", grid, geometry))
    return collection(*features)


@pytest.fixture(autouse=True)
def fast_hashing() -> Iterator[None]:
    security.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    try:
        yield
    finally:
        security.set_password_hasher(None)


@pytest.fixture
def world_with_buildings(db: Session) -> Register:
    """The synthetic district with buildings and users, and an empty register."""
    locate.invalidate()
    load_world(db)
    area_service.import_geojson(db=db, collection=buildings(), level=AreaLevel.building, source="buildings")
    register = Register(db=db)
    system = Actor(name="test", role=Role.system)
    for username, (role, unit, scope) in USERS.items():
        user = auth_service.create_user(
            db=db,
            data=UserCreate(
                username=username, display_name=f"{username} 测试", role=role, unit=unit, scope=scope, password=PASSWORD
            ),
            actor=system,
        )
        granted = {str(ACTION_TOKEN_SCOPES[action]) for action in PERMISSIONS[role]}
        scopes = [scope for scope in TOKEN_SCOPES if scope in granted]
        _token, text = auth_service.create_token(db=db, user=user, name="tests", scopes=scopes)
        register.actors[username] = auth_service.actor_of(user)
        register.headers[username] = {"Authorization": f"Bearer {text}"}
    db.flush()
    return register


@pytest.fixture
def register(world_with_buildings: Register) -> Register:
    """The world with the standard population: 张三 and 李四 (grid A), 王五 and 王小六 (grid B), 赵七 (east)."""
    db = world_with_buildings.db
    west = workbook(rows_west(BUILDING_A, BUILDING_B))
    imports.import_file(db=db, ctx=world_with_buildings.ctx("secretary"), data=west, filename="west.xlsx")
    east = workbook(rows_east(BUILDING_E))
    imports.import_file(db=db, ctx=world_with_buildings.ctx("secretary_e"), data=east, filename="east.xlsx")
    db.flush()
    return world_with_buildings
