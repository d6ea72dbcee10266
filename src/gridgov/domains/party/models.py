"""Tables of the party register (党建): the organisation tree, members, 党员中心户 links, 双报到 and service hours.

The organisation tree is a tree of its own (街道党工委 → 社区党组织 → 网格党支部 → 楼院党小组 → 党员中心户),
linked to the area tree through `party_org_area` but not part of it: a grid branch may cover two grids, an
organisation may cover no area. Every row a scoped user may see carries `area_path`, the path of the area it
belongs to, so the user's area scope is one prefix match (see docs/permissions.md). Personal data stays in the
people register: a member may point at a resident by id, never copying an identity number or a phone here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.core.db import Base
from gridgov.core.models import TimestampMixin, UTCDateTime
from gridgov.domains.areas.models import Area
from gridgov.domains.catalog.models import Unit
from gridgov.domains.party.enums import (
    MemberStatus,
    OrgKind,
    OrgLevel,
    RegistrantKind,
    RegistrationStatus,
    ServiceCategory,
)


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=24)


class PartyOrgArea(Base):
    """Links an organisation to an area it covers (street, community, grid or building)."""

    __tablename__ = "party_org_area"

    org_id: Mapped[int] = mapped_column(ForeignKey("party_org.id", ondelete="CASCADE"), primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), primary_key=True, index=True)


class PartyOrg(TimestampMixin, Base):
    """One party organisation: a level, a kind, a parent one level up, the areas it covers, its secretary.

    `path` holds the codes of its ancestors and itself ("/RMLJD/RMLJD-JH/"), so a subtree is one prefix match
    and a move that would make a cycle is caught by comparing paths. `area_path` is the path of the deepest area
    containing all the areas it covers (its parent's when it covers none): the area scope users see it by.
    For a 党员中心户, `household_id` is the member household itself (in the people register).
    """

    __tablename__ = "party_org"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[OrgLevel] = mapped_column(_enum(OrgLevel), index=True)
    kind: Mapped[OrgKind] = mapped_column(_enum(OrgKind))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("party_org.id", ondelete="RESTRICT"), index=True)
    path: Mapped[str] = mapped_column(String(1000), index=True)
    area_path: Mapped[str | None] = mapped_column(String(400), index=True)
    secretary: Mapped[str | None] = mapped_column(String(100))  # 书记 (or 户主 of a 党员中心户): a name only
    household_id: Mapped[int | None] = mapped_column(ForeignKey("people_household.id", ondelete="SET NULL"), index=True)

    parent: Mapped[PartyOrg | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[PartyOrg]] = relationship(back_populates="parent", order_by="PartyOrg.code")
    areas: Mapped[list[Area]] = relationship(secondary="party_org_area", order_by="Area.code")


class PartnerOrg(TimestampMixin, Base):
    """A party organisation of a body outside the community tree (机关企事业单位党组织) that registers with
    communities under 双报到; its in-service members may be recorded as its members."""

    __tablename__ = "party_partner_org"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="SET NULL"), index=True)
    secretary: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    unit: Mapped[Unit | None] = relationship()


class PartyMember(TimestampMixin, Base):
    """A party member (党员): the organisation holding their membership, standing, whether in service (在职).

    Exactly one of `org_id` (an organisation of the tree) and `partner_org_id` (a unit's organisation) is set.
    `household_org_id` names the 党员中心户 the member's household forms, if any. No identity number or phone:
    `resident_id` points at the people register instead.
    """

    __tablename__ = "party_member"
    __table_args__ = (CheckConstraint("(org_id IS NULL) <> (partner_org_id IS NULL)", name="one_organisation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("party_org.id", ondelete="RESTRICT"), index=True)
    partner_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("party_partner_org.id", ondelete="RESTRICT"), index=True
    )
    household_org_id: Mapped[int | None] = mapped_column(ForeignKey("party_org.id", ondelete="SET NULL"), index=True)
    joined_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[MemberStatus] = mapped_column(_enum(MemberStatus), default=MemberStatus.full)
    in_service: Mapped[bool] = mapped_column(Boolean, default=False)  # 在职党员
    employer: Mapped[str | None] = mapped_column(String(200))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("people_resident.id", ondelete="SET NULL"), unique=True)
    left_on: Mapped[dt.date | None] = mapped_column(Date)  # 组织关系转出

    org: Mapped[PartyOrg | None] = relationship(foreign_keys=[org_id])
    partner_org: Mapped[PartnerOrg | None] = relationship()
    household_org: Mapped[PartyOrg | None] = relationship(foreign_keys=[household_org_id])


class HouseholdLink(Base):
    """A household a 党员中心户 looks after (联系户): each household is looked after by at most one."""

    __tablename__ = "party_household_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("party_org.id", ondelete="CASCADE"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("people_household.id", ondelete="CASCADE"), unique=True)
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    linked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    org: Mapped[PartyOrg] = relationship()


class Registration(TimestampMixin, Base):
    """A 双报到 registration: a unit's party organisation or an in-service member registered with a community.

    `area_path` is the community's path (its scope). A member has at most one registration in force (their home
    community); an organisation at most one per community. Ending one keeps it, with `ended_on`.
    """

    __tablename__ = "party_registration"
    __table_args__ = (CheckConstraint("(member_id IS NULL) <> (partner_org_id IS NULL)", name="one_registrant"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RegistrantKind] = mapped_column(_enum(RegistrantKind))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("party_member.id", ondelete="RESTRICT"), index=True)
    partner_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("party_partner_org.id", ondelete="RESTRICT"), index=True
    )
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(400), index=True)
    registered_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[RegistrationStatus] = mapped_column(_enum(RegistrationStatus), default=RegistrationStatus.active)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    member: Mapped[PartyMember | None] = relationship()
    partner_org: Mapped[PartnerOrg | None] = relationship()
    community: Mapped[Area] = relationship()
    pledges: Mapped[list[Pledge]] = relationship(
        back_populates="registration", order_by="Pledge.position", cascade="all, delete-orphan"
    )


class Pledge(Base):
    """One service a registrant pledged to its community (认领服务), with its category."""

    __tablename__ = "party_pledge"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("party_registration.id", ondelete="CASCADE"), index=True)
    category: Mapped[ServiceCategory] = mapped_column(_enum(ServiceCategory))
    item: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)

    registration: Mapped[Registration] = relationship(back_populates="pledges")


class Activity(TimestampMixin, Base):
    """A volunteer activity held in a community (志愿服务活动): what, when, which category, who organised it."""

    __tablename__ = "party_activity"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(400), index=True)
    title: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[dt.date] = mapped_column(Date, index=True)  # local date
    category: Mapped[ServiceCategory] = mapped_column(_enum(ServiceCategory))
    organiser: Mapped[str] = mapped_column(String(200))
    organiser_org_id: Mapped[int | None] = mapped_column(ForeignKey("party_org.id", ondelete="SET NULL"))
    description: Mapped[str | None] = mapped_column(Text)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    community: Mapped[Area] = relationship()
    organiser_org: Mapped[PartyOrg | None] = relationship()


class ServiceRecord(TimestampMixin, Base):
    """Hours one member or one unit's organisation served at an activity, and who verified them (核实).

    Time is kept in whole minutes, so totals add up exactly; the API speaks hours.
    """

    __tablename__ = "party_service_record"
    __table_args__ = (
        CheckConstraint("(member_id IS NULL) <> (partner_org_id IS NULL)", name="one_volunteer"),
        CheckConstraint("minutes > 0", name="positive_minutes"),
        UniqueConstraint("activity_id", "member_id"),
        UniqueConstraint("activity_id", "partner_org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("party_activity.id", ondelete="RESTRICT"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("party_member.id", ondelete="RESTRICT"), index=True)
    partner_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("party_partner_org.id", ondelete="RESTRICT"), index=True
    )
    minutes: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(500))
    recorded_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    verified_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    activity: Mapped[Activity] = relationship()
    member: Mapped[PartyMember | None] = relationship()
    partner_org: Mapped[PartnerOrg | None] = relationship()
