"""`gridgov video ...` against a fresh, migrated database holding the synthetic world."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from gridgov import migrations
from gridgov.cli import app
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.video.models import AlgorithmMapping, Camera, VideoSource
from tests.domains.areas.synthetic import lnglat
from tests.domains.cases.world import load_world

runner = CliRunner()


@pytest.fixture
def cli_db(cli_env: str) -> Iterator[Engine]:
    migrations.upgrade(cli_env)
    engine = create_db_engine(cli_env)
    locate.invalidate()
    with transaction(engine) as db:
        load_world(db)
    yield engine
    engine.dispose()


def _run(*args: object):
    return runner.invoke(app, ["video", *map(str, args)])


def _secret(engine: Engine, code: str) -> str:
    with transaction(engine, write=False) as db:
        return db.scalars(select(VideoSource.secret).where(VideoSource.code == code)).one()


def test_sources_cameras_algorithms_and_precision_from_the_command_line(cli_db, tmp_path: Path):
    added = _run("add-source", "hik-ai", "--name", "海康算法平台", "--fold-window", "300")
    assert added.exit_code == 0, added.output
    secret = _secret(cli_db, "hik-ai")
    assert len(secret) == 64 and secret in added.output and "shown only now" in added.output
    assert _run("add-source", "hik-ai", "--name", "again").exit_code == 1

    rotated = _run("rotate-secret", "hik-ai")
    assert rotated.exit_code == 0 and _secret(cli_db, "hik-ai") != secret
    assert _secret(cli_db, "hik-ai") in rotated.output
    assert _run("rotate-secret", "nobody").exit_code == 1
    assert _run("update-source", "hik-ai", "--inactive").exit_code == 0
    listed = _run("sources")
    assert "hik-ai" in listed.output and "300" in listed.output and secret not in listed.output

    lng, lat = lnglat(200, 800)
    cameras = tmp_path / "cams.csv"
    cameras.write_text(f"code,name,lng,lat\nK-1,一号,{lng},{lat}\nK-2,城外,114.5,35.5\n", encoding="utf-8")
    refused = _run("import-cameras", cameras)
    assert refused.exit_code == 1
    assert "cams.csv row 3 (code K-2), lng: (114.5, 35.5) in wgs84 is outside the district's grids" in refused.output
    cameras.write_text(f"code,name,lng,lat\nK-1,一号,{lng},{lat}\n", encoding="utf-8")
    assert "dry run, nothing written" in _run("import-cameras", cameras, "--dry-run").output
    imported = _run("import-cameras", cameras)
    assert imported.exit_code == 0 and "cameras from cams.csv: 1 created" in imported.output
    assert "K-1" in _run("cameras").output

    algorithms = tmp_path / "algorithms.yaml"
    algorithms.write_text(
        "algorithms:\n  - {source: hik-ai, algorithm_code: litter, name: 垃圾识别, matter_type: SJ0102}\n",
        encoding="utf-8",
    )
    done = _run("import-algorithms", algorithms)
    assert done.exit_code == 0 and "1 created" in done.output
    assert "hik-ai" in _run("algorithms").output
    report = _run("precision", "--by", "camera", "--since", "2026-11-01")
    assert report.exit_code == 0 and "TP / (TP + FP)" in report.output
    assert _run("precision", "--since", "yesterday").exit_code == 1

    with transaction(cli_db, write=False) as db:
        assert db.scalars(select(Camera.code)).all() == ["K-1"]
        assert db.scalars(select(AlgorithmMapping.algorithm_code)).all() == ["litter"]
        assert db.scalars(select(VideoSource.is_active)).all() == [False]
