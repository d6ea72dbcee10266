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
