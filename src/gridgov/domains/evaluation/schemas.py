"""Pydantic shapes of the evaluation API (one marked section per part: indicators and rankings, bulletins and
ledgers, campaigns, dashboard)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# --- indicators and rankings -------------------------------------------------------------------------------------


# IndicatorCreate is the body of POST /evaluation/indicators; IndicatorUpdate of PUT /evaluation/indicators/{code}
# (only the fields given change); IndicatorRead what the list returns. Direction, objects, unit and score are
# checked by evaluation.indicators.check, so a bad one is refused with the same reasons as in a YAML import.
class IndicatorCreate(BaseModel):
    """A new indicator: a formula over base counts, its direction, weight, sample and score."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Lower-case identifier, e.g. closure_rate.")
    name: str = Field(description="中文名, e.g. 结案率.")
    name_en: str
    objects: list[str] = Field(description="area (区域), department (部门), post (岗位).")
    formula: str = Field(description="Arithmetic over base counts, e.g. closed_on_time / due.")
    direction: str = Field("higher", description="higher or lower (is better).")
    weight: float = Field(0.0, description="Share of the object's composite score; 0: shown, not scored.")
    sample: str | None = Field(None, description="The base count that is a key's sample size, e.g. due.")
    min_sample: int = Field(0, description="Below this sample a key is listed, not ranked.")
    when_zero: float | None = Field(
        None, description="Value when a denominator is 0; null: not rated. Required (even null) for a division."
    )
    unit: str = Field("%", description="%, count, per10k or hours.")
    score: dict[str, Any] = Field(
        default_factory=dict, description="{kind: linear} or {kind: ladder, steps: [[below, points], ...], else: 0}."
    )
    description: str | None = None
    position: int | None = Field(None, description="Display order; default: after the others.")
    is_active: bool = True


class IndicatorUpdate(BaseModel):
    """Changes to an indicator; the result is checked whole. A new division needs when_zero in the same change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    name_en: str | None = None
    objects: list[str] | None = None
    formula: str | None = None
    direction: str | None = None
    weight: float | None = None
    sample: str | None = None
    min_sample: int | None = None
    when_zero: float | None = None
    unit: str | None = None
    score: dict[str, Any] | None = None
    description: str | None = None
    position: int | None = None
    is_active: bool | None = None


class IndicatorRead(BaseModel):
    """An indicator as stored (or shipped, while none is stored)."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_en: str
    objects: list[str]
    formula: str
    direction: str
    weight: float
    sample: str | None
    min_sample: int
    when_zero: float | None
    unit: str
    score: dict[str, Any]
    description: str | None
    position: int
    is_active: bool


class RankingIndicatorRead(BaseModel):
    """An indicator as a column of a ranking."""

    code: str
    name: str
    name_en: str
    unit: str
    direction: str
    weight: float
    sample: str | None
    min_sample: int


class RankRowRead(BaseModel):
    """One key of a ranking. rank null and ranked false: listed, not ranked (样本不足, or no composite)."""

    model_config = ConfigDict(from_attributes=True)

    key: str
    label: str
    values: dict[str, float | None] = Field(description="Indicator code → value (rates as 0–1).")
    scores: dict[str, float | None] = Field(description="Indicator code → points 0–100 (null: not scored).")
    composite: float | None
    rank: int | None
    ranked: bool
    sample: int = Field(description="The sample count of the key's lead indicator.")
    min_sample: int
    short: list[str] = Field(description="Indicators shown but not scored: their sample is below their minimum.")
    previous_composite: float | None
    change: float | None = Field(description="Composite minus the previous period's.")
    previous_rank: int | None
    rank_change: int | None = Field(description="Previous rank minus rank: positive = moved up.")
    counts: dict[str, float]


class RankingRead(BaseModel):
    """GET /evaluation/rankings."""

    period: str
    start: dt.datetime
    end: dt.datetime
    previous_period: str | None
    dimension: str
    object: str | None
    scope_code: str | None
    indicators: list[RankingIndicatorRead]
    rows: list[RankRowRead]

    @classmethod
    def of(cls, ranking: Any, *, scope_code: str | None = None) -> RankingRead:
        """Returns the read model of a service.Ranking."""
        return cls(
            period=ranking.period.label,
            start=ranking.period.start,
            end=ranking.period.end,
            previous_period=ranking.previous_period.label if ranking.previous_period else None,
            dimension=str(ranking.dimension),
            object=str(ranking.object) if ranking.object else None,
            scope_code=scope_code,
            indicators=[
                RankingIndicatorRead(
                    code=d.code,
                    name=d.name,
                    name_en=d.name_en,
                    unit=d.unit,
                    direction=str(d.direction),
                    weight=d.weight,
                    sample=d.sample,
                    min_sample=d.min_sample,
                )
                for d in ranking.indicators
            ],
            rows=[RankRowRead.model_validate(row) for row in ranking.rows],
        )


