"""Background jobs: run inside `gridgov serve` by default, or in `gridgov worker` processes at scale.

Each job is idempotent and takes its own locks (see the domain's jobs.py), so any number of processes may run
the same job list at once.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A named piece of scheduled work and how often it runs."""

    name: str
    interval_s: float
    run: Callable[[Engine], object]


def _sla_sweep(engine: Engine) -> object:
    jobs = importlib.import_module("gridgov.domains.cases.jobs")
    return jobs.sweep(engine=engine)


def _prune_rate_counters(engine: Engine) -> object:
    # NOTE: imported here, like the domains' jobs, so this module stays free of table definitions.
    from gridgov.core import clock, ratelimit
    from gridgov.core.db import transaction

    with transaction(engine) as db:
        return ratelimit.prune(db=db, older_than=clock.now() - ratelimit.KEEP)


def _iot_offline_sweep(engine: Engine) -> object:
    jobs = importlib.import_module("gridgov.domains.iot.jobs")
    return jobs.sweep_offline(engine=engine)


def _iot_prune_readings(engine: Engine) -> object:
    jobs = importlib.import_module("gridgov.domains.iot.jobs")
    return jobs.prune(engine=engine)


def _triage_hotspots(engine: Engine) -> object:
    jobs = importlib.import_module("gridgov.domains.triage.jobs")
    return jobs.refresh_hotspots(engine=engine)


def _campaign_tagging(engine: Engine) -> object:
    jobs = importlib.import_module("gridgov.domains.evaluation.jobs")
    return jobs.tag_campaigns(engine=engine)


def _evaluation_bulletins(engine: Engine) -> object:
    jobs = importlib.import_module("gridgov.domains.evaluation.jobs")
    return jobs.monthly_bulletins(engine=engine)


def _duty_notifications(engine: Engine) -> object:
    jobs = importlib.import_module("gridgov.domains.duty.jobs")
    return jobs.run_notifications(engine=engine)


def _staff_filings(engine: Engine) -> object:
    jobs = importlib.import_module("gridgov.domains.staff.jobs")
    return jobs.apply_due_filings(engine=engine)


JOBS: tuple[Job, ...] = (
    Job("sla-sweep", 30.0, _sla_sweep),
    Job("prune-rate-counters", 3600.0, _prune_rate_counters),
    Job("iot-offline-sweep", 60.0, _iot_offline_sweep),
    Job("iot-prune-readings", 86400.0, _iot_prune_readings),
    Job("triage-hotspots", 900.0, _triage_hotspots),
    Job("campaign-tagging", 600.0, _campaign_tagging),
    Job("evaluation-bulletins", 3600.0, _evaluation_bulletins),
    Job("duty-notifications", 30.0, _duty_notifications),
    Job("staff-filings", 3600.0, _staff_filings),  # effective dates change daily: within the hour after midnight
)


class JobRunner:
    """Runs every job on its interval in one daemon thread until stopped."""

    def __init__(self, engine: Engine, jobs: tuple[Job, ...] = JOBS) -> None:
        self.engine, self.jobs = engine, jobs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gridgov-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def run_once(self) -> None:
        """Runs every job once (each failure is logged, never raised)."""
        for job in self.jobs:
            self._run(job)

    def _run(self, job: Job) -> None:
        try:
            result = job.run(self.engine)
            log.debug("job %s: %s", job.name, result)
        except Exception:
            log.exception("job %s failed", job.name)

    def _loop(self) -> None:
        # NOTE: each job keeps its own interval (the daily reading prune must not run every 30 s with the SLA
        # sweep); every job runs once at start.
        due = dict.fromkeys(range(len(self.jobs)), 0.0)
        while not self._stop.is_set():
            for index, job in enumerate(self.jobs):
                if self._stop.is_set():
                    return
                if due[index] <= time.monotonic():
                    self._run(job)
                    due[index] = time.monotonic() + job.interval_s
            self._stop.wait(max(0.0, min(due.values()) - time.monotonic()))
