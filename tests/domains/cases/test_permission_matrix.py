"""A permission matrix generated over every case route (in the spirit of netbox's view test cases).

For each route under /api/v1/cases/{case_id} and each role: anonymous → 401; a role without the route's
permission → 403 `permission_denied`; a role that has it, within its scope → passes the permission check (the
state machine may still refuse: that is another test's business); the same role scoped elsewhere → 404.
Every request runs in a savepoint rolled back afterwards, so all of them see the same dispatched case.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gridgov.core.errors import InputError
from gridgov.core.permissions import CASE_ACTION_PERMISSIONS, scope_of
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.enums import Action
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake
from gridgov.domains.intake.schemas import ContactIn
from tests.domains.cases.test_flow import report
from tests.domains.cases.world import COMMUNITY_W_N, STREET_E, STREET_W, World, add_token_user, bearer

SEGMENT_ACTIONS = {
    "confirm": Action.confirm,
    "register": Action.register,
    "reject": Action.reject,
    "merge": Action.merge,
    "reclassify": Action.reclassify,
    "dispatch": Action.dispatch,
    "sign": Action.sign,
    "return": Action.return_,
    "start": Action.start,
    "finish": Action.finish,
    "verify": Action.verify,
    "extension-requests": Action.request_extension,
    "extension-decisions": Action.decide_extension,
    "suspension-requests": Action.request_suspension,
    "suspension-decisions": Action.decide_suspension,
    "resume": Action.resume,
    "supervise": Action.supervise,
    "escalate": Action.escalate,
    "rate": Action.rate,
    "reopen": Action.reopen,
    "reasonableness": Action.rule_reasonableness,
    "notes": Action.note,
}
GET_PERMISSIONS = {"contact": "case.contact"}  # reads other than the case itself
BODIES: dict[str, dict[str, Any]] = {
    "reject": {"reason_code": "not_a_problem"},
    "merge": {"parent_id": 1},
    "reclassify": {"matter_type": "SJ0501"},
    "dispatch": {"unit": f"{STREET_W}-HWS"},
    "return": {"reason_code": "dispatch_error"},
    "finish": {"result": "已处置"},
    "verify": {"ok": True},
    "extension-requests": {"amount": 1, "reason": "协调"},
    "extension-decisions": {"approve": True},
    "suspension-requests": {"until": "2030-01-01T00:00:00+08:00", "reason": "冬季"},
    "suspension-decisions": {"approve": True},
    "supervise": {"note": "督办"},
    "escalate": {"note": "提级"},
    "rate": {"satisfaction": "satisfied"},
    "reopen": {"note": "重办"},
    "reasonableness": {"ruling": "reasonable", "note": "合理"},
    "notes": {"note": "备注"},
}
# (role, unit, scope inside the west street's case, unit and scope elsewhere or None when the role is district-wide)
ROLES: list[tuple[Role, str | None, str | None, tuple[str | None, str | None] | None]] = [
    (Role.district_leader, "CENTRE", None, None),
    (Role.district_dispatcher, "CENTRE", None, None),
    (Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W, (f"{STREET_E}-CYZX", STREET_E)),
    (Role.community_secretary, f"{COMMUNITY_W_N}-JWH", COMMUNITY_W_N, (f"{STREET_E}001-JWH", f"{STREET_E}001")),
    (Role.grid_worker, f"{COMMUNITY_W_N}-JWH", COMMUNITY_W_N, (f"{STREET_E}001-JWH", f"{STREET_E}001")),
    (Role.unit_handler, f"{STREET_W}-HWS", None, (f"{STREET_E}-HWS", None)),
    (Role.auditor, "CENTRE", None, None),
    (Role.admin, "CENTRE", None, None),
    (Role.citizen, None, None, (None, None)),
]


def case_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """Returns (method, path template, permission) for every route that acts on one case, from the OpenAPI document
    (so a route added later is in the matrix without anyone listing it)."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/api/v1/cases/{case_id}"):
            continue
        segment = path.rsplit("/", 1)[-1]
        for method in operations:
            method = method.upper()
            if method == "GET":
                permission = GET_PERMISSIONS.get(segment, "case.view")
            else:
                permission = CASE_ACTION_PERMISSIONS[SEGMENT_ACTIONS[segment]]
            found.append((method, path, permission))
    return sorted(found)


