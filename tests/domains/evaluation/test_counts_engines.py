"""DuckDB and the database's own SQL give identical tables on committed data (SQLite, and PostgreSQL with
--db postgresql), equal to the hand counts and to a plain reading of the definitions; DuckDB sees committed data
only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from gridgov import migrations
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.evaluation.engine import compute
from gridgov.domains.evaluation.enums import Dimension
from gridgov.domains.evaluation.periods import Period
from tests.domains.cases.world import load_world
from tests.domains.evaluation import scenario
from tests.domains.evaluation.random_world import play
from tests.domains.evaluation.reference import reference_rows
from tests.domains.evaluation.scenario import SH, at, submit
from tests.domains.evaluation.test_counts import EXPECTED, PERIODS, without_areas


@dataclass
class Committed:
    engine: Engine
    scenario_ids: list[int]


@pytest.fixture(scope="module")
def committed(pg_server, tmp_path_factory) -> Iterator[Committed]:
    """A committed database holding the hand-built November and random histories around it."""
    if pg_server is not None:
        url = pg_server.create_database(f"gridgov_counts_{os.getpid()}")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('counts') / 'counts.db'}"
    migrations.upgrade(url)
    engine = create_db_engine(url)
    locate.invalidate()
    try:
        with transaction(engine) as db:
            world = load_world(db)
            november = scenario.build(db, world)
            play(db, world, cases=70, seed=5)
            ids = [case.id for case in november.cases.values()]
        yield Committed(engine=engine, scenario_ids=ids)
    finally:
        engine.dispose()
        locate.invalidate()


def both(committed: Committed, **kwargs):
    with transaction(committed.engine, write=False) as db:
        return compute(db=db, engine="duckdb", **kwargs), compute(db=db, engine="sql", **kwargs)


@pytest.mark.parametrize("dimension", list(Dimension))
def test_duckdb_reproduces_the_hand_counts(committed, dimension):
    november = Period.parse("2026-11", SH)
    duck, plain = both(committed, period=november, dimension=dimension, case_ids=committed.scenario_ids)
    assert duck.engine == "duckdb" and plain.engine == "sql"
    assert duck.rows == plain.rows == EXPECTED[dimension]
    assert duck.labels == plain.labels


@pytest.mark.parametrize("text", PERIODS)
def test_both_engines_give_identical_tables_and_match_the_definitions(committed, text):
    period = Period.parse(text, SH)
    with transaction(committed.engine, write=False) as db:
        for dimension in Dimension:
            duck = compute(db=db, period=period, dimension=dimension, engine="duckdb")
            plain = compute(db=db, period=period, dimension=dimension, engine="sql")
            assert duck.engine == "duckdb"
            assert (duck.rows, duck.labels, duck.population, duck.staff) == (
                plain.rows,
                plain.labels,
                plain.population,
                plain.staff,
            ), dimension
            assert without_areas(duck.rows) == reference_rows(db, period, dimension), dimension


def test_filters_give_identical_tables(committed):
    period = Period.parse("2026-Q4", SH)
    scope = "/410105/410105002/"
    duck, plain = both(committed, period=period, dimension=Dimension.grid, scope_path=scope)
    assert duck.rows == plain.rows and duck.rows
    assert all(key.startswith("410105002") for key in duck.rows)
    duck, plain = both(committed, period=period, dimension=Dimension.unit, matter_type_codes=["SJ0102", "BJ0101"])
    assert duck.rows == plain.rows and duck.rows


def test_an_empty_period_is_an_empty_table_on_both(committed):
    duck, plain = both(committed, period=Period.parse("2025", SH), dimension=Dimension.street)
    assert duck.rows == plain.rows == {}
    assert duck.engine == "duckdb"


def test_duckdb_reads_committed_data_only(fresh_database_url):
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    locate.invalidate()
    november = Period.parse("2026-11", SH)
    try:
        with transaction(engine) as db:
            world = load_world(db)
            submit(db, world.grid_worker, at(25, 9), (120, 880))
            db.flush()
            # Flushed, not committed: the session's own SQL sees the case, DuckDB (another connection) does not.
            assert compute(db=db, period=november, dimension=Dimension.district, engine="sql").get("410105", "received")
            duck = compute(db=db, period=november, dimension=Dimension.district, engine="duckdb")
            assert duck.engine == "duckdb" and duck.rows == {}
        with transaction(engine, write=False) as db:
            duck = compute(db=db, period=november, dimension=Dimension.district, engine="duckdb")
            assert duck.get("410105", "received") == 1
    finally:
        engine.dispose()
        locate.invalidate()
