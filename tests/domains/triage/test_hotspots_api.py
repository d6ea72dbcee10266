"""The hotspot API: who may see which hotspots, detail with visible members, escalation, dismissal, refresh."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov import migrations
from gridgov.config import Settings
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import AuditOutcome, Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.auth.schemas import AuditRecord
from gridgov.domains.cases.models import Case
from gridgov.domains.triage import api as triage_api
from gridgov.domains.triage import service as triage_service
from gridgov.domains.triage.models import Hotspot
from gridgov.main import create_app
from tests.domains.cases.conftest import T0
from tests.domains.cases.test_api import (
    DISTRICT_DISPATCHER,
    GRID_WORKER,
    LEADER,
    STREET_DISPATCHER,
    STREET_DISPATCHER_E,
)
from tests.domains.cases.world import STREET_W, World, add_token_user, bearer, load_world
from tests.domains.triage import hotspot_cases

URL = "/api/v1/triage/hotspots"


@pytest.fixture(autouse=True)
def _refresh_in_the_tests_transaction(app: FastAPI, db: Session) -> None:
    """A refresh on request opens its own transactions: here they join the test's (rolled back at the end)."""

    @contextmanager
    def join(_write: bool) -> Iterator[Session]:
        with db.begin_nested():
            yield db

    app.dependency_overrides[triage_api.refresh_transactions] = lambda: join


@pytest.fixture
def spots(api: TestClient, db: Session, world: World) -> dict[str, Hotspot]:
    """Two hotspots refreshed at the frozen clock: garbage in the west street, street stalls in the east one."""
    history = hotspot_cases.two_streets(db, world, T0)
    triage_service.refresh(db=db, now=T0)
    stored = {frozenset(h.member_case_ids): h for h in db.scalars(select(Hotspot))}
    return {key: stored[frozenset(c.id for c in history[key])] for key in ("garbage", "stalls")}


def test_a_grid_worker_may_not_see_hotspots(api: TestClient, spots) -> None:
    assert api.get(URL, headers=GRID_WORKER).status_code == 403
    assert api.get(f"{URL}/{spots['garbage'].id}", headers=GRID_WORKER).status_code == 403
    assert api.post(f"{URL}/{spots['garbage'].id}/case", json={}, headers=GRID_WORKER).status_code == 403
    assert api.post(f"{URL}/refresh", headers=GRID_WORKER).status_code == 403


def test_a_street_dispatcher_sees_the_hotspots_of_its_street_only(api: TestClient, world: World, spots) -> None:
    garbage, stalls = spots["garbage"], spots["stalls"]
    west = api.get(URL, headers=STREET_DISPATCHER).json()
    assert [h["id"] for h in west["items"]] == [garbage.id] and west["total"] == 1
    item = west["items"][0]
    assert item["street"] == world.area(STREET_W).name and item["matter_type"] == "SJ0102"
    assert item["status"] == "open" and item["size"] == 6 and set(item["details"]) >= {"growth", "concentration"}
    east = api.get(URL, headers=STREET_DISPATCHER_E).json()
    assert [h["id"] for h in east["items"]] == [stalls.id]
    everyone = api.get(URL, headers=DISTRICT_DISPATCHER).json()
    assert {h["id"] for h in everyone["items"]} == {garbage.id, stalls.id}
    hottest_first = [h["heat"] for h in everyone["items"]]
    assert hottest_first == sorted(hottest_first, reverse=True)
    assert api.get(URL, params={"status": "dismissed"}, headers=DISTRICT_DISPATCHER).json()["total"] == 0

    # Detail: another street's hotspot is answered like a missing one.
    assert api.get(f"{URL}/{stalls.id}", headers=STREET_DISPATCHER).status_code == 404
    assert api.get(f"{URL}/999999", headers=DISTRICT_DISPATCHER).status_code == 404
    detail = api.get(f"{URL}/{garbage.id}", headers=STREET_DISPATCHER).json()
    assert [m["id"] for m in detail["members"]] == garbage.member_case_ids
    assert set(detail["members"][0]) == {"id", "number", "title", "stage", "reported_at"}
    assert detail["hidden_members"] == 0


def test_members_outside_the_callers_area_are_counted_not_shown(api: TestClient, db: Session, world, spots) -> None:
    stalls = spots["stalls"]
    west_case = db.scalars(select(Case).where(Case.street_id == world.area(STREET_W).id)).first()
    assert west_case is not None
    stalls.member_case_ids = [*stalls.member_case_ids, west_case.id]  # one member lies in the west street
    db.flush()
    detail = api.get(f"{URL}/{stalls.id}", headers=STREET_DISPATCHER_E).json()
    assert detail["hidden_members"] == 1 and west_case.id not in [m["id"] for m in detail["members"]]