def token_for(db: Session, username: str, role: Role, unit: str | None, scope: str | None) -> dict[str, str]:
    """Returns the header of a token with the widest case scopes the role may hold (an admin's holds none)."""
    for scopes in (
        ("cases:read", "cases:write", "residents:read"),
        ("cases:read", "cases:write"),
        ("cases:read",),
        ("admin",),
    ):
        try:
            with db.begin_nested():
                _, token = add_token_user(db, username, role, unit, scope, scopes=scopes)
        except InputError:
            continue
        return bearer(token)
    raise AssertionError(f"no token could be made for {role}")


@pytest.fixture
def matrix(client: TestClient, db: Session, world: World) -> dict[str, Any]:
    """A dispatched case in the west street, and a token per role inside and (where it has one) outside its scope."""
    reporter = world.grid_worker
    contact = ContactIn(name="张三", phone="13800000000")  # so that the contact route has something to refuse
    case = intake.submit(db=db, report=report(contact=contact), ctx=Context.of(reporter)).case
    inside, outside = {}, {}
    for role, unit, scope, elsewhere in ROLES:
        inside[role] = token_for(db, f"in_{role}", role, unit, scope)
        if elsewhere is not None:
            outside[role] = token_for(db, f"out_{role}", role, *elsewhere)
    db.flush()
    return {"case_id": case.id, "inside": inside, "outside": outside}


def call(client: TestClient, db: Session, method: str, path: str, case_id: int, headers: dict[str, str]) -> Any:
    url = path.replace("{case_id}", str(case_id)) + ("?purpose=matrix" if path.endswith("/contact") else "")
    body = BODIES.get(path.rsplit("/", 1)[-1], {})
    savepoint = db.begin_nested()
    try:
        return client.request(method, url, headers=headers, json=None if method == "GET" else body)
    finally:
        savepoint.rollback()


def test_the_matrix_covers_every_case_route(app):
    routes = case_routes(app)
    assert {path.rsplit("/", 1)[-1] for method, path, _ in routes if method == "POST"} == set(SEGMENT_ACTIONS)
    assert ("GET", "/api/v1/cases/{case_id}", "case.view") in routes


def test_every_case_route_refuses_anonymous_callers(app, client, matrix):
    for method, path, _ in case_routes(app):
        response = client.request(method, path.replace("{case_id}", str(matrix["case_id"])), json={})
        assert response.status_code == 401, (method, path, response.text)


@pytest.mark.parametrize(("role", "unit", "scope", "elsewhere"), ROLES, ids=[str(r[0]) for r in ROLES])
def test_every_case_route_applies_role_and_scope(app, client, db, matrix, role, unit, scope, elsewhere):
    actor = Actor(name=str(role), role=role)
    routes = case_routes(app)
    assert len(routes) == len(SEGMENT_ACTIONS) + 3  # every action, the detail, the timeline and the contact
    for method, path, permission in routes:
        where = (str(role), method, path)
        response = call(client, db, method, path, matrix["case_id"], matrix["inside"][role])
        if scope_of(actor, permission) is None:
            # refused by the permission matrix, or already by the token's scopes (the role cannot hold them)
            assert response.status_code == 403, (*where, response.text)
            assert response.json().get("code", "permission_denied") == "permission_denied", (*where, response.text)
            continue
        if role == Role.citizen:
            # a citizen's scope is what they reported: this case is not theirs
            assert response.status_code == 404, (*where, response.text)
            continue
        assert response.status_code not in (401, 404), (*where, response.text)
        if response.status_code == 403:
            assert response.json()["code"] != "permission_denied", (*where, response.text)
        if elsewhere is not None:
            response = call(client, db, method, path, matrix["case_id"], matrix["outside"][role])
            assert response.status_code == 404, (*where, "outside", response.text)
