"""Benchmark of the indicator engine: DuckDB over its analytic store vs. the same GROUP BY in SQLite itself.

    .venv/bin/python bench/evaluation.py [--cases N] [--keep DIR] [--sql-timeout SECONDS]

1. Generates N cases (default 10,000,000) with their event logs (about 7 events a case: report, register or
   confirm, dispatch, sign, start, finish, verify, rate ..., with realistic shares of self-handled, rejected,
   returned, extended, late, reworked, reopened and never-finished cases) over the calendar year 2025, in 2,000
   grids of 170 communities in 17 streets, handled by 100 units, into a SQLite file created by gridgov's own
   migrations (`case` and `case_event` as the application writes them: enum names, SQLAlchemy's timestamp text,
   JSON, the event's clock and deadline). DuckDB generates chunk by chunk and writes through its sqlite extension
   while the next chunk is generated; secondary indexes are dropped for the load and rebuilt from their DDL, so
   the file ends with the real schema. Its time and rate are printed; it is not the benchmark.
2. Builds the engine's analytic store (a DuckDB copy of the log with what each case's history decides: see
   evaluation/store.py) and prints its time (not the benchmark either: it is built once and then kept in step
   event by event) and the cost of a sync with nothing new, which every computation pays.
3. Runs once each: the counts engine (`evaluation.engine.compute(..., engine="duckdb")`) for a month × street and
   for the year × grid, then the same computation in SQLite (`engine="sql"`: the engine's own SQL through
   SQLAlchemy on the same file), checks that both give identical tables, and prints both times (wall, and CPU of
   this process), the ratio (target ≥ 10) and the absolute DuckDB time (target < 3 s on 2 cores). The SQLite run
   is stopped after --sql-timeout seconds (default 900) and then reported as a lower bound.

With --keep DIR the database is written to DIR/evaluation.db and the store to DIR/store/, and kept (a later run
with the same N reuses both and skips generation and the build); without it everything lives in a temporary
directory removed at the end. The database takes about 2.6 GB per million cases, the store about 0.55 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import duckdb_extensions
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from gridgov import migrations
from gridgov.config import get_settings
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.evaluation import store
from gridgov.domains.evaluation.counts import BASE_COUNTS, CountTable
from gridgov.domains.evaluation.engine import compute
from gridgov.domains.evaluation.enums import Dimension
from gridgov.domains.evaluation.periods import Period

TZ = ZoneInfo("Asia/Shanghai")
YEAR = 2025
START_LOCAL = dt.datetime(YEAR, 1, 1)  # local midnight; stored timestamps are UTC (8 h earlier)
CUTOFF_LOCAL = dt.datetime(YEAR + 1, 1, 1)  # "now" of the generated log: later events have not happened yet
DAYS = 365
STREETS, COMMUNITIES, GRIDS, UNITS, MATTER_TYPES = 17, 170, 2000, 100, 60
DISTRICT_CODE = "410105"
CHUNK = 500_000  # cases generated and written per step (bounded memory)
TARGET_RATIO, TARGET_SECONDS = 10.0, 3.0
TS = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime on SQLite (the engine compares these strings)

# Area ids: the district, then streets, communities and grids in order (see `reference_data`).
STREET_ID0, COMMUNITY_ID0, GRID_ID0 = 2, 2 + STREETS, 2 + STREETS + COMMUNITIES

# Units (ids 1..100): 1 the district centre, 2..21 district bureaus, 22..38 street urban-management teams,
# 39..55 street sanitation stations, 56..72 street offices, 73..100 utility and maintenance enterprises.
UNIT_BUREAU0, UNIT_TEAM0, UNIT_SANITATION0, UNIT_OFFICE0, UNIT_ENTERPRISE0 = 2, 22, 39, 56, 73
ENTERPRISES = UNITS - UNIT_ENTERPRISE0 + 1

# User ids: grid workers 10000+grid, secretaries 20000+community, street dispatchers 30000+2·street(+1), district
# dispatchers 30100.., the district leader 30200, unit handlers 40000+2·unit(+1).
GRID_WORKER0, SECRETARY0, STREET_DISPATCHER0, DISTRICT_DISPATCHER0, LEADER, HANDLER0 = (
    10000,
    20000,
    30000,
    30100,
    30200,
    40000,
)

MAJORS = [
    ("01", "市容环境", "event"),
    ("02", "环卫保洁", "event"),
    ("03", "街面秩序", "event"),
    ("04", "违法建设", "event"),
    ("05", "宣传广告", "event"),
    ("06", "园林绿化", "component"),
    ("07", "公用设施", "component"),
    ("08", "交通设施", "component"),
    ("09", "施工管理", "event"),
    ("10", "社会治理", "social"),
]
MINORS = ["一", "二", "三", "四", "五", "六"]
# The handling limit of matter type m, in hours (halved when urgent, quartered for an emergency).
HANDLE_HOURS = [2, 4, 8, 24, 48, 72, 120]  # HANDLE_HOURS[m % 7]


# --- reference data (small: plain sqlite3) ----------------------------------------------------------------------


def reference_data(db: sqlite3.Connection) -> None:
    """Writes the district's areas, units, matter types and users (the rows the cases point to)."""
    now = _ts(dt.datetime(YEAR - 1, 12, 1))
    areas: list[tuple] = []
    grid_population = [600 + (g * 7919) % 700 for g in range(GRIDS)]
    community_population = [0] * COMMUNITIES
    for g in range(GRIDS):
        community_population[_community_of(g)] += grid_population[g]
    street_population = [0] * STREETS
    for c in range(COMMUNITIES):
        street_population[c // (COMMUNITIES // STREETS)] += community_population[c]
    district_path = f"/{DISTRICT_CODE}/"
    areas.append((1, DISTRICT_CODE, "金水区", "district", None, district_path, sum(street_population)))
    for s in range(STREETS):
        code = f"{DISTRICT_CODE}{s + 1:03d}"
        areas.append(
            (STREET_ID0 + s, code, f"第{s + 1}街道", "street", 1, f"{district_path}{code}/", street_population[s])
        )
    for c in range(COMMUNITIES):
        s = c // (COMMUNITIES // STREETS)
        street = areas[STREET_ID0 - 1 + s]
        code = f"{street[1]}{c % (COMMUNITIES // STREETS) + 1:03d}"
        areas.append(
            (
                COMMUNITY_ID0 + c,
                code,
                f"{street[2]}第{c % (COMMUNITIES // STREETS) + 1}社区",
                "community",
                street[0],
                f"{street[5]}{code}/",
                community_population[c],
            )
        )
    for g in range(GRIDS):
        community = areas[COMMUNITY_ID0 - 1 + _community_of(g)]
        code = f"{community[1]}{g - _first_grid(_community_of(g)) + 1:03d}"
        areas.append(
            (
                GRID_ID0 + g,
                code,
                f"{community[2]}{g - _first_grid(_community_of(g)) + 1}号网格",
                "grid",
                community[0],
                f"{community[5]}{code}/",
                grid_population[g],
            )
        )
    db.executemany(
        "INSERT INTO area (id, code, name, level, parent_id, path, population, attributes, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, '{}', ?, ?)",
        [(*a, now, now) for a in areas],
    )

    units: list[tuple] = [(1, "U001", "区城运中心", "district_centre", "district", "centre", 1)]
    bureaus = ["园林局", "市政局", "水务局", "住建局", "市场监管局", "交通局", "环保局", "城管局", "卫健委", "应急局"]
    for i in range(UNIT_TEAM0 - UNIT_BUREAU0):
        uid = UNIT_BUREAU0 + i
        name = bureaus[i % len(bureaus)] + ("" if i < len(bureaus) else "二处")
        units.append((uid, f"U{uid:03d}", name, "district_bureau", "district", f"bureau{i}", 1))
    for s in range(STREETS):
        street_id, street_name = STREET_ID0 + s, areas[STREET_ID0 - 1 + s][2]
        units.append(
            (
                UNIT_TEAM0 + s,
                f"U{UNIT_TEAM0 + s:03d}",
                f"{street_name}城管中队",
                "street_team",
                "street",
                "urban_management",
                street_id,
            )
        )
        units.append(
            (
                UNIT_SANITATION0 + s,
                f"U{UNIT_SANITATION0 + s:03d}",
                f"{street_name}环卫所",
                "street_team",
                "street",
                "sanitation",
                street_id,
            )
        )
        units.append(
            (
                UNIT_OFFICE0 + s,
                f"U{UNIT_OFFICE0 + s:03d}",
                f"{street_name}办事处",
                "street_office",
                "street",
                "office",
                street_id,
            )
        )
    for i in range(ENTERPRISES):
        uid = UNIT_ENTERPRISE0 + i
        kind = ["供水", "燃气", "供电", "通信", "热力", "路灯", "排水"][i % 7]
        units.append((uid, f"U{uid:03d}", f"{kind}公司{i // 7 + 1}分公司", "enterprise", "district", kind, 1))
    units.sort()
    db.executemany(
        "INSERT INTO unit (id, code, name, kind, level, function, area_id, is_active, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
        [(*u, now, now) for u in units],
    )

    matters = []
    for m in range(MATTER_TYPES):
        major_code, major_name, kind = MAJORS[m // 6]
        minor = f"{m % 6 + 1:02d}"
        name = f"{major_name}{MINORS[m % 6]}类"
        matters.append((m + 1, f"{major_code}{minor}", name, kind, major_code, major_name, minor))
    db.executemany(
        "INSERT INTO matter_type (id, code, name, kind, major_code, major_name, minor_code, default_urgency,"
        " department_only, evidence_required, keywords, is_active, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'normal', 0, 0, '[]', 1, ?, ?)",
        [(*m, now, now) for m in matters],
    )

    users: list[tuple] = []
    for g in range(GRIDS):
        users.append((GRID_WORKER0 + g, f"gw{g:04d}", _grid_worker_name(g), "grid_worker", None, GRID_ID0 + g))
    for c in range(COMMUNITIES):
        users.append((SECRETARY0 + c, f"sec{c:03d}", f"书记{c:03d}", "community_secretary", None, COMMUNITY_ID0 + c))
    for s in range(STREETS):
        for k in range(2):
            uid = STREET_DISPATCHER0 + 2 * s + k
            users.append(
                (uid, f"sd{s:02d}{k}", f"派遣员{s + 1:02d}-{k + 1}", "street_dispatcher", None, STREET_ID0 + s)
            )
    for k in range(4):
        users.append((DISTRICT_DISPATCHER0 + k, f"dd{k}", f"区派遣员{k + 1}", "district_dispatcher", 1, 1))
    users.append((LEADER, "leader", "区领导", "district_leader", 1, 1))
    for u in range(1, UNITS + 1):
        for k in range(2):
            users.append((HANDLER0 + 2 * u + k, f"h{u:03d}{k}", f"处置员{u:03d}-{k + 1}", "unit_handler", u, None))
    db.executemany(
        "INSERT INTO user (id, username, display_name, role, unit_id, scope_area_id, is_active, failed_logins,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, 0, ?, ?)",
        [(*u, now, now) for u in users],
    )


def _community_of(g: int) -> int:
    return g * COMMUNITIES // GRIDS


def _first_grid(c: int) -> int:
    return -(-c * GRIDS // COMMUNITIES)


def _grid_worker_name(g: int) -> str:
    return f"网格员{g + 1:04d}"


def _ts(value: dt.datetime) -> str:
    return value.strftime(TS)


# --- the generated log (DuckDB) ---------------------------------------------------------------------------------

# One row per case: what happens to it and when (UTC timestamps). `u(id, k)` is the k-th uniform draw of a case
# (a hash, so a run is reproducible and chunks are independent); `hrs(x)` is x hours as an interval.
MACROS = """
CREATE OR REPLACE MACRO u(i, k) AS ((hash(i * 64 + k) >> 11)::DOUBLE / 9007199254740992.0);
CREATE OR REPLACE MACRO hrs(x) AS to_microseconds((x * 3600000000.0)::BIGINT);
CREATE OR REPLACE MACRO part(a, b, x) AS a + to_microseconds(((epoch_us(b) - epoch_us(a)) * x)::BIGINT);
-- SQLAlchemy's text form of a timestamp on SQLite, always with 6 fraction digits (DuckDB drops trailing zeros)
CREATE OR REPLACE MACRO ts(x) AS rpad(CASE WHEN length(x::VARCHAR) = 19 THEN x::VARCHAR || '.' ELSE x::VARCHAR END,
    26, '0');
"""

PLAN = """
CREATE OR REPLACE TABLE plan AS
WITH a AS (
    SELECT id,
        CASE WHEN u(id, 1) < 0.60 THEN 'patrol' WHEN u(id, 1) < 0.80 THEN 'hotline'
             WHEN u(id, 1) < 0.88 THEN 'snapshot' WHEN u(id, 1) < 0.92 THEN 'iot' WHEN u(id, 1) < 0.95 THEN 'video'
             WHEN u(id, 1) < 0.96 THEN 'open311' WHEN u(id, 1) < 0.97 THEN 'assignment' ELSE 'discovered' END
            AS channel,
        -- cases in id order through the year; 85 % reported in the daytime (07:00-21:00 local)
        TIMESTAMP '{start}' + to_days(((id - 1) * {days} // {n})::INTEGER)
            + hrs(CASE WHEN u(id, 2) < 0.85 THEN 7 + 14 * u(id, 3) ELSE 24 * u(id, 3) END) - INTERVAL 8 HOUR AS t0,
        least({grids} - 1, floor({grids} * pow(u(id, 4), 1.25)))::INTEGER AS g,
        least({matter_types} - 1, floor({matter_types} * pow(u(id, 5), 1.7)))::INTEGER AS m,
        CASE WHEN u(id, 6) < 0.90 THEN 'normal' WHEN u(id, 6) < 0.98 THEN 'urgent' ELSE 'emergency' END AS urgency
    FROM range({lo}, {hi}) r(id)
), b AS (
    SELECT *,
        g * {communities} // {grids} AS c,
        m // 6 AS cls,
        {handle_hours}[m % {limits} + 1]
            * CASE urgency WHEN 'normal' THEN 1.0 WHEN 'urgent' THEN 0.5 ELSE 0.25 END AS lim,
        channel IN ('snapshot', 'open311', 'video') AS verifying,
        channel = 'patrol' AND u(id, 11) < 0.15 AS self,
        u(id, 14) >= 0.75 AND channel <> 'assignment' AS manual,
        u(id, 21) < 0.85 AS started,
        u(id, 23) < 0.025 AS ext_req,
        u(id, 26) < 0.01 AS stuck,
        u(id, 27) < 0.06 AS late,
        u(id, 29) < 0.02 AS rework,
        channel IN ('hotline', 'snapshot', 'open311') AND u(id, 34) < 0.65 AS rated,
        CASE WHEN u(id, 36) < 0.78 THEN 'satisfied' WHEN u(id, 36) < 0.92 THEN 'basically_satisfied'
             ELSE 'unsatisfied' END AS sat
    FROM a
), c AS (
    SELECT *,
        c // ({communities} // {streets}) AS s,
        verifying AND u(id, 10) < 0.08 AS rejected,
        ext_req AND u(id, 24) < 0.8 AS ext_ok,
        CASE WHEN verifying
             THEN t0 + hrs(CASE WHEN u(id, 12) < 0.04 THEN 4 + 20 * u(id, 13) ELSE 0.1 + 3.8 * u(id, 13) END)
             ELSE t0 END AS t_reg
    FROM b
), d AS (
    SELECT *,
        NOT self AND NOT rejected AS main,
        NOT self AND NOT rejected AND u(id, 17) < 0.04 AS returned,
        CASE WHEN cls IN (0, 1) THEN {sanitation0} + s WHEN cls IN (2, 3, 4) THEN {team0} + s
             WHEN cls = 5 THEN {bureau0} + m % 5 WHEN cls = 6 THEN {enterprise0} + (m * 7 + s) % {enterprises}
             WHEN cls = 7 THEN {bureau0} + 5 + m % 5 WHEN cls = 8 THEN {bureau0} + 10 + m % 5
             WHEN m % 2 = 0 THEN {office0} + s ELSE {bureau0} + 15 + m % 5 END AS unit,
        t_reg + CASE WHEN manual
                     THEN hrs(CASE WHEN u(id, 15) < 0.05 THEN 1 + 3 * u(id, 16) ELSE 0.05 + 0.9 * u(id, 16) END)
                     ELSE INTERVAL 0 SECOND END AS t_d1,
        lim * (1 + ext_ok::INTEGER) AS leff
    FROM c
), e AS (
    SELECT *,
        1 + (unit + id % 98) % {units} AS wrong,
        t_d1 + hrs(0.3 + 5 * u(id, 18)) AS t_ret
    FROM d
), f AS (
    SELECT *, CASE WHEN returned THEN t_ret + hrs(0.15 + 1.8 * u(id, 19)) ELSE t_d1 END AS t_d FROM e
), h AS (
    SELECT *,
        t_d + hrs(0.08 + 0.9 * u(id, 20)) AS t_s,
        t_d + hrs(lim) AS d0,
        t_d + hrs(leff) AS dl,
        t_d + hrs(0.75 * leff) AS t_warn
    FROM f
), i AS (
    SELECT *,
        greatest(t_s + INTERVAL 1 MINUTE, t_d + hrs(0.5 * lim)) AS t_req
    FROM h
), j AS (
    SELECT *, t_req + hrs(0.2 * lim * u(id, 25)) AS t_dec FROM i
), k AS (
    SELECT *,
        greatest(
            t_d + hrs(leff * CASE WHEN late THEN 1.02 + 2 * u(id, 28) ELSE 0.05 + 0.9 * u(id, 28) END),
            t_s + INTERVAL 10 MINUTE,
            CASE WHEN ext_req THEN t_dec + INTERVAL 10 MINUTE ELSE t_s END
        ) AS t_f
    FROM j
), l AS (
    SELECT *,
        part(t_s, t_f, 0.1 + 0.4 * u(id, 22)) AS t_st,
        t_f + hrs(CASE WHEN u(id, 30) < 0.03 THEN 24 + 48 * u(id, 31) ELSE 0.3 + 20 * u(id, 31) END) AS t_v1
    FROM k
), m2 AS (
    SELECT *, t_v1 + hrs(lim * (0.1 + 0.8 * u(id, 32))) AS t_f2 FROM l
), n2 AS (
    SELECT *, t_f2 + hrs(0.3 + 20 * u(id, 33)) AS t_v2 FROM m2
), o AS (
    SELECT *, CASE WHEN rework THEN t_v2 ELSE t_v1 END AS t_close FROM n2
), p AS (
    SELECT *,
        t_close + hrs(1 + 71 * u(id, 35)) AS t_rate,
        rated AND sat = 'unsatisfied' AS reopen
    FROM o
), q AS (
    SELECT *,
        reopen AND u(id, 37) < 0.3 AS unreasonable,
        t_rate + hrs(1 + 23 * u(id, 38)) AS t_rule,
        t_rate + hrs(lim * (0.1 + 0.8 * u(id, 39))) AS t_f3,
        t0 + hrs(0.5 + 30 * u(id, 41)) AS t_vself
    FROM p
)
SELECT *,
    t_f3 + hrs(0.3 + 20 * u(id, 40)) AS t_v3,
    {grid_worker0} + g AS gw,
    '网格员' || lpad((g + 1)::VARCHAR, 4, '0') AS gw_name,
    {grid_worker0} + (CASE WHEN g % 2 = 0 AND g + 1 < {grids} THEN g + 1 WHEN g % 2 = 0 THEN g - 1 ELSE g - 1 END)
        AS gw2,
    '网格员' || lpad((CASE WHEN g % 2 = 0 AND g + 1 < {grids} THEN g + 1 ELSE g - 1 END + 1)::VARCHAR, 4, '0')
        AS gw2_name,
    {street_dispatcher0} + 2 * s + id % 2 AS sd,
    '派遣员' || lpad((s + 1)::VARCHAR, 2, '0') || '-' || (id % 2 + 1)::VARCHAR AS sd_name,
    {handler0} + 2 * unit + id % 2 AS hd,
    '处置员' || lpad(unit::VARCHAR, 3, '0') || '-' || (id % 2 + 1)::VARCHAR AS hd_name,
    {handler0} + 2 * wrong + id % 2 AS hw,
    '处置员' || lpad(wrong::VARCHAR, 3, '0') || '-' || (id % 2 + 1)::VARCHAR AS hw_name,
    'U' || lpad(unit::VARCHAR, 3, '0') AS unit_code,
    'U' || lpad(wrong::VARCHAR, 3, '0') AS wrong_code
FROM q
"""

# Who acts: (user id, name, role, unit id) as SQL over the plan's columns.
SYSTEM = ("NULL", "'system'", "'system'", "NULL")
GRID_WORKER = ("gw", "gw_name", "'grid_worker'", "NULL")
OTHER_GRID_WORKER = ("gw2", "gw2_name", "'grid_worker'", "NULL")  # 巡办分离: verifies a self-handled case
DISPATCHER = ("sd", "sd_name", "'street_dispatcher'", "NULL")
HANDLER = ("hd", "hd_name", "'unit_handler'", "unit")
WRONG_HANDLER = ("hw", "hw_name", "'unit_handler'", "wrong")
LEADER_ACTOR = (str(LEADER), "'区领导'", "'district_leader'", "1")
CITIZEN = ("NULL", "'市民'", "'citizen'", "NULL")
REPORTER = tuple(
    f"CASE channel WHEN 'patrol' THEN {gw} WHEN 'assignment' THEN {lead} "
    f"WHEN 'snapshot' THEN {cit} WHEN 'open311' THEN {cit} ELSE {sys} END"
    for gw, lead, cit, sys in zip(GRID_WORKER, LEADER_ACTOR, CITIZEN, SYSTEM, strict=True)
)
RATER = tuple(f"CASE WHEN channel = 'hotline' THEN {a} ELSE {b} END" for a, b in zip(SYSTEM, CITIZEN, strict=True))
AUTO_OR_DISPATCHER = tuple(f"CASE WHEN manual THEN {a} ELSE {b} END" for a, b in zip(DISPATCHER, SYSTEM, strict=True))


def _stage_at(t: str) -> str:
    """The stage of a dispatched case at time `t` (before its first finish)."""
    return f"CASE WHEN started AND t_st <= {t} THEN 'handling' WHEN t_s <= {t} THEN 'signed' ELSE 'dispatched' END"


def _deadline_at(t: str) -> str:
    """The handling deadline in force at time `t` (an approved extension moves it from its decision on)."""
    return f"CASE WHEN ext_ok AND {t} >= t_dec THEN dl ELSE d0 END"


def _event(
    order: int,
    action: str,
    when: str,
    at: str,
    from_stage: str,
    to_stage: str,
    actor: tuple[str, str, str, str],
    clock: str = "NULL",
    deadline: str = "NULL",
    data: str = "'{}'",
    reason: str = "NULL",
    note: str = "NULL",
    ref_unit: str = "NULL",
    approved: str = "NULL",
    sat: str = "NULL",
) -> str:
    user_id, name, role, unit = actor
    return (
        f"SELECT id AS case_id, {order} AS ord, '{action}' AS action, {from_stage} AS from_stage, "
        f"{to_stage} AS to_stage, {user_id} AS actor_user_id, {name} AS actor_name, {role} AS actor_role, "
        f"{unit} AS actor_unit_id, {reason} AS reason_code, {note} AS note, {data} AS data, "
        f"{clock} AS clock_stage, {deadline} AS deadline_at, {at} AS occurred_at, "
        f"{ref_unit} AS ref_unit, {approved} AS approved, {sat} AS sat FROM plan WHERE {when}"
    )


HANDLED = "main AND NOT stuck"
EVENTS = [
    _event(
        0,
        "report",
        "true",
        "t0",
        "NULL",
        "CASE WHEN verifying THEN 'verifying' ELSE 'reported' END",
        REPORTER,
        clock="CASE WHEN verifying THEN 'register' END",
        deadline="CASE WHEN verifying THEN t0 + INTERVAL 4 HOUR END",
        data='\'{"channel": "\' || channel || \'", "crs": "wgs84"}\'',
    ),
    _event(
        1,
        "self_handle",
        "self",
        "t0",
        "'reported'",
        "'handled'",
        GRID_WORKER,
        clock="'verify'",
        deadline="t0 + INTERVAL 24 HOUR",
        note="'已即时处置'",
        data="'{\"evidence\": []}'",
    ),
    _event(2, "verify", "self", "t_vself", "'handled'", "'closed'", OTHER_GRID_WORKER),
    _event(3, "reject", "rejected", "t_reg", "'verifying'", "'rejected'", DISPATCHER, reason="'not_a_problem'"),
    _event(
        4,
        "confirm",
        "verifying AND NOT rejected",
        "t_reg",
        "'verifying'",
        "'registered'",
        GRID_WORKER,
        clock="'dispatch'",
        deadline="t_reg + INTERVAL 1 HOUR",
    ),
    _event(
        5,
        "register",
        "NOT verifying AND NOT self",
        "t0",
        "'reported'",
        "'registered'",
        SYSTEM,
        clock="'dispatch'",
        deadline="t0 + INTERVAL 1 HOUR",
        note="'registered on intake (' || channel || ')'",
    ),
    _event(
        6,
        "dispatch",
        "returned",
        "t_d1",
        "'registered'",
        "'dispatched'",
        AUTO_OR_DISPATCHER,
        clock="'handle'",
        deadline="t_d1 + hrs(lim)",
        ref_unit="wrong",
        data='\'{"unit": "\' || wrong_code || \'", "co_units": [], "final_ruling": false}\'',
    ),
    _event(
        7,
        "return_",
        "returned",
        "t_ret",
        "'dispatched'",
        "'returned'",
        WRONG_HANDLER,
        clock="'dispatch'",
        deadline="t_ret + INTERVAL 1 HOUR",
        reason="'not_our_duty'",
        ref_unit="wrong",
        data='\'{"unit": "\' || wrong_code || \'", "citation": "责任清单 3.2"}\'',
    ),
    _event(
        8,
        "dispatch",
        "main",
        "t_d",
        "CASE WHEN returned THEN 'returned' ELSE 'registered' END",
        "'dispatched'",
        tuple(f"CASE WHEN returned THEN {a} ELSE {b} END" for a, b in zip(DISPATCHER, AUTO_OR_DISPATCHER, strict=True)),
        clock="'handle'",
        deadline="d0",
        ref_unit="unit",
        data='\'{"unit": "\' || unit_code || \'", "co_units": [], "final_ruling": false}\'',
    ),
    _event(
        9,
        "supervise",
        "main AND channel = 'assignment'",
        "t_d",
        "'dispatched'",
        "'dispatched'",
        LEADER_ACTOR,
        clock="'handle'",
        deadline="d0",
        note="'领导交办，全程督办'",
        data="'{\"new_deadline\": null}'",
    ),
    _event(
        10, "sign", "main", "t_s", "'dispatched'", "'signed'", HANDLER, clock="'handle'", deadline=_deadline_at("t_s")
    ),
    _event(
        11,
        "request_extension",
        "main AND ext_req",
        "t_req",
        _stage_at("t_req"),
        _stage_at("t_req"),
        HANDLER,
        clock="'handle'",
        deadline="d0",
        note="'需协调施工'",
        data="'{\"amount\": ' || lim || '}'",
    ),
    _event(
        12,
        "decide_extension",
        "main AND ext_req",
        "t_dec",
        _stage_at("t_dec"),
        _stage_at("t_dec"),
        DISPATCHER,
        clock="'handle'",
        deadline="CASE WHEN ext_ok THEN dl ELSE d0 END",
        approved="ext_ok",
        data="'{\"approved\": ' || ext_ok || ', \"amount\": ' || lim || '}'",
    ),
    _event(
        13,
        "start",
        "main AND started",
        "t_st",
        "'signed'",
        "'handling'",
        HANDLER,
        clock="'handle'",
        deadline=_deadline_at("t_st"),
    ),
    _event(
        14,
        "warn",
        "main AND (stuck OR t_f > t_warn)",
        "t_warn",
        _stage_at("t_warn"),
        _stage_at("t_warn"),
        SYSTEM,
        clock="'handle'",
        deadline=_deadline_at("t_warn"),
        data="'{\"level\": 75}'",
    ),
    _event(
        15,
        "overdue",
        "main AND (stuck OR t_f > dl)",
        "dl",
        _stage_at("dl"),
        _stage_at("dl"),
        SYSTEM,
        clock="'handle'",
        deadline="dl",
        data="'{\"level\": 100}'",
    ),
    _event(
        16,
        "finish",
        HANDLED,
        "t_f",
        "CASE WHEN started THEN 'handling' ELSE 'signed' END",
        "'handled'",
        HANDLER,
        clock="'verify'",
        deadline="t_f + INTERVAL 24 HOUR",
        note="'已处置'",
        data="'{\"evidence\": []}'",
    ),
    _event(
        17,
        "rework",
        f"{HANDLED} AND rework",
        "t_v1",
        "'handled'",
        "'handling'",
        GRID_WORKER,
        clock="'handle'",
        deadline="t_v1 + hrs(lim)",
        note="'核查未通过'",
    ),
    _event(
        18,
        "finish",
        f"{HANDLED} AND rework",
        "t_f2",
        "'handling'",
        "'handled'",
        HANDLER,
        clock="'verify'",
        deadline="t_f2 + INTERVAL 24 HOUR",
        note="'已重新处置'",
        data="'{\"evidence\": []}'",
    ),
    _event(19, "verify", HANDLED, "t_close", "'handled'", "'closed'", GRID_WORKER),
    _event(
        20,
        "rate",
        f"{HANDLED} AND rated",
        "t_rate",
        "'closed'",
        "'closed'",
        RATER,
        sat="sat",
        data="'{\"satisfaction\": \"' || sat || '\"}'",
    ),
    _event(
        21,
        "reopen",
        f"{HANDLED} AND reopen",
        "t_rate",
        "'closed'",
        "'handling'",
        SYSTEM,
        clock="'handle'",
        deadline="t_rate + hrs(lim)",
        note="'不满意重办'",
    ),
    _event(
        22,
        "rule_reasonableness",
        f"{HANDLED} AND unreasonable",
        "t_rule",
        "CASE WHEN t_rule < t_f3 THEN 'handling' WHEN t_rule < t_v3 THEN 'handled' ELSE 'closed' END",
        "CASE WHEN t_rule < t_f3 THEN 'handling' WHEN t_rule < t_v3 THEN 'handled' ELSE 'closed' END",
        DISPATCHER,
        reason="'beyond_public_duty'",
        note="'超出公共服务范围'",
        clock="CASE WHEN t_rule < t_f3 THEN 'handle' WHEN t_rule < t_v3 THEN 'verify' END",
        deadline="CASE WHEN t_rule < t_f3 THEN t_rate + hrs(lim) WHEN t_rule < t_v3 THEN t_f3 + INTERVAL 24 HOUR END",
        data='\'{"ruling": "unreasonable", "reason": "beyond_public_duty", "reply": ""}\'',
    ),
    _event(
        23,
        "finish",
        f"{HANDLED} AND reopen",
        "t_f3",
        "'handling'",
        "'handled'",
        HANDLER,
        clock="'verify'",
        deadline="t_f3 + INTERVAL 24 HOUR",
        note="'已重新处置'",
        data="'{\"evidence\": []}'",
    ),
    _event(24, "verify", f"{HANDLED} AND reopen", "t_v3", "'handled'", "'closed'", GRID_WORKER),
]

# The log as of the cutoff. Each event's place in its case (seq: by time, then step) is ranked on narrow rows,
# and ids continue from the previous chunk in (case, seq) order, so no wide row is sorted more than once.
LOG = """
CREATE OR REPLACE TABLE raw AS
SELECT * FROM ({events}) WHERE occurred_at < TIMESTAMP '{cutoff}';
CREATE OR REPLACE TABLE pos AS
SELECT case_id, ord, row_number() OVER (PARTITION BY case_id ORDER BY occurred_at, ord) AS seq FROM raw;
CREATE OR REPLACE TABLE last AS
SELECT case_id, count(*) AS n_events, arg_max(ord, epoch_us(occurred_at) * 32 + ord) AS ord FROM raw GROUP BY case_id;
CREATE OR REPLACE TABLE offsets AS
SELECT case_id, {first_id} + sum(n_events) OVER (ORDER BY case_id) - n_events AS first_id FROM last;
"""

# The case row as the application projects it from its log: stage and clock from the last event; stage times,
# counters and rating from the plan, keeping only what happened before the cutoff.
PROJECTION = """
CREATE OR REPLACE TABLE proj AS
WITH x AS (
    SELECT p.*, l.n_events, r.to_stage AS stage, r.clock_stage, r.deadline_at AS deadline, r.occurred_at AS updated_at,
        TIMESTAMP '{cutoff}' AS cut
    FROM plan p JOIN last l ON l.case_id = p.id JOIN raw r ON r.case_id = l.case_id AND r.ord = l.ord
), y AS (
    SELECT *,
        (main AND t_d < cut)::INTEGER + (returned AND t_d1 < cut)::INTEGER AS hop_count,
        (returned AND t_ret < cut)::INTEGER AS return_count,
        (main AND NOT stuck AND rework AND t_v1 < cut)::INTEGER
            + (main AND NOT stuck AND reopen AND t_rate < cut)::INTEGER AS rework_count,
        (main AND ext_ok AND t_dec < cut)::INTEGER AS extension_count,
        main AND ext_req AND t_req < cut AND t_dec >= cut AS extension_pending,
        main AND (stuck OR t_f > dl) AND dl < cut AS overdue,
        main AND (stuck OR t_f > t_warn) AND t_warn < cut AS warned,
        main AND NOT stuck AND unreasonable AND t_rule < cut AS ruled_unreasonable,
        CASE WHEN verifying THEN t0 END AS verifying_at,
        CASE WHEN self OR NOT verifying THEN t0 WHEN NOT rejected AND t_reg < cut THEN t_reg END AS registered_at,
        CASE WHEN rejected AND t_reg < cut THEN t_reg END AS rejected_at,
        CASE WHEN main AND t_d < cut THEN t_d WHEN returned AND t_d1 < cut THEN t_d1 END AS dispatched_at,
        CASE WHEN main AND t_s < cut THEN t_s END AS signed_at,
        CASE WHEN returned AND t_ret < cut THEN t_ret END AS returned_at,
        greatest(
            CASE WHEN main AND started AND t_st < cut THEN t_st END,
            CASE WHEN main AND NOT stuck AND rework AND t_v1 < cut THEN t_v1 END,
            CASE WHEN main AND NOT stuck AND reopen AND t_rate < cut THEN t_rate END
        ) AS handling_at,
        greatest(
            CASE WHEN self THEN t0 END,
            CASE WHEN main AND NOT stuck AND t_f < cut THEN t_f END,
            CASE WHEN main AND NOT stuck AND rework AND t_f2 < cut THEN t_f2 END,
            CASE WHEN main AND NOT stuck AND reopen AND t_f3 < cut THEN t_f3 END
        ) AS handled_at,
        greatest(
            CASE WHEN self AND t_vself < cut THEN t_vself END,
            CASE WHEN main AND NOT stuck AND t_close < cut THEN t_close END,
            CASE WHEN main AND NOT stuck AND reopen AND t_v3 < cut THEN t_v3 END
        ) AS verified_at,
        CASE WHEN main AND NOT stuck AND rated AND NOT reopen AND t_rate < cut THEN t_rate END AS rated_at
    FROM x
)
SELECT *,
    CASE WHEN verifying THEN t0 + INTERVAL 4 HOUR END AS register_due_at,
    CASE WHEN returned_at IS NOT NULL THEN returned_at + INTERVAL 1 HOUR
         WHEN registered_at IS NOT NULL AND NOT self THEN registered_at + INTERVAL 1 HOUR END AS dispatch_due_at,
    CASE WHEN main AND NOT stuck AND reopen AND t_rate < cut THEN t_rate + hrs(lim)
         WHEN main AND NOT stuck AND rework AND t_v1 < cut THEN t_v1 + hrs(lim)
         WHEN main AND t_d < cut THEN CASE WHEN ext_ok AND t_dec < cut THEN dl ELSE d0 END
         WHEN returned AND t_d1 < cut THEN t_d1 + hrs(lim) END AS handle_due_at,
    handled_at + INTERVAL 24 HOUR AS verify_due_at,
    CASE clock_stage WHEN 'register' THEN t0
        WHEN 'dispatch' THEN CASE WHEN stage = 'returned' THEN returned_at ELSE registered_at END
        WHEN 'handle' THEN greatest(dispatched_at,
            CASE WHEN main AND NOT stuck AND rework AND t_v1 < cut THEN t_v1 END,
            CASE WHEN main AND NOT stuck AND reopen AND t_rate < cut THEN t_rate END)
        WHEN 'verify' THEN handled_at END AS clock_started_at
FROM y
"""

CASE_COLUMNS = """id, number, version, channel, external_id, tracking_code, matter_type_id, urgency, title,
    description, lng, lat, grid_id, community_id, street_id, district_id, area_path, reporter_user_id,
    reporter_role, stage, is_open, is_extended, is_suspended, is_supervised, is_escalated, is_overdue,
    is_final_ruling, warning_level, pending_request, centre_area_id, handling_unit_id, co_unit_ids,
    verifier_user_id, dispatch_candidates, result, flags, register_due_at, dispatch_due_at, handle_due_at,
    verify_due_at, clock_stage, clock_started_at, clock_limit, clock_unit, next_check_at, hop_count, return_count,
    rework_count, extension_count, limbo_seconds, satisfaction, reasonableness, reported_at, verifying_at,
    registered_at, rejected_at, dispatched_at, signed_at, returned_at, handling_at, handled_at, verified_at,
    closed_at, rated_at, updated_at"""

INSERT_CASES = f"""
INSERT INTO s."case" ({CASE_COLUMNS})
SELECT j.id,
    'JS' || strftime(j.t0 + INTERVAL 8 HOUR, '%Y%m%d') || lpad(j.id::VARCHAR, 8, '0'),
    j.n_events,
    j.channel,
    CASE WHEN j.channel = 'hotline' THEN '12345-' || j.id END,
    CASE WHEN j.channel IN ('snapshot', 'open311') THEN printf('%010X', j.id) END,
    j.m + 1, j.urgency, mt.name, '',
    113.60 + (j.g % 50) * 0.003 + u(j.id, 50) * 0.003, 34.72 + (j.g // 50) * 0.003 + u(j.id, 51) * 0.003,
    {GRID_ID0} + j.g, {COMMUNITY_ID0} + j.c, {STREET_ID0} + j.s, 1, gp.path,
    CASE j.channel WHEN 'patrol' THEN j.gw WHEN 'assignment' THEN {LEADER} END,
    CASE j.channel WHEN 'patrol' THEN 'grid_worker' WHEN 'assignment' THEN 'district_leader'
        WHEN 'snapshot' THEN 'citizen' WHEN 'open311' THEN 'citizen' ELSE 'system' END,
    j.stage,
    (j.stage NOT IN ('closed', 'rejected', 'merged'))::INTEGER,
    (j.extension_count > 0)::INTEGER, 0, (j.channel = 'assignment')::INTEGER, 0, j.overdue::INTEGER, 0,
    CASE WHEN j.overdue THEN 100 WHEN j.warned THEN 75 ELSE 0 END,
    CASE WHEN j.extension_pending THEN '{{"kind": "extension", "amount": ' || j.lim || '}}' END,
    {STREET_ID0} + j.s,
    CASE WHEN j.stage IN ('dispatched', 'signed', 'handling', 'handled', 'closed') AND NOT j.self THEN j.unit END,
    '[]',
    CASE WHEN j.self THEN j.gw2 ELSE j.gw END,
    '[]',
    CASE WHEN j.handled_at IS NOT NULL THEN '已处置' END,
    '[]',
    ts(j.register_due_at), ts(j.dispatch_due_at), ts(j.handle_due_at), ts(j.verify_due_at),
    j.clock_stage,
    CASE WHEN j.clock_stage IS NOT NULL THEN ts(j.clock_started_at) END,
    (CASE j.clock_stage WHEN 'register' THEN 4 WHEN 'dispatch' THEN 1 WHEN 'verify' THEN 24 WHEN 'handle' THEN j.leff
    END)::DOUBLE,
    CASE WHEN j.clock_stage IS NOT NULL THEN 'natural_hours' END,
    CASE WHEN j.clock_stage IS NOT NULL AND NOT j.overdue THEN ts(j.deadline) END,
    j.hop_count, j.return_count, j.rework_count, j.extension_count,
    CASE WHEN j.hop_count > 1 THEN (epoch_us(j.t_d) - epoch_us(j.t_ret)) / 1e6 ELSE 0 END,
    CASE WHEN j.rated_at IS NOT NULL THEN j.sat END,
    CASE WHEN j.ruled_unreasonable THEN 'unreasonable' END,
    ts(j.t0), ts(j.verifying_at), ts(j.registered_at), ts(j.rejected_at), ts(j.dispatched_at), ts(j.signed_at),
    ts(j.returned_at), ts(j.handling_at), ts(j.handled_at), ts(j.verified_at),
    CASE WHEN j.stage = 'closed' THEN ts(j.verified_at) END,
    ts(j.rated_at), ts(j.updated_at)
FROM proj j
JOIN matter mt ON mt.id = j.m + 1
JOIN grid_path gp ON gp.g = j.g
ORDER BY j.id
"""

INSERT_EVENTS = """
INSERT INTO g.case_event (id, case_id, seq, action, from_stage, to_stage, actor_user_id, actor_name, actor_role,
    actor_unit_id, reason_code, note, data, clock_stage, deadline_at, occurred_at)
SELECT o.first_id + p.seq - 1 AS id, r.case_id, p.seq, r.action, r.from_stage, r.to_stage, r.actor_user_id,
    r.actor_name, r.actor_role, r.actor_unit_id, r.reason_code, r.note, r.data, r.clock_stage, ts(r.deadline_at),
    ts(r.occurred_at)
FROM raw r
JOIN pos p ON p.case_id = r.case_id AND p.ord = r.ord
JOIN offsets o ON o.case_id = r.case_id
ORDER BY id
"""


def _format(sql: str, **extra: object) -> str:
    return sql.format(
        start=START_LOCAL.isoformat(sep=" "),
        days=DAYS,
        grids=GRIDS,
        communities=COMMUNITIES,
        streets=STREETS,
        matter_types=MATTER_TYPES,
        units=UNITS,
        enterprises=ENTERPRISES,
        bureau0=UNIT_BUREAU0,
        team0=UNIT_TEAM0,
        sanitation0=UNIT_SANITATION0,
        office0=UNIT_OFFICE0,
        enterprise0=UNIT_ENTERPRISE0,
        grid_worker0=GRID_WORKER0,
        street_dispatcher0=STREET_DISPATCHER0,
        handler0=HANDLER0,
        handle_hours=str(HANDLE_HOURS),
        limits=len(HANDLE_HOURS),
        **extra,
    )


def _duckdb(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": threads} if threads else {})
    duckdb_extensions.import_extension("sqlite_scanner")
    con.execute("LOAD sqlite_scanner")
    return con


@dataclass
class Timing:
    """Where generation spends its time (wall seconds, summed over chunks)."""

    generate: float = 0.0
    write_events: float = 0.0
    write_cases: float = 0.0
    merge: float = 0.0
    indexes: float = 0.0


def _prepare(path: Path, staging: Path) -> list[tuple[str, str]]:
    """Writes the reference data, drops the secondary indexes of the two big tables (returned with their DDL) and
    creates the staging file the cases are written to (a bare copy of the `case` table)."""
    db = sqlite3.connect(path, isolation_level=None)
    # NOTE: a rollback journal instead of WAL for the load (appended pages are not journaled, a WAL would hold the
    # whole chunk twice); the file is switched back to WAL at the end.
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("BEGIN")
    reference_data(db)
    db.execute("COMMIT")
    # NOTE: secondary indexes are dropped for the load and rebuilt from their own DDL afterwards (a sort instead
    # of millions of random B-tree inserts); the unique constraints' automatic indexes stay.
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('case', 'case_event')"
        " AND sql IS NOT NULL"
    ).fetchall()
    for name, _sql in indexes:
        db.execute(f'DROP INDEX "{name}"')
    staging.unlink(missing_ok=True)
    db.execute(f"ATTACH '{staging}' AS s")
    # The same columns and declared types (DuckDB converts by them), no constraints.
    columns = ", ".join(f'"{name}" {kind}' for _, name, kind, *_ in db.execute('PRAGMA table_info("case")'))
    db.execute(f'CREATE TABLE s."case" ({columns})')
    db.close()
    return indexes


def _write(con: duckdb.DuckDBPyConnection, schema: str, sql: str) -> float:
    """Runs one INSERT into an attached SQLite file from the chunk in `schema`, in its own cursor; returns seconds."""
    started = time.perf_counter()
    cursor = con.cursor()
    try:
        cursor.execute(f"USE memory.{schema}")
        cursor.execute("BEGIN")
        cursor.execute(sql)
        cursor.execute("COMMIT")
    finally:
        cursor.close()
    return time.perf_counter() - started


def generate(path: Path, n: int) -> tuple[int, Timing]:
    """Fills the migrated SQLite file at `path` with `n` cases and their logs; returns (events, timing).

    Chunk k+1 is generated while chunk k is written, and the cases of a chunk go to a staging file while its events
    go to the database (SQLite has one writer per file; writing through DuckDB's sqlite extension costs CPU per
    value), so both cores work; the cases are copied into the database at the end, natively.
    """
    timing = Timing()
    staging = path.with_name(path.stem + ".cases-staging.db")
    indexes = _prepare(path, staging)
    con = _duckdb()
    # NOTE: DuckDB would see the DATETIME columns as TIMESTAMP and write its own text form (trailing zeros of the
    # fraction dropped); as VARCHAR our text goes in unchanged, and SQLite's column affinity stores numbers as such.
    con.execute("SET GLOBAL sqlite_all_varchar = true")
    con.execute(f"ATTACH '{path}' AS g (TYPE sqlite)")
    con.execute(f"ATTACH '{staging}' AS s (TYPE sqlite)")
    # Two schemas hold two chunks: one being written, one being generated.
    for schema in ("c0", "c1"):
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"USE memory.{schema}")
        con.execute(MACROS)
        con.execute(
            f"CREATE TABLE grid_path AS SELECT id::INTEGER - {GRID_ID0} AS g, path FROM g.area WHERE level = 'grid'"
        )
        con.execute("CREATE TABLE matter AS SELECT id::INTEGER AS id, name FROM g.matter_type")
    events_sql = "\nUNION ALL\n".join(EVENTS)
    cutoff = (CUTOFF_LOCAL - dt.timedelta(hours=8)).isoformat(sep=" ")
    started = time.perf_counter()
    next_event, done = 1, 0
    writes: list[Future[float]] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for chunk, lo in enumerate(range(1, n + 1, CHUNK)):
            hi = min(lo + CHUNK, n + 1)
            schema = f"c{chunk % 2}"
            step = time.perf_counter()
            con.execute(f"USE memory.{schema}")
            con.execute(_format(PLAN, n=n, lo=lo, hi=hi))
            con.execute(LOG.format(first_id=next_event, events=events_sql, cutoff=cutoff))
            con.execute(PROJECTION.format(cutoff=cutoff))
            next_event += con.execute("SELECT count(*) FROM raw").fetchone()[0]
            timing.generate += time.perf_counter() - step
            done = _finish(writes, timing, done, n, next_event, started)
            writes = [pool.submit(_write, con, schema, INSERT_EVENTS), pool.submit(_write, con, schema, INSERT_CASES)]
            done = hi - 1
        _finish(writes, timing, done, n, next_event, started)
    print()
    con.close()

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA cache_size=-1000000")
    step = time.perf_counter()
    db.execute(f"ATTACH '{staging}' AS s")
    db.execute("BEGIN")
    db.execute('INSERT INTO main."case" SELECT * FROM s."case" ORDER BY rowid')
    db.execute("COMMIT")
    db.execute("DETACH s")
    staging.unlink()
    timing.merge = time.perf_counter() - step
    step = time.perf_counter()
    db.execute("PRAGMA threads=4")  # sorter helper threads for CREATE INDEX
    for _name, sql in indexes:
        db.execute(sql)
    timing.indexes = time.perf_counter() - step
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    return next_event - 1, timing


def _finish(writes: list[Future[float]], timing: Timing, done: int, n: int, events: int, started: float) -> int:
    """Waits for the previous chunk's two writes; prints progress; returns the cases written."""
    if writes:
        timing.write_events += writes[0].result()
        timing.write_cases += writes[1].result()
        elapsed = time.perf_counter() - started
        print(
            f"\r  written {done:>11,} of {n:,} cases ({done / elapsed:,.0f} cases/s)",
            end="",
            flush=True,
        )
    return done


# --- the benchmark ----------------------------------------------------------------------------------------------


def differences(a: CountTable, b: CountTable) -> list[str]:
    """Returns how two count tables differ, one line per count (or part) that does (empty when identical)."""
    problems = []
    for part in ("labels", "population", "staff"):
        left, right = getattr(a, part), getattr(b, part)
        if left != right:
            keys = sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))
            problems.append(
                f"{part}: {len(keys)} keys differ, e.g. {keys[0]}: {left.get(keys[0])} vs {right.get(keys[0])}"
            )
    names = sorted({name for row in (*a.rows.values(), *b.rows.values()) for name in row})
    keys = sorted(set(a.rows) | set(b.rows))
    for name in names:
        pairs = [(key, a.get(key, name), b.get(key, name)) for key in keys]
        wrong = [(key, x, y) for key, x, y in pairs if x != y]
        if wrong:
            key, x, y = max(wrong, key=lambda w: abs(w[1] - w[2]))
            problems.append(f"{name}: {len(wrong)} of {len(keys)} keys differ, most at {key}: {x} vs {y}")
    return problems


