"""The duty API through HTTP: who is on duty now and at a given time, roster edits with their 422s, rotation,
XLSX round trip, handovers, contacts, the notification log, and scope isolation between two streets."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from gridgov.core.permissions import ACTION_TOKEN_SCOPES, PERMISSIONS
from gridgov.domains.auth import service as auth_service
from tests.domains.cases.world import bearer
from tests.domains.duty.conftest import local

D = dt.date
SCOPES = ["registers:read", "registers:write", "cases:read"]


@pytest.fixture
def api(client: TestClient, duty, frozen):
    """The test client, with an API token per staff member: `api.who["w_disp1"]` is its Authorization header."""
    client.who = {}
    for username, user in duty.users.items():
        granted = {str(ACTION_TOKEN_SCOPES[action]) for action in PERMISSIONS[user.role]}
        scopes = [scope for scope in SCOPES if scope in granted]
        _token, text = auth_service.create_token(db=duty.db, user=user, name="tests", scopes=scopes)
        client.who[username] = bearer(text)
    return client


def test_who_is_on_duty_now_and_at_a_given_time(api, duty):
    duty.set(duty.west, D(2026, 12, 1), "early", "w_disp1", "w_disp2")
    duty.set(duty.west, D(2026, 12, 1), "night", "w_disp3")
    response = api.get("/api/v1/duty/now", params={"centre": "410105001"}, headers=api.who["w_disp2"])
    assert response.status_code == 200, response.text
    (centre,) = response.json()["centres"]
    assert centre["centre"]["centre"] == "经八路街道城运中心" and centre["gap"] is False
    assert [p["username"] for p in centre["leaders"]] == ["w_disp1"]
    assert [p["username"] for p in centre["people"]] == ["w_disp1", "w_disp2"]
    assert centre["next_change_at"] == "2026-12-01T08:00:00Z"
    # a time without offset is the district's local time
    earlier = api.get(
        "/api/v1/duty/now", params={"centre": "410105001", "at": "2026-12-01T03:00"}, headers=api.who["w_disp2"]
    ).json()["centres"][0]
    assert [p["username"] for p in earlier["people"]] == ["w_disp3"]
    assert earlier["shifts"] == ["2026-12-01 夜班"]
    late = api.get(
        "/api/v1/duty/now",
        params={"centre": "410105001", "at": "2026-12-01T20:00:00+08:00"},
        headers=api.who["w_disp2"],
    ).json()["centres"][0]
    assert late["gap"] is True and late["people"] == []
    # without a centre: every centre the caller sees that keeps a roster (West and the district, not East)
    every = api.get("/api/v1/duty/now", headers=api.who["w_disp2"]).json()["centres"]
    assert [c["centre"]["code"] for c in every] == ["410105", "410105001"]


def test_roster_edits_answer_422_with_every_problem(api, duty):
    body = {"leader": None, "staff": ["e_disp1", "gw"]}
    response = api.put("/api/v1/duty/roster/410105001/2026-12-01/early", json=body, headers=api.who["w_disp1"])
    assert response.status_code == 422
    issues = response.json()["issues"]
    assert [i["field"] for i in issues] == ["leader", "staff", "staff"]
    assert "has no duty leader" in issues[0]["message"]
    ok = api.put(
        "/api/v1/duty/roster/410105001/2026-12-01/early",
        json={"leader": "w_disp1", "staff": ["w_disp2"]},
        headers=api.who["w_disp1"],
    )
    assert ok.status_code == 200, ok.text
    row = ok.json()
    assert row["local_time"] == "2026-12-01 08:00 – 2026-12-01 16:00" and row["leader"] == "w_disp1"
    listed = api.get(
        "/api/v1/duty/roster", params={"centre": "410105001", "month": "2026-12"}, headers=api.who["gw"]
    ).json()
    assert [r["id"] for r in listed] == [row["id"]]
    bad_day = api.put(
        "/api/v1/duty/roster/410105001/2026-13-01/early", json={"leader": "w_disp1"}, headers=api.who["w_disp1"]
    )
    assert bad_day.status_code == 422
    assert api.delete("/api/v1/duty/roster/410105001/2026-12-01/early", headers=api.who["w_disp1"]).status_code == 204


def test_generate_export_and_import_through_the_api(api, duty):
    rotation = {"centre": "410105001", "month": "2026-12", "teams": [["w_disp1"], ["w_disp2"], ["w_disp3"]]}
    made = api.post("/api/v1/duty/roster/generate", json=rotation, headers=api.who["w_disp1"])
    assert made.status_code == 201, made.text
    assert made.json() == {"centre": "410105001", "rows": 93, "shifts": 0, "first": "2026-12-01", "last": "2026-12-31"}
    again = api.post("/api/v1/duty/roster/generate", json=rotation, headers=api.who["w_disp1"])
    assert again.status_code == 422 and again.json()["issues"][0]["field"] == "replace"
    xlsx = api.get(
        "/api/v1/duty/roster.xlsx", params={"centre": "410105001", "month": "2026-12"}, headers=api.who["w_disp1"]
    )
    assert xlsx.status_code == 200
    assert 'filename="duty-roster-410105001-2026-12.xlsx"' in xlsx.headers["content-disposition"]
    book = load_workbook(io.BytesIO(xlsx.content))
    book["值班表"]["G2"] = "w_disp2"  # night of the 1st: w_disp1 leads, w_disp2 joins (w_disp2 works 08-16 next)
    buffer = io.BytesIO()
    book.save(buffer)
    imported = api.post(
        "/api/v1/duty/roster/import",
        params={"centre": "410105001"},
        files={"file": ("dec.xlsx", buffer.getvalue())},
        headers=api.who["w_disp1"],
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["rows"] == 93
    now = api.get(
        "/api/v1/duty/now", params={"centre": "410105001", "at": "2026-12-01T01:00"}, headers=api.who["w_disp1"]
    ).json()["centres"][0]
    assert [p["username"] for p in now["people"]] == ["w_disp1", "w_disp2"]
    gaps = api.get(
        "/api/v1/duty/gaps",
        params={"centre": "410105001", "start": "2026-12-30T00:00", "end": "2027-01-02T00:00"},
        headers=api.who["w_disp1"],
    ).json()
    assert gaps == [
        {"centre": "410105001", "starts_at": "2026-12-31T16:00:00Z", "ends_at": "2027-01-01T16:00:00Z", "hours": 24.0}
    ]


def test_handovers_through_the_api(api, duty, frozen):
    night = duty.set(duty.west, D(2026, 12, 1), "night", "w_disp1", "w_disp2")
    duty.set(duty.west, D(2026, 12, 1), "early", "w_disp3")
    frozen[0] = local(2026, 12, 1, 7, 50)
    body = {"roster_id": night.id, "open_matters": "路灯故障", "notes": "", "case_numbers": []}
    refused = api.post("/api/v1/duty/handovers", json=body, headers=api.who["w_disp3"])
    assert refused.status_code == 403 and refused.json()["code"] == "not_on_shift"
    written = api.post("/api/v1/duty/handovers", json=body, headers=api.who["w_disp2"])
    assert written.status_code == 201, written.text
    handover = written.json()
    assert handover["shift"] == "2026-12-01 夜班" and handover["incoming_shift"] == "2026-12-01 早班"
    assert api.post("/api/v1/duty/handovers", json=body, headers=api.who["w_disp1"]).status_code == 409
    frozen[0] = local(2026, 12, 1, 8, 5)
    ack = api.post(
        f"/api/v1/duty/handovers/{handover['id']}/acknowledge", json={"note": "收到"}, headers=api.who["w_disp3"]
    )
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "西街值班员三"
    log = api.get("/api/v1/duty/handovers", params={"centre": "410105001"}, headers=api.who["w_disp1"]).json()
    assert log["total"] == 1 and log["items"][0]["acknowledgement_note"] == "收到"


def test_contacts_are_set_by_the_centre_managers(api, duty):
    response = api.put(
        "/api/v1/duty/contacts/w_disp2",
        json={"email": "w2@duty.example", "mobile": "13800000002"},
        headers=api.who["w_disp1"],
    )
    assert response.status_code == 200 and response.json()["mobile"] == "13800000002"
    bad = api.put("/api/v1/duty/contacts/w_disp2", json={"email": "nope", "mobile": "12"}, headers=api.who["w_disp1"])
    assert bad.status_code == 422 and [i["field"] for i in bad.json()["issues"]] == ["email", "mobile"]
    # East's dispatcher is nobody West may set, and a grid worker may not manage duty at all
    assert api.put("/api/v1/duty/contacts/e_disp1", json={}, headers=api.who["w_disp1"]).status_code == 404
    assert api.put("/api/v1/duty/contacts/w_disp2", json={}, headers=api.who["gw"]).status_code == 403
    listed = api.get("/api/v1/duty/contacts", params={"centre": "410105001"}, headers=api.who["w_disp1"]).json()
    assert {c["username"] for c in listed} >= {"w_disp1", "w_disp2", "w_disp3", "d_disp1", "d_leader"}
    assert "e_disp1" not in {c["username"] for c in listed} and "gw" not in {c["username"] for c in listed}


def test_scope_isolation_between_two_streets(api, duty):
    duty.set(duty.east, D(2026, 12, 1), "day", "e_disp1")
    west = api.who["w_disp1"]
    for path, params in [
        ("/api/v1/duty/now", {"centre": "410105002"}),
        ("/api/v1/duty/roster", {"centre": "410105002"}),
        ("/api/v1/duty/shifts", {"centre": "410105002"}),
        ("/api/v1/duty/handovers", {"centre": "410105002"}),
        ("/api/v1/duty/notifications", {"centre": "410105002"}),
        ("/api/v1/duty/roster.xlsx", {"centre": "410105002"}),
    ]:
        assert api.get(path, params=params, headers=west).status_code == 404, path
    assert (
        api.put("/api/v1/duty/roster/410105002/2026-12-02/day", json={"leader": "e_disp1"}, headers=west).status_code
        == 404
    )
    # the district centre serves West: West sees who is on duty there, but may not edit it or read its logs
    assert api.get("/api/v1/duty/now", params={"centre": "410105"}, headers=west).status_code == 200
    assert (
        api.put("/api/v1/duty/roster/410105/2026-12-02/early", json={"leader": "d_disp1"}, headers=west).status_code
        == 404
    )
    assert api.get("/api/v1/duty/handovers", params={"centre": "410105"}, headers=west).status_code == 404
    centres = api.get("/api/v1/duty/centres", headers=west).json()
    assert [c["code"] for c in centres] == ["410105", "410105001"]
    # a grid worker sees the centres above its grid, edits nothing; a unit handler has no duty at all
    assert [c["code"] for c in api.get("/api/v1/duty/centres", headers=api.who["gw"]).json()] == ["410105", "410105001"]
    assert (
        api.put(
            "/api/v1/duty/roster/410105001/2026-12-02/early", json={"leader": "w_disp1"}, headers=api.who["gw"]
        ).status_code
        == 403
    )
    assert api.get("/api/v1/duty/now", headers=api.who["hws"]).status_code == 403
    # the district sees every centre
    assert len(api.get("/api/v1/duty/centres", headers=api.who["d_disp1"]).json()) == 3


def test_the_notification_log_through_the_api(api, duty):
    response = api.get("/api/v1/duty/notifications", params={"centre": "410105001"}, headers=api.who["w_disp1"])
    assert response.status_code == 200 and response.json()["total"] == 0
    assert (
        api.get(
            "/api/v1/duty/notifications", params={"centre": "410105001", "status": "bogus"}, headers=api.who["w_disp1"]
        ).status_code
        == 422
    )
