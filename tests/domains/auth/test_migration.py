"""Migration 0003: upgrade → downgrade → upgrade, append-only triggers, and the models matching it."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from gridgov import migrations
from gridgov.core.db import Base, create_db_engine
from gridgov.domains import load_models

AUTH_TABLES = {"user", "web_session", "api_token", "audit_entry"}


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(fresh_database_url):
    migrations.upgrade(fresh_database_url)
    assert AUTH_TABLES <= _tables(fresh_database_url)
    migrations.downgrade(fresh_database_url, "0002")
    tables = _tables(fresh_database_url)
    assert not AUTH_TABLES & tables and {"case", "case_event", "area"} <= tables
    assert migrations.current_heads(fresh_database_url) == {"0002"}
    migrations.upgrade(fresh_database_url)
    assert AUTH_TABLES <= _tables(fresh_database_url)
    assert migrations.current_heads(fresh_database_url) == {migrations.head()}

    engine = create_db_engine(fresh_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO audit_entry (occurred_at, actor_name, action, outcome, detail) "
                    "VALUES (CURRENT_TIMESTAMP, 'x', 'auth.login', 'ok', '{}')"
                )
            )
        for statement in ("UPDATE audit_entry SET actor_name = 'y'", "DELETE FROM audit_entry"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                connection.execute(text(statement))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT actor_name FROM audit_entry")).scalars().all() == ["x"]
    finally:
        engine.dispose()


def test_the_models_match_the_migrations(fresh_database_url):
    migrations.upgrade(fresh_database_url)
    load_models()
    engine = create_db_engine(fresh_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
