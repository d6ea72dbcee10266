"""Who sees what of a hotspot whose members lie in two streets: each street its own members (ids, locations), the
title only when its member is one of them; escalation by a street dispatcher through the system's channel, audited.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.domains.auth.enums import AuditOutcome, Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.cases.enums import Action, Channel
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.triage import service as triage_service
from gridgov.domains.triage.models import Hotspot
from tests.domains.cases.conftest import T0
from tests.domains.cases.test_api import (
    DISTRICT_DISPATCHER,
    LEADER,
    STREET_DISPATCHER,
    STREET_DISPATCHER_E,
    report,
)
from tests.domains.cases.world import STREET_E, STREET_W, World
from tests.domains.triage import hotspot_cases
from tests.domains.triage.hotspot_cases import EAST, GARBAGE, MIDDLE, NOISE, WEST

URL = "/api/v1/triage/hotspots"


def mixed(db: Session, world: World) -> tuple[Hotspot, list[Case], list[Case]]:
    """One garbage problem reported 4 times in the west street and twice in the east one (763 m apart: one place),
    refreshed at T0; returns the hotspot and its west and east members."""
    west = hotspot_cases.report(db, world, GARBAGE[:4], "SJ0102", WEST, end=T0, days=5)
    east = hotspot_cases.report(db, world, GARBAGE[4:6], "SJ0102", EAST, end=T0, days=4)
    hotspot_cases.report(db, world, NOISE, "SJ0601", MIDDLE, end=T0, days=4)
    triage_service.refresh(db=db, now=T0)
    spot = db.scalars(select(Hotspot)).one()
    assert set(spot.member_case_ids) == {c.id for c in west + east}
    assert {c.street_id for c in west} == {world.area(STREET_W).id}
    assert {c.street_id for c in east} == {world.area(STREET_E).id}
    return spot, west, east


@pytest.fixture
def spot(api: TestClient, db: Session, world: World) -> tuple[Hotspot, list[Case], list[Case]]:
    return mixed(db, world)


def _where(cases: list[Case]) -> list[list[float]]:
    return sorted([round(c.lng, 7), round(c.lat, 7)] for c in cases)


def test_each_street_dispatcher_sees_only_its_own_members_of_a_two_street_hotspot(api: TestClient, spot) -> None:
    hotspot, west, east = spot
    assert hotspot.size == 6 and hotspot.street_id is not None
    for who, own, hidden in ((STREET_DISPATCHER, west, 2), (STREET_DISPATCHER_E, east, 4)):
        listed = api.get(URL, headers=who).json()
        assert [h["id"] for h in listed["items"]] == [hotspot.id], who.username
        item = listed["items"][0]
        assert sorted(item["member_case_ids"]) == sorted(c.id for c in own)
        assert item["hidden_members"] == hidden
        assert sorted(item["locations"]) == _where(own)
        assert (item["size"], item["heat"]) == (6, hotspot.heat)  # the hotspot's own, seen or not
        assert "location_case_ids" not in item["details"]
        detail = api.get(f"{URL}/{hotspot.id}", headers=who).json()
        assert sorted(m["id"] for m in detail["members"]) == sorted(c.id for c in own)
        assert sorted(detail["member_case_ids"]) == sorted(c.id for c in own)
        assert detail["hidden_members"] == hidden and sorted(detail["locations"]) == _where(own)
    # District-wide users see everything.
    for who in (DISTRICT_DISPATCHER, LEADER):
        detail = api.get(f"{URL}/{hotspot.id}", headers=who).json()
        assert len(detail["members"]) == 6 and detail["hidden_members"] == 0 and len(detail["locations"]) == 6
        assert detail["title"] == hotspot.title


def test_the_title_is_shown_only_to_those_who_may_see_its_member(api: TestClient, db: Session, spot) -> None:
    hotspot, west, east = spot
    assert hotspot.details["title_case_id"] in {c.id for c in west + east}
    keywords = "、".join(hotspot.keywords)
    assert keywords and keywords != hotspot.title
    for quoted, sees, blind in (
        (west[0], STREET_DISPATCHER, STREET_DISPATCHER_E),
        (east[0], STREET_DISPATCHER_E, STREET_DISPATCHER),
    ):
        hotspot.details = {**hotspot.details, "title_case_id": quoted.id}
        db.flush()
        seen = api.get(f"{URL}/{hotspot.id}", headers=sees).json()
        assert seen["title"] == hotspot.title and seen["details"]["title_case_id"] == quoted.id
        hidden = api.get(f"{URL}/{hotspot.id}", headers=blind).json()
        assert hidden["title"] == keywords and "title_case_id" not in hidden["details"]
        assert api.get(URL, headers=blind).json()["items"][0]["title"] == keywords


def test_a_hotspot_none_of_whose_members_the_caller_may_see_is_not_found(api: TestClient, db, world, spot) -> None:
    hotspot, west, _east = spot
    hotspot.member_case_ids = [c.id for c in west]  # as if only west reports had been found
    db.flush()
    assert api.get(URL, headers=STREET_DISPATCHER_E).json()["total"] == 0
    assert api.get(f"{URL}/{hotspot.id}", headers=STREET_DISPATCHER_E).status_code == 404
    assert api.post(f"{URL}/{hotspot.id}/dismiss", json={}, headers=STREET_DISPATCHER_E).status_code == 404


def test_a_street_dispatcher_escalates_a_visible_hotspot_but_may_not_report_discovered_cases(
    api: TestClient, db: Session, spot
) -> None:
    hotspot, west, east = spot
    # The channel itself stays the system's and the district centre's.
    for who in (STREET_DISPATCHER, LEADER):
        refused = api.post("/api/v1/cases", json=report(channel="discovered"), headers=who)
        assert refused.status_code == 403 and refused.json()["code"] == "channel_not_allowed", who.username
    hotspot.details = {**hotspot.details, "title_case_id": east[0].id}  # the title quotes an east report
    db.flush()
    made = api.post(f"{URL}/{hotspot.id}/case", json={"note": "限期清运"}, headers=STREET_DISPATCHER)
    assert made.status_code == 201, made.text
    case = db.get(Case, made.json()["case_id"])
    assert case is not None and case.channel == Channel.discovered and case.is_supervised
    assert case.reporter_role == Role.system and case.reporter_user_id is None
    # Reported by the system on the dispatcher's behalf; supervised by the dispatcher.
    events = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).all()
    assert events[0].action == Action.report and events[0].actor_role == Role.system
    assert events[0].actor_name == "高频事项 escalated by 街道派遣员"
    supervised = [e for e in events if e.action == Action.supervise]
    assert len(supervised) == 1 and supervised[0].actor_user_id == STREET_DISPATCHER.user_id
    assert supervised[0].note == "限期清运"
    # Title and description quote only what the dispatcher may see.
    assert case.title == f"高频事项：{'、'.join(hotspot.keywords)}"
    assert all(c.number in case.description for c in west)
    assert not any(c.number in case.description for c in east) and "另有 2 件" in case.description
    db.refresh(hotspot)
    assert (hotspot.status, hotspot.case_id, hotspot.decided_by_user_id) == (
        "escalated",
        case.id,
        STREET_DISPATCHER.user_id,
    )


def test_decisions_are_audited(api: TestClient, db: Session, world: World) -> None:
    history = hotspot_cases.two_streets(db, world, T0)
    triage_service.refresh(db=db, now=T0)
    stored = {frozenset(h.member_case_ids): h for h in db.scalars(select(Hotspot))}
    garbage, stalls = (stored[frozenset(c.id for c in history[k])] for k in ("garbage", "stalls"))
    made = api.post(f"{URL}/{garbage.id}/case", json={"note": "限期一周"}, headers=STREET_DISPATCHER).json()
    assert api.post(f"{URL}/{stalls.id}/dismiss", json={"note": "已纳入整治"}, headers=LEADER).status_code == 200
    entries = db.scalars(select(AuditEntry).where(AuditEntry.target_type == "triage_hotspot")).all()
    by_action = {e.action: e for e in entries}
    assert set(by_action) == {"hotspot.escalate", "hotspot.dismiss"} and len(entries) == 2
    escalated, dismissed = by_action["hotspot.escalate"], by_action["hotspot.dismiss"]
    assert (escalated.target_id, escalated.actor_user_id, escalated.outcome) == (
        str(garbage.id),
        STREET_DISPATCHER.user_id,
        AuditOutcome.ok,
    )
    assert escalated.detail["case"] == made["number"] and escalated.detail["note"] == "限期一周"
    assert (dismissed.target_id, dismissed.actor_user_id) == (str(stalls.id), LEADER.user_id)
    assert dismissed.detail["note"] == "已纳入整治"
    # A refused decision (already decided) writes no success entry.
    assert api.post(f"{URL}/{stalls.id}/dismiss", json={}, headers=LEADER).status_code == 409
    assert db.scalars(select(AuditEntry).where(AuditEntry.target_type == "triage_hotspot")).all() == entries
