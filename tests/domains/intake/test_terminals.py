"""Terminal binding (终端绑定): a grid worker reports only from the phone bound to them."""

from __future__ import annotations

from sqlalchemy import select

from gridgov.domains.auth.enums import AuditAction, Role, TerminalStatus
from gridgov.domains.auth.models import AuditEntry, Terminal
from tests.domains.cases.test_api import (
    DISTRICT_DISPATCHER,
    GRID_WORKER,
    OTHER_GRID_WORKER,
    Who,
    report,
)

ADMIN = Who("admin1", Role.admin, "CENTRE", None, "管理员")


def _report(api, headers, device: str | None, **extra):
    headers = {k: v for k, v in headers.items() if k != "X-Device-Id"}
    if device is not None:
        headers["X-Device-Id"] = device
    return api.post("/api/v1/cases", json=report(**extra), headers=headers)


def test_a_new_phone_is_refused_recorded_as_pending_then_bound_by_the_admin(api, db):
    ADMIN.enrol(db, scopes=("admin",))
    refused = _report(api, GRID_WORKER, "new-phone-0001")
    assert refused.status_code == 403
    assert refused.json()["code"] == "terminal_not_bound"
    assert "new-phone-0001" in refused.json()["message"] and "administrator" in refused.json()["message"]
    # The refused request rolled back, but the phone was recorded (after the request) for the admin to bind.
    pending = db.scalars(select(Terminal).where(Terminal.device_id == "new-phone-0001")).one()
    assert (pending.status, pending.user_id) == (TerminalStatus.pending, GRID_WORKER.user_id)

    listed = api.get("/api/v1/terminals?status=pending", headers=ADMIN).json()
    assert [t["device_id"] for t in listed] == ["new-phone-0001"] and listed[0]["username"] == "gw1"
    bound = api.post(f"/api/v1/terminals/{pending.id}/bind", headers=ADMIN)
    assert bound.status_code == 200 and bound.json()["status"] == "active"
    # One active phone per worker: the one bound by the fixture is revoked now.
    old = db.scalars(select(Terminal).where(Terminal.device_id == "phone-of-gw1")).one()
    assert old.status == TerminalStatus.revoked

    assert _report(api, GRID_WORKER, "new-phone-0001").status_code == 201
    revoked_old = _report(api, GRID_WORKER, "phone-of-gw1")
    assert revoked_old.status_code == 403 and "revoked" in revoked_old.json()["message"]
    audited = db.execute(select(AuditEntry.action, AuditEntry.target_id).where(AuditEntry.target_type == "terminal"))
    assert {(AuditAction.terminal_bind, str(pending.id)), (AuditAction.terminal_revoke, str(old.id))} <= set(audited)


def test_reports_without_a_device_id_or_from_another_workers_phone_are_refused(api):
    missing = _report(api, GRID_WORKER, None)
    assert missing.status_code == 403 and missing.json()["code"] == "terminal_missing"
    assert "X-Device-Id" in missing.json()["message"]
    borrowed = _report(api, GRID_WORKER, OTHER_GRID_WORKER["X-Device-Id"])
    assert borrowed.status_code == 403 and "another worker" in borrowed.json()["message"]
    malformed = _report(api, GRID_WORKER, "x y")
    assert malformed.status_code == 422 and malformed.json()["code"] == "bad_device_id"


def test_console_roles_report_without_a_terminal(api):
    response = api.post("/api/v1/cases", json=report(channel="hotline"), headers=DISTRICT_DISPATCHER)
    assert response.status_code == 201, response.text


def test_the_admin_binds_a_phone_by_its_device_id_and_revokes_it(api, db):
    ADMIN.enrol(db, scopes=("admin",))
    body = {"username": "gw2", "device_id": "gw2-second-phone", "label": "备用机"}
    created = api.post("/api/v1/terminals", json=body, headers=ADMIN)
    assert created.status_code == 201 and created.json()["status"] == "active"
    assert _report(api, OTHER_GRID_WORKER, "gw2-second-phone").status_code == 201
    revoked = api.post(f"/api/v1/terminals/{created.json()['id']}/revoke", headers=ADMIN)
    assert revoked.json()["status"] == "revoked"
    assert _report(api, OTHER_GRID_WORKER, "gw2-second-phone").status_code == 403
    again = api.post(f"/api/v1/terminals/{created.json()['id']}/bind", headers=ADMIN)
    assert again.status_code == 409 and again.json()["code"] == "terminal_revoked"
    taken = api.post("/api/v1/terminals", json={**body, "username": "gw1"}, headers=ADMIN)
    assert taken.status_code == 409 and taken.json()["code"] == "terminal_taken"
    dispatcher_role = {"username": "district", "device_id": "dispatcher-phone"}
    assert api.post("/api/v1/terminals", json=dispatcher_role, headers=ADMIN).status_code == 422


def test_only_the_administrator_manages_terminals(api):
    assert api.get("/api/v1/terminals", headers=DISTRICT_DISPATCHER).status_code == 403
    assert api.post("/api/v1/terminals/1/bind", headers=GRID_WORKER).status_code == 403
