"""Test fixtures: the whole suite runs on SQLite (default) or, with --db postgresql, on a throwaway PostgreSQL.

Database tests get `db`: a session inside a transaction rolled back after the test. Tests of the CLI or of
anything that commits get `fresh_database_url`: an empty, migrated database of their own.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gridgov import migrations
from gridgov.config import Settings, get_settings
from gridgov.core.auth import get_auth_transactions
from gridgov.core.db import create_db_engine, dispose_engines, get_db, get_write_db
from gridgov.domains.triage import registry as triage_registry
from gridgov.main import create_app
from tests.pg import PgServer, find_pg_bin, start_pg

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_database_names = itertools.count(1)
_STORE_DIR = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("GRIDGOV_TEST_DB", "sqlite"),
        help="database the suite runs on (PostgreSQL: a throwaway server started by the fixture)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # The evaluation engine's analytic store: one directory per test process, removed at the end.
    directory = tempfile.mkdtemp(prefix="gridgov-store-")
    config.stash[_STORE_DIR] = directory
    os.environ["GRIDGOV_EVALUATION_STORE_DIR"] = directory
    get_settings.cache_clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    if directory := config.stash.get(_STORE_DIR, None):
        shutil.rmtree(directory, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str:
    return f"gridgov test database: {config.getoption('--db')}"


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> Iterator[PgServer | None]:
    if request.config.getoption("--db") != "postgresql":
        yield None
        return
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL run skipped: initdb/pg_ctl not found (apt-get install postgresql)")
    server = start_pg()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(pg_server: PgServer | None, tmp_path_factory: pytest.TempPathFactory) -> str:
    if pg_server is not None:
        return pg_server.url()
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(env="test", database_url=database_url, media_dir=tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    migrations.upgrade(settings.database_url)
    engine = create_db_engine(settings.database_url, settings)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session whose every change is rolled back after the test (commits become savepoints)."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()
        triage_registry.forget()  # the loaded model and its label map were read inside the rolled-back data


@pytest.fixture
def app(settings: Settings, engine: Engine, db: Session) -> FastAPI:
    """The application, with each request's transaction (and authentication's own) nested in the test's `db`."""
    application = create_app(settings, engine)

    def _test_db() -> Iterator[Session]:
        with db.begin_nested():
            yield db

    @contextmanager
    def _join(_write: bool) -> Iterator[Session]:
        with db.begin_nested():
            yield db

    application.dependency_overrides[get_db] = _test_db
    application.dependency_overrides[get_write_db] = _test_db
    application.dependency_overrides[get_auth_transactions] = lambda: _join
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def fresh_database_url(pg_server: PgServer | None, tmp_path: Path) -> str:
    """An empty database of the test's own (not rolled back), for CLI and commit-level tests."""
    if pg_server is not None:
        return pg_server.create_database(f"gridgov_t{os.getpid()}_{next(_database_names)}")
    return f"sqlite:///{tmp_path / 'fresh.db'}"


@pytest.fixture
def cli_env(fresh_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Points the CLI's settings at `fresh_database_url`; returns that URL."""
    monkeypatch.setenv("GRIDGOV_ENV", "test")
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", fresh_database_url)
    monkeypatch.setenv("GRIDGOV_MEDIA_DIR", str(tmp_path / "media"))
    get_settings.cache_clear()
    dispose_engines()
    try:
        yield fresh_database_url
    finally:
        dispose_engines()
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared development data folder; tests that need it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
