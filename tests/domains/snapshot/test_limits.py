"""Rate limits of the public channel: per address and per phone on reports, per address on uploads and lookups."""

from __future__ import annotations

from sqlalchemy import func, select

from gridgov.core.ratelimit import RateCounter
from gridgov.domains.cases.models import Case
from tests.domains.cases.world import point
from tests.domains.snapshot.conftest import PHONE, tiny_png


def body(n: int, **changes: object) -> dict[str, object]:
    lng, lat = point(100 + n, 800)
    return {"matter_type": "SJ0102", "description": f"第{n}处垃圾", "lng": lng, "lat": lat, **changes}


def post(client, n: int, key: str | None = None, **changes: object):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/public/snapshots", json=body(n, **changes), headers=headers)


def test_reports_per_address_are_limited_per_hour(public, db, at):
    for n in range(4):
        assert post(public, n).status_code == 201
    refused = post(public, 4)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert "at most 4 per 1 h" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) == 3600
    assert db.scalar(select(func.count()).select_from(Case)) == 4
    at.advance(minutes=30)
    assert int(post(public, 5).headers["Retry-After"]) == 1800
    at.advance(minutes=31)
    assert post(public, 6).status_code == 201


def test_a_retry_with_the_same_key_is_not_counted_again(public):
    for _ in range(8):
        response = post(public, 1, key="one-report-key")
        assert response.status_code in (200, 201), response.text
    assert post(public, 2).status_code == 201


def test_reports_per_phone_are_limited_per_day_however_the_number_is_written(public, at):
    for n, phone in enumerate((PHONE, "139 1234 5678", "+86 139-1234-5678")):
        assert post(public, n, phone=phone).status_code == 201
    at.advance(hours=2)  # a new hour for the address, the same day for the phone
    refused = post(public, 3, phone="8613912345678")
    assert refused.status_code == 429 and "phone" in refused.json()["message"]
    assert post(public, 4, phone="13800000000").status_code == 201  # another phone
    assert post(public, 5).status_code == 201  # no phone


def test_counters_keep_no_address_or_phone(public, db):
    post(public, 1, phone=PHONE)
    keys = db.scalars(select(RateCounter.key)).all()
    assert len(keys) == 2
    assert not any(PHONE in key or "testclient" in key for key in keys)


def test_photo_uploads_per_address_are_limited(public):
    for shade in range(5):
        files = {"file": ("p.png", tiny_png(shade), "image/png")}
        assert public.post("/api/v1/public/media", files=files).status_code == 201
    refused = public.post("/api/v1/public/media", files={"file": ("p.png", tiny_png(9), "image/png")})
    assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_lookups_are_limited_found_or_not(public):
    code = post(public, 1).json()["tracking_code"]
    for n in range(29):
        assert public.get(f"/api/v1/public/cases/{n:010d}").status_code == 404  # guesses count too
    assert public.get(f"/api/v1/public/cases/{code}").status_code == 200
    refused = public.get(f"/api/v1/public/cases/{code}")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    page = public.get(f"/s/track/{code}")
    assert page.status_code == 429 and "Retry-After" in page.headers
    assert "分钟后再试" in page.text  # a friendly message, in Chinese by default
    rating = public.post(f"/api/v1/public/cases/{code}/rating", json={"satisfaction": "satisfied"})
    assert rating.status_code == 429
