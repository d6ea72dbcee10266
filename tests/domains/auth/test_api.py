"""The auth API: login and cookies, CSRF, sessions, tokens and scopes, users, the audit log, refusals audited."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.core import permissions
from gridgov.core.auth import SESSION_COOKIE, CurrentUser, require_permission
from gridgov.core.db import DbSession
from gridgov.domains.auth.enums import AuditOutcome
from gridgov.domains.auth.models import AuditEntry, User
from gridgov.domains.auth.schemas import Principal
from tests.domains.auth.conftest import FakeClock
from tests.domains.auth.world import PASSWORD, AuthWorld


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["csrf_token"]


def audit(db: Session, action: str) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def token_for(client: TestClient, username: str, *scopes: str) -> str:
    csrf = login(client, username)
    response = client.post(
        "/api/v1/auth/tokens",
        json={"name": f"t-{'-'.join(scopes)}", "scopes": list(scopes)},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 201, response.text
    client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    client.cookies.clear()
    return response.json()["token"]


# --- login and the cookie ---------------------------------------------------------------------------------------


def test_login_sets_a_httponly_samesite_cookie_and_returns_the_user(client: TestClient, world: AuthWorld):
    response = client.post("/api/v1/auth/login", json={"username": "Street", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["username"] == "street" and body["user"]["scope_code"] == "410105001"
    assert body["via"] == "session" and len(body["csrf_token"]) >= 32
    assert body["permissions"]["case.dispatch"] == "area" and "audit.view" not in body["permissions"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # a test deployment over plain http
    assert PASSWORD not in response.text and "password_hash" not in body["user"] and "$argon2" not in response.text


def test_the_cookie_is_secure_over_https(app: FastAPI, world: AuthWorld):
    with TestClient(app, base_url="https://testserver") as client:
        response = client.post("/api/v1/auth/login", json={"username": "street", "password": PASSWORD})
    assert "Secure" in response.headers["set-cookie"]


def test_the_cookie_is_secure_in_production_even_over_http(app: FastAPI, world: AuthWorld):
    app.state.settings = app.state.settings.model_copy(update={"env": "production"})
    with TestClient(app) as client:
        response = client.post("/api/v1/auth/login", json={"username": "street", "password": PASSWORD})
    assert "Secure" in response.headers["set-cookie"]


def test_wrong_password_and_unknown_user_get_the_same_401(client: TestClient, world: AuthWorld, db: Session):
    wrong = client.post("/api/v1/auth/login", json={"username": "street", "password": "not-it-at-all"})
    unknown = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "not-it-at-all"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "wrong username or password"
    assert SESSION_COOKIE not in client.cookies
    assert [e.outcome for e in audit(db, "auth.login")] == [AuditOutcome.failed, AuditOutcome.failed]


def test_failed_logins_are_committed_and_lock_the_account(client: TestClient, world: AuthWorld, db: Session):
    for _ in range(5):
        assert (
            client.post("/api/v1/auth/login", json={"username": "street", "password": "bad-guess-1"}).status_code == 401
        )
    locked = client.post("/api/v1/auth/login", json={"username": "street", "password": PASSWORD})
    assert locked.status_code == 401
    assert locked.json()["code"] == "account_locked" and "try again after" in locked.json()["detail"]
    db.expire_all()
    assert db.get(User, world.users["street"].id).failed_logins == 5


def test_a_malformed_login_body_is_422(client: TestClient, world: AuthWorld):
    assert client.post("/api/v1/auth/login", json={"username": "street"}).status_code == 422


# --- sessions ---------------------------------------------------------------------------------------------------


def test_me_needs_authentication(client: TestClient, world: AuthWorld):
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["detail"] == "authentication required: log in, or send 'Authorization: Bearer <token>'"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_me_with_the_session_cookie(client: TestClient, world: AuthWorld):
    csrf = login(client, "gridworker")
    body = client.get("/api/v1/auth/me").json()
    assert body["user"]["username"] == "gridworker" and body["csrf_token"] == csrf
    assert body["user"]["unit_code"] == "410105001001-JWH" and body["session_expires_at"]


def test_an_idle_session_expires(client: TestClient, world: AuthWorld, clock: FakeClock):
    login(client, "gridworker")
    clock.advance(minutes=90)
    assert client.get("/api/v1/auth/me").status_code == 200  # activity (written after the request) ...
    clock.advance(minutes=90)
    assert client.get("/api/v1/auth/me").status_code == 200  # ... keeps it alive
    clock.advance(hours=2)
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["detail"] == "session expired, log in again"
    assert f"{SESSION_COOKIE}=;" in response.headers["set-cookie"]  # the stale cookie is cleared


def test_a_forged_cookie_is_401(client: TestClient, world: AuthWorld):
    client.cookies.set(SESSION_COOKIE, "made-up")
    assert client.get("/api/v1/auth/me").json()["detail"] == "session expired, log in again"


def test_logout_ends_the_session(client: TestClient, world: AuthWorld, db: Session):
    csrf = login(client, "gridworker")
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.clear()
    assert client.get("/api/v1/auth/me").status_code == 401
    assert len(audit(db, "auth.logout")) == 1


def test_logout_with_the_session_cookie_after_logout_is_refused(client: TestClient, world: AuthWorld):
    csrf = login(client, "gridworker")
    cookie = client.cookies[SESSION_COOKIE]
    client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    client.cookies.set(SESSION_COOKIE, cookie)  # a copy of the cookie taken before the logout
    assert client.get("/api/v1/auth/me").status_code == 401


# --- CSRF -------------------------------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_403_and_audited(client: TestClient, world: AuthWorld, db: Session):
    login(client, "gridworker")
    response = client.post("/api/v1/auth/logout")
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "missing CSRF token: send the session's token in the X-CSRF-Token header or the csrf_token form field"
    )
    [entry] = audit(db, "auth.csrf")
    assert entry.outcome == AuditOutcome.denied and entry.detail["path"] == "/api/v1/auth/logout"
    assert client.get("/api/v1/auth/me").status_code == 200  # still logged in


def test_a_wrong_csrf_token_is_403(client: TestClient, world: AuthWorld):
    login(client, "gridworker")
    response = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "guessed"})
    assert response.status_code == 403 and "does not match" in response.json()["detail"]


def test_a_form_post_carries_the_csrf_token_in_a_field(client: TestClient, world: AuthWorld):
    csrf = login(client, "gridworker")
    assert client.post("/api/v1/auth/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert client.post("/api/v1/auth/logout", data={"csrf_token": csrf}).status_code == 204


def test_another_sessions_csrf_token_does_not_work(client: TestClient, app: FastAPI, world: AuthWorld):
    other = TestClient(app)
    other_csrf = login(other, "gridworker")
    login(client, "gridworker")
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": other_csrf}).status_code == 403


# --- password ---------------------------------------------------------------------------------------------------


def test_change_password(client: TestClient, world: AuthWorld, db: Session):
    csrf = login(client, "secretary")
    headers = {"X-CSRF-Token": csrf}
    wrong = client.post(
        "/api/v1/auth/password", json={"old_password": "guess-guess", "new_password": "x"}, headers=headers
    )
    assert wrong.status_code == 401 and wrong.json()["detail"] == "the current password is wrong"
    db.expire_all()
    assert db.get(User, world.users["secretary"].id).failed_logins == 1  # committed despite the 401
    weak = client.post("/api/v1/auth/password", json={"old_password": PASSWORD, "new_password": "123"}, headers=headers)
    assert weak.status_code == 422 and "at least 10 characters" in weak.text
    ok = client.post(
        "/api/v1/auth/password", json={"old_password": PASSWORD, "new_password": "a-new-secret-9"}, headers=headers
    )
    assert ok.status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 200  # the session that changed it stays
    client.cookies.clear()
    login(client, "secretary", "a-new-secret-9")


# --- tokens -----------------------------------------------------------------------------------------------------


def test_tokens_authenticate_without_cookie_or_csrf(client: TestClient, world: AuthWorld, db: Session):
    token = token_for(client, "street", "cases:read")
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200 and me.json()["via"] == "token" and me.json()["token_scopes"] == ["cases:read"]
    [listed] = client.get("/api/v1/auth/tokens", headers=headers).json()
    assert "token" not in listed and listed["prefix"] in token
    assert client.delete(f"/api/v1/auth/tokens/{listed['id']}", headers=headers).status_code == 204  # no CSRF needed
    refused = client.get("/api/v1/auth/me", headers=headers)
    assert refused.status_code == 401 and refused.json()["detail"] == "this API token has been revoked"
    [use] = audit(db, "token.use")
    assert use.target_id == str(listed["id"]) and use.detail["path"] == "/api/v1/auth/me"
    [refusal] = audit(db, "token.refused")
    assert refusal.detail["reason"] == "revoked" and refusal.outcome == AuditOutcome.denied


def test_a_token_without_the_scope_is_403_and_audited(client: TestClient, world: AuthWorld, db: Session):
    token = token_for(client, "auditor", "cases:read")
    response = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["detail"] == "this API token lacks the scope 'audit:read' (it has: cases:read)"
    [entry] = audit(db, "token.refused")
    assert entry.detail == {"reason": "missing scope", "needed": "audit:read", "path": "/api/v1/audit"}
    assert entry.actor_user_id == world.users["auditor"].id


def test_an_expired_token_is_401(client: TestClient, world: AuthWorld, clock: FakeClock):
    token = token_for(client, "street", "cases:read")
    clock.advance(days=91)
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["detail"] == "this API token has expired"


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Basic dXNlcjpwYXNz", "use the header 'Authorization: Bearer <token>' with an API token"),
        ("Bearer ", "use the header 'Authorization: Bearer <token>' with an API token"),
        ("Bearer nonsense", "malformed API token: expected ggv_<prefix>_<secret>"),
        ("Bearer ggv_abcdefghij_secret", "unknown API token"),
    ],
)
def test_bad_authorization_headers_are_401(client: TestClient, world: AuthWorld, header: str, detail: str):
    response = client.get("/api/v1/auth/me", headers={"Authorization": header})
    assert response.status_code == 401 and response.json()["detail"] == detail


def test_tokens_are_created_from_a_session_only(client: TestClient, world: AuthWorld):
    token = token_for(client, "street", "cases:read")
    response = client.post(
        "/api/v1/auth/tokens",
        json={"name": "more", "scopes": ["cases:write"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403 and "browser session" in response.json()["detail"]


def test_a_token_scope_the_role_cannot_use_is_422(client: TestClient, world: AuthWorld):
    csrf = login(client, "gridworker")
    response = client.post(
        "/api/v1/auth/tokens", json={"name": "x", "scopes": ["audit:read"]}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 422
    assert response.json()["issues"][0]["message"] == "scope audit:read grants nothing to a grid_worker"


def test_only_the_owner_or_an_administrator_revokes_a_token(client: TestClient, app: FastAPI, world: AuthWorld):
    token = token_for(client, "street", "cases:read")
    street_headers = {"Authorization": f"Bearer {token}"}
    [listed] = client.get("/api/v1/auth/tokens", headers=street_headers).json()
    csrf = login(client, "gridworker")
    assert client.delete(f"/api/v1/auth/tokens/{listed['id']}", headers={"X-CSRF-Token": csrf}).status_code == 404
    client.cookies.clear()
    csrf = login(client, "admin")
    assert client.delete(f"/api/v1/auth/tokens/{listed['id']}", headers={"X-CSRF-Token": csrf}).status_code == 204


# --- users (administrators) -------------------------------------------------------------------------------------


def test_an_administrator_creates_lists_and_disables_users(client: TestClient, world: AuthWorld, db: Session):
    csrf = login(client, "admin")
    headers = {"X-CSRF-Token": csrf}
    created = client.post(
        "/api/v1/users",
        json={
            "username": "li.si",
            "display_name": "李四",
            "role": "grid_worker",
            "unit": "410105002001-JWH",
            "scope": "410105002001002",
            "password": "li-si-password",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["scope_code"], user["unit_code"], user["is_active"]) == ("410105002001002", "410105002001-JWH", True)
    page = client.get("/api/v1/users", params={"role": "grid_worker"}).json()
    assert page["total"] == 2 and [u["username"] for u in page["items"]] == ["gridworker", "li.si"]
    bad = client.post(
        "/api/v1/users",
        json={"username": "x.y", "display_name": "X", "role": "street_dispatcher", "unit": "CENTRE"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert bad.json()["issues"] == [
        {"where": "user 'x.y'", "field": "scope", "message": bad.json()["issues"][0]["message"]}
    ]
    assert "a street_dispatcher's scope must be a street area" in bad.json()["issues"][0]["message"]

    disabled = client.post(f"/api/v1/users/{user['id']}/disable", headers=headers)
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    client.cookies.clear()
    refused = client.post("/api/v1/auth/login", json={"username": "li.si", "password": "li-si-password"})
    assert refused.status_code == 401 and refused.json()["code"] == "account_disabled"


def test_a_non_administrator_is_refused_403_and_the_denial_is_audited(
    client: TestClient, world: AuthWorld, db: Session
):
    csrf = login(client, "dispatcher")
    response = client.post(
        "/api/v1/users",
        json={
            "username": "sneaky",
            "display_name": "S",
            "role": "admin",
            "unit": "CENTRE",
            "password": "long-password",
        },
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert db.scalar(select(User).where(User.username == "sneaky")) is None
    [entry] = audit(db, "user.manage")
    assert (entry.outcome, entry.actor_user_id) == (AuditOutcome.denied, world.users["dispatcher"].id)
    assert entry.source_address == "testclient"


# --- the audit log (auditors) -----------------------------------------------------------------------------------


def test_the_auditor_searches_the_log_and_the_search_is_audited(client: TestClient, world: AuthWorld, db: Session):
    client.post("/api/v1/auth/login", json={"username": "street", "password": "wrong-wrong"})
    login(client, "auditor")
    page = client.get("/api/v1/audit", params={"action": "auth.login", "actor": "street"}).json()
    assert page["total"] == 1
    [entry] = page["items"]
    assert (entry["outcome"], entry["detail"]["reason"], entry["source_address"]) == (
        "failed",
        "wrong password",
        "testclient",
    )
    logins = client.get("/api/v1/audit", params={"action": "auth."}).json()
    assert {e["actor_name"] for e in logins["items"]} == {"street 用户", "auditor 用户"}
    assert client.get("/api/v1/audit", params={"from": "2030-01-01T00:00"}).json()["total"] == 0
    so_far = db.scalar(select(func.count()).select_from(AuditEntry))
    # Times without a zone are the district's: 09:00 in Zhengzhou is 01:00 UTC, when the fake clock stands.
    today = client.get("/api/v1/audit", params={"from": "2026-11-25T09:00", "to": "2026-11-25T09:01"}).json()
    assert today["total"] == so_far
    assert client.get("/api/v1/audit", params={"from": "2026-11-25T09:01"}).json()["total"] == 0
    assert [e.detail for e in audit(db, "audit.search")][0] == {"actor": "street", "action": "auth.login"}
    assert client.get("/api/v1/audit", params={"limit": 0}).status_code == 422


def test_only_the_auditor_reads_the_log(client: TestClient, world: AuthWorld):
    login(client, "admin")
    response = client.get("/api/v1/audit")
    assert response.status_code == 403 and "may not audit.view" in response.json()["detail"]


# --- a scoped user asking for another area's case (what the case API does with check_case) ----------------------


@pytest.fixture
def case_app(app: FastAPI) -> FastAPI:
    """The app with one route wired the way the case API is meant to be: permission, then check_case."""

    @app.get("/test/cases/{case_id}")
    def get_case(
        case_id: int, db: DbSession, user: Annotated[Principal, Depends(require_permission("case.view"))]
    ) -> dict[str, str]:
        case = permissions.check_case(db, user.actor, "case.view", case_id, source_address=user.source_address)
        return {"title": case.title}

    @app.get("/test/whoami")
    def whoami(user: CurrentUser) -> dict[str, str]:
        return {"name": user.actor.name}

    return app


def test_another_areas_case_is_404_and_the_denial_survives_the_rollback(
    case_app: FastAPI, world: AuthWorld, db: Session
):
    with TestClient(case_app) as client:
        login(client, "street")
        assert client.get(f"/test/cases/{world.cases['W1'].id}").json() == {"title": "case W1"}
        hidden = client.get(f"/test/cases/{world.cases['E1'].id}")
        missing = client.get("/test/cases/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == f"case {world.cases['E1'].id} not found"
    [entry] = audit(db, "case.view")
    assert (entry.outcome, entry.target_type, entry.target_id) == ("denied", "case", str(world.cases["E1"].id))
    assert entry.actor_user_id == world.users["street"].id and entry.source_address == "testclient"


def test_a_token_user_gets_the_same_404(case_app: FastAPI, world: AuthWorld, db: Session):
    with TestClient(case_app) as client:
        token = token_for(client, "handler", "cases:read")
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get(f"/test/cases/{world.cases['E1'].id}", headers=headers).status_code == 200  # co-unit
        assert client.get(f"/test/cases/{world.cases['W2'].id}", headers=headers).status_code == 404
    assert [e.target_id for e in audit(db, "case.view")] == [str(world.cases["W2"].id)]


def test_session_activity_is_written_after_the_request(case_app: FastAPI, world: AuthWorld, db: Session, clock):
    from gridgov.domains.auth.models import WebSession

    with TestClient(case_app) as client:
        login(client, "street")
        clock.advance(minutes=5)
        assert client.get("/test/whoami").json() == {"name": "street 用户"}
    db.expire_all()
    [session] = db.scalars(select(WebSession)).all()
    assert session.last_seen_at == clock.now
