"""POST requests: a real Open311 client's flow, the api_key, attributes, media, idempotency, and every refusal
(with its status, the spec's error body, and nothing written)."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import AuditAction, Role
from gridgov.domains.auth.models import ApiToken, AuditEntry
from gridgov.domains.cases.enums import AttachmentKind, CaseStage, Channel
from gridgov.domains.cases.models import Case, CaseContact, MediaFile
from gridgov.domains.cases.public import public_view
from gridgov.domains.catalog.enums import Urgency
from tests.domains.areas.synthetic import lnglat
from tests.domains.cases.world import COMMUNITY_W_N, add_token_user, point
from tests.domains.open311.conftest import BASE, check_errors, parse_xml

LNG, LAT = point()


def form(api_key: str, **extra: str) -> dict[str, str]:
    """A complete request as the spec's example sends it (form fields)."""
    return {
        "api_key": api_key,
        "jurisdiction_id": "jinshui.zhengzhou.gov.cn",
        "service_code": "SJ0102",
        "lat": f"{LAT:.7f}",
        "long": f"{LNG:.7f}",
        "address_string": "金水路与花园路交叉口东北角",
        "description": "路边堆了一大堆生活垃圾，已经好几天没人清理",
        **extra,
    }


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def cases(db) -> int:
    return db.scalar(select(func.count(Case.id))) or 0


def test_an_open311_client_lists_services_posts_a_request_and_follows_it(open311, world, db, api_key):
    services = open311.get("services.json", "services")
    chosen = next(s for s in services if s["service_name"] == "暴露垃圾")
    definition = open311.get(f"services/{chosen['service_code']}.json", "service-definition")
    assert [a["code"] for a in definition["attributes"]] == ["urgency"]

    created = open311.post_ok(
        form(
            api_key,
            **{
                "attribute[urgency]": "urgent",
                "email": "li.ming@example.com",
                "phone": "138-0013-8000",
                "first_name": "明",
                "last_name": "李",
                "device_id": "android-7f3a",
                "account_id": "acct-42",
                "media_url": "https://photos.example.com/p/123.jpg",
            },
        )
    )
    number = created["service_request_id"]
    assert number == "410105-20261125-000001"
    assert created["account_id"] == "acct-42"
    assert "网格员现场核实" in created["service_notice"] and "4个工作时" in created["service_notice"]

    case = db.scalars(select(Case).where(Case.number == number)).one()
    assert case.channel == Channel.open311 and case.external_id is None
    assert case.stage == CaseStage.verifying and case.urgency == Urgency.urgent
    assert case.title == "暴露垃圾: 路边堆了一大堆生活垃圾，已经好几天没人清理"
    assert case.description == (
        "路边堆了一大堆生活垃圾，已经好几天没人清理\n媒体链接 (media_url): https://photos.example.com/p/123.jpg"
    )
    assert case.address == "金水路与花园路交叉口东北角"
    assert created["token"] == case.tracking_code and len(case.tracking_code) == 10
    contact = db.get(CaseContact, case.id)
    assert (contact.name, contact.phone, contact.email) == ("李明", "13800138000", "li.ming@example.com")

    found = open311.request(number)
    assert found["status"] == "open"
    assert found["status_notes"] == public_view(db=db, case=case).stage_label
    assert found["service_code"] == "SJ0102" and found["service_name"] == "暴露垃圾"
    assert found["requested_datetime"] == "2026-11-25T09:00:00+08:00"
    assert found["expected_datetime"] is None  # no handling deadline before dispatch
    assert found["lat"] == pytest.approx(LAT, abs=1e-7) and found["long"] == pytest.approx(LNG, abs=1e-7)
    assert found["address"] == "金水路与花园路交叉口东北角" and found["media_url"] is None
    assert found["description"] == case.description

    listed = open311.requests(service_code="SJ0102", status="open")
    assert [r["service_request_id"] for r in listed] == [number]
    assert open311.get(f"tokens/{created['token']}.json", "token-response") == [
        {"service_request_id": number, "token": created["token"]}
    ]
    assert open311.get(f"tokens/{created['token'].lower()}.json", "token-response")[0]["service_request_id"] == number


