"""GET requests, requests/{id} and tokens/{token}: what is listed (public channels only, never contact data),
the status mapping, the spec's filters and limits, the extensions, and XML well-formedness."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from gridgov.domains.auth.enums import Role
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import AttachmentKind, CaseStage, Channel
from gridgov.domains.cases.models import Case, MediaFile
from gridgov.domains.cases.public import public_view
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake
from gridgov.domains.intake.schemas import CaseSubmit, ContactIn
from tests.domains.areas.synthetic import lnglat
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import STREET_W, World
from tests.domains.open311.conftest import BASE, check_errors, parse_xml

CONTACT = ContactIn(name="王小花", phone="13912345678", email="wang.xh@example.com")
PERSONAL = ("王小花", "13912345678", "wang.xh@example.com", "张三丰", "13700001111")


def submit(world: World, actor, channel: Channel, *, x: float, minutes: float = 0, **extra) -> Case:
    lng, lat = lnglat(x, 880)
    values = {"matter_type": "SJ0102", "title": "路边暴露垃圾", "description": "一堆生活垃圾", **extra}
    report = CaseSubmit(channel=channel, lng=lng, lat=lat, **values)
    ctx = Context.of(actor, now=T0 + dt.timedelta(minutes=minutes))
    return intake.submit(db=world.db, report=report, ctx=ctx).case


def photo(db, name: str = "a") -> str:
    sha = (name * 64)[:64]
    db.add(MediaFile(sha256=sha, content_type="image/jpeg", size=10, created_at=T0))
    db.flush()
    return sha


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@dataclass
class Scene:
    """Cases of every channel and several stages, west to east along one street (x metres from the corner)."""

    citizen: Case  # open311, verifying, with the reporter's contact
    dispatched: Case  # patrol, with the street sanitation team
    closed: Case  # patrol, handled and verified
    rejected: Case  # open311, not accepted as a duplicate
    invalid: Case  # open311, rejected as invalid: never shown
    hotline: Case  # 12345, with a caller's contact and a name in its text: never shown
    old: Case  # patrol, 100 days before T0


@pytest.fixture
def scene(world: World, db, frozen) -> Scene:
    citizen = submit(world, world.citizen, Channel.open311, x=100, contact=CONTACT, address="花园路口")
    dispatched = submit(world, world.grid_worker, Channel.patrol, x=130, minutes=1)
    closed = submit(world, world.grid_worker, Channel.patrol, x=300, minutes=2, matter_type="SJ0501")
    rejected = submit(world, world.citizen, Channel.open311, x=400, minutes=3)
    invalid = submit(world, world.citizen, Channel.open311, x=420, minutes=4, description="乱写一通")
    hotline = submit(
        world,
        world.district_dispatcher,
        Channel.hotline,
        x=140,
        minutes=5,
        contact=ContactIn(name="张三丰", phone="13700001111"),
        description="来电人张三丰反映楼下垃圾无人清理，回电13700001111",
    )
    old = submit(world, world.grid_worker, Channel.patrol, x=450, minutes=-100 * 24 * 60)

    cgzd = world.actor(Role.unit_handler, f"{STREET_W}-CGZD", user_id=502, name="城管中队处置员")
    case_service.sign(db=db, case=closed, ctx=Context.of(cgzd, now=at(10)))
    case_service.finish(db=db, case=closed, ctx=Context.of(cgzd, now=at(60)), result="已劝离摊贩，路面恢复通行")
    case_service.verify(db=db, case=closed, ctx=Context.of(world.grid_worker, now=at(90)), ok=True)
    dispatcher = world.street_dispatcher
    case_service.reject(db=db, case=rejected, ctx=Context.of(dispatcher, now=at(20)), reason_code="duplicate")
    case_service.reject(db=db, case=invalid, ctx=Context.of(dispatcher, now=at(21)), reason_code="invalid")
    db.flush()
    frozen.advance(hours=2)  # the clients ask at 11:00
    return Scene(citizen, dispatched, closed, rejected, invalid, hotline, old)


def numbers(items: list[dict]) -> list[str]:
    return [item["service_request_id"] for item in items]


def test_only_public_channel_cases_are_listed_newest_first(open311, scene):
    listed = open311.requests()
    assert numbers(listed) == [
        scene.rejected.number,
        scene.closed.number,
        scene.dispatched.number,
        scene.citizen.number,
    ]
    assert scene.closed.stage == CaseStage.closed and scene.invalid.stage == CaseStage.rejected


def test_hotline_and_invalid_cases_are_not_found_by_id_or_token(open311, client, scene):
    for case in (scene.hotline, scene.invalid):
        check_errors(client.get(f"{BASE}/requests/{case.number}.json"), 404)
        check_errors(client.get(f"{BASE}/requests/{case.number}.xml"), 404)
        check_errors(client.get(f"{BASE}/tokens/{case.tracking_code}.json"), 404)
        assert open311.requests(service_request_id=case.number) == []
    check_errors(client.get(f"{BASE}/tokens/FFFFFFFFFF.json"), 404)


def test_contact_data_never_appears_in_any_answer(client, scene, db):
    assert scene.citizen.contact is not None  # kept, for the grid worker who verifies
    paths = [
        "requests.json",
        "requests.xml",
        "requests.json?extensions=true",
        "requests.xml?extensions=true",
        f"requests/{scene.citizen.number}.json?extensions=true",
        f"requests/{scene.citizen.number}.xml?extensions=true",
        f"tokens/{scene.citizen.tracking_code}.json",
        f"requests.json?service_request_id={scene.citizen.number},{scene.hotline.number}",
    ]
    for path in paths:
        response = client.get(f"{BASE}/{path}")
        assert response.status_code == 200, (path, response.text)
        for value in PERSONAL:
            assert value not in response.text, (path, value)
    assert "张三丰" not in client.get(f"{BASE}/requests.json?service_code=SJ0102").text


def test_status_mapping_of_an_open_and_a_closed_request(open311, scene, db):
    dispatched = open311.request(scene.dispatched.number)
    view = public_view(db=db, case=scene.dispatched)
    assert dispatched["status"] == "open"
    assert dispatched["status_notes"] == view.stage_label
    assert dispatched["agency_responsible"] == f"{STREET_W}环卫所"
    assert dispatched["expected_datetime"] == "2026-11-25T15:01:00+08:00"  # 4 working hours from 09:01 + lunch
    assert dispatched["expected_datetime"] == scene.dispatched.handle_due_at.astimezone(T0.tzinfo).isoformat()
    assert dispatched["updated_datetime"] == "2026-11-25T09:01:00+08:00"
    assert "4个工作时" in dispatched["service_notice"]

    closed = open311.request(scene.closed.number)
    assert closed["status"] == "closed"
    # A grid worker's report is listed as what and roughly where: no text, no address, a point to ~100 m (the
    # handler's reply and the worker's text may be about people); a citizen's report is published as written.
    assert closed["status_notes"] == "已结案" and "已劝离" not in str(closed)
    assert closed["description"] is None and closed["address"] is None
    assert closed["lat"] == round(scene.closed.lat, 3) and closed["long"] == round(scene.closed.lng, 3)
    assert closed["updated_datetime"] == "2026-11-25T10:30:00+08:00"  # the closing time
    assert closed["expected_datetime"] is None
    assert closed["service_code"] == "SJ0501" and closed["service_name"] == "占道经营"

    rejected = open311.request(scene.rejected.number, lang="en")
    assert rejected["status"] == "closed"
    assert rejected["status_notes"].startswith("Not accepted: the same problem was already reported")
    assert rejected["updated_datetime"] == "2026-11-25T09:20:00+08:00"

    citizen = open311.request(scene.citizen.number, lang="en")
    assert citizen["status_notes"] == "Being verified on site" and citizen["address"] == "花园路口"
    assert citizen["agency_responsible"] is None and citizen["expected_datetime"] is None


def test_extensions_add_the_public_notes_and_the_channel_and_stage(open311, scene, db):
    plain = open311.request(scene.closed.number)
    assert "notes" not in plain and "extended_attributes" not in plain
    extended = open311.request(scene.closed.number, extensions="true", lang="en")
    view = public_view(db=db, case=scene.closed, locale="en")
    assert [n["description"] for n in extended["notes"]] == [n.text for n in view.notes]
    assert extended["notes"][0] == {
        "datetime": "2026-11-25T09:02:00+08:00",
        "description": "Report received",
        "type": "status",
    }
    assert extended["notes"][-1]["description"] == "Checked on site and closed"
    assert extended["extended_attributes"] == {"channel": "patrol", "stage": "closed"}
    listed = open311.requests(extensions="true")
    assert all("notes" in item and "extended_attributes" in item for item in listed)
    assert open311.requests(extensions="false")[0].keys() == plain.keys()


def test_service_request_id_overrides_every_other_filter(open311, scene):
    ids = f"{scene.dispatched.number}, {scene.closed.number},{scene.old.number},{scene.hotline.number},NOPE"
    found = open311.requests(service_request_id=ids, status="open", service_code="ZZ0101", start_date="2020-01-01")
    assert numbers(found) == [scene.closed.number, scene.dispatched.number, scene.old.number]


def test_filters_by_service_code_and_status(open311, client, scene):
    assert numbers(open311.requests(service_code="SJ0501")) == [scene.closed.number]
    assert len(open311.requests(service_code="SJ0501,SJ0102")) == 4
    assert numbers(open311.requests(status="closed")) == [scene.rejected.number, scene.closed.number]
    assert numbers(open311.requests(status="open")) == [scene.dispatched.number, scene.citizen.number]
    assert len(open311.requests(status="open,closed")) == 4
    both = client.get(f"{BASE}/requests.json", params=[("status", "open"), ("status", "closed")])
    assert len(both.json()) == 4
    assert "status pending unknown" in check_errors(client.get(f"{BASE}/requests.json?status=pending"), 400)[0]
    (description,) = check_errors(client.get(f"{BASE}/requests.json?service_code=SJ0102,XX01"), 404)
    assert "service_code 'XX01' not found" in description


def test_dates_default_to_the_last_90_days_and_may_span_at_most_90(open311, client, scene, frozen):
    assert scene.old.number not in numbers(open311.requests())
    old = open311.requests(start_date="2026-08-17T00:00:00+08:00", end_date="2026-08-18T00:00:00+08:00")
    assert numbers(old) == [scene.old.number]
    assert numbers(open311.requests(start_date="2026-08-17")) == [scene.old.number]  # + 90 days: before T0
    assert numbers(open311.requests(end_date="2026-11-25T01:00:30Z", start_date="2026-11-25T00:59:00Z")) == [
        scene.citizen.number
    ]
    # An unencoded "+" arrives as a space; it is read as the offset it was.
    assert numbers(open311.requests(start_date="2026-11-25T09:00:30 08:00")) == numbers(open311.requests())[:-1]

    too_long = client.get(f"{BASE}/requests.json?start_date=2026-08-01&end_date=2026-11-25")
    assert "may span at most 90 days" in check_errors(too_long, 400)[0]
    backwards = client.get(f"{BASE}/requests.xml?start_date=2026-11-25&end_date=2026-11-01")
    assert "end_date is before start_date" in check_errors(backwards, 400)[0]
    assert "W3C date-time" in check_errors(client.get(f"{BASE}/requests.json?end_date=yesterday"), 400)[0]

    frozen.advance(days=91)
    assert open311.requests() == []  # everything is now older than the default window


def test_pages_of_at_most_1000(open311, client, scene):
    everything = numbers(open311.requests())
    assert numbers(open311.requests(page_size=3)) == everything[:3]
    assert numbers(open311.requests(page_size=3, page=2)) == everything[3:]
    assert open311.requests(page_size=3, page=3) == []
    assert "page_size" in check_errors(client.get(f"{BASE}/requests.json?page_size=1001"), 400)[0]
    assert "page" in check_errors(client.get(f"{BASE}/requests.json?page=0"), 400)[0]


def test_a_radius_around_a_point_finds_nearby_requests(open311, client, scene):
    lng, lat = lnglat(100, 880)
    near = open311.requests(lat=lat, long=lng, radius=40)
    assert numbers(near) == [scene.dispatched.number, scene.citizen.number]  # 0 m and 30 m away
    assert numbers(open311.requests(lat=lat, long=lng)) == numbers(near)  # default: the duplicate radius, 50 m
    assert len(open311.requests(lat=lat, long=lng, radius=350)) == 4
    assert numbers(open311.requests(lat=lat, long=lng, radius=40, page_size=1, page=2)) == [scene.citizen.number]
    assert "lat and long together" in check_errors(client.get(f"{BASE}/requests.json?long={lng}"), 400)[0]
    assert "radius" in check_errors(client.get(f"{BASE}/requests.json?lat={lat}&long={lng}&radius=9000"), 400)[0]


def test_every_list_answer_is_well_formed_xml(client, scene, db):
    # A control character in imported free text would break naive XML: it is dropped.
    scene.citizen.description = "垃圾\x0b堆积 & 异味"
    db.flush()
    root = parse_xml(client.get(f"{BASE}/requests.xml?extensions=true"), "service_requests")
    requests = root.findall("request")
    assert len(requests) == 4
    first = requests[0]
    assert [child.tag for child in first][:17] == [
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    ]
    assert first.findall("notes/note") and first.findtext("notes/note/type") == "status"
    assert first.findtext("extended_attributes/channel") == "open311"
    by_id = {r.findtext("service_request_id"): r for r in requests}
    assert by_id[scene.citizen.number].findtext("description") == "垃圾堆积 & 异味"
    token = parse_xml(client.get(f"{BASE}/tokens/{scene.citizen.tracking_code}.xml"), "service_requests")
    assert token.findtext("request/service_request_id") == scene.citizen.number
    assert token.findtext("request/token") == scene.citizen.tracking_code
    assert parse_xml(client.get(f"{BASE}/requests.xml?status=nothing"), "errors").findtext("error/code") == "400"


def test_a_photo_of_the_report_is_the_media_url(open311, world, db, scene):
    sha = photo(db)
    ctx = Context.of(world.grid_worker)
    case_service.attach(db=db, case=scene.citizen, sha256s=[sha], kind=AttachmentKind.report, ctx=ctx)
    case_service.attach(db=db, case=scene.dispatched, sha256s=[sha], kind=AttachmentKind.report, ctx=ctx)
    db.flush()
    assert open311.request(scene.citizen.number)["media_url"] == f"http://testserver/media/public/{sha}"
    assert open311.request(scene.dispatched.number)["media_url"] is None  # a grid worker's photo stays private
    assert open311.request(scene.closed.number)["media_url"] is None
