"""A campaign's bulletin (专项督查通报) over HTTP and from the /evaluation page: its cases only, in the caller's
district or street, by default over the campaign's own dates, stored and audited like the period bulletins."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.evaluation import bulletins, campaigns
from gridgov.domains.evaluation.api import bulletin_transactions
from gridgov.domains.evaluation.enums import Dimension
from gridgov.domains.evaluation.models import Bulletin, Campaign
from gridgov.domains.evaluation.schemas import CampaignCreate
from tests.domains.cases.test_api import DISTRICT_DISPATCHER, GRID_WORKER, LEADER, STREET_DISPATCHER, Who
from tests.domains.cases.world import COMMUNITY_W_N, STREET_E, STREET_W
from tests.domains.evaluation.bulletin_world import build_november
from tests.domains.evaluation.campaign_world import local, sql_counts  # noqa: F401 - counts with the sql engine
from tests.domains.evaluation.test_dashboard_pages import _restore, desk  # noqa: F401 - the page's world
from tests.web.conftest import login

SECRETARY = Who("secretary", Role.community_secretary, f"{COMMUNITY_W_N}-JWH", COMMUNITY_W_N, "社区书记")
CODE = "garbage-2026-11"


def url(code: str = CODE) -> str:
    return f"/api/v1/evaluation/campaigns/{code}/bulletins"


def join_test_transaction(app, db: Session) -> None:
    """Makes the bulletin routes' own short transactions savepoints of the test's transaction."""

    @contextmanager
    def join(_write: bool) -> Iterator[Session]:
        with db.begin_nested():
            yield db

    app.dependency_overrides[bulletin_transactions] = lambda: join


@pytest.fixture
def drive(api, app, db, world, now):
    """The November world (five west cases, one east, one in October) and a district-wide campaign on 暴露垃圾
    from 11-01 to 12-01, created on 11-26 (its cases: the six of November); the API counts with the sql engine."""
    app.state.settings = app.state.settings.model_copy(update={"evaluation_engine": "sql"})
    join_test_transaction(app, db)
    SECRETARY.enrol(db)
    build_november(db, world)
    now[0] = local(26, 16)
    boss = auth_service.actor_of(auth_service.get_user_by_username(db=db, username=LEADER.username))
    campaigns.create(
        db=db,
        data=CampaignCreate(
            code=CODE,
            name="暴露垃圾专项整治",
            matter_type_codes=["SJ0102"],
            starts_at=local(1, 0),
            ends_at=local(1, 0, month=12),
        ),
        actor=boss,
        now=now[0],
    )
    db.flush()
    return api


def received(data: bytes) -> int:
    """Returns 受理数 of a bulletin's XLSX (its headline figures' sheet)."""
    book = load_workbook(io.BytesIO(data))
    sheet = next(book[name] for name in book.sheetnames if "主要指标" in name)
    row = next(row for row in sheet.iter_rows(values_only=True) if row and "受理数" in row)
    return int(row[row.index("受理数") + 1])


def test_a_district_user_generates_the_campaigns_bulletin_over_its_dates(drive, db):
    created = drive.post(url(), json={}, headers=LEADER)
    assert created.status_code == 201, created.text
    xlsx, html = created.json()
    assert (xlsx["format"], html["format"]) == ("xlsx", "html")
    assert xlsx["scope"] == f"campaign:{CODE}" and xlsx["period"] == "2026-11-01..2026-11-26"  # first day to today
    campaign_id = db.scalars(select(Campaign.id).where(Campaign.code == CODE)).one()
    assert (
        xlsx["campaign_id"] == campaign_id
        and xlsx["filename"] == f"bulletin-2026-11-01..2026-11-26-campaign-{CODE}.xlsx"
    )

    download = drive.get(xlsx["url"], headers=LEADER)
    assert download.status_code == 200 and received(download.content) == 6  # November's six, not October's
    page = drive.get(html["url"], headers=LEADER).text
    assert "专项督查“暴露垃圾专项整治”2026年11月1日至2026年11月26日网格化服务管理工作通报" in page

    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "bulletin.generate")).one()
    assert audit.detail["scope"] == f"campaign:{CODE}" and audit.detail["period"] == "2026-11-01..2026-11-26"

    again = drive.post(url(), json={"period": "2026-11-01..2026-11-26", "formats": ["xlsx"]}, headers=LEADER).json()
    assert again[0]["id"] == xlsx["id"]  # generating again replaces the stored file
    month = drive.post(url(), json={"period": "2026-11", "formats": ["xlsx"]}, headers=DISTRICT_DISPATCHER).json()
    assert month[0]["period"] == "2026-11" and month[0]["id"] != xlsx["id"]


def test_a_street_user_gets_the_campaigns_cases_in_its_street_only(drive):
    refused = drive.post(url(), json={}, headers=STREET_DISPATCHER)  # ranking streets: not below a street
    assert refused.status_code == 422 and "ranks what lies below it" in refused.json()["message"]
    own = drive.post(url(), json={"level": "community", "formats": ["xlsx"]}, headers=STREET_DISPATCHER)
    assert own.status_code == 201, own.text
    street = own.json()[0]
    assert street["scope"] == f"campaign:{CODE}@{STREET_W}"
    assert street["filename"] == f"bulletin-2026-11-01..2026-11-26-campaign-{CODE}-{STREET_W}.xlsx"
    assert received(drive.get(street["url"], headers=STREET_DISPATCHER).content) == 5  # the east case left out

    district = drive.post(url(), json={"formats": ["xlsx"]}, headers=LEADER).json()[0]
    assert [b["id"] for b in drive.get("/api/v1/evaluation/bulletins", headers=STREET_DISPATCHER).json()] == [
        street["id"]
    ]
    assert drive.get(district["url"], headers=STREET_DISPATCHER).status_code == 404
    assert {b["id"] for b in drive.get("/api/v1/evaluation/bulletins", headers=LEADER).json()} == {
        street["id"],
        district["id"],
    }


def test_who_may_not_and_what_bad_input_gets(drive, monkeypatch):
    assert drive.post(url(), json={}, headers=GRID_WORKER).status_code == 403  # no evaluation.view
    below = drive.post(url(), json={"level": "grid"}, headers=SECRETARY)
    assert below.status_code == 403 and "bulletins are made for the district or a street" in below.json()["message"]
    assert drive.post(url("nope"), json={}, headers=LEADER).status_code == 404
    bad = drive.post(url(), json={"period": "2026-13"}, headers=LEADER)
    assert bad.status_code == 422 and "bad period '2026-13'" in bad.json()["message"]
    bad = drive.post(url(), json={"formats": ["docx"]}, headers=LEADER)
    assert bad.status_code == 422 and "unknown bulletin format 'docx'" in bad.json()["message"]
    assert drive.post(url(), json={"scope": "x"}, headers=LEADER).status_code == 422  # unknown field
    monkeypatch.setenv("GRIDGOV_CHROMIUM_PATH", "/nonexistent/chromium")
    bulletins.get_settings.cache_clear()
    try:
        pdf = drive.post(url(), json={"formats": ["pdf"]}, headers=LEADER)
    finally:
        monkeypatch.delenv("GRIDGOV_CHROMIUM_PATH")
        bulletins.get_settings.cache_clear()
    assert pdf.status_code == 503 and "Chromium not found" in pdf.json()["message"]
    empty = drive.post(url(), json={"period": "2025-01", "formats": ["html"]}, headers=LEADER)
    assert empty.status_code == 201 and "本期无数据" in drive.get(empty.json()[0]["url"], headers=LEADER).text


def test_a_long_campaign_code_still_fits_the_stored_scope(db, world):
    long = Campaign(code="c" * 64, name="x", starts_at=local(1, 0), ends_at=local(2, 0))
    other = Campaign(code="c" * 63 + "d", name="y", starts_at=local(1, 0), ends_at=local(2, 0))
    street = world.area(STREET_E)
    keys = {
        bulletins.scope_key(Dimension.community, area, campaign)
        for campaign in (long, other)
        for area in (None, street)
    }
    assert len(keys) == 4 and all(len(key) <= bulletins.SCOPE_LENGTH for key in keys)
    assert {key.rsplit("@", 1)[-1] for key in keys if "@" in key} == {STREET_E}
    assert bulletins.scope_key(Dimension.street, None, Campaign(code="zz")) == "campaign:zz"
    assert bulletins.scope_key(Dimension.community, street) == f"community@{STREET_E}"


# --- the button on the /evaluation page ----------------------------------------------------------------------


@pytest.fixture
def page(client: TestClient, app, db: Session, desk) -> TestClient:  # noqa: F811 - the page's world
    join_test_transaction(app, db)
    return client


def csrf(text: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', text)
    assert found
    return found.group(1)


@pytest.mark.usefixtures("sql_counts")
def test_the_campaign_row_generates_its_bulletin_and_sends_the_file(page: TestClient, db: Session) -> None:
    login(page, "centre")
    text = page.get("/evaluation").text
    row = text.split('id="campaign-garbage"')[1].split("</tr>")[0]
    assert 'action="/evaluation/campaigns/garbage/bulletin"' in row and '<option value="xlsx">XLSX</option>' in row

    sent = page.post(
        "/evaluation/campaigns/garbage/bulletin",
        data={"format": "html", "csrf_token": csrf(text)},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    stored = db.scalars(select(Bulletin).where(Bulletin.scope == "campaign:garbage")).one()
    assert sent.headers["location"] == f"/api/v1/evaluation/bulletins/{stored.id}"
    assert stored.period == "2026-11-01..2026-11-25" and stored.format == "html"
    download = page.get(sent.headers["location"])
    assert download.status_code == 200 and "专项督查“暴露垃圾专项整治”" in download.text
    assert "街道排名" in download.text  # a district user's bulletin ranks the streets

    bad = page.post("/evaluation/campaigns/garbage/bulletin", data={"format": "docx", "csrf_token": csrf(text)})
    assert bad.status_code == 422
    row = bad.text.split('id="campaign-garbage"')[1].split("</tr>")[0]
    assert "unknown bulletin format &#39;docx&#39;" in row or "unknown bulletin format 'docx'" in row
    forged = page.post("/evaluation/campaigns/garbage/bulletin", data={"format": "html"}, follow_redirects=False)
    assert forged.status_code == 403  # no CSRF token


@pytest.mark.usefixtures("sql_counts")
def test_a_street_user_gets_its_streets_campaign_bulletin_and_a_grid_worker_nothing(
    page: TestClient, db: Session
) -> None:
    login(page, "street")
    text = page.get("/evaluation").text
    sent = page.post(
        "/evaluation/campaigns/garbage/bulletin",
        data={"format": "xlsx", "csrf_token": csrf(text)},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    stored = db.scalars(select(Bulletin).where(Bulletin.campaign_id.is_not(None))).one()
    assert stored.scope == f"campaign:garbage@{STREET_W}"
    assert "社区排名" in load_workbook(io.BytesIO(page.get(sent.headers["location"]).content)).sheetnames[2]

    page.cookies.clear()
    login(page, "gridworker")
    assert page.get("/evaluation").status_code == 403
    token = csrf(page.get("/inbox").text)
    refused = page.post("/evaluation/campaigns/garbage/bulletin", data={"format": "xlsx", "csrf_token": token})
    assert refused.status_code == 403
