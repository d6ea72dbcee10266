"""Tables of the area tree: district → street → community → grid → building."""

from __future__ import annotations

from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Enum, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.core.db import Base
from gridgov.core.models import Geometry, PortableJSON, TimestampMixin
from gridgov.domains.areas.enums import AreaLevel


class Area(TimestampMixin, Base):
    """One node of the administrative and grid tree: a district, street, community, grid or building.

    `path` holds the codes of the ancestors and the area itself ("/410105/410105001/.../"), so a subtree is
    one prefix match, which area scopes of users and dashboards rely on.
    """

    __tablename__ = "area"
    __table_args__ = (Index("ix_area_level_path", "level", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[AreaLevel] = mapped_column(Enum(AreaLevel, native_enum=False, length=16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    path: Mapped[str] = mapped_column(String(400), index=True)
    geometry: Mapped[BaseGeometry | None] = mapped_column(Geometry())
    # Bounding box in WGS84 degrees, kept beside the WKB so map and locate queries can filter without decoding.
    min_lng: Mapped[float | None] = mapped_column(Float)
    min_lat: Mapped[float | None] = mapped_column(Float)
    max_lng: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    population: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    area_m2: Mapped[float | None] = mapped_column(Float)
    attributes: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)

    parent: Mapped[Area | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Area]] = relationship(back_populates="parent")
