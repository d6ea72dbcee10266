"""The one source of the current time, injectable in tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

_now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)  # noqa: E731


def now() -> dt.datetime:
    """Returns the current time as an aware UTC datetime."""
    return _now()


def set_clock(func: Callable[[], dt.datetime] | None) -> None:
    """Replaces the clock (tests, the demo simulator); None restores the wall clock."""
    global _now
    _now = func or (lambda: dt.datetime.now(dt.UTC))
