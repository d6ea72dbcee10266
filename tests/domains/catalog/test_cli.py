"""`gridgov catalog import|export|validate` against a fresh, migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from gridgov import migrations
from gridgov.cli import app
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.catalog import service
from gridgov.domains.catalog.models import MatterType, Unit
from tests.domains.catalog.helpers import insert_areas, write_both, write_yaml

runner = CliRunner()


@pytest.fixture
def cli_db(cli_env: str) -> Iterator[Engine]:
    """The CLI's fresh database, migrated and holding the test areas."""
    migrations.upgrade(cli_env)
    engine = create_db_engine(cli_env)
    with transaction(engine) as db:
        insert_areas(db)
    yield engine
    engine.dispose()


def _count(engine: Engine, model: Any) -> int:
    with transaction(engine) as db:
        return db.scalar(select(func.count()).select_from(model))


def _run(*args: str) -> Any:
    return runner.invoke(app, ["catalog", *map(str, args)])


def test_import_export_and_reimport(cli_db, sample, tmp_path):
    paths = write_both(sample, tmp_path)
    result = _run("import", paths["xlsx"])
    assert result.exit_code == 0, result.output
    assert "imported cat.xlsx" in result.output and "units" in result.output
    assert _count(cli_db, Unit) == 7 and _count(cli_db, MatterType) == 3

    exported = tmp_path / "out" / "export.xlsx"
    result = _run("export", exported)
    assert result.exit_code == 0, result.output
    assert "7 units, 3 matter_types, 4 responsibilities" in result.output
    with transaction(cli_db) as db:
        stored = service.export_document(db=db)
    assert service.load_file(exported) == stored

    yaml_out = tmp_path / "export.yaml"
    assert _run("export", yaml_out).exit_code == 0
    assert service.load_file(yaml_out) == stored

    result = _run("import", yaml_out)
    assert result.exit_code == 0
    with transaction(cli_db) as db:
        assert service.export_document(db=db) == stored


def test_import_of_a_bad_file_prints_every_issue_and_writes_nothing(cli_db, sample, tmp_path):
    sample["units"][1]["area"] = "999999"
    sample["grid_access"].append({"matter": "C0105", "admitted": True})
    path = write_yaml(sample, tmp_path / "bad.yaml")
    result = _run("import", path)
    assert result.exit_code == 1
    assert "bad.yaml: catalogue rejected, nothing written (2 problems)" in result.stderr
    assert "bad.yaml units item 2 (code JS-CGJ), area: area '999999' is not in the area table" in result.stderr
    assert "bad.yaml grid_access item 5 (matter C0105, everywhere), admitted:" in result.stderr
    assert _count(cli_db, Unit) == 0 and _count(cli_db, MatterType) == 0


def test_a_file_error_is_printed_with_its_place(cli_db, sample, tmp_path):
    sample["matter_types"][2]["department_only"] = "可能"
    path = write_yaml(sample, tmp_path / "cat.yaml")
    result = _run("validate", path)
    assert result.exit_code == 1
    assert "cat.yaml matter_types item 3 (code E0501), department_only: expected yes/no, got '可能'" in result.stderr


def test_validate_reports_what_an_import_would_do_without_writing(cli_db, sample, tmp_path):
    path = write_both(sample, tmp_path)["yaml"]
    result = _run("validate", path)
    assert result.exit_code == 0, result.output
    assert "cat.yaml is valid" in result.output
    assert _count(cli_db, Unit) == 0

    sample["powers"][0]["unit"] = "NOBODY"
    result = _run("validate", write_yaml(sample, tmp_path / "cat.yaml"))
    assert result.exit_code == 1
    assert "powers item 1 (code CGJ-CF-001), unit: unit 'NOBODY' is neither" in result.stderr


def test_missing_file_and_unsupported_suffix(cli_db, tmp_path):
    assert _run("import", tmp_path / "absent.yaml").exit_code == 2  # typer refuses a missing path
    csv = tmp_path / "cat.csv"
    csv.write_text("code\n", encoding="utf-8")
    result = _run("import", csv)
    assert result.exit_code == 1 and "unsupported file type '.csv'" in result.stderr
    result = _run("export", Path(tmp_path / "cat.json"))
    assert result.exit_code == 1 and "unsupported file type '.json'" in result.stderr
