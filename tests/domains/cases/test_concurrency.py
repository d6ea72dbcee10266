"""Concurrent writers on a committed database: two dispatchers on one case, two retries of one report.

Each worker has its own session and connection and holds its transaction open a moment after acting, so on
PostgreSQL both have read the case before either commits (the loser's UPDATE then waits for the winner's row
lock and finds the version moved on). On SQLite writers serialize at BEGIN IMMEDIATE, so the loser reads the
winner's result. Either way exactly one wins and the other gets a 409 Conflict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from gridgov import migrations
from gridgov.config import Settings
from gridgov.core.db import create_db_engine, transaction
from gridgov.core.errors import Conflict
from gridgov.domains.areas import locate
from gridgov.domains.auth.enums import Role
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Action, CaseStage, Channel
from gridgov.domains.cases.models import Case, CaseEvent, CaseSequence
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog.models import Unit
from gridgov.domains.intake import service as intake
from gridgov.domains.intake.schemas import CaseSubmit
from gridgov.main import create_app
from tests.domains.cases.world import add_token_user, bearer, load_world, point

HOLD_S = 0.3  # how long each worker keeps its transaction open after acting
UNSURE = {"label": "SJ0601", "confidence": 0.5}


@dataclass
class Committed:
    """A migrated database of the test's own with the world loaded and committed."""

    url: str
    engine: Engine
    actors: dict[str, Any]


@pytest.fixture
def committed(fresh_database_url: str) -> Iterator[Committed]:
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    locate.invalidate()
    with transaction(engine) as db:
        world = load_world(db)
        actors = {
            "grid_worker": world.grid_worker,
            "dispatcher_a": world.district_dispatcher,
            "dispatcher_b": world.street_dispatcher,
        }
    try:
        yield Committed(url=fresh_database_url, engine=engine, actors=actors)
    finally:
        engine.dispose()
        locate.invalidate()


def race(worker: Callable[[int], Any], n: int = 2) -> list[Any]:
    """Runs `worker(i)` in n threads released together; returns each result or the exception it raised."""
    barrier = threading.Barrier(n, timeout=10)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = worker(i)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return results


def queued_case(c: Committed) -> tuple[int, int]:
    """Commits a case that waits in the dispatch queue; returns its id and version."""
    with transaction(c.engine) as db:
        report = CaseSubmit(
            channel=Channel.patrol, matter_type="SJ0601", title="其他事件", lng=point()[0], lat=point()[1],
            classification=UNSURE,
        )  # fmt: skip
        case = intake.submit(db=db, report=report, ctx=Context.of(c.actors["grid_worker"])).case
        assert case.stage == CaseStage.registered
        return case.id, case.version


def unit_id(db: Session, code: str) -> int:
    return db.scalars(select(Unit.id).where(Unit.code == code)).one()


def test_two_dispatchers_at_once_one_wins_the_other_gets_stale_version(committed):
    case_id, version = queued_case(committed)
    targets = ["CGJ", "410105001-HWS"]

    def dispatch(i: int) -> str:
        with transaction(committed.engine) as db:
            case = case_service.get(db=db, case_id=case_id)
            unit = db.get(Unit, unit_id(db, targets[i]))
            ctx = Context.of(committed.actors[f"dispatcher_{'ab'[i]}"])
            case_service.dispatch(db=db, case=case, unit=unit, co_units=[], ctx=ctx, expected_version=version)
            time.sleep(HOLD_S)
        return targets[i]

    results = race(dispatch)
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1 and len(losers) == 1, results
    [loser] = losers
    assert isinstance(loser, Conflict), repr(loser)
    assert loser.code == "stale_version" and loser.status == 409

    with transaction(committed.engine, write=False) as db:
        case = case_service.get(db=db, case_id=case_id)
        assert case.stage == CaseStage.dispatched
        assert case.handling_unit_id == unit_id(db, winners[0])
        assert case.hop_count == 1 and case.version > version
        dispatches = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == "dispatch"))
        assert [e.data["unit"] for e in dispatches] == winners


