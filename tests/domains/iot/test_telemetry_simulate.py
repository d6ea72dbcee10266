"""The simulator and the telemetry commands: deterministic values that follow each device's rules, silent devices,
alarms; `gridgov iot simulate` straight into the database, `prune` and `sweep-offline`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import func, select
from typer.testing import CliRunner

from gridgov.cli import app
from gridgov.core import clock
from gridgov.core.db import get_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.iot import simulator
from gridgov.domains.iot.enums import DeviceState, Operator
from gridgov.domains.iot.models import Alarm, Device, Reading
from gridgov.domains.iot.telemetry import ingest
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import World, load_world
from tests.domains.iot.sensors import make_device, make_rule, make_type, offline_rule, tilt_rule

runner = CliRunner()


def _district(db) -> None:
    tilt = make_type(db)
    tilt_rule(db, tilt)
    offline_rule(db, tilt, after_s=600)
    hydrant = make_type(db, "hydrant", {"pressure": "MPa"})
    make_rule(
        db,
        "low_pressure",
        device_type=hydrant,
        property="pressure",
        operator=Operator.lt,
        threshold=0.1,
        clear_threshold=0.15,
    )
    for n in range(12):
        make_device(db, tilt, f"MC-{n:02d}")
    for n in range(4):
        make_device(db, hydrant, f"HY-{n:02d}")
    make_device(db, tilt, "MC-OLD", state=DeviceState.retired)


def _readings(world: World, seed: int, count: int = 200) -> list[dict[str, Any]]:
    planned = simulator.plan(db=world.db, devices=0, seed=seed, silent_share=0.2)
    generator = simulator.Generator(planned, seed=seed, alarm_share=0.05)
    return [generator.reading(T0 + dt.timedelta(seconds=n)) for n in range(count)]  # type: ignore[misc]


def test_the_simulator_is_deterministic_and_follows_the_rules(world: World) -> None:
    _district(world.db)
    first, again, other = _readings(world, 7), _readings(world, 7), _readings(world, 8)
    assert first == again and first != other
    codes = {r["device"] for r in first}
    assert "MC-OLD" not in codes and 0 < len(codes) < 16  # retired never, some silent
    tilts = [r["values"]["tilt"] for r in first if "tilt" in r["values"]]
    assert any(t > 10 for t in tilts) and sum(t <= 10 for t in tilts) > 0.8 * len(tilts)
    assert all(0 <= t for t in tilts)
    pressures = [r["values"]["pressure"] for r in first if "pressure" in r["values"]]
    assert any(p < 0.1 for p in pressures) and all(p > 0 for p in pressures)
    assert any("battery" in r["values"] for r in first)


def test_a_backfilled_simulation_raises_alarms_through_ingest(world: World) -> None:
    db = world.db
    _district(db)
    planned = simulator.plan(db=db, devices=0, seed=3, silent_share=0.0)
    generator = simulator.Generator(planned, seed=3, alarm_share=0.05)

    def send(batch: list[dict[str, Any]]) -> dict[str, Any]:
        return ingest(db=db, messages=batch, now=T0, source="simulate").as_dict()

    totals = simulator.run(generator=generator, send=send, rate=4, duration=300, now=lambda: T0, backfill=True)
    assert totals.sent == 1200 and totals.accepted == 1200 and totals.rejected == 0
    assert totals.raised > 0
    assert db.scalar(select(func.count()).select_from(Alarm)) == totals.raised


def test_simulate_prune_and_sweep_commands(cli_env: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    locate.invalidate()
    with transaction(get_engine()) as db:
        load_world(db)
        _district(db)
        for device in db.scalars(select(Device)):
            device.created_at = clock.now() - dt.timedelta(hours=1)
    locate.invalidate()

    result = runner.invoke(
        app,
        [
            "iot",
            "simulate",
            "--devices",
            "0",
            "--rate",
            "10",
            "--duration",
            "60",
            "--backfill",
            "--silent-share",
            "0.5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "sent 600 reading(s)" in result.output and "accepted 600" in result.output
    with transaction(get_engine(), write=False) as db:
        assert db.scalar(select(func.count()).select_from(Reading)) >= 600

    # Devices that never reported have been silent for an hour: their offline rule (10 min) finds them.
    result = runner.invoke(app, ["iot", "sweep-offline"])
    assert result.exit_code == 0, result.output
    offline = int(re.search(r"(\d+) device\(s\) went offline", result.output).group(1))  # type: ignore[union-attr]
    with transaction(get_engine(), write=False) as db:
        # Only the tilt sensors have an offline rule; the retired one is never swept.
        silent = db.scalars(select(Device.code).where(Device.last_seen_at.is_(None))).all()
        assert offline == len([code for code in silent if code.startswith("MC-") and code != "MC-OLD"]) > 0
        assert db.scalar(select(func.count()).select_from(Device).where(Device.state == DeviceState.offline)) == offline

    result = runner.invoke(app, ["iot", "prune", "--days", "1"])
    assert result.exit_code == 0 and "deleted 0 reading(s) older than 1 days" in result.output

    result = runner.invoke(app, ["iot", "simulate", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "--token" in result.output
