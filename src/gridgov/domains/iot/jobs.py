"""Scheduled work of IoT telemetry: the offline sweep (every minute) and pruning old readings (daily).

Both are idempotent and safe with any number of processes: the sweep skips devices another process holds
(PostgreSQL `FOR UPDATE SKIP LOCKED`), only looks at devices not yet offline, and the partial unique index on
raised alarms refuses a second offline alarm; pruning deletes by time in bounded batches.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core.clock import now as clock_now
from gridgov.core.db import transaction
from gridgov.domains.iot import alarms as alarm_service
from gridgov.domains.iot import rules
from gridgov.domains.iot.enums import DeviceState, RuleKind
from gridgov.domains.iot.models import AlarmRule, Device, Reading

log = logging.getLogger(__name__)

# Devices whose silence raises nothing: already offline, or taken out of service.
_NOT_SWEPT = (DeviceState.offline, DeviceState.maintenance, DeviceState.retired)
PRUNE_BATCH = 50_000


@dataclass
class OfflineReport:
    """What one offline sweep did."""

    examined: int = 0
    offline: int = 0
    cases: int = 0
    failed: list[str] = field(default_factory=list)


def last_heard(device: Device) -> dt.datetime | None:
    """Returns when the device was last heard from (or installed, or registered, if it never reported)."""
    return device.last_seen_at or device.installed_at or device.created_at


def silent_devices(*, db: Session, rule: AlarmRule, now: dt.datetime, after_id: int, limit: int) -> list[Device]:
    """Returns (and locks, on PostgreSQL) devices under an offline rule not heard from within its time, by id."""
    cutoff = now - dt.timedelta(seconds=rule.offline_after_s or 0)
    # NOTE: written as two branches rather than one coalesce(...) so the first can use the last_seen_at index.
    silent = or_(
        Device.last_seen_at < cutoff,
        and_(Device.last_seen_at.is_(None), func.coalesce(Device.installed_at, Device.created_at) < cutoff),
    )
    stmt = select(Device).where(Device.state.not_in(_NOT_SWEPT), silent, Device.id > after_id)
    if rule.device_id is not None:
        stmt = stmt.where(Device.id == rule.device_id)
    else:
        stmt = stmt.where(Device.type_id == rule.device_type_id)
    stmt = stmt.order_by(Device.id).limit(limit)
    if db.get_bind().dialect.name == "postgresql":
        # NOTE: another worker sweeping at the same moment skips the devices this one holds: each is marked once.
        stmt = stmt.with_for_update(skip_locked=True, of=Device)
    return list(db.scalars(stmt))


def mark_offline(
    *, db: Session, devices: list[Device], now: dt.datetime, report: OfflineReport, tally: alarm_service.AlarmTally
) -> None:
    """Raises the offline alarm (and maintenance case) of each device silent for longer than its own offline rule."""
    book = rules.load_book(db=db, devices=devices, with_states=False)
    for device in devices:
        report.examined += 1
        heard = last_heard(device)
        for judge in book.rules_for(device):
            rule = judge.rule
            if rule.kind != RuleKind.offline or rule.offline_after_s is None or heard is None:
                continue
            if now - heard <= dt.timedelta(seconds=rule.offline_after_s) or book.open_alarm(device, rule.code):
                continue
            try:
                with db.begin_nested():
                    cases = tally.cases
                    alarm = alarm_service.raise_or_update(
                        db=db, device=device, rule=rule, value=None, now=now, current=None, tally=tally
                    )
                    book.set_open(device, rule.code, alarm)
                    alarm_service.refresh_state(device, book.alarms_of(device))
                    db.flush()
            except Exception:
                log.exception("offline alarm of device %s failed", device.code)
                report.failed.append(device.code)
                continue
            report.offline += 1
            report.cases += tally.cases - cases


def _offline_rule_ids(db: Session) -> list[int]:
    stmt = select(AlarmRule.id).where(AlarmRule.kind == RuleKind.offline, AlarmRule.is_active).order_by(AlarmRule.id)
    return list(db.scalars(stmt))


def sweep_rule(
    *,
    db: Session,
    rule_id: int,
    now: dt.datetime,
    after_id: int,
    limit: int,
    report: OfflineReport,
    tally: alarm_service.AlarmTally,
) -> int | None:
    """Sweeps one batch of the devices under one offline rule; returns the last device id, or None when done."""
    rule = db.get(AlarmRule, rule_id)
    if rule is None:
        return None
    devices = silent_devices(db=db, rule=rule, now=now, after_id=after_id, limit=limit)
    if devices:
        mark_offline(db=db, devices=devices, now=now, report=report, tally=tally)
    return devices[-1].id if len(devices) == limit else None


def check_offline(*, db: Session, now: dt.datetime | None = None, batch_size: int = 200) -> OfflineReport:
    """Runs the offline sweep inside the caller's transaction (tests, one-off commands)."""
    now = now or clock_now()
    report, tally = OfflineReport(), alarm_service.AlarmTally()
    for rule_id in _offline_rule_ids(db):
        after_id: int | None = 0
        while after_id is not None:
            after_id = sweep_rule(
                db=db, rule_id=rule_id, now=now, after_id=after_id, limit=batch_size, report=report, tally=tally
            )
    return report


def sweep_offline(
    *, engine: Engine, now: dt.datetime | None = None, batch_size: int = 200, max_batches: int | None = None
) -> OfflineReport:
    """Marks devices offline that sent nothing within their offline rule's time; one transaction per batch."""
    now = now or clock_now()
    report, tally = OfflineReport(), alarm_service.AlarmTally()
    with transaction(engine, write=False) as db:
        rule_ids = _offline_rule_ids(db)
    batches = 0
    for rule_id in rule_ids:
        after_id: int | None = 0
        while after_id is not None and (max_batches is None or batches < max_batches):
            batches += 1
            with transaction(engine) as db:
                after_id = sweep_rule(
                    db=db, rule_id=rule_id, now=now, after_id=after_id, limit=batch_size, report=report, tally=tally
                )
    if report.offline or report.failed:
        log.info(
            "offline sweep: %d device(s) offline, %d case(s), %d failed",
            report.offline,
            report.cases,
            len(report.failed),
        )
    return report


def prune_readings(*, db: Session, before: dt.datetime, limit: int = PRUNE_BATCH) -> int:
    """Deletes up to `limit` readings observed before `before`; returns how many."""
    oldest = select(Reading.id).where(Reading.observed_at < before).limit(limit).scalar_subquery()
    result = db.execute(delete(Reading).where(Reading.id.in_(oldest)).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune(
    *, engine: Engine, days: int | None = None, now: dt.datetime | None = None, batch_size: int = PRUNE_BATCH
) -> int:
    """Deletes readings older than `days` (default: telemetry_retention_days) in batches; returns how many."""
    days = days if days is not None else get_settings().telemetry_retention_days
    before = (now or clock_now()) - dt.timedelta(days=days)
    total = 0
    while True:
        with transaction(engine) as db:
            deleted = prune_readings(db=db, before=before, limit=batch_size)
        total += deleted
        if deleted < batch_size:
            break
    if total:
        log.info("pruned %d reading(s) observed before %s", total, before.isoformat())
    return total
