"""The case API through HTTP: reporting, idempotency, errors, lists, detail, every action, media, OpenAPI.

Requests run inside the test's transaction (the `client` fixture); every caller is a real user with an API
token (`Authorization: Bearer`), scoped by role, unit and area like production. The clock is frozen at T0
(a Wednesday, 09:00 in Shanghai) so deadlines and periods are exact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gridgov.config import Settings
from gridgov.core import clock
from gridgov.core.auth import get_auth_transactions
from gridgov.core.db import get_db, get_write_db
from gridgov.domains.auth import terminals
from gridgov.domains.auth.enums import AuditOutcome, Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.auth.schemas import SYSTEM_ACTOR
from gridgov.domains.cases import jobs, sla
from gridgov.domains.cases.api import router as cases_router
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.cases.service import Context
from gridgov.main import create_app
from tests.domains.areas.synthetic import lnglat
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import COMMUNITY_W_N, STREET_E, STREET_W, World, add_token_user, bearer, point

JWH = f"{COMMUNITY_W_N}-JWH"
HWS_W = f"{STREET_W}-HWS"


# --- helpers ---------------------------------------------------------------------------------------------------


class Who(dict[str, str]):
    """A test user's Authorization header; the `api` fixture creates the user and a fresh token every test."""

    def __init__(self, username: str, role: Role, unit: str | None, scope: str | None, name: str) -> None:
        super().__init__()
        self.username, self.role, self.unit, self.scope, self.name = username, role, unit, scope, name
        self.user_id: int | None = None

    def enrol(self, db: Session, scopes: tuple[str, ...] = ("cases:read", "cases:write")) -> None:
        user, token = add_token_user(
            db, self.username, self.role, self.unit, self.scope, display_name=self.name, scopes=scopes
        )
        self.user_id = user.id
        self.clear()
        self.update(bearer(token))
        if self.role in terminals.BOUND_ROLES:  # a grid worker reports from their bound phone
            device_id = f"phone-of-{self.username}"
            terminals.bind(db=db, actor=SYSTEM_ACTOR, user=user, device_id=device_id)
            self["X-Device-Id"] = device_id


GRID_WORKER = Who("gw1", Role.grid_worker, JWH, COMMUNITY_W_N, "网格员甲")
OTHER_GRID_WORKER = Who("gw2", Role.grid_worker, JWH, COMMUNITY_W_N, "网格员乙")
GRID_WORKER_E = Who("gw_e", Role.grid_worker, f"{STREET_E}001-JWH", f"{STREET_E}001", "网格员丙")
STREET_DISPATCHER = Who("street_w", Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W, "街道派遣员")
STREET_DISPATCHER_E = Who("street_e", Role.street_dispatcher, f"{STREET_E}-CYZX", STREET_E, "东街道派遣员")
DISTRICT_DISPATCHER = Who("district", Role.district_dispatcher, "CENTRE", None, "区值班长")
LEADER = Who("leader", Role.district_leader, "CENTRE", None, "区领导")
SANITATION = Who("hws_w", Role.unit_handler, HWS_W, None, "环卫所处置员")
CGJ = Who("cgj", Role.unit_handler, "CGJ", None, "城管局处置员")
CITIZEN = Who("citizen", Role.citizen, None, None, "市民")
OTHER_CITIZEN = Who("citizen2", Role.citizen, None, None, "另一市民")
EVERYONE = (
    GRID_WORKER,
    OTHER_GRID_WORKER,
    GRID_WORKER_E,
    STREET_DISPATCHER,
    STREET_DISPATCHER_E,
    DISTRICT_DISPATCHER,
    LEADER,
    SANITATION,
    CGJ,
    CITIZEN,
    OTHER_CITIZEN,
)
# A model's classification below GRIDGOV_AUTO_DISPATCH_MIN_CONFIDENCE: the case waits in the centre's queue.
UNSURE = {"label": "SJ0601", "confidence": 0.5, "model": "test"}


def _denials(db: Session) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.outcome == AuditOutcome.denied).order_by(AuditEntry.id)))


def jpeg() -> bytes:
    """Returns a real baseline JPEG: an 8×8 mid-grey image (one DC-only block, one-code Huffman tables)."""

    def segment(marker: int, payload: bytes) -> bytes:
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload

    return b"".join(
        [
            b"\xff\xd8",  # SOI
            segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xDB, b"\x00" + bytes([1] * 64)),  # quantisation table 0, all ones
            segment(0xC0, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00"),  # baseline, 8×8, one component
            segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00"),  # DC table: one 1-bit code → category 0
            segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00"),  # AC table: one 1-bit code → EOB
            segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            b"\x3f",  # DC diff 0, EOB, padded with ones
            b"\xff\xd9",  # EOI
        ]
    )


