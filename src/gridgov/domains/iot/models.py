"""Tables of IoT sensing: device types, devices, telemetry readings, alarm rules, rule state and alarms."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.core.db import Base
from gridgov.core.models import PortableJSON, TimestampMixin, UTCDateTime
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.iot.enums import (
    AlarmState,
    AlertCategory,
    DeviceCategory,
    DeviceState,
    Operator,
    RuleKind,
    Severity,
)


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=24)


class DeviceType(TimestampMixin, Base):
    """A kind of device (smoke detector, manhole-cover tilt, water level ...): data, so a district adds its own.

    `properties` maps each controlled property to its unit ({"tilt": "°", "battery": "%"}).
    """

    __tablename__ = "device_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100))
    category: Mapped[DeviceCategory] = mapped_column(_enum(DeviceCategory), default=DeviceCategory.sensor)
    properties: Mapped[dict[str, str]] = mapped_column(PortableJSON, default=dict)


class Device(TimestampMixin, Base):
    """One device in the street, owned by a unit (权属单位), placed on a grid; its last values are cached here."""

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # the id the device reports under
    serial: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    type_id: Mapped[int] = mapped_column(ForeignKey("device_type.id", ondelete="RESTRICT"), index=True)
    owner_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    lng: Mapped[float] = mapped_column(Float)  # WGS84
    lat: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(400), index=True)
    state: Mapped[DeviceState] = mapped_column(_enum(DeviceState), default=DeviceState.normal, index=True)
    battery: Mapped[float | None] = mapped_column(Float)  # 0..1; NULL unknown
    last_values: Mapped[dict[str, float]] = mapped_column(PortableJSON, default=dict)
    last_reading_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)
    installed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    attributes: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)

    type: Mapped[DeviceType] = relationship()
    owner_unit: Mapped[Unit | None] = relationship()


class Reading(Base):
    """One telemetry value (遥测): partition-friendly (no foreign keys; `observed_at` leads the time index).

    The same (device, property, time) is stored once, so a message delivered twice (MQTT QoS 1) adds nothing.
    """

    __tablename__ = "reading"
    __table_args__ = (
        UniqueConstraint("device_id", "property", "observed_at"),
        Index("ix_reading_observed_at", "observed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[int] = mapped_column(Integer)
    property: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    observed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AlarmRule(TimestampMixin, Base):
    """A rule as data: for a device type (or one device, overriding the type's rule of the same code)."""

    __tablename__ = "alarm_rule"
    __table_args__ = (UniqueConstraint("code", "device_type_id", "device_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))  # the alarm type: "tilt", "smoke", "offline" ...
    name: Mapped[str] = mapped_column(String(200))
    device_type_id: Mapped[int | None] = mapped_column(ForeignKey("device_type.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    kind: Mapped[RuleKind] = mapped_column(_enum(RuleKind))
    property: Mapped[str | None] = mapped_column(String(64))
    operator: Mapped[Operator | None] = mapped_column(_enum(Operator))
    threshold: Mapped[float | None] = mapped_column(Float)
    clear_threshold: Mapped[float | None] = mapped_column(Float)  # hysteresis: clears only past this value
    duration_s: Mapped[float | None] = mapped_column(Float)
    rate_per_min: Mapped[float | None] = mapped_column(Float)
    offline_after_s: Mapped[float | None] = mapped_column(Float)
    severity: Mapped[Severity] = mapped_column(_enum(Severity), default=Severity.medium)
    category: Mapped[AlertCategory] = mapped_column(_enum(AlertCategory), default=AlertCategory.security)
    sub_category: Mapped[str | None] = mapped_column(String(64))
    matter_type_id: Mapped[int | None] = mapped_column(ForeignKey("matter_type.id", ondelete="RESTRICT"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    matter_type: Mapped[MatterType | None] = relationship()


class RuleState(Base):
    """What a duration or rate rule remembers of a device between readings."""

    __tablename__ = "alarm_rule_state"

    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alarm_rule.id", ondelete="CASCADE"), primary_key=True)
    condition_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_value: Mapped[float | None] = mapped_column(Float)
    last_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Alarm(Base):
    """An alarm (NGSI-LD Alert): raised → updated (count, last value) → cleared; one open per device and type.

    A raised alarm opens one case through intake; repeats update it and clearing adds a note, but never closes
    the case: a person verifies.
    """

    __tablename__ = "alarm"
    __table_args__ = (
        # NOTE: at most one raised alarm per device and alarm type (partial unique index, SQLite and PostgreSQL).
        Index(
            "uq_alarm_open",
            "device_id",
            "alarm_type",
            unique=True,
            sqlite_where=text("state = 'raised'"),
            postgresql_where=text("state = 'raised'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="RESTRICT"), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alarm_rule.id", ondelete="SET NULL"))
    alarm_type: Mapped[str] = mapped_column(String(64))
    state: Mapped[AlarmState] = mapped_column(_enum(AlarmState), index=True)
    severity: Mapped[Severity] = mapped_column(_enum(Severity))
    category: Mapped[AlertCategory] = mapped_column(_enum(AlertCategory))
    sub_category: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_value: Mapped[float | None] = mapped_column(Float)
    last_value: Mapped[float | None] = mapped_column(Float)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="RESTRICT"), index=True)

    device: Mapped[Device] = relationship()
