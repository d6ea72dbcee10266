"""Fixtures of the hotline tests: the synthetic case world plus a 12345 crosswalk, token users, a frozen clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gridgov.core import clock
from gridgov.domains.areas import locate
from gridgov.domains.auth.enums import Role
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.catalog.schemas import CatalogDocument
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import (
    COMMUNITY_W_N,
    STREET_E,
    STREET_W,
    World,
    add_token_user,
    bearer,
    load_world,
    point,
)

# The hotline's categories in the synthetic world (illustrative codes, as a district's 12345 platform has them).
CROSSWALK = [
    {"external_code": "020101", "external_name": "环境卫生/垃圾清运", "matter_type": "SJ0102"},
    {"external_code": "010101", "external_name": "市容环境/占道经营", "matter_type": "SJ0501"},
    {"external_code": "030101", "external_name": "市政设施/井盖", "matter_type": "BJ0101"},
    {"external_code": "130101", "external_name": "矛盾纠纷/邻里纠纷", "matter_type": "ZZ0101"},
]


def load_hotline_world(db: Session) -> World:
    """Loads the case world and the 12345 crosswalk into `db`."""
    world = load_world(db)
    catalog_service.import_document(
        db=db, document=CatalogDocument.model_validate({"crosswalks": CROSSWALK}), source="crosswalk.yaml"
    )
    db.flush()
    return world


@pytest.fixture
def world(db: Session) -> World:
    locate.invalidate()
    return load_hotline_world(db)


@pytest.fixture
def now() -> Iterator[list[dt.datetime]]:
    """Freezes the clock at T0 (a Wednesday, 09:00 in Shanghai); tests move it by assigning `now[0]`."""
    current = [T0]
    clock.set_clock(lambda: current[0])
    try:
        yield current
    finally:
        clock.set_clock(None)


class Tokens:
    """Authorization headers of the test users, by role."""

    def __init__(self, db: Session) -> None:
        def make(username: str, role: Role, unit: str | None, scope: str | None) -> dict[str, str]:
            return bearer(add_token_user(db, username, role, unit, scope)[1])

        self.hotline = make("hotline-12345", Role.system, None, None)
        self.district = make("district", Role.district_dispatcher, "CENTRE", None)
        self.street_w = make("street_w", Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W)
        self.street_e = make("street_e", Role.street_dispatcher, f"{STREET_E}-CYZX", STREET_E)
        self.grid_worker = make("gw1", Role.grid_worker, f"{COMMUNITY_W_N}-JWH", COMMUNITY_W_N)


@pytest.fixture
def tokens(db: Session, world: World) -> Tokens:
    return Tokens(db)


@pytest.fixture
def api(client: TestClient, world: World, tokens: Tokens, now: list[dt.datetime]) -> TestClient:
    return client


def order(order_id: str = "GD20261125000001", **fields: Any) -> dict[str, Any]:
    """A hotline work order as the platform pushes it (default: rubbish in grid 410105001001001, with coordinates)."""
    lng, lat = point()
    body: dict[str, Any] = {
        "order_id": order_id,
        "category": "020101",
        "title": "小区门口垃圾没人清运",
        "content": "经八路小区北门口垃圾堆了三天没人清运，气味很大。",
        "caller_name": "张先生",
        "caller_phone": "13800001234",
        "address": "经八路12号北门",
        "lng": lng,
        "lat": lat,
        "received_at": "2026-11-25 08:55:00",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}
