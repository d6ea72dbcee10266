"""The alarm rules engine (告警规则): judges each new reading of a device against its rules.

Rules are data (`AlarmRule`): a device type's rules apply to all its devices, and a rule of one device replaces
the type's rule of the same code for that device (an inactive override switches the rule off for it). Kinds:

- threshold: raised while `value <operator> threshold`; with `clear_threshold` (hysteresis) it clears only once
  the value is at or past that value on the safe side, otherwise as soon as the condition no longer holds;
- duration: the threshold condition must hold for `duration_s` (counted from the first reading that met it,
  kept in `RuleState.condition_since`) before the alarm is raised; it clears like a threshold rule;
- rate: |Δvalue| / Δminutes between consecutive readings above `rate_per_min` raises; a slower change clears
  (below `clear_threshold`, in units per minute, when given). `RuleState.last_value/last_at` keep the previous;
- offline: no message within `offline_after_s`; judged by the periodic sweep (`iot.jobs`), not here.

Only a device's newest readings are judged (an older reading delivered late is stored but changes nothing), and
devices in maintenance or retired raise nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gridgov.domains.iot import alarms as alarm_service
from gridgov.domains.iot.enums import AlarmState, DeviceState, Operator, RuleKind
from gridgov.domains.iot.models import Alarm, AlarmRule, Device, RuleState

log = logging.getLogger(__name__)

COMPARE: dict[Operator, Callable[[float, float], bool]] = {
    Operator.gt: operator.gt,
    Operator.ge: operator.ge,
    Operator.lt: operator.lt,
    Operator.le: operator.le,
}
# States in which a device raises nothing (its owner has taken it out of service).
SILENT_STATES = frozenset({DeviceState.maintenance, DeviceState.retired})
STATEFUL_KINDS = frozenset({RuleKind.duration, RuleKind.rate})
_CHUNK = 900  # ids per IN (...) list


def effective_rules(type_rules: Iterable[AlarmRule], device_rules: Iterable[AlarmRule]) -> list[AlarmRule]:
    """Returns the rules in force for one device: the type's, each replaced by the device's rule of that code."""
    merged = {rule.code: rule for rule in type_rules}
    merged.update({rule.code: rule for rule in device_rules})
    return [rule for rule in merged.values() if rule.is_active]


class Judge:
    """A rule read once into plain attributes and comparison functions, so judging a reading costs little.

    `alarm_if(value)`: `value <operator> threshold`. `clear_if(value)`: past `clear_threshold` on the safe side
    (at or below it for > and >=, at or above it for < and <=), or, without one, the alarm condition no longer holds.
    """

    __slots__ = ("alarm_if", "clear_if", "code", "id", "kind", "property", "rule")

    def __init__(self, rule: AlarmRule) -> None:
        self.rule, self.id, self.code, self.kind, self.property = rule, rule.id, rule.code, rule.kind, rule.property
        compare = COMPARE[rule.operator] if rule.operator is not None else None
        threshold, clear_at = rule.threshold, rule.clear_threshold
        if compare is None or threshold is None:
            self.alarm_if: Callable[[float], bool] = lambda _value: False
        else:
            self.alarm_if = lambda value: compare(value, threshold)
        if clear_at is None or compare is None:
            self.clear_if: Callable[[float], bool] = lambda value: not self.alarm_if(value)
        elif rule.operator in (Operator.gt, Operator.ge):
            self.clear_if = lambda value: value <= clear_at
        else:
            self.clear_if = lambda value: value >= clear_at


class DeviceLike(Protocol):
    """What the engine reads of a device: an ORM `Device`, or the light row ingest reads with Core."""

    id: int
    type_id: int
    state: DeviceState


@dataclass
class RuleBook:
    """Everything the engine needs about a batch of devices, loaded in a few queries: rules, states, open alarms."""

    type_rules: dict[int, list[AlarmRule]] = field(default_factory=dict)
    device_rules: dict[int, list[AlarmRule]] = field(default_factory=dict)
    states: dict[tuple[int, int], RuleState] = field(default_factory=dict)
    open_alarms: dict[int, dict[str, Alarm]] = field(default_factory=dict)  # device id → alarm type → alarm
    _effective: dict[int, list[Judge]] = field(default_factory=dict)

    def rules_for(self, device: DeviceLike) -> list[Judge]:
        """Returns the active rules in force for `device`, ready to judge readings."""
        # NOTE: most devices have no rule of their own: they share their type's list (negative keys: types).
        key = device.id if device.id in self.device_rules else -device.type_id
        found = self._effective.get(key)
        if found is None:
            rules = effective_rules(self.type_rules.get(device.type_id, ()), self.device_rules.get(device.id, ()))
            found = [Judge(rule) for rule in rules]
            self._effective[key] = found
        return found

    def state(self, db: Session, device: DeviceLike, rule: AlarmRule) -> RuleState:
        """Returns what `rule` remembers of `device` (a new, added row the first time)."""
        key = (device.id, rule.id)
        state = self.states.get(key)
        if state is None:
            state = RuleState(device_id=device.id, rule_id=rule.id)
            db.add(state)
            self.states[key] = state
        return state

    def open_alarm(self, device: DeviceLike, code: str) -> Alarm | None:
        """Returns the raised alarm of `device` and alarm type `code`, if any."""
        return self.open_alarms.get(device.id, {}).get(code)

    def alarms_of(self, device: DeviceLike) -> list[Alarm]:
        """Returns every raised alarm of `device`."""
        return list(self.open_alarms.get(device.id, {}).values())

    def set_open(self, device: DeviceLike, code: str, alarm: Alarm | None) -> None:
        """Records that `device` has (or, with None, no longer has) a raised alarm of type `code`."""
        if alarm is None:
            self.open_alarms.get(device.id, {}).pop(code, None)
        else:
            self.open_alarms.setdefault(device.id, {})[code] = alarm


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def load_book(*, db: Session, devices: Iterable[DeviceLike], with_states: bool = True) -> RuleBook:
    """Loads the rules, rule states and raised alarms of `devices` into a RuleBook."""
    devices = list(devices)
    book = RuleBook()
    device_ids = sorted({d.id for d in devices})
    type_ids = sorted({d.type_id for d in devices})
    if not device_ids:
        return book
    for type_chunk in _chunks(type_ids):
        for rule in db.scalars(select(AlarmRule).where(AlarmRule.device_type_id.in_(type_chunk))):
            if rule.device_id is None:
                book.type_rules.setdefault(rule.device_type_id, []).append(rule)  # type: ignore[arg-type]
    for id_chunk in _chunks(device_ids):
        for rule in db.scalars(select(AlarmRule).where(AlarmRule.device_id.in_(id_chunk))):
            book.device_rules.setdefault(rule.device_id, []).append(rule)  # type: ignore[arg-type]
    every_rule = [rule for rules in (*book.type_rules.values(), *book.device_rules.values()) for rule in rules]
    stateful = any(rule.kind in STATEFUL_KINDS for rule in every_rule)
    for id_chunk in _chunks(device_ids):
        if with_states and stateful:
            for state in db.scalars(select(RuleState).where(RuleState.device_id.in_(id_chunk))):
                book.states[(state.device_id, state.rule_id)] = state
        stmt = select(Alarm).where(Alarm.device_id.in_(id_chunk), Alarm.state == AlarmState.raised)
        for alarm in db.scalars(stmt):
            book.open_alarms.setdefault(alarm.device_id, {})[alarm.alarm_type] = alarm
    return book


def load_rules_for(*, db: Session, device: Device) -> list[AlarmRule]:
    """Returns the active rules in force for one device (its type's, with its own overrides)."""
    rules = db.scalars(
        select(AlarmRule).where(
            or_(
                (AlarmRule.device_type_id == device.type_id) & AlarmRule.device_id.is_(None),
                AlarmRule.device_id == device.id,
            )
        )
    ).all()
    return effective_rules([r for r in rules if r.device_id is None], [r for r in rules if r.device_id is not None])


def evaluate(
    *,
    db: Session,
    device: DeviceLike,
    observed_at: dt.datetime,
    values: dict[str, float],
    book: RuleBook,
    now: dt.datetime,
    tally: alarm_service.AlarmTally,
    units: dict[str, str] | None = None,
) -> None:
    """Judges one new reading of `device` against its rules: raises, updates or clears its alarms.

    `units` (property → unit, the type's properties) only dresses the alarm's text.
    """
    if device.state in SILENT_STATES:
        return
    for judge in book.rules_for(device):
        if judge.property not in values or judge.kind == RuleKind.offline:
            continue
        value = values[judge.property]  # type: ignore[index]
        verdict, extra = _judge(db=db, device=device, judge=judge, value=value, at=observed_at, book=book)
        if verdict is None:
            continue
        rule, current = judge.rule, book.open_alarm(device, judge.code)
        if verdict:
            unit = (units or {}).get(rule.property or "", "")
            alarm = alarm_service.raise_or_update(
                db=db,
                device=device if isinstance(device, Device) else _orm_device(db, device.id),
                rule=rule,
                value=value,
                now=now,
                observed_at=observed_at,
                current=current,
                detail=shown(rule, value, unit, extra),
                tally=tally,
            )
            book.set_open(device, rule.code, alarm)
        elif current is not None:
            alarm_service.clear(db=db, alarm=current, now=now, value=value, tally=tally)
            book.set_open(device, rule.code, None)


def _orm_device(db: Session, device_id: int) -> Device:
    device = db.get(Device, device_id)
    if device is None:  # deleted while we judged it: nothing sensible to raise on
        raise LookupError(f"device {device_id} vanished")
    return device


def shown(rule: AlarmRule, value: float, unit: str, extra: float | None) -> str:
    """Returns the figure an alarm shows: the value, and how long it held (duration) or how fast it moved (rate)."""
    text = f"{rule.property} = {value:g}{unit}"
    if extra is None:
        return text
    if rule.kind == RuleKind.duration:
        return f"{text}，已持续 {extra:g} 秒"
    return f"{text}，变化 {extra:.3g}{unit}/分钟"


def _judge(
    *, db: Session, device: DeviceLike, judge: Judge, value: float, at: dt.datetime, book: RuleBook
) -> tuple[bool | None, float | None]:
    """Returns (True: alarm, False: clear, None: keep as is) and, for duration and rate rules, the held seconds
    or the rate per minute."""
    kind = judge.kind
    if kind == RuleKind.threshold:
        return (True if judge.alarm_if(value) else False if judge.clear_if(value) else None), None
    rule = judge.rule
    if kind == RuleKind.duration:
        if judge.alarm_if(value):
            state = book.state(db, device, rule)
            if state.condition_since is None or state.condition_since > at:
                state.condition_since = at
            held = (at - state.condition_since).total_seconds()
            return (True if held >= (rule.duration_s or 0) else None), held
        # NOTE: a normal reading needs no state row; one is made only once the condition first holds.
        state = book.states.get((device.id, judge.id))
        cleared = judge.clear_if(value)
        if state is not None and state.condition_since is not None:
            if cleared or book.open_alarm(device, judge.code) is None:
                state.condition_since = None
        return (False if cleared else None), None
    if kind == RuleKind.rate:
        state = book.state(db, device, rule)
        previous_value, previous_at = state.last_value, state.last_at
        if previous_at is not None and at <= previous_at:
            return None, None  # an older reading: the rate is judged between consecutive new readings only
        state.last_value, state.last_at = value, at
        if previous_value is None or previous_at is None or rule.rate_per_min is None:
            return None, None
        rate = abs(value - previous_value) / ((at - previous_at).total_seconds() / 60)
        if rate > rule.rate_per_min:
            return True, rate
        limit = rule.clear_threshold if rule.clear_threshold is not None else rule.rate_per_min
        return (False if rate <= limit else None), rate
    return None, None
