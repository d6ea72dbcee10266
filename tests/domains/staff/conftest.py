"""Fixtures of the staff register tests: the synthetic two-street district, one user per role and place (each
with an API token and a password), figures for the areas, and the clock frozen on a Wednesday morning.

Places: street W = 410105001 (communities WN …001 and WS …002, WN's grids G1 …001 and G2 …002), street
E = 410105002 (community EN …001). Residents and households are set on the areas used by the tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import clock
from gridgov.core.permissions import ACTION_TOKEN_SCOPES, PERMISSIONS
from gridgov.domains.areas import locate
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth import terminals
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, Actor, UserCreate
from gridgov.domains.staff import service
from gridgov.domains.staff.enums import Employment, Post
from gridgov.domains.staff.models import Assignment, StaffMember
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import load_world
from tests.web.conftest import PASSWORD, fast_hashing  # noqa: F401 - autouse: quick password hashing

W, E = "410105001", "410105002"
WN, WS, EN = f"{W}001", f"{W}002", f"{E}001"
G1, G2, G3 = f"{WN}001", f"{WN}002", f"{WN}003"
EG1 = f"{EN}001"
TODAY = dt.date(2026, 11, 25)  # T0's date in Shanghai
SCOPES = ["registers:read", "registers:write", "cases:read", "cases:write"]

# username: role, unit, scope area
USERS: dict[str, tuple[Role, str, str | None]] = {
    "leader": (Role.district_leader, "CENTRE", None),
    "district": (Role.district_dispatcher, "CENTRE", None),
    "street_w": (Role.street_dispatcher, f"{W}-CYZX", W),
    "street_w2": (Role.street_dispatcher, f"{W}-CYZX", W),
    "street_e": (Role.street_dispatcher, f"{E}-CYZX", E),
    "sec_wn": (Role.community_secretary, f"{WN}-JWH", WN),
    "sec_en": (Role.community_secretary, f"{EN}-JWH", EN),
    "gw_wn": (Role.grid_worker, f"{WN}-JWH", G1),
    "gw_wn2": (Role.grid_worker, f"{WN}-JWH", G2),
    "gw_en": (Role.grid_worker, f"{EN}-JWH", EG1),
    "admin": (Role.admin, "CENTRE", None),
}
# residents, households of the areas the tests count on
FIGURES = {W: (3500, 1400), WN: (2500, 1000), WS: (1000, 400), G1: (600, 100), G2: (600, 50), E: (5000, 2000)}


@dataclass
class Staff:
    """The loaded world: users by name, their API headers, and helpers to build the register."""

    db: Session
    users: dict[str, User] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def actor(self, name: str) -> Actor:
        return auth_service.actor_of(self.users[name])

    def area(self, code: str) -> Area:
        return self.db.scalars(select(Area).where(Area.code == code)).one()

    def person(self, name: str | None = None, *, user: str | None = None) -> StaffMember:
        """A register member: a new person by name, or the record of a test user."""
        return service.ensure_member(db=self.db, actor=SYSTEM_ACTOR, user=self.users[user] if user else None, name=name)

    def hold(
        self,
        member: StaffMember,
        code: str,
        post: Post,
        employment: Employment = Employment.full_time,
        starts_on: dt.date = dt.date(2025, 1, 1),
    ) -> Assignment:
        """Registers a post as the operator would (no filing)."""
        return service.start_assignment(
            db=self.db,
            actor=SYSTEM_ACTOR,
            member=member,
            area=self.area(code),
            post=post,
            employment=employment,
            starts_on=starts_on,
        )


@pytest.fixture
def now() -> Iterator[list[dt.datetime]]:
    """Freezes the clock at T0 (2026-11-25 09:00 in Shanghai); tests move it by assigning `now[0]`."""
    current = [T0]
    clock.set_clock(lambda: current[0])
    try:
        yield current
    finally:
        clock.set_clock(None)


@pytest.fixture
def staff(db: Session, now: list[dt.datetime]) -> Staff:
    locate.invalidate()
    load_world(db)
    world = Staff(db=db)
    for code, (population, households) in FIGURES.items():
        area = world.area(code)
        area.population, area.households = population, households
    for username, (role, unit, scope) in USERS.items():
        user = auth_service.create_user(
            db=db,
            data=UserCreate(
                username=username,
                display_name=f"{username} 测试",
                role=role,
                unit=unit,
                scope=scope,
                password=PASSWORD,
            ),
            actor=SYSTEM_ACTOR,
        )
        granted = {str(ACTION_TOKEN_SCOPES[a]) for a in PERMISSIONS[role]}
        _token, text = auth_service.create_token(
            db=db, user=user, name="tests", scopes=[s for s in SCOPES if s in granted] or sorted(granted)
        )
        world.users[username] = user
        world.headers[username] = {"Authorization": f"Bearer {text}"}
        if role in terminals.BOUND_ROLES:
            terminals.bind(db=db, actor=SYSTEM_ACTOR, user=user, device_id=f"phone-of-{username}")
            world.headers[username]["X-Device-Id"] = f"phone-of-{username}"
    db.flush()
    return world


@pytest.fixture
def api(client: TestClient, staff: Staff) -> TestClient:
    return client
