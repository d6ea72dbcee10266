"""A campaign's progress on a hand-built week where every figure is known, and the campaign API end to end.

The week (Shanghai time, November 2026; SJ0102 patrol reports are due 4 working hours after 09:00, at 15:00):
- A: west street, reported Mon 23 09:00, finished 10:00, verified 10:30: closed on time.
- B: west street, reported Mon 23 09:00, finished Tue 24 09:00 (past Mon 15:00), verified 10:00: closed late.
- C: east street, reported Tue 24 09:00, never handled: open and overdue since Tue 15:00.
- D: west street, 占道经营 (SJ0501), Tue 24 09:00: outside the campaign (another matter type), open.
The campaign (SJ0102, both streets, Mon 23 – Sat 28) is looked at on Fri 27 09:00: due 3 (A, B, C), closed 2,
on time 1; 结案率 2/3, 按期结案率 1/3, 返工率 0/2, no ratings yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.models import Case
from gridgov.domains.evaluation import campaigns
from gridgov.domains.evaluation.schemas import CampaignCreate
from tests.domains.cases.test_api import DISTRICT_DISPATCHER, GRID_WORKER, STREET_DISPATCHER
from tests.domains.cases.world import STREET_E, STREET_W, World
from tests.domains.evaluation.campaign_world import EAST, close, local, manager, report, sql_counts  # noqa: F401

CODE = "garbage-week"
NOW = local(27, 9)
TARGETS = {"closure_rate": 0.6, "on_time_closure_rate": 0.9, "rework_rate": 0.1, "satisfaction_rate": 0.8}


@dataclass
class Week:
    a: Case
    b: Case
    c: Case
    d: Case


def week(db: Session, world: World) -> Week:
    a = report(db, world, at=local(23, 9))
    b = report(db, world, at=local(23, 9))
    close(db, world, a, finished=local(23, 10), verified=local(23, 10, 30))
    c = report(db, world, at=local(24, 9), where=EAST)
    d = report(db, world, at=local(24, 9), matter="SJ0501", title="占道经营")
    close(db, world, b, finished=local(24, 9), verified=local(24, 10))
    return Week(a=a, b=b, c=c, d=d)


def body(**changes: Any) -> dict[str, Any]:
    return {
        "code": CODE,
        "name": "暴露垃圾一周整治",
        "matter_type_codes": ["SJ0102"],
        "area_codes": [],
        "starts_at": local(23, 0).isoformat(),
        "ends_at": local(28, 0).isoformat(),
        "targets": TARGETS,
        **changes,
    }


@pytest.fixture
def boss(db: Session, world: World) -> Actor:
    return manager(db, world)


def test_progress_counts_the_campaign_cases_against_its_targets(db, world: World, boss: Actor):
    cases = week(db, world)
    campaign = campaigns.create(db=db, data=CampaignCreate(**body()), actor=boss, now=NOW)
    assert set(campaigns.case_ids(db=db, campaign=campaign)) == {cases.a.id, cases.b.id, cases.c.id}

    found = campaigns.progress(db=db, campaign=campaign, now=NOW, engine="sql")
    assert found.period == "2026-11-23..2026-11-27"
    assert (found.cases, found.open, found.overdue) == (3, 1, 1)
    counts = found.counts
    assert (counts["received"], counts["due"], counts["closed"], counts["closed_on_time"]) == (3, 3, 2, 1)
    assert counts.get("open_overdue", 0) == 1
    targets = {t.code: t for t in found.targets}
    assert targets["closure_rate"].value == pytest.approx(2 / 3) and targets["closure_rate"].met is True
    assert targets["on_time_closure_rate"].value == pytest.approx(1 / 3)
    assert targets["on_time_closure_rate"].met is False
    assert targets["rework_rate"].value == 0.0 and targets["rework_rate"].met is True  # lower is better
    assert targets["satisfaction_rate"].value is None and targets["satisfaction_rate"].met is None  # nobody rated
    assert found.met == 2
    assert targets["closure_rate"].name == "结案率" and targets["closure_rate"].target == 0.6

    streets = {row.key: row for row in found.streets}
    assert set(streets) == {STREET_W, STREET_E}
    west, east = streets[STREET_W], streets[STREET_E]
    assert (west.cases, west.open, west.overdue) == (2, 0, 0)
    assert west.values["closure_rate"] == 1.0 and west.values["on_time_closure_rate"] == 0.5
    assert west.met["closure_rate"] is True and west.met["on_time_closure_rate"] is False
    assert (east.cases, east.open, east.overdue) == (1, 1, 1)
    assert east.values["closure_rate"] == 0.0 and east.met["closure_rate"] is False
    assert west.label == world.area(STREET_W).name

    days = [(d.day.isoformat(), d.received, d.closed) for d in found.daily]
    assert days == [
        ("2026-11-23", 2, 1),
        ("2026-11-24", 1, 1),
        ("2026-11-25", 0, 0),
        ("2026-11-26", 0, 0),
        ("2026-11-27", 0, 0),
    ]


def test_progress_limited_to_a_street_counts_only_its_cases(db, world: World, boss: Actor):
    week(db, world)
    campaign = campaigns.create(db=db, data=CampaignCreate(**body()), actor=boss, now=NOW)
    west = campaigns.progress(db=db, campaign=campaign, now=NOW, engine="sql", scope_path=world.area(STREET_W).path)
    assert (west.cases, west.open, west.overdue) == (2, 0, 0)
    assert [row.key for row in west.streets] == [STREET_W]
    assert {t.code: t.value for t in west.targets}["closure_rate"] == 1.0


def test_a_closed_campaign_is_counted_until_it_closed(db, world: World, boss: Actor):
    week(db, world)
    campaign = campaigns.create(db=db, data=CampaignCreate(**body()), actor=boss, now=local(24, 9, 30))
    campaigns.close(db=db, campaign=campaign, actor=boss, now=local(24, 9, 30))
    found = campaigns.progress(db=db, campaign=campaign, now=NOW, engine="sql")
    # Until Tue 09:30: A and B were due (Mon 15:00), only A closed; B's closing at 10:00 came after.
    assert found.status == "closed" and found.period == "2026-11-23..2026-11-24"
    assert (found.counts["due"], found.counts["closed"]) == (2, 1)
    assert {t.code: t.value for t in found.targets}["closure_rate"] == 0.5
    assert len(found.daily) == 2


def test_an_empty_campaign_has_progress_without_figures(db, world: World, boss: Actor):
    campaign = campaigns.create(db=db, data=CampaignCreate(**body()), actor=boss, now=NOW)
    found = campaigns.progress(db=db, campaign=campaign, now=NOW, engine="sql")
    assert (found.cases, found.open, found.overdue, found.counts, found.streets, found.daily) == (0, 0, 0, {}, [], [])
    assert all(t.value is None and t.met is None for t in found.targets)


# --- the API ----------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("sql_counts")
def test_the_campaign_api_end_to_end(api, db, world: World, now):
    now[0] = NOW
    cases = week(db, world)
    assert api.get("/api/v1/evaluation/campaigns", headers=GRID_WORKER).status_code == 403
    assert api.post("/api/v1/evaluation/campaigns", json=body(), headers=STREET_DISPATCHER).status_code == 403

    refused = api.post(
        "/api/v1/evaluation/campaigns",
        json=body(matter_type_codes=["SJ0102", "XX0000"], targets={"nope": 1}),
        headers=DISTRICT_DISPATCHER,
    )
    assert refused.status_code == 422
    assert {(i["field"], i["message"]) for i in refused.json()["issues"]} == {
        ("matter_type_codes", "unknown matter type 'XX0000'"),
        ("targets", "unknown indicator code 'nope' in targets"),
    }

    made = api.post("/api/v1/evaluation/campaigns", json=body(), headers=DISTRICT_DISPATCHER)
    assert made.status_code == 201, made.text
    assert made.json()["cases"] == 3 and made.json()["status"] == "active"
    again = api.post("/api/v1/evaluation/campaigns", json=body(), headers=DISTRICT_DISPATCHER)
    assert again.status_code == 409

    listed = api.get("/api/v1/evaluation/campaigns?status=active", headers=STREET_DISPATCHER)
    assert [c["code"] for c in listed.json()] == [CODE]
    # a street user counts the campaign's cases in its street only, as its progress does (2 west, 1 east)
    assert [c["cases"] for c in listed.json()] == [2]
    assert api.get(f"/api/v1/evaluation/campaigns/{CODE}", headers=STREET_DISPATCHER).json()["cases"] == 2
    assert api.get(f"/api/v1/evaluation/campaigns/{CODE}", headers=DISTRICT_DISPATCHER).json()["cases"] == 3
    assert api.get("/api/v1/evaluation/campaigns/none", headers=STREET_DISPATCHER).status_code == 404

    renamed = api.patch(f"/api/v1/evaluation/campaigns/{CODE}", json={"name": "改名"}, headers=DISTRICT_DISPATCHER)
    assert renamed.status_code == 200 and renamed.json()["name"] == "改名"
    # a period cannot be taken away, nor start before the supported years: 422, nothing changed
    for change in ({"starts_at": None}, {"ends_at": None}, {"starts_at": "0001-01-01T00:00:00"}):
        refused = api.patch(f"/api/v1/evaluation/campaigns/{CODE}", json=change, headers=DISTRICT_DISPATCHER)
        assert refused.status_code == 422, (change, refused.text)
        assert refused.json()["issues"][0]["field"] == next(iter(change)), change
    refused = api.post(
        "/api/v1/evaluation/campaigns",
        json=body(code="old", starts_at="0001-01-01T00:00:00"),
        headers=DISTRICT_DISPATCHER,
    )
    assert refused.status_code == 422 and refused.json()["issues"][0]["field"] == "starts_at"

    path = f"/api/v1/evaluation/campaigns/{CODE}/cases/{cases.d.id}"
    assert api.post(path, headers=STREET_DISPATCHER).status_code == 403
    assert api.post(path, headers=DISTRICT_DISPATCHER).status_code == 201
    assert api.post(path, headers=DISTRICT_DISPATCHER).json()["tagged"] is False
    inside = api.delete(f"/api/v1/evaluation/campaigns/{CODE}/cases/{cases.a.id}", headers=DISTRICT_DISPATCHER)
    assert inside.status_code == 422 and inside.json()["code"] == "in_scope"
    assert api.delete(path, headers=DISTRICT_DISPATCHER).status_code == 204
    assert api.delete(path, headers=DISTRICT_DISPATCHER).status_code == 404
    missing = f"/api/v1/evaluation/campaigns/{CODE}/cases/{cases.d.id + 999}"
    assert api.post(missing, headers=DISTRICT_DISPATCHER).status_code == 404

    progress = api.get(f"/api/v1/evaluation/campaigns/{CODE}/progress", headers=DISTRICT_DISPATCHER)
    assert progress.status_code == 200, progress.text
    figures = progress.json()
    assert (figures["cases"], figures["open"], figures["overdue"]) == (3, 1, 1)
    assert {t["code"]: t["met"] for t in figures["targets"]} == {
        "closure_rate": True,
        "on_time_closure_rate": False,
        "rework_rate": True,
        "satisfaction_rate": None,
    }
    west = api.get(f"/api/v1/evaluation/campaigns/{CODE}/progress", headers=STREET_DISPATCHER).json()
    assert west["cases"] == 2 and [s["key"] for s in west["streets"]] == [STREET_W]

    closed = api.post(f"/api/v1/evaluation/campaigns/{CODE}/close", headers=DISTRICT_DISPATCHER)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert api.post(f"/api/v1/evaluation/campaigns/{CODE}/close", headers=DISTRICT_DISPATCHER).status_code == 409
    assert api.post(path, headers=DISTRICT_DISPATCHER).status_code == 409
