"""Household visits (入户走访): logged from the bound phone, in the worker's area; findings become patrol cases."""

from __future__ import annotations

from sqlalchemy import select

from gridgov.domains.cases.models import Case
from gridgov.domains.intake.models import HouseholdVisit
from tests.domains.cases.test_api import GRID_WORKER, GRID_WORKER_E, LEADER, SANITATION, STREET_DISPATCHER_E
from tests.domains.cases.world import point


def visit(**extra):
    lng, lat = point()
    return {
        "household_ref": "3号楼2单元501",
        "lng": lng,
        "lat": lat,
        "purpose": "关爱走访",
        "summary": "独居老人，身体尚好",
        "findings": [
            {"description": "楼道堆放杂物，影响通行", "create_case": True, "matter_type": "SJ0102"},
            {"description": "老人希望社区定期上门测血压"},
        ],
        **extra,
    }


def test_a_visit_with_a_problem_makes_one_patrol_case_and_is_listed_in_the_area(api, db):
    response = api.post("/api/v1/visits", json=visit(), headers={**GRID_WORKER, "Idempotency-Key": "v-1"})
    assert response.status_code == 201, response.text
    logged = response.json()
    [case_id] = logged["case_ids"]
    assert logged["findings"][0]["case_id"] == case_id and "case_id" not in logged["findings"][1]
    case = db.get(Case, case_id)
    assert case.channel == "patrol" and case.stage == "dispatched" and case.reporter_user_id == GRID_WORKER.user_id
    assert f"#{logged['id']}" in case.description
    assert "3号楼" not in case.description and "老人" not in case.description  # no household details in the case

    again = api.post("/api/v1/visits", json=visit(), headers={**GRID_WORKER, "Idempotency-Key": "v-1"})
    assert again.status_code == 201 and again.json()["id"] == logged["id"]  # a retry makes nothing new
    assert db.scalar(select(HouseholdVisit.id).where(HouseholdVisit.id != logged["id"])) is None

    assert [v["id"] for v in api.get("/api/v1/visits", headers=LEADER).json()] == [logged["id"]]
    assert api.get(f"/api/v1/visits/{logged['id']}", headers=GRID_WORKER).status_code == 200
    assert api.get("/api/v1/visits", headers=STREET_DISPATCHER_E).json() == []  # another street
    assert api.get(f"/api/v1/visits/{logged['id']}", headers=STREET_DISPATCHER_E).status_code == 404
    assert api.get("/api/v1/visits", headers=SANITATION).status_code == 403


def test_bad_visits_are_refused_and_write_nothing(api, db):
    no_matter = visit(findings=[{"description": "井盖缺失", "create_case": True}])
    refused = api.post("/api/v1/visits", json=no_matter, headers=GRID_WORKER)
    assert refused.status_code == 422 and refused.json()["field"] == "findings[0].matter_type"
    outside = api.post("/api/v1/visits", json=visit(), headers=GRID_WORKER_E)  # a west grid, an east worker
    assert outside.status_code == 403 and outside.json()["code"] == "out_of_area"
    unknown = visit(findings=[{"description": "x", "create_case": True, "matter_type": "XX9999"}])
    assert api.post("/api/v1/visits", json=unknown, headers=GRID_WORKER).status_code == 422
    assert db.scalar(select(HouseholdVisit.id)) is None and db.scalar(select(Case.id)) is None
    no_phone = {k: v for k, v in GRID_WORKER.items() if k != "X-Device-Id"}
    assert api.post("/api/v1/visits", json=visit(), headers=no_phone).status_code == 403


def test_a_replayed_visit_key_with_another_visit_is_a_conflict_and_long_keys_are_refused(api, db):
    headers = {**GRID_WORKER, "Idempotency-Key": "v-2"}
    assert api.post("/api/v1/visits", json=visit(), headers=headers).status_code == 201
    changed = api.post("/api/v1/visits", json=visit(summary="另一户"), headers=headers)
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_key_reused"
    too_long = api.post("/api/v1/visits", json=visit(), headers={**GRID_WORKER, "Idempotency-Key": "k" * 151})
    assert too_long.status_code == 422
    assert len(db.scalars(select(HouseholdVisit)).all()) == 1
