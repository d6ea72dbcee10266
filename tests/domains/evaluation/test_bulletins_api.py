"""Bulletins and ledgers through HTTP: who may generate and download which bulletin, the file downloads, the
ledger's export permission, token scope, filters, cap and audit; and the `gridgov report` commands."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from click.testing import Result
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gridgov.cli import app as cli_app
from gridgov.core import db as core_db
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.evaluation import ledgers
from gridgov.domains.evaluation.api import bulletin_transactions
from tests.domains.cases.test_api import GRID_WORKER, LEADER, STREET_DISPATCHER, STREET_DISPATCHER_E, Who
from tests.domains.cases.world import COMMUNITY_W_N, STREET_E, STREET_W
from tests.domains.evaluation.bulletin_world import CONTACT_PHONE, build_november, commit_november, user

BULLETINS = "/api/v1/evaluation/bulletins"
LEDGER = "/api/v1/evaluation/ledger.xlsx"
EXPORTER = Who("exporter", Role.district_leader, "CENTRE", None, "区领导乙")  # a token with the exports scope
SECRETARY = Who("secretary", Role.community_secretary, f"{COMMUNITY_W_N}-JWH", COMMUNITY_W_N, "社区书记")
runner = CliRunner()


@pytest.fixture
def evaluation(api, app, db, world):
    """The API on the bulletin world, counting with the sql engine (the test's data is not committed), the
    bulletin and ledger routes' own transactions joining the test's."""
    app.state.settings = app.state.settings.model_copy(update={"evaluation_engine": "sql"})

    @contextmanager
    def join(_write: bool) -> Iterator[Session]:
        with db.begin_nested():
            yield db

    app.dependency_overrides[bulletin_transactions] = lambda: join
    EXPORTER.enrol(db, scopes=("cases:read", "exports"))
    SECRETARY.enrol(db, scopes=("cases:read", "exports"))
    build_november(db, world)
    return api


def test_a_district_user_generates_lists_and_downloads_the_bulletin(evaluation):
    created = evaluation.post(BULLETINS, json={"period": "2026-11", "level": "street"}, headers=LEADER)
    assert created.status_code == 201, created.text
    xlsx, html = created.json()
    assert (xlsx["scope"], xlsx["format"], html["format"]) == ("street", "xlsx", "html")
    assert xlsx["url"] == f"{BULLETINS}/{xlsx['id']}" and xlsx["generated_by_user_id"] == LEADER.user_id

    listed = evaluation.get(BULLETINS, headers=LEADER).json()
    assert {b["id"] for b in listed} == {xlsx["id"], html["id"]}
    download = evaluation.get(xlsx["url"], headers=LEADER)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert download.headers["content-disposition"].startswith('attachment; filename="bulletin-2026-11-street.xlsx"')
    ranking = load_workbook(io.BytesIO(download.content))["街道排名"]
    assert [row[1].value for row in ranking.iter_rows(min_row=5)] == ["经八路街道", "花园路街道"]
    page = evaluation.get(html["url"], headers=LEADER)
    assert page.headers["content-type"].startswith("text/html") and "样本不足" in page.text

    again = evaluation.post(BULLETINS, json={"period": "2026-11", "formats": ["html"]}, headers=LEADER).json()
    assert again[0]["id"] == html["id"]  # regenerating replaces the stored file


def test_a_street_user_gets_its_own_street_only(evaluation):
    refused = evaluation.post(BULLETINS, json={"period": "2026-11", "level": "street"}, headers=STREET_DISPATCHER_E)
    assert refused.status_code == 422 and "ranks what lies below it" in refused.json()["message"]
    own = evaluation.post(BULLETINS, json={"period": "2026-11", "level": "community"}, headers=STREET_DISPATCHER_E)
    assert own.status_code == 201, own.text
    assert {b["scope"] for b in own.json()} == {f"community@{STREET_E}"}
    district = evaluation.post(BULLETINS, json={"period": "2026-11", "formats": ["xlsx"]}, headers=LEADER).json()[0]

    assert {b["scope"] for b in evaluation.get(BULLETINS, headers=STREET_DISPATCHER_E).json()} == {
        f"community@{STREET_E}"
    }
    assert evaluation.get(BULLETINS, headers=STREET_DISPATCHER).json() == []  # the west street has none
    assert evaluation.get(district["url"], headers=STREET_DISPATCHER_E).status_code == 404
    html = evaluation.get(own.json()[1]["url"], headers=STREET_DISPATCHER_E).text
    assert "花园路街道2026年11月" in html and "经八路" not in html


def test_who_may_not_generate_and_what_bad_input_gets(evaluation):
    assert evaluation.post(BULLETINS, json={"period": "2026-11"}, headers=GRID_WORKER).status_code == 403
    below = evaluation.post(BULLETINS, json={"period": "2026-11", "level": "grid"}, headers=SECRETARY)
    assert below.status_code == 403 and "bulletins are made for the district or a street" in below.json()["message"]
    bad = evaluation.post(BULLETINS, json={"period": "2026-13"}, headers=LEADER)
    assert bad.status_code == 422 and "bad period '2026-13'" in bad.json()["message"]
    bad = evaluation.post(BULLETINS, json={"period": "2026-11", "formats": ["docx"]}, headers=LEADER)
    assert bad.status_code == 422 and "unknown bulletin format 'docx'" in bad.json()["message"]
    for period in ("0001", "1900"):  # no UTC instant for year 1's local midnight; no period before 1900
        bad = evaluation.post(BULLETINS, json={"period": period, "formats": ["html"]}, headers=LEADER)
        assert bad.status_code == 422 and "years 1900–9998" in bad.json()["message"], period
    empty = evaluation.post(BULLETINS, json={"period": "2024-02", "formats": ["html"]}, headers=LEADER)
    assert empty.status_code == 201
    assert "本期无数据" in evaluation.get(empty.json()[0]["url"], headers=LEADER).text
    assert evaluation.get(f"{BULLETINS}/999999", headers=LEADER).status_code == 404


def test_the_ledger_download_is_watermarked_scoped_and_audited(evaluation, db):
    refused = evaluation.get(LEDGER, headers=LEADER)  # the leader's token lacks the exports scope
    assert refused.status_code == 403 and "exports" in refused.json()["detail"]
    assert evaluation.get(LEDGER, headers=GRID_WORKER).status_code == 403

    response = evaluation.get(LEDGER, params={"period": "2026-11", "area": STREET_W}, headers=EXPORTER)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith('attachment; filename="ledger-2026-11.xlsx"')
    sheet = load_workbook(io.BytesIO(response.content))[ledgers.SHEET]
    assert sheet["A1"].value.startswith(f"导出人 区领导乙（#{EXPORTER.user_id}） · ")
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=4)]
    assert len(rows) == 5 and all(row[7] == "经八路街道" for row in rows)
    assert CONTACT_PHONE not in response.content.decode("latin-1")
    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "ledger.export")).one()
    assert audit.detail["filters"] == {"period": "2026-11", "area": STREET_W} and audit.detail["rows"] == 5

    community = evaluation.get(LEDGER, headers=SECRETARY)  # a community secretary: only the community's cases
    assert community.status_code == 200
    numbers = [r[0].value for r in load_workbook(io.BytesIO(community.content))[ledgers.SHEET].iter_rows(min_row=4)]
    assert len(numbers) == 6  # the west community holds every west case (October's too), not the east one

    bad = evaluation.get(LEDGER, params={"unit": "NOPE", "from": "2026-11-01"}, headers=EXPORTER)
    assert bad.status_code == 422 and "give both from and to" in bad.json()["message"]
    bad = evaluation.get(LEDGER, params={"unit": "NOPE"}, headers=EXPORTER)
    assert bad.status_code == 422 and bad.json()["issues"][0]["field"] == "unit"
    bad = evaluation.get(LEDGER, params={"from": "0001-01-01", "to": "0001-01-02"}, headers=EXPORTER)
    assert bad.status_code == 422 and "years 1900–9998" in bad.json()["message"]


def test_the_ledger_above_the_cap_is_422(evaluation, monkeypatch):
    monkeypatch.setattr(ledgers, "MAX_ROWS", 2)
    response = evaluation.get(LEDGER, headers=EXPORTER)
    assert response.status_code == 422 and "a ledger holds at most 2: narrow the filters" in str(response.json())


# --- the commands -----------------------------------------------------------------------------------------------


def test_report_bulletin_and_ledger_write_files_and_say_what_they_wrote(cli_env, tmp_path):
    commit_november(cli_env)
    engine = create_db_engine(cli_env)
    try:
        with transaction(engine) as db:
            user(db, "leader", Role.district_leader, "CENTRE", None, "区领导")
    finally:
        engine.dispose()

    def report(*args: str) -> Result:
        return runner.invoke(cli_app, ["report", *args])

    out = tmp_path / "通报.xlsx"
    result = report("bulletin", "--period", "2026-11", "--level", "street", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert re.search(
        r"wrote .*通报\.xlsx \(xlsx, [\d,]+ bytes\): 金水区2026年11月网格化服务管理工作通报", result.output
    )
    assert "街道排名 1 ranked, 1 样本不足" in result.output
    assert load_workbook(out).sheetnames[0] == "说明"
    html = tmp_path / "b.html"
    result = report("bulletin", "--period", "2026-11", "--level", "community", "--scope", STREET_W, "--out", str(html))
    assert result.exit_code == 0, result.output
    assert "经八路街道2026年11月" in html.read_text(encoding="utf-8")

    bad = report("bulletin", "--period", "2026-11", "--out", str(tmp_path / "b.docx"))
    assert bad.exit_code == 1 and "the suffix names the format" in bad.output
    bad = report("bulletin", "--period", "11/2026", "--out", str(out))
    assert bad.exit_code == 1 and "bad period '11/2026'" in bad.output

    ledger = tmp_path / "台账.xlsx"
    result = report("ledger", "--user", "leader", "--out", str(ledger), "--from", "2026-11-01", "--to", "2026-11-30")
    assert result.exit_code == 0, result.output
    assert re.search(r"wrote .*台账\.xlsx: 6 case\(s\), [\d,]+ bytes; 导出人 区领导（#\d+） · 2\d{3}-", result.output)
    assert load_workbook(ledger)[ledgers.SHEET]["A1"].value.startswith("导出人 区领导")
    result = report("ledger", "--user", "leader", "--out", str(ledger), "--overdue", "--area", STREET_E)
    assert result.exit_code == 0 and ": 0 case(s)" in result.output
    bad = report("ledger", "--user", "leader", "--out", str(ledger), "--stage", "lost")
    assert bad.exit_code == 1 and "--stage" in bad.output
    bad = report("ledger", "--user", "nobody", "--out", str(ledger))
    assert bad.exit_code == 1 and "user 'nobody' not found" in bad.output


def test_a_ledger_whose_audit_entry_is_not_committed_is_not_left_on_disk(cli_env, tmp_path, monkeypatch):
    commit_november(cli_env)
    engine = create_db_engine(cli_env)
    try:
        with transaction(engine) as db:
            user(db, "leader", Role.district_leader, "CENTRE", None, "区领导")
    finally:
        engine.dispose()
    real = core_db.transaction

    @contextmanager
    def commit_fails(engine=None, *, write=True):
        with real(engine, write=write) as session:
            yield session
            if write:  # the audit entry's transaction does not commit (disk full, database locked ...)
                raise RuntimeError("commit failed")

    monkeypatch.setattr(core_db, "transaction", commit_fails)
    ledger = tmp_path / "out" / "台账.xlsx"
    result = runner.invoke(cli_app, ["report", "ledger", "--user", "leader", "--out", str(ledger)])
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    # no audit entry, so no watermarked file either (nor a half-written one beside it)
    assert not ledger.parent.exists() or list(ledger.parent.iterdir()) == []
    monkeypatch.undo()
    engine = create_db_engine(cli_env)
    try:
        with transaction(engine, write=False) as db:
            assert db.scalars(select(AuditEntry).where(AuditEntry.action == "ledger.export")).first() is None
    finally:
        engine.dispose()
