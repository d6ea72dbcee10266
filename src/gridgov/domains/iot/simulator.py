"""A telemetry simulator (`gridgov iot simulate`): registered devices report plausible values, now and then cross
their alarm thresholds for a few readings, and a share of them goes silent (so the offline sweep finds them).

Values follow each device's own rules: a property with a threshold rule wanders on the safe side of its clear
threshold (a random walk) and, in an alarm episode, sits beyond the threshold; other properties wander in 0..100,
and `battery` drains slowly (0..100 when its unit is "%", else 0..1). Everything random comes from one seeded
generator, so the same seed, devices and rules give the same values (the timestamps are the clock's).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.domains.iot import rules
from gridgov.domains.iot.enums import DeviceState, Operator, RuleKind
from gridgov.domains.iot.models import AlarmRule, Device, DeviceType

BATTERY = "battery"


@dataclass
class Profile:
    """How one property of one device behaves: its normal band, its alarm band, its current value."""

    normal: tuple[float, float]
    alarm: tuple[float, float] | None
    value: float

    def step(self, rng: random.Random, alarming: bool) -> float:
        """Returns the next value: a random walk in the normal band, or a value in the alarm band."""
        if alarming and self.alarm is not None:
            return round(rng.uniform(*self.alarm), 3)
        lo, hi = self.normal
        self.value = min(max(self.value + rng.uniform(-0.1, 0.1) * (hi - lo), lo), hi)
        return round(self.value, 3)


@dataclass
class SimDevice:
    """A simulated device: its code, its properties' profiles, whether it stays silent, its alarm episode."""

    code: str
    profiles: dict[str, Profile]
    silent: bool = False
    battery: float | None = None
    battery_scale: float = 1.0
    episode: int = 0  # readings left in the current alarm episode
    sent: int = 0


def profile_for(rule: AlarmRule | None, rng: random.Random) -> Profile:
    """Returns the profile of a property judged by `rule` (threshold or duration), or a plain 0..100 walk.

    Normal values stay on the safe side of the clear threshold (or of 70 % of the way to the threshold); alarm
    values lie 10–50 % beyond the threshold; a 0/1 flag rule (≥ 1, clears at 0) gives 0 or 1.
    """
    if rule is None or rule.operator is None or rule.threshold is None:
        return Profile(normal=(0.0, 100.0), alarm=None, value=rng.uniform(20, 80))
    threshold, clear_at = rule.threshold, rule.clear_threshold
    if rule.operator in (Operator.gt, Operator.ge) and threshold == 1 and clear_at in (None, 0):
        return Profile(normal=(0.0, 0.0), alarm=(1.0, 1.0), value=0.0)
    span = abs(threshold) or 1.0
    if rule.operator in (Operator.gt, Operator.ge):
        hi = clear_at if clear_at is not None and clear_at < threshold else threshold - 0.3 * span
        lo = hi - 2 * (threshold - hi)
        lo = max(lo, 0.0) if threshold > 0 else lo
        alarm = (threshold + 0.1 * span, threshold + 0.5 * span)
    else:
        lo = clear_at if clear_at is not None and clear_at > threshold else threshold + 0.3 * span
        hi = lo + 2 * (lo - threshold)
        alarm = (max(threshold - 0.5 * span, 0.0) if threshold > 0 else threshold - 0.5 * span, threshold - 0.1 * span)
    return Profile(normal=(lo, hi), alarm=alarm, value=rng.uniform(lo, hi))


def plan(*, db: Session, devices: int = 50, seed: int = 1, silent_share: float = 0.05) -> list[SimDevice]:
    """Returns the simulated devices: the first `devices` registered ones by code (not retired, 0 = all)."""
    rng = random.Random(seed)
    stmt = select(Device).where(Device.state != DeviceState.retired).order_by(Device.code)
    found = list(db.scalars(stmt.limit(devices) if devices else stmt))
    types = {t.id: t for t in db.scalars(select(DeviceType))}
    book = rules.load_book(db=db, devices=found, with_states=False)
    planned = []
    for device in found:
        judged = {
            judge.property: judge.rule
            for judge in book.rules_for(device)
            if judge.kind in (RuleKind.threshold, RuleKind.duration) and judge.property
        }
        properties = [p for p in types[device.type_id].properties if p != BATTERY]
        profiles = {p: profile_for(judged.get(p), rng) for p in properties}
        unit = types[device.type_id].properties.get(BATTERY)
        # NOTE: a battery in "%" reports 0..100 (as the demo's low-battery rules expect), otherwise 0..1.
        scale = 100.0 if unit == "%" else 1.0
        planned.append(
            SimDevice(
                code=device.code,
                profiles=profiles,
                silent=rng.random() < silent_share,
                battery=round(rng.uniform(0.6, 0.95) * scale, 3) if unit is not None else None,
                battery_scale=scale,
            )
        )
    return planned


