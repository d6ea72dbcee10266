"""Rankings, counts, staffing and indicators through HTTP: permissions (a grid worker is refused, the
administrator edits, a street dispatcher sees its own street), real cases counted by the engine (the "sql" engine,
inside the test's transaction), the minimum-sample rule, empty periods and bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.evaluation import indicators
from gridgov.domains.evaluation.models import Indicator
from tests.domains.cases.test_api import GRID_WORKER, LEADER, SANITATION, STREET_DISPATCHER, Who
from tests.domains.evaluation.ranking_world import E_N, W_N, WEST_COMPOSITE, E, W, build

ADMIN = Who("admin", Role.admin, "CENTRE", None, "系统管理员")
RANKINGS = "/api/v1/evaluation/rankings"
INDICATORS = "/api/v1/evaluation/indicators"


@pytest.fixture
def evaluation(api, app, db, world):
    """The API on the ranking world, counting with the sql engine (the test's data is not committed)."""
    app.state.settings = app.state.settings.model_copy(update={"evaluation_engine": "sql"})
    ADMIN.enrol(db, scopes=("admin",))
    build(db, world)
    return api


def rows_of(body: dict) -> dict[str, dict]:
    return {row["key"]: row for row in body["rows"]}


def test_the_district_ranking_by_street(evaluation):
    response = evaluation.get(RANKINGS, params={"period": "2026-11", "dimension": "street"}, headers=LEADER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["period"], body["previous_period"], body["dimension"], body["object"]) == (
        "2026-11",
        "2026-10",
        "street",
        "area",
    )
    assert body["start"].startswith("2026-10-31T16:00:00")  # local midnight in Shanghai, as UTC
    assert [i["code"] for i in body["indicators"]][:4] == [
        "closure_rate",
        "on_time_closure_rate",
        "rework_rate",
        "satisfaction_rate",
    ]
    west, east = body["rows"]
    assert west["key"] == W and west["label"] == "经八路街道"
    assert west["rank"] == 1 and west["ranked"] is True and west["sample"] == 10
    assert west["values"]["closure_rate"] == 1.0 and west["values"]["on_time_closure_rate"] == pytest.approx(0.9)
    assert west["values"]["satisfaction_rate"] is None  # nobody rated
    assert west["values"]["cases_per_10k"] == pytest.approx(10 / 5000 * 10000)
    assert west["composite"] == pytest.approx(WEST_COMPOSITE)
    assert west["counts"]["due"] == 10 and west["counts"]["closed_on_time"] == 9
    assert west["previous_composite"] is None and west["change"] is None  # no October
    # east: two cases due, below the minimum of 10: listed with its values, not ranked
    assert east["key"] == E and east["ranked"] is False and east["rank"] is None
    assert east["sample"] == 2 and east["min_sample"] == 10
    assert east["values"]["on_time_closure_rate"] == 1.0


def test_a_street_dispatcher_sees_its_own_street(evaluation):
    body = evaluation.get(RANKINGS, params={"period": "2026-11"}, headers=STREET_DISPATCHER).json()
    assert [r["key"] for r in body["rows"]] == [W] and body["scope_code"] == W
    communities = evaluation.get(
        RANKINGS, params={"period": "2026-11", "dimension": "community"}, headers=STREET_DISPATCHER
    ).json()
    assert {r["key"] for r in communities["rows"]} == {W_N, f"{W}002"}
    assert rows_of(communities)[W_N]["rank"] == 1 and rows_of(communities)[f"{W}002"]["ranked"] is False
    grids = evaluation.get(
        RANKINGS, params={"period": "2026-11", "dimension": "grid", "area": W_N}, headers=STREET_DISPATCHER
    ).json()
    assert grids["scope_code"] == W_N and all(r["key"].startswith(W_N) for r in grids["rows"])
    outside = evaluation.get(RANKINGS, params={"period": "2026-11", "area": E}, headers=STREET_DISPATCHER)
    assert outside.status_code == 404 and outside.json()["detail"] == f"unknown area '{E}'"
    # the district leader may narrow to any street
    east = evaluation.get(
        RANKINGS, params={"period": "2026-11", "dimension": "community", "area": E}, headers=LEADER
    ).json()
    assert {r["key"] for r in east["rows"]} == {E_N, f"{E}002"}


def test_who_may_see_and_edit(evaluation):
    for path in (RANKINGS, "/api/v1/evaluation/counts", "/api/v1/evaluation/staffing", INDICATORS):
        refused = evaluation.get(path, params={"period": "2026-11"}, headers=GRID_WORKER)
        assert refused.status_code == 403, path
        assert "may not evaluation." in refused.json()["detail"]
    assert evaluation.get(RANKINGS, params={"period": "2026-11"}, headers=SANITATION).status_code == 403
    assert evaluation.put(f"{INDICATORS}/closure_rate", json={"weight": 50}, headers=LEADER).status_code == 403
    assert evaluation.post(INDICATORS, json={}, headers=STREET_DISPATCHER).status_code == 403
    # the administrator edits the indicators and lists them, but sees no rankings (no case data)
    assert evaluation.get(INDICATORS, headers=ADMIN).status_code == 200
    assert evaluation.get(INDICATORS, headers=LEADER).status_code == 200
    assert evaluation.get(RANKINGS, params={"period": "2026-11"}, headers=ADMIN).status_code == 403


def test_the_administrator_changes_a_weight_and_the_ranking_follows(evaluation, db):
    listed = evaluation.get(INDICATORS, params={"object": "area", "active": True}, headers=ADMIN).json()
    assert [i["code"] for i in listed][:2] == ["closure_rate", "on_time_closure_rate"]
    assert all("area" in i["objects"] and i["is_active"] for i in listed)
    response = evaluation.put(f"{INDICATORS}/on_time_closure_rate", json={"weight": 0}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["weight"] == 0.0 and response.json()["formula"] == "closed_on_time / due"
    assert db.scalar(select(Indicator.weight).where(Indicator.code == "on_time_closure_rate")) == 0.0
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "indicator.update")).one()
    assert entry.actor_name == "系统管理员" and entry.target_id == "on_time_closure_rate"
    west = evaluation.get(RANKINGS, params={"period": "2026-11"}, headers=LEADER).json()["rows"][0]
    assert west["composite"] == pytest.approx(100.0)  # 结案率 and 返工率 only, both perfect
    # ... and its sample now comes from the heaviest indicator left (结案率, also 应结案)
    assert west["sample"] == 10


