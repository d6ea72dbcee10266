"""Evaluation periods: every written form, local-midnight boundaries, the previous period, and refused text."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gridgov.core.errors import Invalid
from gridgov.domains.evaluation.periods import FORMS, Period

SH = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "label", "start", "end"),
    [
        # Local midnight in Asia/Shanghai is 16:00 UTC the day before.
        ("2026-11", "2026-11", utc(2026, 10, 31, 16), utc(2026, 11, 30, 16)),
        ("2026-2", "2026-02", utc(2026, 1, 31, 16), utc(2026, 2, 28, 16)),
        ("2026-12", "2026-12", utc(2026, 11, 30, 16), utc(2026, 12, 31, 16)),
        ("2026-Q4", "2026-Q4", utc(2026, 9, 30, 16), utc(2026, 12, 31, 16)),
        ("2026-q1", "2026-Q1", utc(2025, 12, 31, 16), utc(2026, 3, 31, 16)),
        ("2026", "2026", utc(2025, 12, 31, 16), utc(2026, 12, 31, 16)),
        ("2026-11-25", "2026-11-25", utc(2026, 11, 24, 16), utc(2026, 11, 25, 16)),
        ("2026-11-01..2026-11-15", "2026-11-01..2026-11-15", utc(2026, 10, 31, 16), utc(2026, 11, 15, 16)),
        (" 2026-11-01 .. 2026-11-01 ", "2026-11-01..2026-11-01", utc(2026, 10, 31, 16), utc(2026, 11, 1, 16)),
    ],
)
def test_every_form_parses_to_local_midnights(text, label, start, end):
    period = Period.parse(text, SH)
    assert (period.label, period.start, period.end) == (label, start, end)
    assert period.start.tzinfo is not None and period.start.utcoffset() == dt.timedelta(0)


def test_boundaries_follow_the_given_time_zone():
    period = Period.parse("2026-11", ZoneInfo("UTC"))
    assert (period.start, period.end) == (utc(2026, 11, 1), utc(2026, 12, 1))
    # A zone with summer time: November starts in CET (+01:00), the previous month began in CEST (+02:00).
    berlin = ZoneInfo("Europe/Berlin")
    assert Period.parse("2026-11", berlin).start == utc(2026, 10, 31, 23)
    assert Period.parse("2026-10", berlin).start == utc(2026, 9, 30, 22)


def test_the_last_minute_belongs_to_the_period_and_midnight_to_the_next():
    period = Period.parse("2026-11", SH)
    assert period.contains(dt.datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=SH))
    assert not period.contains(dt.datetime(2026, 12, 1, 0, 0, tzinfo=SH))
    assert period.contains(dt.datetime(2026, 11, 1, 0, 0, tzinfo=SH))
    assert not period.contains(dt.datetime(2026, 10, 31, 23, 59, tzinfo=SH))


@pytest.mark.parametrize(
    ("text", "previous"),
    [
        ("2026-11", "2026-10"),
        ("2026-01", "2025-12"),
        ("2026-03", "2026-02"),
        ("2026-Q1", "2025-Q4"),
        ("2026-Q3", "2026-Q2"),
        ("2026", "2025"),
        ("2026-03-01", "2026-02-28"),
        ("2026-11-01..2026-11-15", "2026-10-17..2026-10-31"),
        ("2026-03-01..2026-03-01", "2026-02-28..2026-02-28"),
    ],
)
def test_previous_is_the_period_of_the_same_length_just_before(text, previous):
    period = Period.parse(text, SH)
    before = period.previous()
    assert before == Period.parse(previous, SH)
    assert before.label == previous
    assert before.end == period.start


def test_a_period_built_by_hand_uses_the_district_time_zone_for_previous():
    parsed = Period.parse("2026-11", SH)
    by_hand = Period(start=parsed.start, end=parsed.end, label="2026-11")
    assert by_hand == parsed
    assert by_hand.previous() == Period.parse("2026-10", SH)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not a period"),
        ("November", "not a period"),
        ("2026-13", "month 13 is not 1–12"),
        ("2026-00", "month 0 is not 1–12"),
        ("2026-Q5", "not a period"),
        ("2026-02-30", "day is out of range"),
        ("2026-11-15..2026-11-01", "ends (2026-11-01) before it starts (2026-11-15)"),
        ("2026/11", "not a period"),
    ],
)
def test_bad_text_is_refused_naming_the_accepted_forms(text, why):
    with pytest.raises(Invalid) as raised:
        Period.parse(text, SH)
    message = raised.value.message
    assert why in message
    assert f"bad period {text!r}" in message
    for form in ("2026-11", "2026-Q4", "2026 (a year)", "2026-11-01..2026-11-15"):
        assert form in message
    assert raised.value.code == "bad_period"
    assert raised.value.details["forms"] == list(FORMS)


@pytest.mark.parametrize(
    "text", ["0001", "0001-01", "0001-Q1", "0001-01-01", "0001-01-02..0001-01-05", "1899-12", "1899-12-31..1900-01-02"]
)
def test_years_outside_the_supported_range_are_refused_not_a_crash(text):
    # NOTE: 0001-01-01 local midnight in Shanghai is before the first instant Python can hold in UTC
    with pytest.raises(Invalid) as raised:
        Period.parse(text, SH)
    assert "years 1900–9998" in raised.value.message and raised.value.code == "bad_period"


@pytest.mark.parametrize("text", ["1900", "1900-01", "1900-01-01", "1900-01-01..9998-12-31"])
def test_a_period_without_a_previous_one_says_so(text):
    period = Period.parse(text, SH)
    with pytest.raises(Invalid) as raised:
        period.previous()
    assert f"bad period {text!r}: the period before it lies outside the years 1900–9998" in raised.value.message


def test_the_last_supported_year_parses():
    period = Period.parse("9998-12", SH)
    assert period.end == dt.datetime(9999, 1, 1, tzinfo=SH)
    assert period.previous().label == "9998-11"
