"""The hotspot page (/hotspots): the ranked list with member links, and its two buttons with CSRF."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import security
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor, UserCreate
from gridgov.domains.cases.models import Case
from gridgov.domains.triage import service as triage_service
from gridgov.domains.triage.models import Hotspot
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import COMMUNITY_W_N, STREET_E, STREET_W, World
from tests.domains.triage import hotspot_cases
from tests.domains.triage.test_hotspots_scope import mixed
from tests.web.conftest import PASSWORD, login

PEOPLE = {
    "street": (Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W),
    "eaststreet": (Role.street_dispatcher, f"{STREET_E}-CYZX", STREET_E),
    "gridworker": (Role.grid_worker, f"{COMMUNITY_W_N}-JWH", f"{COMMUNITY_W_N}001"),
}


@pytest.fixture
def desk(db: Session, world: World) -> dict[str, Hotspot]:
    """Users who log in with a password, and the two refreshed hotspots of the synthetic district."""
    security.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    system = Actor(name="test", role=Role.system)
    for username, (role, unit, scope) in PEOPLE.items():
        data = UserCreate(
            username=username, display_name=username, role=role, unit=unit, scope=scope, password=PASSWORD
        )
        auth_service.create_user(db=db, data=data, actor=system)
    history = hotspot_cases.two_streets(db, world, T0)
    triage_service.refresh(db=db, now=T0)
    stored = {frozenset(h.member_case_ids): h for h in db.scalars(select(Hotspot))}
    return {key: stored[frozenset(c.id for c in history[key])] for key in ("garbage", "stalls")}


@pytest.fixture(autouse=True)
def _restore_hasher() -> Iterator[None]:
    yield
    security.set_password_hasher(None)


def test_the_page_lists_the_streets_hotspots_with_their_members(client: TestClient, db: Session, desk) -> None:
    garbage, stalls = desk["garbage"], desk["stalls"]
    login(client, "street")
    inbox = client.get("/inbox")
    assert 'href="/hotspots"' in inbox.text  # the navigation offers the page to a dispatcher
    page = client.get("/hotspots")
    assert page.status_code == 200
    assert f'id="hotspot-{garbage.id}"' in page.text and f'id="hotspot-{stalls.id}"' not in page.text
    for case in db.scalars(select(Case).where(Case.id.in_(garbage.member_case_ids))):
        assert f'href="/cases/{case.id}"' in page.text and case.number in page.text
    assert all(word in page.text for word in garbage.keywords)
    assert f'action="/hotspots/{garbage.id}/case"' in page.text
    assert f'formaction="/hotspots/{garbage.id}/dismiss"' in page.text


def test_the_buttons_make_a_case_and_dismiss(client: TestClient, db: Session, desk) -> None:
    garbage = desk["garbage"]
    token = login(client, "street")
    refused = client.post(f"/hotspots/{garbage.id}/case", data={"note": "x"}, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token
    made = client.post(
        f"/hotspots/{garbage.id}/case", data={"csrf_token": token, "note": "限期整改"}, follow_redirects=False
    )
    assert made.status_code == 303, made.text
    db.refresh(garbage)
    assert garbage.status == "escalated" and made.headers["location"] == f"/cases/{garbage.case_id}"
    again = client.post(f"/hotspots/{garbage.id}/dismiss", data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 422 and "already escalated" in again.text
    escalated = client.get("/hotspots?status=escalated")
    assert f'href="/cases/{garbage.case_id}"' in escalated.text


def test_a_grid_worker_gets_the_not_allowed_page(client: TestClient, desk) -> None:
    login(client, "gridworker")
    assert 'href="/hotspots"' not in client.get("/inbox").text
    assert client.get("/hotspots").status_code == 403


def test_dismissing_from_the_page(client: TestClient, db: Session, desk) -> None:
    garbage = desk["garbage"]
    token = login(client, "street")
    done = client.post(
        f"/hotspots/{garbage.id}/dismiss", data={"csrf_token": token, "note": "已纳入整治"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/hotspots"
    db.refresh(garbage)
    assert garbage.status == "dismissed" and garbage.details["decision"]["note"] == "已纳入整治"
    assert f'id="hotspot-{garbage.id}"' not in client.get("/hotspots").text
    assert f'id="hotspot-{garbage.id}"' in client.get("/hotspots?status=dismissed").text


@pytest.fixture
def people(db: Session) -> None:
    """Users who log in with a password (and no hotspots yet)."""
    security.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    system = Actor(name="test", role=Role.system)
    for username, (role, unit, scope) in PEOPLE.items():
        data = UserCreate(
            username=username, display_name=username, role=role, unit=unit, scope=scope, password=PASSWORD
        )
        auth_service.create_user(db=db, data=data, actor=system)


def test_the_page_shows_each_street_its_own_members_of_a_two_street_hotspot(
    client: TestClient, db: Session, world: World, people
) -> None:
    hotspot, west, east = mixed(db, world)
    hotspot.details = {**hotspot.details, "title_case_id": west[0].id}  # the title quotes a west report
    db.flush()
    keywords = "、".join(hotspot.keywords)
    for username, own, other, title in (("street", west, east, hotspot.title), ("eaststreet", east, west, None)):
        login(client, username)
        page = client.get("/hotspots")
        assert page.status_code == 200 and f'id="hotspot-{hotspot.id}"' in page.text, username
        assert all(f'href="/cases/{c.id}"' in page.text and c.number in page.text for c in own)
        assert not any(f'href="/cases/{c.id}"' in page.text or c.number in page.text for c in other)
        row = page.text.split(f'id="hotspot-{hotspot.id}"', 1)[1].split("</tr>", 1)[0]
        if title is not None:
            assert f"<strong>{title}</strong>" in row
        else:
            assert f"<strong>{keywords}</strong>" in row and hotspot.title not in page.text
        client.cookies.clear()