def report(
    matter: str = "SJ0102",
    channel: str = "patrol",
    at: tuple[float, float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    lng, lat = at or point()
    return {
        "channel": channel,
        "matter_type": matter,
        "title": "路边暴露垃圾",
        "description": "一堆生活垃圾",
        "lng": lng,
        "lat": lat,
        **extra,
    }


@pytest.fixture
def now() -> Iterator[list[dt.datetime]]:
    """Freezes the clock at T0; tests move it by assigning `now[0]`."""
    current = [T0]
    clock.set_clock(lambda: current[0])
    try:
        yield current
    finally:
        clock.set_clock(None)


@pytest.fixture
def api(client: TestClient, db: Session, world: World, now: list[dt.datetime]) -> TestClient:
    """The test client on the loaded world with the clock frozen and every test user enrolled with a token."""
    for who in EVERYONE:
        who.enrol(db)
    return client


def create(api: TestClient, headers: dict[str, str] = GRID_WORKER, key: str | None = None, **body: Any) -> dict:
    extra_headers = {"Idempotency-Key": key} if key else {}
    response = api.post("/api/v1/cases", json=report(**body), headers={**headers, **extra_headers})
    assert response.status_code == 201, response.text
    return response.json()["case"]


def act(
    api: TestClient, case: dict, action: str, headers: dict[str, str], expect: int = 200, **body: Any
) -> dict[str, Any]:
    response = api.post(f"/api/v1/cases/{case['id']}/{action}", json=body, headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


def actions_of(case: dict) -> list[tuple[str, str | None, str]]:
    return [(e["action"], e["from_stage"], e["to_stage"]) for e in case["timeline"]]


def upload(api: TestClient, data: bytes, name: str = "photo.jpg", headers: dict[str, str] = SANITATION):
    return api.post("/api/v1/media", files={"file": (name, data, "application/octet-stream")}, headers=headers)


def _app_in_test_transaction(settings: Settings, engine: Engine, db: Session) -> FastAPI:
    """Returns an app on `settings` whose requests run inside the test's transaction (like the `app` fixture)."""
    application = create_app(settings, engine)

    def _test_db() -> Iterator[Session]:
        with db.begin_nested():
            yield db

    @contextmanager
    def _join(_write: bool) -> Iterator[Session]:
        with db.begin_nested():
            yield db

    application.dependency_overrides[get_db] = _test_db
    application.dependency_overrides[get_write_db] = _test_db
    application.dependency_overrides[get_auth_transactions] = lambda: _join
    return application


# --- reporting and idempotency ---------------------------------------------------------------------------------


def test_report_creates_a_registered_auto_dispatched_case(api, world):
    response = api.post("/api/v1/cases", json=report(), headers=GRID_WORKER)
    assert response.status_code == 201, response.text
    assert "Idempotent-Replayed" not in response.headers
    body = response.json()
    assert body["created"] is True and body["duplicates"] == []
    case = body["case"]
    assert case["number"] == "410105-20261125-000001"
    assert case["stage"] == "dispatched"
    assert case["handling_unit_id"] == world.unit(HWS_W).id
    assert case["grid_id"] == world.area("410105001001001").id
    assert case["reporter_role"] == "grid_worker"
    # handling clock: 4 working hours from 09:00 → 15:00 (lunch 12:00-14:00 does not count)
    assert dt.datetime.fromisoformat(case["handle_due_at"]) == dt.datetime(2026, 11, 25, 15, 0, tzinfo=T0.tzinfo)
    assert actions_of(case) == [
        ("report", None, "reported"),
        ("register", "reported", "registered"),
        ("dispatch", "registered", "dispatched"),
    ]
    assert case["timeline"][1]["actor_role"] == "system"
    assert case["timeline"][0]["actor_name"] == "网格员甲"


def test_report_without_key_twice_makes_two_cases_with_a_duplicate_hint(api, db):
    first = api.post("/api/v1/cases", json=report(), headers=GRID_WORKER)
    second = api.post("/api/v1/cases", json=report(), headers=GRID_WORKER)
    assert first.status_code == second.status_code == 201
    assert first.json()["case"]["id"] != second.json()["case"]["id"]
    [hint] = second.json()["duplicates"]
    assert hint["case_id"] == first.json()["case"]["id"]
    assert hint["distance_m"] == 0.0
    assert db.scalar(select(func.count(Case.id))) == 2


def test_retry_with_the_same_idempotency_key_returns_the_same_case(api, db):
    headers = {**GRID_WORKER, "Idempotency-Key": "phone-7f3a-0001"}
    first = api.post("/api/v1/cases", json=report(), headers=headers)
    retry = api.post("/api/v1/cases", json=report(), headers=headers)
    assert first.status_code == retry.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert first.json()["created"] is True and retry.json()["created"] is False
    assert retry.json()["case"]["id"] == first.json()["case"]["id"]
    assert retry.json()["case"]["number"] == first.json()["case"]["number"]
    assert db.scalar(select(func.count(Case.id))) == 1
    assert db.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.action == "report")) == 1


def test_a_different_key_makes_a_new_case(api, db):
    create(api, key="k-1")
    create(api, key="k-2")
    assert db.scalar(select(func.count(Case.id))) == 2


def test_citizen_report_waits_for_verification_and_keeps_contact_out_of_the_case(api):
    body = report(channel="snapshot", contact={"name": "张三", "phone": "13800000000"})
    response = api.post("/api/v1/cases", json=body, headers=CITIZEN)
    assert response.status_code == 201, response.text
    case = response.json()["case"]
    assert case["stage"] == "verifying"
    assert case["tracking_code"] and len(case["tracking_code"]) == 10
    assert case["has_contact"] is True
    assert "13800000000" not in response.text
    assert case["allowed_actions"] == []  # a citizen may do nothing on an unverified case


# --- bad input -------------------------------------------------------------------------------------------------


def test_unknown_matter_type_is_422_with_the_code(api, db):
    response = api.post("/api/v1/cases", json=report(matter="XX9999"), headers=GRID_WORKER)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "unknown_matter_type"
    assert "XX9999" in body["message"]
    assert db.scalar(select(func.count(Case.id))) == 0


def test_point_outside_the_district_names_the_nearest_grid(api, db):
    response = api.post("/api/v1/cases", json=report(at=lnglat(-300, 880)), headers=GRID_WORKER)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "outside_district"
    assert "410105001001001" in body["message"]
    assert "300 m away" in body["message"]
    assert db.scalar(select(func.count(Case.id))) == 0


@pytest.mark.parametrize(("field", "value"), [("lat", 95.0), ("lat", -90.5), ("lng", 180.5), ("lng", -181.0)], ids=str)
def test_coordinates_out_of_range_are_422(api, field, value):
    response = api.post("/api/v1/cases", json={**report(), field: value}, headers=GRID_WORKER)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert "less than or equal" in error["msg"] or "greater than or equal" in error["msg"]


def test_html_in_the_description_is_422(api):
    body = report(description='<script>alert("x")</script>')
    response = api.post("/api/v1/cases", json=body, headers=GRID_WORKER)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "description"]
    assert "plain text, not HTML" in error["msg"]


