"""Enumerations of evaluation."""

from __future__ import annotations

from enum import StrEnum


class Dimension(StrEnum):
    """What base counts and indicators are grouped by (评价对象)."""

    district = "district"
    street = "street"
    community = "community"
    grid = "grid"
    unit = "unit"  # 部门: the handling unit
    person = "person"  # 岗位: the acting user (reporter, verifier, dispatcher ...)
    matter_class = "matter_class"  # 大类 of the matter type
    matter_type = "matter_type"
    channel = "channel"


class EvaluationObject(StrEnum):
    """The three objects of GB/T 30428.4: areas, departments, posts."""

    area = "area"
    department = "department"
    post = "post"


class Direction(StrEnum):
    """Whether a higher indicator value is better."""

    higher = "higher"
    lower = "lower"


class CampaignStatus(StrEnum):
    """A special supervision campaign (专项督查) runs, then is closed."""

    active = "active"
    closed = "closed"


class BulletinFormat(StrEnum):
    """The files a bulletin (通报) is written as."""

    xlsx = "xlsx"
    html = "html"
    pdf = "pdf"
