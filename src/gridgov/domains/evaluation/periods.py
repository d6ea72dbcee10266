"""Evaluation periods (考核周期): a month, a quarter, a year, a day or a range of local dates, as [start, end) in UTC.

Boundaries are local midnights in the district's time zone: "2026-11" in Asia/Shanghai starts at
2026-11-01 00:00 +08:00 (2026-10-31 16:00 UTC) and ends at 2026-12-01 00:00 +08:00.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from gridgov.config import get_settings
from gridgov.core.errors import Invalid

FORMS = (
    "2026-11 (a month)",
    "2026-Q4 (a quarter)",
    "2026 (a year)",
    "2026-11-25 (a day)",
    "2026-11-01..2026-11-15 (local dates, both included)",
)

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})$")
# NOTE: local midnight of year 1 is before the first UTC instant Python holds, and years below 1000 are not
# written with four digits in the timestamps the engines compare: the years a period may cover are bounded.
MIN_YEAR, MAX_YEAR = 1900, 9998


def _bad(text: str, why: str) -> Invalid:
    return Invalid(
        f"bad period {text!r}: {why}; write one of {', '.join(FORMS)}",
        code="bad_period",
        field="period",
        forms=list(FORMS),
    )


def _local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """Returns the UTC instant of local midnight starting `day`."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


@dataclass(frozen=True)
class Period:
    """A period [start, end) in UTC (aware), with its label as written ("2026-11", "2026-Q4", "2026", "2026-11-25",
    "2026-11-01..2026-11-15"); `tz` is the time zone its local dates are in (the district's)."""

    start: dt.datetime
    end: dt.datetime
    label: str
    tz: ZoneInfo | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo) -> Period:
        """Returns the period written as `text` in local dates of `tz`; raises Invalid naming the accepted forms."""
        raw = (text or "").strip()
        try:
            if m := _YEAR.match(raw):
                year = int(m[1])
                return cls._span(dt.date(year, 1, 1), dt.date(year + 1, 1, 1), raw, tz)
            if m := _QUARTER.match(raw):
                year, quarter = int(m[1]), int(m[2])
                first = dt.date(year, 3 * quarter - 2, 1)
                nxt_year, nxt_month = _add_months(year, 3 * quarter - 2, 3)
                return cls._span(first, dt.date(nxt_year, nxt_month, 1), f"{year}-Q{quarter}", tz)
            if m := _MONTH.match(raw):
                year, month = int(m[1]), int(m[2])
                if not 1 <= month <= 12:
                    raise _bad(text, f"month {month} is not 1–12")
                nxt_year, nxt_month = _add_months(year, month, 1)
                return cls._span(dt.date(year, month, 1), dt.date(nxt_year, nxt_month, 1), f"{year}-{month:02d}", tz)
            if m := _DAY.match(raw):
                day = dt.date.fromisoformat(m[1])
                return cls._span(day, day + dt.timedelta(days=1), day.isoformat(), tz)
            if m := _RANGE.match(raw):
                first, last = dt.date.fromisoformat(m[1]), dt.date.fromisoformat(m[2])
                if last < first:
                    raise _bad(text, f"the range ends ({last}) before it starts ({first})")
                return cls._span(first, last + dt.timedelta(days=1), f"{first}..{last}", tz)
        except (ValueError, OverflowError) as error:  # a date that does not exist (2026-02-30) or a year out of range
            raise _bad(text, str(error)) from None
        raise _bad(text, "not a period")

    @classmethod
    def _span(cls, first: dt.date, after: dt.date, label: str, tz: ZoneInfo) -> Period:
        if first.year < MIN_YEAR or after.year > MAX_YEAR + 1:
            raise ValueError(f"periods lie within the years {MIN_YEAR}–{MAX_YEAR}")  # parse names the text
        return cls(start=_local_midnight(first, tz), end=_local_midnight(after, tz), label=label, tz=tz)

    @property
    def kind(self) -> str:
        """Returns "year", "quarter", "month", "day" or "range", read from the label."""
        if _YEAR.match(self.label):
            return "year"
        if _QUARTER.match(self.label):
            return "quarter"
        if _MONTH.match(self.label):
            return "month"
        if _DAY.match(self.label):
            return "day"
        return "range"

    def local_dates(self) -> tuple[dt.date, dt.date]:
        """Returns the first and the last local date of the period (both included)."""
        tz = self._zone()
        return self.start.astimezone(tz).date(), (self.end.astimezone(tz) - dt.timedelta(microseconds=1)).date()

    def previous(self) -> Period:
        """Returns the period of the same length just before: the previous month, quarter, year, day, or range of
        as many days; Invalid when that lies before the first supported year."""
        try:
            return self._previous()
        except (Invalid, ValueError, OverflowError):
            raise _bad(self.label, f"the period before it lies outside the years {MIN_YEAR}–{MAX_YEAR}") from None

    def _previous(self) -> Period:
        tz = self._zone()
        first, last = self.local_dates()
        kind = self.kind
        if kind == "year":
            return Period.parse(str(first.year - 1), tz)
        if kind == "quarter":
            year, month = _add_months(first.year, first.month, -3)
            return Period.parse(f"{year}-Q{(month - 1) // 3 + 1}", tz)
        if kind == "month":
            year, month = _add_months(first.year, first.month, -1)
            return Period.parse(f"{year}-{month:02d}", tz)
        days = (last - first).days + 1
        if kind == "day":
            return Period.parse((first - dt.timedelta(days=1)).isoformat(), tz)
        return Period.parse(f"{first - dt.timedelta(days=days)}..{first - dt.timedelta(days=1)}", tz)

    def contains(self, moment: dt.datetime) -> bool:
        """Returns whether the instant `moment` (aware) lies in [start, end)."""
        return self.start <= moment < self.end

    def _zone(self) -> ZoneInfo:
        # A period built by hand without a zone is in the district's.
        return self.tz if self.tz is not None else get_settings().tz

    def __str__(self) -> str:
        return self.label
