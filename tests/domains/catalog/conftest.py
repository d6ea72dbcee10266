"""Fixtures of the catalogue tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy.orm import Session

from gridgov.domains.areas.models import Area
from tests.domains.catalog.helpers import SAMPLE, insert_areas


@pytest.fixture
def areas(db: Session) -> dict[str, Area]:
    return insert_areas(db)


@pytest.fixture
def sample() -> dict[str, Any]:
    """A fresh copy of the small valid catalogue, as plain data a test may change."""
    return copy.deepcopy(SAMPLE)
