import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridgov import migrations
from gridgov.config import Settings
from gridgov.core.db import create_db_engine
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}", Settings(env="test", sqlite_busy_timeout_ms=1234))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
    engine.dispose()


def test_migrations_upgrade_downgrade_upgrade(fresh_database_url):
    migrations.upgrade(fresh_database_url)
    migrations.downgrade(fresh_database_url, "base")
    engine = create_db_engine(fresh_database_url)
    assert "area" not in inspect(engine).get_table_names()
    engine.dispose()
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    assert {"area", "unit", "matter_type", "responsibility_rule"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_foreign_keys_are_enforced(db: Session):
    db.add(Area(code="x", name="x", level=AreaLevel.street, parent_id=999999, path="/x/"))
    with pytest.raises(IntegrityError, match="(?i)foreign"):
        db.flush()


def test_rolled_back_between_tests(db: Session):
    assert db.execute(text("select count(*) from area where code = 'x'")).scalar() == 0


def test_sqlite_writers_take_turns_and_a_writer_that_waits_too_long_gets_busy(tmp_path, monkeypatch):
    import threading

    from gridgov.config import get_settings
    from gridgov.core.db import Busy, transaction, writer_turn

    monkeypatch.setenv("GRIDGOV_SQLITE_BUSY_TIMEOUT_MS", "50")
    get_settings.cache_clear()
    engine = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}", Settings(env="test"))
    try:
        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            with writer_turn(engine):
                holding.set()
                release.wait(5)

        holder = threading.Thread(target=hold)
        holder.start()
        assert holding.wait(5)
        with pytest.raises(Busy) as raised, transaction(engine):
            pass
        assert raised.value.status == 503 and raised.value.details["retry_after"] == 1
        release.set()
        holder.join(5)
        with transaction(engine) as db:  # the turn is free again
            assert db.execute(text("select 1")).scalar() == 1
    finally:
        engine.dispose()
        get_settings.cache_clear()
