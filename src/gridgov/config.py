"""Static configuration: one Settings object read from GRIDGOV_* environment variables."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev-secret-key-not-for-production"})
DEFAULT_SECRET = "dev-secret-key-not-for-production"
_HOURS_RE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
# Keys of the personal data used when none is configured: fixed and published, so refused in production.
DEV_PERSONAL_DATA_KEY = hashlib.sha256(b"gridgov development personal-data key, not secret").digest()
DEV_PERSONAL_DATA_INDEX_KEY = hashlib.sha256(b"gridgov development blind-index key, not secret").digest()
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class DutyWebhook(BaseModel):
    """A group robot the duty notifications are posted to (GRIDGOV_DUTY_WEBHOOKS holds a JSON list of these)."""

    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$", description="Short unique name.")
    format: Literal["wecom", "dingtalk", "json"] = Field(description="Message format: WeCom, DingTalk or plain JSON.")
    url: str = Field(pattern=r"^https?://", description="The robot's webhook address (with its key or token).")
    secret: str | None = Field(None, description="DingTalk robot's signing secret (加签, SEC...); none: not signed.")
    centres: list[str] = Field(default_factory=list, description="Area codes of the centres it serves; empty: all.")


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
        "duckdb", description="Engine of the indicator counts: DuckDB over the analytic store (fast) or plain SQL."
    )
    evaluation_store_dir: Path = Field(
        Path("var/evaluation"),
        description="Directory of the analytic store: a DuckDB copy of the event log, one file per database.",
    )
    staffing_standard_per_10k: float = Field(
        18.0, gt=0, description="Staffing standard: community workers per 10,000 urban residents."
    )
    dashboard_cache_s: float = Field(15.0, ge=0, description="How long the operation-centre dashboard is cached (s).")
    duty_notifiers: str = Field(
        "log",
        description="Notifiers telling the on-duty staff of urgent and overdue cases, comma-separated: "
        "log, email, webhook (and installed plugins); empty: none.",
    )
    duty_smtp_host: str | None = Field(None, description="SMTP server of the e-mail notifier; unset: no e-mail.")
    duty_smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port (25, 587 with STARTTLS, 465 with SSL).")
    duty_smtp_security: Literal["none", "starttls", "ssl"] = Field(
        "none", description="SMTP transport security: none, starttls (upgrade after connecting) or ssl (TLS at once)."
    )
    duty_smtp_user: str | None = Field(None, description="SMTP login user; unset: no login.")
    duty_smtp_password: str | None = Field(None, description="SMTP login password.")
    duty_smtp_from: str = Field("gridgov@localhost", description="Sender address of duty e-mails.")
    duty_webhooks: list[DutyWebhook] = Field(
        default_factory=list,
        description='Group robots of the webhook notifier, a JSON list: [{"name": "...", "format": "wecom"|"dingtalk"'
        '|"json", "url": "...", "secret": "SEC..." (DingTalk signing), "centres": ["410105003"]}].',
    )
    duty_notify_timeout_s: float = Field(10.0, gt=0, description="Timeout of one e-mail or webhook delivery (s).")
    duty_notify_max_attempts: int = Field(
        6, ge=1, description="Attempts of a failing delivery before it is given up (marked failed)."
    )
    duty_notify_retry_s: float = Field(
        60.0, gt=0, description="Wait before the first retry of a failed delivery; doubled after each (at most 1 h)."
    )
    duty_console_url: str = Field(
        "", description="Public address of the console (https://...), for case links in notifications; empty: none."
    )
    chromium_path: str = Field(
        "chromium", description="Chromium (or Chrome) used to print bulletins to PDF: a command name or a path."
    )
    embedded_jobs: bool = Field(
        True, description="Run background jobs (SLA sweep ...) inside `gridgov serve`; off when workers run them."
    )
    host: str = Field("127.0.0.1", description="Address `gridgov serve` binds to.")
    port: int = Field(8000, description="Port `gridgov serve` listens on.")
    personal_data_keys: SecretStr = Field(
        SecretStr(""),
        description="Keys encrypting identity numbers and phones at rest (AES-256-GCM): comma-separated "
        "id:base64 entries of 32 bytes each; empty: a fixed development key (refused in production).",
    )
    personal_data_key_id: str | None = Field(
        None, description="Id of the key new values are encrypted with; unset: the first of personal_data_keys."
    )
    personal_data_index_key: SecretStr = Field(
        SecretStr(""),
        description="Key of the blind index (HMAC-SHA256) for exact search of identity numbers and phones, "
        "base64 of 32 bytes, apart from the encryption keys; empty: a development key (refused in production).",
    )
    people_export_valid_hours: float = Field(
        72.0, gt=0, description="How long an approved export of residents may be downloaded (hours)."
    )

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

    @field_validator("duty_webhooks")
    @classmethod
    def _unique_webhook_names(cls, value: list[DutyWebhook]) -> list[DutyWebhook]:
        names = [hook.name for hook in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"duty webhook names must be unique; repeated: {', '.join(repeated)}")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.env == "production" and self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "GRIDGOV_SECRET_KEY is a placeholder; set a long random value before running in production"
            )
        return self

    @model_validator(mode="after")
    def _check_personal_data_keys(self) -> Settings:
        ring = parse_key_ring(self.personal_data_keys.get_secret_value())
        if self.personal_data_key_id is not None and self.personal_data_key_id not in ring:
            raise ValueError(
                f"GRIDGOV_PERSONAL_DATA_KEY_ID {self.personal_data_key_id!r} is not among GRIDGOV_PERSONAL_DATA_KEYS"
                f" ({', '.join(ring) or 'none set'})"
            )
        index_text = self.personal_data_index_key.get_secret_value().strip()
        index_key = decode_key(index_text, "GRIDGOV_PERSONAL_DATA_INDEX_KEY") if index_text else None
        if self.env == "production":
            generate = 'python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"'
            if not ring or DEV_PERSONAL_DATA_KEY in ring.values():
                raise ValueError(
                    "GRIDGOV_PERSONAL_DATA_KEYS is not set (or holds the development key); production encrypts "
                    f"identity numbers and phones with a real key: set it to 'k1:<key>', a key from {generate}"
                )
            if index_key is None or index_key == DEV_PERSONAL_DATA_INDEX_KEY:
                raise ValueError(
                    "GRIDGOV_PERSONAL_DATA_INDEX_KEY is not set (or is the development key); production needs a "
                    f"blind-index key of its own, apart from the encryption keys: {generate}"
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


def decode_key(encoded: str, name: str) -> bytes:
    """Returns the 32 bytes (AES-256, HMAC-SHA256) of a base64 key; raises ValueError naming `name` otherwise."""
    try:
        # NOTE: URL-safe base64 (- and _) is read too: the characters are mapped onto the standard alphabet first.
        key = base64.b64decode(encoded.strip().replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name}: not base64") from None
    if len(key) != 32:
        raise ValueError(f"{name}: a key must be 32 bytes (256 bits), this one has {len(key)}")
    return key


def parse_key_ring(value: str) -> dict[str, bytes]:
    """Returns the keys of "id:base64,id:base64" (GRIDGOV_PERSONAL_DATA_KEYS) by id, in the order given."""
    ring: dict[str, bytes] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        key_id, separator, encoded = part.strip().partition(":")
        if not separator or not _KEY_ID_RE.match(key_id):
            raise ValueError(
                "GRIDGOV_PERSONAL_DATA_KEYS: each entry is id:base64key with an id of 1-16 letters, digits, _ or -"
            )
        if key_id in ring:
            raise ValueError(f"GRIDGOV_PERSONAL_DATA_KEYS: key id {key_id!r} appears twice")
        ring[key_id] = decode_key(encoded, f"GRIDGOV_PERSONAL_DATA_KEYS key {key_id!r}")
    return ring


@lru_cache
def get_settings() -> Settings:
    """Returns the process-wide settings, read once from the environment."""
    return Settings()
