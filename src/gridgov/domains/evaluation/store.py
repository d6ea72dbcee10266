"""The analytic store: a DuckDB copy of the event log, kept in step with the database, that the counts engine reads.

Reading the live database through DuckDB's scanners costs a full row-by-row scan per query (23 s for 70 M events
in SQLite), and replaying each case's log to find its state at the end of a period costs self-joins per query.
The store pays both once: every event is copied with its case's attributes and with what only its case's history
decides, computed by window functions over the case's log when the event arrives:

- running state after the event (the handling deadline in force, when it was last finished or returned, the unit
  it was last dispatched to) and when the next event came — so "the case as it stood at the end of the period"
  is the one event before the end whose successor is not;
- for each task (立案, 核实, 核查) whether it was done by the deadline of its clock, and for each closure the
  handling time before it;
- when the previous and next event of the same kind came (per case, per case and unit, per case and actor) — so
  "count each case once" is "count the first such event in the period", without a DISTINCT over millions.

A period's counts are then filters and one GROUP BY over the copy. Everything in it is derived from the log alone:
`rebuild` recomputes it from scratch and gives the same table.

Keeping in step: events are append-only and every change of a case is an event, so a sync reads the events
after the last one copied, and recopies the whole log of every case they belong to (its later events change
earlier rows' "next" columns). SQLite has one writer, so event ids arrive in order; on PostgreSQL a transaction
may commit ids lower than ones already copied, so each sync also recounts the last `RECHECK_IDS` ids and recopies
the cases of any it missed. Only committed data is read (a connection of its own).

A sync (or rebuild) is one DuckDB transaction: interrupted half-way (an error, a killed process) it leaves the
store as it was. The store goes on from the database it copied only while the first and the last event it
copied are still there, unchanged (the same case, sequence number, action and time, kept in `meta`): a database
replaced under the same URL is copied again from scratch. A store file of another layout (`STORE_VERSION`), or
one that is not a DuckDB file DuckDB can read, is replaced: the store is derived data.

Assumption, true of everything the services write: a case's events never go back in time (`occurred_at` does not
decrease along `seq`). `rebuild` checks it and names the cases that break it.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

# Bump when the store's columns or their meaning change: a store of another version is dropped and rebuilt.
# 3: stores of 2 may hold events copied twice by an interrupted sync.
STORE_VERSION = 3
READ_CHUNK = 200_000  # source rows per fetch (bounded memory)
DERIVE_CASES = 1_000_000  # cases whose windows are computed in one statement during a rebuild
RECHECK_IDS = 100_000  # the trailing id range recounted on PostgreSQL (ids committed out of order)
CASE_ID_BATCH = 500  # case ids per IN list when recopying touched cases

# What the engine counts reads from each event; the source query below gives them in this order.
SOURCE_COLUMNS = (
    "id",
    "case_id",
    "seq",
    "action",
    "from_stage",
    "to_stage",
    "actor_user_id",
    "actor_name",
    "actor_unit",
    "clock_stage",
    "deadline_at",
    "occurred_at",
    "unit",
    "approved",
    "satisfaction",
    "channel",
    "matter_type_id",
    "grid_id",
    "community_id",
    "street_id",
    "district_id",
    "reasonableness",
    "area_path",
)

RAW_DDL = """
CREATE TABLE IF NOT EXISTS raw (
    id BIGINT, case_id BIGINT, seq INTEGER, action VARCHAR, from_stage VARCHAR, to_stage VARCHAR,
    actor_user_id BIGINT, actor_name VARCHAR, actor_unit VARCHAR, clock_stage VARCHAR,
    deadline_at TIMESTAMP, occurred_at TIMESTAMP, unit VARCHAR, approved BOOLEAN, satisfaction VARCHAR,
    channel VARCHAR, matter_type_id BIGINT, grid_id BIGINT, community_id BIGINT, street_id BIGINT,
    district_id BIGINT, reasonableness VARCHAR, area_path VARCHAR
)
"""

# Every event with what its case's log decides about it (`derived`); `kind` groups the events counted once per case.
EV_DDL = """
CREATE TABLE IF NOT EXISTS ev (
    id BIGINT, case_id BIGINT, seq INTEGER, action VARCHAR, from_stage VARCHAR, to_stage VARCHAR,
    actor_user_id BIGINT, actor_name VARCHAR, actor_unit VARCHAR, unit VARCHAR, approved BOOLEAN,
    satisfaction VARCHAR, occurred_at TIMESTAMP,
    channel VARCHAR, matter_type_id BIGINT, grid_id BIGINT, community_id BIGINT, street_id BIGINT,
    district_id BIGINT, reasonableness VARCHAR, area_path VARCHAR,
    kind VARCHAR, next_at TIMESTAMP, prev_kind_at TIMESTAMP, next_kind_at TIMESTAMP, next_return_at TIMESTAMP,
    first_reject_at TIMESTAMP, first_register BOOLEAN, task_on_time BOOLEAN, handle_seconds DOUBLE,
    handle_seq INTEGER, handle_due TIMESTAMP, finished_at TIMESTAMP, return_seq INTEGER, returned_at TIMESTAMP,
    handler VARCHAR, facts BIGINT
)
"""

# `first_event` and `last_event`: what the database held as the first and the last event copied (`fingerprint`).
META_DDL = """
CREATE TABLE IF NOT EXISTS meta (
    version INTEGER, source VARCHAR, first_id BIGINT, first_event VARCHAR, last_id BIGINT, last_event VARCHAR,
    synced_at DOUBLE
)
"""

REGISTER_ACTIONS = "('register', 'confirm', 'self_handle')"
TASK_ACTIONS = "('register', 'confirm', 'self_handle', 'verify', 'rework', 'reject')"
KINDS = ("report", "dispatch", "return", "rework", "extended", "overdue", "verify")  # codes 1..7
NULL_TIME = int(np.iinfo(np.int64).min)  # a NULL timestamp in the numpy columns (microseconds since 1970)

# A case's log in order, reduced to what the derivation reads: times in microseconds, the event's kind (its index
# in KINDS + 1, 0 for none) and flags.
LOG_SQL = f"""
SELECT id, case_id, seq,
       coalesce(epoch_us(occurred_at), {NULL_TIME}) AS t,
       coalesce(epoch_us(deadline_at), {NULL_TIME}) AS deadline,
       CASE WHEN action = 'report' THEN 1 WHEN action = 'dispatch' THEN 2 WHEN action = 'return_' THEN 3
            WHEN action IN ('rework', 'reopen') THEN 4 WHEN action = 'decide_extension' AND approved THEN 5
            WHEN action = 'overdue' THEN 6 WHEN action = 'verify' THEN 7 ELSE 0 END AS kind,
       coalesce(clock_stage = 'handle', false) AS handle_clock,
       coalesce(clock_stage = 'register', false) AS register_clock,
       coalesce(clock_stage = 'verify', false) AS verify_clock,
       action = 'finish' AS finish,
       action IN ('dispatch', 'reopen') AS handling_start,
       action = 'reject' AS reject,
       action IN {REGISTER_ACTIONS} AS register,
       action IN {TASK_ACTIONS} AS task,
       action IN ('verify', 'rework') AS verify_task,
       CASE WHEN action = 'dispatch' THEN coalesce(unit, '') ELSE '' END AS dispatch_unit
