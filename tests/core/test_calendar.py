import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest

from gridgov.config import Settings
from gridgov.core.calendar import TimeUnit, WorkingCalendar, statutory_workday

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def calendar() -> WorkingCalendar:
    return WorkingCalendar.from_settings(Settings(_env_file=None, working_hours="08:30-12:00,13:30-18:00"))


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def test_national_day_2026_is_skipped_and_the_saturday_make_up_day_counts():
    assert not statutory_workday(dt.date(2026, 10, 1))
    assert not statutory_workday(dt.date(2026, 10, 7))
    assert statutory_workday(dt.date(2026, 10, 10))  # Saturday 调休 workday
    assert not statutory_workday(dt.date(2026, 10, 11))  # ordinary Sunday


def test_working_hours_skip_lunch(calendar):
    # 11:00 + 2 working hours = 1 h before lunch, 1 h after 13:30
    assert calendar.deadline(at(2026, 11, 25, 11, 0), 2, TimeUnit.working_hours) == at(2026, 11, 25, 14, 30)


def test_working_hours_started_outside_working_time_begin_at_the_next_window(calendar):
    assert calendar.deadline(at(2026, 11, 25, 12, 15), 1, TimeUnit.working_hours) == at(2026, 11, 25, 14, 30)
    assert calendar.deadline(at(2026, 11, 25, 20, 0), 1, TimeUnit.working_hours) == at(2026, 11, 26, 9, 30)


def test_working_hours_across_national_day_2026(calendar):
    # Wed 30 Sep 16:00: 2 h left that day, holiday 1-7 Oct, resume Thu 8 Oct 08:30 for the other 2 h.
    assert calendar.deadline(at(2026, 9, 30, 16, 0), 4, TimeUnit.working_hours) == at(2026, 10, 8, 10, 30)


def test_working_days_are_whole_days_of_working_hours(calendar):
    assert calendar.hours_per_day == 8.0
    # Fri 9 Oct 10:00 + 1 working day lands on the make-up Saturday 10 Oct at 10:00.
    assert calendar.deadline(at(2026, 10, 9, 10, 0), 1, TimeUnit.working_days) == at(2026, 10, 10, 10, 0)
    # ... and 2 working days skip Sunday 11 Oct.
    assert calendar.deadline(at(2026, 10, 9, 10, 0), 2, TimeUnit.working_days) == at(2026, 10, 12, 10, 0)


def test_natural_hours_ignore_holidays(calendar):
    start = at(2026, 10, 1, 23, 0)
    assert calendar.deadline(start, 2, TimeUnit.natural_hours) == at(2026, 10, 2, 1, 0)


def test_deadline_keeps_the_callers_time_zone(calendar):
    start = at(2026, 11, 25, 9, 0).astimezone(dt.UTC)
    deadline = calendar.deadline(start, 1, TimeUnit.working_hours)
    assert deadline.tzinfo == dt.UTC
    assert deadline == at(2026, 11, 25, 10, 0)


def test_working_hours_between_inverts_deadline(calendar):
    start = at(2026, 9, 29, 17, 0)
    for hours in (0.5, 3, 7.25, 30):
        end = calendar.deadline(start, hours, TimeUnit.working_hours)
        assert calendar.working_hours_between(start, end) == pytest.approx(hours)


def test_elapsed_share_for_warnings(calendar):
    start = at(2026, 11, 25, 8, 30)
    assert calendar.elapsed_share(start, at(2026, 11, 25, 10, 30), 4, TimeUnit.working_hours) == pytest.approx(0.5)
    # lunch does not count
    assert calendar.elapsed_share(start, at(2026, 11, 25, 13, 30), 4, TimeUnit.working_hours) == pytest.approx(0.875)
    assert calendar.elapsed_share(start, at(2026, 11, 26, 8, 30), 4, TimeUnit.working_hours) == pytest.approx(2.0)
    assert calendar.elapsed_share(start, at(2026, 11, 25, 9, 30), 2, TimeUnit.natural_hours) == pytest.approx(0.5)


def test_bad_arguments_are_refused(calendar):
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.deadline(dt.datetime(2026, 1, 5, 9), 1, TimeUnit.working_hours)
    with pytest.raises(ValueError, match="negative"):
        calendar.deadline(at(2026, 1, 5, 9), -1, TimeUnit.working_hours)


def test_years_without_a_schedule_fall_back_to_weekdays():
    assert statutory_workday(dt.date(2099, 6, 1))  # a Monday
    assert not statutory_workday(dt.date(2099, 6, 6))  # a Saturday


def test_a_year_without_a_schedule_is_warned_about_once_per_process(caplog, monkeypatch):
    from gridgov.core import calendar as calendar_module

    monkeypatch.setattr(calendar_module, "_UNSCHEDULED_YEARS", set())  # as if in a fresh process
    statutory_workday.cache_clear()
    caplog.set_level(logging.WARNING, logger="gridgov.core.calendar")
    try:
        days = [dt.date(2098, 1, 1) + dt.timedelta(days=n) for n in range(40)]
        assert sum(statutory_workday(day) for day in days) == sum(day.weekday() < 5 for day in days)
        statutory_workday.cache_clear()  # a day asked about again after the cache forgot it: still no new warning
        statutory_workday(dt.date(2098, 1, 5))
        statutory_workday(dt.date(2097, 12, 31))  # another year: its own warning
        statutory_workday(dt.date(2026, 10, 1))  # a scheduled year: none
    finally:
        statutory_workday.cache_clear()
    warnings = [r.getMessage() for r in caplog.records if r.name == "gridgov.core.calendar"]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("no statutory holiday schedule for 2098; counting Monday-Friday as workdays")
    assert warnings[1].startswith("no statutory holiday schedule for 2097;")
