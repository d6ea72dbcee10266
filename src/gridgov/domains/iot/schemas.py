"""Pydantic shapes of the device registry: the config file (device types, alarm rules), device rows, API models.

The config file (YAML or XLSX) is what a district maintains: its device types with their controlled properties
and units, and its alarm rules per device type (or per device, overriding the type's rule of the same code).
Device files (XLSX, CSV, GeoJSON) list the devices themselves, one row or Point feature each.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

from gridgov.core.geo import Crs
from gridgov.domains.catalog.schemas import (
    FileModel,
    Flag,
    SectionCount,  # the catalogue's import counts
)
from gridgov.domains.iot.enums import (
    AlarmState,
    AlertCategory,
    DeviceCategory,
    DeviceState,
    Operator,
    RuleKind,
    Severity,
)

PROPERTY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
"""A controlled property's name: it is a key of telemetry payloads and an NGSI-LD attribute, so no spaces."""

# NGSI-LD Alert `subCategory` values of the Smart Data Models Alert schema (dataModel.Alert, Alert/schema.json).
ALERT_SUB_CATEGORIES: frozenset[str] = frozenset(
    """trafficJam carAccident carWrongDirection carStopped pothole roadClosed roadWorks hazardOnRoad injuredBiker
    pedestrianOnRoad bikerOnRoad tramApproaching crowdRisk flood tsunami coastalEvent earthquake rainfall
    highTemperature lowTemperature lowHumidity highHumidity highAtmosphericPressure losAtmosphericPressure heatWave
    coldWave ice snow wind fog tornado tropicalCyclone hurricane snow/ice badSeaState thunderstorms fireRisk
    avalancheRisk floodRisk airPollution waterPollution pollenConcentration asthmaAttack bumpedPatient fallenPatient
    heartAttack suspiciousAction robbery assault civilDisorder buildingFire forestFire noxiousWeed snail insect
    rodent bacteria microbe fungus mite virus nematodes irrigation fertilisation""".split()
)

# The fields each rule kind needs, and the ones it may carry besides (every other measure is an error).
KIND_REQUIRED: dict[RuleKind, tuple[str, ...]] = {
    RuleKind.threshold: ("property", "operator", "threshold"),
    RuleKind.duration: ("property", "operator", "threshold", "duration_s"),
    RuleKind.rate: ("property", "rate_per_min"),
    RuleKind.offline: ("offline_after_s",),
}
KIND_OPTIONAL: dict[RuleKind, tuple[str, ...]] = {
    RuleKind.threshold: ("clear_threshold",),
    RuleKind.duration: ("clear_threshold",),
    RuleKind.rate: (),
    RuleKind.offline: (),
}
MEASURES: tuple[str, ...] = (
    "property",
    "operator",
    "threshold",
    "clear_threshold",
    "duration_s",
    "rate_per_min",
    "offline_after_s",
)

DEVICE_CATEGORY_LABELS_ZH = {
    DeviceCategory.sensor: "传感器",
    DeviceCategory.meter: "计量表",
    DeviceCategory.actuator: "执行器",
    DeviceCategory.multimedia: "多媒体",
    DeviceCategory.network: "网络设备",
}
RULE_KIND_LABELS_ZH = {
    RuleKind.threshold: "阈值",
    RuleKind.duration: "持续",
    RuleKind.rate: "变化率",
    RuleKind.offline: "离线",
}
SEVERITY_LABELS_ZH = {
    Severity.informational: "提示",
    Severity.low: "低",
    Severity.medium: "中",
    Severity.high: "高",
    Severity.critical: "严重",
}
DEVICE_STATE_LABELS_ZH = {
    DeviceState.normal: "正常",
    DeviceState.alarm: "告警",
    DeviceState.offline: "离线",
    DeviceState.maintenance: "维护",
    DeviceState.retired: "停用",
}
_OPERATOR_ALIASES = {
    "gt": ">",
    "ge": ">=",
    "lt": "<",
    "le": "<=",
    "＞": ">",
    "≥": ">=",
    "＞=": ">=",
    "<": "<",
    "＜": "<",
    "≤": "<=",
    "＜=": "<=",
    "=>": ">=",
    "=<": "<=",
}


