"""Telemetry ingest: payload shapes, each reading judged alone (bad ones rejected with a reason and counted, good
ones kept), duplicates stored once, the latest-value cache never overwritten by an older reading, the HTTP
endpoint with its permissions, the counters, the alarm list, and pruning.
"""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gridgov import migrations
from gridgov.core.db import create_db_engine, transaction
from gridgov.core.errors import InputError
from gridgov.domains.auth.enums import Role
from gridgov.domains.iot import jobs, telemetry
from gridgov.domains.iot.enums import DeviceState
from gridgov.domains.iot.models import Device, Reading
from gridgov.domains.iot.telemetry import ingest, parse_time, readings_of
from tests.domains.cases.conftest import T0
from tests.domains.cases.test_api import DISTRICT_DISPATCHER, GRID_WORKER, Who
from tests.domains.cases.world import World, point
from tests.domains.iot.sensors import make_device, make_type, reading, reading_count, tilt_rule

MIN = dt.timedelta(minutes=1)
GATEWAY = Who("gateway", Role.system, None, None, "物联网关")


@pytest.fixture
def sensors(world: World) -> tuple[Device, Device]:
    db = world.db
    device_type = make_type(db)
    tilt_rule(db, device_type)
    return make_device(db, device_type), make_device(db, device_type, "MC-0002", state=DeviceState.retired)


def send(db: Session, payload: object, at: dt.datetime = T0, **kwargs: object) -> telemetry.IngestResult:
    return ingest(db=db, messages=payload, now=at, source="test", **kwargs)


# --- payloads -----------------------------------------------------------------------------------------------------


def test_the_three_payload_shapes_and_unusable_payloads() -> None:
    one = {"device": "A", "ts": 1, "values": {"x": 1}}
    assert readings_of(one) == [one]
    assert readings_of([one, one]) == [one, one]
    assert readings_of({"readings": [one]}) == [one]
    assert readings_of({"ts": 1, "values": {"x": 1}}, device="A") == [{"ts": 1, "values": {"x": 1}, "device": "A"}]
    [refused] = readings_of({"device": "B", "values": {}}, device="A")
    assert isinstance(refused, telemetry.Refused) and refused.reason == "malformed"
    for bad in ("text", 42, None, [], {"readings": "no"}, {"readings": []}):
        with pytest.raises(telemetry.PayloadError):
            readings_of(bad)