FROM raw
WHERE case_id >= $low AND case_id < $high
ORDER BY case_id, seq
"""

# The derived columns come back as typed numpy arrays (NULL: -1 for seq, NULL_TIME for times, NaN, "").
_TIMES = (
    "next_at",
    "prev_kind_at",
    "next_kind_at",
    "next_return_at",
    "first_reject_at",
    "handle_due",
    "finished_at",
    "returned_at",
)
_KIND_NAME = " ".join(f"WHEN {code} THEN '{name}'" for code, name in enumerate(KINDS, start=1))
_NAMED_TIMES = ", ".join(f"make_timestamp(nullif(d.{name}, {NULL_TIME})) AS {name}" for name in _TIMES[:5])
INSERT_EV_SQL = f"""
INSERT INTO ev
SELECT *, {{facts}} AS facts
FROM (
    SELECT r.id, r.case_id, r.seq, r.action, r.from_stage, r.to_stage, r.actor_user_id, r.actor_name,
           r.actor_unit, r.unit, r.approved, r.satisfaction, r.occurred_at, r.channel, r.matter_type_id, r.grid_id,
           r.community_id, r.street_id, r.district_id, r.reasonableness, r.area_path,
           CASE d.kind {_KIND_NAME} END AS kind,
           {_NAMED_TIMES},
           d.first_register, d.task_on_time,
           CASE WHEN isnan(d.handle_seconds) THEN NULL ELSE d.handle_seconds END AS handle_seconds,
           nullif(d.handle_seq, -1) AS handle_seq,
           make_timestamp(nullif(d.handle_due, {NULL_TIME})) AS handle_due,
           make_timestamp(nullif(d.finished_at, {NULL_TIME})) AS finished_at,
           nullif(d.return_seq, -1) AS return_seq,
           make_timestamp(nullif(d.returned_at, {NULL_TIME})) AS returned_at,
           nullif(d.handler, '') AS handler
    FROM raw r
    JOIN derived d ON d.id = r.id
    WHERE r.case_id >= $low AND r.case_id < $high
)
-- NOTE: in time order, so a period's filters skip whole row groups (DuckDB keeps min/max per group)
ORDER BY occurred_at
"""


def derive(log: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Derives, for every event of `log` (whole cases, ordered by case and seq), what its case's history decides.

    Each "latest earlier X" is a running maximum of row numbers where X holds, kept when it is inside the row's
    own case; each "next X" the same from the end. Linear in the number of events.
    """
    n = len(log["id"])
    rows = np.arange(n)
    case, t, seq, kind = log["case_id"], log["t"], log["seq"], log["kind"]
    first_row = np.ones(n, dtype=bool)
    first_row[1:] = case[1:] != case[:-1]
    last_row = np.ones(n, dtype=bool)
    last_row[:-1] = first_row[1:]
    start = np.maximum.accumulate(np.where(first_row, rows, 0))  # the first row of each row's case
    end = np.minimum.accumulate(np.where(last_row, rows, n)[::-1])[::-1]  # and its last

    def latest(mask: np.ndarray, *, before: bool = False) -> np.ndarray:
        """Row of the latest event of the case with `mask`, up to this one (strictly before it); -1 none."""
        found = np.maximum.accumulate(np.where(mask, rows, -1))
        if before:
            found = np.concatenate(([-1], found[:-1]))
        return np.where(found >= start, found, -1)

    def following(mask: np.ndarray) -> np.ndarray:
        """Row of the next event of the case with `mask`, after this one; -1 none."""
        found = np.minimum.accumulate(np.where(mask, rows, n)[::-1])[::-1]
        found = np.concatenate((found[1:], [n]))
        return np.where(found <= end, found, -1)

    def at(values: np.ndarray, found: np.ndarray, null: Any) -> np.ndarray:
        return np.where(found >= 0, values[np.maximum(found, 0)], null)

    derived: dict[str, np.ndarray] = {"id": log["id"], "kind": kind}
    derived["next_at"] = at(t, np.where(last_row, -1, rows + 1), NULL_TIME)
    derived["prev_kind_at"] = np.full(n, NULL_TIME, dtype=np.int64)
    derived["next_kind_at"] = np.full(n, NULL_TIME, dtype=np.int64)
    for code in range(1, len(KINDS) + 1):
        mask = kind == code
        derived["prev_kind_at"][mask] = at(t, latest(mask, before=True), NULL_TIME)[mask]
        derived["next_kind_at"][mask] = at(t, following(mask), NULL_TIME)[mask]
    # NOTE: under time order the earliest later return is the next one.
    derived["next_return_at"] = at(t, following(kind == 3), NULL_TIME)
    first_reject = np.minimum.reduceat(np.where(log["reject"], rows, n), np.flatnonzero(first_row))
    first_reject = first_reject[np.cumsum(first_row) - 1]
    derived["first_reject_at"] = at(t, np.where(first_reject < n, first_reject, -1), NULL_TIME)
    derived["first_register"] = log["register"] & (latest(log["register"], before=True) < 0)
    clock = np.where(
        log["verify_task"], latest(log["verify_clock"], before=True), latest(log["register_clock"], before=True)
    )
    clock_due = at(log["deadline"], clock, NULL_TIME)
    derived["task_on_time"] = log["task"] & ((clock_due == NULL_TIME) | (t <= clock_due))
    started, finished = latest(log["handling_start"], before=True), latest(log["finish"], before=True)
    closure = (kind == 7) & (started >= 0) & (finished >= 0)
    seconds = (at(t, finished, 0) - at(t, started, 0)) / 1e6
    # NOTE: rounded half away from zero, like SQL's ROUND in the "sql" engine
    derived["handle_seconds"] = np.where(closure, np.sign(seconds) * np.floor(np.abs(seconds) + 0.5), np.nan)
    handle = latest(log["handle_clock"])
    derived["handle_seq"] = at(seq, handle, -1)
    derived["handle_due"] = at(log["deadline"], handle, NULL_TIME)
    derived["finished_at"] = at(t, latest(log["finish"]), NULL_TIME)
    returned = latest(kind == 3)
    derived["return_seq"] = at(seq, returned, -1)
    derived["returned_at"] = at(t, returned, NULL_TIME)
    derived["handler"] = at(np.asarray(log["dispatch_unit"], dtype=str), latest(kind == 2), "")
    return derived