class BaseCountRead(BaseModel):
    """A base count: its name, Chinese and English labels, and definition."""

    name: str
    zh: str
    en: str
    description: str


class CountRowRead(BaseModel):
    """One key of the base counts table."""

    key: str
    label: str
    population: int | None
    counts: dict[str, float]


class CountTableRead(BaseModel):
    """GET /evaluation/counts: the base counts of a period by a dimension."""

    period: str
    start: dt.datetime
    end: dt.datetime
    dimension: str
    scope_code: str | None
    counts: list[BaseCountRead]
    rows: list[CountRowRead]

    @classmethod
    def of(cls, table: Any, base_counts: Iterable[Any], *, scope_code: str | None = None) -> CountTableRead:
        """Returns the read model of a counts.CountTable (every key with counts, quiet areas too)."""
        return cls(
            period=table.period.label,
            start=table.period.start,
            end=table.period.end,
            dimension=str(table.dimension),
            scope_code=scope_code,
            counts=[BaseCountRead(name=c.name, zh=c.zh, en=c.en, description=c.description) for c in base_counts],
            rows=[
                CountRowRead(
                    key=key,
                    label=table.label(key),
                    population=table.population.get(key),
                    counts=dict(table.rows.get(key, {})),
                )
                for key in (table.keys() if table.rows else [])
            ],
        )


class StaffingRead(BaseModel):
    """An area's community workers against the staffing standard (per 10,000 residents)."""

    code: str
    name: str
    level: str
    staff: int
    population: int | None
    per_10k: float | None
    standard: float
    short_by: int

    @classmethod
    def of(cls, row: Any) -> StaffingRead:
        """Returns the read model of a service.StaffingRow."""
        return cls(
            code=row.area.code,
            name=row.area.name,
            level=str(row.area.level),
            staff=row.staff,
            population=row.population,
            per_10k=row.per_10k,
            standard=row.standard,
            short_by=row.short_by,
        )


# --- bulletins and ledgers ---------------------------------------------------------------------------------------


# BulletinCreate is the body of POST /evaluation/bulletins; BulletinRead what it and the list return (the file
# itself is GET /evaluation/bulletins/{id}).
class BulletinCreate(BaseModel):
    """A bulletin (通报) to generate: a period, the level it ranks, the formats to write."""

    model_config = ConfigDict(extra="forbid")

    period: str = Field(min_length=1, max_length=32, description="2026-11, 2026-Q4, 2026 or 2026-11-01..2026-11-15")
    level: str = Field("street", description="the areas ranked: street, community or grid (street users: below)")
    formats: list[str] = Field(
        default_factory=lambda: ["xlsx", "html"], min_length=1, max_length=3, description="xlsx, html, pdf"
    )


class CampaignBulletinCreate(BaseModel):
    """A campaign's bulletin (专项督查通报) to generate: its cases only, by default over the campaign's own dates."""

    model_config = ConfigDict(extra="forbid")

    period: str | None = Field(
        None,
        min_length=1,
        max_length=32,
        description="2026-11, 2026-Q4 or 2026-11-01..2026-11-15; default: the campaign's first day to today "
        "(to its closing day once closed)",
    )
    level: str = Field("street", description="the areas ranked: street, community or grid (street users: below)")
    formats: list[str] = Field(
        default_factory=lambda: ["xlsx", "html"], min_length=1, max_length=3, description="xlsx, html, pdf"
    )


class BulletinRead(BaseModel):
    """A stored bulletin file (without its bytes)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    period: str
    scope: str
    format: str
    filename: str
    content_type: str
    sha256: str
    size_bytes: int
    campaign_id: int | None
    generated_by_user_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    url: str = ""


# --- campaigns ---------------------------------------------------------------------------------------------------

CAMPAIGN_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


# CampaignCreate is the body of POST /evaluation/campaigns; CampaignUpdate of PATCH (only the fields given change);
# CampaignRead what the list and the detail return.
class CampaignCreate(BaseModel):
    """A new special supervision campaign (专项督查): scope, period and targets."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=CAMPAIGN_CODE_PATTERN, description="e.g. 2026-zdjy")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    matter_type_codes: list[str] = Field(
        default_factory=list, max_length=500, description="Matter types in scope; empty: every type."
    )
    area_codes: list[str] = Field(
        default_factory=list, max_length=500, description="Areas in scope (with their subtrees); empty: the district."
    )
    starts_at: dt.datetime = Field(description="First moment of the period; without an offset: district time.")
    ends_at: dt.datetime = Field(description="End of the period (exclusive); without an offset: district time.")
    targets: dict[str, float] = Field(
        default_factory=dict, description="Indicator code → target value in the indicator's unit (rates: 0.95)."
    )


