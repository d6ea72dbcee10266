"""The counts engine: one SQL aggregation over `case` and `case_event`, run by DuckDB or by the database itself.

`compute` runs the same query text (`build_sql`) either in DuckDB, which attaches the live database read-only
through its bundled scanners (sqlite_scanner for the SQLite file, postgres_scanner for PostgreSQL), or
through SQLAlchemy on the database ("sql"). Both give identical tables. The few places where the dialects
differ (timestamps, JSON fields, parameters, where single rows are looked up) are the `Dialect` shim below,
and nowhere else.

DuckDB reads COMMITTED data only: it opens its own connection, so rows the caller's session has written but not
committed (flushed or not) are invisible to it. Callers that need their own uncommitted writes counted (tests in
a rolled-back transaction) use engine="sql", which runs inside the caller's session.
"""

from __future__ import annotations

import datetime as dt
import importlib
import itertools
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core.errors import Invalid
from gridgov.core.templating import CHANNEL_LABELS
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.catalog.models import MatterType
from gridgov.domains.evaluation.counts import BASE_COUNTS, CountTable
from gridgov.domains.evaluation.enums import Dimension
from gridgov.domains.evaluation.periods import Period

log = logging.getLogger(__name__)

ENGINES = ("duckdb", "sql")
AREA_DIMENSIONS: dict[Dimension, AreaLevel] = {
    Dimension.district: AreaLevel.district,
    Dimension.street: AreaLevel.street,
    Dimension.community: AreaLevel.community,
    Dimension.grid: AreaLevel.grid,
}
STAFF_ROLES = (Role.grid_worker, Role.community_secretary)


class EngineUnavailable(Exception):
    """DuckDB cannot read this database (in-memory SQLite, an unsupported URL, a missing extension)."""


# --- the dialect shim: every difference between SQLite, PostgreSQL and DuckDB is here --------------------------


@dataclass(frozen=True)
class Dialect:
    """How one SQL engine spells what the query needs: JSON fields, a time difference, parameters."""

    name: str  # "sqlite", "postgresql" or "duckdb"

    def json_text(self, column: str, key: str) -> str:
        """A JSON object field as text ("true"/"false" for booleans on PostgreSQL and DuckDB)."""
        if self.name == "sqlite":
            return f"json_extract({column}, '$.{key}')"
        if self.name == "postgresql":
            return f"({column} ->> '{key}')"
        return f"json_extract_string({column}, '$.{key}')"

    def json_true(self, column: str, key: str) -> str:
        """A condition: the JSON field is boolean true."""
        if self.name == "sqlite":
            # NOTE: SQLite's json_extract gives true as the integer 1, not the text 'true'.
            return f"json_extract({column}, '$.{key}') = 1"
        return f"{self.json_text(column, key)} = 'true'"

    def seconds(self, start: str, end: str) -> str:
        """Whole seconds from `start` to `end` (timestamps as stored)."""
        if self.name == "sqlite":
            # Timestamps are stored as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's SQLite DateTime).
            return f"ROUND((julianday({end}) - julianday({start})) * 86400.0)"
        if self.name == "postgresql":
            return f"ROUND(EXTRACT(EPOCH FROM ({end} - {start})))"
        return f"ROUND(epoch({end}) - epoch({start}))"

    def timestamp(self, value: dt.datetime) -> Any:
        """A bound value comparable with the stored timestamps."""
        utc = value.astimezone(dt.UTC)
        if self.name == "sqlite":
            # NOTE: compared as text, so in exactly the stored format (always with microseconds).
            return utc.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        if self.name == "duckdb":
            return utc.replace(tzinfo=None)  # the DuckDB session's time zone is UTC
        return utc

    def lookup(self, table: str) -> str:
        """Where single rows of `case` or `case_event` are looked up by key. The databases use the table's own
        index (a lookup by key stays fast however wrong the planner's row estimates for the CTEs are); DuckDB
        uses the copy it has already read (reading the table again would scan it again)."""
        if self.name == "duckdb":
            return {"case": "cs", "case_event": "ev"}[table]
        return f'"{table}"'

    def statement(self, sql: str) -> str:
        """The query text with this engine's parameter markers (SQLAlchemy's :name; DuckDB's $name)."""
        if self.name == "duckdb":
            return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"$\1", sql)
        return sql