# --- what is counted: each base count as a filter on the store's rows -----------------------------------------


@dataclass(frozen=True)
class Fact:
    """One base count over the store: which rows, and for whom they count.

    `source` "pe": events in the period; "st": each case as it stood at the end (its last event before the end).
    `base`: what a row must be, whatever the period — kept as a bit of the row's `facts` column when it is copied,
    so a query tests one bit instead of the expression. `when`: what the period decides ($period_start and
    $period_end). `unit`: the unit the row counts for — "handler" (the case's at the end of the period) or a
    column. `by_user`: whether it counts for the acting user (person dimension). `once`: a case counts once per key
    (a distinct-case count over events); `ok`: the case counts only if every such event of it is ok.
    `amount`: what hours sum.
    """

    name: str
    source: str
    base: str | None
    when: str | None
    unit: str
    by_user: bool
    once: bool = False
    ok: str | None = None
    amount: str | None = None


_NOT_REJECTED = "(first_reject_at IS NULL OR first_reject_at >= $period_end)"
_DUE = (
    "handle_due >= $period_start AND handle_due < $period_end"
    " AND NOT (coalesce(return_seq, 0) > handle_seq AND returned_at <= handle_due)"
)
_ON_TIME = "coalesce(finished_at <= handle_due, false)"
_RATED = "action = 'rate' AND (reasonableness IS NULL OR reasonableness <> 'unreasonable')"
_CONFIRM = "(action = 'confirm' OR (action = 'reject' AND from_stage = 'verifying'))"
_CLOSURE = "kind = 'verify' AND handle_seconds IS NOT NULL"
_LAST_CLOSURE = "(next_kind_at IS NULL OR next_kind_at >= $period_end)"
_PATROL_REPORT = "action = 'report' AND channel = 'patrol'"
_ACCURATE = "NOT coalesce(next_return_at < $period_end, false)"
FACTS: tuple[Fact, ...] = (
    Fact("received", "pe", "action = 'report'", None, "handler", True, once=True),
    Fact("reports", "pe", _PATROL_REPORT, None, "actor_unit", True, once=True),
    Fact("valid_reports", "pe", _PATROL_REPORT, _NOT_REJECTED, "actor_unit", True, once=True),
    Fact("registered", "pe", "first_register", None, "actor_unit", True),
    Fact("registered_on_time", "pe", "first_register AND task_on_time", None, "actor_unit", True),
    Fact("dispatched", "pe", "action = 'dispatch'", None, "unit", True, once=True),
    # NOTE: a case's first dispatch in the period is returned before the end whenever any later one is
    Fact("accurate_dispatch", "pe", "action = 'dispatch'", None, "unit", True, once=True, ok=_ACCURATE),
    Fact("due", "st", None, _DUE, "handler", False),
    Fact("closed", "st", None, f"{_DUE} AND to_stage = 'closed'", "handler", False),
    Fact("closed_on_time", "st", None, f"{_DUE} AND to_stage = 'closed' AND {_ON_TIME}", "handler", False),
    Fact("closed_late", "st", None, f"{_DUE} AND to_stage = 'closed' AND NOT {_ON_TIME}", "handler", False),
    Fact("open_overdue", "st", None, f"{_DUE} AND to_stage <> 'closed'", "handler", False),
    Fact("rework", "pe", "kind = 'rework'", None, "handler", False, once=True),
    Fact("extended", "pe", "kind = 'extended'", None, "handler", False, once=True),
    Fact("returned", "pe", "kind = 'return'", None, "actor_unit", True, once=True),
    Fact("overdue", "pe", "kind = 'overdue'", None, "handler", False, once=True),
    Fact("self_handled", "pe", "action = 'self_handle'", None, "actor_unit", True),
    Fact("verify_tasks", "pe", "action IN ('verify', 'rework')", None, "actor_unit", True),
    Fact("verified_on_time", "pe", "action IN ('verify', 'rework') AND task_on_time", None, "actor_unit", True),
    Fact("confirm_tasks", "pe", _CONFIRM, None, "actor_unit", True),
    Fact("confirmed_on_time", "pe", f"{_CONFIRM} AND task_on_time", None, "actor_unit", True),
    Fact("rated", "pe", _RATED, None, "handler", False),
    Fact(
        "satisfied", "pe", f"{_RATED} AND satisfaction IN ('satisfied', 'basically_satisfied')", None, "handler", False
    ),
    Fact("unsatisfied", "pe", f"{_RATED} AND satisfaction = 'unsatisfied'", None, "handler", False),
    Fact("handled", "pe", _CLOSURE, _LAST_CLOSURE, "handler", False),
    Fact("handle_hours", "pe", _CLOSURE, _LAST_CLOSURE, "handler", False, amount="handle_seconds"),
)
# The bit of each fact's `base` in a row's `facts` column.
FACT_BITS: dict[str, int] = {fact.name: 1 << i for i, fact in enumerate(f for f in FACTS if f.base)}
_FACT_BITS_SQL = " | ".join(
    f"CASE WHEN {fact.base} THEN {FACT_BITS[fact.name]} ELSE 0 END" for fact in FACTS if fact.base
)


