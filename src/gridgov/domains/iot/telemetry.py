"""Telemetry ingest (遥测接入): one function for HTTP, MQTT, the simulator and the benchmark.

Payload (JSON), the same on every path:

- one reading: ``{"device": "<code>", "ts": "2026-11-25T09:00:00+08:00", "values": {"tilt": 3.2, "battery": 0.87}}``
  (``ts``: ISO-8601 with a UTC offset, or epoch milliseconds as a number);
- a list of readings: ``[{...}, {...}]``;
- or an object holding them: ``{"readings": [{...}, ...]}``.

Each reading is judged on its own: unknown device, retired device, malformed reading, no timestamp, a bad or a
future one (beyond ``telemetry_max_future_s``), a value that is not a number, a property the device's type does not
have (``battery`` is always allowed) → the reading is rejected with a reason and counted; the valid readings of the
same batch are kept. A value already stored for the same (device, property, time) is a duplicate — a redelivered
message — and is ignored, not an error. Stored readings update the device's latest-value cache (never with an older
reading than the one cached) and run the device's rules (`iot.rules`), all in the caller's transaction: the caller
acknowledges (HTTP answer, MQTT PUBACK) only after it has committed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from gridgov.config import get_settings
from gridgov.core.errors import InputError, Issue
from gridgov.domains.iot import alarms as alarm_service
from gridgov.domains.iot import rules
from gridgov.domains.iot.enums import DeviceState
from gridgov.domains.iot.models import Device, DeviceType, Reading

log = logging.getLogger(__name__)

TS_FIELD = "ts"
MAX_BATCH = 5000  # readings per HTTP request / call
IMPLICIT_PROPERTIES = frozenset({"battery"})  # every battery-powered device reports it, whatever its type says
BATTERY = "battery"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_MS_MIN = 946_684_800_000  # 2000-01-01: a smaller number is most likely seconds, not milliseconds
_CHUNK = 900


class Reason(StrEnum):
    """Why a reading was rejected (the counters and the API use these codes)."""

    malformed = "malformed"
    unknown_device = "unknown_device"
    device_retired = "device_retired"
    no_timestamp = "no_timestamp"
    bad_timestamp = "bad_timestamp"
    future_timestamp = "future_timestamp"
    non_numeric_value = "non_numeric_value"
    unknown_property = "unknown_property"


class PayloadError(ValueError):
    """The payload as a whole is unusable (not JSON of one of the three shapes, or empty)."""


@dataclass(frozen=True)
class Refused:
    """A reading already known to be bad before ingest (e.g. its MQTT topic names another device)."""

    device: str | None
    reason: Reason
    message: str


@dataclass(frozen=True)
class Rejection:
    """One rejected reading: its position in the batch, the device it named, why."""

    index: int
    device: str | None
    reason: Reason
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "device": self.device, "reason": str(self.reason), "message": self.message}


@dataclass
class IngestResult:
    """What ingest did with a batch: readings accepted (new), duplicates (already stored), rejected (why)."""

    accepted: int = 0
    duplicates: int = 0
    stored: int = 0  # values (rows) stored; a reading may carry several
    rejected: list[Rejection] = field(default_factory=list)
    alarms: alarm_service.AlarmTally = field(default_factory=alarm_service.AlarmTally)

    @property
    def counts(self) -> dict[str, int]:
        """Returns the number of rejected readings per reason."""
        return dict(Counter(str(r.reason) for r in self.rejected))

    def reject(self, index: int, device: str | None, reason: Reason, message: str) -> None:
        self.rejected.append(Rejection(index=index, device=device, reason=reason, message=message))

    def merge(self, other: IngestResult, offset: int = 0) -> None:
        """Adds `other` (a later part of the same batch, starting at `offset`) to this result."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.stored += other.stored
        self.rejected += [Rejection(r.index + offset, r.device, r.reason, r.message) for r in other.rejected]
        for name in ("raised", "updated", "cleared", "cases"):
            setattr(self.alarms, name, getattr(self.alarms, name) + getattr(other.alarms, name))

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "stored": self.stored,
            "rejected": [r.as_dict() for r in self.rejected],
            "counts": self.counts,
            "alarms": self.alarms.as_dict(),
        }


