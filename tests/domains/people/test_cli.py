"""Commit-level tests on a database of their own: the raw database bytes after an import, `gridgov people import`
with its row error report, and `gridgov keys rotate|check` (re-encryption, resumable, old data readable)."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

from gridgov import migrations
from gridgov.cli import app
from gridgov.config import DEV_PERSONAL_DATA_INDEX_KEY, DEV_PERSONAL_DATA_KEY
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.areas import service as area_service
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor, UserCreate
from gridgov.domains.people import privacy, service
from gridgov.domains.people.models import Resident
from gridgov.domains.people.schemas import SearchIn
from tests.domains.cases.world import load_world
from tests.domains.people.conftest import BUILDING_A, BUILDING_B, COMMUNITY, buildings
from tests.domains.people.helpers import (
    LI_ID,
    WANG_CHILD_ID,
    WANG_ID,
    WANG_PHONE,
    ZHANG_ID,
    ZHANG_PHONE,
    rows_west,
    workbook,
    wrong_check_digit,
)

runner = CliRunner()
SECRETS = (ZHANG_ID, LI_ID, WANG_ID, WANG_CHILD_ID, ZHANG_PHONE, WANG_PHONE)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@pytest.fixture
def fresh(cli_env, tmp_path):
    """A migrated database of the test's own with the synthetic district, buildings and a community secretary."""
    migrations.upgrade(cli_env)
    engine = create_db_engine(cli_env)
    locate.invalidate()
    with transaction(engine) as db:
        load_world(db)
        area_service.import_geojson(db=db, collection=buildings(), level=AreaLevel.building, source="buildings")
        auth_service.create_user(
            db=db,
            data=UserCreate(
                username="secretary",
                display_name="社区书记",
                role=Role.community_secretary,
                unit=f"{COMMUNITY}-JWH",
                scope=COMMUNITY,
            ),
            actor=Actor(name="test", role=Role.system),
        )
    locate.invalidate()
    try:
        yield engine
    finally:
        engine.dispose()
        privacy.set_keyring(None)


def import_west(tmp_path: Path) -> Path:
    path = tmp_path / "锦湖人口.xlsx"
    path.write_bytes(workbook(rows_west(BUILDING_A, BUILDING_B)))
    result = runner.invoke(app, ["people", "import", str(path), "--as", "secretary"])
    assert result.exit_code == 0, result.output
    assert "imported" in result.output
    return path


def raw_database_text(engine, url: str) -> bytes:
    """Everything the database holds, as stored: the SQLite files' bytes, or every row of every PostgreSQL table."""
    if engine.dialect.name == "sqlite":
        engine.dispose()
        database = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    chunks = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            rows = connection.execute(text(f'SELECT CAST(t AS text) FROM "{table}" t')).scalars()
            chunks.extend(row.encode() for row in rows)
    return b"\n".join(chunks)


def test_the_raw_database_holds_no_identity_number_or_phone_after_an_import(fresh, cli_env, tmp_path):
    import_west(tmp_path)
    raw = raw_database_text(fresh, cli_env)
    assert "张三".encode() in raw  # the scan does read the register's rows
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
        assert secret[:-1].encode() not in raw  # nor the first 17 digits


def test_blind_index_search_finds_the_imported_values(fresh, tmp_path):
    import_west(tmp_path)
    with transaction(fresh) as db:
        user = auth_service.get_user_by_username(db=db, username="secretary")
        ctx = service.Context(actor=auth_service.actor_of(user))
        assert [r.name for r in service.search(db=db, ctx=ctx, query=SearchIn(id_number=WANG_ID))] == ["王五"]
        assert [r.name for r in service.search(db=db, ctx=ctx, query=SearchIn(phone="138-0013-8000"))] == ["张三"]


