"""Tables of intake beyond the case itself: household visits (走访) logged by grid workers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.core.db import Base
from gridgov.core.models import PortableJSON, UTCDateTime


class HouseholdVisit(Base):
    """One visit by a grid worker to a household (入户走访): when, where, what was found, which cases it made.

    `household_ref` is the household as the worker names it (building, unit, room); `household_id` links the
    register's household once the registers hold it. Findings are kept as given; a finding that is a problem
    becomes a case through the one intake function, and its id is listed in `case_ids`.
    """

    __tablename__ = "household_visit"

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(400), index=True)  # the grid's path, for area scopes
    worker_user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    household_ref: Mapped[str] = mapped_column(String(200))
    household_id: Mapped[int | None] = mapped_column(Integer, index=True)
    visited_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    purpose: Mapped[str | None] = mapped_column(String(100))  # 例行走访, 关爱走访, 矛盾排查 ...
    summary: Mapped[str] = mapped_column(Text, default="")
    findings: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    case_ids: Mapped[list[int]] = mapped_column(PortableJSON, default=list)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
