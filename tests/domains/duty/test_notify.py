"""Notifications to the on-duty staff: urgent cases at intake and overdue cases from the SLA sweep reach exactly
the staff on duty at the responsible centres, once per person, case and kind; the outbox retries failures with
backoff, gives up at the limit, and never sends a message twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gridgov.config import Settings
from gridgov.domains.auth.schemas import SYSTEM_ACTOR
from gridgov.domains.cases import jobs as case_jobs
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases import sla
from gridgov.domains.cases.enums import Action
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.cases.service import Context
from gridgov.domains.duty import jobs, notify, service
from gridgov.domains.duty.enums import DeliveryStatus, NoticeKind
from gridgov.domains.duty.models import DutyCursor, DutyDelivery, DutyNotice
from gridgov.domains.duty.notifiers import (
    Address,
    DeliveryFailed,
    LogNotifier,
    Message,
    Notifier,
    Recipient,
    build_registry,
)
from gridgov.domains.intake import service as intake
from tests.domains.cases.test_flow import report
from tests.domains.cases.world import point
from tests.domains.duty.conftest import local

D = dt.date


class Recorder(Notifier):
    """A notifier that keeps what it sends, per on-duty person, and fails while `failures` is positive."""

    slug = "recorder"
    description = "test"

    def __init__(self) -> None:
        self.sent: list[tuple[str | None, Message]] = []
        self.failures = 0

    def addresses(
        self, *, settings: Settings, centre_codes: Sequence[str], recipients: Sequence[Recipient]
    ) -> list[Address]:
        return [Address(recipient=f"user:{r.user_id}", user_id=r.user_id, address=r.username) for r in recipients]

    def send(self, *, settings: Settings, address: str | None, message: Message) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise DeliveryFailed("gateway down")
        self.sent.append((address, message))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def run(db: Session, recorder: Recorder, settings: Settings):
    """Runs the notification job inside the test's transaction with the log and recorder notifiers."""

    @contextmanager
    def join(_write: bool) -> Iterator[Session]:
        with db.begin_nested():
            yield db

    configured = settings.model_copy(
        update={"duty_notifiers": "log,recorder", "duty_notify_retry_s": 60.0, "duty_notify_max_attempts": 3}
    )

    def _run(at: dt.datetime, **changes) -> jobs.NotifyReport:
        return jobs.run_notifications(
            now=at,
            open_tx=join,
            settings=configured.model_copy(update=changes),
            notifiers=build_registry([recorder]),
        )

    return _run


@pytest.fixture
def rostered(duty):
    """1 December: West and the district with all three shifts staffed; East with nobody."""
    day = D(2026, 12, 1)
    duty.set(duty.west, day, "night", "w_disp1")
    duty.set(duty.west, day, "early", "w_disp1", "w_disp2")
    duty.set(duty.west, day, "middle", "w_disp3", "d_disp3")
    duty.set(duty.district, day, "night", "d_disp1")
    duty.set(duty.district, day, "early", "d_leader", "d_disp1")
    duty.set(duty.district, day, "middle", "d_disp2")
    return duty


def sweep(db: Session, at: dt.datetime) -> case_jobs.SweepReport:
    """Runs the SLA sweep's checks at `at` inside the test's transaction."""
    ctx = Context(actor=SYSTEM_ACTOR, now=at, calendar=sla.default_calendar())
    result = case_jobs.SweepReport()
    for case in case_jobs.due_cases(db=db, now=at, limit=100):
        case_jobs.check_case(db=db, case=case, ctx=ctx, report=result)
    db.flush()
    return result


def told(recorder: Recorder) -> list[str]:
    return sorted(address or "" for address, _ in recorder.sent)


def test_an_overdue_case_notifies_exactly_the_staff_on_duty_once(db, rostered, recorder, run):
    duty = rostered
    case = intake.submit(db=db, report=report(), ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 9))).case
    assert case.street_id == duty.west.id and case.urgency == "normal"
    assert run(local(2026, 12, 1, 9, 1)).scan.notices == 0  # a normal case is nobody's emergency

    # 4 working hours from 09:00 end at 15:00; the sweep at 16:05 finds it overdue: the middle shift is on duty
    assert sweep(db, local(2026, 12, 1, 16, 5)).overdue == 1
    result = run(local(2026, 12, 1, 16, 6))
    assert (result.scan.notices, result.delivered, result.failed) == (1, 4, 0)
    assert told(recorder) == ["d_disp3", "w_disp3"]
    address, message = recorder.sent[0]
    assert message.kind == "overdue" and message.case_number == case.number
    assert message.subject == f"【超期案件】{case.number} 路边暴露垃圾"
    assert "值班：经八路街道城运中心 值班长 西街值班员三；值班人员 区值班员三" in message.body
    assert "一堆生活垃圾" not in message.body  # the description may hold personal data: never sent
    notice = db.scalars(select(DutyNotice)).one()
    assert notice.kind == NoticeKind.overdue and notice.centre_area_ids == [duty.west.id]
    assert sorted(notice.on_duty_user_ids) == sorted(duty.users[u].id for u in ("w_disp3", "d_disp3"))

    # running the job again sends nothing new; nor does a second sweep
    again = run(local(2026, 12, 1, 16, 7))
    assert (again.scan.notices, again.delivered) == (0, 0)
    assert sweep(db, local(2026, 12, 1, 17, 0)).overdue == 0
    assert run(local(2026, 12, 1, 17, 1)).delivered == 0
    assert len(recorder.sent) == 2