def test_missing_or_bad_authentication_is_401(api):
    response = api.post("/api/v1/cases", json=report())
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]
    assert api.get("/api/v1/cases").status_code == 401
    assert api.get("/api/v1/cases", headers=bearer("ggt_nope_nope")).status_code == 401
    # the old development identity headers are ignored: they authenticate nobody
    assert api.get("/api/v1/cases", headers={"X-Gridgov-Role": "district_dispatcher"}).status_code == 401


def test_the_users_display_name_lands_in_the_timeline(api):
    case = create(api, GRID_WORKER)
    assert case["timeline"][0]["actor_name"] == "网格员甲"


def test_channel_restricted_to_roles_is_403(api):
    response = api.post("/api/v1/cases", json=report(channel="patrol"), headers=CITIZEN)
    assert response.status_code == 403
    assert response.json()["code"] == "channel_not_allowed"


# --- list and detail -------------------------------------------------------------------------------------------


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_list_filters_and_pagination(api, db, world, now):
    west = create(api, title="西侧垃圾")
    now[0] = T0 + dt.timedelta(hours=1)
    east = create(
        api, GRID_WORKER_E, title="东侧占道", matter="SJ0501", at=point(700, 880)
    )  # street E → district 城管局
    now[0] = T0 + dt.timedelta(days=1)
    snap = create(api, CITIZEN, title="市民随手拍", channel="snapshot", at=point(120, 120))
    queued = create(api, title="其他事件", matter="SJ0601", at=point(380, 620), classification=UNSURE)
    ids = {c["id"] for c in (west, east, snap, queued)}

    def listed(**params: Any) -> list[int]:
        return _ids(api.get("/api/v1/cases", params=params, headers=DISTRICT_DISPATCHER))

    everything = api.get("/api/v1/cases", headers=DISTRICT_DISPATCHER).json()
    assert everything["total"] == 4 and {i["id"] for i in everything["items"]} == ids
    assert [i["id"] for i in everything["items"]] == [queued["id"], snap["id"], east["id"], west["id"]]  # newest first
    assert "description" not in everything["items"][0] and "timeline" not in everything["items"][0]

    assert listed(stage="verifying") == [snap["id"]]
    assert sorted(listed(stage=["dispatched", "registered"])) == sorted([west["id"], east["id"], queued["id"]])
    assert listed(unit="CGJ") == [east["id"]]
    assert listed(unit=HWS_W) == [west["id"]]
    assert listed(area=STREET_E) == [east["id"]]
    assert set(listed(area=STREET_W)) == {west["id"], snap["id"], queued["id"]}
    assert set(listed(area="410105001001")) == {west["id"], queued["id"]}  # a community: its grids only
    assert listed(matter_type="SJ0501") == [east["id"]]
    assert listed(channel="snapshot") == [snap["id"]]
    assert sorted(listed(channel=["snapshot", "patrol"])) == sorted(ids)
    day2 = (T0 + dt.timedelta(days=1)).isoformat()
    assert set(listed(reported_from=day2)) == {snap["id"], queued["id"]}
    assert set(listed(reported_to=day2)) == {west["id"], east["id"]}
    assert listed(reported_from=T0.isoformat(), reported_to=(T0 + dt.timedelta(minutes=30)).isoformat()) == [west["id"]]
    assert listed(q="占道") == [east["id"]]
    assert listed(q=snap["number"]) == [snap["id"]]
    assert listed(q="不存在的词") == []
    assert listed(overdue="false", area=STREET_E) == [east["id"]]
    assert listed(overdue="true") == []

    # the SLA sweep marks what is overdue a day later (and supervises it automatically)
    assert _sweep(db, T0 + dt.timedelta(days=2)).overdue == 4
    assert sorted(listed(overdue="true")) == sorted(ids)
    assert sorted(listed(supervised="true")) == sorted(ids)
    assert sorted(listed(warning=100)) == sorted(ids)

    page1 = api.get("/api/v1/cases", params={"limit": 3}, headers=DISTRICT_DISPATCHER).json()
    page2 = api.get("/api/v1/cases", params={"limit": 3, "offset": 3}, headers=DISTRICT_DISPATCHER).json()
    assert (page1["total"], page1["offset"], page1["limit"], len(page1["items"])) == (4, 0, 3, 3)
    assert (page2["total"], page2["offset"], page2["limit"], len(page2["items"])) == (4, 3, 3, 1)
    assert {i["id"] for i in page1["items"] + page2["items"]} == ids


