"""Reporting a phone lost (终端挂失): revoked at once with the reason, reports from it refused, its owner's
browser sessions ended; by the worker themself or a staff manager of the worker's area."""

from __future__ import annotations

from sqlalchemy import select

from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import TerminalStatus
from gridgov.domains.auth.models import AuditEntry, Terminal
from gridgov.domains.staff.models import TerminalLoss
from tests.domains.cases.test_api import report
from tests.domains.staff.conftest import Staff


def _phone(staff: Staff, username: str) -> Terminal:
    return staff.db.scalars(select(Terminal).where(Terminal.device_id == f"phone-of-{username}")).one()


def test_a_worker_reports_their_phone_lost_and_it_is_refused_at_once(api, staff: Staff):
    worker = staff.headers["gw_wn"]
    assert api.post("/api/v1/cases", json=report(), headers=worker).status_code == 201  # the bound phone reports
    session, _cookie = auth_service.create_session(db=staff.db, user=staff.users["gw_wn"])
    phone = _phone(staff, "gw_wn")
    mine = api.get("/api/v1/staff/phones", headers=worker).json()
    assert [p["device_id"] for p in mine] == ["phone-of-gw_wn"] and mine[0]["owner"] == "gw_wn 测试"

    lost = api.post(f"/api/v1/staff/phones/{phone.id}/lost", json={"reason": "乘公交时丢失"}, headers=worker)
    assert lost.status_code == 201, lost.text
    assert (lost.json()["device_id"], lost.json()["reason"], lost.json()["sessions_ended"]) == (
        "phone-of-gw_wn",
        "乘公交时丢失",
        1,
    )
    assert phone.status == TerminalStatus.revoked and phone.revoked_by == staff.users["gw_wn"].id
    staff.db.refresh(session)
    assert session.revoked_at is not None  # a finder's logged-in browser is out
    refused = api.post("/api/v1/cases", json=report(), headers=worker)
    assert refused.status_code == 403 and "revoked" in refused.json()["message"]
    entry = staff.db.scalars(
        select(AuditEntry).where(AuditEntry.action == "terminal.revoke", AuditEntry.target_id == str(phone.id))
    ).one()
    assert entry.detail["why"] == "lost" and entry.detail["reason"] == "乘公交时丢失"
    again = api.post(f"/api/v1/staff/phones/{phone.id}/lost", json={"reason": "再报"}, headers=worker)
    assert again.status_code == 409 and again.json()["code"] == "terminal_revoked"


def test_a_staff_manager_reports_the_phones_of_their_area_only(api, staff: Staff):
    other = _phone(staff, "gw_wn2")
    short = api.post(f"/api/v1/staff/phones/{other.id}/lost", json={"reason": "x"}, headers=staff.headers["sec_wn"])
    assert short.status_code == 422
    assert (
        api.post(
            f"/api/v1/staff/phones/{other.id}/lost", json={"reason": "被盗"}, headers=staff.headers["gw_wn"]
        ).status_code
        == 404
    )  # another worker's phone
    assert (
        api.post(
            f"/api/v1/staff/phones/{other.id}/lost", json={"reason": "被盗"}, headers=staff.headers["sec_en"]
        ).status_code
        == 404
    )  # another community
    assert other.status == TerminalStatus.active
    seen = {p["device_id"] for p in api.get("/api/v1/staff/phones", headers=staff.headers["sec_wn"]).json()}
    assert seen == {"phone-of-gw_wn", "phone-of-gw_wn2"}
    east = {p["device_id"] for p in api.get("/api/v1/staff/phones", headers=staff.headers["sec_en"]).json()}
    assert east == {"phone-of-gw_en"}

    done = api.post(f"/api/v1/staff/phones/{other.id}/lost", json={"reason": "被盗"}, headers=staff.headers["sec_wn"])
    assert done.status_code == 201 and other.status == TerminalStatus.revoked
    loss = staff.db.scalars(select(TerminalLoss)).one()
    assert (loss.user_id, loss.reported_by_user_id) == (staff.users["gw_wn2"].id, staff.users["sec_wn"].id)