class TelemetryStats:
    """Counters of this process since it started (per source and per rejection reason), for /telemetry/stats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Sets every counter to zero (tests)."""
        with self._lock:
            self.since = dt.datetime.now(dt.UTC)
            self.sources: dict[str, Counter[str]] = {}
            self.reasons: Counter[str] = Counter()

    def add(self, result: IngestResult, source: str) -> None:
        """Counts a committed (or about to be committed) batch."""
        with self._lock:
            counter = self.sources.setdefault(source, Counter())
            counter["batches"] += 1
            counter["accepted"] += result.accepted
            counter["duplicates"] += result.duplicates
            counter["rejected"] += len(result.rejected)
            counter["stored"] += result.stored
            self.reasons.update(result.counts)

    def count(self, source: str, what: str, n: int = 1) -> None:
        """Adds `n` to one counter of `source` (e.g. MQTT poison messages)."""
        with self._lock:
            self.sources.setdefault(source, Counter())[what] += n

    def snapshot(self) -> dict[str, Any]:
        """Returns every counter as plain JSON."""
        with self._lock:
            totals: Counter[str] = Counter()
            for counter in self.sources.values():
                totals.update(counter)
            return {
                "since": self.since.isoformat(),
                "accepted": totals["accepted"],
                "duplicates": totals["duplicates"],
                "rejected": totals["rejected"],
                "stored": totals["stored"],
                "reasons": dict(self.reasons),
                "sources": {name: dict(counter) for name, counter in self.sources.items()},
            }


STATS = TelemetryStats()


# --- payload ----------------------------------------------------------------------------------------------------


def readings_of(payload: Any, *, device: str | None = None) -> list[Any]:
    """Returns the readings of a payload (one reading, a list, or {"readings": [...]}); raises PayloadError.

    With `device` (the device an MQTT topic names), readings without "device" get it, and a reading naming
    another device is refused.
    """
    if isinstance(payload, list):
        readings = payload
    elif isinstance(payload, dict) and "readings" in payload and "values" not in payload:
        readings = payload["readings"]
        if not isinstance(readings, list):
            raise PayloadError('"readings" must be a list of readings')
    elif isinstance(payload, dict):
        readings = [payload]
    else:
        raise PayloadError('expected a reading object, a list of readings or {"readings": [...]}')
    if not readings:
        raise PayloadError("no readings in the payload")
    if device is None:
        return readings
    out: list[Any] = []
    for reading in readings:
        if isinstance(reading, dict) and "device" not in reading:
            out.append({**reading, "device": device})
        elif isinstance(reading, dict) and str(reading["device"]) != device:
            message = f"reading names device {reading['device']!r} but was sent on the topic of device {device!r}"
            out.append(Refused(device=str(reading["device"]), reason=Reason.malformed, message=message))
        else:
            out.append(reading)
    return out


class _Reject(Exception):
    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def parse_time(value: Any) -> dt.datetime:
    """Returns the UTC time of an ISO-8601 string with an offset or of epoch milliseconds; raises ValueError."""
    try:
        return _parse_time(value)
    except _Reject as exc:
        raise ValueError(exc.message) from None


_NUMBERS = (int, float)


def _parse_time(value: Any) -> dt.datetime:
    if type(value) is str:
        text = value.strip()
        if text.isascii() and text.isdigit():
            return _epoch_ms(int(text))
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _Reject(Reason.bad_timestamp, f"timestamp {value[:40]!r} is not ISO-8601") from None
        if parsed.tzinfo is None:
            raise _Reject(Reason.bad_timestamp, f"timestamp {value[:40]!r} has no UTC offset (add +08:00 or Z)")
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:  # year 1 or 9999 with an offset
            raise _Reject(Reason.bad_timestamp, f"timestamp {value[:40]!r} is out of range") from None
    if isinstance(value, _NUMBERS) and not isinstance(value, bool):
        return _epoch_ms(value)
    raise _Reject(Reason.bad_timestamp, f"timestamp {str(value)[:40]!r} is neither ISO-8601 nor epoch milliseconds")


