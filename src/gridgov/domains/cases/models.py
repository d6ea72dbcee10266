"""Tables of the case loop: the case (a projection), its append-only event log, contacts and attachments."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.core.db import Base
from gridgov.core.models import PortableJSON, UTCDateTime
from gridgov.domains.auth.enums import Role
from gridgov.domains.cases.enums import (
    Action,
    AttachmentKind,
    CaseStage,
    Channel,
    Reasonableness,
    Satisfaction,
)
from gridgov.domains.catalog.enums import Stage, TimeUnit, Urgency
from gridgov.domains.catalog.models import MatterType, Unit


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=24)


class Case(Base):
    """One problem moving through the lifecycle (案件/工单). Its row is a projection of its events.

    Columns that name a stage hold the time the case reached it, so SLA and evaluation queries are column
    arithmetic; `*_due_at` hold the deadline of each stage's clock; `version` makes concurrent actions safe
    (a stale writer gets 409).
    """

    __tablename__ = "case"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_case_stage_centre", "stage", "centre_area_id"),
        Index("ix_case_open_matter_geo", "matter_type_id", "is_open", "lat", "lng"),
        Index("ix_case_next_check", "next_check_at"),
        Index("ix_case_channel_updated", "channel", "updated_at", "id"),  # integrations polling for changes
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    external_id: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    tracking_code: Mapped[str | None] = mapped_column(String(32), unique=True)

    matter_type_id: Mapped[int] = mapped_column(ForeignKey("matter_type.id", ondelete="RESTRICT"), index=True)
    urgency: Mapped[Urgency] = mapped_column(_enum(Urgency))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    lng: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    street_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"))
    area_path: Mapped[str] = mapped_column(String(400), index=True)  # the grid's path, for subtree filters

    reporter_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    reporter_role: Mapped[Role | None] = mapped_column(_enum(Role))
    reporter_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    component_owner_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))

    stage: Mapped[CaseStage] = mapped_column(_enum(CaseStage), index=True)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    is_extended: Mapped[bool] = mapped_column(Boolean, default=False)
    is_suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    is_supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    is_escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    is_overdue: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    is_final_ruling: Mapped[bool] = mapped_column(Boolean, default=False)  # 终审: the unit may not return it
    warning_level: Mapped[int] = mapped_column(Integer, default=0)  # highest share crossed: 0, 50, 75, 90, 100
    pending_request: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)  # extension/suspension asked

    centre_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"))
    handling_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    co_unit_ids: Mapped[list[int]] = mapped_column(PortableJSON, default=list)
    verifier_user_id: Mapped[int | None] = mapped_column(Integer)
    dispatch_candidates: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    classification: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="RESTRICT"), index=True)
    result: Mapped[str | None] = mapped_column(Text)  # the handler's feedback (处置结果)
    # Things a dispatcher should look at ("photo_far_from_location" ...); see cases.enums.CaseFlag.
    flags: Mapped[list[str]] = mapped_column(PortableJSON, default=list)

    register_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    dispatch_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    handle_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    verify_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    suspended_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The clock in force (projection): which stage it times, from when, for how long in which unit.
    clock_stage: Mapped[Stage | None] = mapped_column(_enum(Stage))
    clock_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    clock_limit: Mapped[float | None] = mapped_column(Float)
    clock_unit: Mapped[TimeUnit | None] = mapped_column(_enum(TimeUnit))
    next_check_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # when the SLA sweep looks again

    hop_count: Mapped[int] = mapped_column(Integer, default=0)  # dispatches to a unit
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    extension_count: Mapped[int] = mapped_column(Integer, default=0)
    limbo_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # time spent returned, awaiting re-dispatch

    satisfaction: Mapped[Satisfaction | None] = mapped_column(_enum(Satisfaction))
    reasonableness: Mapped[Reasonableness | None] = mapped_column(_enum(Reasonableness))

    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    verifying_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    registered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    rejected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    merged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    signed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    returned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    handling_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)
    rated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    matter_type: Mapped[MatterType] = relationship()
    handling_unit: Mapped[Unit | None] = relationship(foreign_keys=[handling_unit_id])
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.seq")
    contact: Mapped[CaseContact | None] = relationship(back_populates="case", uselist=False)
    attachments: Mapped[list[CaseAttachment]] = relationship(back_populates="case", order_by="CaseAttachment.id")

    __mapper_args__ = {"version_id_col": version}


class CaseEvent(Base):
    """One entry of a case's append-only log: who did what, when, from which stage to which, and why.

    Rows are never updated or deleted (database triggers refuse it); the case's timeline is read from here.
    """

    __tablename__ = "case_event"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="RESTRICT"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[Action] = mapped_column(_enum(Action), index=True)
    from_stage: Mapped[CaseStage | None] = mapped_column(_enum(CaseStage))
    to_stage: Mapped[CaseStage] = mapped_column(_enum(CaseStage))
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[Role] = mapped_column(_enum(Role))
    actor_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    clock_stage: Mapped[Stage | None] = mapped_column(_enum(Stage))
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # the deadline in force after it
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)

    case: Mapped[Case] = relationship(back_populates="events")


class CaseContact(Base):
    """A citizen reporter's contact, kept apart from the case row so listings never carry it."""

    __tablename__ = "case_contact"

    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40), index=True)
    email: Mapped[str | None] = mapped_column(String(200))

    case: Mapped[Case] = relationship(back_populates="contact")


class MediaFile(Base):
    """An uploaded photo or file, stored once under the media directory by its SHA-256 (reused across cases)."""

    __tablename__ = "media_file"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(200))
    uploaded_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Read from a photo when it is stored: its pixel size, and where and when the camera says it was taken.
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    gps_lng: Mapped[float | None] = mapped_column(Float)  # WGS84, from EXIF
    gps_lat: Mapped[float | None] = mapped_column(Float)


class CaseAttachment(Base):
    """A photo or file of a case, stored once by content hash under the media directory."""

    __tablename__ = "case_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AttachmentKind] = mapped_column(_enum(AttachmentKind))
    sha256: Mapped[str] = mapped_column(ForeignKey("media_file.sha256", ondelete="RESTRICT"), index=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(200))
    uploaded_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    case: Mapped[Case] = relationship(back_populates="attachments")


class CaseSequence(Base):
    """The last case number issued per district and day (the daily sequence in case numbers)."""

    __tablename__ = "case_sequence"

    district_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[str] = mapped_column(String(8), primary_key=True)  # YYYYMMDD, local date
    last: Mapped[int] = mapped_column(Integer, default=0)
