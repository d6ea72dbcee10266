"""Tables of evaluation: indicators (data, editable without code), campaigns and their cases, bulletin files."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Enum, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.core.db import Base
from gridgov.core.models import PortableJSON, TimestampMixin, UTCDateTime
from gridgov.domains.evaluation.enums import BulletinFormat, CampaignStatus, Direction


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=24)


class Indicator(TimestampMixin, Base):
    """One evaluation indicator (评价指标): a formula over base counts, its direction, weight and minimum sample.

    `formula` is arithmetic over base count names (see counts.BASE_COUNTS), e.g. "closed_on_time / due";
    a division needs `when_zero` (the value when the denominator is 0; None: no value, the unit is not rated).
    `sample` names the base count that is the unit's sample size; below `min_sample` it is listed, not ranked.
    `score` turns the value into 0–100 points for the composite: {"kind": "linear"} (a rate: 100·v, or 100·(1−v)
    when lower is better) or {"kind": "ladder", "steps": [[upper bound, points], ...], "else": points}.
    """

    __tablename__ = "evaluation_indicator"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))  # 中文名
    name_en: Mapped[str] = mapped_column(String(200))
    objects: Mapped[list[str]] = mapped_column(PortableJSON, default=list)  # area / department / post
    formula: Mapped[str] = mapped_column(Text)
    direction: Mapped[Direction] = mapped_column(_enum(Direction), default=Direction.higher)
    weight: Mapped[float] = mapped_column(Float, default=0.0)  # share of the composite score (0 = not scored)
    sample: Mapped[str | None] = mapped_column(String(64))
    min_sample: Mapped[int] = mapped_column(Integer, default=0)
    when_zero: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16), default="%")  # how it is shown: %, count, per10k, hours
    score: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    description: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Campaign(TimestampMixin, Base):
    """A special supervision campaign (专项督查): a scope (matter types, areas, period), targets, its cases."""

    __tablename__ = "evaluation_campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    matter_type_codes: Mapped[list[str]] = mapped_column(PortableJSON, default=list)  # empty: every type
    area_codes: Mapped[list[str]] = mapped_column(PortableJSON, default=list)  # empty: the whole district
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    targets: Mapped[dict[str, float]] = mapped_column(PortableJSON, default=dict)  # indicator code → target
    status: Mapped[CampaignStatus] = mapped_column(_enum(CampaignStatus), default=CampaignStatus.active)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class CampaignCase(Base):
    """A case counted in a campaign: tagged by its scope automatically, or by hand."""

    __tablename__ = "evaluation_campaign_case"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("evaluation_campaign.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="RESTRICT"), primary_key=True, index=True)
    tagged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    tagged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # None: by the campaign's scope


class Bulletin(TimestampMixin, Base):
    """A generated bulletin file (通报): one per period (or campaign), scope and format, kept for download.

    The unique key makes the scheduled generation idempotent across worker processes.
    """

    __tablename__ = "evaluation_bulletin"
    __table_args__ = (UniqueConstraint("period", "scope", "format"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(32))  # 2026-11, 2026-Q4, 2026, or 2026-11-01..2026-11-15
    scope: Mapped[str] = mapped_column(String(64))  # "street", "community", ... or "campaign:<code>"
    format: Mapped[BulletinFormat] = mapped_column(_enum(BulletinFormat))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("evaluation_campaign.id", ondelete="SET NULL"))
    generated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # None: the schedule
