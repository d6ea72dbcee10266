"""The public pages /s and /s/track through the TestClient: form, CSRF, refusals shown with the text kept,
the tracking code, the status page, rating, the friendly 404 and 429 pages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.domains.cases.enums import CaseStage
from gridgov.domains.cases.models import Case, MediaFile
from tests.domains.cases.world import World, point
from tests.domains.snapshot.conftest import PHONE, Clock, form_fields, tiny_png
from tests.domains.snapshot.test_api import drive_to_closed

DESCRIPTION = '小区"北门"外 & 人行道上有建筑垃圾'


def fields(client: TestClient, **changes: str) -> dict[str, str]:
    lng, lat = point()
    hidden = form_fields(client)
    return {
        **hidden,
        "matter_type": "SJ0102",
        "description": "小区北门外人行道上有建筑垃圾",
        "address": "北门",
        "phone": PHONE,
        "lng": f"{lng:.7f}",
        "lat": f"{lat:.7f}",
        "crs": "wgs84",
        **changes,
    }


def send(client: TestClient, data: dict[str, str], photos: list[tuple[str, bytes, str]] | None = None):
    files = [("photo", photo) for photo in photos or []]
    # An empty file input posts a part without a file name: it is ignored.
    files.append(("photo", ("", b"", "application/octet-stream")))
    return client.post("/s", data=data, files=files)


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model))


def code_of(page: str) -> str:
    found = re.search(r'id="tracking-code">([0-9A-F]+)<', page)
    assert found, page
    return found.group(1)


def test_the_form_is_a_plain_form_with_its_csrf_cookie_and_key(public):
    page = public.get("/s")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="zh-CN">' in html
    assert 'enctype="multipart/form-data"' in html
    assert 'capture="environment"' in html and 'accept="image/*"' in html
    assert "gridgov_public_csrf" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]
    hidden = form_fields(public)
    assert len(hidden["idempotency_key"]) >= 30 and hidden["csrf_token"]
    assert hidden["csrf_token"] == public.cookies["gridgov_public_csrf"]
    # Options grouped by major class, 'other' last; the warning that the text and photos are public.
    groups = re.findall(r'<optgroup label="([^"]+)">', html)
    assert groups == ["市容环境", "街面秩序", "公用设施", "其他事件"]
    assert 'id="public-notice"' in html
    # No inline script and no inline handlers: every script is a static file.
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert re.search(r"\son[a-z]+=", html) is None
    assert "/static/js/report.js" in html and "/static/vendor/leaflet/leaflet.js" in html
    assert "/api/v1/areas/geojson?level=street" in html


def test_a_report_from_the_form_shows_its_tracking_code(public, db):
    data = fields(public)
    page = send(public, data, [("a.png", tiny_png(), "image/png"), ("b.png", tiny_png(0x40), "image/png")])
    assert page.status_code == 200, page.text
    code = code_of(page.text)
    assert f'href="/s/track/{code}"' in page.text
    assert "请妥善保存" in page.text  # tells the reporter to keep the code
    case = db.scalars(select(Case).where(Case.tracking_code == code)).one()
    assert case.stage == CaseStage.verifying and len(case.attachments) == 2
    assert case.contact.phone == PHONE and case.address == "北门"
    assert case.idempotency_key == "snapshot:" + data["idempotency_key"]
    assert PHONE not in page.text

    # Sent again (a retry after a lost answer): the same code, no second case.
    again = send(public, data, [("a.png", tiny_png(), "image/png")])
    assert code_of(again.text) == code
    assert count(db, Case) == 1


def test_a_changed_report_under_a_used_key_is_refused_with_a_new_key(public, db):
    data = fields(public)
    send(public, data)
    refused = send(public, {**data, "description": "另一件事"})
    assert refused.status_code == 409
    assert "已经提交过" in refused.text
    new_key = form_fields_of(refused.text)["idempotency_key"]
    assert new_key != data["idempotency_key"] and "data-reset-key" in refused.text
    assert "另一件事" in refused.text
    assert count(db, Case) == 1
    accepted = send(public, {**data, "description": "另一件事", "idempotency_key": new_key})
    assert accepted.status_code == 200 and count(db, Case) == 2


def form_fields_of(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))


def test_refusals_keep_the_users_text_and_write_nothing(public, db):
    cases = [
        ({"lng": "", "lat": ""}, None, 422, "请选择位置"),
        ({"lng": "113.5", "lat": "34.5"}, None, 422, "超出本平台服务范围"),
        ({"description": ""}, None, 422, "请描述"),
        ({"matter_type": ""}, None, 422, "请从列表中选择问题类型"),
        ({"phone": "打电话给我"}, None, 422, "电话号码"),
        ({}, [("x.pdf", b"%PDF-1.4 a document", "application/pdf")], 422, "只能上传照片"),
        ({}, [("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (11 * 1024 * 1024), "image/png")], 413, "照片过大"),
        ({}, [(f"{n}.png", tiny_png(n), "image/png") for n in range(7)], 422, "最多"),
    ]
    for changes, photos, status, words in cases:
        data = fields(public, **changes)
        page = send(public, {**data, "description": changes.get("description", DESCRIPTION)}, photos)
        assert page.status_code == status, (changes, page.text)
        errors = page.text.split('id="form-errors"')[1].split("</div>")[0]
        assert words in errors, (changes, errors)
        if "description" not in changes:
            assert "小区&#34;北门&#34;外 &amp; 人行道上有建筑垃圾" in page.text  # kept, and escaped
        assert f'value="{PHONE}"' in page.text or "phone" in changes
        assert 'value="SJ0102" selected' in page.text or "matter_type" in changes
        assert form_fields_of(page.text)["idempotency_key"] == data["idempotency_key"]  # the same key
        if photos:
            assert "请重新添加照片" in page.text
    assert count(db, Case) == 0 and count(db, MediaFile) == 0


def test_a_post_without_the_csrf_token_is_refused(public, db):
    data = fields(public)
    public.cookies.clear()
    page = send(public, data)
    assert page.status_code == 403
    assert "表单已过期" in page.text and "小区北门外人行道上有建筑垃圾" in page.text
    assert count(db, Case) == 0
    forged = send(public, {**fields(public), "csrf_token": "x" * 43})
    assert forged.status_code == 403


def test_too_many_reports_get_a_friendly_page(public, db):
    for n in range(4):
        assert send(public, fields(public, idempotency_key=f"key-number-{n}", phone="")).status_code == 200
    page = send(public, fields(public, idempotency_key="key-number-5", phone=""))
    assert page.status_code == 429
    assert page.headers["Retry-After"] == "3600"
    assert "60 分钟后再试" in page.text
    assert count(db, Case) == 4


def test_tracking_pages(public, db, world: World, at: Clock):
    form = public.get("/s/track")
    assert form.status_code == 200 and 'name="code"' in form.text
    code = code_of(send(public, fields(public), [("a.png", tiny_png(), "image/png")]).text)
    jump = public.get("/s/track", params={"code": f" {code[:5].lower()}-{code[5:]} "}, follow_redirects=False)
    assert jump.status_code == 303 and jump.headers["location"] == f"/s/track/{code}"

    status = public.get(f"/s/track/{code}")
    assert status.status_code == 200
    assert 'id="status-stage">现场核实中<' in status.text
    assert 'aria-current="step"' in status.text
    assert 'id="rating"' not in status.text and "办结后" in status.text

    # Rating before closure: a clear message.
    token = public.cookies["gridgov_public_csrf"]
    early = public.post(f"/s/track/{code}/rating", data={"csrf_token": token, "satisfaction": "satisfied"})
    assert early.status_code == 409 and "尚未办结" in early.text

    case = db.scalars(select(Case).where(Case.tracking_code == code)).one()
    drive_to_closed(world, db, case, at)
    closed = public.get(f"/s/track/{code}")
    assert 'id="status-stage">已结案<' in closed.text
    assert "垃圾已清运，现场已清扫" in closed.text.split('id="status-reply"')[1]
    assert 'id="status-agency">410105001环卫所<' in closed.text
    assert 'id="rating"' in closed.text

    no_choice = public.post(f"/s/track/{code}/rating", data={"csrf_token": token})
    assert no_choice.status_code == 422 and "请选择满意程度" in no_choice.text
    forged = public.post(f"/s/track/{code}/rating", data={"csrf_token": "y" * 43, "satisfaction": "satisfied"})
    assert forged.status_code == 403 and case.satisfaction is None
    rated = public.post(
        f"/s/track/{code}/rating",
        data={"csrf_token": token, "satisfaction": "unsatisfied", "comment": "还有残留"},
        follow_redirects=False,
    )
    assert rated.status_code == 303 and rated.headers["location"] == f"/s/track/{code}?rated=1"
    assert case.satisfaction is None and case.stage == CaseStage.handling  # reopened: rated again once closed
    thanked = public.get(rated.headers["location"])
    assert 'id="rated"' in thanked.text and "反映人评价：不满意" in thanked.text
    twice = public.post(f"/s/track/{code}/rating", data={"csrf_token": token, "satisfaction": "satisfied"})
    assert twice.status_code == 409
    assert PHONE not in thanked.text and "还有残留" not in thanked.text


def test_an_unknown_code_gets_a_friendly_404_page(public):
    page = public.get("/s/track/ZZZZ<b>99")
    assert page.status_code == 404
    assert "未找到" in page.text and "ZZZZ&lt;b&gt;99" in page.text
    assert public.get("/s/track/0000000000").status_code == 404


def test_the_pages_speak_english_on_request(public):
    public.cookies.set("lang", "en")
    page = public.get("/s")
    assert '<html lang="en">' in page.text and "Report a problem" in page.text
    refused = send(public, fields(public, lng="", lat=""))
    assert "Please choose the location" in refused.text