def test_a_citizen_account_posts_in_xml_and_gets_xml_back(client, world, db, citizen_key):
    response = client.post(f"{BASE}/requests.xml", data=form(citizen_key))
    assert response.status_code == 200, response.text
    root = parse_xml(response, "service_requests")
    (request,) = root.findall("request")
    number = request.findtext("service_request_id")
    assert request.findtext("token") == db.scalars(select(Case.tracking_code).where(Case.number == number)).one()
    assert request.find("account_id") is None  # not given, not returned
    root = parse_xml(client.get(f"{BASE}/requests/{number}.xml"), "service_requests")
    assert root.findtext("request/status") == "open"
    assert root.findtext("request/requested_datetime") == "2026-11-25T09:00:00+08:00"


def test_a_component_number_and_urgency_reach_the_case(open311, world, db, api_key):
    created = open311.post_ok(
        form(
            api_key,
            service_code="BJ0101",
            description="井盖缺失，有人掉进去的危险",
            **{"attribute[urgency]": "emergency", "attribute[component_id]": "410105-BJ0101-000123"},
        )
    )
    case = db.scalars(select(Case).where(Case.number == created["service_request_id"])).one()
    assert case.urgency == Urgency.emergency
    assert case.description == "井盖缺失，有人掉进去的危险\n部件编号: 410105-BJ0101-000123"
    assert open311.request(case.number)["description"].endswith("部件编号: 410105-BJ0101-000123")


def test_a_photo_posted_as_multipart_media_is_stored_attached_and_linked(open311, world, db, api_key):
    data = jpeg()
    created = open311.post_ok(form(api_key), files=[("media", ("rubbish.jpg", data, "image/jpeg"))])
    case = db.scalars(select(Case).where(Case.number == created["service_request_id"])).one()
    (attachment,) = case.attachments
    assert attachment.kind == AttachmentKind.report and attachment.content_type == "image/jpeg"
    assert db.get(MediaFile, attachment.sha256).size == len(data)
    found = open311.request(case.number)
    assert found["media_url"] == f"http://testserver/media/public/{attachment.sha256}"


def test_a_retry_with_the_same_idempotency_key_returns_the_same_request(open311, client, world, db, api_key):
    headers = {"Idempotency-Key": "app-7f3a-0001"}
    first = open311.post(form(api_key), headers=headers)
    again = open311.post(form(api_key), headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert cases(db) == 1

    # The same key with another body is refused, and writes nothing.
    changed = open311.post(form(api_key, description="另一处垃圾"), headers=headers)
    assert "already used for a different report" in check_errors(changed, 400)[0]
    # Another client's identical key is its own.
    other = add_token_user(db, "other-app", Role.system, None, None, scopes=("cases:write",))[1]
    assert (
        open311.post(form(other), headers=headers).json()[0]["service_request_id"]
        != first.json()[0]["service_request_id"]
    )
    assert cases(db) == 2


def test_the_api_key_use_is_recorded(open311, world, db, api_key):
    open311.post_ok(form(api_key))
    prefix = api_key.split("_")[1]
    token = db.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).one()
    assert token.last_used_at is not None
    assert db.scalar(
        select(AuditEntry).where(AuditEntry.action == AuditAction.token_use, AuditEntry.target_id == str(token.id))
    )


# --- refusals ---------------------------------------------------------------------------------------------------


def test_a_missing_or_wrong_api_key_is_403_and_the_wrong_one_is_audited(open311, client, world, db, api_key):
    without = form(api_key)
    del without["api_key"]
    assert "api_key is required" in check_errors(open311.post(without), 403)[0]
    check_errors(client.post(f"{BASE}/requests.xml", data=without), 403)

    wrong = "ggv_abcdefgh_" + "x" * 40
    assert "invalid api_key" in check_errors(open311.post(form(wrong)), 403)[0]
    refused = db.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.token_refused)).all()
    assert [(e.detail["reason"], e.detail["path"]) for e in refused] == [("unknown", f"{BASE}/requests.json")]

    prefix = api_key.split("_")[1]
    token = db.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).one()
    auth_service.revoke_token(db=db, token=token)
    db.flush()
    assert "revoked" in check_errors(open311.post(form(api_key)), 403)[0]
    assert cases(db) == 0


def test_an_api_key_without_the_write_scope_or_of_staff_is_403(open311, world, db):
    reader = add_token_user(db, "reader-app", Role.system, None, None, scopes=("cases:read",))[1]
    assert "lacks the scope 'cases:write'" in check_errors(open311.post(form(reader)), 403)[0]
    worker = add_token_user(db, "gw-open311", Role.grid_worker, f"{COMMUNITY_W_N}-JWH", COMMUNITY_W_N)[1]
    assert "grid_worker account" in check_errors(open311.post(form(worker)), 403)[0]
    assert cases(db) == 0


