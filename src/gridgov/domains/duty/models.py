"""Tables of duty (值班): shifts and rosters of the operation centres, handovers, duty contacts, and the outbox of
notifications to the on-duty staff.

A centre is an area of level district or street (区城运中心, 街道城运中心); its roster is one row per date and
shift, holding its time span in UTC (computed from the shift's wall-clock times in the district's time zone), the
duty leader and, as members, everyone on duty (the leader included).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Date, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.core.db import Base
from gridgov.core.models import PortableJSON, TimestampMixin, UTCDateTime
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.models import User
from gridgov.domains.duty.enums import DeliveryStatus, NoticeKind


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=24)


class DutyShift(TimestampMixin, Base):
    """A shift of one centre's roster (班次: 早班 08:00-16:00, 夜班 00:00-08:00, 24 小时班 ...).

    Times are wall-clock times in the district's time zone: `start_minute` after local midnight and a length of
    up to 24 hours, so a shift may run past midnight (20:00 + 12 h ends at 08:00 the next day).
    """

    __tablename__ = "duty_shift"
    __table_args__ = (UniqueConstraint("centre_area_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(50))
    start_minute: Mapped[int] = mapped_column(Integer)  # 0..1439, local time
    duration_minutes: Mapped[int] = mapped_column(Integer)  # 1..1440
    position: Mapped[int] = mapped_column(Integer, default=0)  # order of the shifts within a day
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    centre: Mapped[Area] = relationship()


class DutyRoster(TimestampMixin, Base):
    """One shift on one date at a centre (值班表的一格): when it runs, who leads it, who is on duty.

    `duty_date` is the local date the shift starts on; `starts_at`/`ends_at` are its span in UTC, so "who is on
    duty at t" is one range query whatever the shift, the date or the month boundary.
    """

    __tablename__ = "duty_roster"
    __table_args__ = (
        UniqueConstraint("shift_id", "duty_date"),
        Index("ix_duty_roster_centre_span", "centre_area_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"))
    shift_id: Mapped[int] = mapped_column(ForeignKey("duty_shift.id", ondelete="RESTRICT"), index=True)
    duty_date: Mapped[dt.date] = mapped_column(Date)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    leader_user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    updated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))

    shift: Mapped[DutyShift] = relationship()
    centre: Mapped[Area] = relationship()
    leader: Mapped[User] = relationship(foreign_keys=[leader_user_id])
    members: Mapped[list[DutyRosterMember]] = relationship(
        back_populates="roster",
        cascade="all, delete-orphan",
        order_by=lambda: (DutyRosterMember.is_leader.desc(), DutyRosterMember.id),
    )


class DutyRosterMember(Base):
    """A person on duty on one roster row; the duty leader is a member too (`is_leader`)."""

    __tablename__ = "duty_roster_member"
    __table_args__ = (UniqueConstraint("roster_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    roster_id: Mapped[int] = mapped_column(ForeignKey("duty_roster.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    is_leader: Mapped[bool] = mapped_column(Boolean, default=False)

    roster: Mapped[DutyRoster] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class DutyHandover(Base):
    """The handover of one shift (交接班): written by the outgoing staff, acknowledged by the incoming leader.

    It names the matters left open and the cases they concern (by number, never copying their content); the
    incoming shift is the one of the same centre that starts when this one ends (else the next one to start).
    """

    __tablename__ = "duty_handover"

    id: Mapped[int] = mapped_column(primary_key=True)
    roster_id: Mapped[int] = mapped_column(ForeignKey("duty_roster.id", ondelete="RESTRICT"), unique=True)
    centre_area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    incoming_roster_id: Mapped[int | None] = mapped_column(ForeignKey("duty_roster.id", ondelete="RESTRICT"))
    written_by_user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    written_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    open_matters: Mapped[str] = mapped_column(Text, default="")
    case_numbers: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    acknowledgement_note: Mapped[str | None] = mapped_column(Text)

    roster: Mapped[DutyRoster] = relationship(foreign_keys=[roster_id])
    incoming: Mapped[DutyRoster | None] = relationship(foreign_keys=[incoming_roster_id])
    written_by: Mapped[User] = relationship(foreign_keys=[written_by_user_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_user_id])


class DutyContact(Base):
    """Where a member of the duty staff is notified: a work e-mail address and the duty mobile (值班电话).

    The mobile is the number the centre gives out for duty and the one group robots @-mention; it is shown to
    whoever may see the roster.
    """

    __tablename__ = "duty_contact"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(200))
    mobile: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class DutyNotice(Base):
    """One reason to tell the on-duty staff about a case: an urgent case came in, or a case went overdue.

    Made from one case event (at most one notice per event), with the message as sent and who was on duty at the
    responsible centres at the event's time; its deliveries are the outbox.
    """

    __tablename__ = "duty_notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("case_event.id", ondelete="RESTRICT"), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[NoticeKind] = mapped_column(_enum(NoticeKind))
    centre_area_ids: Mapped[list[int]] = mapped_column(PortableJSON, default=list)
    on_duty_user_ids: Mapped[list[int]] = mapped_column(PortableJSON, default=list)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    remark: Mapped[str | None] = mapped_column(Text)  # "nobody on duty at ..., sent to ..."
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())  # the event's time
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)

    deliveries: Mapped[list[DutyDelivery]] = relationship(back_populates="notice", order_by="DutyDelivery.id")


class DutyDelivery(Base):
    """One message of the outbox: a notice sent by one notifier to one recipient, at most once.

    The unique (case, kind, notifier, recipient) makes every recipient hear of a case's urgency or breach once,
    however many events and job runs there are. A worker claims a row (`sending`) before sending, so a crash
    mid-send leaves it `failed` (outcome unknown) rather than sending it again.
    """

    __tablename__ = "duty_delivery"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "notifier", "recipient"),
        Index("ix_duty_delivery_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("duty_notice.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="RESTRICT"))
    kind: Mapped[NoticeKind] = mapped_column(_enum(NoticeKind))
    notifier: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(100))  # "user:12", "webhook:district-wecom"
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    address: Mapped[str | None] = mapped_column(String(200))  # e-mail address, webhook name, username
    mentions: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)  # for group robots
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    notice: Mapped[DutyNotice] = relationship(back_populates="deliveries")


class DutyCursor(Base):
    """How far the notification scan has read the case event log (the last event id it looked at)."""

    __tablename__ = "duty_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
