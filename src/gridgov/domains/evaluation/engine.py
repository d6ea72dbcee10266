"""The counts engine: every base count of a period by a dimension, from the event log, by DuckDB or by SQL.

Two engines give identical tables (tested on hand-built and random worlds):

- "duckdb" reads the analytic store (`store.py`): a DuckDB copy of the committed log where each event carries
  what its case's history decides (state after it, task on time, first of its kind ...), synced before every
  computation; a period's counts are then filters and one GROUP BY (`build_store_sql`). It reads COMMITTED data
  only: rows the caller's session has written but not committed are not in it.
- "sql" runs one aggregation in the database through the caller's session (`build_sql`), replaying each case's
  log with self-joins; it sees the session's own uncommitted writes (tests in a rolled-back transaction).

The few places where SQLite and PostgreSQL differ for the SQL engine are the `Dialect` shim, and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core.errors import Invalid
from gridgov.core.templating import CHANNEL_LABELS
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.evaluation import store
from gridgov.domains.evaluation.counts import BASE_COUNTS, CountTable
from gridgov.domains.evaluation.enums import Dimension
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.evaluation.store import FACT_BITS, FACTS, Fact
from gridgov.domains.staff import service as staff_service

log = logging.getLogger(__name__)

ENGINES = ("duckdb", "sql")
AREA_DIMENSIONS: dict[Dimension, AreaLevel] = {
    Dimension.district: AreaLevel.district,
    Dimension.street: AreaLevel.street,
    Dimension.community: AreaLevel.community,
    Dimension.grid: AreaLevel.grid,
}


# --- the dialect shim: every difference between SQLite and PostgreSQL is here -----------------------------------


@dataclass(frozen=True)
class Dialect:
    """How SQLite or PostgreSQL spells what the query needs: JSON fields, a time difference, timestamps."""

    name: str  # "sqlite" or "postgresql"

    def json_text(self, column: str, key: str) -> str:
        """A JSON object field as text ("true"/"false" for booleans on PostgreSQL)."""
        if self.name == "sqlite":
            return f"json_extract({column}, '$.{key}')"
        return f"({column} ->> '{key}')"

    def json_true(self, column: str, key: str) -> str:
        """A condition: the JSON field is boolean true."""
        if self.name == "sqlite":
            # NOTE: SQLite's json_extract gives true as the integer 1, not the text 'true'.
            return f"json_extract({column}, '$.{key}') = 1"
        return f"{self.json_text(column, key)} = 'true'"

    def seconds(self, start: str, end: str) -> str:
        """Whole seconds from `start` to `end` (timestamps as stored)."""
        if self.name == "sqlite":
            # Timestamps are stored as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's SQLite DateTime): whole
            # seconds by unixepoch of the text cut before its fraction, and the microseconds from the text, exactly.
            # NOTE: unixepoch() and julianday() of the whole text round it to the millisecond first (…:47.999584 is
            # …:48), which moves durations across a rounding boundary; julianday's double is off by ~50 µs besides.
            return (
                f"ROUND((unixepoch(substr({end}, 1, 19)) - unixepoch(substr({start}, 1, 19)))"
                f" + (CAST(substr({end}, 21, 6) AS INTEGER) - CAST(substr({start}, 21, 6) AS INTEGER)) / 1e6)"
            )
        return f"ROUND(EXTRACT(EPOCH FROM ({end} - {start})))"

    def timestamp(self, value: dt.datetime) -> Any:
        """A bound value comparable with the stored timestamps."""
        utc = value.astimezone(dt.UTC)
        if self.name == "sqlite":
            # NOTE: compared as text, so in exactly the stored format (always with microseconds).
            return utc.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        return utc


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


def case_filter(query: Query, *, case: str = "c.id", row: str = "c.", scope_param: str = ":scope_path") -> str:
    """The condition selecting the cases counted (ids are inlined as integers): on `"case" c` by default, or on
    the store's events (`case` their case id column, `row` their prefix, `scope_param` DuckDB's parameter)."""
    conditions = ["1 = 1"]
    if query.scope_path:
        conditions.append(f"substr({row}area_path, 1, {len(query.scope_path)}) = {scope_param}")
    if query.matter_type_ids is not None:
        conditions.append(
            f"{row}matter_type_id IN ({_int_list(query.matter_type_ids)})" if query.matter_type_ids else "1 = 0"
        )
    if query.case_ids is not None:
        conditions.append(f"{case} IN ({_int_list(query.case_ids)})" if query.case_ids else "1 = 0")
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
    # NOTE: single rows of `case` and `case_event` are looked up by key in the tables themselves: the index keeps
    # a lookup fast however wrong the planner's row estimates for the CTEs are.
    events, cases = '"case_event"', '"case"'
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


# --- the same counts over the analytic store ---------------------------------------------------------------------


# The store's column each dimension groups by; ids, codes and names are resolved afterwards from small tables.
STORE_KEYS: dict[Dimension, str] = {
    Dimension.grid: "grid_id",
    Dimension.community: "community_id",
    Dimension.street: "street_id",
    Dimension.district: "district_id",
    Dimension.matter_class: "matter_type_id",
    Dimension.matter_type: "matter_type_id",
    Dimension.channel: "channel",
}
_FIRST_IN_PERIOD = "(prev_kind_at IS NULL OR prev_kind_at < $period_start)"


@dataclass(frozen=True)
class StoreQuery:
    """One aggregation over the store: a row per key with one column per fact (a count, or a count and hours)."""

    sql: str
    facts: tuple[Fact, ...]


def _where(fact: Fact) -> str:
    """The condition on a row: its fact bit (what it is), and what the period decides."""
    parts = [f"(facts & {FACT_BITS[fact.name]}) <> 0" if fact.base else None, fact.when]
    return " AND ".join(part for part in parts if part) or "true"


def _bucket(source: str, key: str, label: str, facts: list[Fact], *, per_case: bool) -> StoreQuery:
    """The aggregation of `facts` from `source` by `key`. A fact counted once per case whose key changes from event
    to event (the unit dispatched to, the acting user) is counted per (key, case) first (`per_case`); otherwise a
    case's first such event in the period stands for it (the key is the case's own)."""
    columns = []
    for fact in facts:
        if per_case:
            condition = f"{fact.name}_case"
        else:
            condition = " AND ".join(
                part for part in (_where(fact), _FIRST_IN_PERIOD if fact.once else None, fact.ok) if part is not None
            )
        columns.append(f"count(*) FILTER (WHERE {condition})")
        if fact.amount:
            columns.append(f"coalesce(sum({fact.amount}) FILTER (WHERE {condition}), 0)")
    if per_case:
        flags = ", ".join(
            (f"bool_and({fact.ok}) FILTER (WHERE {_where(fact)})" if fact.ok else f"bool_or({_where(fact)})")
            + f" AS {fact.name}_case"
            for fact in facts
        )
        source = (
            f"(SELECT {key} AS k, max({label}) AS label, {flags} FROM {source}"
            f" WHERE {' OR '.join(f'({_where(fact)})' for fact in facts)} GROUP BY {key}, case_id)"
        )
        key, label = "k", "label"
    sql = f"SELECT {key} AS k, max({label}), {', '.join(columns)} FROM {source} WHERE {key} IS NOT NULL GROUP BY 1"
    return StoreQuery(sql=sql, facts=tuple(facts))


def build_store_queries(query: Query) -> list[StoreQuery]:
    """Returns the aggregations over the store that together give every count of `query`."""
    dimension = query.dimension
    where = case_filter(query, case="case_id", row="", scope_param="$scope_path")
    start = f"TIMESTAMP '{query.period.start.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S.%f}'"
    end = f"TIMESTAMP '{query.period.end.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S.%f}'"
    # NOTE: every fact on the period's events has a base bit: events that are none of them (sign, start, notes …)
    # are dropped before any condition is evaluated
    in_period = f"(SELECT * FROM ev WHERE occurred_at >= {start} AND occurred_at < {end} AND facts <> 0 AND {where})"
    # each case as it stood at the end: its last event before the end (only those with a deadline in the period)
    at_end = (
        f"(SELECT * FROM ev WHERE occurred_at < {end} AND (next_at IS NULL OR next_at >= {end})"
        f" AND handle_due >= {start} AND handle_due < {end} AND {where})"
    )
    buckets: dict[tuple[str, str, str, bool], list[Fact]] = {}
    for fact in FACTS:
        source = in_period if fact.source == "pe" else at_end
        if dimension == Dimension.person:
            if not fact.by_user:
                continue  # counted for no user
            bucket = (source, "actor_user_id", "actor_name", fact.once)
        elif dimension == Dimension.unit:
            if fact.source == "pe" and fact.unit == "handler":
                # NOTE: a case with events in the period has its last event before the end among them; that event
                # may be none of the facts (a sign, a note ...): it is looked for among all the period's events
                last = (
                    f"(SELECT case_id, handler FROM ev WHERE occurred_at >= {start} AND occurred_at < {end}"
                    f" AND (next_at IS NULL OR next_at >= {end}) AND {where})"
                )
                source = (
                    f"(SELECT p.* EXCLUDE (handler), e.handler FROM {in_period} p JOIN {last} e"
                    " ON e.case_id = p.case_id)"
                )
            bucket = (source, fact.unit, "NULL", fact.once and fact.unit != "handler")
        else:
            bucket = (source, STORE_KEYS[dimension], "NULL", False)
        buckets.setdefault(bucket, []).append(fact)
    queries = []
    for (source, key, label, per_case), facts in buckets.items():
        made = _bucket(source, key, label, facts, per_case=per_case)
        sql = made.sql.replace("$period_start", start).replace("$period_end", end)
        queries.append(StoreQuery(sql=sql, facts=made.facts))
    return queries


def run_sql(db: Session, query: Query) -> list[tuple[Any, ...]]:
    """Runs the aggregation in the database through the caller's session (sees its uncommitted writes)."""
    name = db.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise Invalid(f"the sql counts engine supports SQLite and PostgreSQL, not {name}", code="unsupported_database")
    dialect = Dialect(name)
    result = db.execute(text(build_sql(dialect, query)), query.params(dialect))
    return [tuple(row) for row in result]