def test_timestamps_iso_with_offset_or_epoch_milliseconds() -> None:
    expected = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)
    assert parse_time("2026-11-25T09:00:00+08:00") == expected
    assert parse_time("2026-11-25T01:00:00Z") == expected
    assert parse_time(1795568400000) == expected
    assert parse_time("1795568400000") == expected
    assert parse_time(1795568400123).microsecond == 123000
    for bad, message in [
        ("2026-11-25T09:00:00", "no UTC offset"),
        (1795568400, "send milliseconds"),
        ("yesterday", "not ISO-8601"),
        (True, "neither"),
        (float("nan"), "before 2000"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_time(bad)


# --- the service --------------------------------------------------------------------------------------------------


def test_a_mixed_batch_keeps_the_good_readings_and_rejects_each_bad_one_with_its_reason(world: World, sensors) -> None:
    db = world.db
    device, _retired = sensors
    telemetry.STATS.reset()
    batch = [
        reading("MC-0001", T0 - 2 * MIN, tilt=1.5, battery=0.8),  # good
        reading("GHOST-1", T0, tilt=1.0),  # unknown device
        reading("MC-0002", T0, tilt=1.0),  # retired
        "not an object",  # malformed
        {"ts": T0.isoformat(), "values": {"tilt": 1}},  # no device
        reading("MC-0001", None, tilt=2.0),  # no timestamp
        reading("MC-0001", "2026-11-25 09:00", tilt=2.0),  # no offset
        reading("MC-0001", T0 + dt.timedelta(hours=1), tilt=2.0),  # future
        reading("MC-0001", T0, tilt="high"),  # non-numeric
        reading("MC-0001", T0, tilt=float("inf")),  # non-finite
        reading("MC-0001", T0, tilt=1.0, smoke=1),  # not a property of the type
        {"device": "MC-0001", "ts": T0.isoformat(), "values": {}},  # no values
        reading("MC-0001", T0 - MIN, tilt=1.7),  # good
    ]
    result = send(db, batch)
    assert (result.accepted, result.duplicates, result.stored) == (2, 0, 3)
    assert [(r.index, r.device, r.reason) for r in result.rejected] == [
        (1, "GHOST-1", "unknown_device"),
        (2, "MC-0002", "device_retired"),
        (3, None, "malformed"),
        (4, None, "malformed"),
        (5, "MC-0001", "no_timestamp"),
        (6, "MC-0001", "bad_timestamp"),
        (7, "MC-0001", "future_timestamp"),
        (8, "MC-0001", "non_numeric_value"),
        (9, "MC-0001", "non_numeric_value"),
        (10, "MC-0001", "unknown_property"),
        (11, "MC-0001", "malformed"),
    ]
    assert result.counts == {
        "unknown_device": 1,
        "device_retired": 1,
        "malformed": 3,
        "no_timestamp": 1,
        "bad_timestamp": 1,
        "future_timestamp": 1,
        "non_numeric_value": 2,
        "unknown_property": 1,
    }
    assert "'smoke'" in result.rejected[9].message and "tilt" in result.rejected[9].message
    assert reading_count(db, device) == 3
    assert device.last_values == {"tilt": 1.7, "battery": 0.8} and device.battery == 0.8
    assert device.last_reading_at == T0 - MIN and device.last_seen_at == T0
    stats = telemetry.STATS.snapshot()
    assert stats["accepted"] == 2 and stats["rejected"] == 11 and stats["reasons"]["malformed"] == 3


def test_a_reading_slightly_in_the_future_is_accepted_within_the_allowance(world: World, sensors) -> None:
    result = send(world.db, reading("MC-0001", T0 + dt.timedelta(seconds=200), tilt=1.0), max_future_s=300)
    assert result.accepted == 1
    result = send(world.db, reading("MC-0001", T0 + dt.timedelta(seconds=200), tilt=1.0), max_future_s=60)
    assert result.counts == {"future_timestamp": 1}


def test_a_duplicate_delivery_is_stored_once_and_runs_no_rule_again(world: World, sensors) -> None:
    db = world.db
    device, _ = sensors
    message = reading("MC-0001", T0, tilt=12.0, battery=0.5)
    first = send(db, [message, message])
    assert (first.accepted, first.duplicates, first.stored) == (1, 1, 2)
    again = send(db, message, at=T0 + MIN)
    assert (again.accepted, again.duplicates, again.stored, again.rejected) == (0, 1, 0, [])
    assert reading_count(db, device) == 2
    [alarm] = device_alarms(db, device)
    assert alarm.count == 1
    assert device.last_seen_at == T0 + MIN  # a duplicate still shows the device is alive


def test_an_older_reading_is_stored_but_never_overwrites_newer_cached_values(world: World, sensors) -> None:
    db = world.db
    device, _ = sensors
    send(db, reading("MC-0001", T0, tilt=3.0, battery=0.7))
    send(db, reading("MC-0001", T0 - 10 * MIN, tilt=40.0, battery=0.9), at=T0 + MIN)
    assert reading_count(db, device) == 4
    assert device.last_values == {"tilt": 3.0, "battery": 0.7} and device.battery == 0.7
    assert device.last_reading_at == T0
    assert device_alarms(db, device) == []  # a late reading judges nothing
    send(db, reading("MC-0001", T0 + MIN, battery=65))  # a percentage
    assert device.last_values == {"tilt": 3.0, "battery": 65.0} and device.battery == 0.65


def test_a_batch_too_large_or_unusable_is_refused_as_a_whole(world: World, sensors) -> None:
    with pytest.raises(InputError, match="batch too large"):
        send(world.db, [reading("MC-0001", T0, tilt=1)] * (telemetry.MAX_BATCH + 1))
    with pytest.raises(InputError, match="no usable readings"):
        send(world.db, "tilt=3")


def device_alarms(db: Session, device: Device) -> list:
    from tests.domains.iot.sensors import alarms_of

    return alarms_of(db, device)


# --- HTTP ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def gateway(api: TestClient, db: Session, sensors) -> TestClient:
    GATEWAY.enrol(db)
    return api


def test_http_batch_with_good_and_bad_readings(gateway: TestClient, db: Session, sensors) -> None:
    device, _ = sensors
    body = {
        "readings": [
            reading("MC-0001", T0 - MIN, tilt=14.0),
            reading("GHOST", T0, tilt=1.0),
            reading("MC-0001", None, tilt=1.0),
            reading("MC-0001", T0 + dt.timedelta(days=1), tilt=1.0),
            reading("MC-0001", T0, tilt="x"),
            [1, 2],
        ]
    }
    response = gateway.post("/api/v1/iot/telemetry", json=body, headers=GATEWAY)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 1 and answer["duplicates"] == 0
    assert answer["counts"] == {
        "unknown_device": 1,
        "no_timestamp": 1,
        "future_timestamp": 1,
        "non_numeric_value": 1,
        "malformed": 1,
    }
    assert answer["rejected"][0] == {
        "index": 1,
        "device": "GHOST",
        "reason": "unknown_device",
        "message": "no device is registered under 'GHOST'",
    }
    assert answer["alarms"]["raised"] == 1 and answer["alarms"]["cases"] == 1
    assert reading_count(db, device) == 1

    # One reading alone, epoch milliseconds; then the same again: a duplicate.
    one = {"device": "MC-0001", "ts": int(T0.timestamp() * 1000), "values": {"tilt": 15}}
    assert gateway.post("/api/v1/iot/telemetry", json=one, headers=GATEWAY).json()["accepted"] == 1
    assert gateway.post("/api/v1/iot/telemetry", json=[one], headers=GATEWAY).json()["duplicates"] == 1

    stats = gateway.get("/api/v1/iot/telemetry/stats", headers=DISTRICT_DISPATCHER)
    assert stats.status_code == 200
    assert stats.json()["sources"]["http"]["accepted"] >= 2 and stats.json()["reasons"]["unknown_device"] >= 1

    alerts = gateway.get("/api/v1/iot/alarms", params={"state": "raised"}, headers=DISTRICT_DISPATCHER)
    assert alerts.status_code == 200 and alerts.headers["content-type"].startswith("application/ld+json")
    [alert] = alerts.json()
    assert alert["type"] == "Alert" and alert["alertSource"]["value"] == "urn:ngsi-ld:Device:MC-0001"
    assert alert["data"]["value"]["count"] == 2 and alerts.headers["NGSILD-Results-Count"] == "1"


def test_http_refuses_unusable_bodies_and_callers_without_telemetry_ingest(gateway: TestClient, sensors) -> None:
    url = "/api/v1/iot/telemetry"
    for body in ([], "tilt=3", {"readings": {}}):
        response = gateway.post(url, json=body, headers=GATEWAY)
        assert response.status_code == 422, body
        assert response.json()["issues"][0]["where"] == "payload"
    response = gateway.post(url, content=b"{not json", headers={**GATEWAY, "Content-Type": "application/json"})
    assert response.status_code == 422
    ok = reading("MC-0001", T0, tilt=1.0)
    assert gateway.post(url, json=ok).status_code == 401
    assert gateway.post(url, json=ok, headers=GRID_WORKER).status_code == 403
    assert gateway.post(url, json=ok, headers=DISTRICT_DISPATCHER).status_code == 403
    # The gateway may send, not read the alarms or the counters.
    assert gateway.get("/api/v1/iot/alarms", headers=GATEWAY).status_code == 403


def test_the_alarm_list_is_limited_to_the_callers_area(gateway: TestClient, db: Session, world: World, sensors) -> None:
    device_type = sensors[0].type
    make_device(db, device_type, "MC-EAST", at=point(800, 200))  # street 410105002
    gateway.post(
        "/api/v1/iot/telemetry",
        json=[reading("MC-0001", T0, tilt=20), reading("MC-EAST", T0, tilt=20)],
        headers=GATEWAY,
    )
    everything = gateway.get("/api/v1/iot/alarms", headers=DISTRICT_DISPATCHER).json()
    mine = gateway.get("/api/v1/iot/alarms", headers=GRID_WORKER).json()
    assert len(everything) >= len(mine) >= 1
    assert {a["alertSource"]["value"] for a in mine} == {"urn:ngsi-ld:Device:MC-0001"}


# --- retention ----------------------------------------------------------------------------------------------------


def test_prune_deletes_readings_older_than_the_retention(world: World, sensors) -> None:
    db = world.db
    device, _ = sensors
    old = [reading("MC-0001", T0 - dt.timedelta(days=d), tilt=1.0) for d in (100, 95, 91)]
    send(db, [*old, reading("MC-0001", T0 - dt.timedelta(days=89), tilt=1.0), reading("MC-0001", T0, tilt=2.0)])
    assert reading_count(db, device) == 5
    assert jobs.prune_readings(db=db, before=T0 - dt.timedelta(days=90), limit=2) == 2
    assert jobs.prune_readings(db=db, before=T0 - dt.timedelta(days=90), limit=2) == 1
    assert jobs.prune_readings(db=db, before=T0 - dt.timedelta(days=90)) == 0
    assert reading_count(db, device) == 2
    assert device.last_values == {"tilt": 2.0}


def test_prune_and_the_offline_sweep_run_as_jobs_on_their_own_transactions(fresh_database_url: str) -> None:
    from gridgov.domains.areas import locate
    from tests.domains.cases.world import load_world
    from tests.domains.iot.sensors import offline_rule

    migrations.upgrade(fresh_database_url)
    engine: Engine = create_db_engine(fresh_database_url)
    try:
        locate.invalidate()
        with transaction(engine) as db:
            load_world(db)
            device_type = make_type(db)
            offline_rule(db, device_type, after_s=600)
            for n in range(5):
                make_device(db, device_type, f"MC-{n}", last_seen_at=T0 - dt.timedelta(minutes=n * 5))
            ingest(
                db=db,
                messages=[reading(f"MC-{n}", T0 - dt.timedelta(days=100 - n), tilt=1.0) for n in range(5)],
                now=T0 - dt.timedelta(minutes=30),
                source="test",
            )
        locate.invalidate()
        # MC-3 and MC-4 were last heard 15 and 20 minutes before T0: more than 10 minutes.
        report = jobs.sweep_offline(engine=engine, now=T0, batch_size=1)
        assert (report.offline, report.cases, report.failed) == (2, 2, [])
        assert jobs.sweep_offline(engine=engine, now=T0).offline == 0
        with transaction(engine, write=False) as db:
            states = dict(db.execute(select(Device.code, Device.state)).all())
        assert states == {"MC-0": "normal", "MC-1": "normal", "MC-2": "normal", "MC-3": "offline", "MC-4": "offline"}

        assert jobs.prune(engine=engine, days=97, now=T0, batch_size=2) == 3
        with transaction(engine, write=False) as db:
            assert len(db.scalars(select(Reading.id)).all()) == 2
    finally:
        engine.dispose()


def test_out_of_range_numbers_and_times_are_rejected_one_by_one(world: World, sensors) -> None:
    db = world.db
    device, _retired = sensors
    batch = [
        reading("MC-0001", "²", tilt=1.0),  # a digit to Python, not to int()
        reading("MC-0001", "9999-12-31T23:59:59-01:00", tilt=1.0),  # beyond the last representable instant
        reading("MC-0001", "9" * 400, tilt=1.0),  # epoch milliseconds too large for a float
        reading("MC-0001", T0, tilt=10**400),  # a value too large for a float
        reading("MC-0001", T0 - MIN, tilt=1.2),  # good
    ]
    result = send(db, batch)
    assert result.accepted == 1
    assert [(r.index, r.reason) for r in result.rejected] == [
        (0, "bad_timestamp"),
        (1, "bad_timestamp"),
        (2, "bad_timestamp"),
        (3, "non_numeric_value"),
    ]
    assert reading_count(db, device) == 1