def test_a_refused_import_exits_1_with_the_rows_and_writes_the_report(fresh, tmp_path):
    rows = rows_west(BUILDING_A, BUILDING_B)
    rows[1] = rows[1][:7] + (wrong_check_digit(rows[1][7]),) + rows[1][8:]
    path = tmp_path / "bad.xlsx"
    path.write_bytes(workbook(rows))
    report = tmp_path / "errors.xlsx"
    result = runner.invoke(app, ["people", "import", str(path), "--as", "secretary", "--report", str(report)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "nothing written" in output and "公民身份号码" in output and "check digit" in output
    sheet = load_workbook(io.BytesIO(report.read_bytes())).active
    assert [c.value for c in sheet[3]][:2] == [3, "公民身份号码"]
    with transaction(fresh, write=False) as db:
        assert db.scalar(select(Resident.id)) is None
    unknown = runner.invoke(app, ["people", "import", str(path), "--as", "nobody"])
    assert unknown.exit_code == 1 and "nobody" in unknown.output


def test_keys_rotate_re_encrypts_everything_and_old_data_still_reads(fresh, cli_env, tmp_path, monkeypatch):
    import_west(tmp_path)
    with transaction(fresh, write=False) as db:
        before = {r.id: (r.id_number_enc, r.phone_enc) for r in db.scalars(select(Resident))}
    assert all(v[0].startswith("dev:") for v in before.values())
    new_key = os.urandom(32)
    # The new key first (current), the old one kept: old values read, new ones are written with k2.
    monkeypatch.setenv("GRIDGOV_PERSONAL_DATA_KEYS", f"k2:{b64(new_key)},dev:{b64(DEV_PERSONAL_DATA_KEY)}")
    monkeypatch.setenv("GRIDGOV_PERSONAL_DATA_INDEX_KEY", b64(DEV_PERSONAL_DATA_INDEX_KEY))
    from gridgov.config import get_settings

    get_settings.cache_clear()
    checked = runner.invoke(app, ["keys", "check"])
    assert checked.exit_code == 0 and "still under an old key" in " ".join(checked.output.split())
    rotated = runner.invoke(app, ["keys", "rotate", "--batch", "2"])
    assert rotated.exit_code == 0, rotated.output
    assert "rotated to key 'k2'" in rotated.output and "id_number: 4 rewritten" in rotated.output
    with transaction(fresh, write=False) as db:
        after = {r.id: (r.id_number_enc, r.phone_enc) for r in db.scalars(select(Resident))}
    assert all(v[0].startswith("k2:") and (v[1] is None or v[1].startswith("k2:")) for v in after.values())
    assert all(after[i][0] != before[i][0] for i in before)
    # Only the new key left: everything still reads, and the register works as before.
    only_new = privacy.KeyRing(keys={"k2": new_key}, current="k2", index_key=DEV_PERSONAL_DATA_INDEX_KEY)
    assert privacy.check(engine=fresh, ring=only_new).ok
    privacy.set_keyring(only_new)
    with transaction(fresh, write=False) as db:
        zhang = db.scalars(select(Resident).where(Resident.name == "张三")).one()
        assert (
            privacy.reveal(zhang, privacy.ID_NUMBER) == ZHANG_ID and privacy.reveal(zhang, privacy.PHONE) == ZHANG_PHONE
        )
    again = runner.invoke(app, ["keys", "rotate"])
    assert again.exit_code == 0 and "id_number: 0 rewritten" in again.output  # nothing left to do


def test_a_rotation_stopped_half_way_resumes_and_a_missing_key_is_reported(fresh, tmp_path):
    import_west(tmp_path)
    old = privacy.keyring()
    ring = privacy.KeyRing(keys={"k2": os.urandom(32), **old.keys}, current="k2", index_key=old.index_key)

    class Stop(Exception):
        pass

    def stop_after_first_batch(report: privacy.RotationReport) -> None:
        raise Stop

    with pytest.raises(Stop):
        privacy.rotate(engine=fresh, ring=ring, batch_size=2, progress=stop_after_first_batch)
    halfway = privacy.check(engine=fresh, ring=ring)
    assert halfway.ok and halfway.by_key == {"k2": 2, "dev": 4}  # the first batch committed, the rest still old
    report = privacy.rotate(engine=fresh, ring=ring, batch_size=2)
    assert (report.reencrypted, report.changed_meanwhile) == (4, 0)
    assert privacy.check(engine=fresh, ring=ring).by_key == {"k2": 6}
    without_k2 = privacy.KeyRing(keys=old.keys, current=old.current, index_key=old.index_key)
    missing = privacy.check(engine=fresh, ring=without_k2)
    assert (
        not missing.ok and len(missing.failures) == 6 and "not in GRIDGOV_PERSONAL_DATA_KEYS" in missing.failures[0][2]
    )
    with pytest.raises(privacy.KeyError_):
        privacy.rotate(engine=fresh, ring=without_k2)


def test_a_new_index_key_needs_a_reindex_and_search_works_after_it(fresh, tmp_path):
    import_west(tmp_path)
    old = privacy.keyring()
    ring = privacy.KeyRing(keys=old.keys, current=old.current, index_key=os.urandom(32))
    stale = privacy.check(engine=fresh, ring=ring)
    assert stale.stale_indexes == 6 and not stale.ok
    report = privacy.rotate(engine=fresh, ring=ring, reindex=True)
    assert (report.reindexed, report.reencrypted) == (6, 0)
    assert privacy.check(engine=fresh, ring=ring).ok
    privacy.set_keyring(ring)
    with transaction(fresh) as db:
        user = auth_service.get_user_by_username(db=db, username="secretary")
        ctx = service.Context(actor=auth_service.actor_of(user))
        assert [r.name for r in service.search(db=db, ctx=ctx, query=SearchIn(id_number=ZHANG_ID))] == ["张三"]


def test_tags_commands(fresh):
    added = runner.invoke(app, ["people", "tags", "add", "flood_risk", "防汛重点户", "--sensitivity", "internal"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["people", "tags", "list"])
    assert "flood_risk" in listed.output and "severe_mental" in listed.output
    again = runner.invoke(app, ["people", "tags", "add", "flood_risk", "防汛", "--sensitivity", "internal"])
    assert again.exit_code == 1 and "exists already" in again.output
    assert runner.invoke(app, ["people", "tags", "retire", "flood_risk"]).exit_code == 0
    assert "0 shipped tag(s) added" in runner.invoke(app, ["people", "tags", "sync"]).output
    key = runner.invoke(app, ["keys", "generate"]).output.strip()
    assert len(base64.b64decode(key)) == 32
