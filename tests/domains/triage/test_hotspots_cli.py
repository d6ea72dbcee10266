"""`gridgov triage hotspots` on exported histories (CSV and XLSX with Chinese headers) and on bad input."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from gridgov.cli import app
from gridgov.domains.triage import cli as triage_cli
from gridgov.domains.triage.hotspot_files import parse_time
from tests.domains.triage.hotspot_history import TZ, History, generate

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as on a wide terminal: rich fixes a console's width when the module is imported."""
    for console in (triage_cli.console, triage_cli.err_console):
        monkeypatch.setattr(console, "width", 250)


HEADER = ["工单编号", "受理时间", "标题", "诉求内容", "点赞数", "经度", "纬度"]


def _run(*args: Any) -> Any:
    return runner.invoke(app, ["triage", "hotspots", *map(str, args)], env={"COLUMNS": "200"})


def _rows(history: History, stamp: str = "%Y-%m-%d %H:%M:%S") -> list[list[Any]]:
    rows = []
    for m in sorted(history.messages, key=lambda m: m.at):
        title, _, rest = m.text.partition("，")
        rows.append(
            [
                m.id,
                m.at.astimezone(TZ).strftime(stamp),
                title,
                rest,
                m.likes,
                "" if m.lng is None else f"{m.lng:.6f}",
                "" if m.lat is None else f"{m.lat:.6f}",
            ]
        )
    return rows


