"""A small November for the bulletin and ledger tests, driven through the real services at chosen times.

West street 410105001 (community 410105001001): four 暴露垃圾 cases reported on Wednesday 2026-11-25 at 09:00,
due at 15:00: three closed on time, one left open and swept overdue at 17:00. East street 410105002: one case
reported at the same time and closed late the next day. October: one west case closed on time (the previous
period). A citizen's snapshot in the west street carries the reporter's contact (which no ledger may show).

The area indicators' minimum sample is lowered to 3 (应结案): the west street (4 due) is ranked, the east
street (1 due) is listed as 样本不足.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from gridgov import migrations
from gridgov.config import get_settings
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, Actor, UserCreate
from gridgov.domains.cases import jobs as case_jobs
from gridgov.domains.cases import sla
from gridgov.domains.cases.enums import Channel
from gridgov.domains.cases.models import Case, CaseContact
from gridgov.domains.cases.service import Context
from gridgov.domains.evaluation import indicators
from gridgov.domains.evaluation.models import Indicator
from tests.domains.cases.world import World, load_world
from tests.domains.evaluation.campaign_world import EAST, WEST, close, local, report

CONTACT_PHONE = "13800138000"
CONTACT_NAME = "张报告"


@dataclass
class November:
    """Handles on the cases of the world."""

    on_time: list[Case]
    overdue: Case
    late: Case
    october: Case
    snapshot: Case


def sweep(db: Session, at: dt.datetime) -> None:
    """Runs the SLA sweep's checks at `at` inside the test's transaction."""
    ctx = Context(actor=SYSTEM_ACTOR, now=at, calendar=sla.default_calendar())
    found = case_jobs.SweepReport()
    for case in case_jobs.due_cases(db=db, now=at, limit=100):
        case_jobs.check_case(db=db, case=case, ctx=ctx, report=found)
    db.flush()


def lower_min_samples(db: Session, to: int = 3) -> None:
    """Stores the shipped indicators with every positive minimum sample lowered to `to`."""
    indicators.ensure_defaults(db=db)
    db.execute(update(Indicator).where(Indicator.min_sample > 0).values(min_sample=to))
    db.flush()


def build_november(db: Session, world: World) -> November:
    """Creates the cases of the module docstring."""
    october = report(db, world, at=local(28, 9, month=10))
    close(db, world, october, finished=local(28, 10, month=10), verified=local(28, 10, 30, month=10))
    on_time = []
    for _ in range(3):
        case = report(db, world, at=local(25, 9))
        close(db, world, case, finished=local(25, 10), verified=local(25, 10, 30))
        on_time.append(case)
    overdue = report(db, world, at=local(25, 9), title="小区门口垃圾堆积")
    late = report(db, world, at=local(25, 9), where=EAST)
    close(db, world, late, finished=local(26, 10), verified=local(26, 10, 30))
    snapshot = report(db, world, at=local(25, 9, 30), where=WEST, channel=Channel.snapshot, title="市民反映垃圾")
    db.add(CaseContact(case_id=snapshot.id, name=CONTACT_NAME, phone=CONTACT_PHONE))
    sweep(db, local(25, 17))
    db.flush()
    db.refresh(overdue)
    assert overdue.is_overdue and overdue.is_open
    lower_min_samples(db)
    return November(on_time=on_time, overdue=overdue, late=late, october=october, snapshot=snapshot)


@pytest.fixture
def sql_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Counts with the SQL engine: the test's data is not committed, and DuckDB reads committed data only."""
    monkeypatch.setenv("GRIDGOV_EVALUATION_ENGINE", "sql")
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()  # NOTE: monkeypatch restores the environment after this fixture ends


def user(db: Session, username: str, role: Role, unit: str | None, scope: str | None, name: str) -> Actor:
    """Creates a user (audit entries and bulletins name real users) and returns them as an Actor."""
    created = auth_service.create_user(
        db=db, data=UserCreate(username=username, display_name=name, role=role, unit=unit, scope=scope)
    )
    return auth_service.actor_of(created)


def commit_november(url: str) -> None:
    """Migrates the database at `url` and commits the world and its November into it (job and CLI tests)."""
    migrations.upgrade(url)
    engine = create_db_engine(url)
    try:
        with transaction(engine) as db:
            locate.invalidate()
            build_november(db, load_world(db))
    finally:
        engine.dispose()
        locate.invalidate()
