"""Fixed-window rate limits kept in the database, so every app process counts against the same limit."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from sqlalchemy import Integer, String, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from gridgov.core.db import Base
from gridgov.core.errors import DomainError
from gridgov.core.models import UTCDateTime

# Counters whose window started longer ago than this are deleted by the hourly job (every window is shorter).
KEEP = dt.timedelta(days=2)


class RateCounter(Base):
    """Hits of one key (a hashed address or phone number, never the value itself) in the current window."""

    __tablename__ = "rate_counter"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    hits: Mapped[int] = mapped_column(Integer, default=0)


class RateLimited(DomainError):
    """Too many requests from one address or phone in the window (429, with Retry-After)."""

    status = 429
    code = "rate_limited"


def bucket_key(kind: str, value: str, *, secret: str) -> str:
    """Returns the counter key of `value` (an address, a phone): a keyed hash, so no personal data is stored."""
    digest = hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:40]
    return f"{kind}:{digest}"


def hit(*, db: Session, key: str, limit: int, window: dt.timedelta, now: dt.datetime, what: str) -> int:
    """Counts one hit of `key`; raises RateLimited once more than `limit` hits fall in the current window."""
    row = db.get(RateCounter, key, with_for_update=True)
    if row is None:
        try:
            with db.begin_nested():
                db.add(RateCounter(key=key, window_start=now, hits=1))
            return 1
        except IntegrityError:
            # NOTE: a concurrent first hit of the same key inserted it first (a double tap): count on its row.
            row = db.get(RateCounter, key, with_for_update=True, populate_existing=True)
            assert row is not None
    if now - row.window_start >= window:
        row.window_start, row.hits = now, 0
    if row.hits >= limit:
        retry_after = max(1, int((row.window_start + window - now).total_seconds()))
        raise RateLimited(
            f"too many {what}: at most {limit} per {_span(window)}; try again in {retry_after} s",
            retry_after=retry_after,
        )
    row.hits += 1
    db.flush()
    return row.hits


def prune(*, db: Session, older_than: dt.datetime) -> int:
    """Deletes counters whose window started before `older_than`; returns how many."""
    return db.execute(delete(RateCounter).where(RateCounter.window_start < older_than)).rowcount


def _span(window: dt.timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
