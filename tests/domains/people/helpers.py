"""Builders of the register tests: valid identity numbers, import files (XLSX, CSV), the standard population."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence

from openpyxl import Workbook

from gridgov.domains.people.checks import check_digit

HEADERS = (
    "楼院编码",
    "门牌号",
    "与户主关系",
    "姓名",
    "性别",
    "出生日期",
    "民族",
    "公民身份号码",
    "联系电话",
    "人口类型",
    "标签",
)


def make_id(born: dt.date, seq: int, region: str = "410105") -> str:
    """Returns a synthetic identity number with a valid GB 11643 check digit: sequence 9xx (the demo's fake
    range, like 99x), xx = `seq` mod 100, odd for a man and even for a woman."""
    first17 = f"{region}{born:%Y%m%d}9{seq % 100:02d}"
    return first17 + check_digit(first17)


def wrong_check_digit(number: str) -> str:
    """Returns the number with another (wrong) check character."""
    options = "0123456789X".replace(number[-1], "")
    return number[:-1] + options[0]


# The standard population: (building, room, relation, name, gender, born, ethnicity, id, phone, residence, tags)
ZHANG_ID = make_id(dt.date(1950, 3, 2), 11)
LI_ID = make_id(dt.date(1952, 7, 9), 22)
WANG_ID = make_id(dt.date(1985, 11, 30), 33)
WANG_CHILD_ID = make_id(dt.date(2015, 6, 1), 44)
ZHAO_ID = make_id(dt.date(1970, 1, 15), 55)
ZHANG_PHONE, WANG_PHONE, ZHAO_PHONE = "13800138000", "13912345678", "0371-65881234"


def rows_west(building_a: str, building_b: str) -> list[tuple[object, ...]]:
    """Rows of two households of the west community: one in grid A (with tags), one in grid B."""
    return [
        (
            building_a,
            "1单元101",
            "户主",
            "张三",
            "男",
            "1950-03-02",
            "汉族",
            ZHANG_ID,
            ZHANG_PHONE,
            "户籍",
            "空巢老人、低保户",
        ),
        (building_a, "1单元101", "配偶", "李四", "女", "", "汉", LI_ID, "", "户籍", "严重精神障碍患者"),
        (building_b, "2单元201", "户主", "王五", "", "", "回族", WANG_ID, WANG_PHONE, "常住", ""),
        (building_b, "2单元201", "子女", "王小六", "", "", "回族", WANG_CHILD_ID, "", "常住", ""),
    ]


def rows_east(building_e: str) -> list[tuple[object, ...]]:
    """One household of the east community."""
    return [(building_e, "3单元301", "户主", "赵七", "男", "", "汉族", ZHAO_ID, ZHAO_PHONE, "流动", "")]


def workbook(rows: Sequence[Sequence[object]], headers: Sequence[str] = HEADERS, title: str | None = None) -> bytes:
    """Returns an XLSX with `headers` and `rows` (text cells, as a district would fill it in)."""
    book = Workbook()
    sheet = book.active
    sheet.title = "人口信息"
    if title:
        sheet.append([title])
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: Sequence[Sequence[object]], encoding: str = "utf-8-sig", headers: Sequence[str] = HEADERS) -> bytes:
    """Returns the rows as a CSV file in `encoding` (GBK as Excel in China saves it)."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(headers)
    writer.writerows(rows)
    return text.getvalue().encode(encoding)
