"""Tables of the reference-data catalogue: units, matter types, time limits and the three lists."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Enum, Float, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.core.db import Base
from gridgov.core.models import PortableJSON, TimestampMixin
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.catalog.enums import MatterKind, Stage, TimeUnit, UnitKind, Urgency


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=24)


class Unit(TimestampMixin, Base):
    """An organisation that receives or handles cases: a bureau, street office, team, community or enterprise.

    `function` names what a unit does ("urban_management", "sanitation" ...), so one responsibility rule
    ("street-level urban management handles 占道经营") resolves to the right team in every street.
    """

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[UnitKind] = mapped_column(_enum(UnitKind))
    level: Mapped[AreaLevel] = mapped_column(_enum(AreaLevel))
    function: Mapped[str | None] = mapped_column(String(64), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Unit | None] = relationship(remote_side=[id])
    area: Mapped[Area | None] = relationship()


class MatterType(TimestampMixin, Base):
    """A kind of problem (事项): a GB/T 30428.2 component or event sub-class, a 综治 or a 12345 category."""

    __tablename__ = "matter_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[MatterKind] = mapped_column(_enum(MatterKind))
    major_code: Mapped[str] = mapped_column(String(16))
    major_name: Mapped[str] = mapped_column(String(100))
    minor_code: Mapped[str] = mapped_column(String(16))
    register_condition: Mapped[str | None] = mapped_column(Text)  # 立案条件
    close_condition: Mapped[str | None] = mapped_column(Text)  # 结案条件
    default_urgency: Mapped[Urgency] = mapped_column(_enum(Urgency), default=Urgency.normal)
    department_only: Mapped[bool] = mapped_column(Boolean, default=False)  # never to a grid or community
    evidence_required: Mapped[bool] = mapped_column(Boolean, default=True)  # photo before/after
    keywords: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    time_limits: Mapped[list[TimeLimit]] = relationship(
        back_populates="matter_type", cascade="all, delete-orphan", order_by="TimeLimit.id"
    )


class TimeLimit(Base):
    """How long one stage of a matter type may take at one urgency (处置时限 and the like)."""

    __tablename__ = "time_limit"
    __table_args__ = (UniqueConstraint("matter_type_id", "urgency", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    matter_type_id: Mapped[int] = mapped_column(ForeignKey("matter_type.id", ondelete="CASCADE"), index=True)
    urgency: Mapped[Urgency] = mapped_column(_enum(Urgency))
    stage: Mapped[Stage] = mapped_column(_enum(Stage))
    amount: Mapped[float] = mapped_column(Float)
    unit: Mapped[TimeUnit] = mapped_column(_enum(TimeUnit))

    matter_type: Mapped[MatterType] = relationship(back_populates="time_limits")


class ResponsibilityRule(TimestampMixin, Base):
    """One row of the responsibility list (责任清单): who handles a matter type within an area scope.

    The handler is either a named unit (`unit_id`: a bureau, an enterprise) or a unit function resolved at
    `level` in the case's own area (`unit_function`: "the urban-management team of the case's street").
    A rule scoped to a smaller area overrides one scoped to its ancestor.
    """

    __tablename__ = "responsibility_rule"
    __table_args__ = (UniqueConstraint("matter_type_id", "area_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    matter_type_id: Mapped[int] = mapped_column(ForeignKey("matter_type.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    level: Mapped[AreaLevel] = mapped_column(_enum(AreaLevel))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"))
    unit_function: Mapped[str | None] = mapped_column(String(64))
    co_unit_codes: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    co_unit_functions: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    legal_basis: Mapped[str | None] = mapped_column(Text)

    matter_type: Mapped[MatterType] = relationship()
    area: Mapped[Area | None] = relationship()
    unit: Mapped[Unit | None] = relationship()


class GridAccessEntry(TimestampMixin, Base):
    """One row of the grid access list (网格事项准入清单): may this matter type be pushed down to grids?"""

    __tablename__ = "grid_access_entry"
    __table_args__ = (UniqueConstraint("matter_type_id", "area_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    matter_type_id: Mapped[int] = mapped_column(ForeignKey("matter_type.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"))
    admitted: Mapped[bool] = mapped_column(Boolean)
    basis: Mapped[str | None] = mapped_column(Text)

    matter_type: Mapped[MatterType] = relationship()
    area: Mapped[Area | None] = relationship()


power_item_matter = Table(
    "power_item_matter",
    Base.metadata,
    Column("power_item_id", ForeignKey("power_item.id", ondelete="CASCADE"), primary_key=True),
    Column("matter_type_id", ForeignKey("matter_type.id", ondelete="CASCADE"), primary_key=True),
)


class PowerItem(TimestampMixin, Base):
    """One row of a unit's power list (权责清单): a power or duty with its legal basis."""

    __tablename__ = "power_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(40))  # 行政处罚, 行政检查, 公共服务, 其他 ...
    legal_basis: Mapped[str | None] = mapped_column(Text)

    unit: Mapped[Unit] = relationship()
    matter_types: Mapped[list[MatterType]] = relationship(secondary=power_item_matter)


class CategoryMapping(Base):
    """A crosswalk row: an external system's category (a 12345 hotline 诉求分类 ...) → one of our matter types."""

    __tablename__ = "category_mapping"
    __table_args__ = (UniqueConstraint("source", "external_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # "12345", "szcg" ...
    external_code: Mapped[str] = mapped_column(String(64))
    external_name: Mapped[str | None] = mapped_column(String(200))
    matter_type_id: Mapped[int] = mapped_column(ForeignKey("matter_type.id", ondelete="CASCADE"), index=True)

    matter_type: Mapped[MatterType] = relationship()
