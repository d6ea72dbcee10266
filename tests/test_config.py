import datetime as dt

import pytest
from pydantic import ValidationError

from gridgov.config import Settings, get_settings, parse_working_hours
from gridgov.domains.people.privacy import generate_key


def test_defaults_are_a_local_sqlite_district_in_shanghai_time(monkeypatch):
    for name in ("GRIDGOV_DATABASE_URL", "GRIDGOV_ENV", "GRIDGOV_SECRET_KEY", "GRIDGOV_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite:///var/gridgov.db"
    assert settings.is_sqlite
    assert settings.tz.key == "Asia/Shanghai"
    assert settings.working_windows == [(dt.time(8, 30), dt.time(12, 0)), (dt.time(14, 0), dt.time(17, 30))]


def test_environment_variables_use_the_gridgov_prefix(monkeypatch):
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("GRIDGOV_WORKING_HOURS", "09:00-17:00")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.database_url == "postgresql+psycopg://u@h/db"
        assert not settings.is_sqlite
        assert settings.working_windows == [(dt.time(9), dt.time(17))]
        assert get_settings() is settings  # cached
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("secret", ["", "changeme", "dev-secret-key-not-for-production"])
def test_production_refuses_a_placeholder_secret(secret):
    with pytest.raises(ValidationError, match="GRIDGOV_SECRET_KEY is a placeholder"):
        Settings(_env_file=None, env="production", secret_key=secret)


def test_production_accepts_a_real_secret_and_development_tolerates_the_default():
    keys = {"personal_data_keys": f"k1:{generate_key()}", "personal_data_index_key": generate_key()}
    assert Settings(_env_file=None, env="production", secret_key="x" * 40, **keys).env == "production"
    assert Settings(_env_file=None, env="development").secret_key


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("8-12", "expected HH:MM-HH:MM"),
        ("12:00-08:00", "increasing"),
        ("08:00-12:00,11:00-13:00", "not overlap"),
        ("25:00-26:00", "hour must be"),
    ],
)
def test_bad_working_hours_are_refused_with_the_offending_window(value, message):
    with pytest.raises(ValueError, match=message):
        parse_working_hours(value)


def test_unknown_timezone_is_refused():
    with pytest.raises(ValidationError):
        Settings(_env_file=None, timezone="Mars/Olympus")
