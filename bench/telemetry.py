"""Benchmark of telemetry: ingest (rules + alarm handling) against a bare decode + insert, over HTTP and over MQTT.

    .venv/bin/python bench/telemetry.py [--quick] [--backend sqlite|postgresql|both] [--parts inprocess,http,mqtt]

For each database (a SQLite file in a temporary directory by default; with --backend postgresql a throwaway server,
as the test suite starts it) it loads the Jinshui demo district, registers 1,000 devices (manhole-cover tilt,
water level, smoke; threshold, duration and offline rules whose alarms open cases) besides the demo's own, and
prints:

1. in process: N readings (default 200,000; --quick 20,000) as JSON batches of 500, each batch in one transaction,
   through `telemetry.ingest` (validation, duplicate check, latest-value cache, rules, alarms, cases) against a bare
   `json.loads` + SQLAlchemy Core executemany of the same readings into a table like `reading`; readings/s of both
   and their ratio (target ≥ 0.5);
2. over HTTP: POST /api/v1/iot/telemetry (batches of 500) on `gridgov serve` (uvicorn, one worker), readings/s;
3. over MQTT: one reading per message published with QoS 1 to a throwaway Mosquitto, the subscriber storing them
   (acks after commit); from the first publish until the last reading is stored, readings/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, MetaData, func, insert, select

from gridgov import migrations
from gridgov.core.db import WRITE_OPTION, create_db_engine, transaction
from gridgov.demo import service as demo_service
from gridgov.domains.areas import locate
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import UserCreate
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.iot import mqtt, telemetry
from gridgov.domains.iot.enums import AlertCategory, DeviceCategory, Operator, RuleKind, Severity
from gridgov.domains.iot.models import Alarm, AlarmRule, Device, DeviceType, Reading

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test suite's throwaway PostgreSQL and Mosquitto helpers

from intake import server  # noqa: E402 - bench/ is on the path when a bench script runs; one server helper

TARGET_RATIO = 0.5
BATCH = 500
DEVICES = 1000
GATEWAY_DEVICES = 100  # the second in-process run: a gateway's batch holds 5 readings of each of its devices
ALARM_SHARE = 0.001  # chance a reading starts an alarm episode (a few readings beyond the threshold)
HTTP_THREADS = 4
PARTS = ("inprocess", "http", "mqtt")


@dataclass(frozen=True)
class Sizes:
    """How much work each part does."""

    readings: int
    http: int
    mqtt: int


FULL = Sizes(readings=200_000, http=50_000, mqtt=20_000)
QUICK = Sizes(readings=20_000, http=10_000, mqtt=5_000)


# --- set-up ------------------------------------------------------------------------------------------------------


TYPES = {
    # code: (name, properties, share of the devices); "bench_" keeps them apart from the demo's own types
    "bench_tilt": ("井盖倾斜传感器", {"tilt": "°", "battery": "%"}, 0.6),
    "bench_water": ("积水监测", {"level": "cm", "battery": "%"}, 0.25),
    "bench_smoke": ("独立烟感", {"smoke": "", "temperature": "°C", "battery": "%"}, 0.15),
}


def prepare(url: str) -> Engine:
    """Migrates the database, loads the demo district and registers the devices, types and rules."""
    migrations.upgrade(url)
    engine = create_db_engine(url)
    started = time.perf_counter()
    with transaction(engine) as db:
        demo_service.load(db=db)
    locate.invalidate()
    with transaction(engine) as db:
        matters = list(db.scalars(select(MatterType).where(MatterType.is_active).order_by(MatterType.code)))
        owner = db.scalars(select(Unit).order_by(Unit.code)).first()
        types = {}
        for code, (name, properties, _share) in TYPES.items():
            types[code] = DeviceType(code=code, name=name, category=DeviceCategory.sensor, properties=properties)
            db.add(types[code])
        db.flush()

        def rule(code: str, device_type: str, kind: RuleKind, matter: MatterType, **fields: Any) -> None:
            db.add(
                AlarmRule(
                    code=code,
                    name=code,
                    device_type_id=types[device_type].id,
                    kind=kind,
                    severity=Severity.high,
                    category=AlertCategory.security,
                    matter_type_id=matter.id,
                    **fields,
                )
            )

        rule(
            "tilt",
            "bench_tilt",
            RuleKind.threshold,
            matters[0],
            property="tilt",
            operator=Operator.gt,
            threshold=10.0,
            clear_threshold=5.0,
        )
        rule(
            "flooding",
            "bench_water",
            RuleKind.duration,
            matters[1],
            property="level",
            operator=Operator.ge,
            threshold=20.0,
            duration_s=120,
        )
        rule(
            "smoke",
            "bench_smoke",
            RuleKind.threshold,
            matters[2],
            property="smoke",
            operator=Operator.ge,
            threshold=1.0,
        )
        for code in TYPES:
            rule("offline", code, RuleKind.offline, matters[3], offline_after_s=3600)

        grids = list(db.execute(select(Area.id, Area.path, Area.geometry).where(Area.level == AreaLevel.grid)))
        shares = [(code, share) for code, (_n, _p, share) in TYPES.items()]
        for n in range(DEVICES + GATEWAY_DEVICES):
            grid_id, path, geometry = grids[n % len(grids)]
            point = geometry.point_on_surface()
            share_of = (n % DEVICES) / DEVICES if n < DEVICES else (n - DEVICES) / GATEWAY_DEVICES
            device_type = next(code for code, share in _cumulative(shares) if share_of < share)
            db.add(
                Device(
                    code=f"DEV-{n:05d}" if n < DEVICES else f"GW-{n - DEVICES:05d}",
                    name=f"{TYPES[device_type][0]}{n}",
                    type_id=types[device_type].id,
                    owner_unit_id=owner.id if owner else None,
                    lng=point.x,
                    lat=point.y,
                    grid_id=grid_id,
                    area_path=path,
                    last_values={},
                    attributes={},
                )
            )
    count = DEVICES + GATEWAY_DEVICES
    print(f"  demo district and {count:,} devices loaded in {time.perf_counter() - started:.1f} s")
    return engine


def _cumulative(shares: list[tuple[str, float]]) -> Iterator[tuple[str, float]]:
    total = 0.0
    for code, share in shares:
        total += share
        yield code, total


def device_types(engine: Engine) -> dict[str, tuple[int, str]]:
    """Returns device code → (id, type code) of the benchmark's devices."""
    with transaction(engine, write=False) as db:
        rows = db.execute(
            select(Device.code, Device.id, DeviceType.code).join(DeviceType).where(DeviceType.code.in_(TYPES))
        )
        return {code: (device_id, type_code) for code, device_id, type_code in rows}


