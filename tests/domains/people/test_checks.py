"""Checks of identity numbers (GB 11643), phones, ethnicities and dates: each bad value refused with its reason."""

from __future__ import annotations

import datetime as dt

import pytest

from gridgov.domains.people.checks import (
    check_digit,
    normalise_ethnicity,
    normalise_phone,
    parse_date,
    parse_identity_number,
    phone_digits,
)
from gridgov.domains.people.enums import Gender
from tests.domains.people.helpers import make_id, wrong_check_digit

TODAY = dt.date(2026, 11, 25)
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def test_the_check_digit_follows_gb_11643_with_x_for_ten():
    # The standard's own example, and one whose check character is X.
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44052418800101001") == "4"
    for born, seq in ((dt.date(1950, 3, 2), 11), (dt.date(2015, 6, 1), 44), (dt.date(1999, 12, 31), 999)):
        number = make_id(born, seq)
        total = sum(int(d) * w for d, w in zip(number[:17], WEIGHTS, strict=True))
        assert (12 - total % 11) % 11 == (10 if number[17] == "X" else int(number[17]))


def test_a_valid_number_gives_its_birth_date_and_gender_and_is_normalised():
    parsed = parse_identity_number(" 11010519491231002x ", today=TODAY)
    assert parsed.number == "11010519491231002X"
    assert parsed.birth_date == dt.date(1949, 12, 31) and parsed.gender == Gender.female and parsed.region == "110105"
    assert parse_identity_number(make_id(dt.date(1980, 1, 1), 11), today=TODAY).gender == Gender.male
    assert parse_identity_number("１１０１０５１９４９１２３１００２Ｘ", today=TODAY).number == "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (wrong_check_digit(make_id(dt.date(1950, 3, 2), 11)), "check digit"),
        ("4101051950030201", "18 characters"),
        ("41010519500302011A", "17 digits followed by a digit or X"),
        ("99010519500302011" + check_digit("99010519500302011"), "no province"),
        ("41010519501302011" + check_digit("41010519501302011"), "not a valid birth date"),
        ("41010520300302011" + check_digit("41010520300302011"), "future"),
        ("41010518500302011" + check_digit("41010518500302011"), "before 1900"),
    ],
)
def test_bad_identity_numbers_are_refused_with_the_reason_and_without_the_number(value, message):
    with pytest.raises(ValueError, match=message) as refused:
        parse_identity_number(value, today=TODAY)
    assert value not in str(refused.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("0371-65881234", "0371-65881234"),
        ("0371 6588 1234", "0371-65881234"),
        ("010-12345678", "010-12345678"),
        ("(021)6123456", "021-6123456"),
    ],
)
def test_phones_are_normalised(value, expected):
    assert normalise_phone(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("12345678901", "starts with 13-19"),
        ("1380013800", "11 digits"),
        ("0371-123", "7 or 8 digits"),
        ("abc", "digits"),
    ],
)
def test_bad_phones_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        normalise_phone(value)


def test_phone_digits_are_what_the_blind_index_hashes():
    assert phone_digits("0371-65881234") == "037165881234"


def test_ethnicities_and_dates():
    assert normalise_ethnicity("汉") == "汉族" and normalise_ethnicity("维吾尔族") == "维吾尔族"
    with pytest.raises(ValueError, match="unknown ethnic group"):
        normalise_ethnicity("火星族")
    assert parse_date("1980/5/1") == parse_date("1980年5月1日") == parse_date("19800501") == dt.date(1980, 5, 1)
    with pytest.raises(ValueError, match="not a date"):
        parse_date("May 1980")