def test_an_unknown_service_or_jurisdiction_is_404(open311, world, db, api_key):
    assert "service_code 'XX0000' not found" in check_errors(open311.post(form(api_key, service_code="XX0000")), 404)[0]
    (description,) = check_errors(open311.post(form(api_key, jurisdiction_id="sfgov.org")), 404)
    assert "jurisdiction_id 'sfgov.org' not found" in description
    assert cases(db) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lat": "", "long": ""}, "this server cannot geocode addresses; send lat and long"),
        ({"lat": "", "long": "", "address_string": "", "address_id": "A-17"}, "address_id alone is not accepted"),
        ({"lat": "", "long": "", "address_string": ""}, "a location is required"),
        ({"long": ""}, "send both lat and long"),
        ({"lat": "north"}, "lat: Input should be a valid number"),
        ({"lat": "95"}, "lat: Input should be less than or equal to 90"),
        ({"lat": "nan"}, "lat: Input should be a finite number"),
        ({"description": "<b>垃圾</b> 很多"}, "description: must be plain text"),
        ({"description": "垃" * 4001}, "description: String should have at most 4000 characters"),
        ({"phone": "call me"}, "phone: a phone number has 5 to 20 digits"),
        ({"email": "nobody"}, "email: not an e-mail address"),
        ({"media_url": "javascript:alert(1)"}, "media_url: must be an http(s) URL"),
        ({"service_code": ""}, "service_code: Field required"),
        ({"attribute[urgency]": "soon"}, "attribute[urgency]: 'soon' is not one of normal, urgent, emergency"),
        ({"attribute[colour]": "red"}, "attribute[colour]: service SJ0102 has no such attribute"),
        ({"attribute[component_id]": "X-1"}, "attribute[component_id]: service SJ0102 has no such attribute"),
        ({"media": "not-a-file"}, "media must be sent as a file"),
    ],
)
def test_bad_input_is_400_with_a_clear_description_and_writes_nothing(open311, world, db, api_key, change, message):
    data = form(api_key, **change)
    descriptions = check_errors(open311.post(data), 400)
    assert any(message in d for d in descriptions), descriptions
    assert cases(db) == 0


def test_a_location_outside_the_district_is_400_naming_the_nearest_grid(open311, world, db, api_key):
    lng, lat = lnglat(-3000, 880)
    (description,) = check_errors(open311.post(form(api_key, lat=str(lat), long=str(lng))), 400)
    assert "outside the district's grids" in description and "nearest grid" in description
    assert cases(db) == 0


def test_description_with_attributes_over_the_limit_is_400(open311, world, db, api_key):
    data = form(
        api_key, service_code="BJ0101", description="井" * 3990, **{"attribute[component_id]": "410105-BJ0101-000123"}
    )
    assert "shorten it to" in check_errors(open311.post(data), 400)[0]
    assert cases(db) == 0


def test_a_non_image_media_file_is_400_and_nothing_is_kept(open311, world, db, api_key):
    response = open311.post(form(api_key), files=[("media", ("notes.txt", b"just text", "text/plain"))])
    assert "unsupported file type" in check_errors(response, 400)[0]
    assert cases(db) == 0 and db.scalar(select(func.count()).select_from(MediaFile)) == 0
    pdf = open311.post(form(api_key), files=[("media", ("notice.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"))])
    assert "not a photo" in check_errors(pdf, 400)[0]  # a document is fine for staff, not on a public channel
    assert cases(db) == 0 and db.scalar(select(func.count()).select_from(MediaFile)) == 0


def test_a_json_body_is_refused_with_the_encoding_to_use(client, world, db, api_key):
    response = client.post(f"{BASE}/requests.json", json=form(api_key))
    assert "application/x-www-form-urlencoded" in check_errors(response, 400)[0]
    # Everything in the query string (as the Swagger description has it) is accepted too.
    response = client.post(f"{BASE}/requests.json", params=form(api_key))
    assert response.status_code == 200, response.text
    assert cases(db) == 1


def test_fastapi_validation_errors_are_answered_in_the_spec_format(open311, world, api_key):
    response = open311.post(form(api_key), headers={"Idempotency-Key": "k" * 151})
    assert "idempotency-key" in check_errors(response, 400)[0]
