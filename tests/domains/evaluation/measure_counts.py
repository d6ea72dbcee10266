"""Measures `engine.compute` on demo-sized data: both engines, every dimension, one month.

    .venv/bin/python -m tests.domains.evaluation.measure_counts --cases 20000 [--db postgresql]

The data: a few hundred random case histories driven through the real services (random_world), then copied
with new ids and shifted by whole days over three months until there are `--cases` cases, so the copies keep
real event patterns. Not a test (it takes a while); prints the figures quoted in the counts doc.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from gridgov import migrations
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.evaluation.engine import compute
from gridgov.domains.evaluation.enums import Dimension
from gridgov.domains.evaluation.periods import Period
from tests.domains.cases.world import load_world
from tests.domains.evaluation.random_world import play

CASE_TIMES = [c.key for c in Case.__table__.columns if c.key.endswith("_at") or c.key.endswith("_until")]


def fill(url: str, cases: int, base: int, seed: int) -> None:
    """Writes `cases` cases into the migrated database at `url` (see the module docstring)."""
    engine = create_db_engine(url)
    locate.invalidate()
    with transaction(engine) as db:
        world = load_world(db)
        play(db, world, cases=base, seed=seed)
    rng = random.Random(seed)
    with transaction(engine) as db:
        originals = [dict(row._mapping) for row in db.execute(select(Case.__table__))]
        events = [dict(row._mapping) for row in db.execute(select(CaseEvent.__table__).order_by(CaseEvent.id))]
        by_case: dict[int, list[dict]] = {}
        for event in events:
            by_case.setdefault(event["case_id"], []).append(event)
        next_case = max(c["id"] for c in originals) + 1
        next_event = max(e["id"] for e in events) + 1
        copies = 0
        while len(originals) * (copies + 1) < cases:
            copies += 1
            new_cases, new_events = [], []
            for original in originals:
                if len(originals) * copies + len(new_cases) >= cases:
                    break
                shift = dt.timedelta(days=rng.randint(-45, 45))
                row = {**original, "id": next_case, "number": f"{original['number']}-{copies}"}
                for name in ("tracking_code", "idempotency_key", "external_id"):
                    if row[name]:
                        row[name] = f"{row[name]}-{copies}"
                for name in CASE_TIMES:
                    if row[name] is not None:
                        row[name] += shift
                new_cases.append(row)
                for event in by_case.get(original["id"], []):
                    copy = {
                        **event,
                        "id": next_event,
                        "case_id": next_case,
                        "occurred_at": event["occurred_at"] + shift,
                    }
                    if copy["deadline_at"] is not None:
                        copy["deadline_at"] += shift
                    new_events.append(copy)
                    next_event += 1
                next_case += 1
            db.execute(insert(Case.__table__), new_cases)
            db.execute(insert(CaseEvent.__table__), new_events)
    engine.dispose()
    locate.invalidate()


def measure(url: str, runs: int) -> None:
    engine = create_db_engine(url)
    period = Period.parse("2026-11", ZoneInfo("Asia/Shanghai"))
    with transaction(engine, write=False) as db:
        n_cases = db.scalar(select(func.count()).select_from(Case))
        n_events = db.scalar(select(func.count()).select_from(CaseEvent))
        sys.stdout.write(f"{url.split('://')[0]}: {n_cases} cases, {n_events} events; period {period.label}\n")
        sys.stdout.write(f"{'dimension':<14}{'duckdb s':>10}{'(cpu)':>8}{'sql s':>10}{'(cpu)':>8}{'rows':>7}\n")
        totals = {"duckdb": 0.0, "sql": 0.0}
        for dimension in Dimension:
            times, cpus, tables = {}, {}, {}
            for name in ("duckdb", "sql"):
                samples, cpu = [], []
                for _ in range(runs):
                    started, used = time.perf_counter(), time.process_time()
                    tables[name] = compute(db=db, period=period, dimension=dimension, engine=name)
                    samples.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - used)
                times[name] = statistics.median(samples)
                cpus[name] = statistics.median(cpu)
                totals[name] += times[name]
                assert tables[name].engine == name, f"{name} fell back"
            assert tables["duckdb"].rows == tables["sql"].rows, dimension
            sys.stdout.write(
                f"{dimension:<14}{times['duckdb']:>10.3f}{cpus['duckdb']:>8.3f}{times['sql']:>10.3f}{cpus['sql']:>8.3f}"
                f"{len(tables['sql'].rows):>7}\n"
            )
        sys.stdout.write(f"{'all nine':<14}{totals['duckdb']:>10.3f}{'':>8}{totals['sql']:>10.3f}\n")
        sys.stdout.write("(cpu: this process's CPU time; on PostgreSQL the sql engine's work is the server's)\n")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--base", type=int, default=300, help="histories driven through the services")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per engine and dimension (median)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--keep", type=Path, help="SQLite: keep the database in this file (reused when present)")
    parser.add_argument("--url", help="measure this database as it is (no data generated)")
    args = parser.parse_args()
    if args.url:
        measure(args.url, args.runs)
        return
    server = None
    with tempfile.TemporaryDirectory() as folder:
        if args.db == "postgresql":
            from tests.pg import start_pg

            server = start_pg()
            url = server.url()
        else:
            url = f"sqlite:///{(args.keep or Path(folder) / 'counts.db').resolve()}"
        try:
            if not (args.keep and args.keep.exists()):
                migrations.upgrade(url)
                started = time.perf_counter()
                fill(url, args.cases, args.base, args.seed)
                sys.stdout.write(f"generated in {time.perf_counter() - started:.1f} s\n")
            measure(url, args.runs)
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