def _totals(table: CountTable, names: tuple[str, ...]) -> str:
    return ", ".join(f"{name} {sum(row.get(name, 0) for row in table.rows.values()):,}" for name in names)


@dataclass
class Result:
    """One comparison: each engine's wall seconds (None: it failed or ran out of time) and the differences."""

    duckdb_s: float | None
    sql_s: float | None
    problems: list[str]


def _timed(func: Callable[[], CountTable]) -> tuple[CountTable | None, float, float, str | None]:
    """Runs `func`; returns (table or None, wall s, CPU s of this process, the error that stopped it)."""
    wall, cpu = time.perf_counter(), time.process_time()
    table, error = None, None
    try:
        table = func()
    except duckdb.Error as failure:
        error = str(failure).splitlines()[0]
    except OperationalError as failure:
        if "interrupted" not in str(failure):
            raise
        error = "interrupted"
    return table, time.perf_counter() - wall, time.process_time() - cpu, error


def run_case(engine: Engine, title: str, period_text: str, dimension: Dimension, sql_timeout: float) -> Result:
    """Computes one table with both engines (one run each), the SQLite one stopped after `sql_timeout` seconds."""
    period = Period.parse(period_text, TZ)
    print(f"\n{title} ({period.label} by {dimension}):", flush=True)
    with transaction(engine, write=False) as db:
        fast, fast_s, fast_cpu, fast_error = _timed(
            lambda: compute(db=db, period=period, dimension=dimension, engine="duckdb")
        )
        if fast is not None and fast.engine != "duckdb":
            sys.exit("the DuckDB engine fell back to SQL (see the log); nothing to compare")
        if fast is None:
            print(f"  the engine (DuckDB, store)   FAILED after {fast_s:.0f} s (CPU {fast_cpu:.0f} s): {fast_error}")
        else:
            print(f"  the engine (DuckDB, store)   {fast_s:9.2f} s  (CPU {fast_cpu:.0f} s)", flush=True)
        # NOTE: a timer interrupts SQLite's statement (sqlite3 allows it from another thread): the default run stays
        # bounded when the baseline is far slower than the engine.
        timer = threading.Timer(sql_timeout, db.connection().connection.dbapi_connection.interrupt)
        timer.start()
        try:
            slow, slow_s, slow_cpu, _ = _timed(lambda: compute(db=db, period=period, dimension=dimension, engine="sql"))
        finally:
            timer.cancel()
    if slow is None:
        print(f"  the same SQL in SQLite       > {sql_timeout:.0f} s  (stopped: --sql-timeout)")
    else:
        print(f"  the same SQL in SQLite       {slow_s:9.2f} s  (CPU {slow_cpu:.0f} s)")
    shown = fast or slow
    if shown is not None:
        print(f"  {_totals(shown, ('received', 'due', 'closed', 'closed_on_time', 'rework', 'extended', 'returned'))}")
        print(f"  {len(shown.rows):,} keys × {len(BASE_COUNTS)} counts")
    if fast is None:
        print("  no ratio: the DuckDB engine did not finish")
        return Result(None, None if slow is None else slow_s, [])
    if slow is None:
        print(f"  ratio > {sql_timeout / fast_s:.1f} (target ≥ {TARGET_RATIO:g}); tables not compared")
        return Result(fast_s, None, [])
    problems = differences(fast, slow)
    print(
        f"  ratio {slow_s / fast_s:.1f} (target ≥ {TARGET_RATIO:g}); DuckDB {fast_s:.2f} s"
        f" (target < {TARGET_SECONDS:g} s); tables identical: {'yes' if not problems else 'NO'}"
    )
    for problem in problems:
        print(f"    {problem}")
    return Result(fast_s, slow_s, problems)


