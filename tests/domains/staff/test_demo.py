"""The staff part of the demo on 人民路街道 of the generated Jinshui district (only that street is imported, to
stay quick): the grid force, under-staffed communities, filings in every state, visits; loading twice is a no-op."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from gridgov.demo.catalog import build_catalog
from gridgov.demo.generate import DemoAreas, generate_areas
from gridgov.demo.users import create_demo_users
from gridgov.domains.areas import locate
from gridgov.domains.areas import service as area_service
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.catalog.schemas import CatalogDocument
from gridgov.domains.intake.models import HouseholdVisit
from gridgov.domains.staff import demo, staffing
from gridgov.domains.staff.enums import FilingStatus
from gridgov.domains.staff.models import Filing

LEVELS = (AreaLevel.district, AreaLevel.street, AreaLevel.community, AreaLevel.grid)


@pytest.fixture(scope="module")
def areas() -> DemoAreas:
    return generate_areas()


def test_the_demo_staffs_renminlu_street_with_some_communities_under_the_standard(db, areas: DemoAreas, now):
    locate.invalidate()
    codes: set[str] = set()
    for level in LEVELS:
        features = [
            f
            for f in areas.collections[level]["features"]
            if level == AreaLevel.district or f["properties"]["code"].startswith(demo.STREET)
        ]
        codes |= {f["properties"]["code"] for f in features}
        collection = {"type": "FeatureCollection", "features": features}
        area_service.import_geojson(db=db, collection=collection, level=level, source=f"demo {level}")
    units = [u for u in build_catalog(areas).units if u.area is None or u.area in codes]
    kept = {u.code for u in units}
    units = [u for u in units if u.parent is None or u.parent in kept]
    catalog_service.import_document(db=db, document=CatalogDocument(units=units), source="demo units")
    create_demo_users(db=db)

    started = time.perf_counter()
    loaded = demo.load_demo(db=db)
    took = time.perf_counter() - started
    assert took < 10, took
    assert loaded["staff members"] > 150 and loaded["staff assignments"] > 250
    assert loaded["household visits"] == demo.VISITS == db.scalar(select(func.count()).select_from(HouseholdVisit))

    street = db.scalars(select(Area).where(Area.code == demo.STREET)).one()
    report = staffing.report(db=db, level="community", scope_path=street.path)
    assert len(report.rows) >= 8 and 2 <= len(report.below) < len(report.rows)
    home = next(r for r in report.rows if r.area.code == demo.HOME)
    assert home.below_standard  # the demo secretary's community lacks a grid worker: an onboarding is pending
    statuses = set(db.scalars(select(Filing.status)))
    assert statuses == {
        FilingStatus.applied,
        FilingStatus.approved,
        FilingStatus.requested,
        FilingStatus.refused,
        FilingStatus.withdrawn,
    }
    assert demo.load_demo(db=db) == dict.fromkeys(loaded, 0)  # a second load writes nothing
