"""SLA clocks of a case: one clock per stage, derived from the catalogue's time limits and the calendar.

The case row carries the clock in force (stage, start, limit, unit) and the deadline of each stage; warning
levels (50/75/90 % of the limit) and overdue (100 %) are crossed by the sweep in `jobs.py`, which looks at a
case again only at `next_check_at`, the next threshold, so a sweep over a million open cases reads only the
few that are due.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from sqlalchemy.orm import Session

from gridgov.core.calendar import TimeUnit, WorkingCalendar
from gridgov.domains.cases.enums import CaseStage
from gridgov.domains.cases.models import Case
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.catalog.enums import Stage

WARNING_LEVELS = (50, 75, 90, 100)

CLOCK_OF_STAGE: dict[CaseStage, Stage] = {
    CaseStage.reported: Stage.register,
    CaseStage.verifying: Stage.register,
    CaseStage.registered: Stage.dispatch,
    CaseStage.returned: Stage.dispatch,
    CaseStage.dispatched: Stage.handle,
    CaseStage.signed: Stage.handle,
    CaseStage.handling: Stage.handle,
    CaseStage.handled: Stage.verify,
}
DUE_COLUMN: dict[Stage, str] = {
    Stage.register: "register_due_at",
    Stage.dispatch: "dispatch_due_at",
    Stage.handle: "handle_due_at",
    Stage.verify: "verify_due_at",
}


@lru_cache(maxsize=1)
def default_calendar() -> WorkingCalendar:
    """Returns the district calendar from the settings (cached for the process)."""
    return WorkingCalendar.from_settings()


def due_at(case: Case) -> dt.datetime | None:
    """Returns the deadline of the clock in force, or None when no clock runs."""
    return getattr(case, DUE_COLUMN[case.clock_stage]) if case.clock_stage else None


def start_clock(*, db: Session, case: Case, stage: Stage, at: dt.datetime, calendar: WorkingCalendar) -> None:
    """Starts the clock of `stage` at `at` with the matter type's limit for the case's urgency."""
    limits = _time_limits(db, case)
    if stage not in limits:
        stop_clock(case)
        return
    amount, unit = limits[stage]
    case.clock_stage, case.clock_started_at, case.clock_limit, case.clock_unit = stage, at, amount, unit
    case.warning_level = 0
    case.is_overdue = False
    refresh(case, calendar)


def _time_limits(db: Session, case: Case) -> dict[Stage, tuple[float, TimeUnit]]:
    """Returns the case's time limits, read once per session (intake starts two or three clocks in a row)."""
    matter_type_id = case.matter_type_id if case.matter_type_id is not None else case.matter_type.id
    memo = db.info.setdefault("gridgov.time_limits", {})
    key = (matter_type_id, case.urgency)
    if key not in memo:
        memo[key] = catalog_service.time_limits_for(db=db, matter_type_id=matter_type_id, urgency=case.urgency)
    return memo[key]


def stop_clock(case: Case) -> None:
    """Stops the clock in force (closure, rejection, merge); stage deadlines already set are kept."""
    case.clock_stage = case.clock_started_at = case.clock_limit = case.clock_unit = None
    case.next_check_at = None


def extend(case: Case, amount: float, calendar: WorkingCalendar) -> None:
    """Lengthens the clock in force by `amount` in its own unit (an approved extension, 延期)."""
    case.clock_limit = (case.clock_limit or 0) + amount
    case.warning_level = level_at(case, case.updated_at, calendar)
    # NOTE: an extension too short to reach past now leaves the case overdue; clearing the mark would hide it
    # for good, since the sweep has no threshold above 100 % left to look at.
    case.is_overdue = case.warning_level >= 100
    refresh(case, calendar)


def pause(case: Case, at: dt.datetime, until: dt.datetime) -> None:
    """Pauses the clock for an approved suspension (挂账); the sweep resumes it at `until`."""
    case.is_suspended, case.suspended_at, case.suspended_until = True, at, until
    case.next_check_at = until


def resume(case: Case, at: dt.datetime, calendar: WorkingCalendar) -> float:
    """Ends a suspension: the clock is lengthened by the time it was paused; returns that time."""
    paused = 0.0
    if case.clock_unit and case.suspended_at:
        if case.clock_unit == TimeUnit.natural_hours:
            paused = max((at - case.suspended_at) / dt.timedelta(hours=1), 0.0)
        else:
            paused = calendar.working_hours_between(case.suspended_at, at)
            if case.clock_unit == TimeUnit.working_days:
                paused /= calendar.hours_per_day
        case.clock_limit = (case.clock_limit or 0) + paused
    case.is_suspended, case.suspended_at, case.suspended_until = False, None, None
    refresh(case, calendar)
    return paused


def level_at(case: Case, now: dt.datetime, calendar: WorkingCalendar) -> int:
    """Returns the highest warning level (0, 50, 75, 90, 100) the clock in force has crossed at `now`."""
    if not case.clock_stage or case.clock_started_at is None or case.clock_limit is None:
        return 0
    share = 100 * calendar.elapsed_share(case.clock_started_at, now, case.clock_limit, case.clock_unit)
    return max((level for level in WARNING_LEVELS if share >= level - 1e-9), default=0)


def refresh(case: Case, calendar: WorkingCalendar) -> None:
    """Recomputes the deadline of the clock in force and when the sweep must look next."""
    if not case.clock_stage or case.clock_started_at is None or case.clock_limit is None:
        case.next_check_at = None
        return
    start, limit, unit = case.clock_started_at, case.clock_limit, case.clock_unit
    setattr(case, DUE_COLUMN[case.clock_stage], calendar.deadline(start, limit, unit))
    if case.is_suspended:
        case.next_check_at = case.suspended_until
        return
    upcoming = [level for level in WARNING_LEVELS if level > case.warning_level]
    case.next_check_at = calendar.deadline(start, limit * upcoming[0] / 100, unit) if upcoming else None
