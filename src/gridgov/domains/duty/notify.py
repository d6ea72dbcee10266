"""Notifications to the on-duty staff: the scan that turns case events into notices and outbox rows, and the outbox's
bookkeeping (claim, result, retry with backoff, give up).

What triggers a notice (read from the append-only case event log, so the case loop needs no hook):
- an urgent or emergency case (紧急/特急) is reported, confirmed, registered or reclassified;
- a case goes overdue (the SLA sweep's `overdue` event, 超期);
- an urgent or overdue case is escalated to the centre above (提级).
The responsible centres are the case's street centre, and the district centre when the case is the district's
(district-level, or escalated). The people told are those on duty there at the event's time; a street centre with
nobody on duty passes its notices to the district centre. Each enabled notifier turns them into deliveries, unique
per (case, kind, notifier, recipient): everyone hears of a case's urgency and of its breach once, however many
events and scans there are.

The scan keeps a cursor on the event log and also looks again at the last minutes (an event committed late by a
long transaction has a lower id than ones already read); notices are unique per event, so nothing is made twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from gridgov.config import Settings
from gridgov.core import i18n
from gridgov.core.permissions import json_list_contains
from gridgov.core.templating import ACTION_LABELS, CHANNEL_LABELS, STAGE_LABELS
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.cases.enums import Action
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.catalog.enums import STAGE_LABELS_ZH, URGENCY_LABELS_ZH, Urgency
from gridgov.domains.catalog.models import MatterType
from gridgov.domains.duty import service
from gridgov.domains.duty.enums import NOTICE_KIND_LABELS_ZH, DeliveryStatus, NoticeKind
from gridgov.domains.duty.models import DutyCursor, DutyDelivery, DutyNotice
from gridgov.domains.duty.notifiers import Message, Notifier, Recipient
from gridgov.domains.people.privacy import redact as redact_personal

log = logging.getLogger(__name__)
CURSOR = "case_event"
LOOKBACK = dt.timedelta(minutes=15)  # events re-read behind the cursor (late commits)
LEASE = dt.timedelta(minutes=10)  # a delivery claimed longer ago than this was interrupted mid-send
MAX_RETRY_WAIT = dt.timedelta(hours=1)
LOCK_KEY = 0x6475747901  # PostgreSQL advisory lock of the scan ("duty" 01)
URGENT = (Urgency.urgent, Urgency.emergency)
INTAKE_ACTIONS = (Action.report, Action.confirm, Action.register, Action.reclassify)
TRIGGER_ACTIONS = (*INTAKE_ACTIONS, Action.escalate, Action.overdue)


@dataclass
class ScanReport:
    """What one scan did."""

    events: int = 0
    notices: int = 0
    deliveries: int = 0
    skipped: int = 0  # deliveries recorded as skipped (no address)
    locked: bool = False  # another process was scanning: this one did nothing
    unknown_notifiers: list[str] = field(default_factory=list)
    failed_notifiers: list[str] = field(default_factory=list)  # raised in addresses(): those notices got none of theirs


def trigger_condition() -> ColumnElement[bool]:
    """Returns the SQL condition of the events that make a notice (over CaseEvent joined with Case)."""
    urgent = Case.urgency.in_(URGENT)
    # NOTE: a case is announced as urgent once (its report, confirmation and registration are one piece of news);
    # a breach and an escalation make a notice each, whose deliveries reach only those not told before.
    announced = (
        select(DutyNotice.id)
        .where(DutyNotice.case_id == CaseEvent.case_id, DutyNotice.kind == NoticeKind.urgent)
        .exists()
    )
    return or_(
        CaseEvent.action == Action.overdue,
        and_(CaseEvent.action.in_(INTAKE_ACTIONS), urgent, ~announced),
        and_(CaseEvent.action == Action.escalate, or_(urgent, Case.is_overdue)),
    )


def kind_of(event: CaseEvent, case: Case) -> NoticeKind:
    """Returns what a triggering event tells: a breach, or an urgent case."""
    if event.action == Action.overdue or (event.action == Action.escalate and case.is_overdue):
        return NoticeKind.overdue
    return NoticeKind.urgent


def responsible_centres(case: Case) -> list[int]:
    """Returns the area ids of the centres whose on-duty staff answer for a case: its street's, and the district's
    when the case is the district centre's (district-level or escalated) or has no street."""
    ids = [case.street_id] if case.street_id else []
    district_case = case.is_escalated or (case.centre_area_id is not None and case.centre_area_id == case.district_id)
    if case.district_id and (district_case or not ids):
        ids.append(case.district_id)
    return ids


