"""Enumerations of triage."""

from __future__ import annotations

from enum import StrEnum


class LabelTarget(StrEnum):
    """What a model's labels name: matter types (事项) or handling units (承办单位)."""

    matter_type = "matter_type"
    unit = "unit"


class HotspotStatus(StrEnum):
    """Where a discovered hotspot (高频事项) stands."""

    open = "open"  # found by the last refresh, not yet acted on
    escalated = "escalated"  # turned into one supervised case
    dismissed = "dismissed"  # a dispatcher judged it not a real hotspot
