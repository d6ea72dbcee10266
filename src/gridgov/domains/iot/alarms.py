"""Alarm lifecycle (告警): raised → updated (count, last value) → cleared, shaped as an NGSI-LD `Alert`.

A raised alarm becomes a case through THE intake function (channel iot, the system actor, the rule's matter type,
the device's owner unit as component owner, the device's place). There is one raised alarm per device and alarm
type (a partial unique index guards it), and so one case: repeats add to the alarm's count and, at most every
`REPEAT_NOTE_EVERY`, a note to the case; clearing notes "告警已解除" on the case but never closes it — a person
verifies. A new alarm of a device and type whose earlier case is still open joins that case instead of opening a
second one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager

from gridgov.config import get_settings
from gridgov.core.errors import DomainError
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, Actor
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Channel
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake
from gridgov.domains.intake.schemas import CaseSubmit
from gridgov.domains.iot.enums import AlarmState, DeviceState, Operator, RuleKind
from gridgov.domains.iot.files import DEVICE_URN, NGSI_LD_CONTEXT
from gridgov.domains.iot.models import Alarm, AlarmRule, Device

log = logging.getLogger(__name__)

# A repeating alarm notes its case at most this often (a sensor reporting every minute must not flood the log).
REPEAT_NOTE_EVERY = dt.timedelta(minutes=30)
CLEARED_NOTE = "告警已解除"
RAISED_AGAIN_NOTE = "告警再次触发"
TITLE_PREFIX = "[物联告警]"
OPERATOR_WORDS = {Operator.gt: "高于", Operator.ge: "不低于", Operator.lt: "低于", Operator.le: "不高于"}


@dataclass
class AlarmTally:
    """How many alarms a batch of readings (or a sweep) raised, updated and cleared, and cases it opened."""

    raised: int = 0
    updated: int = 0
    cleared: int = 0
    cases: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"raised": self.raised, "updated": self.updated, "cleared": self.cleared, "cases": self.cases}


def device_urn(code: str) -> str:
    """Returns the NGSI-LD id of the device reporting under `code`."""
    return f"{DEVICE_URN}{code}"


def alert_urn(alarm_id: int) -> str:
    """Returns the NGSI-LD id of an alarm."""
    return f"urn:ngsi-ld:Alert:{alarm_id}"


def is_offline(alarm: Alarm, rule: AlarmRule | None = None) -> bool:
    """Tells whether `alarm` is a device's offline alarm (its rule is of kind offline)."""
    rule = rule or _rule_of(alarm)
    return rule.kind == RuleKind.offline if rule is not None else alarm.alarm_type == "offline"


def _rule_of(alarm: Alarm) -> AlarmRule | None:
    if alarm.rule_id is None:
        return None
    session = Session.object_session(alarm)
    return session.get(AlarmRule, alarm.rule_id) if session is not None else None


def alert_entity(alarm: Alarm) -> dict[str, Any]:
    """Returns the alarm as an NGSI-LD `Alert` entity (normalised form, Smart Data Models attributes)."""

    def prop(value: Any) -> dict[str, Any]:
        return {"type": "Property", "value": value}

    entity: dict[str, Any] = {
        "id": alert_urn(alarm.id),
        "type": "Alert",
        "category": prop(str(alarm.category)),
        "severity": prop(str(alarm.severity)),
        "dateIssued": prop({"@type": "DateTime", "@value": _iso(alarm.raised_at)}),
        "validFrom": prop({"@type": "DateTime", "@value": _iso(alarm.raised_at)}),
        "alertSource": prop(device_urn(alarm.device.code)),
        "description": prop(alarm.description),
        "data": prop(
            {
                "alarmType": alarm.alarm_type,
                "state": str(alarm.state),
                "count": alarm.count,
                "firstValue": alarm.first_value,
                "lastValue": alarm.last_value,
                "updatedAt": _iso(alarm.updated_at),
                "clearedAt": _iso(alarm.cleared_at) if alarm.cleared_at else None,
                "caseId": alarm.case_id,
            }
        ),
        "@context": NGSI_LD_CONTEXT,
    }
    if alarm.sub_category:
        entity["subCategory"] = prop(alarm.sub_category)
    if alarm.cleared_at is not None:
        entity["validTo"] = prop({"@type": "DateTime", "@value": _iso(alarm.cleared_at)})
    return entity


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def find_open(*, db: Session, device_id: int, alarm_type: str) -> Alarm | None:
    """Returns the raised alarm of a device and alarm type, if any."""
    return db.scalars(
        select(Alarm).where(
            Alarm.device_id == device_id, Alarm.alarm_type == alarm_type, Alarm.state == AlarmState.raised
        )
    ).first()