def test_list_refuses_unknown_filter_values_and_bad_paging(api):
    for params in ({"unit": "NOPE"}, {"area": "999"}, {"matter_type": "XX"}):
        response = api.get("/api/v1/cases", params=params, headers=DISTRICT_DISPATCHER)
        assert response.status_code == 422
        assert response.json()["code"] == "unknown_filter_value"
        assert next(iter(params.values())) in response.json()["message"]
    assert api.get("/api/v1/cases", params={"stage": "nowhere"}, headers=DISTRICT_DISPATCHER).status_code == 422
    assert api.get("/api/v1/cases", params={"limit": 0}, headers=DISTRICT_DISPATCHER).status_code == 422
    assert api.get("/api/v1/cases", params={"limit": 501}, headers=DISTRICT_DISPATCHER).status_code == 422
    assert api.get("/api/v1/cases", params={"offset": -1}, headers=DISTRICT_DISPATCHER).status_code == 422


def test_search_text_is_literal(api):
    plain = create(api, title="井盖破损")
    percent = create(api, title="噪音超标 100%", at=point(300, 880))
    assert _ids(api.get("/api/v1/cases", params={"q": "%"}, headers=DISTRICT_DISPATCHER)) == [percent["id"]]
    assert _ids(api.get("/api/v1/cases", params={"q": "_"}, headers=DISTRICT_DISPATCHER)) == []
    assert _ids(api.get("/api/v1/cases", params={"q": "井盖"}, headers=DISTRICT_DISPATCHER)) == [plain["id"]]


def test_times_without_an_offset_are_422_not_500(api):
    case = create(api)
    naive = "2026-11-26T09:00:00"
    listed = api.get("/api/v1/cases", params={"reported_from": naive}, headers=DISTRICT_DISPATCHER)
    assert listed.status_code == 422 and listed.json()["detail"][0]["loc"] == ["query", "reported_from"]
    act(api, case, "sign", SANITATION)
    suspension = act(api, case, "suspension-requests", SANITATION, expect=422, until=naive, reason="待降雨")
    assert suspension["detail"][0]["loc"] == ["body", "until"]
    supervision = act(api, case, "supervise", LEADER, expect=422, note="加快", new_deadline=naive)
    assert supervision["detail"][0]["loc"] == ["body", "new_deadline"]
    past = act(api, case, "suspension-requests", SANITATION, expect=422, until=T0.isoformat(), reason="待降雨")
    assert past["code"] == "bad_until"


def test_detail_has_the_timeline_and_the_callers_allowed_actions(api):
    case = create(api)
    as_handler = api.get(f"/api/v1/cases/{case['id']}", headers=SANITATION).json()
    assert as_handler["stage"] == "dispatched"
    assert [e["seq"] for e in as_handler["timeline"]] == [1, 2, 3]
    assert as_handler["allowed_actions"] == ["sign", "return", "request_extension", "note"]
    as_dispatcher = api.get(f"/api/v1/cases/{case['id']}", headers=DISTRICT_DISPATCHER).json()
    assert as_dispatcher["allowed_actions"] == ["decide_extension", "supervise", "rule_reasonableness", "note"]
    timeline = api.get(f"/api/v1/cases/{case['id']}/timeline", headers=STREET_DISPATCHER).json()

    def instants(events: list[dict]) -> list[dict]:  # the same instant may be written +08:00 or Z
        times = ("occurred_at", "deadline_at")
        return [{k: dt.datetime.fromisoformat(v) if k in times and v else v for k, v in e.items()} for e in events]

    assert instants(timeline) == instants(as_handler["timeline"])
    # a citizen sees only what they reported: someone else's case is answered like a missing one
    assert api.get(f"/api/v1/cases/{case['id']}/timeline", headers=CITIZEN).status_code == 404
    missing = api.get("/api/v1/cases/999999", headers=DISTRICT_DISPATCHER)
    assert missing.status_code == 404
    assert "999999" in missing.json()["detail"]
    for huge in (2**31, 2**63, 10**20):  # beyond the id column: still a 404, not a driver error
        assert api.get(f"/api/v1/cases/{huge}", headers=DISTRICT_DISPATCHER).status_code == 404
    assert act(api, case, "merge", STREET_DISPATCHER, expect=422, parent_id=2**40)["code"] == "unknown_parent"


# --- every action ----------------------------------------------------------------------------------------------