def _local(at: dt.datetime, settings: Settings) -> str:
    return at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")


def _zh(label: str) -> str:
    return i18n.gettext("zh_CN").gettext(label)


def compose(
    *,
    db: Session,
    case: Case,
    event: CaseEvent,
    kind: NoticeKind,
    duty: Sequence[service.OnDuty],
    remarks: Sequence[str],
    settings: Settings,
) -> tuple[str, str]:
    """Returns the subject and the text of a notice (Chinese: it goes to the district's staff).

    Only what the case's listing shows (number, title, matter type, place, stage, deadline): never the description
    or the reporter, which may hold personal data. The title and address are typed by people too (a citizen writes
    "请联系13812345678"), and the message leaves gridgov for mail servers and chat robots: identity numbers and
    phones in them are masked.
    """
    label = NOTICE_KIND_LABELS_ZH[kind]
    # NOTE: on one line: a line break in a title (a hotline's or a citizen's) is refused in an e-mail's Subject.
    title = " ".join(redact_personal(case.title).split())
    address = " ".join(redact_personal(case.address).split()) if case.address else None
    matter = db.get(MatterType, case.matter_type_id)
    # NOTE: the street and the grid: a grid's name already carries its community's ("锦湖社区第1网格").
    places = [db.get(Area, area_id) for area_id in (case.street_id, case.grid_id or case.community_id) if area_id]
    lines = [
        f"【{label}】{case.number} {title}",
        f"事项：{matter.name if matter else '-'}（{URGENCY_LABELS_ZH.get(case.urgency, str(case.urgency))}）",
        f"位置：{' '.join(a.name for a in places if a) or '-'}" + (f"（{address}）" if address else ""),
        f"阶段：{_zh(STAGE_LABELS.get(case.stage, str(case.stage)))}",
    ]
    if kind == NoticeKind.overdue:
        stage = STAGE_LABELS_ZH.get(event.clock_stage, str(event.clock_stage or "")) if event.clock_stage else ""
        deadline = f"，时限 {_local(event.deadline_at, settings)}" if event.deadline_at else ""
        lines.append(f"超期：{stage}超时{deadline}（{_local(event.occurred_at, settings)} 记录）")
    else:
        lines.append(
            f"来源：{_zh(CHANNEL_LABELS.get(case.channel, str(case.channel)))}，"
            f"{_zh(ACTION_LABELS.get(event.action, str(event.action)))} {_local(event.occurred_at, settings)}"
        )
    if event.action == Action.escalate:
        lines.append("已提级至上级城运中心")
    for group in duty:
        if group.is_gap:
            continue
        leaders = "、".join(p.name for p in group.leaders) or "-"
        staff = "、".join(p.name for p in group.people if not p.is_leader)
        lines.append(
            f"值班：{service.centre_name(group.centre)} 值班长 {leaders}" + (f"；值班人员 {staff}" if staff else "")
        )
    lines += list(remarks)
    subject = f"【{label}】{case.number} {title}"
    return subject[:200], "\n".join(lines)


