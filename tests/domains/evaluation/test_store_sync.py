"""The analytic store kept in step with its database through what goes wrong in real life: a sync interrupted
half-way, a store file left by an older version (or not a DuckDB file at all), a database replaced under the same
URL, a transaction committing lower ids late (PostgreSQL), changes to cases the store holds already. After each,
DuckDB gives exactly the "sql" engine's table (SQLite, and PostgreSQL with --db postgresql)."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gridgov import migrations
from gridgov.config import get_settings
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.auth.enums import Role
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Channel, Reasonableness
from gridgov.domains.cases.models import Case
from gridgov.domains.catalog.models import MatterType
from gridgov.domains.evaluation import store
from gridgov.domains.evaluation.engine import compute
from gridgov.domains.evaluation.enums import Dimension
from gridgov.domains.evaluation.periods import Period
from tests.domains.cases.world import World, load_world
from tests.domains.evaluation.scenario import SH, at, ctx, photo, submit

NOVEMBER = Period.parse("2026-11", SH)


@dataclass
class Source:
    """A committed database of the test's own, with the synthetic world loaded."""

    url: str
    engine: Engine

    def write(self) -> Iterator[tuple[Session, World]]:
        with transaction(self.engine) as db:
            yield db, World(db=db)

    def tables(self, dimension: Dimension = Dimension.district, period: Period = NOVEMBER) -> tuple[dict, dict]:
        """The DuckDB table and the sql engine's table of `period` by `dimension` (rows only)."""
        with transaction(self.engine, write=False) as db:
            duck = compute(db=db, period=period, dimension=dimension, engine="duckdb")
            plain = compute(db=db, period=period, dimension=dimension, engine="sql")
        assert duck.engine == "duckdb"
        return duck.rows, plain.rows

    def received(self, period: Period = NOVEMBER) -> tuple[int, int]:
        duck, plain = self.tables(period=period)
        return (duck.get("410105", {}).get("received", 0), plain.get("410105", {}).get("received", 0))

    def store_file(self) -> Path:
        return store.store_path(get_settings().evaluation_store_dir, make_url(self.url))


def _open(url: str) -> Source:
    migrations.upgrade(url)
    engine = create_db_engine(url)
    locate.invalidate()
    with transaction(engine) as db:
        load_world(db)
    return Source(url=url, engine=engine)


@pytest.fixture
def source(fresh_database_url) -> Iterator[Source]:
    found = _open(fresh_database_url)
    try:
        yield found
    finally:
        found.engine.dispose()
        locate.invalidate()


def report(source: Source, when, xy=(120, 880)) -> int:
    """A grid worker's patrol report, committed; returns its case id."""
    for db, world in source.write():
        made = submit(db, world.grid_worker, when, xy).id
    return made


def test_an_interrupted_sync_leaves_the_store_as_it_was(source, monkeypatch):
    report(source, at(25, 9))
    assert source.received() == (1, 1)
    report(source, at(25, 10))

    def killed(con, chunk_cases):
        raise RuntimeError("killed half-way")

    # the new case's events are copied, then the process dies before they are derived
    monkeypatch.setattr(store, "_derive", killed)
    with pytest.raises(RuntimeError, match="killed half-way"):
        source.received()
    monkeypatch.undo()
    # nothing of the failed sync stays behind: the next one copies the case once, not twice
    duck, plain = source.tables()
    assert duck == plain and plain["410105"]["received"] == 2 and plain["410105"]["due"] == 2
    for dimension in (Dimension.street, Dimension.unit, Dimension.person):
        duck, plain = source.tables(dimension)
        assert duck == plain, dimension


def test_a_store_left_by_an_older_version_is_rebuilt(source):
    report(source, at(25, 9))
    path = source.store_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    old = duckdb.connect(str(path))
    # an older layout: fewer columns, its own meta
    old.execute("CREATE TABLE ev (id BIGINT, case_id BIGINT, occurred_at TIMESTAMP, kind VARCHAR)")
    old.execute("CREATE TABLE meta (version INTEGER, source VARCHAR, last_id BIGINT)")
    old.execute("INSERT INTO meta VALUES (1, $1, 1)", [store.source_name(make_url(source.url))])
    old.close()
    assert source.received() == (1, 1)
    with transaction(source.engine, write=False) as db:
        with store.opened(db.get_bind().engine, get_settings().evaluation_store_dir) as (con, synced):
            assert not synced.rebuilt  # rebuilt once, in step since
            assert con.execute("SELECT version FROM meta").fetchone()[0] == store.STORE_VERSION


def test_a_store_file_that_is_not_a_duckdb_file_is_replaced(source):
    report(source, at(25, 9))
    path = source.store_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a database " * 500)
    assert source.received() == (1, 1)