@dataclass
class Generator:
    """Makes the readings of the simulated devices, round robin over the talking ones."""

    devices: list[SimDevice]
    seed: int = 1
    alarm_share: float = 0.01
    rng: random.Random = field(init=False)
    _order: list[SimDevice] = field(init=False)
    _next: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed * 7919 + 1)
        self._order = [d for d in self.devices if not d.silent and d.profiles]
        self.rng.shuffle(self._order)

    def reading(self, at: dt.datetime) -> dict[str, Any] | None:
        """Returns the next device's reading at `at` (None when no device talks)."""
        if not self._order:
            return None
        device = self._order[self._next % len(self._order)]
        self._next += 1
        if device.episode == 0 and self.rng.random() < self.alarm_share:
            device.episode = self.rng.randint(2, 5)
        alarming = device.episode > 0
        if alarming:
            device.episode -= 1
        values: dict[str, float] = {name: p.step(self.rng, alarming) for name, p in device.profiles.items()}
        if device.battery is not None and device.sent % 10 == 0:
            drained = device.battery - self.rng.uniform(0, 0.002) * device.battery_scale
            device.battery = round(max(0.05 * device.battery_scale, drained), 4)
            values[BATTERY] = device.battery
        device.sent += 1
        return {"device": device.code, "ts": at.isoformat(timespec="milliseconds"), "values": values}


@dataclass
class Totals:
    """What a simulation sent and what the receiver answered."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    raised: int = 0
    cleared: int = 0
    batches: int = 0

    def add(self, answer: dict[str, Any], sent: int) -> None:
        self.sent += sent
        self.batches += 1
        self.accepted += answer.get("accepted", 0)
        self.duplicates += answer.get("duplicates", 0)
        self.rejected += len(answer.get("rejected", []))
        self.raised += answer.get("alarms", {}).get("raised", 0)
        self.cleared += answer.get("alarms", {}).get("cleared", 0)


def run(
    *,
    generator: Generator,
    send: Callable[[list[dict[str, Any]]], dict[str, Any]],
    rate: float,
    duration: float,
    now: Callable[[], dt.datetime],
    backfill: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[Totals], None] | None = None,
    max_batch: int = 1000,
) -> Totals:
    """Sends `rate` readings a second for `duration` seconds (0: until interrupted), one batch a second.

    With `backfill`, the readings of the last `duration` seconds are made at once, timestamped over that span.
    """
    totals = Totals()
    owed = 0.0
    if backfill:
        end = now()
        at = end - dt.timedelta(seconds=duration)
        batch: list[dict[str, Any]] = []
        while at < end:
            owed += rate
            count, owed = int(owed), owed - int(owed)
            batch += _readings(generator, at, count)
            if len(batch) >= max_batch:
                totals.add(send(batch), len(batch))
                batch = []
            at += dt.timedelta(seconds=1)
        if batch:
            totals.add(send(batch), len(batch))
        return totals
    started = time.monotonic()
    tick = 0
    while duration <= 0 or tick < duration:
        owed += rate
        count, owed = int(owed), owed - int(owed)
        batch = _readings(generator, now() - dt.timedelta(seconds=1), count)
        for start in range(0, len(batch), max_batch):
            part = batch[start : start + max_batch]
            totals.add(send(part), len(part))
        tick += 1
        if progress is not None and tick % 10 == 0:
            progress(totals)
        sleep(max(0.0, started + tick - time.monotonic()))
    return totals


def _readings(generator: Generator, second: dt.datetime, count: int) -> list[dict[str, Any]]:
    """Returns `count` readings spread over the second starting at `second` (a device may report twice in it)."""
    found = (generator.reading(second + dt.timedelta(seconds=i / count)) for i in range(count))
    return [item for item in found if item is not None]
