"""The duty demo on the Jinshui demo district: rosters of the district centre and 人民路街道 for the month, with
handovers of the past shifts; loaded through the real services, quickly, and only once."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from gridgov.demo.catalog import build_catalog
from gridgov.demo.generate import DemoAreas
from gridgov.demo.users import create_demo_users
from gridgov.domains.areas import locate
from gridgov.domains.areas import service as area_service
from gridgov.domains.areas.enums import LEVEL_ORDER, AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.duty import demo, service
from gridgov.domains.duty.models import DutyContact, DutyHandover
from tests.demo.conftest import areas  # noqa: F401 - the generated demo tree, drawn once per session
from tests.domains.duty.conftest import local


@pytest.fixture
def jinshui(db, areas: DemoAreas):  # noqa: F811
    """The demo district down to its grids, its catalogue and the demo logins, in the test's transaction."""
    locate.invalidate()
    for level in LEVEL_ORDER:
        if level.depth > AreaLevel.grid.depth:
            break
        area_service.import_geojson(db=db, collection=areas.collections[level], level=level, source=level.value)
    catalog_service.import_document(db=db, document=build_catalog(areas), source="demo catalogue")
    create_demo_users(db=db)
    return db


def test_the_demo_rosters_two_centres_for_the_month_once(jinshui):
    db = jinshui
    now = local(2026, 12, 10, 9, 30)
    started = time.perf_counter()
    counts = demo.load_demo(db=db, now=now)
    elapsed = time.perf_counter() - started
    assert counts == {
        "duty_staff": 13,
        "duty_contacts": 16,
        "duty_shifts": 4,
        "duty_roster_rows": 31 * 3 + 31,
        "duty_handovers": 12,
    }
    assert elapsed < 10
    district, street = (db.scalars(select(Area).where(Area.code == code)).one() for code in ("410105", "410105003"))
    groups = {g.centre.code: g for g in service.on_duty(db=db, centres=[district, street], at=now)}
    assert [p.name for p in groups["410105"].leaders] in (["区领导（演示）"], ["区值班领导乙（演示）"])
    assert len(groups["410105"].people) == 3 and len(groups["410105003"].people) == 2
    everyone = {p.username for g in groups.values() for p in g.people}
    assert everyone <= set(demo.GENERATED) | {"leader", "dispatcher", "street"}
    month = service.coverage_gaps(db=db, centre=street, start=local(2026, 12, 1, 8), end=local(2027, 1, 1, 8))
    assert month == []
    handovers = db.scalars(select(DutyHandover).order_by(DutyHandover.written_at)).all()
    assert all(h.written_at <= now for h in handovers)
    assert sum(h.acknowledged_at is not None for h in handovers) >= 10
    assert all(c.email.endswith("@duty.example") for c in db.scalars(select(DutyContact)))

    assert demo.load_demo(db=db, now=now) == dict.fromkeys(counts, 0)
    assert db.scalar(select(func.count(DutyHandover.id))) == 12
