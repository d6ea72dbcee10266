"""Tables of triage: the versioned classifier models (one active for intake) and the discovered hotspots."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Enum, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.core.db import Base
from gridgov.core.models import PortableJSON, TimestampMixin, UTCDateTime
from gridgov.domains.triage.enums import HotspotStatus, LabelTarget


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=24)


class TriageModel(TimestampMixin, Base):
    """One version of the classifier: the model file's bytes, its metadata, and whether intake uses it.

    The bytes live in the database so every app process and worker loads the same model; `sha256` is checked on
    every load. At most one row is active (a partial unique index).
    """

    __tablename__ = "triage_model"
    __table_args__ = (
        Index(
            "uq_triage_model_active",
            "is_active",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label_target: Mapped[LabelTarget] = mapped_column(_enum(LabelTarget), default=LabelTarget.matter_type)
    meta: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size_bytes: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    added_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    activated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class Hotspot(TimestampMixin, Base):
    """A cluster of similar cases found over a time window (高频事项), kept across refreshes by member overlap."""

    __tablename__ = "triage_hotspot"
    __table_args__ = (Index("ix_triage_hotspot_status_heat", "status", "heat"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[HotspotStatus] = mapped_column(_enum(HotspotStatus), default=HotspotStatus.open)
    title: Mapped[str] = mapped_column(String(200))
    keywords: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    size: Mapped[int] = mapped_column(Integer)
    heat: Mapped[float] = mapped_column(Float)
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    member_case_ids: Mapped[list[int]] = mapped_column(PortableJSON, default=list)
    # [[lng, lat], ...] of the located members (WGS84); the centre is their mean, None when none is located.
    locations: Mapped[list[list[float]]] = mapped_column(PortableJSON, default=list)
    lng: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    matter_type_id: Mapped[int | None] = mapped_column(ForeignKey("matter_type.id"))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    # The heat score's parts (size, supporters, growth, concentration) so the ranking can be explained.
    details: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"))
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
