"""Shapes of the 12345 hotline channel: a work order as the hotline platform pushes it, and what it reads back."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gridgov.config import get_settings
from gridgov.core.geo import Crs
from gridgov.domains.cases.enums import CaseStage, Satisfaction
from gridgov.domains.catalog.enums import Urgency
from gridgov.domains.catalog.schemas import CROSSWALK_SOURCE_12345

SOURCE = CROSSWALK_SOURCE_12345
"""The crosswalk source whose rows map the hotline's categories (诉求分类) to matter types."""

MAX_BATCH = 500

PHONE_PATTERN = r"^[0-9+\- ]{5,40}$"

# 2026-11-25 09:30[:00[.123]], 2026/11/25 9:30, 2026.11.25, 2026年11月25日 9时30分 ...; a date alone is midnight.
_TIME_RE = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2})[:时点](\d{1,2})(?:[:分](\d{1,2})(?:\.(\d{1,6}))?秒?)?分?)?$"
)

_URGENCY_TEXT = {
    "一般": Urgency.normal,
    "普通": Urgency.normal,
    "正常": Urgency.normal,
    "紧急": Urgency.urgent,
    "加急": Urgency.urgent,
    "急": Urgency.urgent,
    "较急": Urgency.urgent,
    "特急": Urgency.emergency,
    "特别紧急": Urgency.emergency,
    "非常紧急": Urgency.emergency,
}
_CRS_TEXT = {
    "wgs84": Crs.wgs84,
    "wgs-84": Crs.wgs84,
    "gps": Crs.wgs84,
    "gcj02": Crs.gcj02,
    "gcj-02": Crs.gcj02,
    "国测局": Crs.gcj02,
    "火星坐标": Crs.gcj02,
    "高德": Crs.gcj02,
    "bd09": Crs.bd09,
    "bd-09": Crs.bd09,
    "百度": Crs.bd09,
}
_SATISFACTION_TEXT = {
    "满意": Satisfaction.satisfied,
    "非常满意": Satisfaction.satisfied,
    "基本满意": Satisfaction.basically_satisfied,
    "不满意": Satisfaction.unsatisfied,
}


def parse_time(value: object) -> object:
    """Reads a time as hotline exports write it; a time without offset is the district's local time."""
    if isinstance(value, str):
        text = value.strip()
        match = _TIME_RE.match(text)
        if match:
            year, month, day, hour, minute, second, fraction = match.groups()
            try:
                value = dt.datetime(
                    int(year),
                    int(month),
                    int(day),
                    int(hour or 0),
                    int(minute or 0),
                    int(second or 0),
                    int((fraction or "0").ljust(6, "0")),
                )
            except ValueError as exc:
                raise ValueError(f"not a valid date: {text!r} ({exc})") from None
        else:
            try:
                value = dt.datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"not a date and time: {text!r} (expected e.g. 2026-11-25 09:30)") from None
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        # NOTE: hotline platforms and Excel write local wall time; the district's zone makes it an instant.
        value = value.replace(tzinfo=get_settings().tz)
    if isinstance(value, dt.datetime):
        return value
    raise ValueError(f"not a date and time: {value!r} (expected e.g. 2026-11-25 09:30)")


def _alias(table: dict[str, Any]) -> BeforeValidator:
    def convert(value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            return table.get(text, table.get(text.casefold(), text.casefold()))
        return value

    return BeforeValidator(convert)


LocalTime = Annotated[dt.datetime, BeforeValidator(parse_time)]
UrgencyIn = Annotated[Urgency, _alias(_URGENCY_TEXT)]
CrsIn = Annotated[Crs, _alias(_CRS_TEXT)]
SatisfactionIn = Annotated[Satisfaction, _alias(_SATISFACTION_TEXT)]


class HotlineOrder(BaseModel):
    """One 12345 work order (工单): pushed by the hotline platform, or one row of an exported file.

    The category is the hotline's own (诉求分类, code or name); the catalogue's crosswalk (source "12345") maps it
    to a matter type, unless `matter_type` names one. The location is either coordinates or, when the hotline has
    none, the code of the street, community or grid it determined (`area_code`).
    """

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    order_id: str = Field(min_length=1, max_length=100, description="the hotline's work-order id (工单编号)")
    category: str | None = Field(None, max_length=200, description="the hotline's category code or name (诉求分类)")
    matter_type: str | None = Field(None, max_length=32, description="our matter type code; overrides the category")
    title: str | None = Field(None, max_length=200, description="default: the start of the content")
    content: str = Field(min_length=1, max_length=4000, description="what the caller asks (诉求内容)")
    caller_name: str | None = Field(None, max_length=100, description="来电人 (personal data)")
    caller_phone: str | None = Field(None, max_length=40, pattern=PHONE_PATTERN, description="联系电话 (personal)")
    address: str | None = Field(None, max_length=300, description="事发地址")
    lng: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    crs: CrsIn = Field(Crs.wgs84, description="wgs84, gcj02 (AMap) or bd09 (Baidu)")
    area_code: str | None = Field(
        None, max_length=32, description="street, community or grid code, used when there are no coordinates"
    )
    urgency: UrgencyIn | None = Field(None, description="normal/urgent/emergency or 一般/紧急/特急")
    received_at: LocalTime | None = Field(None, description="受理时间; without an offset: the district's local time")
    deadline: LocalTime | None = Field(None, description="the hotline's own deadline (办理时限), recorded")

    @model_validator(mode="before")
    @classmethod
    def _drop_blanks(cls, data: Any) -> Any:
        # NOTE: "" from a form or an empty cell means "not given", so defaults and the optional checks apply.
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if v is not None and not (isinstance(v, str) and not v.strip())}
            if isinstance(data.get("caller_phone"), str) and "*" in data["caller_phone"]:
                # A masked number (138****5678), as exports often carry: nobody can call it back, so it is dropped.
                del data["caller_phone"]
        return data

    @property
    def has_coordinates(self) -> bool:
        """Whether the order carries coordinates (0, 0 is how many exports write "none")."""
        return self.lng is not None and self.lat is not None and (self.lng, self.lat) != (0.0, 0.0)


