"""Benchmark of the case loop: the intake pipeline against a bare insert, over HTTP, and the SLA sweep.

    .venv/bin/python bench/intake.py [--quick] [--backend sqlite|postgresql|both]

For each database (a SQLite file in a temporary directory; PostgreSQL too when its binaries are installed,
as a throwaway server) it loads the Jinshui demo district and prints:

1. in process: cases/s through `intake.submit` (locate, duplicates, number, dispatch plan, clocks, events;
   each case in its own transaction) and cases/s of a bare SQLAlchemy Core insert of the same case row plus
   one event, and their ratio (target ≥ 0.5);
2. over HTTP: POST /api/v1/cases on `gridgov serve` (uvicorn on 127.0.0.1) against a bare FastAPI endpoint
   doing the same Core insert, with a few concurrent client threads;
3. the SLA sweep over a million open cases of which ~1 % are due: `jobs.due_cases` (one batch, and all the due
   cases) against a bare indexed SELECT count(*) ... WHERE next_check_at <= now, and a sample of real sweeping.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, event, func, insert, select, text
from sqlalchemy.orm import Session

from gridgov import migrations
from gridgov.config import Settings
from gridgov.core.db import WRITE_OPTION, create_db_engine, transaction
from gridgov.demo import service as demo_service
from gridgov.domains.areas import locate
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth import terminals
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, Actor, UserCreate
from gridgov.domains.cases import jobs
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.intake import service as intake
from gridgov.domains.intake.schemas import CaseSubmit

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TARGET_RATIO = 0.5
CLIENT_THREADS = 4


@dataclass(frozen=True)
class Sizes:
    """How much work each part does."""

    in_process: int
    http: int
    sweep_cases: int
    sweep_sample: int


FULL = Sizes(in_process=500, http=800, sweep_cases=1_000_000, sweep_sample=1_000)
QUICK = Sizes(in_process=200, http=200, sweep_cases=100_000, sweep_sample=200)


@dataclass
class Spot:
    """Where a grid worker reports from: a point inside a grid, and the worker's community unit."""

    lng: float
    lat: float
    unit_id: int
    unit_code: str


@dataclass
class District:
    """What the benchmark draws reports from: spots across every grid, and the active matter types."""

    spots: list[Spot]
    matter_types: list[str]
    results: dict[str, str] = field(default_factory=dict)

    def report(self, n: int) -> tuple[CaseSubmit, Spot]:
        spot = self.spots[(n * 7919) % len(self.spots)]
        matter = self.matter_types[n % len(self.matter_types)]
        return (
            CaseSubmit(
                channel="patrol",
                matter_type=matter,
                title=f"巡查上报 {n}",
                description="bench",
                lng=spot.lng,
                lat=spot.lat,
            ),
            spot,
        )


# --- set-up ------------------------------------------------------------------------------------------------------


def prepare(url: str) -> tuple[Engine, District]:
    """Migrates the database at `url`, loads the demo district and returns an engine and the report spots."""
    migrations.upgrade(url)
    engine = create_db_engine(url)
    started = time.perf_counter()
    with transaction(engine) as db:
        demo_service.load(db=db)
    print(f"  demo district loaded in {time.perf_counter() - started:.1f} s")
    locate.invalidate()
    with transaction(engine, write=False) as db:
        return engine, District(spots=_spots(db), matter_types=_matter_types(db))


def _spots(db: Session) -> list[Spot]:
    communities = dict(db.execute(select(Area.id, Area.code).where(Area.level == AreaLevel.community)).all())
    units = {code: uid for uid, code in db.execute(select(Unit.id, Unit.code)).all()}
    spots = []
    for geometry, parent_id in db.execute(
        select(Area.geometry, Area.parent_id).where(Area.level == AreaLevel.grid).order_by(Area.code)
    ):
        inside = geometry.point_on_surface()
        code = f"{communities[parent_id]}-JWH"
        spots.append(Spot(lng=inside.x, lat=inside.y, unit_id=units[code], unit_code=code))
    return spots


def _matter_types(db: Session) -> list[str]:
    return list(db.scalars(select(MatterType.code).where(MatterType.is_active).order_by(MatterType.code)))


def grid_worker(spot: Spot) -> Actor:
    return Actor(name="网格员", role=Role.grid_worker, user_id=1, unit_id=spot.unit_id)


# --- 1. in process -----------------------------------------------------------------------------------------------


