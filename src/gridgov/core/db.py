"""Database plumbing: declarative base with a naming convention, engines, and the transaction boundary."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from gridgov.config import Settings, get_settings
from gridgov.core.errors import DomainError

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every gridgov table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def create_db_engine(url: str, settings: Settings | None = None, **kwargs: Any) -> Engine:
    """Returns an engine for `url`; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    settings = settings or get_settings()
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # NOTE: psycopg prepares a statement after 5 runs and PostgreSQL may then pick a generic plan, which for
        # large IN (...) lists over big tables was 20x slower; custom plans keep every execution well planned.
        connect_args = (
            {"options": "-c plan_cache_mode=force_custom_plan"} if parsed.get_backend_name() == "postgresql" else {}
        )
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)

    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # NOTE: pysqlite opens transactions lazily; turn that off so SQLAlchemy's BEGIN is the real one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection: Any) -> None:
        # NOTE: a writer must take the write lock up front: a deferred transaction that read and then tries
        # to write after another writer committed fails at once with "database is locked" instead of waiting.
        immediate = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


WRITE_OPTION = "gridgov_write"
_engines: dict[str, Engine] = {}
_writer_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_writer_locks_guard = threading.Lock()


class Busy(DomainError):
    """The database stayed locked by other writers for longer than the busy timeout (retry shortly)."""

    status = 503
    code = "busy"


@contextmanager
def writer_turn(engine: Engine) -> Iterator[None]:
    """Waits for this process's turn to write to a SQLite database (no-op on PostgreSQL).

    SQLite has one writer at a time. Queueing writers on a lock here, instead of letting each spin on the
    database's own busy handler, serves them in order and keeps one connection per waiting request idle; a
    writer that still cannot get its turn within the busy timeout gets 503 and may retry.
    """
    if engine.dialect.name != "sqlite":
        yield
        return
    with _writer_locks_guard:
        lock = _writer_locks.setdefault(engine, threading.Lock())
    timeout = get_settings().sqlite_busy_timeout_ms / 1000
    if not lock.acquire(timeout=timeout):
        raise Busy(f"the database is busy with other writes (waited {timeout:g} s); retry shortly", retry_after=1)
    try:
        yield
    finally:
        lock.release()


def get_engine(url: str | None = None) -> Engine:
    """Returns the process-wide engine for `url` (default: the configured database)."""
    url = url or get_settings().database_url
    if url not in _engines:
        _engines[url] = create_db_engine(url)
    return _engines[url]


def dispose_engines() -> None:
    """Closes every process-wide engine (tests, and after a fork)."""
    while _engines:
        _engines.popitem()[1].dispose()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Returns a session factory bound to `engine` that keeps objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def mark_writer(session: Session) -> None:
    """Declares that the session's transaction will write (SQLite then begins IMMEDIATE and waits its turn)."""
    session.connection(execution_options={WRITE_OPTION: True})


@contextmanager
def transaction(engine: Engine | None = None, *, write: bool = True) -> Iterator[Session]:
    """Opens a session in one transaction: committed on success, rolled back on any error."""
    engine = engine or get_engine()
    if not write:
        with session_factory(engine)() as session, session.begin():
            yield session
        return
    with writer_turn(engine), session_factory(engine)() as session, session.begin():
        mark_writer(session)
        yield session


def get_db(request: Request) -> Iterator[Session]:
    """FastAPI dependency: one session and one read transaction per request (the request owns the commit)."""
    engine: Engine = request.app.state.engine
    with session_factory(engine)() as session, session.begin():
        yield session


def get_write_db(request: Request) -> Iterator[Session]:
    """FastAPI dependency for requests that write: one transaction, committed when the response is ready."""
    engine: Engine = request.app.state.engine
    with writer_turn(engine), session_factory(engine)() as session, session.begin():
        mark_writer(session)
        yield session


# NOTE: scope="function" commits when the route returns, before the response is sent: a client that got
# 201 knows its data is durable, and a failed commit becomes an error response instead of a false success.
DbSession = Annotated[Session, Depends(get_db, scope="function")]
WriteSession = Annotated[Session, Depends(get_write_db, scope="function")]
