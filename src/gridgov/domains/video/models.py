"""Tables of video AI: algorithm platforms (sources), cameras, algorithm → matter type mappings, alarms, events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Enum, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.core.db import Base
from gridgov.core.models import PortableJSON, TimestampMixin, UTCDateTime
from gridgov.domains.catalog.models import MatterType
from gridgov.domains.video.enums import Feedback


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=24)


class VideoSource(TimestampMixin, Base):
    """An external video-AI platform that pushes alarms to the webhook, authenticated by its own secret.

    `secret` signs each webhook call (HMAC-SHA256 of timestamp and body); it is shown once when created.
    """

    __tablename__ = "video_source"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(128))
    fold_window_s: Mapped[float] = mapped_column(Float, default=600.0)  # same camera + algorithm → one alarm
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Camera(TimestampMixin, Base):
    """A camera: where it is and looks; its stream URL is kept as a reference (gridgov does not pull video)."""

    __tablename__ = "camera"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # the id the platforms use (国标编码 ...)
    name: Mapped[str] = mapped_column(String(200))
    lng: Mapped[float] = mapped_column()  # WGS84
    lat: Mapped[float] = mapped_column()
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(400), index=True)
    direction: Mapped[float | None] = mapped_column(Float)  # degrees clockwise from north
    stream_url: Mapped[str | None] = mapped_column(String(500))
    owner_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class AlgorithmMapping(TimestampMixin, Base):
    """An algorithm code (占道经营识别 ...) → the matter type of its cases; per source, or for every source."""

    __tablename__ = "video_algorithm"
    __table_args__ = (UniqueConstraint("source_id", "algorithm_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("video_source.id", ondelete="CASCADE"), index=True)
    algorithm_code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    matter_type_id: Mapped[int] = mapped_column(ForeignKey("matter_type.id", ondelete="RESTRICT"))
    min_confidence: Mapped[float] = mapped_column(Float, default=0.5)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    matter_type: Mapped[MatterType] = relationship()


class VideoAlarm(Base):
    """Alarms of one camera and algorithm folded within the source's window; one case per alarm."""

    __tablename__ = "video_alarm"
    __table_args__ = (Index("ix_video_alarm_fold", "camera_id", "algorithm_code", "last_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("video_source.id", ondelete="RESTRICT"), index=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id", ondelete="RESTRICT"), index=True)
    algorithm_code: Mapped[str] = mapped_column(String(64), index=True)
    confidence: Mapped[float] = mapped_column(Float)  # the highest of its events
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    bbox: Mapped[list[float] | None] = mapped_column(PortableJSON)
    snapshot_sha256: Mapped[str | None] = mapped_column(ForeignKey("media_file.sha256", ondelete="RESTRICT"))
    snapshot_url: Mapped[str | None] = mapped_column(String(500))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="RESTRICT"), index=True)
    feedback: Mapped[Feedback | None] = mapped_column(_enum(Feedback), index=True)
    feedback_by: Mapped[int | None] = mapped_column(Integer)
    feedback_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)

    camera: Mapped[Camera] = relationship()


class VideoEvent(Base):
    """One webhook call's alarm, kept by its external id so a platform's retry adds nothing."""

    __tablename__ = "video_event"
    __table_args__ = (
        Index(
            "uq_video_event_external",
            "source_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
            sqlite_where=text("external_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("video_source.id", ondelete="RESTRICT"))
    alarm_id: Mapped[int] = mapped_column(ForeignKey("video_alarm.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(100))
    confidence: Mapped[float] = mapped_column(Float)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