def _epoch_ms(value: float) -> dt.datetime:
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite or value < _EPOCH_MS_MIN:
        raise _Reject(Reason.bad_timestamp, f"epoch timestamp {value!r} is before 2000; send milliseconds")
    try:
        return _EPOCH + dt.timedelta(milliseconds=value)
    except OverflowError:
        raise _Reject(Reason.bad_timestamp, f"epoch timestamp {value!r} is out of range") from None


def _number(name: str, value: Any) -> float:
    kind = type(value)
    if kind is float or kind is int:
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
        if math.isfinite(number):
            return number
    elif kind is bool:
        return 1.0 if value else 0.0  # a smoke detector's true/false
    raise _Reject(Reason.non_numeric_value, f"value of {name!r} is not a number: {str(value)[:40]!r}")


@dataclass(slots=True, eq=False)
class DeviceRow:
    """What ingest reads and writes of a device, with Core (ORM objects cost too much per reading)."""

    id: int
    code: str
    type_id: int
    type_code: str
    properties: dict[str, str]
    state: DeviceState
    last_values: dict[str, float]
    last_reading_at: dt.datetime | None
    last_seen_at: dt.datetime | None
    battery: float | None


@dataclass(slots=True)
class _Parsed:
    index: int
    device: DeviceRow
    observed_at: dt.datetime
    values: dict[str, float]
    new: dict[str, float] = field(default_factory=dict)


# --- ingest -----------------------------------------------------------------------------------------------------


def ingest(
    *,
    db: Session,
    messages: Any,
    now: dt.datetime,
    source: str,
    max_future_s: float | None = None,
    count: bool = True,
) -> IngestResult:
    """Stores the valid readings of `messages`, updates the devices' caches and runs their rules; returns the tally.

    Raises InputError only when the payload as a whole is unusable; bad readings are rejected one by one.
    """
    try:
        readings = readings_of(messages)
    except PayloadError as exc:
        raise InputError([Issue("payload", str(exc))], summary="no usable readings") from None
    if len(readings) > MAX_BATCH:
        issue = Issue("payload", f"{len(readings)} readings; send at most {MAX_BATCH} per batch")
        raise InputError([issue], summary="batch too large")
    limit = get_settings().telemetry_max_future_s if max_future_s is None else max_future_s
    latest = now + dt.timedelta(seconds=limit)
    result = IngestResult()

    codes: dict[int, str] = {}
    for index, raw in enumerate(readings):
        if isinstance(raw, Refused):
            result.reject(index, raw.device, raw.reason, raw.message)
            continue
        code = _code_of(raw)
        if code is None:
            result.reject(index, None, Reason.malformed, _malformed(raw))
        else:
            codes[index] = code
    devices = _devices(db, set(codes.values()))

    parsed: list[_Parsed] = []
    for index, code in codes.items():
        try:
            parsed.append(_parse(index, readings[index], devices.get(code), code, latest))
        except _Reject as exc:
            result.reject(index, code, exc.reason, exc.message)
        except (ValueError, OverflowError, TypeError) as exc:
            # NOTE: a safety net: one odd reading is refused on its own, never the batch with it.
            result.reject(index, code, Reason.malformed, f"reading could not be read: {str(exc)[:80]}")

    result.rejected.sort(key=lambda r: r.index)
    _store(db, parsed, now, result)
    _apply(db, parsed, now, result)
    if count:
        STATS.add(result, source)
    if result.rejected:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(result.counts.items()))
        log.warning(
            "telemetry from %s: %d of %d reading(s) rejected (%s)", source, len(result.rejected), len(readings), reasons
        )
    return result


