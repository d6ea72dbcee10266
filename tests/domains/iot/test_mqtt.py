"""Telemetry over MQTT through a real, throwaway Mosquitto: stored → alarm → one case; repeats fold in; clearing is
noted; messages queued while the subscriber is down arrive later; a message redelivered after a crash before its
acknowledgement is stored once; poison messages are counted and acknowledged. Skipped without mosquitto.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, func, select

from gridgov import migrations
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.cases.models import Case
from gridgov.domains.iot import mqtt
from gridgov.domains.iot.enums import AlarmState
from gridgov.domains.iot.models import Alarm, Device, Reading
from gridgov.domains.iot.mqtt import Subscriber, device_of, parse_url, topic_filters
from tests.domains.cases.world import load_world
from tests.domains.iot.sensors import make_device, make_type, notes_of, offline_rule, tilt_rule
from tests.mosquitto import Broker, mosquitto_broker, require_mosquitto

CLIENT_ID = "gridgov-test-ingest"


# --- without a broker ---------------------------------------------------------------------------------------------


def test_broker_urls_topics_and_devices() -> None:
    broker = parse_url("mqtts://gw%40district:s%3Acret@emqx.example.org")
    assert (broker.host, broker.port, broker.tls, broker.username, broker.password) == (
        "emqx.example.org",
        8883,
        True,
        "gw@district",
        "s:cret",
    )
    assert str(broker) == "mqtts://emqx.example.org:8883"  # no password in logs
    assert parse_url("mqtt://127.0.0.1").port == 1883
    with pytest.raises(ValueError, match="mqtt:// or mqtts://"):
        parse_url("http://broker")
    assert topic_filters("city") == ["city/telemetry", "city/telemetry/+"]
    assert topic_filters("city", "ingest") == ["$share/ingest/city/telemetry", "$share/ingest/city/telemetry/+"]
    assert device_of("city/telemetry/MC-1", "city") == "MC-1"
    assert device_of("city/telemetry", "city") is None
    for wrong in ("city/telemetry/a/b", "other/telemetry/MC-1", "city/telemetry/"):
        with pytest.raises(ValueError):
            device_of(wrong, "city")


# --- with Mosquitto -----------------------------------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    require_mosquitto()
    with mosquitto_broker(tmp_path) as running:
        yield running


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[Engine]:
    """A committed database with the world, a tilt sensor type (rule > 10°, clear ≤ 5°) and device MC-0001."""
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    locate.invalidate()
    with transaction(engine) as db:
        load_world(db)
        device_type = make_type(db)
        tilt_rule(db, device_type)
        offline_rule(db, device_type)
        make_device(db, device_type)
    locate.invalidate()
    mqtt.STATUS.reset()
    yield engine
    engine.dispose()


class Publisher:
    """A device or gateway publishing with QoS 1 (its network loop runs, so publishes complete)."""

    def __init__(self, broker: Broker) -> None:
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="test-gateway")
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, data, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker: Broker) -> Iterator[Publisher]:
    found = Publisher(broker)
    yield found
    found.close()


def subscriber(engine: Engine, broker: Broker, cls: type[Subscriber] = Subscriber) -> Subscriber:
    sub = cls(engine=engine, url=broker.url, prefix="gridgov", client_id=CLIENT_ID)
    sub.start()
    assert sub.wait_connected(10), broker.log()
    return sub


def ts(seconds_ago: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)).isoformat()


def counts(engine: Engine) -> dict[str, Any]:
    with transaction(engine, write=False) as db:
        alarms = list(db.scalars(select(Alarm).order_by(Alarm.id)))
        cases = list(db.scalars(select(Case).where(Case.channel == "iot")))
        device = db.scalars(select(Device).where(Device.code == "MC-0001")).one()
        return {
            "readings": db.scalar(select(func.count()).select_from(Reading)),
            "alarms": [(a.alarm_type, a.state, a.count) for a in alarms],
            "cases": len(cases),
            "notes": notes_of(db, cases[0]) if cases else [],
            "last_values": device.last_values,
        }


def test_published_readings_raise_one_alarm_and_one_case_and_repeats_fold_in(
    engine: Engine, broker: Broker, publisher: Publisher
) -> None:
    sub = subscriber(engine, broker)
    try:
        publisher.send("gridgov/telemetry/MC-0001", {"ts": ts(50), "values": {"tilt": 2.0, "battery": 0.9}})
        publisher.send("gridgov/telemetry/MC-0001", {"ts": ts(40), "values": {"tilt": 14.5}})
        # A gateway's batch on the shared topic, naming the device; one repeat and one reading of no device.
        batch = [
            {"device": "MC-0001", "ts": ts(30), "values": {"tilt": 15.0}},
            {"device": "NOPE", "ts": ts(30), "values": {"tilt": 1}},
        ]
        publisher.send("gridgov/telemetry", {"readings": batch})
        assert sub.wait_idle(10)
        found = counts(engine)
        assert found["readings"] == 4
        assert found["alarms"] == [("tilt", AlarmState.raised, 2)]
        assert found["cases"] == 1

        publisher.send("gridgov/telemetry/MC-0001", {"ts": ts(20), "values": {"tilt": 4.0}})
        assert sub.wait_idle(10)
        found = counts(engine)
        assert found["alarms"] == [("tilt", AlarmState.cleared, 2)]
        assert found["cases"] == 1 and found["notes"] == ["告警已解除（累计 2 次）"]
        assert found["last_values"] == {"tilt": 4.0, "battery": 0.9}
        status = mqtt.STATUS.snapshot()
        assert status["connected"] and status["readings_accepted"] == 4 and status["readings_rejected"] == 1
    finally:
        sub.stop()


def test_messages_queued_while_the_subscriber_is_down_arrive_when_it_returns(
    engine: Engine, broker: Broker, publisher: Publisher
) -> None:
    subscriber(engine, broker).stop()  # the broker now keeps a persistent session for the client id
    for n in range(5):
        publisher.send("gridgov/telemetry/MC-0001", {"ts": ts(60 - n), "values": {"tilt": 1.0 + n}})
    assert counts(engine)["readings"] == 0
    sub = subscriber(engine, broker)
    try:
        assert sub.wait_idle(10)
        assert counts(engine)["readings"] == 5
    finally:
        sub.stop()


class CrashBeforeAck(Subscriber):
    """Stores and commits, then "crashes" before acknowledging anything."""

    def _ack(self, batch: list[mqtt.Message]) -> None:
        self.unacked = len(batch)


def test_a_message_redelivered_after_a_crash_before_its_ack_is_stored_once(
    engine: Engine, broker: Broker, publisher: Publisher
) -> None:
    crashing = subscriber(engine, broker, CrashBeforeAck)
    publisher.send("gridgov/telemetry/MC-0001", {"ts": ts(10), "values": {"tilt": 22.0}})
    assert crashing.wait_idle(10)
    crashing.stop()
    assert crashing.unacked == 1
    before = counts(engine)
    assert before["readings"] == 1 and before["alarms"] == [("tilt", AlarmState.raised, 1)]

    sub = subscriber(engine, broker)
    try:
        assert sub.wait_idle(10)
        assert mqtt.STATUS.get("redelivered") == 1
        after = counts(engine)
        assert after["readings"] == 1
        assert after["alarms"] == [("tilt", AlarmState.raised, 1)]  # not counted as a repeat
        assert after["cases"] == 1
        assert mqtt.STATUS.get("readings_duplicate") == 1
    finally:
        sub.stop()


def test_poison_messages_are_counted_acknowledged_and_not_redelivered(
    engine: Engine, broker: Broker, publisher: Publisher
) -> None:
    sub = subscriber(engine, broker)
    try:
        publisher.send("gridgov/telemetry/MC-0001", b"\xff not json")
        publisher.send("gridgov/telemetry/MC-0001", [])
        publisher.send("gridgov/telemetry/MC-0001/extra", {"ts": ts(5), "values": {"tilt": 1}})
        publisher.send("gridgov/telemetry/MC-0001", {"device": "MC-0002", "ts": ts(5), "values": {"tilt": 1}})
        publisher.send("gridgov/telemetry/MC-0001", {"ts": ts(5), "values": {"tilt": 1}})
        assert sub.wait_idle(10)
    finally:
        sub.stop()
    # "gridgov/telemetry/MC-0001/extra" matches no subscription: the broker never sends it.
    assert mqtt.STATUS.get("poison") == 2
    assert mqtt.STATUS.get("readings_rejected") == 1  # the reading naming another device than its topic
    assert counts(engine)["readings"] == 1
    messages = mqtt.STATUS.get("messages")
    sub = subscriber(engine, broker)
    try:
        assert sub.wait_idle(3)
        assert mqtt.STATUS.get("messages") == messages  # nothing came back
    finally:
        sub.stop()


def test_the_web_app_runs_the_subscriber_with_its_jobs_when_an_mqtt_url_is_set(
    engine: Engine, broker: Broker, publisher: Publisher, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from gridgov.config import Settings
    from gridgov.main import create_app

    settings = Settings(
        env="development",
        database_url=str(engine.url.render_as_string(hide_password=False)),
        media_dir=tmp_path,
        mqtt_url=broker.url,
        mqtt_client_id="gridgov-serve-test",
        embedded_jobs=True,
    )
    with TestClient(create_app(settings, engine)):
        deadline = dt.datetime.now() + dt.timedelta(seconds=10)
        while not mqtt.STATUS.snapshot()["subscribed"] and dt.datetime.now() < deadline:
            time.sleep(0.05)
        assert mqtt.STATUS.snapshot()["client_id"] == "gridgov-serve-test-ingest"
        publisher.send("gridgov/telemetry/MC-0001", {"ts": ts(1), "values": {"tilt": 1.5}})
        while counts(engine)["readings"] == 0 and dt.datetime.now() < deadline:
            time.sleep(0.05)
    assert counts(engine)["readings"] == 1
    assert not mqtt.STATUS.snapshot()["connected"]  # stopped with the app