def _on_duty_with_fallback(
    db: Session, centre_ids: list[int], at: dt.datetime
) -> tuple[list[service.OnDuty], list[str]]:
    """Returns who is on duty at the centres at `at`; a street centre with nobody passes to the district centre."""
    centres = [area for area in (db.get(Area, area_id) for area_id in centre_ids) if area is not None]
    groups = service.on_duty(db=db, centres=centres, at=at)
    remarks = []
    for group in list(groups):
        if not group.is_gap:
            continue
        parent = db.get(Area, group.centre.parent_id) if group.centre.parent_id else None
        if group.centre.level == AreaLevel.street and parent is not None and parent.id not in centre_ids:
            groups += service.on_duty(db=db, centres=[parent], at=at)
            centre_ids.append(parent.id)
            remarks.append(
                f"注意：{service.centre_name(group.centre)} 此时无人值班，已通知 {service.centre_name(parent)}"
            )
        else:
            remarks.append(f"注意：{service.centre_name(group.centre)} 此时无人值班")
    return groups, remarks


def make_notice(
    *,
    db: Session,
    event: CaseEvent,
    case: Case,
    now: dt.datetime,
    settings: Settings,
    notifiers: Sequence[Notifier],
    report: ScanReport,
) -> DutyNotice:
    """Makes the notice of one triggering event and its deliveries (those not made before for the case and kind)."""
    kind = kind_of(event, case)
    centre_ids = responsible_centres(case)
    groups, remarks = _on_duty_with_fallback(db, centre_ids, event.occurred_at)
    if all(g.is_gap for g in groups):
        remarks.append("没有可通知的值班人员 (nobody on duty to notify)")
    subject, body = compose(db=db, case=case, event=event, kind=kind, duty=groups, remarks=remarks, settings=settings)
    recipients: dict[int, Recipient] = {}
    for group in groups:
        for person in group.people:
            if person.user_id not in recipients:
                recipients[person.user_id] = Recipient(
                    user_id=person.user_id,
                    username=person.username,
                    name=person.name,
                    centre_code=group.centre.code,
                    is_leader=person.is_leader,
                    email=person.email,
                    mobile=person.mobile,
                )
    notice = DutyNotice(
        event_id=event.id,
        case_id=case.id,
        kind=kind,
        centre_area_ids=[g.centre.id for g in groups],
        on_duty_user_ids=list(recipients),
        subject=subject,
        body=body,
        remark="\n".join(remarks) or None,
        occurred_at=event.occurred_at,
        created_at=now,
    )
    db.add(notice)
    db.flush()
    report.notices += 1
    sent_before = {
        (notifier_slug, recipient)
        for notifier_slug, recipient in db.execute(
            select(DutyDelivery.notifier, DutyDelivery.recipient).where(
                DutyDelivery.case_id == case.id, DutyDelivery.kind == kind
            )
        )
    }
    codes = [g.centre.code for g in groups if not g.is_gap]
    for notifier in notifiers:
        try:
            addresses = notifier.addresses(settings=settings, centre_codes=codes, recipients=list(recipients.values()))
        except Exception:
            # NOTE: a plugin's bug must not stop the scan: it would roll back every notice of the run and, the
            # cursor never moving, block the other notifiers' deliveries of every case from then on.
            log.exception("notifier %s could not address the notice of case %s", notifier.slug, case.id)
            report.failed_notifiers.append(notifier.slug)
            failed = f"通知方式 {notifier.slug} 出错，未发送 (notifier {notifier.slug} failed: see the log)"
            notice.remark = f"{notice.remark}\n{failed}" if notice.remark else failed
            continue
        for address in addresses:
            key = (notifier.slug, address.recipient)
            if key in sent_before:
                continue
            sent_before.add(key)
            skipped = address.skip_reason is not None
            db.add(
                DutyDelivery(
                    notice_id=notice.id,
                    case_id=case.id,
                    kind=kind,
                    notifier=notifier.slug,
                    recipient=address.recipient[:100],
                    user_id=address.user_id,
                    address=(address.address or "")[:200] or None,
                    mentions=address.mentions,
                    status=DeliveryStatus.skipped if skipped else DeliveryStatus.pending,
                    attempts=0,
                    next_attempt_at=None if skipped else now,
                    last_error=address.skip_reason,
                    created_at=now,
                    updated_at=now,
                )
            )
            report.skipped += skipped
            report.deliveries += not skipped
    db.flush()
    return notice


