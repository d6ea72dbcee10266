"""`gridgov hotline import` against a fresh, migrated database holding the synthetic world and its crosswalk."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from gridgov import migrations
from gridgov.cli import app
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.auth.enums import Role
from gridgov.domains.cases.enums import Channel
from gridgov.domains.cases.models import Case
from tests.domains.cases.world import COMMUNITY_W_N, add_token_user
from tests.domains.hotline.conftest import load_hotline_world
from tests.domains.hotline.sheets import ERRORS, HEADER, ROWS, write_xlsx

runner = CliRunner()


@pytest.fixture
def cli_db(cli_env: str) -> Iterator[Engine]:
    migrations.upgrade(cli_env)
    engine = create_db_engine(cli_env)
    locate.invalidate()
    with transaction(engine) as db:
        load_hotline_world(db)
        add_token_user(db, "dispatcher", Role.district_dispatcher, "CENTRE", None)
        add_token_user(db, "gw", Role.grid_worker, f"{COMMUNITY_W_N}-JWH", COMMUNITY_W_N)
    yield engine
    engine.dispose()
    locate.invalidate()


def _run(*args: Any) -> Any:
    return runner.invoke(app, ["hotline", "import", *map(str, args)])


def _orders(engine: Engine) -> dict[str, Role | None]:
    with transaction(engine, write=False) as db:
        rows = db.execute(select(Case.external_id, Case.reporter_role).where(Case.channel == Channel.hotline))
        return dict(rows.all())


def test_import_reports_bad_rows_exits_1_and_writes_the_report(cli_db: Engine, tmp_path: Path):
    path = write_xlsx(tmp_path / "orders.xlsx")
    report = tmp_path / "out" / "errors.csv"
    result = _run(path, "--report", report)
    assert result.exit_code == 1, result.output
    assert "imported orders.xlsx sheet 工单明细" in result.output
    assert "already present" in result.output and "rows/s" in result.output
    assert "columns not used: 承办单位" in result.output
    assert sorted(_orders(cli_db)) == ["GD001", "GD002", "GD007", "GD008"]
    assert set(_orders(cli_db).values()) == {Role.system}

    data = report.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM, so Excel shows the Chinese columns
    lines = list(csv.reader(data.decode("utf-8-sig").splitlines()))
    assert lines[0] == ["row", "column", "order_id", "message"]
    assert [(int(row), column) for row, column, _, _ in lines[1:]] == [(row, column) for row, column, _ in ERRORS]
    assert lines[3][3].startswith("unknown 12345 category '999999'")

    again = _run(path)
    assert again.exit_code == 1  # the same rows are still bad
    with transaction(cli_db, write=False) as db:
        assert db.scalar(select(func.count()).select_from(Case)) == 4


def test_a_clean_file_exits_0_and_re_importing_it_creates_nothing(cli_db: Engine, tmp_path: Path):
    good = [row for row in ROWS if row[0] in ("GD001", "GD002", "GD007", "GD008")]
    path = write_xlsx(tmp_path / "good.xlsx", good)
    first = _run(path, "--batch-size", 3)  # two transactions
    assert first.exit_code == 0, first.output
    second = _run(path)
    assert second.exit_code == 0, second.output
    assert "│         4 │       0 │               4 │      0 │" in second.output
    assert len(_orders(cli_db)) == 4


def test_dry_run_writes_nothing(cli_db: Engine, tmp_path: Path):
    result = _run(write_xlsx(tmp_path / "orders.xlsx"), "--dry-run")
    assert result.exit_code == 1 and "dry run of orders.xlsx" in result.output
    assert _orders(cli_db) == {}


def test_a_file_level_problem_exits_1_and_writes_nothing(cli_db: Engine, tmp_path: Path):
    header = [h for h in HEADER if h != "诉求内容"]
    rows = [row[:4] + row[5:] for row in ROWS]
    result = _run(write_xlsx(tmp_path / "nocontent.xlsx", rows, header=header))
    assert result.exit_code == 1
    assert "nocontent.xlsx: not imported" in result.stderr and "missing column 诉求内容" in result.stderr
    assert _orders(cli_db) == {}
    missing = _run(tmp_path / "nope.csv")
    assert missing.exit_code == 1 and "no such file" in missing.stderr


def test_user_option_records_the_dispatcher_and_refuses_a_grid_worker(cli_db: Engine, tmp_path: Path):
    path = write_xlsx(tmp_path / "orders.xlsx")
    refused = _run(path, "--user", "gw")
    assert refused.exit_code == 1 and "may not use the 12345 hotline channel" in refused.stderr
    assert _orders(cli_db) == {}
    assert _run(path, "--user", "nobody").exit_code == 1
    assert _run(path, "--user", "dispatcher").exit_code == 1
    assert set(_orders(cli_db).values()) == {Role.district_dispatcher}