def test_a_bad_formula_is_refused_with_the_reason(evaluation):
    response = evaluation.put(f"{INDICATORS}/closure_rate", json={"formula": "closed / clsoed"}, headers=ADMIN)
    assert response.status_code == 422
    [issue] = response.json()["issues"]
    assert issue["where"] == "indicator closure_rate" and issue["field"] == "formula"
    assert issue["message"].startswith("unknown count `clsoed` (did you mean `closed`?); known counts: received")
    response = evaluation.put(f"{INDICATORS}/closure_rate", json={"formula": "closed / received"}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["issues"][0]["message"] == (
        "divides by `received`, which may be 0: set when_zero (the value then, or null for 'not rated')"
    )
    response = evaluation.put(f"{INDICATORS}/closure_rate", json={"formula": "__import__('os')"}, headers=ADMIN)
    assert response.status_code == 422 and "is not allowed" in response.json()["issues"][0]["message"]
    assert evaluation.put(f"{INDICATORS}/nope", json={"weight": 1}, headers=ADMIN).status_code == 404
    # values the formula's floats or the table's 32-bit columns cannot hold: 422, nothing stored
    response = evaluation.put(
        f"{INDICATORS}/closure_rate", json={"formula": "closed / " + "9" * 400, "when_zero": None}, headers=ADMIN
    )
    assert response.status_code == 422 and "is too large" in response.json()["issues"][0]["message"]
    for field, value in (("min_sample", 10**10), ("position", 10**10)):
        response = evaluation.put(f"{INDICATORS}/closure_rate", json={field: value}, headers=ADMIN)
        assert response.status_code == 422 and response.json()["issues"][0]["field"] == field
    body = {"code": "x\n", "name": "x", "name_en": "x", "objects": ["area"], "formula": "closed"}
    response = evaluation.post(INDICATORS, json=body, headers=ADMIN)
    assert response.status_code == 422 and [i["field"] for i in response.json()["issues"]] == ["code"]


def test_the_administrator_adds_an_indicator(evaluation):
    body = {
        "code": "rework_per_due",
        "name": "返工占比",
        "name_en": "Rework per case due",
        "objects": ["area"],
        "formula": "rework / due",
        "direction": "lower",
        "sample": "due",
        "min_sample": 10,
    }
    refused = evaluation.post(INDICATORS, json=body, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["issues"] == [
        {
            "where": "indicator rework_per_due",
            "field": "when_zero",
            "message": "divides by `due`, which may be 0: set when_zero (the value then, or null for 'not rated')",
        }
    ]
    created = evaluation.post(INDICATORS, json={**body, "when_zero": None}, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.json()["when_zero"] is None and created.json()["position"] > 0
    assert evaluation.post(INDICATORS, json={**body, "when_zero": None}, headers=ADMIN).status_code == 409
    ranking = evaluation.get(RANKINGS, params={"period": "2026-11"}, headers=LEADER).json()
    assert rows_of(ranking)[W]["values"]["rework_per_due"] == 0.0
    assert len(evaluation.get(INDICATORS, headers=ADMIN).json()) == len(indicators.shipped()) + 1


def test_the_counts_table(evaluation):
    body = evaluation.get(
        "/api/v1/evaluation/counts", params={"period": "2026-11", "dimension": "street"}, headers=LEADER
    ).json()
    assert "due" in {c["name"] for c in body["counts"]}
    assert next(c for c in body["counts"] if c["name"] == "due")["zh"] == "应结案数"
    west = rows_of(body)[W]
    assert west["counts"]["due"] == 10 and west["counts"]["closed"] == 10 and west["counts"]["closed_on_time"] == 9
    assert west["population"] == 5000 and west["label"] == "经八路街道"
    units = evaluation.get(
        "/api/v1/evaluation/counts", params={"period": "2026-11", "dimension": "unit"}, headers=STREET_DISPATCHER
    ).json()
    # only the units acting on its street's cases: its sanitation team, and its grid workers' committee
    assert {r["key"] for r in units["rows"]} == {f"{W}-HWS", f"{W_N}-JWH"}


def test_a_period_without_data_is_an_empty_ranking_not_an_error(evaluation):
    for dimension in ("street", "unit", "person"):
        response = evaluation.get(RANKINGS, params={"period": "2025-01", "dimension": dimension}, headers=LEADER)
        assert response.status_code == 200 and response.json()["rows"] == [], dimension
    counts = evaluation.get("/api/v1/evaluation/counts", params={"period": "2025-01"}, headers=LEADER)
    assert counts.status_code == 200 and counts.json()["rows"] == []


def test_bad_periods_and_dimensions(evaluation):
    response = evaluation.get(RANKINGS, params={"period": "November"}, headers=LEADER)
    assert response.status_code == 422 and "2026-Q4 (a quarter)" in response.json()["detail"]
    response = evaluation.get(RANKINGS, params={"period": "2026-11", "dimension": "channel"}, headers=LEADER)
    assert response.status_code == 422 and response.json()["code"] == "not_ranked"
    response = evaluation.get(RANKINGS, params={"period": "2026-11", "area": "999"}, headers=LEADER)
    assert response.status_code == 404
    # years with no UTC instant for their first local midnight, or no period before them: 422, not a crash
    for period in ("0001", "0001-01-02..0001-01-05", "1900", "1900-01-01..9998-12-31"):
        response = evaluation.get(RANKINGS, params={"period": period}, headers=LEADER)
        assert response.status_code == 422 and "years 1900–9998" in response.json()["detail"], period
    response = evaluation.get("/api/v1/evaluation/counts", params={"period": "0001"}, headers=LEADER)
    assert response.status_code == 422


def test_units_and_people_are_ranked_with_their_own_sets(evaluation):
    units = evaluation.get(RANKINGS, params={"period": "2026-11", "dimension": "unit"}, headers=LEADER).json()
    assert units["object"] == "department" and "dept_return_rate" in [i["code"] for i in units["indicators"]]
    west_team = rows_of(units)[f"{W}-HWS"]
    assert west_team["ranked"] is True and west_team["values"]["dept_on_time_closure_rate"] == pytest.approx(0.9)
    assert rows_of(units)[f"{E}-HWS"]["ranked"] is False
    people = evaluation.get(RANKINGS, params={"period": "2026-11", "dimension": "person"}, headers=LEADER).json()
    assert people["object"] == "post"
    worker = rows_of(people)["101"]
    assert worker["values"]["valid_report_rate"] == 1.0 and worker["counts"]["reports"] == 10


def test_staffing(evaluation, db, world):
    response = evaluation.get("/api/v1/evaluation/staffing", params={"level": "community"}, headers=LEADER)
    assert response.status_code == 200
    found = {row["code"]: row for row in response.json()}
    # the API users: two grid workers in the west north community, one in the east north one
    west = found[W_N]
    assert (west["staff"], west["population"], west["standard"]) == (2, 2500, 18.0)
    assert west["per_10k"] == pytest.approx(8.0) and west["short_by"] == 3  # ceil(18 × 0.25) − 2
    assert found[E_N]["staff"] == 1 and found[f"{W}002"]["staff"] == 0
    assert [r["code"] for r in response.json()][0] == f"{W}002"  # the least staffed first
    mine = evaluation.get("/api/v1/evaluation/staffing", params={"level": "street"}, headers=STREET_DISPATCHER).json()
    assert [(r["code"], r["staff"]) for r in mine] == [(W, 2)]
