"""A small world for auth tests: the synthetic two-street district with the case tests' catalogue, a few cases
and one user per role.

Streets: W = 410105001 (communities 001 north, 002 south), E = 410105002. Cases (inserted directly):
- W1: grid 410105001001001 (W, north), handled by W's 环卫所, reported by the grid worker;
- W2: grid 410105001002003 (W, south), not dispatched, E's 环卫所 co-handles, reported by the citizen;
- E1: grid 410105002001001 (E), handled by E's 环卫所, W's 环卫所 co-handles;
- E2: grid 410105002002004 (E), reported by the citizen, co-unit list holding an id that *contains* W's
  环卫所 id as digits (it must not match it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import clock
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor, UserCreate
from gridgov.domains.cases.enums import CaseStage, Channel
from gridgov.domains.cases.models import Case
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.catalog.enums import Urgency
from gridgov.domains.catalog.models import MatterType, Unit
from tests.domains.areas.synthetic import load_tree
from tests.domains.cases.world import catalogue

W, E = "410105001", "410105002"
PASSWORD = "correct-horse-1"
# name: role, unit code, scope area code
USERS: dict[str, tuple[Role, str | None, str | None]] = {
    "leader": (Role.district_leader, "CENTRE", None),
    "dispatcher": (Role.district_dispatcher, "CENTRE", None),
    "street": (Role.street_dispatcher, f"{W}-CYZX", W),
    "secretary": (Role.community_secretary, f"{W}001-JWH", f"{W}001"),
    "gridworker": (Role.grid_worker, f"{W}001-JWH", f"{W}001001"),
    "handler": (Role.unit_handler, f"{W}-HWS", W),
    "handler_e": (Role.unit_handler, f"{E}-HWS", E),
    "auditor": (Role.auditor, "CENTRE", None),
    "admin": (Role.admin, "CENTRE", None),
    "citizen": (Role.citizen, None, None),
}


@dataclass
class AuthWorld:
    """Handles on the loaded world."""

    db: Session
    users: dict[str, User] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)

    def unit(self, code: str) -> Unit:
        return self.db.scalars(select(Unit).where(Unit.code == code)).one()

    def area(self, code: str) -> Area:
        return self.db.scalars(select(Area).where(Area.code == code)).one()

    def actor(self, name: str) -> Actor:
        return auth_service.actor_of(self.users[name])

    def add_case(
        self,
        key: str,
        grid: str,
        *,
        handling: str | None = None,
        co_units: list[int] | None = None,
        reporter: str | None = None,
    ) -> Case:
        area = self.area(grid)
        now = clock.now()
        case = Case(
            number=f"T-{len(self.cases) + 1:04d}",
            channel=Channel.patrol,
            matter_type_id=self.db.scalar(select(MatterType.id).where(MatterType.code == "SJ0102")),
            urgency=Urgency.normal,
            title=f"case {key}",
            lng=113.7,
            lat=34.78,
            grid_id=area.id,
            area_path=area.path,
            reporter_user_id=self.users[reporter].id if reporter else None,
            stage=CaseStage.registered if handling is None else CaseStage.dispatched,
            handling_unit_id=self.unit(handling).id if handling else None,
            co_unit_ids=co_units or [],
            reported_at=now,
            updated_at=now,
        )
        self.db.add(case)
        self.db.flush()
        self.cases[key] = case
        return case


def load_world(db: Session, *, with_cases: bool = True) -> AuthWorld:
    """Loads the synthetic areas, the catalogue, one user per role and (by default) the four cases."""
    load_tree(db)
    catalog_service.import_document(db=db, document=catalogue(), source="auth-world.yaml")
    db.flush()
    world = AuthWorld(db=db)
    for name, (role, unit, scope) in USERS.items():
        world.users[name] = auth_service.create_user(
            db=db,
            data=UserCreate(
                username=name, display_name=f"{name} 用户", role=role, unit=unit, scope=scope, password=PASSWORD
            ),
        )
    if with_cases:
        w_hws, e_hws = world.unit(f"{W}-HWS").id, world.unit(f"{E}-HWS").id
        world.add_case("W1", f"{W}001001", handling=f"{W}-HWS", reporter="gridworker")
        world.add_case("W2", f"{W}002003", co_units=[e_hws], reporter="citizen")
        world.add_case("E1", f"{E}001001", handling=f"{E}-HWS", co_units=[w_hws])
        world.add_case("E2", f"{E}002004", co_units=[int(f"{w_hws}{w_hws}"), 10_000 + w_hws], reporter="citizen")
    db.flush()
    return world


def at(hours: float) -> dt.timedelta:
    return dt.timedelta(hours=hours)
