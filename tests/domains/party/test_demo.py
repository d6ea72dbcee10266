"""The party demo on the Jinshui demo district: 人民路街道's tree, ~200 members, 双报到, activities; twice is once."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from gridgov.config import get_settings
from gridgov.demo.generate import DemoAreas
from gridgov.domains.areas import locate
from gridgov.domains.areas import service as area_service
from gridgov.domains.areas.enums import LEVEL_ORDER, AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.party import demo, dual, service
from gridgov.domains.party.enums import OrgLevel, RegistrantKind
from gridgov.domains.party.models import (
    HouseholdLink,
    PartnerOrg,
    PartyMember,
    PartyOrg,
    Pledge,
    Registration,
    ServiceRecord,
)
from gridgov.domains.people.models import Household
from tests.demo.conftest import areas  # noqa: F401 - the generated demo tree, drawn once per session

HOUSEHOLDS_PER_BUILDING = 10


@pytest.fixture
def jinshui(db: Session, areas: DemoAreas) -> Session:  # noqa: F811
    """The demo district down to its grids, 人民路街道's buildings, and households in 锦湖社区's buildings."""
    locate.invalidate()
    for level in LEVEL_ORDER:
        collection = areas.collections[level]
        if level == AreaLevel.building:
            features = [f for f in collection["features"] if f["properties"]["code"].startswith(demo.STREET)]
            collection = {"type": "FeatureCollection", "features": features}
        area_service.import_geojson(db=db, collection=collection, level=level, source=level.value)
    focus = db.scalars(select(Area).where(Area.code == demo.FOCUS_COMMUNITY)).one()
    buildings = db.scalars(
        select(Area).where(Area.level == AreaLevel.building, Area.path.startswith(focus.path)).order_by(Area.code)
    ).all()
    db.add_all(
        Household(building_id=b.id, area_path=b.path, room=f"{n + 1}01")
        for b in buildings
        for n in range(HOUSEHOLDS_PER_BUILDING)
    )
    db.flush()
    return db


def test_the_demo_builds_the_streets_party_work_once(jinshui: Session):
    db = jinshui
    started = time.perf_counter()
    counts = demo.load_demo(db=db)
    took = time.perf_counter() - started
    assert took < 10, f"the party demo took {took:.1f} s"
    assert counts["party_members"] == demo.TREE_MEMBERS + demo.PARTNER_MEMBERS == 200

    orgs = db.scalars(select(PartyOrg).options(selectinload(PartyOrg.areas))).all()
    levels = Counter(o.level for o in orgs)
    communities = db.scalars(
        select(Area.code).where(Area.level == AreaLevel.community, Area.code.like(f"{demo.STREET}%"))
    ).all()
    assert levels[OrgLevel.street] == 1
    assert {a.code for o in orgs if o.level == OrgLevel.community for a in o.areas} == set(communities)
    # Every grid of the street has exactly one branch; some branches cover two grids.
    grids = db.scalars(select(Area.code).where(Area.level == AreaLevel.grid, Area.code.like(f"{demo.STREET}%"))).all()
    covered = [a.code for o in orgs if o.level == OrgLevel.grid for a in o.areas]
    assert sorted(covered) == sorted(grids)
    assert any(len(o.areas) == 2 for o in orgs if o.level == OrgLevel.grid)
    # 锦湖社区: two building groups per grid, each with a 党员中心户 looking after 5-8 households of its building.
    households = [o for o in orgs if o.level == OrgLevel.household]
    assert households and all(
        o.area_path.startswith(f"/410105/{demo.STREET}/{demo.FOCUS_COMMUNITY}/") for o in households
    )
    links = Counter(db.scalars(select(HouseholdLink.org_id)).all())
    assert all(5 <= links[o.id] <= 8 for o in households) and all(o.household_id for o in households)
    heads = db.scalars(select(PartyMember).where(PartyMember.household_org_id.is_not(None))).all()
    assert len(heads) == len(households)
    assert counts == {
        "party_orgs": len(orgs),
        "party_members": 200,
        "registrations": db.scalar(select(func.count()).select_from(Registration)),
        "activities": 4 * len(communities),
        "service_records": db.scalar(select(func.count()).select_from(ServiceRecord)),
        "household_links": sum(links.values()),
    }

    kinds = Counter(db.scalars(select(Registration.kind)).all())
    assert kinds[RegistrantKind.organisation] >= 10 and kinds[RegistrantKind.member] >= demo.PARTNER_MEMBERS
    assert db.scalar(select(func.count()).select_from(Pledge)) >= kinds[RegistrantKind.organisation] * 2
    assert "（演示）" in db.scalar(select(func.min(PartnerOrg.name)))

    tz = get_settings().tz
    today = service.today()
    period = Period.parse(f"{today - dt.timedelta(days=60)}..{today}", tz)
    totals = dual.summarize(db=db, actor=service.OPERATOR, period=period)
    assert sum(c.activities for c in totals.communities) == 3 * len(communities)
    assert sum(c.hours for c in totals.communities) > 100
    rates = [c.reporting_rate for c in totals.communities if c.reporting_rate is not None]
    assert rates and all(0 < r <= 1 for r in rates)

    before = db.scalar(select(func.count()).select_from(ServiceRecord))
    assert demo.load_demo(db=db) == counts
    assert db.scalar(select(func.count()).select_from(ServiceRecord)) == before


def test_the_demo_writes_nothing_without_the_demo_street(db: Session):
    assert demo.load_demo(db=db) == dict.fromkeys(demo.COUNTED, 0)