def test_full_loop_with_extension_suspension_media_evidence_rating_and_reopen(api, db, now):
    case = create(api)
    case = act(api, case, "sign", SANITATION, version=case["version"])
    assert case["stage"] == "signed"

    now[0] = T0 + dt.timedelta(minutes=30)
    due_before = case["handle_due_at"]
    case = act(api, case, "extension-requests", SANITATION, amount=2, reason="需调机械车", version=case["version"])
    assert case["pending_request"]["kind"] == "extension" and case["pending_request"]["amount"] == 2
    case = act(api, case, "extension-decisions", STREET_DISPATCHER, approve=True, note="同意")
    assert case["is_extended"] and case["extension_count"] == 1 and case["pending_request"] is None
    # 2 more working hours: 15:00 → 17:00
    assert dt.datetime.fromisoformat(due_before) == dt.datetime(2026, 11, 25, 15, 0, tzinfo=T0.tzinfo)
    assert dt.datetime.fromisoformat(case["handle_due_at"]) == dt.datetime(2026, 11, 25, 17, 0, tzinfo=T0.tzinfo)

    until = (T0 + dt.timedelta(days=7)).isoformat()
    case = act(api, case, "suspension-requests", SANITATION, until=until, reason="待降雨后施工")
    assert case["pending_request"]["kind"] == "suspension"
    case = act(api, case, "suspension-decisions", LEADER, approve=True)
    assert case["is_suspended"] and dt.datetime.fromisoformat(case["suspended_until"]) == T0 + dt.timedelta(days=7)
    now[0] = T0 + dt.timedelta(days=1)  # Thursday 09:00: the whole working Wednesday afternoon was paused
    case = act(api, case, "resume", DISTRICT_DISPATCHER, note="条件具备")
    assert not case["is_suspended"]
    # paused from Wednesday 09:30 to Thursday 09:00: 2.5 + 3.5 + 0.5 working hours are added to the limit, so the
    # 5.5 hours left at suspension run from Thursday 09:00: 3 h until noon, 2.5 h after lunch → 16:30
    assert case["timeline"][-1]["data"] == {"paused": 6.5}
    assert dt.datetime.fromisoformat(case["handle_due_at"]) == dt.datetime(2026, 11, 26, 16, 30, tzinfo=T0.tzinfo)
    case = act(api, case, "start", SANITATION)
    assert case["stage"] == "handling"

    uploaded = upload(api, jpeg())
    assert uploaded.status_code == 201, uploaded.text
    sha = uploaded.json()["sha256"]
    refused = act(api, case, "finish", SANITATION, expect=422, result="已清理")
    assert refused["code"] == "evidence_required"
    case = act(api, case, "finish", SANITATION, result="已清理", evidence=[sha])
    assert case["stage"] == "handled" and case["result"] == "已清理"
    assert [(a["kind"], a["sha256"]) for a in case["attachments"]] == [("after", sha)]

    assert act(api, case, "verify", SANITATION, expect=403, ok=True)["code"] == "permission_denied"
    # 巡办分离: nobody of the handling unit verifies its own work
    own_unit = Who("gw_hws", Role.grid_worker, HWS_W, COMMUNITY_W_N, "环卫所网格员")
    own_unit.enrol(db)
    assert act(api, case, "verify", own_unit, expect=403, ok=True)["code"] == "separation"
    assigned = act(api, case, "verify", OTHER_GRID_WORKER, expect=403, ok=True)
    assert assigned["code"] == "not_verifier"
    case = act(api, case, "verify", GRID_WORKER, ok=True, note="现场已清理")
    assert case["stage"] == "closed" and case["closed_at"]

    case = act(api, case, "rate", DISTRICT_DISPATCHER, satisfaction="unsatisfied", note="又堆了")
    assert case["stage"] == "handling"  # an unsatisfied rating within the window reopens the case
    # The rating stays in the log; the case waits for the reporter's rating of the new result.
    assert case["satisfaction"] is None and case["timeline"][-2]["data"] == {"satisfaction": "unsatisfied"}
    assert [e["action"] for e in case["timeline"][-2:]] == ["rate", "reopen"]
    assert case["timeline"][-1]["actor_role"] == "system"
    assert case["rework_count"] == 1


def _sweep(db: Session, at: dt.datetime) -> jobs.SweepReport:
    """Runs the SLA sweep's checks at `at` inside the test's transaction."""
    ctx = Context(actor=SYSTEM_ACTOR, now=at, calendar=sla.default_calendar())
    report = jobs.SweepReport()
    for case in jobs.due_cases(db=db, now=at, limit=100):
        jobs.check_case(db=db, case=case, ctx=ctx, report=report)
    db.flush()
    return report


def test_an_extension_too_short_leaves_the_case_overdue(api, db, now):
    case = create(api)  # handling clock: Wednesday 09:00 → 15:00
    act(api, case, "sign", SANITATION)
    now[0] = dt.datetime(2026, 11, 25, 17, 0, tzinfo=T0.tzinfo)
    assert _sweep(db, now[0]).overdue == 1
    case = api.get(f"/api/v1/cases/{case['id']}", headers=SANITATION).json()
    assert case["is_overdue"] and case["is_supervised"] and case["warning_level"] == 100

    act(api, case, "extension-requests", SANITATION, amount=1, reason="还需一小时")
    short = act(api, case, "extension-decisions", STREET_DISPATCHER, approve=True)
    assert dt.datetime.fromisoformat(short["handle_due_at"]) == dt.datetime(2026, 11, 25, 16, 0, tzinfo=T0.tzinfo)
    assert short["is_overdue"], "16:00 has passed at 17:00: the case is still overdue"

    act(api, case, "extension-requests", SANITATION, amount=7, reason="需明日处置")
    longer = act(api, case, "extension-decisions", LEADER, approve=True)  # a second extension: a leader's
    # 4 + 1 + 7 = 12 working hours from Wednesday 09:00: 6.5 on Wednesday, 3.5 + 2 on Thursday → 16:00
    assert dt.datetime.fromisoformat(longer["handle_due_at"]) == dt.datetime(2026, 11, 26, 16, 0, tzinfo=T0.tzinfo)
    assert not longer["is_overdue"] and longer["warning_level"] == 50  # 6 of 12 hours used at 17:00


