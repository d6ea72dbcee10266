"""Fixtures of the auth tests: cheap password hashing, a settable clock, two streets of cases, users per role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from gridgov.core import security
from gridgov.core.clock import set_clock
from tests.domains.auth.world import AuthWorld, load_world

T0 = dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)  # 09:00 in Zhengzhou, a Wednesday


@pytest.fixture(autouse=True)
def fast_hashing() -> Iterator[None]:
    """argon2 with tiny parameters: the tests hash dozens of passwords (production takes 0.15 s per hash)."""
    security.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    try:
        yield
    finally:
        security.set_password_hasher(None)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock(T0)
    set_clock(fake)
    try:
        yield fake
    finally:
        set_clock(None)


@pytest.fixture
def world(db: Session, clock: FakeClock) -> AuthWorld:
    return load_world(db)
