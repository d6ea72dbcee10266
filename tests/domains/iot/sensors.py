"""Devices, types and rules for the telemetry, rules and alarm tests, made directly with the ORM models.

On top of the case tests' world (synthetic district + catalogue): a manhole-cover tilt sensor type (tilt °,
battery) owned by the water company (WATER), whose tilt rule opens BJ0101 上水井盖 cases, and whose offline rule
opens SJ0601 cases (the maintenance matter of these tests).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.domains.areas import locate
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.iot.enums import AlertCategory, DeviceState, Operator, RuleKind, Severity
from gridgov.domains.iot.models import Alarm, AlarmRule, Device, DeviceType, Reading
from tests.domains.cases.world import point

TILT_MATTER = "BJ0101"
OFFLINE_MATTER = "SJ0601"


def make_type(db: Session, code: str = "manhole_tilt", properties: dict[str, str] | None = None) -> DeviceType:
    """Adds a device type (default: manhole-cover tilt with tilt ° and battery %)."""
    device_type = DeviceType(code=code, name="井盖倾斜传感器", properties=properties or {"tilt": "°", "battery": "%"})
    db.add(device_type)
    db.flush()
    return device_type


def make_device(
    db: Session,
    device_type: DeviceType,
    code: str = "MC-0001",
    *,
    state: DeviceState = DeviceState.normal,
    owner: str | None = "WATER",
    at: tuple[float, float] | None = None,
    name: str | None = "文化路井盖1号",
    last_seen_at: dt.datetime | None = None,
) -> Device:
    """Adds a device placed on its grid (default point: grid 410105001001001)."""
    lng, lat = at or point()
    located = locate.get_index(db=db).locate(lng, lat)
    owner_id = db.scalars(select(Unit.id).where(Unit.code == owner)).one() if owner else None
    device = Device(
        code=code,
        name=name,
        type_id=device_type.id,
        owner_unit_id=owner_id,
        lng=lng,
        lat=lat,
        address="文化路与农业路交叉口",
        grid_id=located.grid.id if located.grid else None,
        area_path=located.path or "/",
        state=state,
        last_values={},
        last_seen_at=last_seen_at,
        attributes={},
    )
    db.add(device)
    db.flush()
    return device


def make_rule(
    db: Session,
    code: str = "tilt",
    *,
    kind: RuleKind = RuleKind.threshold,
    device_type: DeviceType | None = None,
    device: Device | None = None,
    matter: str | None = TILT_MATTER,
    **fields: Any,
) -> AlarmRule:
    """Adds an alarm rule for a type or (override) for one device."""
    matter_id = db.scalars(select(MatterType.id).where(MatterType.code == matter)).one() if matter else None
    defaults: dict[str, Any] = {
        "name": "井盖倾斜",
        "severity": Severity.high,
        "category": AlertCategory.security,
        "sub_category": "manholeCover",
        "is_active": True,
    }
    if kind != RuleKind.offline:
        defaults["property"] = "tilt"
    rule = AlarmRule(
        code=code,
        kind=kind,
        device_type_id=device_type.id if device_type else None,
        device_id=device.id if device else None,
        matter_type_id=matter_id,
        **{**defaults, **fields},
    )
    db.add(rule)
    db.flush()
    return rule


def tilt_rule(db: Session, device_type: DeviceType, **fields: Any) -> AlarmRule:
    """Adds the type's tilt rule: above 10° raises, clears at or below 5°."""
    values = {"operator": Operator.gt, "threshold": 10.0, "clear_threshold": 5.0, **fields}
    return make_rule(db, device_type=device_type, **values)


def offline_rule(db: Session, device_type: DeviceType, after_s: float = 3600, **fields: Any) -> AlarmRule:
    """Adds the type's offline rule (a maintenance case for the owner)."""
    values = {"name": "设备离线", "severity": Severity.low, "sub_category": None, **fields}
    return make_rule(
        db,
        "offline",
        kind=RuleKind.offline,
        device_type=device_type,
        matter=OFFLINE_MATTER,
        offline_after_s=after_s,
        **values,
    )


def reading(device: str | None, ts: dt.datetime | str | int | None, **values: Any) -> dict[str, Any]:
    """Returns one reading as a device sends it (timestamps as ISO-8601 text)."""
    out: dict[str, Any] = {"values": values}
    if device is not None:
        out["device"] = device
    if ts is not None:
        out["ts"] = ts.isoformat() if isinstance(ts, dt.datetime) else ts
    return out


def alarms_of(db: Session, device: Device) -> list[Alarm]:
    """Returns the device's alarms, oldest first."""
    return list(db.scalars(select(Alarm).where(Alarm.device_id == device.id).order_by(Alarm.id)))


def iot_cases(db: Session) -> list[Case]:
    """Returns the cases of the iot channel, oldest first."""
    return list(db.scalars(select(Case).where(Case.channel == "iot").order_by(Case.id)))


def notes_of(db: Session, case: Case) -> list[str]:
    """Returns the notes of a case's log, in order."""
    stmt = select(CaseEvent.note).where(CaseEvent.case_id == case.id, CaseEvent.action == "note")
    stmt = stmt.order_by(CaseEvent.seq)
    return [note or "" for note in db.scalars(stmt)]


def reading_count(db: Session, device: Device | None = None) -> int:
    """Returns how many values are stored (for one device, or all)."""
    stmt = select(func.count()).select_from(Reading)
    if device is not None:
        stmt = stmt.where(Reading.device_id == device.id)
    return db.scalar(stmt) or 0
