"""`gridgov duty` end to end on a database of its own: shifts, a month from a rotation, export and import, who is
on duty, gaps, contacts, the notifiers and the notification job; refusals exit 1 and write nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from typer.testing import CliRunner

from gridgov.cli import app
from gridgov.core.db import get_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.duty.models import DutyContact, DutyRoster
from tests.domains.cases.world import load_world
from tests.domains.duty.conftest import add_staff

runner = CliRunner()


def _rows() -> int:
    with transaction(get_engine(), write=False) as db:
        return db.scalar(select(func.count(DutyRoster.id)))


def test_the_duty_commands(cli_env, tmp_path):
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    locate.invalidate()
    with transaction(get_engine()) as db:
        load_world(db)
        add_staff(db)
    locate.invalidate()

    result = runner.invoke(app, ["duty", "shifts", "410105001", "--defaults", "three"])
    assert result.exit_code == 0, result.output
    assert "00:00-08:00" in result.output and "16:00-24:00" in result.output
    result = runner.invoke(app, ["duty", "shift", "410105001", "late", "晚班", "25:00-08:00"])
    assert result.exit_code == 1 and "shift 'late', time: not a time of day in '25:00-08:00'" in result.stderr

    team = ["--team", "w_disp1", "--team", "w_disp2", "--team", "w_disp3", "--team", "d_disp1,d_disp2"]
    result = runner.invoke(app, ["duty", "generate", "410105001", "2026-12", *team])
    assert result.exit_code == 0, result.output
    assert "93 roster row(s)" in result.output and _rows() == 93
    result = runner.invoke(app, ["duty", "generate", "410105001", "2027-01", "--team", "w_disp1,e_disp1"])
    assert result.exit_code == 1 and "outside the centre's area" in result.stderr and _rows() == 93

    out = tmp_path / "dec.xlsx"
    assert runner.invoke(app, ["duty", "export", "410105001", "2026-12", "--out", str(out)]).exit_code == 0
    result = runner.invoke(app, ["duty", "import", "410105001", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 shift(s), 93 roster row(s), 2026-12-01 – 2026-12-31" in result.output

    result = runner.invoke(app, ["duty", "now", "--centre", "410105001", "--at", "2026-12-01T09:00"])
    assert result.exit_code == 0 and "西街值班员" in result.output and "经八路街道城运中心" in result.output
    result = runner.invoke(app, ["duty", "gaps", "410105001", "--from", "2026-12-31T00:00", "--to", "2027-01-02T00:00"])
    assert result.exit_code == 2 and "gap: 2027-01-01 00:00 – 2027-01-02 00:00 (24.0 h)" in result.output
    assert runner.invoke(app, ["duty", "gaps", "410105001", "--from", "2026-12-02T00:00"]).exit_code == 0

    result = runner.invoke(app, ["duty", "contact", "w_disp1", "--email", "w1@duty.example", "--mobile", "13800000001"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["duty", "contact", "w_disp1", "--email", "not-an-address"])
    assert result.exit_code == 1 and "not an e-mail address" in result.stderr
    with transaction(get_engine(), write=False) as db:
        assert db.scalars(select(DutyContact.email)).all() == ["w1@duty.example"]

    result = runner.invoke(app, ["duty", "notifiers"])
    assert result.exit_code == 0 and "webhook" in result.output and "email" in result.output
    result = runner.invoke(app, ["duty", "notify"])
    assert result.exit_code == 0 and "0 notice(s)" in result.output
    assert runner.invoke(app, ["duty", "now", "--centre", "999"]).exit_code == 1
