"""Hand-built cases for the campaign and dashboard tests, driven through the real services at chosen times.

Places (on the synthetic district, tests/domains/areas/synthetic.py): WEST is in grid 410105001001001 (street
410105001, 经八路街道), EAST in community 410105002001 (street 410105002, 花园路街道). A patrol report of SJ0102
(暴露垃圾) is registered and dispatched at once to the street's sanitation team, with a handling deadline of
4 working hours (08:30–12:00, 14:00–17:30): reported on a working day at 09:00 it is due at 15:00.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, Actor, UserCreate
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Channel
from gridgov.domains.cases.models import Case, MediaFile
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.schemas import CaseSubmit
from tests.domains.cases.world import STREET_E, STREET_W, World, point

SH = ZoneInfo("Asia/Shanghai")
WEST = (120.0, 880.0)
EAST = (620.0, 880.0)


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    """Returns a time of 2026 in Shanghai (November unless told)."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SH)


def photo(db: Session) -> str:
    """Returns the sha256 of a stored evidence photo (registered once)."""
    sha = "e" * 64
    if db.get(MediaFile, sha) is None:
        db.add(MediaFile(sha256=sha, content_type="image/jpeg", size=10, created_at=local(1, 0)))
        db.flush()
    return sha


def handler(world: World, street: str) -> Actor:
    """Returns a handler of the street's sanitation team."""
    user_id = 501 if street == STREET_W else 502
    return world.actor(Role.unit_handler, f"{street}-HWS", user_id=user_id, name=f"{street}环卫所处置员")


def report(
    db: Session,
    world: World,
    *,
    at: dt.datetime,
    where: tuple[float, float] = WEST,
    matter: str = "SJ0102",
    channel: Channel = Channel.patrol,
    title: str = "路边暴露垃圾",
) -> Case:
    """Reports a case at `at` (a grid worker's patrol, or a citizen's snapshot) and returns it."""
    actor = world.grid_worker if channel == Channel.patrol else world.citizen
    lng, lat = point(*where)
    submitted = CaseSubmit(channel=channel, matter_type=matter, title=title, description=title, lng=lng, lat=lat)
    case = intake_service.submit(db=db, report=submitted, ctx=Context.of(actor, now=at)).case
    db.flush()
    return case


def close(db: Session, world: World, case: Case, *, finished: dt.datetime, verified: dt.datetime) -> Case:
    """Signs, finishes (with a photo) and verifies a dispatched case at the given times."""
    street = STREET_W if case.street_id == world.area(STREET_W).id else STREET_E
    unit_handler = handler(world, street)
    case_service.sign(db=db, case=case, ctx=Context.of(unit_handler, now=finished - dt.timedelta(minutes=5)))
    case_service.finish(
        db=db, case=case, ctx=Context.of(unit_handler, now=finished), result="已清理", evidence=[photo(db)]
    )
    case_service.verify(db=db, case=case, ctx=Context.of(world.grid_worker, now=verified), ok=True)
    db.flush()
    return case


def user(db: Session, world: World, username: str, role: Role, unit: str, scope: str | None) -> Actor:
    """Creates a real user (campaigns and tags name their author by a foreign key) and returns them as an Actor."""
    created = auth_service.create_user(
        db=db,
        data=UserCreate(username=username, display_name=username, role=role, unit=unit, scope=scope),
        actor=SYSTEM_ACTOR,
    )
    db.flush()
    return auth_service.actor_of(created)


def manager(db: Session, world: World) -> Actor:
    """Returns the district dispatcher (区值班长), who manages campaigns, as a real user."""
    return user(db, world, "centre", Role.district_dispatcher, "CENTRE", None)


@pytest.fixture
def sql_counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Counts with the SQL engine everywhere (API and pages too): the test's data is never committed, and the
    DuckDB engine reads committed data only."""
    monkeypatch.setenv("GRIDGOV_EVALUATION_ENGINE", "sql")
    get_settings.cache_clear()
    try:
        yield
    finally:
        monkeypatch.delenv("GRIDGOV_EVALUATION_ENGINE")
        get_settings.cache_clear()