def _csv(path: Path, header: list[str], rows: list[list[Any]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _found_planted(document: dict[str, Any], history: History) -> set[str]:
    found = set()
    for key, members in history.planted.items():
        for spot in document["hotspots"]:
            hits = len(members & set(spot["member_ids"]))
            if hits / len(members) >= 0.9 and hits / spot["size"] >= 0.9:
                found.add(key)
    return found


@pytest.fixture(scope="module")
def history() -> History:
    return generate(seed=11, noise=300)


ARGS = ["--text-col", "标题", "--text-col", "诉求内容", "--time-col", "受理时间", "--id-col", "工单编号"]
PLACE = ["--likes-col", "点赞数", "--lng-col", "经度", "--lat-col", "纬度"]


def test_a_csv_export_gives_the_ranked_table_and_the_json(tmp_path: Path, history: History) -> None:
    data = _csv(tmp_path / "热线工单.csv", HEADER, _rows(history, "%Y/%m/%d %H:%M"), encoding="gb18030")
    out = tmp_path / "hotspots.json"
    result = _run(data, *ARGS, *PLACE, "--top", "3", "--json", out)
    assert result.exit_code == 0, result.output
    count = len(history.messages)
    assert f"热线工单.csv: {count} messages" in result.output and "heat" in result.output
    assert "… and" in result.output  # more than the 3 shown
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["messages"] == count and document["options"]["min_similarity"] == 0.25
    assert _found_planted(document, history) == set(history.planted)
    first = document["hotspots"][0]
    assert first["rank"] == 1 and first["heat"] == max(h["heat"] for h in document["hotspots"])
    assert set(first) >= {"title", "keywords", "size", "first_at", "last_at", "member_ids", "locations", "details"}
    assert first["title"][:6] in result.output  # the table wraps long titles to the terminal width


def test_an_xlsx_export_with_excel_times_and_a_title_line(tmp_path: Path, history: History) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "工单明细"
    sheet.append(["2026年11月 12345 工单导出"])
    sheet.append(HEADER)
    for row in _rows(history):
        row[1] = dt.datetime.strptime(row[1], "%Y-%m-%d %H:%M:%S")  # an Excel date cell, local time
        sheet.append(row)
    data = tmp_path / "history.xlsx"
    book.save(data)
    out = tmp_path / "out.json"
    result = _run(data, *ARGS, "--window-days", "30", "--json", out)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["window"]["end"].startswith(
        max(m.at for m in history.messages).astimezone(TZ).strftime("%Y-%m-%dT%H:%M")
    )
    # Without coordinates, the fire lane reported at two places 5 km apart is one text-only hotspot.
    assert _found_planted(document, history) >= {"manhole", "night-works", "oil", "lamp", "dog"}
    assert all(h["centre"] is None for h in document["hotspots"])


def test_the_window_can_be_named(tmp_path: Path, history: History) -> None:
    data = _csv(tmp_path / "h.csv", HEADER, _rows(history))
    result = _run(data, *ARGS, "--since", "2026-11-20", "--until", "2026-11-27", "--min-size", "6")
    assert result.exit_code == 0, result.output
    assert "2026-11-20 00:00 – 2026-11-28 00:00" in result.output  # a date alone: its whole day


@pytest.mark.parametrize(
    ("rows", "extra", "message"),
    [
        (
            [["A1", "2026-11-03 14:22:05", "井盖", "丢了", "1", "", ""]],
            ["--time-col", "来电时间"],
            "missing column 来电时间",
        ),
        (
            [
                ["A1", "2026-11-03 14:22:05", "井盖", "丢了", "1", "", ""],
                ["A2", "昨天下午", "井盖", "丢了", "", "", ""],
            ],
            [],
            "row 3, 受理时间: cannot read '昨天下午' as a time",
        ),
        (
            [["A1", "2026-11-03", "井盖", "丢了", "1", "", ""], ["A1", "2026-11-04", "井盖", "丢了", "", "", ""]],
            [],
            "row 3, 工单编号: id 'A1' repeats row 2",
        ),
        ([["A1", "2026-11-03", "井盖", "丢了", "很多", "", ""]], PLACE, "likes '很多' is not a whole number"),
        ([["A1", "2026-11-03", "井盖", "丢了", "1", "200", "34"]], PLACE, "are not a longitude and latitude"),
        ([["A1", "2026-11-03", "", "", "1", "", ""]], [], "no message with a text"),
    ],
)
def test_bad_input_is_refused_with_where_and_why(tmp_path: Path, rows, extra, message) -> None:
    data = _csv(tmp_path / "bad.csv", HEADER, rows)
    args = [*ARGS, *extra]
    if "--time-col" in extra:
        args = [a for i, a in enumerate(args) if not (a == "--time-col" or (i and args[i - 1] == "--time-col"))]
        args += extra
    result = _run(data, *args)
    assert result.exit_code == 1, result.output
    assert message in result.output, result.output


def test_bad_options_are_refused(tmp_path: Path, history: History) -> None:
    data = _csv(tmp_path / "h.csv", HEADER, _rows(history)[:20])
    assert "either --window-days or --since" in _run(data, *ARGS, "--window-days", "7", "--since", "2026-11-01").output
    assert "give both --lng-col and --lat-col" in _run(data, *ARGS, "--lng-col", "经度").output
    assert "unknown --crs" in _run(data, *ARGS, "--crs", "utm").output
    assert "min_size must be at least 2" in _run(data, *ARGS, "--min-size", "1").output
    missing = _run(tmp_path / "nope.csv", *ARGS)
    assert missing.exit_code == 1 and "no such file" in missing.output
    other = _run(tmp_path / "h.txt", *ARGS)
    assert other.exit_code == 1


def test_times_are_read_in_the_districts_zone() -> None:
    tz = dt.timezone(dt.timedelta(hours=8))
    assert parse_time("2026/11/3 14:22", tz) == dt.datetime(2026, 11, 3, 14, 22, tzinfo=tz)
    assert parse_time("2026-11-03 14:22:05", tz) == dt.datetime(2026, 11, 3, 14, 22, 5, tzinfo=tz)
    assert parse_time("2026年11月3日 14时22分", tz) == dt.datetime(2026, 11, 3, 14, 22, tzinfo=tz)
    assert parse_time("2026-11-03T06:22:05+00:00", tz) == dt.datetime(2026, 11, 3, 14, 22, 5, tzinfo=tz)
    assert parse_time(dt.date(2026, 11, 3), tz) == dt.datetime(2026, 11, 3, tzinfo=tz)
    with pytest.raises(ValueError, match="cannot read"):
        parse_time("11/3", tz)


def test_texts_that_look_like_markup_are_printed_as_they_are(tmp_path: Path) -> None:
    # Rich would read [/b] as a closing tag without an opening one (MarkupError) and swallow [bold].
    texts = [
        "经八路小区北门垃圾桶满了[/b]没人清运[bold]",
        "经八路小区北门垃圾桶满了[/b]没人清运，臭气熏天[bold]",
        "经八路小区北门垃圾桶又满了[/b]没人清运[bold]",
        "经八路小区北门垃圾桶满了[/b]好几天没人清运[bold]",
        "经八路小区北门的垃圾桶满了[/b]没人清运[bold]",
        "经八路小区北门垃圾桶满了[/b]一直没人清运[bold]",
    ]
    rows = [[f"A{n}", f"2026-11-0{n + 1} 10:00:00", "", text, "", "", ""] for n, text in enumerate(texts)]
    data = _csv(tmp_path / "导出[bold].csv", HEADER, rows)
    result = _run(data, *ARGS)
    assert result.exit_code == 0, result.output
    assert "导出[bold].csv: 6 messages" in result.output
    assert "1 hotspot in" in result.output and "[/b]" in result.output.split("hotspot in", 1)[1]
    assert "[bold]" in result.output.split("hotspot in", 1)[1]
    # ... and so are the values quoted by an error.
    bad = _csv(tmp_path / "bad.csv", HEADER, [*rows[:2], ["A9", "[/b]昨天", "", "井盖丢了", "", "", ""]])
    refused = _run(bad, *ARGS)
    assert refused.exit_code == 1 and "cannot read '[/b]昨天' as a time" in refused.output, refused.output
