"""Scheduled work of duty: the notification job (every 30 s, `core.jobs`).

One run scans the case event log for urgent and overdue cases (one write transaction: notices and outbox rows
appear together or not at all), then delivers what is due: the rows are claimed in a short transaction, sent with
no transaction open (SMTP and HTTP may take seconds; SQLite's one writer is not held), and each result is recorded
in a transaction of its own. Safe with any number of processes: the scan takes an advisory lock on PostgreSQL,
claims skip rows other workers hold, and a claimed row is never sent twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gridgov.config import Settings, get_settings
from gridgov.core.clock import now as clock_now
from gridgov.core.db import transaction
from gridgov.domains.duty import notifiers as notifier_registry
from gridgov.domains.duty import notify
from gridgov.domains.duty.notifiers import Notifier

log = logging.getLogger(__name__)

# How a run opens its transactions: `open_tx(write)` yields a session in one transaction, committed at the end.
Transactions = Callable[[bool], AbstractContextManager[Session]]


@dataclass
class NotifyReport:
    """What one run of the notification job did."""

    scan: notify.ScanReport = field(default_factory=notify.ScanReport)
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    interrupted: int = 0  # claimed by a sender that stopped mid-send: marked failed, not sent again


def run_notifications(
    *,
    engine: Engine | None = None,
    now: dt.datetime | None = None,
    open_tx: Transactions | None = None,
    settings: Settings | None = None,
    notifiers: Mapping[str, Notifier] | None = None,
    batch_size: int = 100,
    max_batches: int = 10,
) -> NotifyReport:
    """Scans for new urgent and overdue cases, then sends the deliveries that are due; returns what it did.

    `open_tx` opens the transactions (default: on `engine`; tests join their own); `notifiers` replaces the
    registry (default: the built-in notifiers and installed plugins).
    """
    if open_tx is None:
        assert engine is not None, "give an engine or open_tx"
        bound = engine
        open_tx = lambda write: transaction(bound, write=write)  # noqa: E731
    settings = settings or get_settings()
    now = now or clock_now()
    chosen, unknown = notifier_registry.enabled(settings, notifiers)
    if unknown:
        log.warning("GRIDGOV_DUTY_NOTIFIERS names unknown notifier(s): %s", ", ".join(unknown))
    by_slug = {n.slug: n for n in chosen}
    report = NotifyReport()
    with open_tx(True) as db:
        report.scan = notify.scan(db=db, now=now, settings=settings, notifiers=chosen)
    report.scan.unknown_notifiers = unknown
    for _ in range(max_batches):
        with open_tx(True) as db:
            report.interrupted += notify.expire_interrupted(db=db, now=now)
            tasks = notify.claim(db=db, now=now, limit=batch_size, console_url=settings.duty_console_url)
        for task in tasks:
            error, final = None, False
            notifier = by_slug.get(task.notifier)
            if notifier is None:
                error, final = f"notifier {task.notifier!r} is not enabled (GRIDGOV_DUTY_NOTIFIERS)", True
            else:
                try:
                    notifier.send(settings=settings, address=task.address, message=task.message)
                except notifier_registry.DeliveryFailed as exc:
                    error = str(exc) or exc.__class__.__name__
                except Exception as exc:  # a plugin's bug must not stop the other deliveries
                    log.exception("notifier %s failed on delivery %s", task.notifier, task.delivery_id)
                    error = f"{exc.__class__.__name__}: {exc}"
            with open_tx(True) as db:
                row = notify.finish(
                    db=db,
                    delivery_id=task.delivery_id,
                    now=now,
                    error=error,
                    max_attempts=settings.duty_notify_max_attempts,
                    retry_s=settings.duty_notify_retry_s,
                    final=final,
                )
                status = row.status
            if error is None:
                report.delivered += 1
            elif status == "pending":
                report.retrying += 1
                log.warning("duty delivery %s via %s failed, will retry: %s", task.delivery_id, task.notifier, error)
            else:
                report.failed += 1
                log.error("duty delivery %s via %s given up: %s", task.delivery_id, task.notifier, error)
        if len(tasks) < batch_size:
            break
    if report.scan.notices or report.delivered or report.failed:
        log.info(
            "duty notifications: %d notice(s), %d delivered, %d to retry, %d failed",
            report.scan.notices,
            report.delivered,
            report.retrying,
            report.failed,
        )
    return report
