"""`gridgov report indicators` and `gridgov report ranking` against a fresh, migrated database holding committed
cases — so the DuckDB engine (which reads committed data) and the sql engine rank the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from gridgov import migrations
from gridgov.cli import app
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.evaluation import cli as evaluation_cli
from gridgov.domains.evaluation import indicators
from gridgov.domains.evaluation.models import Indicator
from tests.domains.cases.world import load_world
from tests.domains.evaluation.ranking_world import WEST_COMPOSITE, E, W, build

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as on a wide terminal: rich fixes a console's width when the module is imported."""
    for console in (evaluation_cli.console, evaluation_cli.err_console):
        monkeypatch.setattr(console, "width", 250)


@pytest.fixture
def cli_db(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The CLI's fresh database, migrated, with the ranking world committed (and a wide terminal for tables)."""
    monkeypatch.setenv("COLUMNS", "250")
    migrations.upgrade(cli_env)
    engine = create_db_engine(cli_env)
    locate.invalidate()
    with transaction(engine) as db:
        build(db, load_world(db))
    yield engine
    locate.invalidate()
    engine.dispose()


def report(*args: Any) -> Any:
    return runner.invoke(app, ["report", *map(str, args)])


def stored(engine: Engine) -> int:
    with transaction(engine, write=False) as db:
        return db.scalar(select(func.count()).select_from(Indicator))


def test_ranking_with_both_engines(cli_db, tmp_path):
    outputs = {}
    for engine in ("duckdb", "sql"):
        path = tmp_path / f"{engine}.json"
        result = report("ranking", "--period", "2026-11", "--level", "street", "--engine", engine, "--json", path)
        assert result.exit_code == 0, result.output
        assert "2026-11 ranking by street: 1 ranked, 1 listed but not ranked (样本不足)" in result.output
        assert "样本不足" in result.output and "经八路街道" in result.output and "90.00%" in result.output
        outputs[engine] = json.loads(path.read_text(encoding="utf-8"))
    assert outputs["duckdb"] == outputs["sql"]
    west, east = outputs["duckdb"]["rows"]
    assert (west["key"], west["rank"], east["key"], east["ranked"]) == (W, 1, E, False)
    assert west["composite"] == pytest.approx(WEST_COMPOSITE)


def test_ranking_of_a_period_without_data_and_bad_input(cli_db):
    result = report("ranking", "--period", "2025-02", "--level", "community")
    assert result.exit_code == 0 and "no data for 2025-02: nothing to rank" in result.output
    result = report("ranking", "--period", "Nov", "--level", "street")
    assert result.exit_code == 1 and "bad period 'Nov'" in result.output
    result = report("ranking", "--period", "2026-11", "--level", "city")
    assert result.exit_code == 1 and "unknown level 'city'; use one of district, street" in result.output
    result = report("ranking", "--period", "2026-11", "--level", "street", "--area", "999")
    assert result.exit_code == 1 and "unknown area '999'" in result.output


def test_indicators_list_export_and_import(cli_db, tmp_path):
    result = report("indicators")
    assert result.exit_code == 0, result.output
    assert "on_time_closure_rate" in result.output and "area: 4 scored indicators, weights sum to 100" in result.output
    exported = tmp_path / "indicators.yaml"
    result = report("indicators", "--export", exported)
    assert result.exit_code == 0 and f"wrote {len(indicators.shipped())} indicators" in result.output
    data = yaml.safe_load(exported.read_text(encoding="utf-8"))
    assert stored(cli_db) == 0  # exporting the shipped set writes nothing

    closure = next(row for row in data["indicators"] if row["code"] == "closure_rate")
    closure["weight"] = 35
    Path(exported).write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = report("indicators", "--import", exported)
    assert result.exit_code == 0, result.output
    assert "1 updated" in result.output and "updated: closure_rate" in result.output
    assert stored(cli_db) == len(indicators.shipped())
    with transaction(cli_db, write=False) as db:
        assert db.scalar(select(Indicator.weight).where(Indicator.code == "closure_rate")) == 35.0

    closure["weight"] = -1
    closure["formula"] = "closed / nothing"
    Path(exported).write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = report("indicators", "--import", exported)
    assert result.exit_code == 1
    assert "indicators.yaml refused, nothing imported (2 problems)" in result.output
    assert "indicators.yaml row 1 (closure_rate), weight: is -1" in result.output
    assert "indicators.yaml row 1 (closure_rate), formula: unknown count `nothing`" in result.output
    with transaction(cli_db, write=False) as db:
        assert db.scalar(select(Indicator.weight).where(Indicator.code == "closure_rate")) == 35.0

    result = report("indicators", "--import", exported, "--export", tmp_path / "x.yaml")
    assert result.exit_code == 1 and "give --import or --export, not both" in result.output
