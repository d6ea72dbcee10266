"""Enumerations of the device side of the three-network fusion (物联感知): devices, rules, alarms."""

from enum import StrEnum


class DeviceCategory(StrEnum):
    """NGSI-LD / Smart Data Models `Device.category` (the values a district's devices use)."""

    sensor = "sensor"
    meter = "meter"
    actuator = "actuator"
    multimedia = "multimedia"
    network = "network"


class DeviceState(StrEnum):
    """Where a device stands (its NGSI-LD `deviceState`)."""

    normal = "normal"
    alarm = "alarm"  # an alarm of it is raised
    offline = "offline"  # nothing heard within its offline rule's time
    maintenance = "maintenance"  # taken out of service by its owner: no alarms
    retired = "retired"


class RuleKind(StrEnum):
    """How an alarm rule judges a device's readings."""

    threshold = "threshold"  # a reading crosses a value
    duration = "duration"  # the threshold condition holds for at least `duration_s`
    rate = "rate"  # the value changes faster than `rate_per_min` (absolute units per minute)
    offline = "offline"  # no message within `offline_after_s`


class Operator(StrEnum):
    """The comparison of a threshold rule."""

    gt = ">"
    ge = ">="
    lt = "<"
    le = "<="


class Severity(StrEnum):
    """NGSI-LD Alert `severity`."""

    informational = "informational"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class AlertCategory(StrEnum):
    """NGSI-LD Alert `category` (Smart Data Models)."""

    traffic = "traffic"
    natural_disaster = "naturalDisaster"
    weather = "weather"
    environment = "environment"
    health = "health"
    security = "security"
    agriculture = "agriculture"


class AlarmState(StrEnum):
    """The life of an alarm: raised, updated by repeats (count, last value), cleared."""

    raised = "raised"
    cleared = "cleared"
