"""Tables of grid staff: the people, their assignments (history kept), personnel filings, lost phones."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.core.db import Base
from gridgov.core.models import TimestampMixin, UTCDateTime
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.models import User
from gridgov.domains.staff.enums import Employment, FilingAction, FilingKind, FilingStatus, Post


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=24)


class StaffMember(TimestampMixin, Base):
    """A person of the grid force (网格力量): usually a user of gridgov, or someone without a login (a part-time
    grid worker, a community police officer) known by name and work phone only.

    No other personal data is kept here: identity numbers and home addresses belong to the resident register.
    """

    __tablename__ = "staff_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    work_phone: Mapped[str | None] = mapped_column(String(32))  # a work number, never a private one

    user: Mapped[User | None] = relationship()


class Assignment(Base):
    """A person holding a post in a street, community or grid from a start date, until an end date (任职记录).

    Assignments are never overwritten: a person who leaves or moves has the assignment ended (`ends_on` set, the
    first day they no longer hold it) and, when they move, a new one started. `area_path` is the area's path
    for area scopes; `grid_level` is 1 (street), 2 (community) or 3 (grid).
    """

    __tablename__ = "staff_assignment"
    __table_args__ = (CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("staff_member.id", ondelete="RESTRICT"), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(400), index=True)
    grid_level: Mapped[int] = mapped_column(Integer)
    post: Mapped[Post] = mapped_column(_enum(Post))
    employment: Mapped[Employment] = mapped_column(_enum(Employment))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date, index=True)  # exclusive: the first day without the post
    end_reason: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))

    member: Mapped[StaffMember] = relationship()
    area: Mapped[Area] = relationship()


class Filing(Base):
    """A personnel change filing (人员变动报备) for community and grid staff: asked by the community, decided by
    someone else with the approval permission (the street), applied to the assignments on its effective date.

    `assignment_id` is the assignment that ends or changes (leave, transfer, change of post); an onboarding names
    the person (`member_id`, or `user_id`, or a name for someone not yet in the register: the member is created
    when it is applied) and the place. `area_path` is where the filing belongs (the place left, or joined for an
    onboarding) and `to_path` the place joined by a transfer: both must lie in the approver's area.
    """

    __tablename__ = "staff_filing"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[FilingKind] = mapped_column(_enum(FilingKind))
    status: Mapped[FilingStatus] = mapped_column(_enum(FilingStatus), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("staff_member.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    person_name: Mapped[str] = mapped_column(String(100))
    work_phone: Mapped[str | None] = mapped_column(String(32))
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_assignment.id", ondelete="RESTRICT"), index=True
    )
    from_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"))
    to_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"))
    post: Mapped[Post | None] = mapped_column(_enum(Post))  # the post held after the change
    employment: Mapped[Employment | None] = mapped_column(_enum(Employment))
    effective_on: Mapped[dt.date] = mapped_column(Date, index=True)
    reason: Mapped[str] = mapped_column(Text)
    area_path: Mapped[str] = mapped_column(String(400), index=True)
    to_path: Mapped[str | None] = mapped_column(String(400), index=True)
    requested_by_user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    new_assignment_id: Mapped[int | None] = mapped_column(ForeignKey("staff_assignment.id", ondelete="RESTRICT"))

    member: Mapped[StaffMember | None] = relationship()
    assignment: Mapped[Assignment | None] = relationship(foreign_keys=[assignment_id])
    new_assignment: Mapped[Assignment | None] = relationship(foreign_keys=[new_assignment_id])
    from_area: Mapped[Area | None] = relationship(foreign_keys=[from_area_id])
    to_area: Mapped[Area | None] = relationship(foreign_keys=[to_area_id])
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_user_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_user_id])
    events: Mapped[list[FilingEvent]] = relationship(order_by="FilingEvent.id", back_populates="filing")


class FilingEvent(Base):
    """One step of a filing's history: requested, approved or refused, withdrawn, applied or failed; by whom, when.

    `actor_name` is a copy taken at the time (the job that applies a filing on its date has no user).
    """

    __tablename__ = "staff_filing_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("staff_filing.id", ondelete="RESTRICT"), index=True)
    action: Mapped[FilingAction] = mapped_column(_enum(FilingAction))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    actor_name: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)

    filing: Mapped[Filing] = relationship(back_populates="events")


class TerminalLoss(Base):
    """A phone reported lost (挂失): the terminal was revoked at once and its owner's browser sessions ended."""

    __tablename__ = "staff_terminal_loss"

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminal.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)  # the owner
    device_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reported_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    reported_by_name: Mapped[str] = mapped_column(String(100))
    sessions_ended: Mapped[int] = mapped_column(Integer, default=0)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
