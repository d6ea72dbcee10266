"""Intake rules shared by every channel: leader assignment (交办), placing by area code, replayed keys."""

from __future__ import annotations

import datetime as dt

from gridgov.domains.cases.models import Case
from tests.domains.cases.conftest import T0
from tests.domains.cases.test_api import DISTRICT_DISPATCHER, GRID_WORKER, LEADER, report
from tests.domains.cases.world import COMMUNITY_W_N, STREET_W

DUE = T0 + dt.timedelta(days=2, hours=3)


def test_a_leader_assigns_a_case_to_a_unit_with_its_own_deadline_supervised_from_the_start(api, db):
    body = report(channel="assignment", matter="SJ0501", assigned_unit="CGJ", due_at=DUE.isoformat())
    response = api.post("/api/v1/cases", json=body, headers=LEADER)
    assert response.status_code == 201, response.text
    case = response.json()["case"]
    assert case["stage"] == "dispatched" and case["is_supervised"]
    assert db.get(Case, case["id"]).handling_unit.code == "CGJ"  # not the catalogue's street team
    assert dt.datetime.fromisoformat(case["handle_due_at"]) == DUE
    assert [e["action"] for e in case["timeline"]] == ["report", "register", "dispatch", "supervise"]
    assert case["timeline"][-1]["actor_name"] == "区领导"


def test_an_assignment_without_a_unit_follows_the_catalogue_and_is_supervised(api):
    case = api.post("/api/v1/cases", json=report(channel="assignment"), headers=LEADER).json()["case"]
    assert case["stage"] == "dispatched" and case["is_supervised"]


def test_bad_assignments_are_refused(api):
    def post(headers=LEADER, **extra):
        return api.post("/api/v1/cases", json=report(channel="assignment", **extra), headers=headers)

    assert post(due_at=DUE.isoformat()).json()["code"] == "unit_required"
    assert post(assigned_unit="NOPE").json()["code"] == "unknown_unit"
    past = post(assigned_unit="CGJ", matter="SJ0501", due_at=(T0 - dt.timedelta(hours=1)).isoformat())
    assert past.status_code == 422 and past.json()["code"] == "bad_deadline"
    assert post(headers=GRID_WORKER).json()["code"] == "channel_not_allowed"
    wrong_channel = api.post("/api/v1/cases", json=report(assigned_unit="CGJ"), headers=GRID_WORKER)
    assert wrong_channel.status_code == 422 and "assignment" in wrong_channel.text


def test_a_report_without_coordinates_is_placed_in_the_area_it_names(api, db):
    body = report(channel="hotline", area_code=COMMUNITY_W_N)
    del body["lng"], body["lat"]
    case = api.post("/api/v1/cases", json=body, headers=DISTRICT_DISPATCHER).json()["case"]
    row = db.get(Case, case["id"])
    assert row.community_id is not None and row.area_path.startswith(f"/410105/{STREET_W}/{COMMUNITY_W_N}/")
    unknown = {**body, "area_code": "999"}
    assert api.post("/api/v1/cases", json=unknown, headers=DISTRICT_DISPATCHER).json()["code"] == "unknown_area"
    nowhere = {k: v for k, v in body.items() if k != "area_code"}
    missing = api.post("/api/v1/cases", json=nowhere, headers=DISTRICT_DISPATCHER)
    assert missing.status_code == 422 and "missing location" in missing.text


def test_a_replayed_key_with_a_different_report_is_a_conflict(api):
    headers = {**GRID_WORKER, "Idempotency-Key": "k-1"}
    assert api.post("/api/v1/cases", json=report(), headers=headers).status_code == 201
    assert api.post("/api/v1/cases", json=report(), headers=headers).headers["Idempotent-Replayed"] == "true"
    changed = api.post("/api/v1/cases", json=report(title="另一处垃圾"), headers=headers)
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_key_reused"
    assert "different report" in changed.json()["message"]
