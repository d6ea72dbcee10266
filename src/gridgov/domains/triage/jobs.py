"""Scheduled work of triage: the hotspot refresh (every 15 minutes, `core.jobs`).

Idempotent and safe with any number of processes: the cases are read in a short read transaction, clustered
outside any transaction (so SQLite's one writer is not held while the algorithm runs), and the result is stored
in one write transaction that re-reads the stored hotspots first, so a second refresh matches the rows the first
wrote. On PostgreSQL a refresh already running in another process makes this one skip its turn (an advisory
lock), and one that ran moments ago (within `min_age_s`) too. `POST /triage/hotspots/refresh` runs the same
function (with `min_age_s=0`), so a refresh on request holds no transaction while it clusters either.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from gridgov.core.clock import now as clock_now
from gridgov.core.db import transaction
from gridgov.domains.triage import service
from gridgov.domains.triage.models import Hotspot

log = logging.getLogger(__name__)

RUN_LOCK_KEY = service.LOCK_KEY - 1  # held for a whole run; distinct from the store's transaction lock
# How a refresh opens its transactions: `open_tx(write)` yields a session in one transaction, committed at the end.
Transactions = Callable[[bool], AbstractContextManager[Session]]


def engine_transactions(engine: Engine) -> Transactions:
    """Returns the transactions of `engine` as `open_tx(write)`."""
    return lambda write: transaction(engine, write=write)


@contextmanager
def exclusive_run(engine: Engine) -> Iterator[bool]:
    """Yields whether this process may refresh now (PostgreSQL: no other refresh running; SQLite: always)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": RUN_LOCK_KEY}).scalar())
        connection.commit()
        try:
            yield got
        finally:
            if got:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": RUN_LOCK_KEY})
                connection.commit()


def refresh_hotspots(
    *,
    engine: Engine,
    now: dt.datetime | None = None,
    window_days: float | None = None,
    min_age_s: float = 450.0,
    open_tx: Transactions | None = None,
) -> service.RefreshSummary | None:
    """Refreshes the stored hotspots from the cases of the window; None when skipped (another process's turn).

    `open_tx` opens the read and the store transactions (default: on `engine`; tests join their own).
    """
    now = now or clock_now()
    open_tx = open_tx or engine_transactions(engine)
    started = time.perf_counter()
    with exclusive_run(engine) as mine:
        if not mine:
            log.debug("hotspot refresh skipped: another process is refreshing")
            return None
        with open_tx(False) as db:
            latest = db.scalar(select(func.max(Hotspot.refreshed_at)))
            if latest is not None and dt.timedelta(0) <= now - latest < dt.timedelta(seconds=min_age_s):
                log.debug("hotspot refresh skipped: refreshed at %s", latest.isoformat())
                return None
            start, end = service.window(now=now, window_days=window_days)
            snapshot = service.collect(db=db, start=start, end=end)
        found = service.find(snapshot)
        with open_tx(True) as db:
            summary = service.store(db=db, snapshot=snapshot, found=found, now=now, started=started)
    log.info(
        "hotspots: %d case(s), %d found, %d new, %d updated, %d deleted in %.1f s",
        summary.cases,
        summary.found,
        summary.created,
        summary.updated,
        summary.deleted,
        summary.seconds,
    )
    return summary