# --- the query ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """What to count: the period, the dimension and the cases (area subtree, matter types, an explicit list)."""

    period: Period
    dimension: Dimension
    scope_path: str | None = None
    matter_type_ids: tuple[int, ...] | None = None  # None: every type
    case_ids: tuple[int, ...] | None = None  # None: every case

    def params(self, dialect: Dialect) -> dict[str, Any]:
        params: dict[str, Any] = {
            "period_start": dialect.timestamp(self.period.start),
            "period_end": dialect.timestamp(self.period.end),
        }
        if self.scope_path:
            params["scope_path"] = self.scope_path
        return params


def _int_list(values: Iterable[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def case_filter(query: Query) -> str:
    """The WHERE condition on `"case" c` selecting the cases counted (ids are inlined as integers)."""
    conditions = ["1 = 1"]
    if query.scope_path:
        conditions.append(f"substr(c.area_path, 1, {len(query.scope_path)}) = :scope_path")
    if query.matter_type_ids is not None:
        conditions.append(
            f"c.matter_type_id IN ({_int_list(query.matter_type_ids)})" if query.matter_type_ids else "1 = 0"
        )
    if query.case_ids is not None:
        conditions.append(f"c.id IN ({_int_list(query.case_ids)})" if query.case_ids else "1 = 0")
    return " AND ".join(conditions)


# The key and label of each dimension, and the joins they need (`cs` is the case, `f` the fact).
_AREA_JOIN = "JOIN area dim ON dim.id = cs.{column}"
DIMENSION_SQL: dict[Dimension, tuple[str, str, str]] = {
    Dimension.grid: ("dim.code", "dim.name", _AREA_JOIN.format(column="grid_id")),
    Dimension.community: ("dim.code", "dim.name", _AREA_JOIN.format(column="community_id")),
    Dimension.street: ("dim.code", "dim.name", _AREA_JOIN.format(column="street_id")),
    Dimension.district: ("dim.code", "dim.name", _AREA_JOIN.format(column="district_id")),
    Dimension.unit: ("f.unit_code", "dim.name", "LEFT JOIN unit dim ON dim.code = f.unit_code"),
    Dimension.person: ("f.user_id", "f.user_name", ""),
    Dimension.matter_class: ("dim.major_code", "dim.major_name", "JOIN matter_type dim ON dim.id = cs.matter_type_id"),
    Dimension.matter_type: ("dim.code", "dim.name", "JOIN matter_type dim ON dim.id = cs.matter_type_id"),
    Dimension.channel: ("cs.channel", "cs.channel", ""),
}


def build_sql(dialect: Dialect, query: Query) -> str:
    """Returns the aggregation: one row per (key, count name) with distinct cases, events and summed seconds.

    Enumerations are stored by name: the action `return` is 'return_'.
    """
    key, label, dimension_join = DIMENSION_SQL[query.dimension]
    field = dialect.json_text
    events, cases = dialect.lookup("case_event"), dialect.lookup("case")
    return f"""
WITH
cs AS MATERIALIZED (  -- the cases counted
    SELECT c.id, c.channel, c.matter_type_id, c.grid_id, c.community_id, c.street_id, c.district_id, c.reasonableness
    FROM "case" c
    WHERE {case_filter(query)}
),
ev AS MATERIALIZED (  -- their events before the end of the period
    SELECT e.case_id, e.seq, e.action, e.from_stage, e.to_stage, e.actor_user_id, e.actor_name, e.actor_unit_id,
           e.clock_stage, e.deadline_at, e.occurred_at, e.data, cs.channel, cs.reasonableness
    FROM case_event e
    JOIN cs ON cs.id = e.case_id
    WHERE e.occurred_at < :period_end
),
marks AS MATERIALIZED (  -- per case, the last event of each kind that matters (by seq)
    SELECT case_id,
           MAX(seq) AS last_seq,
           MAX(CASE WHEN clock_stage = 'handle' THEN seq END) AS handle_seq,
           MAX(CASE WHEN action = 'dispatch' THEN seq END) AS dispatch_seq,
           MAX(CASE WHEN action = 'finish' THEN seq END) AS finish_seq,
           MAX(CASE WHEN action = 'return_' THEN seq END) AS return_seq,
           MIN(CASE WHEN action IN ('register', 'confirm', 'self_handle') THEN seq END) AS register_seq,
           MAX(CASE WHEN action = 'reject' THEN 1 ELSE 0 END) AS rejected
    FROM ev
    GROUP BY case_id
),
state AS MATERIALIZED (  -- each case as it stood at the end of the period
    SELECT m.case_id, m.handle_seq, m.return_seq, m.register_seq, m.rejected,
           last_e.to_stage AS stage,
           handle_e.deadline_at AS handle_due,
           finish_e.occurred_at AS finished_at,
           return_e.occurred_at AS returned_at,
           {field("dispatch_e.data", "unit")} AS handler
    FROM marks m
    JOIN {events} last_e ON last_e.case_id = m.case_id AND last_e.seq = m.last_seq
    LEFT JOIN {events} handle_e ON handle_e.case_id = m.case_id AND handle_e.seq = m.handle_seq
    LEFT JOIN {events} finish_e ON finish_e.case_id = m.case_id AND finish_e.seq = m.finish_seq
    LEFT JOIN {events} return_e ON return_e.case_id = m.case_id AND return_e.seq = m.return_seq
    LEFT JOIN {events} dispatch_e ON dispatch_e.case_id = m.case_id AND dispatch_e.seq = m.dispatch_seq
),
due AS (  -- 应结案: the handling deadline in force at the end falls in the period
    SELECT s.case_id, s.handler,
           CASE WHEN s.stage = 'closed' THEN 1 ELSE 0 END AS is_closed,
           CASE WHEN s.stage = 'closed' AND s.finished_at <= s.handle_due THEN 1 ELSE 0 END AS on_time
    FROM state s
    WHERE s.handle_due >= :period_start AND s.handle_due < :period_end
      -- returned before its deadline and not dispatched again: no handling deadline is in force
      AND NOT (COALESCE(s.return_seq, 0) > s.handle_seq AND s.returned_at <= s.handle_due)
),
pe AS MATERIALIZED (  -- events in the period, with the acting unit's code and the case at the end
    SELECT e.case_id, e.seq, e.action, e.from_stage, e.actor_user_id, e.actor_name, e.occurred_at, e.data,
           e.channel, e.reasonableness, u.code AS actor_unit,
           s.handler, s.return_seq, s.register_seq, s.rejected
    FROM ev e
    -- NOTE: every event has its case's state; LEFT JOIN keeps SQLite from looping over state and scanning ev
    LEFT JOIN state s ON s.case_id = e.case_id
    LEFT JOIN unit u ON u.id = e.actor_unit_id
    WHERE e.occurred_at >= :period_start
),
tasks AS MATERIALIZED (  -- registrations, confirmations and verifications, with the clock they answer
    SELECT p.case_id, p.seq, p.action, p.from_stage, p.occurred_at, p.actor_user_id, p.actor_name, p.actor_unit,
           p.register_seq, CASE WHEN p.action IN ('verify', 'rework') THEN 'verify' ELSE 'register' END AS clock
    FROM pe p
    WHERE p.action IN ('register', 'confirm', 'self_handle', 'verify', 'rework', 'reject')
),
task_clock AS (  -- the latest earlier event on that clock
    SELECT t.case_id, t.seq, MAX(k.seq) AS clock_seq
    FROM tasks t
    JOIN {events} k ON k.case_id = t.case_id AND k.seq < t.seq AND k.clock_stage = t.clock
    GROUP BY t.case_id, t.seq
),
timed AS MATERIALIZED (
    SELECT t.case_id, t.seq, t.action, t.from_stage, t.actor_user_id, t.actor_name, t.actor_unit, t.register_seq,
           CASE WHEN k.deadline_at IS NULL OR t.occurred_at <= k.deadline_at THEN 1 ELSE 0 END AS on_time
    FROM tasks t
    LEFT JOIN task_clock tc ON tc.case_id = t.case_id AND tc.seq = t.seq
    LEFT JOIN {events} k ON k.case_id = t.case_id AND k.seq = tc.clock_seq
),
closure AS (  -- the last closure in the period of each case
    SELECT p.case_id, MAX(p.seq) AS seq, MAX(p.handler) AS handler
    FROM pe p WHERE p.action = 'verify'
    GROUP BY p.case_id
),
handling AS (  -- when its handling started (last dispatch or reopen) and finished (last finish) before it
    SELECT cl.case_id, cl.handler,
           MAX(CASE WHEN e.action IN ('dispatch', 'reopen') THEN e.seq END) AS start_seq,
           MAX(CASE WHEN e.action = 'finish' THEN e.seq END) AS finish_seq
    FROM closure cl
    JOIN {events} e ON e.case_id = cl.case_id AND e.seq < cl.seq
    GROUP BY cl.case_id, cl.handler
),
handled AS (
    SELECT h.case_id, h.handler, {dialect.seconds("b.occurred_at", "x.occurred_at")} AS seconds
    FROM handling h
    JOIN {events} b ON b.case_id = h.case_id AND b.seq = h.start_seq
    JOIN {events} x ON x.case_id = h.case_id AND x.seq = h.finish_seq
),
facts AS (  -- one row per counted thing: count name, case, unit code, user, ok (0: spoils a case), seconds
    SELECT 'received' AS name, case_id, handler AS unit_code, actor_user_id AS user_id, actor_name AS user_name,
           1 AS ok, 0 AS amount
    FROM pe WHERE action = 'report'
    UNION ALL
    SELECT 'reports', case_id, actor_unit, actor_user_id, actor_name, 1, 0
    FROM pe WHERE action = 'report' AND channel = 'patrol'
    UNION ALL
    SELECT 'valid_reports', case_id, actor_unit, actor_user_id, actor_name, 1, 0
    FROM pe WHERE action = 'report' AND channel = 'patrol' AND rejected = 0
    UNION ALL
    SELECT 'registered', case_id, actor_unit, actor_user_id, actor_name, 1, 0 FROM timed WHERE seq = register_seq
    UNION ALL
    SELECT 'registered_on_time', case_id, actor_unit, actor_user_id, actor_name, 1, 0
    FROM timed WHERE seq = register_seq AND on_time = 1
    UNION ALL
    SELECT 'dispatched', case_id, {field("data", "unit")}, actor_user_id, actor_name, 1, 0
    FROM pe WHERE action = 'dispatch'
    UNION ALL
    SELECT 'accurate_dispatch', case_id, {field("data", "unit")}, actor_user_id, actor_name,
           CASE WHEN COALESCE(return_seq, 0) > seq THEN 0 ELSE 1 END, 0
    FROM pe WHERE action = 'dispatch'
    UNION ALL
    SELECT 'due', case_id, handler, NULL, NULL, 1, 0 FROM due
    UNION ALL
    SELECT 'closed', case_id, handler, NULL, NULL, 1, 0 FROM due WHERE is_closed = 1
    UNION ALL
    SELECT 'closed_on_time', case_id, handler, NULL, NULL, 1, 0 FROM due WHERE on_time = 1
    UNION ALL
    SELECT 'closed_late', case_id, handler, NULL, NULL, 1, 0 FROM due WHERE is_closed = 1 AND on_time = 0
    UNION ALL
    SELECT 'open_overdue', case_id, handler, NULL, NULL, 1, 0 FROM due WHERE is_closed = 0
    UNION ALL
    SELECT 'rework', case_id, handler, NULL, NULL, 1, 0 FROM pe WHERE action IN ('rework', 'reopen')
    UNION ALL
    SELECT 'extended', case_id, handler, NULL, NULL, 1, 0
    FROM pe WHERE action = 'decide_extension' AND {dialect.json_true("data", "approved")}
    UNION ALL
    SELECT 'returned', case_id, actor_unit, actor_user_id, actor_name, 1, 0 FROM pe WHERE action = 'return_'
    UNION ALL
    SELECT 'overdue', case_id, handler, NULL, NULL, 1, 0 FROM pe WHERE action = 'overdue'
    UNION ALL
    SELECT 'self_handled', case_id, actor_unit, actor_user_id, actor_name, 1, 0 FROM pe WHERE action = 'self_handle'
    UNION ALL
    SELECT 'verify_tasks', case_id, actor_unit, actor_user_id, actor_name, 1, 0
    FROM timed WHERE action IN ('verify', 'rework')
    UNION ALL
    SELECT 'verified_on_time', case_id, actor_unit, actor_user_id, actor_name, 1, 0
    FROM timed WHERE action IN ('verify', 'rework') AND on_time = 1
    UNION ALL
    SELECT 'confirm_tasks', case_id, actor_unit, actor_user_id, actor_name, 1, 0
    FROM timed WHERE action = 'confirm' OR (action = 'reject' AND from_stage = 'verifying')
    UNION ALL
    SELECT 'confirmed_on_time', case_id, actor_unit, actor_user_id, actor_name, 1, 0
    FROM timed WHERE (action = 'confirm' OR (action = 'reject' AND from_stage = 'verifying')) AND on_time = 1
    UNION ALL
    SELECT 'rated', case_id, handler, NULL, NULL, 1, 0
    FROM pe WHERE action = 'rate' AND (reasonableness IS NULL OR reasonableness <> 'unreasonable')
    UNION ALL
    SELECT 'satisfied', case_id, handler, NULL, NULL, 1, 0
    FROM pe WHERE action = 'rate' AND (reasonableness IS NULL OR reasonableness <> 'unreasonable')
      AND {field("data", "satisfaction")} IN ('satisfied', 'basically_satisfied')
    UNION ALL
    SELECT 'unsatisfied', case_id, handler, NULL, NULL, 1, 0
    FROM pe WHERE action = 'rate' AND (reasonableness IS NULL OR reasonableness <> 'unreasonable')
      AND {field("data", "satisfaction")} = 'unsatisfied'
    UNION ALL
    SELECT 'handled', case_id, handler, NULL, NULL, 1, 0 FROM handled
    UNION ALL
    SELECT 'handle_hours', case_id, handler, NULL, NULL, 1, seconds FROM handled
),
per_case AS (  -- one row per (key, count, case): no DISTINCT aggregate needed above
    SELECT {key} AS k, f.name, f.case_id, MAX({label}) AS label,
           MIN(f.ok) AS ok, COUNT(*) AS events, SUM(f.amount) AS amount
    FROM facts f
    JOIN {cases} cs ON cs.id = f.case_id
    {dimension_join}
    WHERE {key} IS NOT NULL
    GROUP BY {key}, f.name, f.case_id
)
SELECT k, MAX(label) AS label, name, SUM(ok) AS cases, SUM(events) AS events, SUM(amount) AS amount
FROM per_case
GROUP BY k, name
"""


# --- running it --------------------------------------------------------------------------------------------------


def _bind_url(db: Session) -> URL:
    bind = db.get_bind()
    if isinstance(bind, Connection):
        return bind.engine.url
    assert isinstance(bind, Engine)
    return bind.url


def run_sql(db: Session, query: Query) -> list[tuple[Any, ...]]:
    """Runs the aggregation in the database through the caller's session (sees its uncommitted writes)."""
    name = db.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise Invalid(f"the sql counts engine supports SQLite and PostgreSQL, not {name}", code="unsupported_database")
    dialect = Dialect(name)
    result = db.execute(text(build_sql(dialect, query)), query.params(dialect))
    return [tuple(row) for row in result]


def _load_extension(con: Any, name: str) -> None:
    """Loads a DuckDB extension from its PyPI package (offline): by file path, so nothing is written to $HOME."""
    version = con.execute("PRAGMA version").fetchone()[0]
    try:
        package = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError as error:
        raise EngineUnavailable(f"the package duckdb-extension-{name.replace('_', '-')} is not installed") from error
    path = Path(package.__file__).parent / "extensions" / version / f"{name}.duckdb_extension"
    if not path.exists():
        raise EngineUnavailable(f"no {name} extension for DuckDB {version} in {path.parent}")
    con.execute(f"LOAD '{_quote(str(path))}'")


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _libpq(url: URL) -> str:
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


@dataclass(frozen=True)
class Target:
    """How DuckDB attaches a database: the scanner extension, the ATTACH string and type, the schema to use."""

    extension: str
    location: str
    type: str
    schema: str | None


def attach_target(url: URL) -> Target:
    """Returns how DuckDB attaches the database at `url`; raises EngineUnavailable when it cannot."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode") == "memory":
            raise EngineUnavailable("an in-memory SQLite database cannot be attached by DuckDB")
        path = Path(database).resolve()
        if not path.is_file():
            raise EngineUnavailable(f"SQLite file {path} not found")
        return Target("sqlite_scanner", str(path), "sqlite", None)
    if backend == "postgresql":
        return Target("postgres_scanner", _libpq(url), "postgres", "public")
    raise EngineUnavailable(f"DuckDB cannot attach a {backend} database")


# One in-memory DuckDB per process, its scanner extensions loaded once (loading takes a few tenths of a second);
# every compute attaches the database under a name of its own, on a cursor of its own, and detaches it after.
_duck_lock = threading.Lock()
_duck: dict[str, Any] = {}
_aliases = itertools.count(1)


def _duckdb_cursor(extension: str) -> Any:
    """Returns a new cursor (a connection of its own) on this process's DuckDB, with `extension` loaded."""
    try:
        import duckdb
    except ImportError as error:
        raise EngineUnavailable("duckdb is not installed") from error
    with _duck_lock:
        if _duck.get("pid") != os.getpid():  # NOTE: a DuckDB instance does not survive a fork
            _duck.clear()
            _duck.update(
                pid=os.getpid(),
                con=duckdb.connect(":memory:", config={"autoinstall_known_extensions": False}),
                loaded=set(),
            )
        if extension not in _duck["loaded"]:
            try:
                _load_extension(_duck["con"], extension)
            except duckdb.Error as error:
                raise EngineUnavailable(f"DuckDB could not load {extension}: {error}") from error
            _duck["loaded"].add(extension)
        return _duck["con"].cursor()


@contextmanager
def attached(url: URL) -> Iterator[Any]:
    """Yields a DuckDB cursor whose default catalog is the database at `url`, attached read-only."""
    import duckdb

    target = attach_target(url)
    cursor = _duckdb_cursor(target.extension)
    alias = f"gridgov_{next(_aliases)}"
    try:
        cursor.execute("SET SESSION TimeZone = 'UTC'")
        try:
            cursor.execute(f"ATTACH '{_quote(target.location)}' AS {alias} (TYPE {target.type}, READ_ONLY)")
        except duckdb.Error as error:
            raise EngineUnavailable(f"DuckDB could not attach the database: {error}") from error
        try:
            cursor.execute(f"USE {alias}{'.' + target.schema if target.schema else ''}")
            yield cursor
        finally:
            cursor.execute("USE memory")
            cursor.execute(f"DETACH {alias}")
    finally:
        cursor.close()


def run_duckdb(db: Session, query: Query) -> list[tuple[Any, ...]]:
    """Runs the aggregation in DuckDB over the committed data of the session's database."""
    dialect = Dialect("duckdb")
    with attached(_bind_url(db)) as cursor:
        result = cursor.execute(dialect.statement(build_sql(dialect, query)), query.params(dialect))
        return [tuple(row) for row in result.fetchall()]


# --- compute ---------------------------------------------------------------------------------------------------


def _matter_type_ids(db: Session, codes: Sequence[str]) -> tuple[int, ...] | None:
    """Returns the ids of the matter types `codes` (None: no filter); raises Invalid naming unknown codes."""
    if not codes:
        return None
    found = dict(db.execute(select(MatterType.code, MatterType.id).where(MatterType.code.in_(list(codes)))).all())
    unknown = [code for code in codes if code not in found]
    if unknown:
        raise Invalid(
            f"unknown matter type(s) {', '.join(unknown)}", code="unknown_matter_type", field="matter_type_codes"
        )
    return tuple(sorted(set(found.values())))


def compute(
    *,
    db: Session,
    period: Period,
    dimension: Dimension,
    engine: str | None = None,
    scope_path: str | None = None,
    matter_type_codes: Sequence[str] = (),
    case_ids: Sequence[int] | None = None,
) -> CountTable:
    """Computes every base count of `period` by `dimension` from the event log.

    `engine` None uses the setting `evaluation_engine`; "duckdb" reads committed data only and falls back to
    "sql" (logged) when it cannot attach the database. `scope_path` limits to cases in an area subtree (an area
    path prefix), `matter_type_codes` to those types, `case_ids` to those cases (a campaign's).
    """
    dimension = Dimension(dimension)
    chosen = engine or get_settings().evaluation_engine
    if chosen not in ENGINES:
        raise Invalid(f"unknown counts engine {chosen!r}; use one of {', '.join(ENGINES)}", code="unknown_engine")
    query = Query(
        period=period,
        dimension=dimension,
        scope_path=scope_path or None,
        matter_type_ids=_matter_type_ids(db, matter_type_codes),
        case_ids=None if case_ids is None else tuple(sorted({int(i) for i in case_ids})),
    )
    rows: list[tuple[Any, ...]] | None = None
    used = "sql"
    if chosen == "duckdb":
        try:
            rows, used = run_duckdb(db, query), "duckdb"
        except EngineUnavailable as reason:
            log.warning("counts engine: DuckDB unavailable (%s); using the database's SQL instead", reason)
    if rows is None:
        rows = run_sql(db, query)
    table = CountTable(dimension=dimension, period=period, engine=used)
    _fill(table, rows)
    if dimension in AREA_DIMENSIONS:
        _add_areas(db, table, AREA_DIMENSIONS[dimension], query.scope_path)
    return table


def _fill(table: CountTable, rows: list[tuple[Any, ...]]) -> None:
    """Puts the aggregation's rows into the table, taking each count's own aggregate."""
    for key, label, name, cases, events, amount in rows:
        aggregate = BASE_COUNTS[name].aggregate
        if aggregate == "cases":
            value: int | float = int(cases)
        elif aggregate == "events":
            value = int(events)
        else:
            value = round(float(amount or 0) / 3600, 2)
        key = str(key)
        row = table.rows.setdefault(key, {})
        if value:
            row[name] = value
        # NOTE: each (key, count) row carries the largest label of its own cases; the largest over all rows is
        # the same whichever engine ordered them (a matter class code may name two classes in a bad catalogue).
        if label is not None and str(label) > table.labels.get(key, ""):
            table.labels[key] = str(label)
    if table.dimension == Dimension.channel:
        names = {str(channel): label for channel, label in CHANNEL_LABELS.items()}
        table.labels.update({key: names[key] for key in table.rows if key in names})


def _add_areas(db: Session, table: CountTable, level: AreaLevel, scope_path: str | None) -> None:
    """Adds names, residents and staff of every area of `level` in scope (those in the subtree or above it)."""
    areas = db.execute(select(Area.code, Area.name, Area.path, Area.population).where(Area.level == level)).all()
    in_scope = [a for a in areas if not scope_path or a.path.startswith(scope_path) or scope_path.startswith(a.path)]
    codes = {a.code for a in in_scope}
    for area in in_scope:
        table.labels[area.code] = area.name
        if area.population is not None:
            table.population[area.code] = int(area.population)
    # Staff: every active grid worker or community secretary counts for each area on the path of their scope.
    paths = db.scalars(
        select(Area.path)
        .join(User, User.scope_area_id == Area.id)
        .where(User.is_active.is_(True), User.role.in_(STAFF_ROLES))
    )
    for path in paths:
        for code in {segment for segment in path.split("/") if segment} & codes:
            table.staff[code] = table.staff.get(code, 0) + 1
    for key, row in table.rows.items():
        if table.population.get(key):
            row["population"] = table.population[key]
        if table.staff.get(key):
            row["staff"] = table.staff[key]