# --- what the hotline platform reads back ------------------------------------------------------------------


class OrderAccepted(BaseModel):
    """The answer to a push: the case the work order became, or already was (`created` false)."""

    order_id: str
    case_number: str
    created: bool
    stage: CaseStage
    matter_type: str
    matter_type_name: str
    handling_unit: str | None = Field(description="name of the unit the case was dispatched to, if any")
    grid: str | None = Field(description="code of the grid the case is in")
    located_by: str | None = Field(description="coordinates, or area (the area's representative point)")
    duplicates: list[str] = Field(default_factory=list, description="numbers of open cases that may be the same")


class ItemError(BaseModel):
    """Why one work order of a batch was refused."""

    code: str
    message: str
    field: str | None = None


class BatchItem(BaseModel):
    """The outcome of one work order of a batch, in the order sent."""

    index: int
    order_id: str | None
    case_number: str | None = None
    created: bool = False
    error: ItemError | None = None


class BatchResult(BaseModel):
    """The outcome of a batch: counts and one item per work order."""

    created: int = 0
    existing: int = 0
    failed: int = 0
    items: list[BatchItem] = Field(default_factory=list)


class StatusNote(BaseModel):
    """One public line of the case's history."""

    at: dt.datetime
    stage: CaseStage
    text: str


class OrderStatus(BaseModel):
    """A work order's case as the hotline may see it (from `cases.public.public_view`: no personal data)."""

    order_id: str
    case_number: str
    stage: CaseStage
    stage_label: str
    is_open: bool
    matter_type: str
    handling_unit: str | None = Field(description="the responsible unit (a public body)")
    reply: str | None = Field(description="the official answer (办理结果): the result once closed, or a ruling")
    reported_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    expected_at: dt.datetime | None = Field(description="the handling deadline in force")
    satisfaction: Satisfaction | None
    can_rate: bool
    notes: list[StatusNote]


class UpdatesPage(BaseModel):
    """Work orders whose case changed, oldest change first; poll again with `next`."""

    items: list[OrderStatus]
    next: str | None = Field(description="cursor for the next poll (pass as ?cursor=); null when nothing came")
    more: bool = Field(description="true when more changes are waiting right now")


class RatingIn(BaseModel):
    """The caller's satisfaction from the hotline's return visit (回访)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    satisfaction: SatisfactionIn
    note: str | None = Field(None, max_length=2000)


# --- file import --------------------------------------------------------------------------------------------


class RowError(BaseModel):
    """One problem of an imported row: the row number Excel shows, the column as the file names it."""

    row: int
    column: str | None
    order_id: str | None
    message: str


class ImportSummary(BaseModel):
    """What an import of a hotline export did (or, with dry_run, would do)."""

    source: str
    sheet: str | None = None
    dry_run: bool = False
    rows: int = Field(0, description="data rows read (blank rows skipped)")
    created: int = 0
    existing: int = Field(0, description="rows whose work order was already imported (no duplicate made)")
    failed: int = Field(0, description="rows refused; see errors")
    errors: list[RowError] = Field(default_factory=list)
    columns: dict[str, str] = Field(default_factory=dict, description="field → the file's column used for it")
    ignored_columns: list[str] = Field(default_factory=list)
