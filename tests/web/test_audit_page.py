"""The auditor's audit log page, and the double-submit CSRF token of the login form."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import AuditAction, AuditOutcome
from gridgov.domains.auth.models import AuditEntry, User
from gridgov.domains.auth.schemas import AuditRecord
from tests.web.conftest import PASSWORD, Console, login, login_form_token


def rows(html: str) -> list[int]:
    return [int(v) for v in re.findall(r'data-entry="(\d+)"', html)]


def entries(console: Console, action: str) -> list[AuditEntry]:
    return list(console.db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_auditor_reads_and_filters_the_log(client: TestClient, console: Console) -> None:
    login(client, "street")
    client.cookies.clear()
    login(client, "auditor")
    page = client.get("/audit")
    assert page.status_code == 200
    assert 'href="/audit"' in page.text and "审计日志" in page.text  # the menu link, in Chinese by default
    assert "auth.login" in page.text and "user.create" in page.text
    ids = rows(page.text)
    assert ids and ids == sorted(ids, reverse=True)  # newest first

    by_street = client.get("/audit?actor=street").text
    street_id = console.users["street"].user_id
    street_logins = [e.id for e in entries(console, "auth.login") if e.actor_user_id == street_id]
    assert street_logins and set(rows(by_street)) == set(street_logins)

    created = client.get("/audit?action=user.create").text
    assert len(rows(created)) == len(entries(console, "user.create")) and "auth.login" not in created
    target = rows(client.get(f"/audit?target=user:{street_id}").text)
    about_street = console.db.scalars(
        select(AuditEntry.id)
        .where(AuditEntry.target_type == "user", AuditEntry.target_id == str(street_id))
        .order_by(AuditEntry.id.desc())
    )
    assert len(target) >= 2 and target == list(about_street)  # created, then logged in
    assert rows(client.get("/audit?q=eaststreet&action=user.create").text) == [
        e.id for e in entries(console, "user.create") if e.detail.get("username") == "eaststreet"
    ]
    assert rows(client.get("/audit?from=2000-01-01&to=2999-12-31&action=auth.login").text)
    assert rows(client.get("/audit?from=2999-01-01").text) == []
    assert rows(client.get("/audit?to=2000-01-01").text) == []
    assert rows(client.get("/audit?outcome=denied").text) == []
    bad = client.get("/audit?from=yesterday")
    assert bad.status_code == 422 and "not a date" in bad.text

    # Reading the log is itself audited, like GET /api/v1/audit.
    searches = entries(console, AuditAction.audit_search)
    auditor_id = console.users["auditor"].user_id
    assert any(e.actor_user_id == auditor_id and e.detail == {"actor": "street"} for e in searches)
    assert any(e.detail == {"target": f"user:{street_id}"} for e in searches)


def test_audit_log_pages(client: TestClient, console: Console) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for n in range(55):
        record = AuditRecord(action="test.ping", occurred_at=start + dt.timedelta(minutes=n), detail={"n": n})
        auth_service.add_audit(db=console.db, record=record)
    console.db.flush()
    login(client, "auditor")
    first = html.unescape(client.get("/audit?action=test.ping").text)
    assert len(rows(first)) == 50 and '"n": 54' in first  # the newest first
    found = re.search(r'href="(/audit\?[^"]*offset=50)"', first)
    assert found and "上一页" not in first
    second = html.unescape(client.get(found.group(1)).text)
    assert len(rows(second)) == 5 and '"n": 4}' in second and '"n": 5}' not in second
    assert "上一页" in second and "offset=50" not in second


def test_other_roles_may_not_read_the_log(client: TestClient, console: Console) -> None:
    login(client, "street")
    assert 'href="/audit"' not in client.get("/inbox").text
    response = client.get("/audit")
    assert response.status_code == 403 and "无权访问" in response.text
    assert "auth.login" not in response.text
    denied = [e for e in entries(console, "audit.view") if e.actor_user_id == console.users["street"].user_id]
    assert [e.outcome for e in denied] == [AuditOutcome.denied]
    assert not entries(console, AuditAction.audit_search)


def test_anonymous_is_sent_to_login(client: TestClient) -> None:
    response = client.get("/audit?actor=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faudit%3Factor%3Dx"


def test_login_form_sets_its_csrf_cookie(client: TestClient) -> None:
    response = client.get("/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("gridgov_login_csrf=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/login" in cookie
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert token and client.cookies.get("gridgov_login_csrf") == token.group(1)
    assert client.get("/login").text.count(token.group(1)) == 1  # kept while the cookie lives: tabs agree


def test_login_without_the_csrf_token_is_refused(client: TestClient, console: Console) -> None:
    good = login_form_token(client)
    form = {"username": "street", "password": PASSWORD, "next": "/inbox"}
    for token in (None, "x" * 43, good + "x"):
        data = form if token is None else {**form, "csrf_token": token}
        response = client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "登录表单已过期" in response.text
        assert "gridgov_session" not in response.cookies
        assert client.get("/inbox", follow_redirects=False).status_code == 303
    # A matching field but no cookie (a cross-site post cannot send this one) is refused as well.
    client.cookies.clear()
    response = client.post("/login", data={**form, "csrf_token": good}, follow_redirects=False)
    assert response.status_code == 403 and "gridgov_session" not in response.cookies
    refusals = [e for e in entries(console, AuditAction.csrf) if e.detail.get("path") == "/login"]
    assert len(refusals) == 4 and {e.outcome for e in refusals} == {AuditOutcome.denied}
    # The password was never checked: a forged login does not count towards the lockout.
    user = console.db.scalars(select(User).where(User.username == "street")).one()
    assert user.failed_logins == 0 and not [e for e in entries(console, "auth.login") if e.actor_user_id == user.id]


def test_login_with_the_token_works_and_drops_the_cookie(client: TestClient, console: Console) -> None:
    token = login_form_token(client)
    response = client.post(
        "/login",
        data={"username": "street", "password": PASSWORD, "next": "/cases", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/cases"
    assert "gridgov_session" in response.cookies
    assert "gridgov_login_csrf" not in client.cookies
    assert client.get("/cases").status_code == 200


def test_api_login_takes_json_only(client: TestClient, console: Console) -> None:
    # What a cross-site <form enctype="text/plain"> could send without a preflight: JSON text, but not as JSON.
    body = json.dumps({"username": "street", "password": PASSWORD})
    forged = client.post("/api/v1/auth/login", content=body, headers={"Content-Type": "text/plain"})
    assert forged.status_code == 422 and "gridgov_session" not in forged.cookies
    real = client.post("/api/v1/auth/login", json={"username": "street", "password": PASSWORD})
    assert real.status_code == 200 and "gridgov_session" in real.cookies