def _replace(source: Source, pg_server) -> Source:
    """Drops the database and makes a new one under the same URL (a reset demo, a restored backup)."""
    source.engine.dispose()
    if pg_server is None:
        Path(make_url(source.url).database).unlink()
    else:
        name = make_url(source.url).database
        where = ("-h", "127.0.0.1", "-p", str(pg_server.port), "-U", "gridgov")
        for command in ("dropdb", "createdb"):
            subprocess.run(
                [str(pg_server.bin_dir / command), *where, name], user=pg_server.user, check=True, capture_output=True
            )
    return _open(source.url)


def test_a_database_replaced_under_the_same_url_is_copied_again(source, pg_server):
    day = Period.parse("2026-11-26", SH)
    report(source, at(25, 9))
    assert source.received(day) == (0, 0)
    # the same steps a day later in a new database: the same event ids, cases and sequence numbers, other times
    source = _replace(source, pg_server)
    try:
        report(source, at(26, 9))
        assert source.received(day) == (1, 1)
        assert source.received(Period.parse("2026-11-25", SH)) == (0, 0)
    finally:
        source.engine.dispose()


def test_changes_to_cases_the_store_holds_are_copied(source):
    """Cases the store copied already are reclassified, ruled on, returned and dispatched again at one instant."""
    patrol = report(source, at(25, 9))
    for db, world in source.write():
        snapshot = submit(db, world.citizen, at(25, 9, 30), (880, 120), channel=Channel.snapshot).id
    assert source.tables(Dimension.matter_type)[0] == source.tables(Dimension.matter_type)[1]
    for db, world in source.write():
        case, other = db.get(Case, patrol), db.get(Case, snapshot)
        handler = world.actor(Role.unit_handler, "410105001-HWS", user_id=501, name="环卫所处置员")
        dispatcher = world.street_dispatcher
        case_service.return_case(db=db, case=case, ctx=ctx(handler, at(25, 10)), reason_code="dispatch_error")
        case_service.dispatch(
            db=db, case=case, unit=world.unit("410105001-CGZD"), co_units=[], ctx=ctx(dispatcher, at(25, 10))
        )
        case_service.rule_reasonableness(
            db=db,
            case=case,
            ctx=ctx(world.district_dispatcher, at(25, 10)),
            ruling=Reasonableness.unreasonable,
            reason_code="beyond_public_duty",
            note="认定",
        )
        moved = db.scalars(select(MatterType).where(MatterType.code == "SJ0501")).one()
        case_service.reclassify(db=db, case=other, matter_type=moved, ctx=ctx(world.district_dispatcher, at(25, 10)))
    for dimension in Dimension:
        duck, plain = source.tables(dimension)
        assert duck == plain, dimension
    units, _ = source.tables(Dimension.unit)
    assert units["410105001-HWS"]["returned"] == 1 and units["410105001-CGZD"]["dispatched"] == 1
    types, _ = source.tables(Dimension.matter_type)
    assert types["SJ0501"]["received"] == 1 and types["SJ0102"]["received"] == 1


def test_a_lower_id_committed_late_is_counted_on_postgresql(source, pg_server):
    if pg_server is None:
        pytest.skip("SQLite has one writer: ids are committed in order")
    late = Session(source.engine)
    try:
        late.begin()
        submit(late, World(db=late).grid_worker, at(25, 9), (120, 880))
        late.flush()  # its ids are taken, not yet committed
        report(source, at(26, 9))  # a younger transaction commits higher ids first
        assert source.received() == (1, 1)
        late.commit()
    finally:
        late.close()
    assert source.received() == (2, 2)


def test_handling_time_is_counted_to_the_microsecond_by_both_engines(source):
    """Two closures near the 18-second boundary of 0.01 h, one per grid: 17.4996 s is 17 s (0.00 h), 17.5004 s is
    18 s (0.01 h). SQLite's julianday() and unixepoch() round each time to the millisecond first, which reads
    09:00:00.000400 → 09:00:17.500000 as 17.500 s (18) and 09:00:00.999600 → 09:00:18.500000 as 16.5004 s (17)."""
    for start, handled, xy in (
        (at(25, 9) + dt.timedelta(microseconds=400), dt.timedelta(seconds=17, microseconds=499_600), (120, 880)),
        (at(26, 9) + dt.timedelta(microseconds=999_600), dt.timedelta(seconds=17, microseconds=500_400), (370, 880)),
    ):
        for db, world in source.write():
            case = submit(db, world.grid_worker, start, xy)
            handler = world.actor(Role.unit_handler, "410105001-HWS", user_id=501, name="环卫所处置员")
            case_service.sign(db=db, case=case, ctx=ctx(handler, start + dt.timedelta(seconds=1)))
            finished = ctx(handler, start + handled)
            case_service.finish(db=db, case=case, ctx=finished, result="已清理", evidence=[photo(db)])
            case_service.verify(db=db, case=case, ctx=ctx(world.grid_worker, start + dt.timedelta(hours=1)), ok=True)
    duck, plain = source.tables(Dimension.grid)
    assert duck == plain
    hours = {key: row.get("handle_hours", 0.0) for key, row in plain.items() if row.get("handled")}
    assert hours == {"410105001001001": 0.0, "410105001001002": 0.01}