def raise_or_update(
    *,
    db: Session,
    device: Device,
    rule: AlarmRule,
    value: float | None,
    now: dt.datetime,
    current: Alarm | None,
    observed_at: dt.datetime | None = None,
    detail: str = "",
    tally: AlarmTally | None = None,
) -> Alarm:
    """Raises the rule's alarm for `device` (and its case), or counts a repeat into `current`; returns the alarm."""
    tally = tally if tally is not None else AlarmTally()
    if current is not None:
        _repeat(db=db, alarm=current, value=value, now=now, detail=detail)
        tally.updated += 1
        return current
    alarm = Alarm(
        device_id=device.id,
        rule_id=rule.id,
        alarm_type=rule.code,
        state=AlarmState.raised,
        severity=rule.severity,
        category=rule.category,
        sub_category=rule.sub_category,
        description=describe(device=device, rule=rule, detail=detail, observed_at=observed_at or now),
        count=1,
        first_value=value,
        last_value=value,
        raised_at=now,
        updated_at=now,
    )
    alarm.device = device
    try:
        with db.begin_nested():
            db.add(alarm)
            db.flush()
    except IntegrityError:
        # NOTE: another process raised the same alarm first (the partial unique index refused ours): it is a repeat.
        existing = find_open(db=db, device_id=device.id, alarm_type=rule.code)
        if existing is None:
            raise
        _repeat(db=db, alarm=existing, value=value, now=now, detail=detail)
        tally.updated += 1
        return existing
    tally.raised += 1
    if open_case(db=db, alarm=alarm, device=device, rule=rule, now=now) is not None:
        tally.cases += 1
    log.info("alarm %s raised: %s", alarm.id, alarm.description)
    return alarm


def _repeat(*, db: Session, alarm: Alarm, value: float | None, now: dt.datetime, detail: str) -> None:
    previous = alarm.updated_at
    alarm.count += 1
    alarm.last_value = value
    alarm.updated_at = max(now, previous)
    if alarm.case_id is not None and _note_due(alarm.raised_at, previous, now):
        note = f"告警持续：累计 {alarm.count} 次" + (f"，{detail}" if detail else "")
        _note(db=db, case_id=alarm.case_id, now=now, note=note, data=_data(alarm))


def _note_due(raised_at: dt.datetime, previous: dt.datetime, now: dt.datetime) -> bool:
    """Tells whether a repeat at `now` opens a new `REPEAT_NOTE_EVERY` period since raising (one note per period)."""
    every = REPEAT_NOTE_EVERY.total_seconds()
    return (now - raised_at).total_seconds() // every > (previous - raised_at).total_seconds() // every


def clear(
    *,
    db: Session,
    alarm: Alarm,
    now: dt.datetime,
    value: float | None = None,
    reason: str = "",
    tally: AlarmTally | None = None,
) -> None:
    """Clears a raised alarm and notes it on its case (which stays open: a person verifies and closes it)."""
    if alarm.state != AlarmState.raised:
        return
    alarm.state = AlarmState.cleared
    alarm.cleared_at = max(now, alarm.raised_at)
    alarm.updated_at = max(now, alarm.updated_at)
    if value is not None:
        alarm.last_value = value
    if tally is not None:
        tally.cleared += 1
    if alarm.case_id is not None:
        note = CLEARED_NOTE + (f"：{reason}" if reason else "") + f"（累计 {alarm.count} 次）"
        _note(db=db, case_id=alarm.case_id, now=now, note=note, data=_data(alarm))
    log.info("alarm %s cleared after %d repeat(s)", alarm.id, alarm.count)


def _data(alarm: Alarm) -> dict[str, Any]:
    return {
        "alarm_id": alarm.id,
        "alarm_type": alarm.alarm_type,
        "state": str(alarm.state),
        "count": alarm.count,
        "last_value": alarm.last_value,
    }


def _note(*, db: Session, case_id: int, now: dt.datetime, note: str, data: dict[str, Any]) -> None:
    case = db.get(Case, case_id)
    if case is None:
        return
    try:
        with db.begin_nested():
            case_service.add_note(db=db, case=case, ctx=Context.of(SYSTEM_ACTOR, now=now), note=note, data=data)
    except DomainError as exc:
        # NOTE: a merged or rejected case takes no notes; the alarm keeps its own record.
        log.info("no note on case %s: %s", case.number, exc)


