"""Checks of what people type into the register: identity numbers (GB 11643), phones, ethnicities, dates.

Each check returns the normalised value or raises ValueError with a message for a person; messages never repeat
the personal value itself (an error report must not become a copy of the register).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from gridgov.domains.people.enums import Gender

# GB 11643-1999: the 18th character is ISO 7064 MOD 11-2 over the first 17 digits with these weights.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"  # indexed by the weighted sum mod 11
# GB/T 2260 province-level codes (the first two digits of the address code).
PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54}
    | {61, 62, 63, 64, 65, 71, 81, 82, 83}
)
EARLIEST_BIRTH = dt.date(1900, 1, 1)

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")

# The 56 ethnic groups (民族) of GB/T 3304; a file may leave out the trailing 族 (汉 for 汉族).
ETHNICITIES = tuple(
    (
        "汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 白族 土家族 哈尼族 "
        "哈萨克族 傣族 黎族 傈僳族 佤族 畲族 高山族 拉祜族 水族 东乡族 纳西族 景颇族 柯尔克孜族 土族 "
        "达斡尔族 仫佬族 羌族 布朗族 撒拉族 毛南族 仡佬族 锡伯族 阿昌族 普米族 塔吉克族 怒族 乌孜别克族 "
        "俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 塔塔尔族 独龙族 鄂伦春族 赫哲族 门巴族 珞巴族 基诺族"
    ).split()
)
OTHER_ETHNICITIES = ("其他", "外国血统中国籍人士")
_ETHNICITY_LOOKUP = {name: name for name in ETHNICITIES + OTHER_ETHNICITIES} | {
    name.removesuffix("族"): name for name in ETHNICITIES
}


@dataclass(frozen=True, slots=True)
class IdentityNumber:
    """A checked resident identity number (公民身份号码) and what it encodes."""

    number: str  # 18 characters, upper-case X
    region: str  # 6-digit address code
    birth_date: dt.date
    gender: Gender  # 17th digit: odd male, even female


def check_digit(first17: str) -> str:
    """Returns the GB 11643 check character (0-9 or X) of the first 17 digits of an identity number."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def normalise_identity_number(value: str) -> str:
    """Returns an identity number as stored and hashed: no spaces, upper-case X (full-width characters folded)."""
    folded = value.translate(_FULL_WIDTH)
    return re.sub(r"\s+", "", folded).upper()


def parse_identity_number(value: str, *, today: dt.date | None = None) -> IdentityNumber:
    """Returns the checked identity number; raises ValueError saying what is wrong (length, date, check digit)."""
    number = normalise_identity_number(value)
    if len(number) != 18:
        raise ValueError(f"an identity number has 18 characters, this one has {len(number)}")
    if not number.isascii() or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise ValueError("an identity number is 17 digits followed by a digit or X")
    if int(number[:2]) not in PROVINCES:
        raise ValueError(f"the address code starts with {number[:2]}, which is no province (GB/T 2260)")
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValueError("digits 7-14 are not a valid birth date (YYYYMMDD)") from None
    if born < EARLIEST_BIRTH or born > (today or dt.date.today()):
        raise ValueError("the birth date in digits 7-14 lies in the future or before 1900")
    if check_digit(number[:17]) != number[17]:
        raise ValueError(
            "the check digit (18th character) does not match the other digits (GB 11643): a digit is wrong"
        )
    gender = Gender.male if int(number[16]) % 2 else Gender.female
    return IdentityNumber(number=number, region=number[:6], birth_date=born, gender=gender)


def normalise_phone(value: str) -> str:
    """Returns a mainland mobile (13800138000) or landline (0371-12345678) number; raises ValueError otherwise.

    Spaces, dashes, brackets and a +86 / 0086 prefix are dropped; an extension is not accepted.
    """
    digits = re.sub(r"[\s\-()（）]", "", value.translate(_FULL_WIDTH))
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
    if digits.startswith("86") and len(digits) == 13 and MOBILE_RE.match(digits[2:]):
        digits = digits[2:]
    if not (digits.isascii() and digits.isdigit()):
        # NOTE: ASCII digits only: "²" or "٣" would pass isdigit() and be stored and hashed unlike the same number
        # typed plainly, so the blind index would not find it.
        raise ValueError("a phone number holds digits only (with spaces or dashes between groups)")
    if MOBILE_RE.match(digits):
        return digits
    if digits.startswith("0"):
        # NOTE: area codes 010 and 02x have three digits, all others (0371 ...) four; the number 7 or 8 digits.
        split = 3 if digits[1] in "12" else 4
        area, number = digits[:split], digits[split:]
        if 7 <= len(number) <= 8 and number[0] != "0":
            return f"{area}-{number}"
        raise ValueError("a landline is the area code (010, 02x or 0xxx) followed by 7 or 8 digits")
    if digits.startswith("1"):
        raise ValueError("a mobile number has 11 digits and starts with 13-19")
    raise ValueError("not a mainland mobile (11 digits, 1[3-9]...) or landline (area code 0xx(x) and 7-8 digits)")


def phone_digits(value: str) -> str:
    """Returns the digits of a normalised phone (what the blind index is computed over)."""
    return re.sub(r"\D", "", value)


def normalise_ethnicity(value: str) -> str:
    """Returns the standard name of an ethnic group ("汉" → "汉族"); raises ValueError for an unknown one."""
    text = value.strip()
    if text in _ETHNICITY_LOOKUP:
        return _ETHNICITY_LOOKUP[text]
    raise ValueError(f"unknown ethnic group {text!r}: one of the 56 groups of GB/T 3304 (汉族, 回族 ...) or 其他")


def parse_date(value: object) -> dt.date:
    """Returns a date given as a date, or as text 2024-05-01, 2024/5/1, 20240501 or 2024年5月1日."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00)?)?", text) or re.fullmatch(
        r"(\d{4})(\d{2})(\d{2})", text
    )
    if not match:
        raise ValueError(f"not a date: {text!r} (write 1980-05-01)")
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise ValueError(f"not a valid date: {text!r}") from None


_FULL_WIDTH = str.maketrans("０１２３４５６７８９ｘＸ－＋　", "0123456789xX-+ ")