def _bind_engine(db: Session) -> Engine:
    bind = db.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def run_store(db: Session, query: Query) -> list[tuple[Any, ...]]:
    """Syncs the analytic store with the committed log and runs the aggregations there; rows as `run_sql` gives."""
    params = {"scope_path": query.scope_path} if query.scope_path else {}
    rows: list[tuple[Any, ...]] = []
    with store.opened(_bind_engine(db), get_settings().evaluation_store_dir) as (con, _report):
        for part in build_store_queries(query):
            for key, label, *values in con.execute(part.sql, params).fetchall():
                found = iter(values)
                for fact in part.facts:
                    count, amount = next(found), (next(found) if fact.amount else 0)
                    if count:
                        rows.append((key, label, fact.name, count, amount))
    return _resolve_keys(db, query.dimension, rows)


def _resolve_keys(db: Session, dimension: Dimension, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Turns the store's keys (area and matter type ids, unit codes) into the codes and names `run_sql` gives;
    rows as (key, label, name, cases, events, amount)."""
    if dimension in AREA_DIMENSIONS:
        ids = {key for key, *_ in rows}
        names = {
            a.id: (a.code, a.name) for a in db.execute(select(Area.id, Area.code, Area.name).where(Area.id.in_(ids)))
        }
        keyed = [(*names[key], name, count, amount) for key, _label, name, count, amount in rows if key in names]
    elif dimension in (Dimension.matter_class, Dimension.matter_type):
        ids = {key for key, *_ in rows}
        found = db.execute(
            select(MatterType.id, MatterType.code, MatterType.name, MatterType.major_code, MatterType.major_name).where(
                MatterType.id.in_(ids)
            )
        )
        names = {
            t.id: (t.major_code, t.major_name) if dimension == Dimension.matter_class else (t.code, t.name)
            for t in found
        }
        # NOTE: a case has one matter type, so a class's distinct cases are the sum over its types.
        merged: dict[tuple[str, str], list[Any]] = {}
        for key, _label, name, count, amount in rows:
            if key not in names:
                continue
            code, label = names[key]
            entry = merged.setdefault((code, name), [label, 0, 0.0])
            entry[0] = max(entry[0], label)
            entry[1] += count
            entry[2] += float(amount or 0)
        keyed = [(code, label, name, count, amount) for (code, name), (label, count, amount) in merged.items()]
    elif dimension == Dimension.unit:
        codes = {key for key, *_ in rows}
        names = dict(db.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes))).all())
        keyed = [(key, names.get(key), name, count, amount) for key, _label, name, count, amount in rows]
    else:
        keyed = [(key, label, name, count, amount) for key, label, name, count, amount in rows]
    return [(key, label, name, count, count, amount) for key, label, name, count, amount in keyed]


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

    `engine` None uses the setting `evaluation_engine`; "duckdb" reads committed data only (the analytic store)
    and falls back to "sql" (logged) when the database has no store (an in-memory SQLite). `scope_path` limits
    to cases in an area subtree (an area path prefix), `matter_type_codes` to those types, `case_ids` to those
    cases (a campaign's).
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
            rows, used = run_store(db, query), "duckdb"
        except store.StoreUnavailable as reason:
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
    # Staff: the staff register's community workers on the period's last day (today for a period not over).
    last_day = (table.period.end - dt.timedelta(microseconds=1)).astimezone(get_settings().tz).date()
    on = min(last_day, staff_service.today())
    # NOTE: the whole district: areas above the scope are in the table too
    workers = staff_service.community_worker_counts(db=db, on=on)
    table.staff.update({code: count for code, count in workers.items() if code in codes and count})
    for key, row in table.rows.items():
        if table.population.get(key):
            row["population"] = table.population[key]
        if table.staff.get(key):
            row["staff"] = table.staff[key]
