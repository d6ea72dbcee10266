"""The notification job on a committed database, as `gridgov serve` and `gridgov worker` run it: after the real SLA
sweep, the on-duty staff hear of an overdue case once, even with two workers running the job at the same time."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from gridgov import migrations
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.cases import jobs as case_jobs
from gridgov.domains.cases.service import Context
from gridgov.domains.duty import jobs, service
from gridgov.domains.duty.enums import DeliveryStatus
from gridgov.domains.duty.models import DutyDelivery
from gridgov.domains.duty.notifiers import build_registry
from gridgov.domains.intake import service as intake
from tests.domains.cases.test_flow import report
from tests.domains.cases.world import load_world
from tests.domains.duty.conftest import OPERATOR, add_staff, local
from tests.domains.duty.test_notify import Recorder


class SlowRecorder(Recorder):
    """Records sends from several threads, slowly, so two workers overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def send(self, *, settings, address, message) -> None:
        threading.Event().wait(0.05)
        with self.lock:
            super().send(settings=settings, address=address, message=message)


@pytest.fixture
def committed(fresh_database_url):
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    locate.invalidate()
    with transaction(engine) as db:
        world = load_world(db)
        users = add_staff(db)
        west = world.area("410105001")
        service.ensure_default_shifts(db=db, centre=west, pattern="three", actor=OPERATOR)
        for shift, people in (("early", ["w_disp1", "w_disp2"]), ("middle", ["w_disp3", "d_disp1", "d_disp2"])):
            entry = service.RosterInput(day=dt.date(2026, 12, 1), shift=shift, leader=people[0], staff=people[1:])
            service.set_rosters(db=db, centre=west, entries=[entry], actor=OPERATOR)
        case_id = intake.submit(
            db=db, report=report(), ctx=Context.of(world.grid_worker, now=local(2026, 12, 1, 9))
        ).case.id
    yield engine, case_id, {u.id: name for name, u in users.items()}
    engine.dispose()
    locate.invalidate()


def test_two_workers_send_each_overdue_notice_exactly_once(committed, settings):
    engine, case_id, names = committed
    assert case_jobs.sweep(engine=engine, now=local(2026, 12, 1, 16, 10)).overdue == 1
    recorder = SlowRecorder()
    configured = settings.model_copy(update={"duty_notifiers": "recorder"})
    registry = build_registry([recorder])
    reports = []

    def worker() -> None:
        reports.append(
            jobs.run_notifications(
                engine=engine, now=local(2026, 12, 1, 16, 11), settings=configured, notifiers=registry, batch_size=1
            )
        )

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(r.scan.notices for r in reports) == 1
    assert sum(r.delivered for r in reports) == 3
    assert sorted(address for address, _ in recorder.sent) == ["d_disp1", "d_disp2", "w_disp3"]  # the middle shift
    again = jobs.run_notifications(
        engine=engine, now=local(2026, 12, 1, 16, 20), settings=configured, notifiers=registry
    )
    assert (again.scan.notices, again.delivered) == (0, 0) and len(recorder.sent) == 3
    with transaction(engine, write=False) as db:
        rows = db.scalars(select(DutyDelivery).where(DutyDelivery.case_id == case_id)).all()
        assert sorted(names[r.user_id] for r in rows) == ["d_disp1", "d_disp2", "w_disp3"]
        assert {(r.status, r.attempts) for r in rows} == {(DeliveryStatus.delivered, 1)}
