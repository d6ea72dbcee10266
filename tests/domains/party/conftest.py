"""Fixtures of the party tests: cheap password hashing, a frozen clock (2026-11-25 09:00 in Zhengzhou) and the
party world (two streets, buildings, households, users per role, a party tree)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.domains.auth.conftest import FakeClock, clock, fast_hashing  # noqa: F401 - shared fixtures
from tests.domains.party.world import PartyWorld, load_party_world


@pytest.fixture
def world(db: Session, clock: FakeClock) -> PartyWorld:  # noqa: F811 - the imported fixture
    return load_party_world(db)


@pytest.fixture
def bare_world(db: Session, clock: FakeClock) -> PartyWorld:  # noqa: F811 - the imported fixture
    """The world without the party tree."""
    return load_party_world(db, with_tree=False)
