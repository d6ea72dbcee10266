"""The demo population: every building of 锦湖社区 filled, a sample elsewhere in 人民路街道, clearly synthetic yet
valid identity numbers, tags of every sensitivity, written in well under 10 s."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from gridgov.domains.areas import locate
from gridgov.domains.areas import service as area_service
from gridgov.domains.areas.enums import LEVEL_ORDER, AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.people import demo, privacy
from gridgov.domains.people.checks import parse_identity_number
from gridgov.domains.people.enums import Relation, Sensitivity
from gridgov.domains.people.models import Household, Resident, ResidentEvent, ResidentTag, Tag
from tests.demo.conftest import areas  # noqa: F401 - the generated demo tree, drawn once per session


@pytest.fixture
def street(db, areas):  # noqa: F811
    """The demo district's 人民路街道 down to its buildings (the rest of the district is not needed)."""
    locate.invalidate()
    for level in LEVEL_ORDER:
        wanted = [
            f
            for f in areas.collections[level]["features"]
            if level == AreaLevel.district or f["properties"]["code"].startswith(demo.STREET)
        ]
        collection = {"type": "FeatureCollection", "features": wanted}
        area_service.import_geojson(db=db, collection=collection, level=level, source=level.value)
    return db


def test_the_demo_population_fills_jinhu_and_samples_the_rest_of_the_street(street):
    db = street
    started = time.perf_counter()
    counts = demo.load_demo(db=db)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, elapsed
    buildings = list(db.scalars(select(Area).where(Area.level == AreaLevel.building)))
    jinhu = [b for b in buildings if b.code.startswith(demo.COMMUNITY)]
    expected = sum(b.households for b in jinhu) + (len(buildings) - len(jinhu))
    assert counts["households"] == expected == db.scalar(select(func.count()).select_from(Household))
    per_building = Counter(db.scalars(select(Household.building_id)))
    assert all(per_building[b.id] == b.households for b in jinhu)  # every building of 锦湖, fully
    assert all(per_building[b.id] == 1 for b in buildings if b not in jinhu)
    residents = list(db.scalars(select(Resident)))
    assert counts["residents"] == len(residents) > 2 * counts["households"]
    heads = Counter(r.household_id for r in residents if r.relation == Relation.head)
    assert set(heads.values()) == {1} and len(heads) == counts["households"]
    assert max(r.birth_date for r in residents) <= dt.date.today()
    ring = privacy.keyring()
    numbers = [privacy.reveal(r, privacy.ID_NUMBER, ring) for r in residents[::37]]
    for number, resident in zip(numbers, residents[::37], strict=True):
        parsed = parse_identity_number(number)  # a VALID check digit ...
        assert parsed.region == "410105" and number[14:16] == "99"  # ... in the synthetic 99x sequence range
        assert parsed.birth_date == resident.birth_date and parsed.gender == resident.gender
        assert resident.name[1] in demo.COUNTERS and resident.name[2] in demo.NUMBERS  # 王丙七: clearly fake
    phones = [privacy.reveal(r, privacy.PHONE, ring) for r in residents[::41]]
    assert all(p is None or p.startswith("199") for p in phones) and any(phones)
    assert len({r.id_number_index for r in residents}) == len(residents)
    levels = Counter(db.scalars(select(Tag.sensitivity).join(ResidentTag, ResidentTag.tag_id == Tag.id)))
    assert set(levels) == set(Sensitivity) and counts["tagged_residents"] > 100
    assert db.scalar(select(func.count()).select_from(ResidentEvent)) >= counts["residents"] + counts["households"]
    assert demo.load_demo(db=db) == {"households": 0, "residents": 0, "tagged_residents": 0}  # once only
