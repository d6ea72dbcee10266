"""The rules engine through ingest: threshold with hysteresis, duration, rate of change, per-device overrides,
silent devices in maintenance, and readings delivered out of order.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.domains.iot import rules
from gridgov.domains.iot.enums import AlarmState, DeviceState, Operator, RuleKind
from gridgov.domains.iot.models import RuleState
from gridgov.domains.iot.telemetry import ingest
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import World
from tests.domains.iot.sensors import (
    alarms_of,
    iot_cases,
    make_device,
    make_rule,
    make_type,
    reading,
    tilt_rule,
)

MIN = dt.timedelta(minutes=1)


def send(db: Session, *readings: dict, at: dt.datetime) -> dict:
    return ingest(db=db, messages=list(readings), now=at, source="test").as_dict()


@pytest.fixture
def tilt(world: World):
    device_type = make_type(world.db)
    rule = tilt_rule(world.db, device_type)
    return device_type, rule, make_device(world.db, device_type)


def test_threshold_raises_once_and_clears_only_past_the_clear_threshold(world: World, tilt) -> None:
    db = world.db
    _type, _rule, device = tilt
    send(db, reading("MC-0001", T0, tilt=3.0), at=T0)
    assert alarms_of(db, device) == [] and device.state == DeviceState.normal

    result = send(db, reading("MC-0001", T0 + MIN, tilt=12.5), at=T0 + MIN)
    assert result["alarms"]["raised"] == 1
    [alarm] = alarms_of(db, device)
    assert (alarm.state, alarm.count, alarm.first_value, alarm.last_value) == (AlarmState.raised, 1, 12.5, 12.5)
    assert device.state == DeviceState.alarm

    # Inside the hysteresis band (5..10]: still raised, not a repeat either.
    send(db, reading("MC-0001", T0 + 2 * MIN, tilt=7.0), at=T0 + 2 * MIN)
    assert alarm.state == AlarmState.raised and alarm.count == 1
    # Above the threshold again: a repeat of the same alarm.
    send(db, reading("MC-0001", T0 + 3 * MIN, tilt=11.0), at=T0 + 3 * MIN)
    assert alarm.count == 2 and alarm.last_value == 11.0
    # At the clear threshold: cleared.
    result = send(db, reading("MC-0001", T0 + 4 * MIN, tilt=5.0), at=T0 + 4 * MIN)
    assert result["alarms"]["cleared"] == 1
    assert alarm.state == AlarmState.cleared and alarm.cleared_at == T0 + 4 * MIN
    assert device.state == DeviceState.normal
    assert len(alarms_of(db, device)) == 1


def test_without_hysteresis_a_threshold_rule_clears_as_soon_as_the_condition_ends(world: World) -> None:
    db = world.db
    device_type = make_type(db)
    tilt_rule(db, device_type, clear_threshold=None)
    device = make_device(db, device_type)
    send(db, reading("MC-0001", T0, tilt=10.5), at=T0)
    send(db, reading("MC-0001", T0 + MIN, tilt=9.9), at=T0 + MIN)
    [alarm] = alarms_of(db, device)
    assert alarm.state == AlarmState.cleared


def test_lower_bound_rules_clear_above_their_clear_threshold(world: World) -> None:
    db = world.db
    device_type = make_type(db, "hydrant", {"pressure": "MPa"})
    make_rule(
        db,
        "low_pressure",
        device_type=device_type,
        property="pressure",
        operator=Operator.lt,
        threshold=0.1,
        clear_threshold=0.15,
    )
    device = make_device(db, device_type, "HY-1")
    send(db, reading("HY-1", T0, pressure=0.05), at=T0)
    send(db, reading("HY-1", T0 + MIN, pressure=0.12), at=T0 + MIN)
    [alarm] = alarms_of(db, device)
    assert alarm.state == AlarmState.raised
    send(db, reading("HY-1", T0 + 2 * MIN, pressure=0.15), at=T0 + 2 * MIN)
    assert alarm.state == AlarmState.cleared


def test_duration_rule_raises_only_after_the_condition_held_long_enough(world: World) -> None:
    db = world.db
    device_type = make_type(db, "water_level", {"level": "cm"})
    rule = make_rule(
        db,
        "flooding",
        kind=RuleKind.duration,
        device_type=device_type,
        property="level",
        operator=Operator.ge,
        threshold=20.0,
        duration_s=600,
    )
    device = make_device(db, device_type, "WL-1")
    send(db, reading("WL-1", T0, level=25), at=T0)
    send(db, reading("WL-1", T0 + 5 * MIN, level=30), at=T0 + 5 * MIN)
    assert alarms_of(db, device) == []
    state = db.scalars(select(RuleState).where(RuleState.rule_id == rule.id)).one()
    assert state.condition_since == T0

    # The condition breaks before 10 minutes: the count starts again.
    send(db, reading("WL-1", T0 + 8 * MIN, level=10), at=T0 + 8 * MIN)
    assert state.condition_since is None
    send(db, reading("WL-1", T0 + 9 * MIN, level=22), at=T0 + 9 * MIN)
    send(db, reading("WL-1", T0 + 18 * MIN, level=22), at=T0 + 18 * MIN)
    assert alarms_of(db, device) == []
    send(db, reading("WL-1", T0 + 19 * MIN, level=23), at=T0 + 19 * MIN)
    [alarm] = alarms_of(db, device)
    assert alarm.state == AlarmState.raised and "持续 10 分钟" in alarm.description

    send(db, reading("WL-1", T0 + 20 * MIN, level=5), at=T0 + 20 * MIN)
    assert alarm.state == AlarmState.cleared and state.condition_since is None


def test_rate_rule_compares_consecutive_readings(world: World) -> None:
    db = world.db
    device_type = make_type(db, "water_level", {"level": "cm"})
    make_rule(db, "rising", kind=RuleKind.rate, device_type=device_type, property="level", rate_per_min=2.0)
    device = make_device(db, device_type, "WL-1")
    send(db, reading("WL-1", T0, level=10), at=T0)
    send(db, reading("WL-1", T0 + 5 * MIN, level=19), at=T0 + 5 * MIN)  # 1.8 cm/min
    assert alarms_of(db, device) == []
    send(db, reading("WL-1", T0 + 6 * MIN, level=22), at=T0 + 6 * MIN)  # 3 cm/min
    [alarm] = alarms_of(db, device)
    assert alarm.state == AlarmState.raised and "变化 3cm/分钟" in alarm.description
    # A late, older reading changes nothing (the rate is judged between consecutive new readings).
    send(db, reading("WL-1", T0 + 2 * MIN, level=100), at=T0 + 7 * MIN)
    assert alarm.count == 1
    send(db, reading("WL-1", T0 + 16 * MIN, level=23), at=T0 + 16 * MIN)  # 0.1 cm/min
    assert alarm.state == AlarmState.cleared
    # A falling level counts as much as a rising one (absolute change).
    send(db, reading("WL-1", T0 + 17 * MIN, level=13), at=T0 + 17 * MIN)
    assert len(alarms_of(db, device)) == 2


def test_a_device_rule_overrides_the_type_rule_of_the_same_code(world: World, tilt) -> None:
    db = world.db
    device_type, _rule, device = tilt
    steep = make_device(db, device_type, "MC-0002")
    make_rule(db, device=steep, operator=Operator.gt, threshold=30.0, clear_threshold=20.0)
    send(db, reading("MC-0001", T0, tilt=15), reading("MC-0002", T0, tilt=15), at=T0)
    assert len(alarms_of(db, device)) == 1
    assert alarms_of(db, steep) == []
    send(db, reading("MC-0002", T0 + MIN, tilt=31), at=T0 + MIN)
    assert len(alarms_of(db, steep)) == 1

    # An inactive override switches the type's rule off for that one device.
    quiet = make_device(db, device_type, "MC-0003")
    make_rule(db, device=quiet, operator=Operator.gt, threshold=10.0, is_active=False)
    send(db, reading("MC-0003", T0 + MIN, tilt=45), at=T0 + MIN)
    assert alarms_of(db, quiet) == []
    assert [r.code for r in rules.load_rules_for(db=db, device=quiet)] == []
    assert [r.threshold for r in rules.load_rules_for(db=db, device=steep)] == [30.0]


def test_devices_in_maintenance_raise_nothing_but_their_readings_are_kept(world: World, tilt) -> None:
    db = world.db
    device_type, _rule, _device = tilt
    resting = make_device(db, device_type, "MC-0009", state=DeviceState.maintenance)
    result = send(db, reading("MC-0009", T0, tilt=80), at=T0)
    assert result["accepted"] == 1 and result["alarms"]["raised"] == 0
    assert alarms_of(db, resting) == [] and iot_cases(db) == []
    assert resting.last_values == {"tilt": 80.0} and resting.state == DeviceState.maintenance


def test_inactive_type_rules_raise_nothing(world: World) -> None:
    db = world.db
    device_type = make_type(db)
    tilt_rule(db, device_type, is_active=False)
    device = make_device(db, device_type)
    send(db, reading("MC-0001", T0, tilt=80), at=T0)
    assert alarms_of(db, device) == []


def test_readings_of_one_batch_are_judged_in_time_order(world: World, tilt) -> None:
    db = world.db
    _type, _rule, device = tilt
    # Sent newest first: the 12° reading came before the 2° one, so the alarm is raised and then cleared.
    send(db, reading("MC-0001", T0 + MIN, tilt=2), reading("MC-0001", T0, tilt=12), at=T0 + MIN)
    [alarm] = alarms_of(db, device)
    assert alarm.state == AlarmState.cleared
    assert device.last_values == {"tilt": 2.0} and device.last_reading_at == T0 + MIN
