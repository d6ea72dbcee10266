"""Demo users: one login per role on the Jinshui demo district, with a fixed, published password.

They sit in 人民路街道 (410105003) and its 锦湖社区 (410105003005), so the street dispatcher, community
secretary and grid worker see nested parts of the same street, and the unit handler works for that street's
环卫所. Never use these accounts on real data: their password is printed by `gridgov demo users` and written in
the demo README.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor, UserCreate

DEMO_PASSWORD = "jinshui-demo-2026"
DEMO_ACTOR = Actor(name="gridgov demo", role=Role.system)
STREET, COMMUNITY, GRID = "410105003", "410105003005", "410105003005001"


@dataclass(frozen=True, slots=True)
class DemoUser:
    """One demo login: who it is, and where it works."""

    username: str
    display_name: str
    role: Role
    unit: str | None
    scope: str | None


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("leader", "区领导（演示）", Role.district_leader, "410105-CYZX", None),
    DemoUser("dispatcher", "区城运中心值班长（演示）", Role.district_dispatcher, "410105-CYZX", None),
    DemoUser("street", "人民路街道派遣员（演示）", Role.street_dispatcher, f"{STREET}-CYZX", STREET),
    DemoUser("secretary", "锦湖社区书记（演示）", Role.community_secretary, f"{COMMUNITY}-JWH", COMMUNITY),
    DemoUser("gridworker", "锦湖社区第1网格网格员（演示）", Role.grid_worker, f"{COMMUNITY}-JWH", GRID),
    DemoUser("handler", "人民路街道环卫所处置员（演示）", Role.unit_handler, f"{STREET}-HWS", STREET),
    DemoUser("auditor", "审计员（演示）", Role.auditor, "410105-CYZX", None),
    DemoUser("admin", "系统管理员（演示）", Role.admin, "410105-CYZX", None),
    DemoUser("citizen", "市民（演示）", Role.citizen, None, None),
)


def create_demo_users(*, db: Session) -> list[tuple[DemoUser, bool]]:
    """Creates the demo users that do not exist yet; returns each with True when it was created now."""
    existing = set(db.scalars(select(User.username).where(User.username.in_([u.username for u in DEMO_USERS]))))
    result = []
    for demo in DEMO_USERS:
        if demo.username in existing:
            result.append((demo, False))
            continue
        auth_service.create_user(
            db=db,
            data=UserCreate(
                username=demo.username,
                display_name=demo.display_name,
                role=demo.role,
                unit=demo.unit,
                scope=demo.scope,
                password=DEMO_PASSWORD,
            ),
            actor=DEMO_ACTOR,
            source_address="cli",
        )
        result.append((demo, True))
    return result
