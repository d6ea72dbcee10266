"""Fixtures of the area tests: the synthetic tree of tests/domains/areas/synthetic.py."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from gridgov.domains.areas import service
from gridgov.domains.areas.enums import AreaLevel
from tests.domains.areas.synthetic import load_tree


@pytest.fixture
def tree(db: Session) -> dict[AreaLevel, service.ImportReport]:
    """The synthetic district → 2 streets → 4 communities → 16 grids, imported into the test's database."""
    return load_tree(db)


@pytest.fixture
def communities(db: Session) -> dict[AreaLevel, service.ImportReport]:
    """The synthetic tree down to communities only (no grids yet)."""
    return load_tree(db, down_to=AreaLevel.community)
