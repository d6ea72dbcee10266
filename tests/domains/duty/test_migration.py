"""Migration 0011 (duty): its tables match the models, and it upgrades, downgrades and upgrades again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from gridgov import migrations
from gridgov.core.db import Base, create_db_engine
from gridgov.domains import load_models

DUTY_TABLES = {
    "duty_shift",
    "duty_roster",
    "duty_roster_member",
    "duty_handover",
    "duty_contact",
    "duty_notice",
    "duty_delivery",
    "duty_cursor",
}


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_duty_tables_match_the_models_and_downgrade_cleanly(fresh_database_url):
    migrations.upgrade(fresh_database_url)
    assert DUTY_TABLES <= _tables(fresh_database_url)
    load_models()
    engine = create_db_engine(fresh_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = [d for d in compare_metadata(context, Base.metadata) if "duty_" in repr(d)]
    finally:
        engine.dispose()
    assert differences == []
    migrations.downgrade(fresh_database_url, "0010")
    assert not DUTY_TABLES & _tables(fresh_database_url)
    migrations.upgrade(fresh_database_url)
    assert DUTY_TABLES <= _tables(fresh_database_url)
