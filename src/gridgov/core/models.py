"""Portable column types and mixins shared by every domain's tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import JSON, DateTime, Dialect, LargeBinary, TypeDecorator, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.core.clock import now

PortableJSON = JSON().with_variant(JSONB(), "postgresql")


class Geometry(TypeDecorator[BaseGeometry]):
    """A shapely geometry stored as WKB: portable across SQLite and PostgreSQL without PostGIS."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> bytes | None:
        return None if value is None else shapely.to_wkb(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        return None if value is None else shapely.from_wkb(bytes(value))


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp; SQLite returns naive values, which are read back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; gridgov stores aware UTC timestamps")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class TimestampMixin:
    """Adds created_at / updated_at, set by gridgov's clock."""

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=now, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now, server_default=func.now())


def fill_defaults(obj: Any) -> Any:
    """Sets the Python-side column defaults of a new object now (SQLAlchemy applies them only at INSERT), so code
    can work on it before it is written; returns the object."""
    mapper = obj.__mapper__
    version_column = mapper.version_id_col
    for column in obj.__table__.columns:
        default = column.default
        if default is None or column is version_column or getattr(obj, column.key, None) is not None:
            continue
        if default.is_scalar:
            setattr(obj, column.key, default.arg)
        elif default.is_callable:
            setattr(obj, column.key, default.arg(None))
    return obj
