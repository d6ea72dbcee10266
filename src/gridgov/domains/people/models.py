"""Tables of the resident register: households in buildings, residents, their event history, tags and exports.

Identity numbers and phones are stored only as ciphertext (`*_enc`) beside a keyed hash for exact search
(`*_index`); which columns hold personal data, and how, is declared in `privacy.py`, nowhere else.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Date, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.core.db import Base
from gridgov.core.models import PortableJSON, TimestampMixin, UTCDateTime
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.enums import Role
from gridgov.domains.people.enums import (
    EventKind,
    ExportStatus,
    Gender,
    HouseholdKind,
    Relation,
    ResidenceType,
    ResidentStatus,
    Sensitivity,
)


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=24)


class Household(TimestampMixin, Base):
    """A household (户): the people living behind one door of a building (楼院), with its kind and residence.

    `area_path` is the building's path, copied so that area scopes (a grid worker's grid) filter households and
    their residents with one prefix match. A household is never deleted; when everyone has moved out it simply
    has no active resident.
    """

    __tablename__ = "people_household"
    __table_args__ = (UniqueConstraint("building_id", "room"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(400), index=True)
    room: Mapped[str] = mapped_column(String(50))  # 门牌/房号: "2单元501"
    kind: Mapped[HouseholdKind] = mapped_column(_enum(HouseholdKind), default=HouseholdKind.family)
    residence: Mapped[ResidenceType] = mapped_column(_enum(ResidenceType), default=ResidenceType.registered)
    notes: Mapped[str | None] = mapped_column(Text)

    building: Mapped[Area] = relationship()
    residents: Mapped[list[Resident]] = relationship(back_populates="household", order_by="Resident.id")


class Resident(TimestampMixin, Base):
    """A person on the register (人): who they are, which household they belong to, and whether they still live here.

    The identity number and phone are ciphertext with a blind index; the name and birth date are stored in clear
    (needed to find and count people) but shown masked to roles that may not unmask. Every change is written as a
    `ResidentEvent` by the service: the row holds the current state, the events the history.
    """

    __tablename__ = "people_resident"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("people_household.id", ondelete="RESTRICT"), index=True)
    relation: Mapped[Relation] = mapped_column(_enum(Relation))
    name: Mapped[str] = mapped_column(String(100), index=True)
    gender: Mapped[Gender | None] = mapped_column(_enum(Gender))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    ethnicity: Mapped[str | None] = mapped_column(String(20))
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    id_number_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    residence_type: Mapped[ResidenceType] = mapped_column(_enum(ResidenceType))
    status: Mapped[ResidentStatus] = mapped_column(_enum(ResidentStatus), default=ResidentStatus.active, index=True)
    status_on: Mapped[dt.date | None] = mapped_column(Date)  # the date of moving out or death

    household: Mapped[Household] = relationship(back_populates="residents")
    tags: Mapped[list[ResidentTag]] = relationship(back_populates="resident", cascade="all, delete-orphan")


class ResidentEvent(Base):
    """One change of the register (人口变动): who recorded what, when, and what changed (append-only).

    `changes` holds what changed as {field: [before, after]}; an identity number or phone appears only masked
    (`138****5678`), so the history never holds personal data in clear and needs no re-encryption when keys
    rotate. Database triggers refuse UPDATE and DELETE, so the history cannot be rewritten.
    """

    __tablename__ = "people_event"
    __table_args__ = (Index("ix_people_event_resident_recorded", "resident_id", "recorded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("people_resident.id", ondelete="RESTRICT"))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("people_household.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind), index=True)
    occurred_on: Mapped[dt.date | None] = mapped_column(Date)  # when it happened (may precede the recording)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    actor_name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str | None] = mapped_column(String(200))  # "api", "console", "import people.xlsx row 7"
    changes: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)


class Tag(TimestampMixin, Base):
    """A social-governance group (9+X 重点人群 / 关爱对象) residents can be tagged with, and its sensitivity (分级).

    The shipped groups (`is_builtin`) come with the register; a district adds its own "X" groups. The sensitivity
    decides who may see that a resident carries the tag (privacy.TAG_VISIBILITY).
    """

    __tablename__ = "people_tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    sensitivity: Mapped[Sensitivity] = mapped_column(_enum(Sensitivity))
    description: Mapped[str | None] = mapped_column(Text)
    is_builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class ResidentTag(Base):
    """A resident carries a tag: since when, and who said so (removal deletes the row and writes an event)."""

    __tablename__ = "people_resident_tag"

    resident_id: Mapped[int] = mapped_column(ForeignKey("people_resident.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("people_tag.id", ondelete="RESTRICT"), primary_key=True, index=True)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    added_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))

    resident: Mapped[Resident] = relationship(back_populates="tags")
    tag: Mapped[Tag] = relationship()


class ExportRequest(Base):
    """A request to export residents to XLSX (数据导出申请): filters and purpose, the residents it froze, and the
    decision of an approver who is not the requester. Only the requester downloads, until `expires_at`.
    """

    __tablename__ = "people_export"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    requester_name: Mapped[str] = mapped_column(String(100))
    requester_role: Mapped[Role] = mapped_column(_enum(Role))
    scope_path: Mapped[str | None] = mapped_column(String(400))  # the requester's area scope when asking
    filters: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    purpose: Mapped[str] = mapped_column(String(200))
    include_personal: Mapped[bool] = mapped_column(Boolean, default=False)  # identity numbers and phones in clear
    resident_ids: Mapped[list[int]] = mapped_column(PortableJSON, default=list)
    row_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[ExportStatus] = mapped_column(_enum(ExportStatus), default=ExportStatus.pending, index=True)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    decided_by_name: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    download_count: Mapped[int] = mapped_column(Integer, default=0)
    last_downloaded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