def test_a_hotspot_becomes_one_supervised_case_once(api: TestClient, db: Session, world: World, spots) -> None:
    garbage = spots["garbage"]
    # Out of the caller's streets: 404, nothing made.
    assert api.post(f"{URL}/{garbage.id}/case", json={}, headers=STREET_DISPATCHER_E).status_code == 404
    made = api.post(f"{URL}/{garbage.id}/case", json={"note": "限期一周"}, headers=STREET_DISPATCHER)
    assert made.status_code == 201, made.text
    body = made.json()
    case = db.get(Case, body["case_id"])
    assert case is not None and body == {"hotspot_id": garbage.id, "case_id": case.id, "number": case.number}
    assert case.channel == "discovered" and case.is_supervised and case.street_id == world.area(STREET_W).id
    again = api.post(f"{URL}/{garbage.id}/case", json={}, headers=STREET_DISPATCHER)
    assert again.status_code == 409 and again.json()["code"] == "hotspot_decided"
    assert api.post(f"{URL}/{garbage.id}/dismiss", json={}, headers=STREET_DISPATCHER).status_code == 409
    seen = api.get(f"{URL}/{garbage.id}", headers=STREET_DISPATCHER).json()
    assert (seen["status"], seen["case_id"]) == ("escalated", case.id)
    # The case shows in the caller's case list.
    listed = api.get("/api/v1/cases", params={"channel": "discovered"}, headers=STREET_DISPATCHER).json()
    assert [c["id"] for c in listed["items"]] == [case.id]


def test_a_leader_dismisses_and_refresh_answers_with_a_summary(api: TestClient, spots) -> None:
    stalls = spots["stalls"]
    dismissed = api.post(f"{URL}/{stalls.id}/dismiss", json={"note": "已纳入整治计划"}, headers=LEADER)
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    assert dismissed.json()["details"]["decision"]["note"] == "已纳入整治计划"
    refreshed = api.post(f"{URL}/refresh", headers=DISTRICT_DISPATCHER)
    assert refreshed.status_code == 200, refreshed.text
    summary = refreshed.json()
    assert (summary["found"], summary["already_decided"], summary["updated"], summary["created"]) == (2, 1, 1, 0)
    assert summary["hotspot_ids"] == [spots["garbage"].id]
    assert api.post(f"{URL}/refresh", params={"window_days": 0}, headers=DISTRICT_DISPATCHER).status_code == 422


def test_only_district_wide_users_may_refresh(api: TestClient, db: Session, spots) -> None:
    refused = api.post(f"{URL}/refresh", headers=STREET_DISPATCHER)
    assert refused.status_code == 403 and "district" in refused.json()["detail"]
    denial = db.scalars(select(AuditEntry).where(AuditEntry.action == "hotspot.refresh")).one()
    assert (denial.outcome, denial.actor_user_id) == (AuditOutcome.denied, STREET_DISPATCHER.user_id)
    # At most 90 days are clustered on request.
    assert api.post(f"{URL}/refresh", params={"window_days": 91}, headers=LEADER).status_code == 422
    done = api.post(f"{URL}/refresh", params={"window_days": 90}, headers=LEADER)
    assert done.status_code == 200, done.text
    summary = done.json()
    assert (summary["found"], summary["updated"], summary["created"]) == (2, 2, 0)
    assert dt.datetime.fromisoformat(summary["window_end"]) - dt.datetime.fromisoformat(
        summary["window_start"]
    ) == dt.timedelta(days=90)


def test_a_refresh_on_request_clusters_outside_any_transaction(
    fresh_database_url: str, tmp_path: Path, now: list[dt.datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a database of its own, through the app's engine: while the clustering runs another writer can commit
    (a refresh inside the request's write transaction would hold SQLite's one writer until it ended)."""
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    try:
        with transaction(engine) as db:
            world = load_world(db)
            hotspot_cases.two_streets(db, world, T0)
            _user, token = add_token_user(db, "district", Role.district_dispatcher, "CENTRE", None)
        settings = Settings(env="test", database_url=fresh_database_url, media_dir=tmp_path / "media")
        client = TestClient(create_app(settings, engine))
        written: list[int] = []
        find = triage_service.find

        def find_and_write_meanwhile(snapshot: Any, options: Any = None) -> Any:
            with transaction(engine) as other:  # NOTE: waits for (then fails on) a writer lock held by the request
                entry = auth_service.add_audit(db=other, record=AuditRecord(action="test.meanwhile"))
                other.flush()
                written.append(entry.id)
            return find(snapshot, options)

        monkeypatch.setattr(triage_service, "find", find_and_write_meanwhile)
        response = client.post(f"{URL}/refresh", headers=bearer(token))
        assert response.status_code == 200, response.text
        assert written and response.json()["created"] == 2
        with transaction(engine, write=False) as db:
            assert len(db.scalars(select(Hotspot)).all()) == 2  # stored and committed by the request
            assert db.get(AuditEntry, written[0]) is not None
    finally:
        engine.dispose()
