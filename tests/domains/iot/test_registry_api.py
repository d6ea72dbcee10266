"""The device registry over HTTP: area-scoped lists, detail with alarms, NGSI-LD, edits by administrators."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gridgov.domains.auth.enums import Role
from gridgov.domains.iot import files, registry
from gridgov.domains.iot.enums import AlarmState, AlertCategory, DeviceState, Severity
from gridgov.domains.iot.models import Alarm, Device
from gridgov.domains.iot.schemas import DeviceIn
from tests.domains.areas.synthetic import grid_code_at, lnglat
from tests.domains.cases.test_api import (
    DISTRICT_DISPATCHER,
    GRID_WORKER,
    LEADER,
    SANITATION,
    STREET_DISPATCHER,
    STREET_DISPATCHER_E,
    Who,
)
from tests.domains.iot.test_files import config

ADMIN = Who("admin", Role.admin, "CENTRE", None, "管理员")

# code → (type, owner, metre offset): west street x < 500, east street x >= 500.
FLEET = {
    "JG-W1": ("manhole_tilt", "WATER", (120, 880)),  # grid 410105001001001
    "JG-W2": ("manhole_tilt", "WATER", (300, 300)),
    "JS-W1": ("water_level", "410105001-HWS", (400, 600)),
    "JG-E1": ("manhole_tilt", "WATER", (700, 800)),
    "JS-E1": ("water_level", "410105002-HWS", (900, 100)),
}


@pytest.fixture
def devices(api: TestClient, db) -> TestClient:
    """The API on the world with the sample config, five devices (three west, two east) and an admin user."""
    registry.import_config(db=db, document=files.parse_config(config(), source="iot.yaml"), source="iot.yaml")
    for code, (type_code, owner, (x, y)) in FLEET.items():
        lng, lat = lnglat(x, y)
        registry.save_device(db=db, device=DeviceIn(code=code, type=type_code, owner=owner, lng=lng, lat=lat))
    ADMIN.enrol(db, scopes=("admin",))
    return api


def _codes(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["code"] for item in response.json()["items"]]


def test_lists_are_scoped_to_the_callers_area(devices):
    assert _codes(devices.get("/api/v1/iot/devices", headers=DISTRICT_DISPATCHER)) == sorted(FLEET)
    assert _codes(devices.get("/api/v1/iot/devices", headers=LEADER)) == sorted(FLEET)
    assert _codes(devices.get("/api/v1/iot/devices", headers=STREET_DISPATCHER)) == ["JG-W1", "JG-W2", "JS-W1"]
    assert _codes(devices.get("/api/v1/iot/devices", headers=STREET_DISPATCHER_E)) == ["JG-E1", "JS-E1"]
    # The grid worker's scope is its community, the north-west one (y >= 500, x < 500).
    assert _codes(devices.get("/api/v1/iot/devices", headers=GRID_WORKER)) == ["JG-W1", "JS-W1"]
    # The administrator manages devices, so it sees them all (device.manage).
    assert _codes(devices.get("/api/v1/iot/devices", headers=ADMIN)) == sorted(FLEET)

    # Out of area answers like a missing device.
    assert devices.get("/api/v1/iot/devices/JG-E1", headers=STREET_DISPATCHER).status_code == 404
    assert devices.get("/api/v1/iot/devices/JG-E1", headers=STREET_DISPATCHER_E).status_code == 200


def test_a_unit_handler_may_not_see_devices(devices):
    for path in ("/api/v1/iot/devices", "/api/v1/iot/devices/JG-W1", "/api/v1/iot/devices.ngsi-ld",
                 "/api/v1/iot/device-types", "/api/v1/iot/rules"):  # fmt: skip
        response = devices.get(path, headers=SANITATION)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["code"] == "permission_denied"


def test_filters_and_pages(devices):
    url = "/api/v1/iot/devices"
    dispatcher = DISTRICT_DISPATCHER
    assert _codes(devices.get(url, params={"type": "water_level"}, headers=dispatcher)) == ["JS-E1", "JS-W1"]
    assert _codes(devices.get(url, params={"area": "410105002"}, headers=dispatcher)) == ["JG-E1", "JS-E1"]
    assert _codes(devices.get(url, params={"area": "410105001001001"}, headers=dispatcher)) == ["JG-W1"]
    assert _codes(devices.get(url, params={"owner": "410105001-HWS"}, headers=dispatcher)) == ["JS-W1"]
    assert _codes(devices.get(url, params={"q": "e1"}, headers=dispatcher)) == ["JG-E1", "JS-E1"]
    page = devices.get(url, params={"offset": 1, "limit": 2}, headers=dispatcher).json()
    assert (page["total"], [i["code"] for i in page["items"]]) == (5, ["JG-W1", "JG-W2"])
    # An area filter cannot widen the caller's own scope.
    assert _codes(devices.get(url, params={"area": "410105002"}, headers=STREET_DISPATCHER)) == []

    bad = devices.get(url, params={"type": "radar"}, headers=dispatcher)
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_filter_value"
    assert devices.get(url, params={"state": "lost"}, headers=dispatcher).status_code == 422


def test_detail_has_last_values_rules_and_open_alarms(devices, db):
    device = db.scalars(select(Device).where(Device.code == "JG-W1")).one()
    device.last_values = {"tilt": 21.5, "battery": 80}
    device.battery = 0.8
    device.state = DeviceState.alarm
    at = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)
    for state, alarm_type in ((AlarmState.raised, "tilt"), (AlarmState.cleared, "offline")):
        db.add(
            Alarm(device_id=device.id, alarm_type=alarm_type, state=state, severity=Severity.high,
                  category=AlertCategory.traffic, count=3, first_value=16, last_value=21.5, raised_at=at,
                  updated_at=at)
        )  # fmt: skip
    db.flush()

    body = devices.get("/api/v1/iot/devices/JG-W1", headers=GRID_WORKER).json()
    assert body["last_values"] == {"tilt": 21.5, "battery": 80} and body["battery"] == 0.8
    assert body["state"] == "alarm" and body["grid"] == "410105001001001" and body["owner"] == "WATER"
    assert body["properties"] == {"tilt": "°", "battery": "%"}
    assert [r["code"] for r in body["rules"]] == ["offline", "tilt"]
    assert [(a["alarm_type"], a["count"], a["last_value"]) for a in body["open_alarms"]] == [("tilt", 3, 21.5)]


def test_ngsi_ld_export_over_http(devices):
    response = devices.get("/api/v1/iot/devices.ngsi-ld", params={"area": "410105002"}, headers=STREET_DISPATCHER_E)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    assert response.headers["NGSILD-Results-Count"] == "2"
    entities = response.json()
    assert [e["id"] for e in entities] == ["urn:ngsi-ld:Device:JG-E1", "urn:ngsi-ld:Device:JS-E1"]
    assert entities[0]["location"]["type"] == "GeoProperty" and entities[0]["controlledProperty"]["value"]

    same = devices.get("/api/v1/iot/devices", params={"format": "ngsi-ld"}, headers=STREET_DISPATCHER_E)
    assert same.json() == entities


def test_types_and_rules_are_listed(devices):
    types = devices.get("/api/v1/iot/device-types", headers=GRID_WORKER).json()
    assert [(t["code"], t["properties"]) for t in types] == [
        ("manhole_tilt", {"tilt": "°", "battery": "%"}),
        ("water_level", {"waterLevel": "cm"}),
    ]
    rules = devices.get("/api/v1/iot/rules", params={"device_type": "water_level"}, headers=ADMIN).json()
    assert [(r["code"], r["kind"], r["device_type"], r["matter_type"]) for r in rules] == [
        ("ponding", "duration", "water_level", "SJ0102"),
        ("rise", "rate", "water_level", None),
    ]


def test_an_administrator_creates_updates_and_retires_devices(devices, db):
    lng, lat = lnglat(650, 650)
    body = {"code": "JG-N1", "type": "manhole_tilt", "owner": "WATER", "lng": lng, "lat": lat}
    created = devices.post("/api/v1/iot/devices", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.json()["grid"] == grid_code_at(650, 650)
    updated = devices.post("/api/v1/iot/devices", json={**body, "name": "花园路井盖"}, headers=ADMIN)
    assert updated.status_code == 200 and updated.json()["name"] == "花园路井盖"

    outside = devices.post("/api/v1/iot/devices", json={**body, "lng": lnglat(3000, 0)[0]}, headers=ADMIN)
    assert outside.status_code == 422
    assert outside.json()["issues"][0]["field"] == "lng"
    assert "outside the district" in outside.json()["issues"][0]["message"]

    state = devices.post(
        "/api/v1/iot/devices/JG-N1/state", json={"state": "maintenance", "note": "更换"}, headers=ADMIN
    )
    assert state.status_code == 200 and state.json()["state"] == "maintenance"
    refused = devices.post("/api/v1/iot/devices/JG-N1/state", json={"state": "alarm"}, headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["code"] == "state_not_settable"
    assert devices.post("/api/v1/iot/devices/NOPE/state", json={"state": "normal"}, headers=ADMIN).status_code == 404

    # Dispatchers see devices but do not edit them.
    for who in (DISTRICT_DISPATCHER, GRID_WORKER, SANITATION):
        assert devices.post("/api/v1/iot/devices", json=body, headers=who).status_code == 403
        assert devices.post("/api/v1/iot/devices/JG-N1/state", json={"state": "normal"}, headers=who).status_code == 403


def test_anonymous_callers_are_refused(devices):
    for method, path in (("GET", "/api/v1/iot/devices"), ("GET", "/api/v1/iot/devices/JG-W1"),
                         ("GET", "/api/v1/iot/devices.ngsi-ld"), ("GET", "/api/v1/iot/rules"),
                         ("POST", "/api/v1/iot/devices"), ("POST", "/api/v1/iot/devices/JG-W1/state")):  # fmt: skip
        assert devices.request(method, path, json={}).status_code == 401