def _code_of(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    code = raw.get("device")
    if type(code) is not str:
        if type(code) is not int:
            return None
        code = str(code)
    code = code.strip()
    return code if 0 < len(code) <= 64 else None


def _malformed(raw: Any) -> str:
    if not isinstance(raw, dict):
        return f"a reading must be a JSON object, not {type(raw).__name__}"
    if "device" not in raw:
        return 'the reading names no "device"'
    return f'"device" must be a device code (text of 1 to 64 characters), not {str(raw["device"])[:40]!r}'


_DEVICE = Device.__table__
_DEVICE_COLUMNS = (
    _DEVICE.c.id,
    _DEVICE.c.code,
    _DEVICE.c.type_id,
    _DEVICE.c.state,
    _DEVICE.c.last_values,
    _DEVICE.c.last_reading_at,
    _DEVICE.c.last_seen_at,
    _DEVICE.c.battery,
)


def _devices(db: Session, codes: set[str]) -> dict[str, DeviceRow]:
    """Returns the devices under `codes`, locked on PostgreSQL until the transaction ends.

    NOTE: the lock serialises two processes ingesting for the same device, so neither overwrites the other's newer
    cached values or judges its rules from a stale state; taken in id order, so two batches never deadlock.
    """
    found: dict[str, DeviceRow] = {}
    ordered = sorted(codes)
    # NOTE: Core on the session's connection (no ORM layer per row); flushed first, as a query would autoflush.
    db.flush()
    connection = db.connection()
    lock = connection.dialect.name == "postgresql"
    types: dict[int, tuple[str, dict[str, str]]] = {}
    for start in range(0, len(ordered), _CHUNK):
        stmt = select(*_DEVICE_COLUMNS).where(_DEVICE.c.code.in_(ordered[start : start + _CHUNK]))
        rows = connection.execute(stmt.order_by(_DEVICE.c.id).with_for_update() if lock else stmt).all()
        missing = {row[2] for row in rows} - types.keys()
        if missing:
            stmt = select(DeviceType.id, DeviceType.code, DeviceType.properties).where(DeviceType.id.in_(missing))
            types.update((type_id, (code, properties or {})) for type_id, code, properties in connection.execute(stmt))
        for id_, code, type_id, state, values, reading_at, seen_at, battery in rows:
            type_code, properties = types[type_id]
            found[code] = DeviceRow(
                id_, code, type_id, type_code, properties, state, values or {}, reading_at, seen_at, battery
            )
    return found


def _parse(index: int, raw: dict[str, Any], device: DeviceRow | None, code: str, latest: dt.datetime) -> _Parsed:
    if device is None:
        raise _Reject(Reason.unknown_device, f"no device is registered under {code!r}")
    if device.state == DeviceState.retired:
        raise _Reject(Reason.device_retired, f"device {code!r} is retired")
    values = raw.get("values")
    if not isinstance(values, dict) or not values:
        raise _Reject(Reason.malformed, '"values" must be an object of property → number with at least one entry')
    if raw.get(TS_FIELD) is None:
        raise _Reject(Reason.no_timestamp, f'the reading has no timestamp "{TS_FIELD}"')
    observed_at = _parse_time(raw[TS_FIELD])
    if observed_at > latest:
        raise _Reject(Reason.future_timestamp, f"timestamp {raw[TS_FIELD]!r} is in the future")
    numbers = {name: _number(name, value) for name, value in values.items()}
    known = device.properties
    unknown = [name for name in numbers if name not in known and name not in IMPLICIT_PROPERTIES]
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise _Reject(
            Reason.unknown_property,
            f"device type {device.type_code} has no property {', '.join(map(repr, unknown))} (it has: {allowed})",
        )
    return _Parsed(index=index, device=device, observed_at=observed_at, values=numbers)


def _store(db: Session, parsed: list[_Parsed], now: dt.datetime, result: IngestResult) -> None:
    """Inserts the readings' values, ignoring those already stored; marks on each reading which values are new."""
    # NOTE: the same value twice in one batch is left to ON CONFLICT DO NOTHING too (PostgreSQL and SQLite skip
    # the second row of one statement as they skip a stored one).
    rows = [
        {
            "device_id": item.device.id,
            "property": name,
            "value": value,
            "observed_at": item.observed_at,
            "received_at": now,
        }
        for item in parsed
        for name, value in item.values.items()
    ]
    if not rows:
        return
    table = Reading.__table__
    connection = db.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=["device_id", "property", "observed_at"])
    if connection.dialect.name == "sqlite":
        # NOTE: SQLite counts the rows an executemany inserted: when that is all of them (nearly always), nothing
        # was a duplicate and the RETURNING round (a datetime to parse per row) is saved; otherwise the savepoint
        # is rolled back and the rows inserted again below, learning which were new.
        savepoint = db.begin_nested()
        # NOTE: the session emits SAVEPOINT when its connection is next asked for, so ask for it again here.
        if db.connection().execute(stmt, rows).rowcount == len(rows):
            savepoint.commit()
            result.stored += len(rows)
            for item in parsed:
                item.new = item.values
            result.accepted += len(parsed)
            return
        savepoint.rollback()
    returning = stmt.returning(table.c.device_id, table.c.property, table.c.observed_at)
    inserted = {tuple(row) for row in connection.execute(returning, rows)}
    result.stored += len(inserted)
    for item in parsed:
        item.new = {n: v for n, v in item.values.items() if (item.device.id, n, item.observed_at) in inserted}
        # NOTE: `inserted` loses each key once taken, so the same value twice in one batch counts once.
        inserted.difference_update((item.device.id, n, item.observed_at) for n in item.new)
        if item.new:
            result.accepted += 1
        else:
            result.duplicates += 1


