"""The SLA sweep: warnings at 50/75/90 %, overdue with automatic supervision, each marked exactly once, also
when two sweeps run at the same time; suspensions end on their date."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from gridgov import migrations
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.cases import jobs, sla
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Action
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.intake import service as intake
from tests.domains.cases.conftest import T0
from tests.domains.cases.test_flow import ctx, report
from tests.domains.cases.world import World, load_world, point

H = dt.timedelta(hours=1)


@pytest.fixture
def committed(fresh_database_url):
    """A committed database with the world and one dispatched case (handle limit 4 wh from Wed 09:00)."""
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    locate.invalidate()
    with transaction(engine) as db:
        world = load_world(db)
        case_id = intake.submit(db=db, report=report(), ctx=ctx(world.grid_worker)).case.id
    yield engine, case_id
    engine.dispose()
    locate.invalidate()


def marks(engine, case_id: int) -> list[tuple[str, int | None]]:
    with transaction(engine, write=False) as db:
        events = db.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case_id, CaseEvent.action.in_([Action.warn, Action.overdue, Action.supervise]))
            .order_by(CaseEvent.seq)
        )
        return [(str(e.action), e.data.get("level")) for e in events]


def at(hours_after_start: float) -> dt.datetime:
    """Wall time when `hours_after_start` working hours of the handle clock have passed (09:00 start)."""
    return sla.default_calendar().deadline(T0, hours_after_start, "working_hours")


def test_thresholds_are_crossed_once_each(committed):
    engine, case_id = committed
    assert jobs.sweep(engine=engine, now=at(1.9)).warnings == 0  # 47 %: nothing due yet
    report = jobs.sweep(engine=engine, now=at(2.1))
    assert (report.examined, report.warnings) == (1, 1)
    assert jobs.sweep(engine=engine, now=at(2.2)).examined == 0  # next check is at 75 %
    jobs.sweep(engine=engine, now=at(3.7))  # past 90 %: crosses 75 and 90 at once, marks the highest
    assert marks(engine, case_id) == [("warn", 50), ("warn", 90)]
    report = jobs.sweep(engine=engine, now=at(4.5))
    assert report.overdue == 1
    assert marks(engine, case_id) == [("warn", 50), ("warn", 90), ("overdue", 100), ("supervise", None)]
    with transaction(engine, write=False) as db:
        case = db.get(Case, case_id)
        assert case.is_overdue and case.is_supervised and case.warning_level == 100 and case.next_check_at is None
    assert jobs.sweep(engine=engine, now=at(40)).examined == 0  # nothing is marked twice


def test_two_sweeps_at_once_mark_each_case_once(committed):
    engine, _ = committed
    with transaction(engine) as db:
        world = World(db=db)
        for i in range(40):
            intake.submit(db=db, report=report(at=point(20 + 10 * i, 700)), ctx=ctx(world.grid_worker))
    other = create_db_engine(str(engine.url.render_as_string(hide_password=False)))
    barrier = threading.Barrier(2)
    reports = []

    def run(e):
        barrier.wait()
        reports.append(jobs.sweep(engine=e, now=at(5), batch_size=7))

    threads = [threading.Thread(target=run, args=(e,)) for e in (engine, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    other.dispose()
    assert sum(r.overdue for r in reports) == 41
    with transaction(engine, write=False) as db:
        per_case = Counter(db.scalars(select(CaseEvent.case_id).where(CaseEvent.action == Action.overdue)))
        assert len(per_case) == 41 and set(per_case.values()) == {1}
        assert db.scalar(select(func.count()).select_from(Case).where(Case.is_overdue)) == 41


def test_an_approved_suspension_ends_on_its_date(committed):
    engine, case_id = committed
    with transaction(engine) as db:
        world = World(db=db)
        case = db.get(Case, case_id)
        case_service.sign(db=db, case=case, ctx=ctx(world.sanitation, 5))
        until = T0 + dt.timedelta(days=2)
        case_service.request_suspension(db=db, case=case, ctx=ctx(world.sanitation, 30), until=until, reason="冬季")
        case_service.decide_suspension(db=db, case=case, ctx=ctx(world.street_dispatcher, 40), approve=True)
    assert jobs.sweep(engine=engine, now=T0 + dt.timedelta(days=1)).examined == 0  # no warnings while paused
    report = jobs.sweep(engine=engine, now=until + H)
    assert report.resumed == 1
    with transaction(engine, write=False) as db:
        case = db.get(Case, case_id)
        assert not case.is_suspended and case.clock_limit > 4
        assert [e.action for e in case_service.timeline(db=db, case=case)][-1] == Action.resume


def test_worker_once_runs_the_sweep(cli_env):
    from typer.testing import CliRunner

    from gridgov.cli import app

    migrations.upgrade(cli_env)
    engine = create_db_engine(cli_env)
    locate.invalidate()
    with transaction(engine) as db:
        world = load_world(db)
        case_id = intake.submit(db=db, report=report(), ctx=ctx(world.grid_worker)).case.id  # due on 25 Nov 2026
    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert marks(engine, case_id)[-2:] == [("overdue", 100), ("supervise", None)]
    engine.dispose()