class Readings:
    """Deterministic readings on one timeline: each device reports once a "minute" in turn, from `start` on, and
    now and then starts an alarm episode. Every part takes the next readings, so no part repeats another's."""

    def __init__(self, devices: dict[str, tuple[int, str]], start: dt.datetime, seed: int = 1) -> None:
        self.devices = sorted(devices.items())
        self.start = start
        self.rng = random.Random(seed)
        self.episodes: dict[str, int] = {}
        self.cursor = 0

    def take(self, count: int) -> list[dict[str, Any]]:
        """Returns the next `count` readings."""
        out = []
        per_round = len(self.devices)
        for i in range(self.cursor, self.cursor + count):
            code, (_id, type_code) = self.devices[i % per_round]
            at = self.start + dt.timedelta(minutes=i // per_round, milliseconds=i % per_round)
            left = self.episodes.get(code, 0)
            if left == 0 and self.rng.random() < ALARM_SHARE:
                left = self.rng.randint(2, 4)
            self.episodes[code] = max(0, left - 1)
            alarm = left > 0
            # Every message carries all of the device's properties, as such devices report them.
            battery = round(95 - i / 1e4, 2)
            if type_code == "bench_tilt":
                values = {"tilt": round(self.rng.uniform(12, 20) if alarm else self.rng.uniform(0, 4), 2)}
            elif type_code == "bench_water":
                values = {"level": round(self.rng.uniform(22, 40) if alarm else self.rng.uniform(0, 8), 1)}
            else:
                values = {"smoke": 1.0 if alarm else 0.0, "temperature": round(self.rng.uniform(18, 30), 1)}
            values["battery"] = battery
            out.append({"device": code, "ts": at.isoformat(timespec="milliseconds"), "values": values})
        self.cursor += count
        return out


def payloads(readings: list[dict[str, Any]]) -> list[bytes]:
    """Returns the readings as JSON batches of BATCH (what a gateway would POST)."""
    return [json.dumps(readings[i : i + BATCH]).encode() for i in range(0, len(readings), BATCH)]


# --- 1. in process -----------------------------------------------------------------------------------------------


def bench_in_process(engine: Engine, devices: dict[str, tuple[int, str]], timeline: Readings, n: int) -> dict[str, Any]:
    """Returns the readings/s of ingest and of the bare path, and what ingest did."""
    now = dt.datetime.now(dt.UTC)
    readings = timeline.take(n + BATCH)
    warm, batches = payloads(readings[:BATCH]), payloads(readings[BATCH:])
    result = telemetry.IngestResult()
    with transaction(engine) as db:  # warm-up: statement caches, the grid index (a server has it built), the calendar
        locate.get_index(db=db)
        telemetry.ingest(db=db, messages=json.loads(warm[0]), now=now, source="bench")
    started = time.perf_counter()
    for payload in batches:
        with transaction(engine) as db:
            result.merge(telemetry.ingest(db=db, messages=json.loads(payload), now=now, source="bench"))
    full_rate = n / (time.perf_counter() - started)

    # The bare path: the same JSON, decoded and inserted with Core executemany into a copy of the reading table
    # (same columns, unique constraint and index), one transaction per batch.
    bare = Reading.__table__.to_metadata(MetaData(), name="bench_reading")
    for item in [*bare.indexes, *bare.constraints]:
        item.name = f"bench_{item.name}"  # names are per schema on PostgreSQL
    bare.create(engine, checkfirst=True)
    ids = {code: device_id for code, (device_id, _type) in devices.items()}
    parse = telemetry.parse_time
    started = time.perf_counter()
    for payload in batches:
        rows = [
            {
                "device_id": ids[r["device"]],
                "property": p,
                "value": v,
                "observed_at": parse(r["ts"]),
                "received_at": now,
            }
            for r in json.loads(payload)
            for p, v in r["values"].items()
        ]
        with engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                conn.execute(insert(bare), rows)
    bare_rate = n / (time.perf_counter() - started)
    with transaction(engine, write=False) as db:
        cases = db.scalar(select(func.count()).select_from(Alarm).where(Alarm.case_id.is_not(None)))
    return {"full": full_rate, "bare": bare_rate, "result": result, "alarms_with_case": cases}


# --- 2. over HTTP ------------------------------------------------------------------------------------------------


@contextmanager
def serve(database_url: str) -> Iterator[str]:
    """Runs `gridgov serve` (no jobs, no MQTT) on a free loopback port; yields its base URL."""
    env = {
        **os.environ,
        "GRIDGOV_DATABASE_URL": database_url,
        "GRIDGOV_ENV": "development",
        "GRIDGOV_EMBEDDED_JOBS": "false",
    }
    env.pop("GRIDGOV_MQTT_URL", None)
    with server([sys.executable, "-m", "gridgov.cli", "serve", "--no-migrate"], env) as url:
        yield url


def gateway_token(engine: Engine) -> str:
    """Creates a system user for the gateway and returns its API token (cases:write)."""
    with transaction(engine) as db:
        user = auth_service.create_user(
            db=db, data=UserCreate(username="bench-gateway", display_name="物联网关", role=Role.system)
        )
        _, token = auth_service.create_token(db=db, user=user, name="bench", scopes=["cases:write"])
    return token


def bench_http(engine: Engine, timeline: Readings, n: int) -> dict[str, Any]:
    """POSTs n readings in batches of BATCH from HTTP_THREADS threads; returns readings/s and failures."""
    token = gateway_token(engine)
    batches = payloads(timeline.take(n))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    failures: list[str] = []
    accepted = [0]
    lock = threading.Lock()
    pending = iter(batches)

    with serve(engine.url.render_as_string(hide_password=False)) as url:

        def run() -> None:
            with httpx.Client(base_url=url, timeout=120) as client:
                while True:
                    with lock:
                        payload = next(pending, None)
                    if payload is None:
                        return
                    response = client.post("/api/v1/iot/telemetry", content=payload, headers=headers)
                    with lock:
                        if response.status_code != 200:
                            failures.append(f"{response.status_code} {response.text[:200]}")
                        else:
                            accepted[0] += response.json()["accepted"]

        threads = [threading.Thread(target=run) for _ in range(HTTP_THREADS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    return {"rate": n / elapsed, "accepted": accepted[0], "failures": failures}


# --- 3. over MQTT ------------------------------------------------------------------------------------------------


def bench_mqtt(engine: Engine, timeline: Readings, n: int, tmp: Path) -> dict[str, Any] | None:
    """Publishes n one-reading messages (QoS 1): half while the subscriber runs (publish → stored), half while it is
    down (queued by the broker, then drained when it starts: the subscriber's own pace); readings/s of each."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from tests.mosquitto import find_mosquitto, mosquitto_broker

    if find_mosquitto() is None:
        return None
    half = n // 2
    messages = [(f"gridgov/telemetry/{r.pop('device')}", json.dumps(r).encode()) for r in timeline.take(2 * half)]
    with transaction(engine, write=False) as db:
        before = db.scalar(select(func.count()).select_from(Reading)) or 0

    def wait_stored(count: int, since: float) -> float:
        deadline = time.monotonic() + 600
        while mqtt.STATUS.get("readings_accepted") < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return time.perf_counter() - since

    with mosquitto_broker(tmp) as broker:
        publisher = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-publisher")
        publisher.max_inflight_messages_set(1000)
        publisher.max_queued_messages_set(0)
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()

        def publish(part: list[tuple[str, bytes]]) -> float:
            started = time.perf_counter()
            infos = [publisher.publish(topic, payload, qos=1) for topic, payload in part]
            for info in infos:
                info.wait_for_publish(120)
            return time.perf_counter() - started

        def subscriber() -> mqtt.Subscriber:
            found = mqtt.Subscriber(engine=engine, url=broker.url, prefix="gridgov", client_id="gridgov-bench")
            found.start()
            if not found.wait_connected(10):
                raise RuntimeError(f"subscriber did not connect: {broker.log()}")
            return found

        mqtt.STATUS.reset()
        running = subscriber()
        started = time.perf_counter()
        published = publish(messages[:half])
        live = wait_stored(half, started)
        running.stop()  # the broker keeps the session (clean_session false) and queues what comes next
        publish(messages[half:])
        mqtt.STATUS.reset()
        started = time.perf_counter()
        running = subscriber()
        drained = wait_stored(half, started)
        running.stop()
        publisher.disconnect()
        publisher.loop_stop()
    with transaction(engine, write=False) as db:
        stored = (db.scalar(select(func.count()).select_from(Reading)) or 0) - before
    return {"live": half / live, "publish": half / published, "drain": half / drained, "stored_values": stored}


# --- main --------------------------------------------------------------------------------------------------------


def run_backend(name: str, url: str, sizes: Sizes, parts: set[str], tmp: Path) -> None:
    """Runs the chosen parts against one database and prints their figures."""
    print(f"\n== {name} ==")
    engine = prepare(url)
    devices = device_types(engine)
    wide = {code: found for code, found in devices.items() if code.startswith("DEV-")}
    narrow = {code: found for code, found in devices.items() if code.startswith("GW-")}
    # NOTE: one timeline per device set, ending a minute ago: every reading is new and none is in the future.
    rounds = (sizes.readings + BATCH + sizes.http + sizes.mqtt) // DEVICES + 2
    timeline = Readings(wide, start=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=rounds))
    gateway_rounds = (sizes.readings + BATCH) // GATEWAY_DEVICES + 2
    gateway = Readings(narrow, start=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=gateway_rounds))
    try:
        if "inprocess" in parts:
            for label, device_set, line in (
                (f"{DEVICES:,} devices: each reading of a batch from another device", wide, timeline),
                (
                    f"{GATEWAY_DEVICES:,} devices: {BATCH // GATEWAY_DEVICES} readings of each device per batch",
                    narrow,
                    gateway,
                ),
            ):
                found = bench_in_process(engine, device_set, line, sizes.readings)
                ratio = found["full"] / found["bare"]
                verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
                result: telemetry.IngestResult = found["result"]
                print(f"  in process, {sizes.readings:,} readings, {BATCH} per transaction; {label}:")
                print(f"    telemetry.ingest   {found['full']:10,.0f} readings/s")
                print(f"    bare decode+insert {found['bare']:10,.0f} readings/s")
                print(f"    ratio              {ratio:10.2f}   (target ≥ {TARGET_RATIO}: {verdict})")
                alarms = result.alarms
                print(
                    f"    ingest did: {result.accepted:,} accepted, {result.stored:,} values stored, alarms raised "
                    f"{alarms.raised}, repeats {alarms.updated}, cleared {alarms.cleared}, "
                    f"alarms with a case so far {found['alarms_with_case']}"
                )
        if "http" in parts:
            found = bench_http(engine, timeline, sizes.http)
            print(f"  over HTTP, {sizes.http:,} readings in POSTs of {BATCH} from {HTTP_THREADS} threads (1 worker):")
            print(f"    POST /api/v1/iot/telemetry {found['rate']:10,.0f} readings/s   accepted {found['accepted']:,}")
            for failure in found["failures"][:3]:
                print(f"      {failure}")
        if "mqtt" in parts:
            found = bench_mqtt(engine, timeline, sizes.mqtt, tmp)
            if found is None:
                print("  MQTT skipped: mosquitto not installed (apt-get install mosquitto)")
            else:
                print(f"  over MQTT, {sizes.mqtt:,} messages of one reading, QoS 1, through Mosquitto:")
                print(f"    publish → stored        {found['live']:10,.0f} readings/s (half, subscriber running)")
                print(f"    (publishing alone       {found['publish']:10,.0f} messages/s)")
                print(
                    f"    queued backlog → stored {found['drain']:10,.0f} readings/s (half, subscriber started later)"
                )
                print(f"    values stored           {found['stored_values']:10,}")
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--readings", type=int, help="readings of the in-process part (default 200,000)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.readings:
        sizes = Sizes(readings=args.readings, http=sizes.http, mqtt=sizes.mqtt)
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if unknown := parts - set(PARTS):
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gridgov-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.backend in ("sqlite", "both"):
            run_backend("SQLite (WAL)", f"sqlite:///{tmp / 'bench.db'}", sizes, parts, tmp)
        if args.backend in ("postgresql", "both"):
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