def test_an_escalated_overdue_case_tells_the_district_and_not_the_street_again(db, rostered, recorder, run):
    duty = rostered
    unsure = {"label": "SJ0102", "confidence": 0.5, "model": "test"}
    case = intake.submit(
        db=db, report=report(classification=unsure), ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 9))
    ).case
    assert case.stage == "registered"  # waits in West's queue: 0.5 working hours to dispatch it
    sweep(db, local(2026, 12, 1, 9, 40))
    run(local(2026, 12, 1, 9, 41))
    assert told(recorder) == ["w_disp1", "w_disp2"]
    dispatcher = duty.world.street_dispatcher
    case_service.escalate(db=db, case=case, ctx=Context.of(dispatcher, now=local(2026, 12, 1, 10)), note="提级")
    result = run(local(2026, 12, 1, 10, 1))
    assert result.scan.notices == 1
    assert told(recorder) == ["d_disp1", "d_leader", "w_disp1", "w_disp2"]  # West's staff were not told twice
    notice = db.scalars(select(DutyNotice).order_by(DutyNotice.id.desc())).first()
    assert notice.kind == NoticeKind.overdue and "已提级至上级城运中心" in notice.body
    assert set(notice.centre_area_ids) == {duty.west.id, duty.district.id}


def test_an_urgent_case_at_intake_tells_the_street_and_the_district_on_duty(db, rostered, recorder, run):
    duty = rostered
    result = intake.submit(
        db=db, report=report("BJ0101"), ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 10))
    )
    case = result.case
    assert case.urgency == "urgent" and case.centre_area_id == duty.district.id
    actions = [e.action for e in db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))]
    assert Action.report in actions and Action.register in actions
    report_ = run(local(2026, 12, 1, 10, 0, 30))
    assert report_.scan.notices == 1  # announced once, though reported and registered
    assert told(recorder) == ["d_disp1", "d_leader", "w_disp1", "w_disp2"]
    notice = db.scalars(select(DutyNotice)).one()
    assert notice.kind == NoticeKind.urgent and set(notice.centre_area_ids) == {duty.west.id, duty.district.id}
    assert "【紧急案件】" in notice.subject and "上水井盖（紧急）" in notice.body
    assert run(local(2026, 12, 1, 10, 1)).delivered == 0


def test_a_street_with_nobody_on_duty_passes_its_notices_to_the_district(db, rostered, recorder, run):
    duty = rostered
    east_point = duty.world.area("410105002001001").geometry.representative_point().coords[0]
    worker = duty.world.actor(duty.world.grid_worker.role, "410105002001-JWH", user_id=9, name="东网格员")
    case = intake.submit(db=db, report=report(at=east_point), ctx=Context.of(worker, now=local(2026, 12, 1, 9))).case
    assert case.street_id == duty.east.id
    sweep(db, local(2026, 12, 1, 16, 30))
    run(local(2026, 12, 1, 16, 31))
    assert told(recorder) == ["d_disp2"]
    notice = db.scalars(select(DutyNotice)).one()
    assert notice.remark == "注意：花园路街道城运中心 此时无人值班，已通知 金水区城运中心"
    assert notice.centre_area_ids == [duty.east.id, duty.district.id]


def test_failures_are_retried_with_backoff_then_given_up(db, rostered, recorder, run):
    duty = rostered
    intake.submit(db=db, report=report("BJ0101"), ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 10)))
    recorder.failures = 100
    first = run(local(2026, 12, 1, 10, 1))
    assert (first.delivered, first.retrying) == (4, 4)  # the log notifier got through, the recorder did not
    rows = db.scalars(select(DutyDelivery).where(DutyDelivery.notifier == "recorder")).all()
    assert {(r.status, r.attempts, r.last_error) for r in rows} == {(DeliveryStatus.pending, 1, "gateway down")}
    assert {r.next_attempt_at for r in rows} == {local(2026, 12, 1, 10, 2)}  # 60 s later
    assert run(local(2026, 12, 1, 10, 1, 30)).retrying == 0  # not due yet
    second = run(local(2026, 12, 1, 10, 2))
    assert second.retrying == 4
    assert {r.next_attempt_at for r in rows} == {local(2026, 12, 1, 10, 4)}  # doubled: 120 s
    recorder.failures = 2
    third = run(local(2026, 12, 1, 10, 4))
    assert (third.failed, third.delivered) == (2, 2)  # the third attempt was the last (max 3)
    statuses = sorted((r.status, r.attempts) for r in rows)
    assert statuses == [(DeliveryStatus.delivered, 3)] * 2 + [(DeliveryStatus.failed, 3)] * 2
    assert run(local(2026, 12, 1, 12, 0)).delivered == 0  # given up for good


