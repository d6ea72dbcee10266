"""`gridgov staff` against a fresh, migrated database: registering staff on the server, an area's staff, the
staffing report (and its XLSX), coverage, and applying the filings whose date has come (the daily job)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from gridgov import migrations
from gridgov.cli import app
from gridgov.core import clock
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, UserCreate
from gridgov.domains.staff import cli as staff_cli
from gridgov.domains.staff import filings
from gridgov.domains.staff.enums import FilingStatus
from gridgov.domains.staff.models import Assignment, Filing
from gridgov.domains.staff.schemas import FilingCreate
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import load_world
from tests.domains.staff.conftest import G1, G2, WN, WS, W

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as on a wide terminal: rich fixes a console's width when the module is imported."""
    for console in (staff_cli.console, staff_cli.err_console):
        monkeypatch.setattr(console, "width", 250)


@pytest.fixture
def cli_db(cli_env: str) -> Iterator[Engine]:
    """The CLI's fresh database with the synthetic district, residents in WN and WS, a secretary and a street
    dispatcher; the clock frozen at T0."""
    current = [T0]
    clock.set_clock(lambda: current[0])
    migrations.upgrade(cli_env)
    engine = create_db_engine(cli_env)
    locate.invalidate()
    with transaction(engine) as db:
        load_world(db)
        for code, population in ((WN, 2500), (WS, 1000)):
            db.scalars(select(Area).where(Area.code == code)).one().population = population
        for username, role, unit, scope in (
            ("sec_wn", Role.community_secretary, f"{WN}-JWH", WN),
            ("street_w", Role.street_dispatcher, f"{W}-CYZX", W),
        ):
            data = UserCreate(username=username, display_name=username, role=role, unit=unit, scope=scope)
            auth_service.create_user(db=db, data=data, actor=SYSTEM_ACTOR)
    try:
        yield engine
    finally:
        clock.set_clock(None)
        locate.invalidate()
        engine.dispose()


def staff(*args: str):
    return runner.invoke(app, ["staff", *args])


def test_the_register_is_loaded_listed_and_reported(cli_db: Engine, tmp_path: Path):
    done = staff("assign", "--area", G1, "--post", "grid_worker", "--name", "甲", "--phone", "0371-6000 0001")
    assert done.exit_code == 0, done.output
    assert "甲, grid_worker" in done.output and "2026-11-25" in done.output
    assert staff("assign", "--area", WN, "--post", "community_secretary", "--user", "sec_wn").exit_code == 0
    assert staff("assign", "--area", G2, "--post", "grid_worker", "--name", "乙", "--part-time").exit_code == 0
    listed = staff("list", "--area", WN, "--below")
    assert listed.exit_code == 0 and "甲" in listed.output and "乙" in listed.output and "sec_wn" in listed.output
    assert "staff of 410105001001" in listed.output and "(3)" in listed.output

    out = tmp_path / "staffing.xlsx"
    report = staff("staffing", "--level", "community", "--area", W, "--xlsx", str(out))
    assert report.exit_code == 0, report.output
    # WN: 甲 and sec_wn (乙 is part-time) = 2 of ceil(18 × 0.25) = 5; WS: none of 2.
    assert "2 of 2 community areas under-staffed, 5 workers short" in report.output
    sheet = openpyxl.load_workbook(out).active
    assert [c.value for c in sheet[5]][:4] == [WS, "经八路南社区", "社区", 0]
    assert [c.value for c in sheet[6]][3:] == [2, 2500, 8.0, 18, 3]
    assert staff("staffing", "--level", "street", "--standard", "25").exit_code == 0

    covered = staff("coverage", "--period", "2026-11", "--area", WN)
    assert covered.exit_code == 0 and "total" in covered.output and G1 in covered.output


def test_refused_commands_say_why_and_write_nothing(cli_db: Engine):
    for args, message in (
        (("assign", "--area", G1, "--post", "nope", "--name", "甲"), "--post: one of"),
        (("assign", "--area", G1, "--post", "grid_worker"), "--user USERNAME or --name NAME"),
        (("assign", "--area", G1, "--post", "grid_worker", "--name", "甲", "--from", "soon"), "not a date"),
        (("assign", "--area", WN, "--post", "grid_worker", "--name", "甲"), "is held at 三级网格"),
        (("assign", "--area", "999", "--post", "grid_worker", "--name", "甲"), "no area with code"),
        (("staffing", "--level", "grid"), "by community or street"),
        (("staffing", "--area", "999"), "unknown area"),
        (("coverage", "--period", "Nov"), "bad period"),
    ):
        result = staff(*args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
    with transaction(cli_db, write=False) as db:
        assert db.scalar(select(Assignment.id)) is None


def test_apply_due_applies_the_approved_filings_whose_date_has_come(cli_db: Engine):
    assert staff("assign", "--area", G1, "--post", "grid_worker", "--name", "甲").exit_code == 0
    with transaction(cli_db) as db:
        users = {u.username: auth_service.actor_of(u) for u in db.scalars(select(User))}
        worker = db.scalars(select(Assignment)).one()
        data = FilingCreate(
            kind="transfer",
            assignment_id=worker.id,
            to_area=G2,
            effective_on=dt.date(2026, 11, 27),
            reason="调往第2网格",
        )
        filing = filings.request(db=db, actor=users["sec_wn"], data=data)
        filings.approve(db=db, actor=users["street_w"], filing=filing)
        filing_id = filing.id
    early = staff("apply-due")
    assert early.exit_code == 0 and "0 applied" in early.output
    clock.set_clock(lambda: T0 + dt.timedelta(days=2))
    done = staff("apply-due")
    assert done.exit_code == 0 and "1 applied, 0 could not take effect" in done.output
    with transaction(cli_db, write=False) as db:
        filing = db.get(Filing, filing_id)
        assert filing.status == FilingStatus.applied
        assert [e.action for e in filing.events] == ["requested", "approved", "applied"]
        assert filing.events[-1].actor_name == "报备生效任务 filing job"
        rows = db.scalars(select(Assignment).order_by(Assignment.id)).all()
        assert [(r.area.code, r.ends_on) for r in rows] == [(G1, dt.date(2026, 11, 27)), (G2, None)]