def _enum_alias(enum: type[StrEnum], labels: dict[Any, str] | None = None) -> BeforeValidator:
    """Accepts an enum value in any letter case or with underscores for camelCase, or its Chinese label."""
    by_text = {label.casefold(): member.value for member, label in (labels or {}).items()}
    by_text.update({member.value.casefold(): member.value for member in enum})
    by_text.update({member.name.casefold(): member.value for member in enum})

    def convert(value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            return by_text.get(text.casefold(), value)
        return value

    return BeforeValidator(convert)


def _operator(value: object) -> object:
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        return _OPERATOR_ALIASES.get(text.casefold(), text)
    return value


def parse_properties(value: object) -> object:
    """Accepts {prop: unit}, or text such as "tilt:°, battery:%" (an XLSX cell); a property may have no unit."""
    if value is None:
        return {}
    if isinstance(value, str):
        properties: dict[str, str] = {}
        for part in re.split(r"[,，;；\n]", value):
            part = part.strip()
            if not part:
                continue
            name, _, unit = re.split(r"([:：=])", part, maxsplit=1) if re.search(r"[:：=]", part) else (part, "", "")
            name = name.strip()
            if name in properties:
                raise ValueError(f"property {name!r} is listed twice")
            properties[name] = unit.strip()
        return properties
    if isinstance(value, dict):
        return {str(k).strip(): "" if v is None else str(v).strip() for k, v in value.items()}
    return value


def format_properties(properties: dict[str, str]) -> str:
    """Formats {prop: unit} as the XLSX cell text parse_properties reads back ("tilt:°, battery:%")."""
    return ", ".join(f"{name}:{unit}" if unit else name for name, unit in properties.items())


def _check_properties(value: dict[str, str]) -> dict[str, str]:
    if not value:
        raise ValueError("a device type needs at least one controlled property")
    for name, unit in value.items():
        if not PROPERTY_RE.match(name):
            raise ValueError(
                f"property name {name!r}: use letters, digits and _ (starting with a letter), e.g. waterLevel"
            )
        if len(unit) > 20:
            raise ValueError(f"unit {unit!r} of {name!r} is longer than 20 characters")
    return value


def _check_sub_category(value: str) -> str:
    if value not in ALERT_SUB_CATEGORIES:
        raise ValueError(
            f"{value!r} is not an NGSI-LD Alert subCategory of the Smart Data Models (e.g. flood, fireRisk, "
            "airPollution, hazardOnRoad, buildingFire); leave it empty when none fits"
        )
    return value


DeviceCategoryIn = Annotated[DeviceCategory, _enum_alias(DeviceCategory, DEVICE_CATEGORY_LABELS_ZH)]
RuleKindIn = Annotated[RuleKind, _enum_alias(RuleKind, RULE_KIND_LABELS_ZH)]
SeverityIn = Annotated[Severity, _enum_alias(Severity, SEVERITY_LABELS_ZH)]
AlertCategoryIn = Annotated[AlertCategory, _enum_alias(AlertCategory)]
OperatorIn = Annotated[Operator, BeforeValidator(_operator)]
Properties = Annotated[dict[str, str], BeforeValidator(parse_properties), AfterValidator(_check_properties)]
SubCategory = Annotated[str, Field(max_length=64), AfterValidator(_check_sub_category)]
CrsIn = Annotated[Crs, _enum_alias(Crs, {Crs.wgs84: "WGS-84", Crs.gcj02: "GCJ-02", Crs.bd09: "BD-09"})]

CONFIG_SECTIONS: tuple[str, ...] = ("device_types", "rules")


class DeviceTypeIn(FileModel):
    """A device type as written in a config file: its controlled properties map to their units."""

    code: str = Field(min_length=1, max_length=64, pattern=r"^\S+$")
    name: str = Field(min_length=1, max_length=100)
    name_en: str | None = Field(None, max_length=100)
    category: DeviceCategoryIn = DeviceCategory.sensor
    properties: Annotated[Properties, Field(description="controlled property → unit ({tilt: °})")]


class RuleIn(FileModel):
    """An alarm rule as written in a config file; which measures it needs depends on its kind.

    `device_type` names the type it applies to; `device` instead names one device, whose rule of the same code
    then replaces the type's (is_active: no switches the type's rule off for that device).
    """

    code: str = Field(min_length=1, max_length=64, pattern=r"^\S+$", description="the alarm type: tilt, offline ...")
    name: str = Field(min_length=1, max_length=200)
    device_type: str | None = Field(None, description="code of the device type the rule applies to")
    device: str | None = Field(None, description="code of one device: a per-device override")
    kind: RuleKindIn
    property: str | None = Field(None, max_length=64)
    operator: OperatorIn | None = None
    threshold: float | None = None
    clear_threshold: float | None = Field(None, description="hysteresis: the alarm clears only past this value")
    duration_s: float | None = Field(None, gt=0, description="how long the condition must hold (duration rules)")
    rate_per_min: float | None = Field(None, gt=0, description="absolute change per minute (rate rules)")
    offline_after_s: float | None = Field(None, gt=0, description="silence after which a device is offline")
    severity: SeverityIn = Severity.medium
    category: AlertCategoryIn = AlertCategory.security
    sub_category: SubCategory | None = None
    matter_type: str | None = Field(None, max_length=32, description="catalogue matter type code of its cases")
    is_active: Flag = True


class IotConfigDocument(FileModel):
    """A whole IoT config file. Both sections are optional; an import upserts what the file contains."""

    version: int = Field(1, ge=1, le=1, description="file format version")
    device_types: list[DeviceTypeIn] = []
    rules: list[RuleIn] = []

    # Where each item came from ("iot.xlsx sheet rules row 5"), so the checks against the database name the row.
    _locations: dict[tuple[str, int], str] = PrivateAttr(default_factory=dict)

    def set_location(self, section: str, index: int, where: str) -> None:
        """Records where item `index` of `section` was read from."""
        self._locations[(section, index)] = where

    def location(self, section: str, index: int) -> str | None:
        """Returns where item `index` of `section` was read from, if known."""
        return self._locations.get((section, index))

    def __eq__(self, other: object) -> bool:
        # NOTE: two documents with the same content are equal wherever they were read from.
        if not isinstance(other, IotConfigDocument):
            return NotImplemented
        return self.model_dump() == other.model_dump()


class DeviceIn(FileModel):
    """One device as a file row, a GeoJSON feature or the body of POST /iot/devices (create or update by code).

    `lng`/`lat` are in `crs` (WGS84 unless given); the device is stored in WGS84 on the grid that contains it.
    """

    code: str = Field(min_length=1, max_length=64, pattern=r"^\S+$", description="the id the device reports under")
    serial: str | None = Field(None, max_length=100)
    name: str | None = Field(None, max_length=200)
    type: str = Field(min_length=1, max_length=64, description="device type code")
    owner: str | None = Field(None, max_length=64, description="code of the owner unit (权属单位)")
    address: str | None = Field(None, max_length=300)
    installed_at: dt.datetime | None = Field(None, description="ISO date or time; local time if without offset")
    lng: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: CrsIn = Crs.wgs84


class DeviceStateChange(BaseModel):
    """Body of POST /iot/devices/{code}/state: take a device out of service, retire it, or put it back."""

    model_config = ConfigDict(extra="forbid")

    state: DeviceState = Field(description="maintenance, retired or normal")
    note: str | None = Field(None, max_length=500)


# --- Import reports ---------------------------------------------------------------------------------------------


class ConfigReport(BaseModel):
    """What a config import did, section by section."""

    source: str
    device_types: SectionCount = Field(default_factory=SectionCount)
    rules: SectionCount = Field(default_factory=SectionCount)


class DeviceImportReport(BaseModel):
    """What a device import did."""

    source: str
    devices: SectionCount = Field(default_factory=SectionCount)


# --- API read models --------------------------------------------------------------------------------------------


class DeviceTypeRead(BaseModel):
    """A device type as the API lists it."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_en: str | None
    category: DeviceCategory
    properties: dict[str, str]


class RuleRead(BaseModel):
    """An alarm rule as the API lists it; `device_type` or `device` is the code it applies to."""

    code: str
    name: str
    device_type: str | None
    device: str | None
    kind: RuleKind
    property: str | None
    operator: Operator | None
    threshold: float | None
    clear_threshold: float | None
    duration_s: float | None
    rate_per_min: float | None
    offline_after_s: float | None
    severity: Severity
    category: AlertCategory
    sub_category: str | None
    matter_type: str | None
    is_active: bool


class DeviceRead(BaseModel):
    """A device as the API lists it: type, owner and grid as codes, its state and latest values."""

    code: str
    serial: str | None
    name: str | None
    type: str
    type_name: str
    category: DeviceCategory
    owner: str | None
    owner_name: str | None
    lng: float
    lat: float
    address: str | None
    grid: str | None
    area_path: str
    state: DeviceState
    battery: float | None
    last_values: dict[str, float]
    last_reading_at: dt.datetime | None
    last_seen_at: dt.datetime | None
    installed_at: dt.datetime | None


class AlarmRead(BaseModel):
    """An alarm (NGSI-LD Alert shape: category, subCategory, severity) as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    alarm_type: str
    state: AlarmState
    severity: Severity
    category: AlertCategory
    sub_category: str | None
    description: str
    count: int
    first_value: float | None
    last_value: float | None
    raised_at: dt.datetime
    updated_at: dt.datetime
    cleared_at: dt.datetime | None
    case_id: int | None


class DeviceDetail(DeviceRead):
    """One device with its type's units, the rules that apply to it and its open alarms."""

    properties: dict[str, str]
    rules: list[RuleRead]
    open_alarms: list[AlarmRead]
