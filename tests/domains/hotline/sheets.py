"""A 12345 work-order export as a hotline platform writes it: a title line, Chinese headers, good and bad rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from tests.domains.cases.world import point

HEADER = [
    "工单编号",
    "受理时间",
    "诉求分类",
    "标题",
    "诉求内容",
    "来电人",
    "联系电话",
    "事发地址",
    "所属街道",
    "所属社区",
    "经度",
    "纬度",
    "紧急程度",
    "办理时限",
    "承办单位",  # not used by the import: reported as ignored
]
LNG, LAT = point()  # grid 410105001001001
LNG_E, LAT_E = point(800, 100)  # grid 410105002002004

# Rows as written after a title line (row 1) and the header (row 2): the first data row is Excel row 3.
ROWS: list[list[Any]] = [
    # row 3: good, coordinates, a real date cell
    [
        "GD001",
        dt.datetime(2026, 11, 25, 8, 30),
        "020101",
        "垃圾没人清运",
        "北门口垃圾堆了三天",
        "张三",
        "13800000001",
        "经八路1号",
        None,
        None,
        LNG,
        LAT,
        "一般",
        "2026-11-27 17:00",
        "经八路街道办",
    ],
    # row 4: good, no coordinates: the street's name places it; the deadline is a duration
    [
        "GD002",
        "2026/11/25 8:40",
        "市容环境/占道经营",
        None,
        "门口有人摆摊占道",
        None,
        None,
        "花园路2号",
        "花园路街道",
        None,
        None,
        None,
        "紧急",
        "3个工作日",
        None,
    ],
    # row 5: no content
    ["GD003", "2026-11-25 08:50", "020101", "垃圾", None, None, None, None, None, None, LNG, LAT, None, None, None],
    # row 6: coordinates outside the district
    [
        "GD004",
        "2026-11-25 08:51",
        "020101",
        None,
        "路边垃圾",
        None,
        None,
        None,
        None,
        None,
        113.0,
        34.0,
        None,
        None,
        None,
    ],
    # row 7: a category the crosswalk does not know
    [
        "GD005",
        "2026-11-25 08:52",
        "999999",
        None,
        "咨询公积金提取",
        None,
        None,
        None,
        None,
        None,
        LNG,
        LAT,
        None,
        None,
        None,
    ],
    # row 8: a date that does not exist
    ["GD006", "2026-13-45 10:00", "020101", None, "垃圾满了", None, None, None, None, None, LNG, LAT, None, None, None],
    # row 9: good: the category as a longer path, a community name within its street, a masked phone
    [
        "GD007",
        "2026-11-25 09:00",
        "城市管理/环境卫生/垃圾清运",
        None,
        "南区垃圾桶满溢",
        "李四",
        "138****5678",
        None,
        "经八路街道",
        "经八路南社区",
        0,
        0,
        None,
        None,
        None,
    ],
    # row 10: blank
    [None] * 15,
    # row 11: good, coordinates given as text
    [
        "GD008",
        "2026-11-25 09:05",
        "130101",
        "邻居噪音纠纷",
        "楼上邻居深夜吵闹，协商未果",
        "王五",
        "0371-6666 8888",
        None,
        None,
        None,
        str(LNG_E),
        str(LAT_E),
        "一般",
        None,
        None,
    ],
    # row 12: two problems at once
    ["GD009", "2026-11-25 09:06", "020101", None, None, None, None, None, None, None, LNG, LAT, None, "下周", None],
]
GOOD = ["GD001", "GD002", "GD007", "GD008"]
# (row, column, start of the message) of every problem, in order.
ERRORS = [
    (5, "诉求内容", "required, but empty"),
    (6, "经度, 纬度", "location (113.0, 34.0) is outside the district's grids"),
    (7, "诉求分类", "unknown 12345 category '999999'"),
    (8, "受理时间", "not a valid date: '2026-13-45 10:00'"),
    (12, "诉求内容", "required, but empty"),
    (12, "办理时限", "not a date and time: '下周'"),
]


def write_xlsx(path: Path, rows: list[list[Any]] = ROWS, *, header: list[str] = HEADER, title: bool = True) -> Path:
    """Writes an export like the hotline platform's: a title line, the header, then `rows`."""
    workbook = Workbook()
    ws = workbook.active
    ws.title = "工单明细"
    if title:
        ws.append(["金水区12345热线工单导出（2026-11-25）"])
    ws.append(header)
    for row in rows:
        ws.append(row)
    workbook.save(path)
    return path


def csv_bytes(rows: list[list[Any]] = ROWS, *, encoding: str = "utf-8-sig", header: list[str] = HEADER) -> bytes:
    """Returns the export as CSV (no title line: the header is row 1) in `encoding`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            ["" if v is None else v.strftime("%Y-%m-%d %H:%M") if isinstance(v, dt.datetime) else v for v in row]
        )
    return out.getvalue().encode(encoding)
