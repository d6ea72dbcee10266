"""The hotline platform's API: push (one and batch), pull status and reply, poll updates, rate; who may."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.core.geo import Crs, from_wgs84
from gridgov.domains.areas import locate
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Action, Channel
from gridgov.domains.cases.models import Case, CaseContact, CaseEvent, MediaFile
from gridgov.domains.cases.service import Context
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import STREET_E, STREET_W, World, add_token_user, bearer
from tests.domains.hotline.conftest import Tokens, order

PUSH = "/api/v1/hotline/requests"


def _hotline_cases(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Case).where(Case.channel == Channel.hotline))


def _case(db: Session, number: str) -> Case:
    return db.scalars(select(Case).where(Case.number == number)).one()


def _photo(db: Session) -> str:
    sha = "a" * 64
    if db.get(MediaFile, sha) is None:
        db.add(MediaFile(sha256=sha, content_type="image/jpeg", size=10, created_at=T0))
        db.flush()
    return sha


def test_push_registers_and_dispatches_per_the_catalogue(api: TestClient, tokens: Tokens, world: World, db: Session):
    response = api.post(PUSH, json=order(deadline="2026-11-27 17:00", urgency="紧急"), headers=tokens.hotline)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] is True and body["order_id"] == "GD20261125000001"
    # 020101 环境卫生/垃圾清运 → SJ0102 暴露垃圾 → the sanitation team of the case's street, at once.
    assert (body["matter_type"], body["stage"]) == ("SJ0102", "dispatched")
    assert body["handling_unit"] == f"{STREET_W}环卫所"
    assert (body["grid"], body["located_by"]) == ("410105001001001", "coordinates")

    case = _case(db, body["case_number"])
    # The hotline follows its order by its own id: no public tracking code (its caller's case is not rated twice).
    assert (case.channel, case.external_id, case.tracking_code) == (Channel.hotline, "GD20261125000001", None)
    assert case.handling_unit_id == world.unit(f"{STREET_W}-HWS").id
    assert case.urgency == "urgent" and case.title == "小区门口垃圾没人清运"
    contact = db.get(CaseContact, case.id)
    assert (contact.name, contact.phone) == ("张先生", "13800001234")
    events = case_service.timeline(db=db, case=case)
    assert [e.action for e in events] == [Action.report, Action.register, Action.dispatch, Action.note]
    note = events[-1]
    assert note.data["hotline"] == {
        "source": "12345",
        "order_id": "GD20261125000001",
        "category": "020101",
        "matter_type_by": "crosswalk",
        "received_at": "2026-11-25T08:55:00+08:00",
        "deadline": "2026-11-27T17:00:00+08:00",
        "located_by": "coordinates",
    }
    assert "热线办理时限 2026-11-27 17:00" in note.note


def test_re_pushing_the_same_order_returns_the_same_case(api: TestClient, tokens: Tokens, db: Session):
    first = api.post(PUSH, json=order(), headers=tokens.hotline)
    again = api.post(PUSH, json=order(content="换了内容的重复推送"), headers=tokens.district)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["case_number"] == first.json()["case_number"]
    assert again.json()["created"] is False
    assert _hotline_cases(db) == 1


def test_unknown_category_is_422_naming_it(api: TestClient, tokens: Tokens, db: Session):
    response = api.post(PUSH, json=order(category="999999"), headers=tokens.hotline)
    assert response.status_code == 422
    body = response.json()
    assert (body["code"], body["field"], body["category"]) == ("unknown_category", "category", "999999")
    assert "'999999'" in body["message"]
    assert _hotline_cases(db) == 0


def test_category_by_name_path_and_explicit_matter_type(api: TestClient, tokens: Tokens):
    by_path = api.post(PUSH, json=order("A1", category="城市管理 > 市容环境 > 占道经营"), headers=tokens.hotline)
    assert by_path.status_code == 201 and by_path.json()["matter_type"] == "SJ0501"
    by_leaf = api.post(PUSH, json=order("A2", category="邻里纠纷"), headers=tokens.hotline)
    assert by_leaf.json()["matter_type"] == "ZZ0101"
    explicit = api.post(PUSH, json=order("A3", category="999999", matter_type="ZZ0101"), headers=tokens.hotline)
    assert explicit.status_code == 201 and explicit.json()["matter_type"] == "ZZ0101"


def test_gcj02_coordinates_are_converted(api: TestClient, tokens: Tokens, db: Session):
    wgs = order()
    lng, lat = from_wgs84(wgs["lng"], wgs["lat"], Crs.gcj02)
    body = api.post(PUSH, json=order(lng=float(lng), lat=float(lat), crs="GCJ-02"), headers=tokens.hotline).json()
    case = _case(db, body["case_number"])
    assert abs(case.lng - wgs["lng"]) < 1e-6 and abs(case.lat - wgs["lat"]) < 1e-6


def test_an_order_without_coordinates_lands_at_its_areas_representative_point(
    api: TestClient, tokens: Tokens, db: Session
):
    community = db.scalars(select(Area).where(Area.code == f"{STREET_E}001")).one()
    expected = community.geometry.representative_point()
    grid = locate.get_index(db=db).locate(expected.x, expected.y).grid
    response = api.post(PUSH, json=order(lng=None, lat=None, area_code=community.code), headers=tokens.hotline)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["grid"], body["located_by"]) == (grid.code, "area")
    case = _case(db, body["case_number"])
    assert case.area_path.startswith(community.path)
    assert (case.lng, case.lat) == (expected.x, expected.y)
    # 0, 0 is "no coordinates" in many exports; a street code alone places it in one of that street's grids.
    street = api.post(PUSH, json=order("B2", lng=0, lat=0, area_code=STREET_W), headers=tokens.hotline).json()
    assert street["located_by"] == "area" and street["grid"].startswith(STREET_W)
    note = db.scalars(select(CaseEvent).where(CaseEvent.action == Action.note).order_by(CaseEvent.id)).first()
    assert note.data["hotline"]["area_code"] == community.code


def test_no_location_at_all_or_a_bad_area_is_422(api: TestClient, tokens: Tokens, db: Session):
    neither = api.post(PUSH, json=order(lng=None, lat=None), headers=tokens.hotline)
    assert neither.status_code == 422
    assert (neither.json()["code"], neither.json()["field"]) == ("location_required", "location")
    unknown = api.post(PUSH, json=order(lng=None, lat=None, area_code="410105999"), headers=tokens.hotline)
    assert unknown.json()["code"] == "unknown_area"
    district = api.post(PUSH, json=order(lng=None, lat=None, area_code="410105"), headers=tokens.hotline)
    assert district.json()["code"] == "area_too_large"
    outside = api.post(PUSH, json=order(lng=113.0, lat=34.0), headers=tokens.hotline)
    assert (outside.status_code, outside.json()["code"]) == (422, "outside_district")
    missing = api.post(PUSH, json=order(content=None), headers=tokens.hotline)
    assert missing.status_code == 422
    assert _hotline_cases(db) == 0


def test_batch_processes_each_order_on_its_own(api: TestClient, tokens: Tokens, db: Session):
    orders = [
        order("C1"),
        order("C2", category="999999"),
        {"order_id": "C3", "category": "020101"},  # no content
        order("C1"),  # the same order again in the batch
        order("C4", lng=None, lat=None, area_code=f"{STREET_W}002"),
        "not an object",
    ]
    response = api.post(f"{PUSH}:batch", json=orders, headers=tokens.hotline)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["existing"], body["failed"]) == (2, 1, 3)
    items = body["items"]
    assert [(i["index"], i["order_id"], i["created"]) for i in items] == [
        (0, "C1", True),
        (1, "C2", False),
        (2, "C3", False),
        (3, "C1", False),
        (4, "C4", True),
        (5, None, False),
    ]
    assert items[3]["case_number"] == items[0]["case_number"]
    assert items[1]["error"]["code"] == "unknown_category"
    assert items[2]["error"] == {"code": "invalid", "message": "required, but empty", "field": "content"}
    assert items[5]["error"]["code"] == "invalid"
    assert _hotline_cases(db) == 2
    # Nothing of a refused order was written: no case, no event, no number drawn (the numbers stay consecutive).
    numbers = sorted(i["case_number"] for i in items if i["created"])
    assert [n[-6:] for n in numbers] == ["000001", "000002"]

    too_many = api.post(f"{PUSH}:batch", json=[order(f"D{i}") for i in range(501)], headers=tokens.hotline)
    assert too_many.status_code == 422


def test_pull_shows_the_reply_once_the_case_is_closed(api: TestClient, tokens: Tokens, world: World, db: Session):
    number = api.post(PUSH, json=order(), headers=tokens.hotline).json()["case_number"]
    status = api.get(f"{PUSH}/GD20261125000001", headers=tokens.hotline).json()
    assert (status["case_number"], status["stage"], status["is_open"]) == (number, "dispatched", True)
    assert status["stage_label"] == "已派遣至责任单位"
    assert status["reply"] is None and status["handling_unit"] == f"{STREET_W}环卫所"
    assert status["expected_at"] is not None
    early = api.post(f"{PUSH}/GD20261125000001/rating", json={"satisfaction": "满意"}, headers=tokens.hotline)
    assert (early.status_code, early.json()["code"]) == (409, "illegal_transition")  # only a closed case is rated

    # The handling unit signs, handles and reports; the street centre checks on site and closes (巡办分离).
    case = _case(db, number)
    handler, checker = world.sanitation, world.street_dispatcher
    case_service.sign(db=db, case=case, ctx=Context.of(handler, now=T0 + dt.timedelta(minutes=10)))
    case_service.start(db=db, case=case, ctx=Context.of(handler, now=T0 + dt.timedelta(minutes=20)))
    case_service.finish(
        db=db,
        case=case,
        ctx=Context.of(handler, now=T0 + dt.timedelta(minutes=90)),
        result="已组织环卫工人清运，现场已清理干净。",
        evidence=[_photo(db)],
    )
    case_service.verify(db=db, case=case, ctx=Context.of(checker, now=T0 + dt.timedelta(minutes=120)), ok=True)
    db.flush()

    status = api.get(f"{PUSH}/GD20261125000001", headers=tokens.district).json()
    assert (status["stage"], status["is_open"], status["can_rate"]) == ("closed", False, True)
    assert status["reply"] == "已组织环卫工人清运，现场已清理干净。"
    assert dt.datetime.fromisoformat(status["closed_at"]) == T0 + dt.timedelta(minutes=120)
    assert [n["stage"] for n in status["notes"]][-1] == "closed"
    text = str(status)
    for private in ("张先生", "13800001234", "网格员", "环卫所处置员", "12345 工单"):
        assert private not in text  # no caller, no staff names, no internal notes

    rated = api.post(f"{PUSH}/GD20261125000001/rating", json={"satisfaction": "满意"}, headers=tokens.hotline)
    assert rated.status_code == 200, rated.text
    assert (rated.json()["satisfaction"], rated.json()["can_rate"]) == ("satisfied", False)
    assert status["stage_label"] == "已结案"
    english = api.get(f"{PUSH}/GD20261125000001?locale=en", headers=tokens.hotline).json()
    assert english["stage_label"] == "Closed"


def test_pull_of_an_unknown_order_is_404(api: TestClient, tokens: Tokens):
    assert api.get(f"{PUSH}/NOPE", headers=tokens.hotline).status_code == 404


def test_updates_are_polled_with_a_cursor(api: TestClient, tokens: Tokens, world: World, db: Session, now):
    for n in (1, 2, 3):
        assert api.post(PUSH, json=order(f"U{n}"), headers=tokens.hotline).status_code == 201
    # Changes are held back for a minute, until any longer transaction that began before them has committed.
    assert api.get("/api/v1/hotline/updates", headers=tokens.hotline).json()["items"] == []
    now[0] = T0 + dt.timedelta(minutes=2)
    page = api.get("/api/v1/hotline/updates?limit=2", headers=tokens.hotline).json()
    assert [i["order_id"] for i in page["items"]] == ["U1", "U2"] and page["more"] is True
    page = api.get(f"/api/v1/hotline/updates?limit=2&cursor={page['next']}", headers=tokens.hotline).json()
    assert [i["order_id"] for i in page["items"]] == ["U3"] and page["more"] is False
    cursor = page["next"]
    empty = api.get(f"/api/v1/hotline/updates?cursor={cursor}", headers=tokens.hotline).json()
    assert (empty["items"], empty["next"], empty["more"]) == ([], cursor, False)

    # The unit signs U2 ten minutes later: the next poll brings exactly that change.
    case = db.scalars(select(Case).where(Case.external_id == "U2")).one()
    case_service.sign(db=db, case=case, ctx=Context.of(world.sanitation, now=T0 + dt.timedelta(minutes=10)))
    db.flush()
    now[0] = T0 + dt.timedelta(minutes=12)
    page = api.get(f"/api/v1/hotline/updates?cursor={cursor}", headers=tokens.hotline).json()
    assert [(i["order_id"], i["stage"]) for i in page["items"]] == [("U2", "signed")]

    since = (T0 + dt.timedelta(minutes=5)).isoformat()
    by_time = api.get("/api/v1/hotline/updates", params={"since": since}, headers=tokens.hotline).json()
    assert [i["order_id"] for i in by_time["items"]] == ["U2"]
    bad = api.get("/api/v1/hotline/updates?cursor=garbage", headers=tokens.hotline)
    assert (bad.status_code, bad.json()["field"]) == (422, "cursor")


def test_a_grid_worker_gets_403_and_the_refusal_is_audited(api: TestClient, tokens: Tokens, db: Session):
    api.post(PUSH, json=order(), headers=tokens.hotline)
    assert api.post(PUSH, json=order("E1"), headers=tokens.grid_worker).status_code == 403
    assert api.post(f"{PUSH}:batch", json=[order("E2")], headers=tokens.grid_worker).status_code == 403
    assert api.get(f"{PUSH}/GD20261125000001", headers=tokens.grid_worker).status_code == 403
    assert api.get("/api/v1/hotline/updates", headers=tokens.grid_worker).status_code == 403
    assert _hotline_cases(db) == 1
    denied = db.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied", AuditEntry.target_type == "hotline"))
    assert len(list(denied)) == 4


def test_a_street_dispatcher_works_within_their_street(api: TestClient, tokens: Tokens, db: Session):
    west = order("W1")  # in street W
    assert api.post(PUSH, json=west, headers=tokens.street_e).status_code == 403
    assert _hotline_cases(db) == 0
    assert api.post(PUSH, json=west, headers=tokens.street_w).status_code == 201
    assert api.get(f"{PUSH}/W1", headers=tokens.street_w).status_code == 200
    assert api.get(f"{PUSH}/W1", headers=tokens.street_e).status_code == 404  # outside their scope: not revealed
    assert api.get("/api/v1/hotline/updates", headers=tokens.street_e).json()["items"] == []
    batch = api.post(
        f"{PUSH}:batch",
        json=[order("W2"), order("E9", area_code=STREET_E, lng=None, lat=None)],
        headers=tokens.street_e,
    ).json()
    assert [i["error"]["code"] if i["error"] else None for i in batch["items"]] == ["permission_denied", None]


def test_a_token_without_the_scope_is_refused(api: TestClient, db: Session, world: World):
    _user, token = add_token_user(db, "reader", Role.system, None, None, scopes=("cases:read",))
    assert api.post(PUSH, json=order(), headers=bearer(token)).status_code == 403
