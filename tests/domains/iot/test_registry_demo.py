"""The IoT demo on the Jinshui demo district: its config imports, ~600 devices land on grids, twice is once."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from gridgov.demo.catalog import build_catalog
from gridgov.demo.generate import DemoAreas
from gridgov.domains.areas import locate
from gridgov.domains.areas import service as area_service
from gridgov.domains.areas.enums import LEVEL_ORDER, AreaLevel
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.iot import demo, registry
from gridgov.domains.iot.enums import Operator, RuleKind
from gridgov.domains.iot.models import AlarmRule, Device
from tests.demo.conftest import areas  # noqa: F401 - the generated demo tree, drawn once per session


@pytest.fixture
def jinshui(db, areas: DemoAreas):  # noqa: F811
    """The demo district down to its grids, with the demo catalogue, in the test's transaction."""
    locate.invalidate()
    for level in LEVEL_ORDER:
        if level.depth > AreaLevel.grid.depth:
            break
        area_service.import_geojson(db=db, collection=areas.collections[level], level=level, source=level.value)
    catalog_service.import_document(db=db, document=build_catalog(areas), source="demo catalogue")
    return db


def test_load_demo_imports_types_rules_and_devices_once(jinshui):
    db = jinshui
    counts = demo.load_demo(db=db)
    assert counts == {"device_types": 9, "rules": 23, "devices": 600}
    devices = list(db.scalars(select(Device).options(selectinload(Device.type), selectinload(Device.owner_unit))))
    assert len(devices) == 600
    by_type = Counter(d.type.code for d in devices)
    assert by_type["smoke_detector"] == 150 and by_type["manhole_tilt"] == 100 and len(by_type) == 9
    assert all(d.grid_id is not None and d.area_path.count("/") == 5 for d in devices)
    assert len({registry.grid_code(d) for d in devices}) > 300  # spread over the district, not piled up

    for device in devices:
        owner = device.owner_unit
        assert owner is not None
        street, community = device.area_path.split("/")[2:4]
        if device.type.code == "bin_fill":
            assert owner.code == f"{street}-HWS"  # the street's own sanitation team
        elif device.type.code == "smoke_detector":
            assert owner.code == f"{community}-JWH"  # the community's residents' committee
        elif device.type.code == "manhole_tilt":
            assert owner.code == "410105-QY-GS"

    tilt = db.scalars(select(AlarmRule).where(AlarmRule.code == "tilt")).one()
    assert (tilt.kind, tilt.operator, tilt.threshold, tilt.matter_type.code) == (
        RuleKind.threshold,
        Operator.gt,
        15,
        "BJ0101",
    )
    ponding = db.scalars(select(AlarmRule).where(AlarmRule.code == "ponding")).one()
    assert (ponding.kind, ponding.threshold, ponding.duration_s) == (RuleKind.duration, 20, 300)
    sample = next(d for d in devices if d.type.code == "water_level")
    assert {r.code for r in registry.rules_for(db=db, device=sample)} == {"ponding", "ponding_rise", "offline"}

    before = registry.export_ngsi_ld(db=db)
    assert demo.load_demo(db=db) == counts
    assert registry.export_ngsi_ld(db=db) == before  # deterministic and idempotent


def test_devices_are_drawn_the_same_way_every_time(jinshui):
    first = demo.generate_devices(db=jinshui)
    second = demo.generate_devices(db=jinshui)
    assert [(r.device.code, r.device.lng, r.device.lat) for r in first.rows] == [
        (r.device.code, r.device.lng, r.device.lat) for r in second.rows
    ]
    assert first.rows[0].device.code == "YG-0001" and first.rows[-1].device.code == "YC-0020"