def _apply(db: Session, parsed: list[_Parsed], now: dt.datetime, result: IngestResult) -> None:
    """Updates each heard device's cache, runs its rules on its newest readings, and sets its state."""
    by_device: dict[int, list[_Parsed]] = {}
    for item in parsed:
        by_device.setdefault(item.device.id, []).append(item)
    if not by_device:
        return
    devices = {items[0].device.id: items[0].device for items in by_device.values()}
    book = rules.load_book(db=db, devices=devices.values())
    updates: list[dict[str, Any]] = []
    changed_states: list[dict[str, Any]] = []
    for device_id, items in by_device.items():
        device = devices[device_id]
        items.sort(key=lambda item: item.observed_at)
        newest = device.last_reading_at
        cache = dict(device.last_values)
        battery = device.battery
        for item in items:
            if not item.new or (newest is not None and item.observed_at < newest):
                continue  # a duplicate, or older than what the cache holds: stored, judged by no rule
            newest = item.observed_at
            cache.update(item.new)
            if BATTERY in item.new:
                battery = _battery(item.new[BATTERY])
            rules.evaluate(
                db=db,
                device=device,
                observed_at=item.observed_at,
                values=item.new,
                book=book,
                now=now,
                tally=result.alarms,
                units=device.properties,
            )
        for alarm in book.alarms_of(device):
            if alarm_service.is_offline(alarm):
                alarm_service.clear(db=db, alarm=alarm, now=now, reason="设备恢复上报", tally=result.alarms)
                book.set_open(device, alarm.alarm_type, None)
        updates.append(
            {
                "b_id": device.id,
                "b_values": cache,
                "b_reading_at": newest,
                "b_seen_at": now if device.last_seen_at is None or device.last_seen_at < now else device.last_seen_at,
                "b_battery": battery,
            }
        )
        state = alarm_service.state_for(device.state, book.alarms_of(device))
        if state != device.state:
            changed_states.append({"b_id": device.id, "b_state": state})
    connection = db.connection()
    table = Device.__table__
    # NOTE: `updated_at` is left alone (SET it to itself, or its onupdate would fire): readings are not edits of
    # the device record; and `state`, an indexed column, is only written for the few devices whose state changed.
    cache_stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            last_values=bindparam("b_values", type_=table.c.last_values.type),
            last_reading_at=bindparam("b_reading_at", type_=table.c.last_reading_at.type),
            last_seen_at=bindparam("b_seen_at", type_=table.c.last_seen_at.type),
            battery=bindparam("b_battery"),
            updated_at=table.c.updated_at,
        )
    )
    connection.execute(cache_stmt, updates)
    if changed_states:
        state_stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(state=bindparam("b_state", type_=table.c.state.type), updated_at=table.c.updated_at)
        )
        connection.execute(state_stmt, changed_states)
    # NOTE: ORM objects of these devices held by this session (a caller's, or one an alarm loaded) would still show
    # the values from before; they are refreshed on next access.
    for device_id in devices:
        held = db.identity_map.get(identity_key(Device, device_id))
        if held is not None:
            db.expire(held)


def _battery(value: float) -> float:
    """Returns a battery level as 0..1 (a value above 1 is read as a percentage)."""
    level = value / 100 if value > 1 else value
    return min(max(level, 0.0), 1.0)