class StoreUnavailable(Exception):
    """The store cannot serve this database (an in-memory SQLite, an unsupported database)."""


def stamp(dialect: str, column: str) -> str:
    """A timestamp column of the source as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    if dialect == "sqlite":
        return column  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC text already
    if dialect == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    raise StoreUnavailable(f"the analytic store reads SQLite and PostgreSQL, not {dialect}")


def source_sql(dialect: str, where: str) -> str:
    """The source query: events with their case's attributes, timestamps as UTC text, JSON fields extracted."""
    if dialect == "sqlite":
        unit, satisfaction = "json_extract(e.data, '$.unit')", "json_extract(e.data, '$.satisfaction')"
        approved = "CASE WHEN json_extract(e.data, '$.approved') = 1 THEN 1 ELSE 0 END"
    elif dialect == "postgresql":
        unit, satisfaction = "(e.data ->> 'unit')", "(e.data ->> 'satisfaction')"
        approved = "CASE WHEN (e.data ->> 'approved') = 'true' THEN 1 ELSE 0 END"
    else:
        raise StoreUnavailable(f"the analytic store reads SQLite and PostgreSQL, not {dialect}")
    return f"""
SELECT e.id, e.case_id, e.seq, e.action, e.from_stage, e.to_stage, e.actor_user_id, e.actor_name, u.code,
       e.clock_stage, {stamp(dialect, "e.deadline_at")}, {stamp(dialect, "e.occurred_at")}, {unit}, {approved},
       {satisfaction},
       c.channel, c.matter_type_id, c.grid_id, c.community_id, c.street_id, c.district_id, c.reasonableness,
       c.area_path
FROM case_event e
JOIN "case" c ON c.id = e.case_id
LEFT JOIN unit u ON u.id = e.actor_unit_id
WHERE {where}
"""