def build_store(engine: Engine, directory: Path) -> None:
    """Builds (or brings up to date) the engine's analytic store and times it, then times a sync with nothing new:
    what every later computation pays before its query."""
    started = time.perf_counter()
    with store.opened(engine, directory) as (_con, report):
        pass
    seconds = time.perf_counter() - started
    what = "built from" if report.rebuilt else "reused, with"
    print(
        f"  analytic store {what} {report.events:,} events of {report.cases:,} cases in {seconds:.0f} s"
        f" (not the benchmark: once, then kept in step); {_size(directory)}"
    )
    started = time.perf_counter()
    with store.opened(engine, directory):
        pass
    print(f"  a sync with nothing new: {(time.perf_counter() - started) * 1000:.0f} ms")


def _size(directory: Path) -> str:
    total = sum(path.stat().st_size for path in directory.glob("*.duckdb"))
    return f"{total / 1e9:.1f} GB on disk"


def _existing_cases(path: Path) -> int | None:
    if not path.exists():
        return None
    try:
        with sqlite3.connect(path) as db:
            return db.execute('SELECT max(id) FROM "case"').fetchone()[0]
    except sqlite3.Error:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000_000, help="cases to generate (default 10,000,000)")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the database in this directory")
    parser.add_argument(
        "--sql-timeout",
        type=float,
        default=900.0,
        help="stop the SQLite baseline after this many seconds and report a lower bound (default 900)",
    )
    args = parser.parse_args()
    print(
        f"gridgov evaluation benchmark: {args.cases:,} cases; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}, DuckDB {duckdb.__version__}, SQLite {sqlite3.sqlite_version}"
    )
    with tempfile.TemporaryDirectory(prefix="gridgov-bench-") as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "evaluation.db"
        if args.keep and _existing_cases(path) == args.cases:
            print(f"\nreusing {path} ({path.stat().st_size / 1e9:.1f} GB)")
        else:
            path.unlink(missing_ok=True)
            print(f"\ngenerating into {path}")
            started = time.perf_counter()
            migrations.upgrade(f"sqlite:///{path}")
            events, timing = generate(path, args.cases)
            seconds = time.perf_counter() - started
            print(
                f"  {args.cases:,} cases and {events:,} events ({events / args.cases:.1f} a case) in {seconds:.0f} s:"
                f" {args.cases / seconds:,.0f} cases/s, {events / seconds:,.0f} events/s;"
                f" {path.stat().st_size / 1e9:.1f} GB"
            )
            print(
                f"  (generating in DuckDB {timing.generate:.0f} s, writing events {timing.write_events:.0f} s and"
                f" cases {timing.write_cases:.0f} s, the two overlapping; copying cases {timing.merge:.0f} s,"
                f" rebuilding indexes {timing.indexes:.0f} s)"
            )
        engine = create_db_engine(f"sqlite:///{path}")
        store_dir = directory / "store"
        os.environ["GRIDGOV_EVALUATION_STORE_DIR"] = str(store_dir)
        get_settings.cache_clear()
        try:
            build_store(engine, store_dir)
            results = [
                run_case(engine, "month × street", f"{YEAR}-11", Dimension.street, args.sql_timeout),
                run_case(engine, "year × grid", f"{YEAR}", Dimension.grid, args.sql_timeout),
            ]
        finally:
            engine.dispose()
    finished = [r for r in results if r.duckdb_s is not None]
    if len(finished) < len(results):
        print(f"\nsummary at {args.cases:,} cases: the DuckDB engine did not finish (see above); targets NOT met")
    else:
        ratios = [(r.sql_s or args.sql_timeout) / (r.duckdb_s or 1) for r in results]
        slowest = max(r.duckdb_s or 0.0 for r in results)
        bound = "≥" if all(r.sql_s is not None for r in results) else "> (SQLite stopped)"
        print(
            f"\nsummary at {args.cases:,} cases: ratio {bound} {min(ratios):.1f}"
            f" ({'met' if min(ratios) >= TARGET_RATIO else 'NOT met'}), DuckDB ≤ {slowest:.2f} s"
            f" ({'met' if slowest < TARGET_SECONDS else 'NOT met'}); load average now {os.getloadavg()[0]:.1f}"
        )
    if any(r.problems for r in results):
        sys.exit("the engines disagree (see above)")


if __name__ == "__main__":
    main()
