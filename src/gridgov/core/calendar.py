"""Working time (工作时/工作日) for SLA clocks: Chinese statutory holidays, make-up workdays and working hours.

A pure calculator: given a start instant and a limit it returns the deadline, and given two instants it
returns the working time between them. Timers are derived from these, never stored as countdowns.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

from gridgov.config import Settings, get_settings

log = logging.getLogger(__name__)
_HOUR = dt.timedelta(hours=1)
# Years already warned about as lacking a holiday schedule: one warning per year per process, not one per day.
_UNSCHEDULED_YEARS: set[int] = set()
_UNSCHEDULED_LOCK = threading.Lock()


class TimeUnit(StrEnum):
    """How a time limit is counted."""

    working_hours = "working_hours"  # 工作时
    working_days = "working_days"  # 工作日
    natural_hours = "natural_hours"  # 自然时 (7×24)


@lru_cache(maxsize=4096)
def statutory_workday(day: dt.date) -> bool:
    """Returns whether `day` is a working day under the State Council holiday schedule (调休 included).

    Years the chinese-calendar package does not cover yet fall back to Monday–Friday, with a warning, so a
    deployment keeps working until the package is updated with the new year's schedule.
    """
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        _warn_unscheduled(day.year)
        return day.weekday() < 5


def _warn_unscheduled(year: int) -> None:
    """Logs, once per year per process, that `year` has no holiday schedule and falls back to Monday–Friday."""
    # NOTE: the day cache alone would warn once per day asked about (and again after eviction): an SLA sweep
    # touching a few hundred January days of an unscheduled year filled the log with the same line.
    with _UNSCHEDULED_LOCK:
        if year in _UNSCHEDULED_YEARS:
            return
        _UNSCHEDULED_YEARS.add(year)
    log.warning(
        "no statutory holiday schedule for %s; counting Monday-Friday as workdays until the chinese-calendar "
        "package is updated",
        year,
    )


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days and working-hour windows of one district, in its local time zone."""

    tz: ZoneInfo
    windows: tuple[tuple[dt.time, dt.time], ...]
    is_workday: Callable[[dt.date], bool] = field(default=statutory_workday)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> WorkingCalendar:
        """Returns the calendar configured by GRIDGOV_TIMEZONE and GRIDGOV_WORKING_HOURS."""
        settings = settings or get_settings()
        return cls(tz=settings.tz, windows=tuple(settings.working_windows))

    @property
    def hours_per_day(self) -> float:
        """Returns the length of one working day in hours (the sum of its windows)."""
        return sum(
            (dt.datetime.combine(dt.date.min, end) - dt.datetime.combine(dt.date.min, start)) / _HOUR
            for start, end in self.windows
        )

    def _day_windows(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        if not self.is_workday(day):
            return []
        return [
            (dt.datetime.combine(day, start, self.tz), dt.datetime.combine(day, end, self.tz))
            for start, end in self.windows
        ]

    def to_working_hours(self, amount: float, basis: TimeUnit | str) -> float:
        """Returns a working-time limit in working hours (one working day = the sum of the day's windows)."""
        if basis == TimeUnit.working_days:
            return amount * self.hours_per_day
        if basis == TimeUnit.working_hours:
            return amount
        raise ValueError(f"{basis} is not counted in working time")

    def deadline(self, start: dt.datetime, amount: float, basis: TimeUnit | str) -> dt.datetime:
        """Returns when a limit of `amount` (`basis`: working_hours, working_days, natural_hours) runs out."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if amount < 0:
            raise ValueError("a time limit cannot be negative")
        if basis == TimeUnit.natural_hours:
            return start + dt.timedelta(hours=amount)
        remaining = dt.timedelta(hours=self.to_working_hours(amount, basis))
        local = start.astimezone(self.tz)
        day = local.date()
        # NOTE: bounded loop: even 60 working days across Spring Festival is a few hundred iterations.
        for _ in range(3660):
            for window_start, window_end in self._day_windows(day):
                begin = max(window_start, local)
                if begin >= window_end:
                    continue
                available = window_end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
            day += dt.timedelta(days=1)
        raise ValueError("time limit does not end within ten years")

    def working_hours_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Returns the working hours that elapse between two instants (0 if end is before start)."""
        if end <= start:
            return 0.0
        local_start, local_end = start.astimezone(self.tz), end.astimezone(self.tz)
        total = dt.timedelta()
        day = local_start.date()
        while day <= local_end.date():
            for window_start, window_end in self._day_windows(day):
                begin, finish = max(window_start, local_start), min(window_end, local_end)
                if finish > begin:
                    total += finish - begin
            day += dt.timedelta(days=1)
        return total / _HOUR

    def elapsed_share(self, start: dt.datetime, now: dt.datetime, amount: float, basis: TimeUnit | str) -> float:
        """Returns how much of a limit has been used at `now` (0.0 … and above 1.0 when overdue)."""
        if amount <= 0:
            return 1.0
        if basis == TimeUnit.natural_hours:
            return max((now - start) / _HOUR, 0.0) / amount
        return self.working_hours_between(start, now) / self.to_working_hours(amount, basis)