class CampaignUpdate(BaseModel):
    """Changes to an active campaign; a changed scope re-tags its cases."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    matter_type_codes: list[str] | None = Field(None, max_length=500)
    area_codes: list[str] | None = Field(None, max_length=500)
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    targets: dict[str, float] | None = None


class CampaignRead(BaseModel):
    """A campaign with how many cases it holds."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    description: str | None
    matter_type_codes: list[str]
    area_codes: list[str]
    starts_at: dt.datetime
    ends_at: dt.datetime
    targets: dict[str, float]
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    cases: int = 0


class CampaignCaseRead(BaseModel):
    """The answer to tagging a case by hand."""

    campaign: str
    case_id: int
    tagged: bool = Field(description="False when the case was in the campaign already.")


class DayCountRead(BaseModel):
    """Cases received and closed on one local day."""

    model_config = ConfigDict(from_attributes=True)

    day: dt.date
    received: int
    closed: int


class TargetStatusRead(BaseModel):
    """A target of a campaign: the indicator's value over the campaign's cases and whether it is met."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_en: str
    unit: str
    direction: str
    target: float
    value: float | None
    met: bool | None = Field(description="None: no value yet (e.g. nothing due).")


class ProgressRowRead(BaseModel):
    """A campaign's figures in one street."""

    model_config = ConfigDict(from_attributes=True)

    key: str
    label: str
    cases: int
    open: int
    overdue: int
    counts: dict[str, int]
    values: dict[str, float | None]
    met: dict[str, bool | None]


class CampaignProgressRead(BaseModel):
    """GET /evaluation/campaigns/{code}/progress."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    status: str
    period: str
    start: dt.datetime
    end: dt.datetime
    cases: int
    open: int
    overdue: int
    counts: dict[str, int]
    targets: list[TargetStatusRead]
    streets: list[ProgressRowRead]
    daily: list[DayCountRead]


# --- dashboard ---------------------------------------------------------------------------------------------------


class ChannelTodayRead(BaseModel):
    """Today's figures of one channel (channel null: all channels)."""

    model_config = ConfigDict(from_attributes=True)

    channel: str | None
    received: int
    registered: int
    dispatched: int
    closed: int
    open: int
    overdue: int
    warnings: int


class StageCountRead(BaseModel):
    """A stage and a number of cases."""

    model_config = ConfigDict(from_attributes=True)

    stage: str
    count: int


class MatterCountRead(BaseModel):
    """A matter type and the cases received of it."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    count: int


class DashboardRankingRow(BaseModel):
    """A row of this month's ranking (rank null and ranked false: listed, too few cases to rank)."""

    model_config = ConfigDict(from_attributes=True)

    key: str
    label: str
    composite: float | None
    rank: int | None
    ranked: bool
    sample: int
    change: float | None


class OverdueCaseRead(BaseModel):
    """An open case past its deadline in force."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    title: str
    channel: str
    stage: str
    matter_type: str | None
    street: str | None
    unit: str | None
    due_at: dt.datetime
    hours_overdue: float


class HotspotSummaryRead(BaseModel):
    """An open hotspot (高频事项)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    size: int
    heat: float
    street: str | None


class DashboardRead(BaseModel):
    """GET /evaluation/dashboard: the operation centre's figures for the caller's area."""

    model_config = ConfigDict(from_attributes=True)

    scope_code: str | None
    scope_name: str
    generated_at: dt.datetime
    day: dt.date
    today: list[ChannelTodayRead]
    today_total: ChannelTodayRead
    open_by_stage: list[StageCountRead]
    trend: list[DayCountRead]
    funnel: list[StageCountRead]
    top_matter_types: list[MatterCountRead]
    ranking_period: str
    ranking_dimension: str
    ranking: list[DashboardRankingRow]
    overdue: list[OverdueCaseRead]
    overdue_total: int
    alarms_open: int | None = Field(description="Open device alarms; null when the role may not see devices.")
    hotspots: list[HotspotSummaryRead] | None = Field(description="Top open hotspots; null without triage.view.")
    from_cache: bool = Field(description="Served from this process's cache (dashboard_cache_s).")
