"""`gridgov demo load` end to end (the slow tests of the demo: each imports the whole district)."""

from sqlalchemy import func, select
from typer.testing import CliRunner

from gridgov.cli import app
from gridgov.core.db import create_db_engine, session_factory
from gridgov.demo import service as demo_service
from gridgov.demo.generate import load_streets
from gridgov.domains.areas import locate
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.catalog.models import GridAccessEntry, MatterType, ResponsibilityRule, Unit
from gridgov.domains.catalog.schemas import ResponsibilityIn

runner = CliRunner()


def _counts(url: str) -> dict[str, int]:
    engine = create_db_engine(url)
    try:
        with session_factory(engine)() as db:
            counts = {
                level.value: db.scalar(select(func.count()).select_from(Area).where(Area.level == level))
                for level in AreaLevel
            }
            for model in (Unit, MatterType, ResponsibilityRule, GridAccessEntry):
                counts[model.__tablename__] = db.scalar(select(func.count()).select_from(model))
            grid = locate.locate_point(db=db, lng=113.6655, lat=34.7965, crs="gcj02")
            counts["located_street"] = grid.street.code if grid.status == "inside" and grid.street else None
            return counts
    finally:
        engine.dispose()


def test_demo_load_imports_the_district_through_the_real_services(cli_env):
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    result = runner.invoke(app, ["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "1,538" in result.output and "matter types" in result.output

    counts = _counts(cli_env)
    assert counts["district"] == 1 and counts["street"] == 17
    assert 17 * 8 <= counts["community"] <= 17 * 15
    assert counts["grid"] > 1_000 and counts["building"] > 5 * counts["grid"]
    assert counts["matter_type"] >= 80
    assert counts["responsibility_rule"] == counts["matter_type"] == counts["grid_access_entry"]
    assert counts["unit"] >= 20 + 17 * 6 + counts["community"]
    # A GCJ-02 point on 文化路 (as a phone app gives it) lands in one of Jinshui's streets.
    assert counts["located_street"] in {street.code for street in load_streets()}

    result = runner.invoke(app, ["demo", "load", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "already exist" in result.output
    assert _counts(cli_env) == counts


def test_a_rejected_demo_writes_nothing(cli_env, monkeypatch):
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    real_build = demo_service.build_catalog

    def broken_catalogue(areas):
        document = real_build(areas)
        document.responsibilities.append(ResponsibilityIn(matter="NOPE01", level=AreaLevel.district, unit="x"))
        return document

    monkeypatch.setattr(demo_service, "build_catalog", broken_catalogue)
    result = runner.invoke(app, ["demo", "load"])
    assert result.exit_code == 1
    assert "NOPE01" in result.output
    counts = _counts(cli_env)
    assert counts["district"] == counts["grid"] == counts["unit"] == 0
