"""Static configuration: one Settings object read from GRIDGOV_* environment variables."""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev-secret-key-not-for-production"})
DEFAULT_SECRET = "dev-secret-key-not-for-production"
_HOURS_RE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class Settings(BaseSettings):
    """Deployment configuration of one gridgov installation (environment variables, prefix GRIDGOV_)."""

    model_config = SettingsConfigDict(env_prefix="GRIDGOV_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        "development", description="Deployment environment; production refuses placeholder secrets."
    )
    database_url: str = Field(
        "sqlite:///var/gridgov.db", description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://..."
    )
    secret_key: str = Field(DEFAULT_SECRET, description="Key for sessions and tokens; must be set in production.")
    media_dir: Path = Field(Path("var/media"), description="Directory for uploaded photos and attachments.")
    timezone: str = Field("Asia/Shanghai", description="Local time zone of the district (IANA name).")
    working_hours: str = Field(
        "08:30-12:00,14:00-17:30",
        description="Working-time windows of a working day, comma-separated HH:MM-HH:MM, local time.",
    )
    sqlite_busy_timeout_ms: int = Field(5000, ge=0, description="How long SQLite waits for a lock (ms).")
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL", description="SQLite WAL durability: NORMAL (fast) or FULL (fsync every commit)."
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Largest accepted upload (photo) in bytes.")
    duplicate_radius_m: float = Field(
        50.0, gt=0, description="Duplicate suggestions: located open cases within R m are candidates."
    )
    duplicate_window_hours: float = Field(
        72.0, gt=0, description="Duplicate suggestions: open cases reported within T hours are candidates."
    )
    duplicate_min_score: float = Field(
        0.45,
        ge=0,
        le=1,
        description="Duplicate suggestions: candidates scoring at least this (text, distance, time, matter type).",
    )
    photo_gps_max_distance_m: float = Field(
        500.0, gt=0, description="Flag a case whose photo's EXIF GPS is farther than this from the reported point."
    )
    auto_dispatch_min_confidence: float = Field(
        0.8, ge=0, le=1, description="A model-classified case is auto-dispatched only above this confidence."
    )
    max_returns: int = Field(2, ge=1, description="Returns (回退) after which a case goes to the higher centre.")
    reopen_window_days: float = Field(7.0, ge=0, description="An unsatisfied rating reopens a case within N days.")
    snapshot_per_address_per_hour: int = Field(
        10, ge=1, description="Citizen snapshot (随手拍) reports accepted per client address per hour."
    )
    snapshot_per_phone_per_day: int = Field(
        5, ge=1, description="Citizen snapshot reports accepted per contact phone number per day."
    )
    snapshot_media_per_address_per_hour: int = Field(
        60, ge=1, description="Photos the public may upload per client address per hour."
    )
    tracking_lookups_per_address_per_hour: int = Field(
        120, ge=1, description="Public tracking-code lookups and ratings per client address per hour."
    )
    snapshot_matter_types: str = Field(
        "SJ0102,SJ0103,SJ0105,SJ0108,SJ0110,SJ0111,SJ0201,SJ0301,SJ0303,SJ0306,SJ0401,SJ0403,SJ0404,SJ0406,"
        "SJ0501,SJ0502,SJ0503,SJ0507,SJ0508,SJ0509,SJ0601,SJ0602,SJ0603,BJ0102,BJ0103,BJ0109,BJ0204,BJ0206,"
        "BJ0207,BJ0301,BJ0302,BJ0402,BJ0603",
        description="Matter type codes offered to citizens on the snapshot page, comma-separated, in order.",
    )
    snapshot_other_matter_type: str = Field(
        "SJ0605", description="Matter type code of the citizen's 'other' choice (其他); empty for none."
    )
    open311_jurisdiction_id: str = Field(
        "jinshui.zhengzhou.gov.cn", description="Open311 jurisdiction_id this server answers to (others get 404)."
    )
    mqtt_url: str | None = Field(
        None,
        description="MQTT broker for device telemetry: mqtt://[user:password@]host[:1883] or mqtts://...; "
        "unset: no MQTT subscriber (the HTTP ingest still works).",
    )
    mqtt_topic_prefix: str = Field("gridgov", description="First level of the telemetry topics (see docs/iot.md).")
    mqtt_client_id: str = Field("gridgov", description="MQTT client id prefix (each subscriber adds its own suffix).")
    telemetry_retention_days: int = Field(
        90, ge=1, description="Readings older than this are deleted by `gridgov iot prune` and the daily job."
    )
    telemetry_max_future_s: float = Field(
        300.0, ge=0, description="A reading timestamped more than this far in the future is refused."
    )
    hotspot_window_days: float = Field(30.0, gt=0, description="Hotspots are found among cases of the last N days.")
    hotspot_min_size: int = Field(5, ge=2, description="A hotspot has at least this many similar cases.")
    hotspot_min_similarity: float = Field(
        0.25,
        gt=0,
        lt=1,
        description="Cases form a hotspot when their texts are at least this similar on average (mean cosine).",
    )
    hotspot_radius_m: float = Field(
        1000.0, gt=0, description="Located cases of one hotspot lie within this distance of each other's neighbours."
    )
    evaluation_engine: Literal["duckdb", "sql"] = Field(
        "duckdb", description="Engine of the indicator counts: DuckDB over the database (fast) or plain SQL."
    )
    staffing_standard_per_10k: float = Field(
        18.0, gt=0, description="Staffing standard: community workers per 10,000 urban residents."
    )
    dashboard_cache_s: float = Field(15.0, ge=0, description="How long the operation-centre dashboard is cached (s).")
    chromium_path: str = Field(
        "chromium", description="Chromium (or Chrome) used to print bulletins to PDF: a command name or a path."
    )
    embedded_jobs: bool = Field(
        True, description="Run background jobs (SLA sweep ...) inside `gridgov serve`; off when workers run them."
    )
    host: str = Field("127.0.0.1", description="Address `gridgov serve` binds to.")
    port: int = Field(8000, description="Port `gridgov serve` listens on.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai") from None
        return value

    @field_validator("working_hours")
    @classmethod
    def _parse_hours(cls, value: str) -> str:
        parse_working_hours(value)
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.env == "production" and self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "GRIDGOV_SECRET_KEY is a placeholder; set a long random value before running in production"
            )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def working_windows(self) -> list[tuple[dt.time, dt.time]]:
        return parse_working_hours(self.working_hours)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def parse_working_hours(value: str) -> list[tuple[dt.time, dt.time]]:
    """Returns the working-time windows of `value` ("08:30-12:00,14:00-17:30"), checked for order."""
    windows: list[tuple[dt.time, dt.time]] = []
    for part in value.split(","):
        match = _HOURS_RE.match(part.strip())
        if not match:
            raise ValueError(f"working hours {part.strip()!r}: expected HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            start, end = dt.time(h1, m1), dt.time(h2, m2)
        except ValueError as exc:
            raise ValueError(f"working hours {part.strip()!r}: {exc}") from None
        if end <= start or (windows and start < windows[-1][1]):
            raise ValueError(f"working hours {part.strip()!r}: windows must be increasing and not overlap")
        windows.append((start, end))
    return windows


@lru_cache
def get_settings() -> Settings:
    """Returns the process-wide settings, read once from the environment."""
    return Settings()
