"""Alarms → cases: one case per open alarm, repeats fold into it, clearing is noted but never closes it; offline
devices get a maintenance case and come back by reporting; the NGSI-LD Alert shape.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from gridgov.domains.cases.enums import CaseStage
from gridgov.domains.iot import alarms as alarm_service
from gridgov.domains.iot import jobs
from gridgov.domains.iot.enums import AlarmState, DeviceState
from gridgov.domains.iot.telemetry import ingest
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import World
from tests.domains.iot.sensors import (
    OFFLINE_MATTER,
    TILT_MATTER,
    alarms_of,
    iot_cases,
    make_device,
    make_type,
    notes_of,
    offline_rule,
    reading,
    tilt_rule,
)

MIN = dt.timedelta(minutes=1)


def send(db: Session, *readings: dict, at: dt.datetime) -> dict:
    return ingest(db=db, messages=list(readings), now=at, source="test").as_dict()


@pytest.fixture
def tilt(world: World):
    device_type = make_type(world.db)
    tilt_rule(world.db, device_type)
    offline_rule(world.db, device_type, after_s=3600)
    return device_type, make_device(world.db, device_type, last_seen_at=T0)


def test_a_raised_alarm_becomes_one_iot_case_for_the_device_owner(world: World, tilt) -> None:
    db = world.db
    _type, device = tilt
    result = send(db, reading("MC-0001", T0, tilt=14.2, battery=0.9), at=T0)
    assert result["alarms"] == {"raised": 1, "updated": 0, "cleared": 0, "cases": 1}
    [alarm] = alarms_of(db, device)
    [case] = iot_cases(db)
    assert alarm.case_id == case.id
    assert case.external_id == f"alarm-{alarm.id}"
    assert case.matter_type.code == TILT_MATTER
    assert case.title == "[物联告警] 井盖倾斜 · 文化路井盖1号"
    assert case.component_owner_unit_id == world.unit("WATER").id
    assert (case.lng, case.lat, case.grid_id) == (device.lng, device.lat, device.grid_id)
    assert case.stage not in (CaseStage.closed, CaseStage.rejected)
    assert "14.2°" in case.description and "MC-0001" in case.description and "高于 10°" in case.description
    assert case.reporter_role == "system"


def test_repeats_fold_into_the_alarm_and_its_case_with_a_note_at_most_every_half_hour(world: World, tilt) -> None:
    db = world.db
    _type, device = tilt
    for minute in range(0, 65):  # a reading a minute, over the threshold for more than an hour
        send(db, reading("MC-0001", T0 + minute * MIN, tilt=12 + minute / 100), at=T0 + minute * MIN)
    [alarm] = alarms_of(db, device)
    [case] = iot_cases(db)
    assert alarm.count == 65 and alarm.last_value == pytest.approx(12.64) and alarm.first_value == 12
    assert alarm.updated_at == T0 + 64 * MIN
    notes = notes_of(db, case)
    assert notes == ["告警持续：累计 31 次，tilt = 12.3°", "告警持续：累计 61 次，tilt = 12.6°"]


def test_clearing_is_noted_and_the_case_stays_open_and_a_new_alarm_joins_it(world: World, tilt) -> None:
    db = world.db
    _type, device = tilt
    send(db, reading("MC-0001", T0, tilt=14), at=T0)
    send(db, reading("MC-0001", T0 + MIN, tilt=3), at=T0 + MIN)
    [alarm] = alarms_of(db, device)
    [case] = iot_cases(db)
    assert alarm.state == AlarmState.cleared
    assert notes_of(db, case) == ["告警已解除（累计 1 次）"]
    assert case.is_open and case.stage not in (CaseStage.closed, CaseStage.rejected)

    # Tilted again while nobody has verified the first case yet: a new alarm, the same open case.
    send(db, reading("MC-0001", T0 + 2 * MIN, tilt=15), at=T0 + 2 * MIN)
    first, second = alarms_of(db, device)
    assert second.state == AlarmState.raised and second.case_id == case.id
    assert iot_cases(db) == [case]
    assert notes_of(db, case)[-1].startswith("告警再次触发")
    assert device.state == DeviceState.alarm


def test_an_alarm_without_a_matter_type_makes_no_case(world: World) -> None:
    db = world.db
    device_type = make_type(db)
    tilt_rule(db, device_type, matter=None)
    device = make_device(db, device_type)
    send(db, reading("MC-0001", T0, tilt=20), at=T0)
    [alarm] = alarms_of(db, device)
    assert alarm.case_id is None and iot_cases(db) == []


def test_an_alarm_outside_the_district_is_kept_without_a_case(world: World, tilt) -> None:
    db = world.db
    device_type, _device = tilt
    far = make_device(db, device_type, "MC-FAR", at=(114.0, 35.0))
    send(db, reading("MC-FAR", T0, tilt=20), at=T0)
    [alarm] = alarms_of(db, far)
    assert alarm.state == AlarmState.raised and alarm.case_id is None
    assert far.state == DeviceState.alarm


def test_offline_devices_get_a_maintenance_case_and_come_back_by_reporting(world: World, tilt) -> None:
    db = world.db
    device_type, device = tilt
    never = make_device(db, device_type, "MC-NEVER")  # registered, never reported: counted from registration
    never.created_at = T0
    resting = make_device(db, device_type, "MC-REST", state=DeviceState.maintenance, last_seen_at=T0)

    report = jobs.check_offline(db=db, now=T0 + 59 * MIN)
    assert report.offline == 0 and device.state == DeviceState.normal

    report = jobs.check_offline(db=db, now=T0 + 61 * MIN)
    assert (report.offline, report.cases) == (2, 2)
    assert device.state == DeviceState.offline and never.state == DeviceState.offline
    assert resting.state == DeviceState.maintenance and alarms_of(db, resting) == []
    [alarm] = alarms_of(db, device)
    assert alarm.alarm_type == "offline" and alarm.severity == "low"
    case = next(c for c in iot_cases(db) if c.id == alarm.case_id)
    assert case.matter_type.code == OFFLINE_MATTER
    assert case.component_owner_unit_id == world.unit("WATER").id
    assert "超过 1 小时 未上报" in case.description

    # Idempotent: a second sweep (or another worker) marks nothing again.
    assert jobs.check_offline(db=db, now=T0 + 90 * MIN).offline == 0
    assert len(alarms_of(db, device)) == 1 and len(iot_cases(db)) == 2

    # The device reports again: the offline alarm clears (noted), the device is back to normal.
    send(db, reading("MC-0001", T0 + 95 * MIN, tilt=1), at=T0 + 95 * MIN)
    assert alarm.state == AlarmState.cleared and device.state == DeviceState.normal
    assert notes_of(db, case) == ["告警已解除：设备恢复上报（累计 1 次）"]
    assert case.is_open


def test_an_offline_device_that_reports_over_threshold_goes_to_alarm(world: World, tilt) -> None:
    db = world.db
    _type, device = tilt
    jobs.check_offline(db=db, now=T0 + 2 * dt.timedelta(hours=1))
    assert device.state == DeviceState.offline
    send(db, reading("MC-0001", T0 + dt.timedelta(hours=2), tilt=30), at=T0 + dt.timedelta(hours=2, minutes=1))
    assert device.state == DeviceState.alarm
    assert sorted((a.alarm_type, a.state) for a in alarms_of(db, device)) == [
        ("offline", AlarmState.cleared),
        ("tilt", AlarmState.raised),
    ]


def test_the_offline_sweep_uses_the_device_override(world: World, tilt) -> None:
    db = world.db
    device_type, device = tilt
    patient = make_device(db, device_type, "MC-SLOW", last_seen_at=T0)
    offline_rule(db, device_type=None, device=patient, after_s=6 * 3600)  # reports every few hours
    jobs.check_offline(db=db, now=T0 + 2 * dt.timedelta(hours=1))
    assert device.state == DeviceState.offline and patient.state == DeviceState.normal
    jobs.check_offline(db=db, now=T0 + 7 * dt.timedelta(hours=1))
    assert patient.state == DeviceState.offline


def test_alert_entity_is_an_ngsi_ld_alert(world: World, tilt) -> None:
    db = world.db
    _type, device = tilt
    send(db, reading("MC-0001", T0, tilt=14), at=T0)
    send(db, reading("MC-0001", T0 + MIN, tilt=15), at=T0 + MIN)
    [alarm] = alarms_of(db, device)
    entity = alarm_service.alert_entity(alarm)
    assert entity["id"] == f"urn:ngsi-ld:Alert:{alarm.id}" and entity["type"] == "Alert"
    assert entity["category"] == {"type": "Property", "value": "security"}
    assert entity["subCategory"]["value"] == "manholeCover"
    assert entity["severity"]["value"] == "high"
    assert entity["alertSource"]["value"] == "urn:ngsi-ld:Device:MC-0001"
    assert entity["dateIssued"]["value"] == {"@type": "DateTime", "@value": "2026-11-25T01:00:00Z"}
    assert entity["data"]["value"]["count"] == 2 and entity["data"]["value"]["lastValue"] == 15
    assert entity["data"]["value"]["caseId"] == alarm.case_id
    assert "validTo" not in entity and entity["description"]["value"] == alarm.description
