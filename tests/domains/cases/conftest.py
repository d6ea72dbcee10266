"""Fixtures of the case tests."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from gridgov.domains.areas import locate
from tests.domains.cases.world import World, load_world

SH = ZoneInfo("Asia/Shanghai")
# A Wednesday morning in working time, far from holidays.
T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=SH)


@pytest.fixture
def world(db: Session) -> World:
    locate.invalidate()
    return load_world(db)