@pytest.mark.postgres
def test_a_write_that_lost_the_row_lock_is_a_conflict_without_an_expected_version(committed):
    if committed.engine.dialect.name != "postgresql":
        pytest.skip("SQLite writers serialize at BEGIN IMMEDIATE: two sessions never hold the same case at once")
    case_id, _ = queued_case(committed)

    def sign_off(i: int) -> int:
        with transaction(committed.engine) as db:
            case = case_service.get(db=db, case_id=case_id)
            ctx = Context.of(committed.actors[f"dispatcher_{'ab'[i]}"])
            case_service.supervise(db=db, case=case, ctx=ctx, note=f"督办 {i}")
            time.sleep(HOLD_S)
        return i

    results = race(sign_off)
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "int"], results
    [loser] = [r for r in results if isinstance(r, Conflict)]
    assert loser.code == "stale_version"
    assert not any(isinstance(r, StaleDataError) for r in results)
    with transaction(committed.engine, write=False) as db:
        supervisions = select(func.count(CaseEvent.id)).where(
            CaseEvent.case_id == case_id, CaseEvent.action == Action.supervise
        )
        assert db.scalar(supervisions) == 1


def test_two_dispatchers_over_http(committed, tmp_path):
    case_id, version = queued_case(committed)
    settings = Settings(env="test", database_url=committed.url, media_dir=tmp_path / "media")
    app = create_app(settings, committed.engine)
    with transaction(committed.engine) as db:
        _, district_token = add_token_user(db, "dispatcher_d", Role.district_dispatcher, "CENTRE", None)
        _, street_token = add_token_user(db, "dispatcher_s", Role.street_dispatcher, "410105001-CYZX", "410105001")
    headers = [bearer(district_token), bearer(street_token)]
    targets = ["CGJ", "410105001-HWS"]

    def post(i: int) -> tuple[int, dict[str, Any]]:
        with TestClient(app) as client:
            response = client.post(
                f"/api/v1/cases/{case_id}/dispatch", json={"unit": targets[i], "version": version}, headers=headers[i]
            )
        return response.status_code, response.json()

    results = race(post)
    assert sorted(status for status, _ in results) == [200, 409], results
    [(_, won)] = [r for r in results if r[0] == 200]
    [(_, lost)] = [r for r in results if r[0] == 409]
    assert lost["code"] == "stale_version"
    with transaction(committed.engine, write=False) as db:
        case = case_service.get(db=db, case_id=case_id)
        assert case.version == won["version"] and case.hop_count == 1


def test_two_retries_of_one_report_at_once_make_one_case(committed):
    grid_worker = committed.actors["grid_worker"]
    lng, lat = point()
    report = CaseSubmit(channel=Channel.patrol, matter_type="SJ0102", title="暴露垃圾", lng=lng, lat=lat)

    def submit(_i: int) -> tuple[int, bool]:
        with transaction(committed.engine) as db:
            result = intake.submit(db=db, report=report, ctx=Context.of(grid_worker), idempotency_key="retry-42")
            outcome = result.case.id, result.created
            time.sleep(HOLD_S)
        return outcome

    results = race(submit)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0] == results[1][0]
    with transaction(committed.engine, write=False) as db:
        assert db.scalar(select(func.count(Case.id))) == 1
        assert db.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.action == Action.report)) == 1
        assert db.scalar(select(CaseSequence.last)) == 1  # the loser's number was given back: no gap


def test_the_first_reports_of_a_day_at_once_get_distinct_numbers(committed):
    grid_worker = committed.actors["grid_worker"]

    def submit(i: int) -> str:
        lng, lat = point(100 + 200 * i, 880)
        report = CaseSubmit(channel=Channel.patrol, matter_type="SJ0102", title=f"暴露垃圾 {i}", lng=lng, lat=lat)
        with transaction(committed.engine) as db:
            number = intake.submit(db=db, report=report, ctx=Context.of(grid_worker)).case.number
            time.sleep(HOLD_S)
        return number

    results = race(submit, n=3)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(int(n.rsplit("-", 1)[1]) for n in results) == [1, 2, 3]
    with transaction(committed.engine, write=False) as db:
        assert db.scalar(select(CaseSequence.last)) == 3


def test_a_stale_data_error_escaping_a_route_is_a_409(settings, engine):
    app = create_app(settings, engine)

    @app.post("/boom")
    def boom() -> None:
        raise StaleDataError("UPDATE statement on table 'case' expected to update 1 row(s); 0 were matched.")

    with TestClient(app) as client:
        response = client.post("/boom")
    assert response.status_code == 409
    assert response.json()["code"] == "stale_version"
    assert "reload" in response.json()["message"]