def test_confirm_register_reject_merge_escalate(api, world):
    first = create(api, CITIZEN, channel="snapshot")
    confirmed = act(api, first, "confirm", GRID_WORKER, note="属实")
    assert [a for a, _, _ in actions_of(confirmed)] == ["report", "confirm", "dispatch"]
    assert confirmed["stage"] == "dispatched" and confirmed["handling_unit_id"] == world.unit(HWS_W).id

    second = create(api, CITIZEN, channel="snapshot", at=point(121, 881))
    registered = act(api, second, "register", STREET_DISPATCHER)
    assert registered["stage"] == "dispatched"
    assert actions_of(registered)[1] == ("register", "verifying", "registered")

    third = create(api, CITIZEN, channel="snapshot", at=point(122, 880))
    merged = act(api, third, "merge", STREET_DISPATCHER, parent_id=first["id"], note="同一堆垃圾")
    assert merged["stage"] == "merged" and merged["parent_id"] == first["id"] and merged["clock_stage"] is None
    unknown_parent = act(api, third, "merge", STREET_DISPATCHER, expect=422, parent_id=999999)
    assert unknown_parent["code"] == "unknown_parent"

    fourth = create(api, CITIZEN, channel="snapshot", at=point(300, 300))
    bad_reason = act(api, fourth, "reject", STREET_DISPATCHER, expect=422, reason_code="meh")
    assert bad_reason["code"] == "unknown_reason" and "not_a_problem" in bad_reason["allowed"]
    rejected = act(api, fourth, "reject", STREET_DISPATCHER, reason_code="not_a_problem", note="现场无垃圾")
    assert rejected["stage"] == "rejected" and rejected["timeline"][-1]["reason_code"] == "not_a_problem"

    fifth = create(api, CITIZEN, channel="snapshot", at=point(300, 620))
    assert fifth["centre_area_id"] == world.area(STREET_W).id
    escalated = act(api, fifth, "escalate", STREET_DISPATCHER, note="街道无力处置")
    assert escalated["is_escalated"] and escalated["centre_area_id"] == world.area("410105").id
    again = act(api, escalated, "escalate", DISTRICT_DISPATCHER, expect=409, note="再次提级")
    assert again["code"] == "top_level"


def test_dispatch_return_redispatch_supervise_reasonableness_note_reopen(api, world, now):
    case = create(api, matter="SJ0601", title="其他事件", classification=UNSURE)
    assert case["stage"] == "registered" and case["handling_unit_id"] is None  # an unsure model: it waits
    refused = act(api, case, "dispatch", DISTRICT_DISPATCHER, expect=422, unit=f"{COMMUNITY_W_N}-JWH")
    assert refused["code"] == "unit_not_allowed"
    case = act(api, case, "dispatch", DISTRICT_DISPATCHER, unit="CGJ", co_units=[HWS_W], note="派城管局")
    assert case["stage"] == "dispatched" and case["handling_unit_id"] == world.unit("CGJ").id
    assert case["co_unit_ids"] == [world.unit(HWS_W).id]
    assert act(api, case, "dispatch", DISTRICT_DISPATCHER, expect=422, unit="NOPE")["code"] == "unknown_unit"

    no_citation = act(api, case, "return", CGJ, expect=422, reason_code="not_our_duty")
    assert no_citation["code"] == "citation_required"
    now[0] = T0 + dt.timedelta(minutes=20)
    case = act(api, case, "return", CGJ, reason_code="not_our_duty", citation="职责清单第12项", note="非本局职责")
    assert case["stage"] == "returned" and case["handling_unit_id"] is None and case["return_count"] == 1
    now[0] = T0 + dt.timedelta(minutes=50)
    case = act(api, case, "dispatch", DISTRICT_DISPATCHER, unit=HWS_W)
    assert case["stage"] == "dispatched" and case["hop_count"] == 2
    assert case["limbo_seconds"] == 30 * 60

    deadline = (T0 + dt.timedelta(days=1, hours=2)).isoformat()
    case = act(api, case, "supervise", LEADER, note="请加快处置", new_deadline=deadline)
    assert case["is_supervised"]
    assert dt.datetime.fromisoformat(case["handle_due_at"]) == T0 + dt.timedelta(days=1, hours=2)
    missing_note = api.post(f"/api/v1/cases/{case['id']}/supervise", json={}, headers=LEADER)
    assert missing_note.status_code == 422

    case = act(
        api, case, "reasonableness", LEADER, ruling="unreasonable", note="诉求超出政策范围", reason_code="unrealistic"
    )
    assert case["reasonableness"] == "unreasonable"
    case = act(api, case, "notes", SANITATION, note="已联系保洁")
    assert case["timeline"][-1]["action"] == "note" and case["timeline"][-1]["note"] == "已联系保洁"

    case = act(api, case, "sign", SANITATION)
    case = act(api, case, "finish", SANITATION, result="已处理")  # SJ0601 needs no evidence
    case = act(api, case, "verify", GRID_WORKER, ok=False, note="未清理干净")
    assert case["stage"] == "handling" and case["rework_count"] == 1
    case = act(api, case, "finish", SANITATION, result="已彻底清理")
    case = act(api, case, "verify", GRID_WORKER, ok=True)
    assert case["stage"] == "closed"
    case = act(api, case, "rate", DISTRICT_DISPATCHER, satisfaction="satisfied")
    assert case["stage"] == "closed" and case["satisfaction"] == "satisfied"
    case = act(api, case, "reopen", DISTRICT_DISPATCHER, note="回访发现反弹")
    assert case["stage"] == "handling" and case["closed_at"] is None
    assert [e["action"] for e in case["timeline"]] == [
        "report", "register", "dispatch", "return", "dispatch", "supervise", "rule_reasonableness", "note",
        "sign", "finish", "rework", "finish", "verify", "rate", "reopen",
    ]  # fmt: skip