def _try_lock(db: Session) -> bool:
    if db.get_bind().dialect.name != "postgresql":
        return True  # SQLite: one writer at a time already
    return bool(db.scalar(select(func.pg_try_advisory_xact_lock(LOCK_KEY))))


def scan(
    *, db: Session, now: dt.datetime, settings: Settings, notifiers: Sequence[Notifier], limit: int = 500
) -> ScanReport:
    """Turns the triggering case events not yet seen into notices and deliveries; moves the cursor."""
    report = ScanReport()
    if not _try_lock(db):
        report.locked = True
        return report
    cursor = db.get(DutyCursor, CURSOR)
    # NOTE: one id range (the primary key's index), not "after the cursor OR recent": an OR over two columns would
    # make PostgreSQL read the whole event log every 30 s. The range starts at the cursor or at the first event of
    # the look-back window, whichever is lower (the first scan ever: only the window).
    first_recent = db.scalar(select(func.min(CaseEvent.id)).where(CaseEvent.occurred_at >= now - LOOKBACK))
    floors = [first_recent - 1] if first_recent is not None else []
    if cursor is not None:
        floors.append(cursor.last_event_id)
    if not floors:
        floors.append(db.scalar(select(func.max(CaseEvent.id))) or 0)
    recent = CaseEvent.id > min(floors)
    rows = db.execute(
        select(CaseEvent, Case)
        .join(Case, CaseEvent.case_id == Case.id)
        .where(
            CaseEvent.action.in_(TRIGGER_ACTIONS),
            Case.is_open,
            trigger_condition(),
            recent,
            ~select(DutyNotice.id).where(DutyNotice.event_id == CaseEvent.id).exists(),
        )
        .order_by(CaseEvent.id)
        .limit(limit)
    ).all()
    announced: set[int] = set()
    for event, case in rows:
        report.events += 1
        if event.action in INTAKE_ACTIONS:
            if case.id in announced:
                continue
            announced.add(case.id)
        make_notice(db=db, event=event, case=case, now=now, settings=settings, notifiers=notifiers, report=report)
    high = rows[-1][0].id if len(rows) == limit else db.scalar(select(func.max(CaseEvent.id))) or 0
    if cursor is None:
        db.add(DutyCursor(name=CURSOR, last_event_id=high, updated_at=now))
    elif high > cursor.last_event_id:
        cursor.last_event_id, cursor.updated_at = high, now
    db.flush()
    return report


# --- the outbox ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """A claimed delivery, detached from the database: sent outside any transaction."""

    delivery_id: int
    notifier: str
    address: str | None
    message: Message


