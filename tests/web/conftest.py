"""Fixtures of the console page tests: the synthetic case world with one login per role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gridgov.core import security
from gridgov.domains.areas import locate
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor, UserCreate
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.schemas import CaseSubmit
from tests.domains.cases.world import COMMUNITY_W_N, STREET_E, STREET_W, load_world, point

PASSWORD = "console-test-password"
LOGINS: dict[str, tuple[Role, str, str | None]] = {
    "street": (Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W),
    "handler": (Role.unit_handler, f"{STREET_W}-HWS", STREET_W),
    "gridworker": (Role.grid_worker, f"{COMMUNITY_W_N}-JWH", f"{COMMUNITY_W_N}001"),
    "leader": (Role.district_leader, "CENTRE", None),
    "admin": (Role.admin, "CENTRE", None),
    "eaststreet": (Role.street_dispatcher, f"{STREET_E}-CYZX", STREET_E),
    "auditor": (Role.auditor, "CENTRE", None),
}


@dataclass
class Console:
    """The world, its users by login name, and a case reported by the grid worker (auto-dispatched)."""

    db: Session
    users: dict[str, Actor]
    case: Case


@pytest.fixture(autouse=True)
def fast_hashing() -> Iterator[None]:
    security.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    try:
        yield
    finally:
        security.set_password_hasher(None)


@pytest.fixture
def console(db: Session) -> Console:
    locate.invalidate()
    load_world(db)
    users = {}
    system = Actor(name="test", role=Role.system)
    for username, (role, unit, scope) in LOGINS.items():
        user = auth_service.create_user(
            db=db,
            data=UserCreate(
                username=username, display_name=f"{username} 测试", role=role, unit=unit, scope=scope, password=PASSWORD
            ),
            actor=system,
        )
        users[username] = auth_service.actor_of(user)
    lng, lat = point()
    report = CaseSubmit(channel="patrol", matter_type="SJ0102", title="路边暴露垃圾", lng=lng, lat=lat)
    result = intake_service.submit(db=db, report=report, ctx=Context.of(users["gridworker"]))
    db.flush()
    return Console(db=db, users=users, case=result.case)


def login_form_token(client: TestClient) -> str:
    """Opens the login form (which sets the login CSRF cookie) and returns the token of its hidden field."""
    form = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert found, "the login form carries its CSRF token"
    return found.group(1)


def login(client: TestClient, username: str) -> str:
    """Logs `username` in through the form; returns the session's CSRF token read from the inbox page."""
    data = {"username": username, "password": PASSWORD, "next": "/inbox", "csrf_token": login_form_token(client)}
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get("/inbox")
    assert page.status_code == 200
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found, "the page carries the CSRF token"
    return found.group(1)