def source_name(url: URL) -> str:
    """The database the store copies, without its password (kept in the store, shown in logs)."""
    return url.render_as_string(hide_password=True)


def store_path(directory: Path, url: URL) -> Path:
    """Where the store of the database at `url` lives: one file per database."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode") == "memory":
            raise StoreUnavailable("an in-memory SQLite database has no analytic store")
    elif backend != "postgresql":
        raise StoreUnavailable(f"the analytic store reads SQLite and PostgreSQL, not {backend}")
    digest = hashlib.sha256(source_name(url).encode()).hexdigest()[:16]
    return directory / f"evaluation-{digest}.duckdb"


@dataclass
class SyncReport:
    """What one sync did: events copied, cases recopied, whether it rebuilt, seconds."""

    events: int = 0
    cases: int = 0
    rebuilt: bool = False
    seconds: float = 0.0


_process_lock = threading.Lock()


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Holds the store of `path` for this thread and process (DuckDB files have one writer at a time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _process_lock, open(path.with_suffix(".lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


TABLES = ("raw", "ev", "meta")


def _open_file(path: Path) -> Any:
    """Opens the DuckDB file; one DuckDB cannot read (not a DuckDB file, another storage format) is replaced."""
    import duckdb

    config = {"autoinstall_known_extensions": False, "preserve_insertion_order": False}
    try:
        return duckdb.connect(str(path), config=config)
    except duckdb.Error as error:
        if "lock" in str(error).lower():  # held by a program that is not gridgov: leave it alone
            raise StoreUnavailable(f"the analytic store {path} is held by another program: {error}") from error
        log.warning("analytic store %s cannot be read (%s): it is replaced by a new one", path.name, error)
    try:
        _remove(path)
        return duckdb.connect(str(path), config=config)
    except (duckdb.Error, OSError) as error:  # a directory that cannot be written ...: counted by SQL meanwhile
        raise StoreUnavailable(f"the analytic store {path} cannot be made: {error}") from error


def _version(con: Any) -> int | None:
    """The layout version the store file was written with (None: no store in it, or not one gridgov can read)."""
    import duckdb

    try:
        row = _meta(con)
    except duckdb.Error:  # no meta table, or one of another layout
        return None
    return row[0] if row else None


def _remove(path: Path) -> None:
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)


def connect(path: Path) -> Any:
    """Opens the store file (created when missing) with its tables, in UTC; a store of another layout version is
    removed first (the next sync rebuilds it)."""
    con = _open_file(path)
    if _version(con) != STORE_VERSION and con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0]:
        # NOTE: its tables may have other columns, so they must be made anew; a new file, not dropped tables,
        # so the old rows' space is not kept in the file
        con.close()
        _remove(path)
        con = _open_file(path)
    con.execute("SET TimeZone = 'UTC'")
    for ddl in (RAW_DDL, EV_DDL, META_DDL):
        con.execute(ddl)
    return con


# Integer columns of the source rows (the rest are text); in the numpy batches NULL is -1 or "" (ids are > 0).
INT_COLUMNS = frozenset(
    {
        "id",
        "case_id",
        "seq",
        "actor_user_id",
        "approved",
        "matter_type_id",
        "grid_id",
        "community_id",
        "street_id",
        "district_id",
    }
)
TIMESTAMP_COLUMNS = frozenset({"deadline_at", "occurred_at"})


def _batch(rows: Sequence[tuple[Any, ...]]) -> dict[str, np.ndarray]:
    """The rows as typed numpy columns: DuckDB reads them in C (object columns cost a Python call per value)."""
    batch = {}
    for name, values in zip(SOURCE_COLUMNS, zip(*rows, strict=True), strict=True):
        if name in INT_COLUMNS:
            batch[name] = np.array([-1 if v is None else v for v in values], dtype=np.int64)
        else:
            batch[name] = np.array(["" if v is None else str(v) for v in values], dtype=str)
    return batch


def _cast(column: str) -> str:
    if column == "approved":
        return "approved = 1"
    if column in INT_COLUMNS:
        return f"nullif({column}, -1)"
    if column in TIMESTAMP_COLUMNS:
        return f"CAST(nullif({column}, '') AS TIMESTAMP)"
    return f"nullif({column}, '')"


def _append_raw(con: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    """Appends source rows to `raw`, typed as the table says."""
    if not rows:
        return
    con.register("batch", _batch(rows))
    try:
        con.execute(f"INSERT INTO raw SELECT {', '.join(_cast(c) for c in SOURCE_COLUMNS)} FROM batch")
    finally:
        con.unregister("batch")


def _copy(con: Any, source: Connection, where: str, params: dict[str, Any]) -> int:
    """Copies the source events matching `where` into `raw`, in chunks; returns how many."""
    result = source.execute(text(source_sql(source.dialect.name, where)), params)
    copied = 0
    while rows := result.fetchmany(READ_CHUNK):
        _append_raw(con, rows)
        copied += len(rows)
    return copied


def _derive(con: Any, chunk_cases: int) -> None:
    """Moves `raw` into `ev` with the derived columns, `chunk_cases` case ids at a time; empties `raw`."""
    low, high = con.execute("SELECT min(case_id), max(case_id) FROM raw").fetchone()
    if low is not None:
        for first in range(low, high + 1, chunk_cases):
            bounds = {"low": first, "high": first + chunk_cases}
            log = con.execute(LOG_SQL, bounds).fetchnumpy()
            if not len(log["id"]):
                continue
            con.register("derived", derive({name: np.asarray(values) for name, values in log.items()}))
            try:
                con.execute(INSERT_EV_SQL.replace("{facts}", _FACT_BITS_SQL), bounds)
            finally:
                con.unregister("derived")
    con.execute("DELETE FROM raw")


# --- the bulk copy of a rebuild: DuckDB reads the database itself through its scanner extension ---------------


def _load_extension(con: Any, name: str) -> None:
    """Loads a DuckDB extension from its PyPI package (offline): by file path, so nothing is written to $HOME."""
    version = con.execute("PRAGMA version").fetchone()[0]
    try:
        package = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError as error:
        raise StoreUnavailable(f"the package duckdb-extension-{name.replace('_', '-')} is not installed") from error
    path = Path(package.__file__).parent / "extensions" / version / f"{name}.duckdb_extension"
    if not path.exists():
        raise StoreUnavailable(f"no {name} extension for DuckDB {version} in {path.parent}")
    con.execute(f"LOAD '{_quote(str(path))}'")


def _quote(value: str) -> str:
    return value.replace("'", "''")


def libpq(url: URL) -> str:
    """Returns a libpq connection string ("host=... dbname=...") for a PostgreSQL SQLAlchemy URL."""
    parts: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "dbname": url.database,
        "user": url.username,
        "password": url.password,
    }
    for name, value in url.query.items():
        parts[name] = value if isinstance(value, str) else value[-1]
    quoted = []
    for name, value in parts.items():
        if value is None or value == "":
            continue
        escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
        quoted.append(f"{name}='{escaped}'")
    return " ".join(quoted)


def _attach(con: Any, url: URL) -> str:
    """Attaches the database at `url` read-only as `src`; returns the prefix of its tables."""
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "").resolve()
        if not path.is_file():
            raise StoreUnavailable(f"SQLite file {path} not found")
        _load_extension(con, "sqlite_scanner")
        con.execute(f"ATTACH '{_quote(str(path))}' AS src (TYPE sqlite, READ_ONLY)")
        return "src"
    _load_extension(con, "postgres_scanner")
    con.execute(f"ATTACH '{_quote(libpq(url))}' AS src (TYPE postgres, READ_ONLY)")
    return "src.public"


def _bulk_copy(con: Any, url: URL, last_id: int) -> int:
    """Copies every event up to `last_id` into `raw` in one statement; returns how many.

    The database stays attached as `src` until the transaction ends (`sync` detaches it).
    """
    import duckdb

    try:
        tables = _attach(con, url)
    except duckdb.Error as error:
        raise StoreUnavailable(f"DuckDB could not attach the database: {error}") from error
    return con.execute(
        f"""
        INSERT INTO raw
        SELECT e.id, e.case_id, e.seq, e.action, e.from_stage, e.to_stage, e.actor_user_id, e.actor_name, u.code,
               e.clock_stage, e.deadline_at, e.occurred_at, json_extract_string(e.data, '$.unit'),
               coalesce(json_extract_string(e.data, '$.approved') = 'true', false),
               json_extract_string(e.data, '$.satisfaction'), c.channel, c.matter_type_id, c.grid_id,
               c.community_id, c.street_id, c.district_id, c.reasonableness, c.area_path
        FROM {tables}.case_event e
        JOIN {tables}."case" c ON c.id = e.case_id
        LEFT JOIN {tables}.unit u ON u.id = e.actor_unit_id
        WHERE e.id <= $last
        """,
        {"last": last_id},
    ).fetchone()[0]


def _meta(con: Any) -> tuple[Any, ...] | None:
    return con.execute("SELECT version, source, first_id, first_event, last_id, last_event FROM meta").fetchone()


def fingerprint(source: Connection, event_id: int | None) -> str | None:
    """An event of the database as "case id|seq|action|UTC time" (None: no such event)."""
    if event_id is None:
        return None
    row = source.execute(
        text(
            f"SELECT case_id, seq, action, {stamp(source.dialect.name, 'occurred_at')} FROM case_event WHERE id = :id"
        ),
        {"id": event_id},
    ).first()
    return None if row is None else "|".join(str(value) for value in row)


def _write_meta(con: Any, source: Connection, name: str, first_id: int | None, last_id: int | None) -> None:
    con.execute("DELETE FROM meta")
    con.execute(
        "INSERT INTO meta VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            STORE_VERSION,
            name,
            first_id,
            fingerprint(source, first_id),
            last_id or 0,
            fingerprint(source, last_id),
            time.time(),
        ],
    )


def _same_history(source: Connection, meta: tuple[Any, ...] | None, name: str) -> bool:
    """Whether the store copies this database's log: same source and format, and the first and the last event it
    copied are still there unchanged (a database replaced under the same URL has other events, or other times)."""
    if meta is None or meta[0] != STORE_VERSION or meta[1] != name:
        return False
    _version, _name, first_id, first_event, last_id, last_event = meta
    if not last_id:
        return True  # nothing copied yet: every event is new
    return fingerprint(source, first_id) == first_event and fingerprint(source, last_id) == last_event


def rebuild(con: Any, source: Connection, name: str) -> SyncReport:
    """Copies the whole log again (DuckDB reads the database directly); logs cases whose events go back in time."""
    started = time.perf_counter()
    # NOTE: dropped, not emptied: the old rows' space is free again once the rebuild commits
    for table in TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    for ddl in (RAW_DDL, EV_DDL, META_DDL):
        con.execute(ddl)
    first_id, last_id = source.execute(text("SELECT min(id), max(id) FROM case_event")).one()
    report = SyncReport(rebuilt=True)
    if last_id is not None:
        report.events = _bulk_copy(con, source.engine.url, last_id)
        _derive(con, DERIVE_CASES)
    report.cases = con.execute("SELECT count(DISTINCT case_id) FROM ev").fetchone()[0]
    backwards = con.execute(
        "SELECT DISTINCT case_id FROM ev WHERE next_at < occurred_at ORDER BY case_id LIMIT 10"
    ).fetchall()
    if backwards:
        log.warning(
            "analytic store: events of case(s) %s go back in time; their counts may differ from the sql engine",
            ", ".join(str(row[0]) for row in backwards),
        )
    _write_meta(con, source, name, first_id, last_id)
    report.seconds = time.perf_counter() - started
    return report


def _missed_cases(con: Any, source: Connection, last_id: int) -> set[int]:
    """Case ids of events with ids at most `last_id` that the store lacks (committed late, PostgreSQL)."""
    low = max(0, last_id - RECHECK_IDS)
    window = {"low": low, "high": last_id}
    counted = source.execute(
        text("SELECT count(*) FROM case_event WHERE id > :low AND id <= :high"), window
    ).scalar_one()
    held = con.execute("SELECT count(*) FROM ev WHERE id > $low AND id <= $high", window).fetchone()[0]
    if counted == held:
        return set()
    ids = source.execute(text("SELECT id, case_id FROM case_event WHERE id > :low AND id <= :high"), window).all()
    have = {row[0] for row in con.execute("SELECT id FROM ev WHERE id > $low AND id <= $high", window).fetchall()}
    return {case_id for event_id, case_id in ids if event_id not in have}


def sync(con: Any, source: Connection, name: str) -> SyncReport:
    """Brings the store up to the committed log of `source`: new events, and every case they touch, again.

    All or nothing: one DuckDB transaction, rolled back when anything fails (the store stays as it was).
    """
    con.execute("BEGIN TRANSACTION")
    try:
        report = _sync(con, source, name)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")
    finally:
        con.execute("DETACH DATABASE IF EXISTS src")  # attached by a rebuild's bulk copy
    return report


def _sync(con: Any, source: Connection, name: str) -> SyncReport:
    started = time.perf_counter()
    meta = _meta(con)
    if not _same_history(source, meta, name):
        return rebuild(con, source, name)
    assert meta is not None
    first_id, last_id = meta[2], meta[4] or 0
    # NOTE: no DISTINCT: with it SQLite scans the case_id index instead of the id range
    touched = set(source.execute(text("SELECT case_id FROM case_event WHERE id > :last"), {"last": last_id}).scalars())
    if source.dialect.name == "postgresql":
        touched |= _missed_cases(con, source, last_id)
    report = SyncReport(cases=len(touched))
    if not touched:
        return report
    con.execute("DELETE FROM raw")  # NOTE: empty, unless a store of an older version was interrupted
    ordered = sorted(touched)
    for start in range(0, len(ordered), CASE_ID_BATCH):
        batch = ordered[start : start + CASE_ID_BATCH]
        report.events += _copy(con, source, f"e.case_id IN ({', '.join(str(int(i)) for i in batch)})", {})
    # NOTE: the watermark is the last event copied, not the source's last now: later commits come next time.
    copied_first, copied_last = con.execute("SELECT min(id), max(id) FROM raw").fetchone()
    con.execute("DELETE FROM ev WHERE case_id IN (SELECT DISTINCT case_id FROM raw)")
    _derive(con, DERIVE_CASES)
    _write_meta(con, source, name, first_id or copied_first, max(last_id, copied_last or 0))
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def opened(engine: Engine, directory: Path) -> Iterator[tuple[Any, SyncReport]]:
    """Yields the store of `engine`'s database, synced with its committed log, held against other writers."""
    path = store_path(directory, engine.url)
    name = source_name(engine.url)
    with locked(path):
        con = connect(path)
        try:
            # NOTE: one snapshot for the whole sync (SQLite's BEGIN in WAL, REPEATABLE READ on PostgreSQL): the
            # events it finds new and the logs it copies are the same moment's, so the watermark skips nothing.
            options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
            with engine.connect().execution_options(**options) as source, source.begin():
                report = sync(con, source, name)
            if report.rebuilt or report.events:
                log.info(
                    "analytic store %s: %s %d events of %d cases in %.2f s",
                    path.name,
                    "rebuilt from" if report.rebuilt else "copied",
                    report.events,
                    report.cases,
                    report.seconds,
                )
            yield con, report
        finally:
            con.close()