def test_a_delivery_interrupted_mid_send_is_never_sent_again(db, rostered, settings, run):
    duty = rostered
    intake.submit(db=db, report=report("BJ0101"), ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 10)))
    with db.begin_nested():
        notify.scan(db=db, now=local(2026, 12, 1, 10, 0, 30), settings=settings, notifiers=[LogNotifier()])
    with db.begin_nested():
        tasks = notify.claim(db=db, now=local(2026, 12, 1, 10, 1), limit=1)  # a worker claims one, then dies
    assert len(tasks) == 1 and tasks[0].notifier == "log"
    assert run(local(2026, 12, 1, 10, 5), duty_notifiers="log").delivered == 3  # the claimed one is left alone
    result = run(local(2026, 12, 1, 10, 30), duty_notifiers="log")
    assert (result.interrupted, result.delivered) == (1, 0)
    lost = db.get(DutyDelivery, tasks[0].delivery_id)
    assert lost.status == DeliveryStatus.failed and "outcome unknown" in lost.last_error
    assert lost.attempts == 1


def test_a_disabled_notifier_fails_its_waiting_deliveries_at_once(db, rostered, recorder, run):
    duty = rostered
    intake.submit(db=db, report=report("BJ0101"), ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 10)))
    recorder.failures = 100
    run(local(2026, 12, 1, 10, 1))
    recorder.failures = 0
    result = run(local(2026, 12, 1, 10, 5), duty_notifiers="log")
    assert result.failed == 4 and recorder.sent == []
    errors = set(db.scalars(select(DutyDelivery.last_error).where(DutyDelivery.notifier == "recorder")))
    assert errors == {"notifier 'recorder' is not enabled (GRIDGOV_DUTY_NOTIFIERS)"}


def test_the_scan_reads_late_commits_behind_its_cursor_but_not_old_history(db, rostered, recorder, run):
    duty = rostered
    old = intake.submit(
        db=db, report=report("BJ0101"), ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 8))
    )
    # the first scan ever starts 15 minutes back: an urgent case of two hours ago is history, not news
    assert run(local(2026, 12, 1, 10)).scan.notices == 0
    cursor = db.get(DutyCursor, notify.CURSOR)
    assert cursor.last_event_id == db.scalar(select(func.max(CaseEvent.id)))
    late = intake.submit(  # far from the first: no duplicate to weigh
        db=db,
        report=report("BJ0101", at=point(300, 600)),
        ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 10)),
    )
    # an event committed late carries an id below the cursor: it is still read while recent
    db.execute(update(DutyCursor).values(last_event_id=cursor.last_event_id + 100))
    db.expire_all()
    assert run(local(2026, 12, 1, 10, 5)).scan.notices == 1
    assert {n.case_id for n in db.scalars(select(DutyNotice))} == {late.case.id}
    assert old.case.id != late.case.id


def test_nobody_on_duty_anywhere_is_recorded_on_the_notice(db, duty, recorder, run):
    intake.submit(db=db, report=report("BJ0101"), ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 10)))
    result = run(local(2026, 12, 1, 10, 1))
    assert (result.scan.notices, result.scan.deliveries) == (1, 0)
    notice = db.scalars(select(DutyNotice)).one()
    assert "没有可通知的值班人员" in notice.remark


def test_the_notification_log_lists_a_centre_newest_first(db, rostered, recorder, run):
    duty = rostered
    intake.submit(db=db, report=report("BJ0101"), ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 10)))
    run(local(2026, 12, 1, 10, 1))
    rows, total = notify.list_notices(db=db, centre=duty.west)
    assert total == 1 and sorted(d.notifier for d in rows[0].deliveries) == ["log"] * 4 + ["recorder"] * 4
    assert notify.list_notices(db=db, centre=duty.east) == ([], 0)
    assert notify.list_notices(db=db, centre=duty.west, status=DeliveryStatus.failed) == ([], 0)
    assert service.on_duty(db=db, centres=[duty.west], at=local(2026, 12, 1, 10))[0].people
    assert db.scalar(select(func.count(Case.id))) == 1