def test_a_unit_returning_too_often_gets_a_binding_ruling(api, world):
    case = create(api, matter="SJ0601", classification=UNSURE)
    for n in (1, 2):
        case = act(api, case, "dispatch", DISTRICT_DISPATCHER, unit="CGJ")
        case = act(api, case, "return", CGJ, reason_code="dispatch_error", note=f"第{n}次回退")
    assert case["return_count"] == 2
    case = act(api, case, "dispatch", DISTRICT_DISPATCHER, unit="CGJ", note="终审")
    assert case["is_final_ruling"]
    refused = act(api, case, "return", CGJ, expect=403, reason_code="dispatch_error")
    assert refused["code"] == "final_ruling"


# --- refusals --------------------------------------------------------------------------------------------------


def test_illegal_transition_is_409_with_the_allowed_actions(api):
    case = create(api)
    body = act(api, case, "register", DISTRICT_DISPATCHER, expect=409)
    assert body["code"] == "illegal_transition"
    assert body["stage"] == "dispatched"
    assert body["allowed"] == [
        "sign", "return", "request_extension", "decide_extension", "supervise", "rule_reasonableness", "note",
    ]  # fmt: skip
    assert "not allowed in stage 'dispatched'" in body["message"]


def test_wrong_role_is_403_and_audited(api, db):
    case = create(api, matter="SJ0601", classification=UNSURE)
    body = act(api, case, "dispatch", CITIZEN, expect=403, unit="CGJ")
    assert body["code"] == "permission_denied" and body["role"] == "citizen" and body["action"] == "case.dispatch"
    assert act(api, case, "notes", CITIZEN, expect=403, note="x")["code"] == "permission_denied"
    denied = _denials(db)
    assert [(e.action, e.actor_user_id, e.target_id) for e in denied] == [
        ("case.dispatch", CITIZEN.user_id, str(case["id"])),
        ("case.note", CITIZEN.user_id, str(case["id"])),
    ]


def test_wrong_unit_is_404_outside_the_unit_and_403_for_a_co_unit(api, db):
    case = create(api)
    hws_e = Who("hws_e", Role.unit_handler, f"{STREET_E}-HWS", None, "东环卫所")
    hws_e.enrol(db)
    body = act(api, case, "sign", hws_e, expect=404)
    assert body["detail"] == f"case {case['id']} not found"
    queued = create(api, matter="SJ0601", classification=UNSURE, at=point(380, 620))
    act(api, queued, "dispatch", DISTRICT_DISPATCHER, unit="CGJ", co_units=[HWS_W])
    # a co-handling unit sees the case but may not sign for the handling unit
    assert act(api, queued, "sign", SANITATION, expect=403)["code"] == "not_handling_unit"


def test_stale_version_is_409(api, db):
    case = create(api)
    seen = case["version"]
    signed = act(api, case, "sign", SANITATION, version=seen)
    assert signed["version"] > seen
    body = act(api, case, "start", SANITATION, expect=409, version=seen)
    assert body["code"] == "stale_version" and body["current_version"] == signed["version"]
    assert api.get(f"/api/v1/cases/{case['id']}", headers=SANITATION).json()["stage"] == "signed"


def test_unknown_fields_in_an_action_are_422(api):
    case = create(api)
    response = api.post(f"/api/v1/cases/{case['id']}/sign", json={"versoin": 1}, headers=SANITATION)
    assert response.status_code == 422


# --- media -----------------------------------------------------------------------------------------------------


def test_upload_a_jpeg_and_fetch_it_back(api, settings):
    data = jpeg()
    response = upload(api, data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": "image/jpeg",
        "size": len(data),
        "width": 8,
        "height": 8,
        "taken_at": None,
        "gps_lng": None,
        "gps_lat": None,
    }
    again = upload(api, data, name="same.jpg")
    assert again.status_code == 201 and again.json() == body
    assert api.get(f"/api/v1/media/{body['sha256']}", headers=GRID_WORKER).status_code == 404  # on no case yet
    create(api, GRID_WORKER, attachments=[body["sha256"]])
    original = api.get(f"/api/v1/media/{body['sha256']}?variant=original", headers=GRID_WORKER)
    assert original.status_code == 200 and original.content == data
    public = api.get(f"/api/v1/media/{body['sha256']}", headers=GRID_WORKER)  # the re-encoded copy, no EXIF
    assert public.status_code == 200 and public.headers["content-type"] == "image/jpeg"
    assert api.get(f"/api/v1/media/{'0' * 64}", headers=GRID_WORKER).status_code == 404


