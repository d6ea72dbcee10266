"""What `make demo` runs on every start: `gridgov demo load --if-empty --history 90`. The first run on an empty
database loads the district and then the history; any later run (areas exist) does neither, and says why and,
when there are no cases, how to add the history by hand. The progress lines of a long history are readable."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gridgov.cli import app
from gridgov.demo import cli as demo_cli
from gridgov.demo import history
from gridgov.demo import service as demo_service
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area

runner = CliRunner()
MAKE_DEMO = ["demo", "load", "--if-empty", "--history", "90"]


@pytest.fixture
def fake_load(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """A demo load that writes only the district's row (the real one takes ~10 s) and a history that only records
    that it was asked for; returns the histories asked for."""
    asked: list[dict] = []

    def load(*, db: Session) -> demo_service.DemoReport:
        db.add(Area(code="410105", name="金水区", level=AreaLevel.district, path="/410105/"))
        db.flush()
        return demo_service.DemoReport()

    monkeypatch.setattr(demo_cli.service, "load", load)
    monkeypatch.setattr(demo_cli, "create_demo_users", lambda *, db: [])
    monkeypatch.setattr(demo_cli, "_generate_history", lambda **kwargs: asked.append(kwargs))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return asked


def test_the_first_make_demo_loads_the_district_and_the_history_and_the_second_neither(fake_load):
    first = runner.invoke(app, MAKE_DEMO)
    assert first.exit_code == 0, first.output
    assert "demo district loaded" in first.output
    assert fake_load == [{"days": 90, "per_day": 60, "seed": history.SEED, "force": False}]

    second = runner.invoke(app, MAKE_DEMO)
    assert second.exit_code == 0, second.output
    assert "areas already exist: demo not loaded (--if-empty)" in second.output
    assert len(fake_load) == 1  # the history is not generated again
    # the areas were loaded but no case exists (say, the first history was interrupted before its first day):
    # nothing is generated behind the user's back, they are told how to add it
    assert "the database holds no cases: add 90 days of history with: gridgov demo history --days 90" in (
        " ".join(second.output.split())
    )


def test_without_history_the_if_empty_run_says_nothing_about_a_history(fake_load):
    assert runner.invoke(app, ["demo", "load", "--if-empty"]).exit_code == 0
    again = runner.invoke(app, ["demo", "load", "--if-empty"])
    assert again.exit_code == 0 and "already exist" in again.output and "history" not in again.output
    assert fake_load == []


def test_the_progress_lines_count_days_and_estimate_the_time_left(monkeypatch):
    seconds = [0.0]
    printed: list[str] = []
    monkeypatch.setattr(demo_cli.console, "print", lambda text, **_: printed.append(text))
    on_day = demo_cli.progress_printer(total_days=25, timer=lambda: seconds[0])
    first = dt.date(2026, 9, 1)
    for n in range(25):
        seconds[0] = 3.0 * (n + 1)  # 3 s a simulated day
        on_day(first + dt.timedelta(days=n), 60 * (n + 1))
    assert printed == [
        "  day 1/25 (2026-09-01): 60 cases so far, 3 s, about 1 min 12 s left",
        "  day 10/25 (2026-09-10): 600 cases so far, 30 s, about 45 s left",
        "  day 20/25 (2026-09-20): 1,200 cases so far, 1 min 00 s, about 15 s left",
    ]
