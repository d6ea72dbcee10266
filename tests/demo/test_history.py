"""The demo history (`gridgov.demo.history`): made once per module on a fresh, migrated demo database, then
checked for what a history must show: every channel and stage, a realistic mix, a sound event log, refusals."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from gridgov import migrations
from gridgov.cli import app
from gridgov.config import get_settings
from gridgov.core.db import create_db_engine, dispose_engines, mark_writer, session_factory, transaction
from gridgov.core.errors import Invalid
from gridgov.demo import cli as demo_cli
from gridgov.demo import history
from gridgov.demo import service as demo_service
from gridgov.demo.users import create_demo_users
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.cases.enums import Action, CaseStage, Channel
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.triage import registry as triage_registry
from tests.pg import PgServer

runner = CliRunner()
TZ = ZoneInfo("Asia/Shanghai")
# A fixed window in the past: the same seed then gives the same history on every run of the suite.
END = dt.datetime(2026, 11, 20, 18, 30, tzinfo=TZ)
DAYS, PER_DAY, SEED = 8, 40, 7  # ~320 cases: enough that the rarer turns (2-3 %) all occur


@dataclass
class History:
    url: str
    engine: Engine
    report: history.HistoryReport


@pytest.fixture(scope="module")
def made(pg_server: PgServer | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """A fresh database with the demo loaded and DAYS days of history (committed day by day, as the CLI does)."""
    folder = tmp_path_factory.mktemp("history")
    if pg_server is not None:
        url = pg_server.create_database(f"gridgov_history_{os.getpid()}")
    else:
        url = f"sqlite:///{folder / 'history.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRIDGOV_ENV", "test")
        patch.setenv("GRIDGOV_DATABASE_URL", url)
        patch.setenv("GRIDGOV_MEDIA_DIR", str(folder / "media"))
        get_settings.cache_clear()
        dispose_engines()
        triage_registry.forget()
        migrations.upgrade(url)
        engine = create_db_engine(url)
        try:
            with transaction(engine) as db:
                demo_service.load(db=db)
                create_demo_users(db=db)
            with session_factory(engine)() as db:
                mark_writer(db)
                report = history.generate(db=db, days=DAYS, per_day=PER_DAY, seed=SEED, end=END, commit=True)
                db.commit()
            yield History(url=url, engine=engine, report=report)
        finally:
            engine.dispose()
            dispose_engines()
            get_settings.cache_clear()
            triage_registry.forget()


def _cases(made: History) -> list[Case]:
    with session_factory(made.engine)() as db:
        return list(db.scalars(select(Case).order_by(Case.id)))


def _events(made: History) -> list[CaseEvent]:
    with session_factory(made.engine)() as db:
        return list(db.scalars(select(CaseEvent).order_by(CaseEvent.case_id, CaseEvent.seq)))


def test_every_channel_and_stage_appears(made):
    cases = _cases(made)
    events = _events(made)
    assert made.report.cases == len(cases)
    assert made.report.events == len(events)
    assert 0.7 * DAYS * PER_DAY <= len(cases) <= 1.3 * DAYS * PER_DAY
    channels = Counter(c.channel for c in cases)
    assert set(channels) >= {Channel.patrol, Channel.snapshot, Channel.hotline, Channel.open311, Channel.assignment}
    assert channels[Channel.patrol] == max(channels.values())  # grid workers report most, as in real districts
    # Every stage is reached by some event, and the end of the window leaves cases open at several stages.
    assert {e.to_stage for e in events} == set(CaseStage)
    open_stages = {c.stage for c in cases if c.is_open}
    assert len(open_stages) >= 3, open_stages
    actions = {e.action for e in events}
    assert actions >= {
        Action.report,
        Action.self_handle,
        Action.confirm,
        Action.register,
        Action.reject,
        Action.merge,
        Action.dispatch,
        Action.sign,
        Action.return_,
        Action.start,
        Action.finish,
        Action.verify,
        Action.rework,
        Action.request_extension,
        Action.decide_extension,
        Action.rate,
        Action.warn,
        Action.overdue,
        Action.supervise,
    }


def test_the_mix_is_roughly_the_designed_one(made):
    cases = _cases(made)
    total = len(cases)
    closed = [c for c in cases if c.stage == CaseStage.closed]
    late = [c for c in closed if c.handle_due_at is not None and c.handled_at > c.handle_due_at]
    share = {
        "closed": len(closed) / total,
        "late_of_closed": len(late) / len(closed),
        "merged": sum(c.stage == CaseStage.merged for c in cases) / total,
        "rejected": sum(c.stage == CaseStage.rejected for c in cases) / total,
        "returned": sum(c.return_count > 0 for c in cases) / total,
        "reworked": sum(c.rework_count > 0 for c in cases) / total,
    }
    # A short window leaves its last day's cases open; over 90 days about 80 % close on time.
    assert 0.6 <= share["closed"] <= 0.92, share
    assert 0 < share["late_of_closed"] <= 0.2, share
    assert 0 < share["merged"] <= 0.08, share
    assert 0 < share["rejected"] <= 0.06, share
    assert 0 < share["returned"] <= 0.12, share
    assert 0 < share["reworked"] <= 0.1, share
    assert any(c.extension_count for c in cases)
    assert any(c.is_open and c.is_overdue for c in cases)  # late cases at the end of the window
    outcomes = made.report.outcomes
    assert outcomes["closed_on_time"] + outcomes["closed_late"] == len(closed)
    assert 0.04 <= outcomes["rated"] / total <= 0.2, outcomes
    assert 0 < outcomes["reopened"] <= outcomes["unsatisfied"] <= outcomes["rated"] / 2


def test_events_are_in_time_order_inside_the_window(made):
    report = made.report
    assert report.end == END
    last: dict[int, dt.datetime] = {}
    for event in _events(made):
        assert report.start <= event.occurred_at < report.end
        assert event.occurred_at >= last.get(event.case_id, report.start), (event.case_id, event.seq)
        last[event.case_id] = event.occurred_at
    for case in _cases(made):
        assert case.updated_at < report.end


def test_cases_are_acted_on_by_the_right_people(made):
    with session_factory(made.engine)() as db:
        roles = Counter(
            (row.action, row.actor_role)
            for row in db.execute(select(CaseEvent.action, CaseEvent.actor_role).where(CaseEvent.action != "note"))
        )
        patrol_reporters = set(
            db.scalars(select(Case.reporter_role).where(Case.channel == Channel.patrol).group_by(Case.reporter_role))
        )
        staff = Counter(db.scalars(select(User.role).where(User.username.like("gw-%") | User.username.like("uh-%"))))
    assert patrol_reporters == {Role.grid_worker}
    assert {role for (action, role) in roles if action == Action.sign} <= {Role.unit_handler, Role.community_secretary}
    assert {role for (action, role) in roles if action == Action.confirm} == {Role.grid_worker}
    assert {role for (action, role) in roles if action in (Action.merge, Action.reject)} <= {
        Role.street_dispatcher,
        Role.district_dispatcher,
    }
    manual = roles[(Action.dispatch, Role.street_dispatcher)] + roles[(Action.dispatch, Role.district_dispatcher)]
    assert roles[(Action.dispatch, Role.system)] > manual > 0  # mostly automatic; re-dispatches by hand
    assert {role for (action, role) in roles if action in (Action.warn, Action.overdue)} == {Role.system}
    assert staff[Role.grid_worker] > 0 and staff[Role.unit_handler] > 0
    assert made.report.users_created >= staff[Role.grid_worker] + staff[Role.unit_handler]


def test_finished_work_carries_the_photo_where_required(made):
    with session_factory(made.engine)() as db:
        finishes = db.scalars(select(CaseEvent).where(CaseEvent.action == Action.finish)).all()
        required = {c.id: c.matter_type.evidence_required for c in db.scalars(select(Case))}
    photos = {sha for e in finishes for sha in e.data["evidence"]}
    assert len(photos) == 1  # one generated photo, registered once
    assert all(e.data["evidence"] for e in finishes if required[e.case_id])


def test_the_same_seed_gives_the_same_history(made):
    def signature() -> list[tuple]:
        with session_factory(made.engine)() as db:
            start = db.scalar(select(func.max(Case.id))) or 0
            history.generate(db=db, days=1, per_day=12, seed=99, end=END - dt.timedelta(days=3), force=True)
            rows = db.execute(
                select(Case.number, Case.channel, Case.title, Case.stage, Case.reported_at, Case.updated_at)
                .where(Case.id > start)
                .order_by(Case.number)
            ).all()
            db.rollback()  # leaves the module's history as it was
            return [tuple(row) for row in rows]

    first = signature()
    assert first and first == signature()


def test_a_second_run_refuses_and_writes_nothing(made):
    with session_factory(made.engine)() as db:
        before = db.scalar(select(func.count(Case.id)))
        with pytest.raises(history.HistoryRefused, match="already holds .* cases"):
            history.generate(db=db, days=2, per_day=5, seed=SEED)
        db.rollback()
        assert db.scalar(select(func.count(Case.id))) == before


def test_an_end_in_the_future_is_refused(made):
    with session_factory(made.engine)() as db:
        future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        with pytest.raises(Invalid, match="not in the future"):
            history.generate(db=db, days=1, per_day=5, end=future, force=True)
        with pytest.raises(Invalid, match="with its zone"):
            history.generate(db=db, days=1, per_day=5, end=dt.datetime(2026, 11, 1, 12), force=True)


def test_the_command_refuses_too_and_force_adds_a_history_ending_now(made, monkeypatch):
    monkeypatch.setenv("GRIDGOV_ENV", "test")
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", made.url)
    get_settings.cache_clear()
    dispose_engines()
    try:
        result = runner.invoke(app, ["demo", "history", "--days", "1", "--per-day", "5"])
        assert result.exit_code == 1
        assert "already holds" in result.output and "--force" in result.output
        result = runner.invoke(app, ["demo", "history", "--force", "--end", "yesterday"])
        assert result.exit_code == 1 and "--end: not a date and time" in result.output

        before = len(_cases(made))
        result = runner.invoke(app, ["demo", "history", "--days", "1", "--per-day", "6", "--force"])
        assert result.exit_code == 0, result.output
        assert "demo history:" in result.output and "cases/s" in result.output
        assert re.search(r"  day 1/2 \(\d{4}-\d\d-\d\d\): \d+ cases so far, \d+ s, about \d+ s left", result.output)
        with session_factory(made.engine)() as db:
            newest = db.scalar(select(func.max(CaseEvent.occurred_at)))
        assert len(_cases(made)) > before
        assert END < newest <= dt.datetime.now(dt.UTC)  # a history ending now, never in the future
    finally:
        dispose_engines()
        get_settings.cache_clear()


def test_make_demo_again_leaves_a_database_with_cases_alone(made, monkeypatch):
    monkeypatch.setenv("GRIDGOV_ENV", "test")
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", made.url)
    get_settings.cache_clear()
    dispose_engines()
    try:
        before = len(_cases(made))
        result = runner.invoke(app, ["demo", "load", "--if-empty", "--history", "90"])  # what `make demo` runs
        assert result.exit_code == 0, result.output
        assert "areas already exist: demo not loaded (--if-empty)" in result.output
        assert f"no history generated either: the database holds {before:,} cases already" in result.output
        assert len(_cases(made)) == before
    finally:
        dispose_engines()
        get_settings.cache_clear()


def test_it_refuses_outside_the_demo_district(db):
    with pytest.raises(history.HistoryRefused, match="not the demo district"):
        history.check_ready(db=db)


def test_demo_load_runs_the_history_only_when_asked(cli_env, monkeypatch):
    asked: list[dict] = []
    monkeypatch.setattr(demo_cli.service, "load", lambda *, db: demo_service.DemoReport())
    monkeypatch.setattr(demo_cli, "create_demo_users", lambda *, db: [])
    monkeypatch.setattr(demo_cli, "_generate_history", lambda **kwargs: asked.append(kwargs))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["demo", "load"]).exit_code == 0
    assert asked == []
    result = runner.invoke(app, ["demo", "load", "--history", "30"])
    assert result.exit_code == 0, result.output
    assert asked == [{"days": 30, "per_day": 60, "seed": history.SEED, "force": False}]


@pytest.mark.skipif(
    importlib.util.find_spec("gridgov.domains.evaluation.engine") is None, reason="no evaluation engine yet"
)
def test_the_evaluation_counts_see_closed_and_on_time_cases(made):
    from gridgov.domains.evaluation import engine as evaluation_engine
    from gridgov.domains.evaluation.enums import Dimension
    from gridgov.domains.evaluation.periods import Period

    start = made.report.start.astimezone(TZ).date()
    period = Period.parse(f"{start:%Y-%m-%d}..{END:%Y-%m-%d}", TZ)
    with session_factory(made.engine)() as db:
        table = evaluation_engine.compute(db=db, period=period, dimension=Dimension.district, engine="sql")
    assert table.get("410105", "closed") > 0
    assert 0 < table.get("410105", "closed_on_time") <= table.get("410105", "closed")