def test_upload_refuses_text_and_empty_files(api):
    response = upload(api, b"just some text, not a photo\n", name="photo.jpg")
    assert response.status_code == 422
    assert response.json()["code"] == "unsupported_type"
    empty = upload(api, b"")
    assert empty.status_code == 422 and empty.json()["code"] == "empty_file"
    assert upload(api, jpeg(), headers={}).status_code == 401


def test_upload_over_the_limit_is_413(settings, engine, db, world):
    small = settings.model_copy(update={"max_upload_bytes": 100})
    SANITATION.enrol(db)
    with TestClient(_app_in_test_transaction(small, engine, db)) as client:
        data = jpeg()
        assert len(data) > 100
        response = upload(client, data)
        assert response.status_code == 413
        assert response.json()["code"] == "too_large" and response.json()["limit"] == 100
        truncated = upload(client, data[:100])  # within the limit, but not a whole image
        assert truncated.status_code == 422 and truncated.json()["code"] == "bad_image"


def test_unknown_evidence_is_refused(api):
    case = create(api)
    act(api, case, "sign", SANITATION)
    body = act(api, case, "finish", SANITATION, expect=422, result="已清理", evidence=["f" * 64])
    assert body["code"] == "unknown_attachment"


def test_report_with_a_photo(api):
    sha = upload(api, jpeg(), headers=GRID_WORKER).json()["sha256"]
    case = create(api, attachments=[sha])
    assert case["attachments"] == [{"kind": "report", "sha256": sha, "content_type": "image/jpeg", "size": 159}]


# --- the OpenAPI document --------------------------------------------------------------------------------------


def test_every_case_route_is_in_the_openapi_document(client):
    document = client.get("/openapi.json").json()
    routes = [r for r in cases_router.routes if isinstance(r, APIRoute)]
    assert len(routes) == 29  # create, list, detail, timeline, contact, 22 actions, media upload and download
    for route in routes:
        path = f"/api/v1{route.path}"
        assert path in document["paths"], path
        for method in route.methods:
            operation = document["paths"][path][method.lower()]
            assert operation["summary"] and operation.get("description"), f"{method} {path} is undocumented"
    action_paths = {
        f"/api/v1/cases/{{case_id}}/{name}"
        for name in (
            "confirm", "register", "reject", "merge", "reclassify", "dispatch", "sign", "return", "start",
            "finish", "verify", "extension-requests", "extension-decisions", "suspension-requests",
            "suspension-decisions", "resume", "supervise", "escalate", "rate", "reopen", "reasonableness", "notes",
        )
    }  # fmt: skip
    assert action_paths <= set(document["paths"])
    assert {"/api/v1/cases", "/api/v1/cases/{case_id}", "/api/v1/media", "/api/v1/media/{sha256}"} <= set(
        document["paths"]
    )


# --- scoped permissions ----------------------------------------------------------------------------------------


def test_a_street_dispatcher_sees_only_its_streets_cases(api, db):
    west = create(api)
    east = create(api, GRID_WORKER_E, matter="SJ0501", at=point(700, 880))
    listed = api.get("/api/v1/cases", headers=STREET_DISPATCHER).json()
    assert [i["id"] for i in listed["items"]] == [west["id"]] and listed["total"] == 1
    response = api.get(f"/api/v1/cases/{east['id']}", headers=STREET_DISPATCHER)
    assert response.status_code == 404 and response.json()["detail"] == f"case {east['id']} not found"
    [entry] = _denials(db)
    assert (entry.action, entry.target_id, entry.actor_user_id) == (
        "case.view",
        str(east["id"]),
        STREET_DISPATCHER.user_id,
    )
    assert entry.detail["reason"] == "outside the user's scope"
    assert _ids(api.get("/api/v1/cases", headers=STREET_DISPATCHER_E)) == [east["id"]]


def test_a_unit_handler_sees_only_its_units_cases(api):
    mine = create(api)  # auto-dispatched to the west street's sanitation team
    create(api, GRID_WORKER_E, matter="SJ0501", at=point(700, 880))  # the district 城管局
    assert _ids(api.get("/api/v1/cases", headers=SANITATION)) == [mine["id"]]
    assert api.get(f"/api/v1/cases/{mine['id']}", headers=CGJ).status_code == 404


def test_citizens_cannot_list_and_read_tokens_cannot_act(api, db):
    case = create(api)
    assert _ids(api.get("/api/v1/cases", headers=CITIZEN)) == []  # own scope: nothing reported yet
    auditor = Who("auditor", Role.auditor, "CENTRE", None, "审计员")
    auditor.enrol(db, scopes=("cases:read",))
    assert api.get(f"/api/v1/cases/{case['id']}", headers=auditor).status_code == 200
    refused = act(api, case, "notes", auditor, expect=403, note="x")
    assert "cases:write" in refused["detail"]


def test_a_replayed_idempotency_key_of_another_reporter_is_409(api):
    create(api, key="k-1")
    response = api.post("/api/v1/cases", json=report(), headers={**OTHER_GRID_WORKER, "Idempotency-Key": "k-1"})
    assert response.status_code == 409 and response.json()["code"] == "idempotency_key_reused"