def describe(*, device: Device, rule: AlarmRule, detail: str, observed_at: dt.datetime) -> str:
    """Returns the plain-text account of an alarm: which device, where, which rule, what was seen, when."""
    tz = get_settings().tz
    unit = (device.type.properties or {}).get(rule.property or "", "") if device.type else ""
    where = f"（{device.address}）" if device.address else ""
    type_name = f"{device.type.name} " if device.type else ""
    head = f"{type_name}{device.name or device.code}，编号 {device.code}{where}"
    if rule.kind == RuleKind.offline:
        limit = _duration_text(rule.offline_after_s or 0)
        seen = device.last_seen_at
        last = f"，最后上报 {seen.astimezone(tz):%Y-%m-%d %H:%M}" if seen else "，从未上报"
        return f"{head}：{rule.name}，超过 {limit} 未上报{last}。"
    if rule.kind == RuleKind.rate:
        condition = f"变化速率超过 {rule.rate_per_min:g}{unit}/分钟"
    elif rule.operator is not None and rule.threshold is not None:
        condition = f"{OPERATOR_WORDS[rule.operator]} {rule.threshold:g}{unit}"
        if rule.kind == RuleKind.duration and rule.duration_s:
            condition += f" 持续 {_duration_text(rule.duration_s)}"
    else:
        condition = ""
    seen = f"，观测时间 {observed_at.astimezone(tz):%Y-%m-%d %H:%M:%S}"
    return f"{head}：{rule.name}（{condition}），{detail}{seen}。"


def _duration_text(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} 小时"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} 分钟"
    return f"{seconds:g} 秒"


def open_case(*, db: Session, alarm: Alarm, device: Device, rule: AlarmRule, now: dt.datetime) -> Case | None:
    """Makes the case of a raised alarm through intake (or joins the device's open case of that alarm type)."""
    if rule.matter_type is None:
        log.info("alarm %s (%s) has no matter type: no case", alarm.id, rule.code)
        return None
    earlier = db.scalars(
        select(Case)
        .join(Alarm, Alarm.case_id == Case.id)
        .where(Alarm.device_id == device.id, Alarm.alarm_type == alarm.alarm_type, Alarm.id != alarm.id, Case.is_open)
        .order_by(Alarm.id.desc())
        .limit(1)
    ).first()
    if earlier is not None:
        alarm.case_id = earlier.id
        _note(db=db, case_id=earlier.id, now=now, note=f"{RAISED_AGAIN_NOTE}：{alarm.description}", data=_data(alarm))
        return earlier
    owner = device.owner_unit
    try:
        report = CaseSubmit(
            channel=Channel.iot,
            matter_type=rule.matter_type.code,
            title=f"{TITLE_PREFIX} {rule.name} · {device.name or device.code}"[:200],
            description=alarm.description[:4000],
            lng=device.lng,
            lat=device.lat,
            address=device.address[:300] if device.address else None,
            external_id=f"alarm-{alarm.id}",
            component_owner=owner.code if owner is not None else None,
        )
        with db.begin_nested():
            result = intake.submit(db=db, report=report, ctx=Context.of(SYSTEM_ACTOR, now=now))
    except (DomainError, ValidationError) as exc:
        # NOTE: the alarm stands even when no case can be made (device placed outside the district's grids, matter
        # type switched off ...); it is listed with the device and the reason is logged for the administrator.
        log.warning("alarm %s of device %s: no case made: %s", alarm.id, device.code, exc)
        return None
    alarm.case_id = result.case.id
    return result.case


_KEPT_STATES = frozenset({DeviceState.maintenance, DeviceState.retired})
_NORMAL, _ALARM, _OFFLINE = DeviceState.normal, DeviceState.alarm, DeviceState.offline


def state_for(current: DeviceState, open_alarms: Iterable[Alarm]) -> DeviceState:
    """Returns a device's state given its raised alarms: offline, alarm or normal (maintenance/retired stay)."""
    alarms = list(open_alarms)
    if not alarms:
        return current if current in _KEPT_STATES else _NORMAL
    if current in _KEPT_STATES:
        return current
    return _OFFLINE if any(is_offline(alarm) for alarm in alarms) else _ALARM


def refresh_state(device: Device, open_alarms: Iterable[Alarm]) -> None:
    """Sets the device's state from its raised alarms (see `state_for`)."""
    state = state_for(device.state, open_alarms)
    if device.state != state:
        device.state = state


def list_alarms(
    *,
    db: Session,
    actor: Actor,
    state: AlarmState | None = None,
    device: str | None = None,
    alarm_type: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Alarm], int]:
    """Returns one page of the alarms of devices the actor may see (newest first) and how many match in all."""
    # NOTE: imported here: the registry's module pulls in the file formats, which the ingest path never needs.
    from gridgov.domains.iot.registry import visible

    stmt = select(Alarm).join(Device, Device.id == Alarm.device_id).where(visible(actor))
    if state is not None:
        stmt = stmt.where(Alarm.state == state)
    if device is not None:
        stmt = stmt.where(Device.code == device)
    if alarm_type is not None:
        stmt = stmt.where(Alarm.alarm_type == alarm_type)
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = db.scalars(
        stmt.options(contains_eager(Alarm.device))
        .order_by(Alarm.raised_at.desc(), Alarm.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(page), total
