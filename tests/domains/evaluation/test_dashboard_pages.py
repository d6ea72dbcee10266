"""The console page /evaluation: ranking of the user's level (not-ranked rows marked), headline figures,
campaigns with their progress, bulletin links; the navigation link; refused to a grid worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gridgov.core import security
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, UserCreate
from gridgov.domains.evaluation import campaigns, dashboard
from gridgov.domains.evaluation.enums import BulletinFormat
from gridgov.domains.evaluation.models import Bulletin
from gridgov.domains.evaluation.schemas import CampaignCreate
from tests.domains.cases.world import COMMUNITY_W_N, STREET_W, World
from tests.domains.evaluation.campaign_world import close, local, report, sql_counts  # noqa: F401
from tests.web.conftest import PASSWORD, login

NOW = local(25, 16)
PEOPLE = {
    "centre": (Role.district_dispatcher, "CENTRE", None),
    "street": (Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W),
    "gridworker": (Role.grid_worker, f"{COMMUNITY_W_N}-JWH", f"{COMMUNITY_W_N}001"),
}


@pytest.fixture
def desk(db: Session, world: World, now) -> World:
    """Users who log in with a password, a few cases this month and last, a campaign and two bulletins."""
    now[0] = NOW
    dashboard.clear_cache()
    security.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    users = {}
    for username, (role, unit, scope) in PEOPLE.items():
        data = UserCreate(
            username=username, display_name=username, role=role, unit=unit, scope=scope, password=PASSWORD
        )
        users[username] = auth_service.create_user(db=db, data=data, actor=SYSTEM_ACTOR)
    db.flush()
    for day in (2, 3):
        case = report(db, world, at=local(day, 9))
        close(db, world, case, finished=local(day, 10), verified=local(day, 10, 30))
    last_month = report(db, world, at=local(20, 9, month=10))
    close(db, world, last_month, finished=local(21, 9, month=10), verified=local(21, 10, month=10))
    report(db, world, at=local(24, 9))  # open, overdue
    campaigns.create(
        db=db,
        data=CampaignCreate(
            code="garbage",
            name="暴露垃圾专项整治",
            matter_type_codes=["SJ0102"],
            starts_at=local(1, 0),
            ends_at=local(1, 0, month=12),
            targets={"closure_rate": 0.9},
        ),
        actor=auth_service.actor_of(users["centre"]),
        now=NOW,
    )
    for scope in ("street", f"community@{STREET_W}"):
        db.add(
            Bulletin(
                period="2026-10",
                scope=scope,
                format=BulletinFormat.xlsx,
                filename=f"bulletin-2026-10-{scope.replace('@', '-')}.xlsx",
                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                sha256="0" * 64,
                size_bytes=4,
                data=b"PK..",
            )
        )
    db.flush()
    return world


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    security.set_password_hasher(None)
    dashboard.clear_cache()


@pytest.mark.usefixtures("sql_counts")
def test_the_page_shows_the_ranking_figures_campaigns_and_bulletins(client: TestClient, desk: World) -> None:
    login(client, "centre")
    assert 'href="/evaluation"' in client.get("/inbox").text  # the navigation offers it
    page = client.get("/evaluation")
    assert page.status_code == 200, page.text
    text = page.text
    assert "2026-11" in text
    # the ranking of the streets: both listed, not ranked (a handful of cases), and marked so
    assert f'id="rank-{STREET_W}"' in text and 'class="not-ranked"' in text
    assert "too few cases" in text or "样本不足" in text
    # headline figures: three cases received this month (two on the 2nd and 3rd, one on the 24th), one last month
    assert 'id="headline-received"' in text
    received = text.split('id="headline-received"')[1].split("</tr>")[0]
    assert ">3<" in received and ">1<" in received and "+2" in received
    # the campaign with its target
    assert 'id="campaign-garbage"' in text and "暴露垃圾专项整治" in text
    campaign = text.split('id="campaign-garbage"')[1].split("</tr>")[0]
    assert "90.00%" in campaign
    # the district-wide bulletin, not the street's
    assert "bulletin-2026-10-street.xlsx" in text and "community-410105001" not in text


@pytest.mark.usefixtures("sql_counts")
def test_a_street_dispatcher_sees_its_communities_and_its_bulletin(client: TestClient, desk: World) -> None:
    login(client, "street")
    page = client.get("/evaluation")
    assert page.status_code == 200, page.text
    assert f'id="rank-{STREET_W}001"' in page.text and f'id="rank-{STREET_W}"' not in page.text
    assert "bulletin-2026-10-community-410105001.xlsx" in page.text
    assert "bulletin-2026-10-street.xlsx" not in page.text


def test_a_grid_worker_is_refused_and_a_visitor_sent_to_log_in(client: TestClient, desk: World) -> None:
    assert client.get("/evaluation", follow_redirects=False).status_code == 303
    login(client, "gridworker")
    assert 'href="/evaluation"' not in client.get("/inbox").text
    assert client.get("/evaluation").status_code == 403