def templates(engine: Engine) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns the row of the newest case made by intake and its first event: what the bare insert writes."""
    with engine.connect() as conn:
        case = conn.execute(select(Case.__table__).order_by(Case.id.desc()).limit(1)).mappings().one()
        event = (
            conn.execute(select(CaseEvent.__table__).where(CaseEvent.case_id == case["id"]).order_by(CaseEvent.seq))
            .mappings()
            .first()
        )
    case_row = {k: v for k, v in case.items() if k != "id"}
    event_row = {k: v for k, v in event.items() if k not in ("id", "case_id")}
    return case_row, event_row


def bare_insert(conn: Any, case_row: dict[str, Any], event_row: dict[str, Any], n: int, prefix: str) -> int:
    """Inserts one case row and its one event with SQLAlchemy Core; returns the case id."""
    row = {**case_row, "number": f"{prefix}-{n:08d}", "idempotency_key": f"{prefix}-{n}", "tracking_code": None}
    row["lng"] += (n % 100) * 1e-6
    case_id = conn.execute(insert(Case.__table__).values(**row).returning(Case.__table__.c.id)).scalar_one()
    conn.execute(insert(CaseEvent.__table__).values(**event_row, case_id=case_id))
    return case_id


@contextmanager
def write_connection(engine: Engine) -> Iterator[Any]:
    """A Core connection in one write transaction (BEGIN IMMEDIATE on SQLite, like the application's)."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def bench_in_process(engine: Engine, district: District, n: int) -> tuple[float, float]:
    """Returns (intake cases/s, bare cases/s)."""

    def submit(i: int) -> None:
        report, spot = district.report(i)
        with transaction(engine) as db:
            intake.submit(db=db, report=report, ctx=Context.of(grid_worker(spot)), idempotency_key=f"inproc-{i}")

    submit(-1)  # warm-up: builds the grid index, fills statement caches
    started = time.perf_counter()
    for i in range(n):
        submit(i)
    intake_rate = n / (time.perf_counter() - started)

    case_row, event_row = templates(engine)
    with write_connection(engine) as conn:
        bare_insert(conn, case_row, event_row, -1, "BARE")
    started = time.perf_counter()
    for i in range(n):
        with write_connection(engine) as conn:
            bare_insert(conn, case_row, event_row, i, "BARE")
    bare_rate = n / (time.perf_counter() - started)
    return intake_rate, bare_rate


# --- 2. over HTTP ------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(command: list[str], env: dict[str, str]) -> Iterator[str]:
    """Runs a server subprocess on a free loopback port until the block ends; yields its base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start within 30 s") from None
                time.sleep(0.05)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def load(url: str, path: str, n: int, request: Callable[[int], tuple[dict[str, Any], dict[str, str]]]) -> dict:
    """POSTs n requests from CLIENT_THREADS threads; returns the rate, latency percentiles and failures."""
    counter = iter(range(n))
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []

    def run() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body, headers = request(i)
                started = time.perf_counter()
                response = client.post(path, json=body, headers=headers)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 201:
                        failures.append(f"{response.status_code} {response.text[:200]}")

    # warm-up request (grid index, caches) outside the timing; number n is not used by the timed ones
    warm_body, warm_headers = request(n)
    httpx.post(f"{url}{path}", json=warm_body, headers=warm_headers, timeout=60)
    threads = [threading.Thread(target=run) for _ in range(CLIENT_THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rate": n / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "max_ms": 1000 * latencies[-1],
        "failures": failures,
    }


def bench_http(database_url: str, district: District, n: int, tmp: Path) -> tuple[dict, dict]:
    """Returns the load results of the full API and of the bare endpoint."""
    env = {
        **os.environ,
        "GRIDGOV_ENV": "test",  # no embedded jobs: only requests are measured
        "GRIDGOV_DATABASE_URL": database_url,
        "GRIDGOV_MEDIA_DIR": str(tmp / "media"),
    }

    tokens = grid_worker_tokens(database_url, {spot.unit_code for spot in district.spots})

    def full_request(i: int) -> tuple[dict[str, Any], dict[str, str]]:
        report, spot = district.report(100_000 + i)
        token, device_id = tokens[spot.unit_code]
        headers = {"Authorization": f"Bearer {token}", "X-Device-Id": device_id, "Idempotency-Key": f"http-{i}"}
        return report.model_dump(mode="json", exclude_none=True), headers

    def bare_request(i: int) -> tuple[dict[str, Any], dict[str, str]]:
        body, _ = full_request(i)
        return body, {"Idempotency-Key": f"bare-http-{i}"}

    with server([PYTHON, "-m", "gridgov.cli", "serve", "--no-migrate"], env) as url:
        full = load(url, "/api/v1/cases", n, full_request)
    with server([PYTHON, str(Path(__file__).resolve()), "--serve-bare"], env) as url:
        bare = load(url, "/bare", n, bare_request)
    return full, bare


def grid_worker_tokens(database_url: str, unit_codes: set[str]) -> dict[str, tuple[str, str]]:
    """Creates one token-only grid worker per community unit (scoped to its community) with a bound phone
    (device id `bench-phone-<n>`); returns unit → (token, device id)."""
    engine = create_db_engine(database_url)
    tokens = {}
    try:
        with transaction(engine) as db:
            for n, unit_code in enumerate(sorted(unit_codes)):
                community = unit_code.removesuffix("-JWH")
                data = UserCreate(
                    username=f"bench{n}", display_name="网格员", role=Role.grid_worker, unit=unit_code, scope=community
                )
                user = auth_service.create_user(db=db, data=data)
                _, token = auth_service.create_token(db=db, user=user, name="bench", scopes=["cases:write"])
                terminals.bind(db=db, actor=SYSTEM_ACTOR, user=user, device_id=f"bench-phone-{n}")
                tokens[unit_code] = (token, f"bench-phone-{n}")
    finally:
        engine.dispose()
    return tokens


def serve_bare(port: int) -> None:
    """Serves POST /bare: the report body validated, then the same Core insert as the in-process bare path."""
    import uvicorn
    from fastapi import FastAPI, Header

    engine = create_db_engine(os.environ["GRIDGOV_DATABASE_URL"])
    case_row, event_row = templates(engine)
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/bare", status_code=201)
    def bare(report: CaseSubmit, idempotency_key: str = Header()) -> dict[str, int]:
        with write_connection(engine) as conn:
            row = {**case_row, "title": report.title, "lng": report.lng, "lat": report.lat}
            n = int(idempotency_key.rsplit("-", 1)[1])
            return {"id": bare_insert(conn, row, event_row, n, "BAREHTTP")}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


# --- 3. the SLA sweep --------------------------------------------------------------------------------------------


SWEEP_DEFAULTS: dict[str, Any] = {
    "version": 1,
    "channel": "patrol",
    "urgency": "normal",
    "title": "sweep",
    "description": "",
    "stage": "dispatched",
    "is_open": True,
    "is_extended": False,
    "is_suspended": False,
    "is_supervised": False,
    "is_escalated": False,
    "is_overdue": False,
    "is_final_ruling": False,
    "warning_level": 0,
    "co_unit_ids": [],
    "flags": [],
    "dispatch_candidates": [],
    "clock_stage": "handle",
    "clock_limit": 4.0,
    "clock_unit": "working_hours",
    "hop_count": 1,
    "return_count": 0,
    "rework_count": 0,
    "extension_count": 0,
    "limbo_seconds": 0.0,
}
SWEEP_VARYING = (
    "number", "matter_type_id", "lng", "lat", "area_path", "clock_started_at", "handle_due_at", "next_check_at",
    "reported_at", "updated_at",
)  # fmt: skip


def fill_open_cases(engine: Engine, district: District, count: int, now: dt.datetime) -> int:
    """Bulk-inserts `count` open cases (Core executemany) with next checks spread so ~1 % are due; returns those.

    The INSERT is compiled once by SQLAlchemy Core and each row converted by the columns' own bind processors,
    so the rows are exactly what the ORM would write; only the per-row statement machinery is skipped.
    """
    with engine.connect() as conn:
        matter_id = conn.scalar(select(MatterType.id).where(MatterType.code == district.matter_types[0]))
        area_path = conn.scalar(select(Area.path).where(Area.level == AreaLevel.grid).limit(1))
    table = Case.__table__
    columns = [*SWEEP_DEFAULTS, *SWEEP_VARYING]
    compiled = insert(table).compile(dialect=engine.dialect, column_keys=columns)
    order = list(compiled.positiontup) if compiled.positiontup else None
    processors = {name: table.c[name].type.bind_processor(engine.dialect) for name in columns}
    fixed = {name: processors[name](value) if processors[name] else value for name, value in SWEEP_DEFAULTS.items()}
    if engine.dialect.name == "postgresql":
        # COPY takes JSON as text; psycopg would send a Python list as a PostgreSQL array ('{}', an empty object).
        fixed.update({name: json.dumps(value) for name, value in SWEEP_DEFAULTS.items() if isinstance(value, list)})

    def convert(name: str, value: Any) -> Any:
        processor = processors[name]
        return processor(value) if processor else value

    rng = random.Random(42)
    offsets = [rng.uniform(-1_000, 99_000) for _ in range(count)]  # minutes from now: 1 % are already due
    due = sum(offset <= 0 for offset in offsets)

    def insert_range(first: int, last: int) -> None:
        rows: list[Any] = []
        for i in range(first, last):
            spot = district.spots[i % len(district.spots)]
            next_check = now + dt.timedelta(minutes=offsets[i])
            started_at = next_check - dt.timedelta(hours=2)
            values = {
                "number": f"SWEEP-{i:08d}",
                "matter_type_id": matter_id,
                "lng": spot.lng,
                "lat": spot.lat,
                "area_path": area_path,
                "clock_started_at": started_at,
                "handle_due_at": started_at + dt.timedelta(hours=4),
                "next_check_at": next_check,
                "reported_at": started_at,
                "updated_at": started_at,
            }
            row = {**fixed, **{name: convert(name, value) for name, value in values.items()}}
            rows.append(tuple(row[name] for name in order) if order else row)  # positional for SQLite
        with write_connection(engine) as conn:
            if engine.dialect.name == "postgresql":
                # NOTE: psycopg's executemany spends ~100 µs of Python per row (1M rows: minutes); COPY of the
                # same converted rows is the PostgreSQL way to bulk-load and keeps the bench within its budget.
                quoted = ", ".join(engine.dialect.identifier_preparer.quote(name) for name in columns)
                with conn.connection.dbapi_connection.cursor() as cursor:
                    with cursor.copy(f'COPY "case" ({quoted}) FROM STDIN') as copy:
                        for row in rows:
                            copy.write_row([row[name] for name in columns])
            else:
                conn.exec_driver_sql(str(compiled), rows)

    started = time.perf_counter()
    # NOTE: a bulk load drops the secondary indexes and builds them again afterwards (the usual way; keeping
    # ~20 indexes up to date row by row makes a million inserts several times slower). The end state is the
    # migrated schema with every index, which is what the selection is timed against.
    secondary = sorted(table.indexes, key=lambda index: index.name or "")
    with write_connection(engine) as conn:
        for index in secondary:
            index.drop(conn)
    chunk = 20_000
    ranges = [(first, min(first + chunk, count)) for first in range(0, count, chunk)]
    for first, last in ranges:
        insert_range(first, last)
    inserted = time.perf_counter() - started
    with write_connection(engine) as conn:
        for index in secondary:
            index.create(conn)
    with engine.connect() as conn:
        conn.execute(text('ANALYZE "case"' if engine.dialect.name == "postgresql" else "ANALYZE"))
        conn.commit()
    print(
        f"  {count:,} open cases inserted in {inserted:.1f} s, {len(secondary)} indexes built and analysed in"
        f" {time.perf_counter() - started - inserted:.1f} s ({due:,} due)"
    )
    return due


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    """Returns the best wall time of `repeat` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return min(times), result


def bench_sweep(engine: Engine, district: District, count: int, sample: int) -> dict[str, Any]:
    """Returns timings of due-case selection against a bare indexed count, and a real sweep's rate."""
    now = dt.datetime.now(dt.UTC)
    due = fill_open_cases(engine, district, count, now)
    with transaction(engine, write=False) as db:  # the bulk rows read back as the ORM writes them
        first = db.scalars(select(Case).where(Case.number == "SWEEP-00000000")).one()
        assert first.co_unit_ids == [] and first.dispatch_candidates == [] and first.is_open
        assert first.next_check_at is not None and first.next_check_at.tzinfo is not None

    def bare_count() -> int:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Case).where(Case.next_check_at <= now))

    def due_batch() -> int:
        with transaction(engine, write=False) as db:
            return len(jobs.due_cases(db=db, now=now, limit=200))

    def due_all() -> int:
        with transaction(engine, write=False) as db:
            return len(jobs.due_cases(db=db, now=now, limit=count))

    bare_s, counted = best_of(5, bare_count)
    batch_s, _ = best_of(5, due_batch)
    all_s, selected = best_of(3, due_all)
    plan = explain(engine, now)

    started = time.perf_counter()
    report = jobs.sweep(engine=engine, now=now, batch_size=200, max_batches=max(sample // 200, 1))
    sweep_s = time.perf_counter() - started
    return {
        "due": due,
        "counted": counted,
        "selected": selected,
        "bare_s": bare_s,
        "batch_s": batch_s,
        "all_s": all_s,
        "plan": plan,
        "swept": report.examined,
        "sweep_rate": report.examined / sweep_s if sweep_s else 0.0,
        "sweep_failed": len(report.failed),
    }


def explain(engine: Engine, now: dt.datetime) -> str:
    """Returns the query plan of the sweep's own selection (it must use ix_case_next_check, not scan the table)."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with transaction(engine, write=False) as db:
            jobs.due_cases(db=db, now=now, limit=200)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = next((s, p) for s, p in captured if "next_check_at <=" in s)
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    return " | ".join(str(row[-1]).strip() for row in rows)


# --- the run -----------------------------------------------------------------------------------------------------


PARTS = ("inprocess", "http", "sweep")


def run_backend(name: str, url: str, sizes: Sizes, parts: set[str], tmp: Path) -> None:
    """Runs the chosen parts against one database and prints their figures."""
    print(f"\n== {name} ==")
    engine, district = prepare(url)
    try:
        if "inprocess" in parts:
            intake_rate, bare_rate = bench_in_process(engine, district, sizes.in_process)
            ratio = intake_rate / bare_rate
            verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
            print(f"  in process, {sizes.in_process:,} cases each, one transaction per case:")
            print(f"    intake.submit  {intake_rate:8.1f} cases/s")
            print(f"    bare Core      {bare_rate:8.1f} cases/s")
            print(f"    ratio          {ratio:8.2f}   (target ≥ {TARGET_RATIO}: {verdict})")

        if "http" in parts:
            full, bare = bench_http(url, district, sizes.http, tmp)
            print(f"  over HTTP, {sizes.http:,} POSTs each from {CLIENT_THREADS} client threads (uvicorn, 1 worker):")
            for label, result in (("POST /api/v1/cases", full), ("bare endpoint", bare)):
                print(
                    f"    {label:<19}{result['rate']:7.1f} req/s   p50 {result['p50_ms']:6.1f} ms   "
                    f"p99 {result['p99_ms']:7.1f} ms   max {result['max_ms']:7.1f} ms   "
                    f"failures {len(result['failures'])}"
                )
                for failure in result["failures"][:3]:
                    print(f"      {failure}")
            print(f"    ratio          {full['rate'] / bare['rate']:8.2f}")

        if "sweep" in parts:
            sweep = bench_sweep(engine, district, sizes.sweep_cases, sizes.sweep_sample)
            print(f"  SLA sweep selection over {sizes.sweep_cases:,} open cases, {sweep['due']:,} due (best of 3-5):")
            print(f"    bare SELECT count(*) WHERE next_check_at <= now  {1000 * sweep['bare_s']:9.2f} ms")
            print(f"    due_cases: one batch of 200 (ORM objects)        {1000 * sweep['batch_s']:9.2f} ms")
            print(f"    due_cases: all {sweep['selected']:>7,} due (ORM objects)     {1000 * sweep['all_s']:9.2f} ms")
            print(
                f"    ratio          {sweep['bare_s'] / sweep['batch_s']:8.2f}   (bare count / one batch;"
                f" bare count / all due: {sweep['bare_s'] / sweep['all_s']:.3f})"
            )
            print(f"    plan: {sweep['plan']}")
            print(
                f"    a real sweep (warnings, events, one transaction per batch): {sweep['swept']:,} cases at"
                f" {sweep['sweep_rate']:.0f} cases/s, {sweep['sweep_failed']} failed"
            )
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--sweep-cases", type=int, help="open cases for the sweep part (default 1,000,000)")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.port)
        return

    sizes = QUICK if args.quick else FULL
    if args.sweep_cases:
        sizes = replace(sizes, sweep_cases=args.sweep_cases)
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if unknown := parts - set(PARTS):
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gridgov-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.backend in ("sqlite", "both"):
            settings = Settings(database_url=f"sqlite:///{tmp / 'bench.db'}")
            print(f"SQLite (synchronous={settings.sqlite_synchronous}, WAL) at {tmp / 'bench.db'}")
            run_backend("SQLite", settings.database_url, sizes, parts, tmp)
        if args.backend in ("postgresql", "both"):
            # NOTE: the throwaway server of the test suite (initdb + pg_ctl, fsync off) is reused here.
            sys.path.insert(0, str(ROOT))
            from tests.pg import find_pg_bin, start_pg

            if find_pg_bin() is None:
                print("\nPostgreSQL skipped: initdb/pg_ctl not found (apt-get install postgresql)")
            else:
                pg = start_pg()
                try:
                    run_backend("PostgreSQL (throwaway server, fsync off)", pg.url(), sizes, parts, tmp)
                finally:
                    pg.stop()
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