def expire_interrupted(*, db: Session, now: dt.datetime) -> int:
    """Marks failed the deliveries claimed longer than the lease ago: the sender stopped mid-send, and since the
    message may have gone out, it is not sent again (at most once)."""
    result = db.execute(
        update(DutyDelivery)
        .where(DutyDelivery.status == DeliveryStatus.sending, DutyDelivery.claimed_at < now - LEASE)
        .values(
            status=DeliveryStatus.failed,
            next_attempt_at=None,
            last_error="outcome unknown: the sender stopped while sending; not sent again",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def claim(*, db: Session, now: dt.datetime, limit: int, console_url: str = "") -> list[Task]:
    """Claims the deliveries due now (marked sending, one more attempt) and returns them ready to send."""
    stmt = (
        select(DutyDelivery)
        .where(DutyDelivery.status == DeliveryStatus.pending, DutyDelivery.next_attempt_at <= now)
        .order_by(DutyDelivery.next_attempt_at, DutyDelivery.id)
        .limit(limit)
    )
    if db.get_bind().dialect.name == "postgresql":
        # NOTE: other workers skip the rows this one holds, so each delivery is attempted by one of them.
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(db.scalars(stmt))
    if not rows:
        return []
    notices = {n.id: n for n in db.scalars(select(DutyNotice).where(DutyNotice.id.in_({r.notice_id for r in rows})))}
    numbers = case_numbers(db=db, case_ids=[r.case_id for r in rows])
    tasks = []
    for row in rows:
        row.status, row.claimed_at, row.updated_at = DeliveryStatus.sending, now, now
        row.attempts += 1
        notice = notices[row.notice_id]
        url = f"{console_url.rstrip('/')}/cases/{row.case_id}" if console_url else None
        message = Message(
            kind=str(row.kind),
            case_id=row.case_id,
            case_number=numbers.get(row.case_id, ""),
            subject=notice.subject,
            body=notice.body,
            url=url,
            mentions=list(row.mentions or []),
        )
        tasks.append(Task(delivery_id=row.id, notifier=row.notifier, address=row.address, message=message))
    db.flush()
    return tasks


def retry_wait(attempts: int, base_s: float) -> dt.timedelta:
    """Returns the wait before the next attempt after `attempts` failed ones: base, doubled each time, at most 1 h."""
    return min(dt.timedelta(seconds=base_s * 2 ** max(attempts - 1, 0)), MAX_RETRY_WAIT)


def finish(
    *,
    db: Session,
    delivery_id: int,
    now: dt.datetime,
    error: str | None,
    max_attempts: int,
    retry_s: float,
    final: bool = False,
) -> DutyDelivery:
    """Records a delivery's attempt: delivered, or failed and due again after a backoff (given up at the limit or
    when `final`)."""
    row = db.get(DutyDelivery, delivery_id)
    assert row is not None
    row.updated_at = now
    row.claimed_at = None
    if error is None:
        row.status, row.delivered_at, row.next_attempt_at, row.last_error = DeliveryStatus.delivered, now, None, None
    elif final or row.attempts >= max_attempts:
        row.status, row.next_attempt_at, row.last_error = DeliveryStatus.failed, None, error[:2000]
    else:
        row.status, row.last_error = DeliveryStatus.pending, error[:2000]
        row.next_attempt_at = now + retry_wait(row.attempts, retry_s)
    db.flush()
    return row


# --- the notification log --------------------------------------------------------------------------------------


def list_notices(
    *, db: Session, centre: Area, offset: int = 0, limit: int = 50, status: DeliveryStatus | None = None
) -> tuple[list[DutyNotice], int]:
    """Returns a page of the notices sent to a centre's on-duty staff (newest first) with their deliveries."""
    base = select(DutyNotice).where(json_list_contains(DutyNotice.centre_area_ids, centre.id))
    if status is not None:
        base = base.where(
            select(DutyDelivery.id)
            .where(DutyDelivery.notice_id == DutyNotice.id, DutyDelivery.status == status)
            .exists()
        )
    total = db.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = list(
        db.scalars(base.order_by(DutyNotice.created_at.desc(), DutyNotice.id.desc()).offset(offset).limit(limit))
    )
    if rows:
        # NOTE: load every page's deliveries in one query instead of one per notice.
        deliveries = db.scalars(
            select(DutyDelivery).where(DutyDelivery.notice_id.in_([r.id for r in rows])).order_by(DutyDelivery.id)
        )
        by_notice: dict[int, list[DutyDelivery]] = {r.id: [] for r in rows}
        for delivery in deliveries:
            by_notice[delivery.notice_id].append(delivery)
        for row in rows:
            set_committed_value(row, "deliveries", by_notice[row.id])
    return rows, total


def case_numbers(*, db: Session, case_ids: Sequence[int]) -> dict[int, str]:
    """Returns the numbers of cases by id."""
    if not case_ids:
        return {}
    return dict(db.execute(select(Case.id, Case.number).where(Case.id.in_(set(case_ids)))).all())
