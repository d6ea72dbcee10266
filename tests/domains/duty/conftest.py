"""Fixtures of the duty tests: the case tests' synthetic district with duty staff, shifts, and a frozen clock.

Centres: the district 410105 (区城运中心) and its two streets, 410105001 (W, 经八路街道) and 410105002
(E, 花园路街道). Staff (no passwords): a district leader and three district dispatchers, three street dispatchers
of W and one of E, a grid worker of W and a unit handler — the last two may not be on any roster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from gridgov.core import clock
from gridgov.domains.areas import locate
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor, UserCreate
from gridgov.domains.duty import service
from tests.domains.cases.world import COMMUNITY_W_N, STREET_E, STREET_W, World, load_world

SH = ZoneInfo("Asia/Shanghai")
DISTRICT = "410105"
OPERATOR = Actor(name="test operator", role=Role.system)

STAFF: dict[str, tuple[Role, str, str | None, str]] = {
    "d_leader": (Role.district_leader, "CENTRE", None, "区值班领导"),
    "d_disp1": (Role.district_dispatcher, "CENTRE", None, "区值班员一"),
    "d_disp2": (Role.district_dispatcher, "CENTRE", None, "区值班员二"),
    "d_disp3": (Role.district_dispatcher, "CENTRE", None, "区值班员三"),
    "w_disp1": (Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W, "西街值班长"),
    "w_disp2": (Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W, "西街值班员"),
    "w_disp3": (Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W, "西街值班员三"),
    "e_disp1": (Role.street_dispatcher, f"{STREET_E}-CYZX", STREET_E, "东街值班员"),
    "gw": (Role.grid_worker, f"{COMMUNITY_W_N}-JWH", f"{COMMUNITY_W_N}001", "网格员"),
    "hws": (Role.unit_handler, f"{STREET_W}-HWS", None, "环卫所处置员"),
}


def local(*args: int) -> dt.datetime:
    """Returns a Shanghai wall-clock time (2026, 12, 1, 8, 0) as an aware datetime."""
    return dt.datetime(*args, tzinfo=SH)


@dataclass
class Duty:
    """The world, the three centres, the staff by username (users and actors)."""

    db: Session
    world: World
    district: Area
    west: Area
    east: Area
    users: dict[str, User]

    def actor(self, username: str) -> Actor:
        return auth_service.actor_of(self.users[username])

    def set(self, centre: Area, day: dt.date, shift: str, leader: str | None, *staff: str, note: str | None = None):
        """Sets one roster row through the service (raises its InputError)."""
        entry = service.RosterInput(day=day, shift=shift, leader=leader, staff=list(staff), note=note)
        return service.set_rosters(db=self.db, centre=centre, entries=[entry], actor=OPERATOR)[0]


def add_staff(db: Session) -> dict[str, User]:
    """Creates the duty staff of the synthetic district; returns them by username."""
    users = {}
    for username, (role, unit, scope, name) in STAFF.items():
        users[username] = auth_service.create_user(
            db=db, data=UserCreate(username=username, display_name=name, role=role, unit=unit, scope=scope)
        )
    return users


@pytest.fixture
def duty(db: Session) -> Duty:
    """The synthetic district with staff; W and the district have the three 8-hour shifts, E a 12-hour day and a
    12-hour night shift (20:00-08:00, across midnight)."""
    locate.invalidate()
    world = load_world(db)
    users = add_staff(db)
    district, west, east = (world.area(code) for code in (DISTRICT, STREET_W, STREET_E))
    for centre in (district, west):
        service.ensure_default_shifts(db=db, centre=centre, pattern="three", actor=OPERATOR)
    service.set_shift(db=db, centre=east, code="day", name="白班", span="08:00-20:00", actor=OPERATOR)
    service.set_shift(db=db, centre=east, code="night", name="夜班", span="20:00-08:00", actor=OPERATOR)
    db.flush()
    return Duty(db=db, world=world, district=district, west=west, east=east, users=users)


@pytest.fixture
def frozen() -> Iterator[list[dt.datetime]]:
    """Freezes the clock at 2026-12-01 09:00 Shanghai; tests move it by assigning `frozen[0]`."""
    current = [local(2026, 12, 1, 9, 0)]
    clock.set_clock(lambda: current[0])
    try:
        yield current
    finally:
        clock.set_clock(None)
