"""Photos through HTTP: upload with EXIF read back, the variants and who may fetch the original, the anonymous
public route (public channels only), the upload limit, and the GPS-distance check of `photo_flags`.

Every caller is a real user with an API token; requests run inside the test's transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import clock, media
from gridgov.core.geo import distance_m
from gridgov.domains.auth.enums import AuditOutcome, Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Channel
from gridgov.domains.cases.models import Case, MediaFile
from gridgov.domains.cases.service import Context
from tests.core.test_media import LAT, LNG, RED, near, photo
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import COMMUNITY_W_N, STREET_W, World, add_token_user, bearer, point

USERS = {
    "grid_worker": (Role.grid_worker, f"{COMMUNITY_W_N}-JWH", COMMUNITY_W_N),
    "dispatcher": (Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W),
    "handler": (Role.unit_handler, f"{STREET_W}-HWS", None),
    "citizen": (Role.citizen, None, None),
}


@pytest.fixture
def api(app: FastAPI, db: Session, world: World) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    """The client and an Authorization header per test user."""
    headers = {}
    for name, (role, unit, scope) in USERS.items():
        _user, token = add_token_user(db, f"m_{name}", role, unit, scope)
        headers[name] = bearer(token)
    clock.set_clock(lambda: T0)
    try:
        with TestClient(app) as client:
            yield client, headers
    finally:
        clock.set_clock(None)


def upload(client: TestClient, data: bytes, headers: dict[str, str], name: str = "IMG_0001.jpg"):
    return client.post("/api/v1/media", files={"file": (name, data, "application/octet-stream")}, headers=headers)


def seen_by_all(client: TestClient, db: Session, world: World, who: dict[str, dict[str, str]], sha: str) -> None:
    """Attaches the file to a case every test user may see: a citizen's report, in the west grid, with the unit.

    A file is shown only to its uploader and to those who may see a case it is attached to.
    """
    lng, lat = point()
    body = {"channel": "snapshot", "matter_type": "SJ0102", "title": "垃圾", "lng": lng, "lat": lat}
    response = client.post("/api/v1/cases", json={**body, "attachments": [sha]}, headers=who["citizen"])
    assert response.status_code == 201, response.text
    db.get(Case, response.json()["case"]["id"]).handling_unit_id = world.unit(f"{STREET_W}-HWS").id
    db.flush()


def phone_photo(**extra: object) -> bytes:
    """A portrait phone photo: stored 640×480 with orientation 6, GPS at (LNG, LAT), taken 08:30 local."""
    return photo((640, 480), orientation=6, gps=(LNG, LAT), taken="2026:11:25 08:30:00", **extra)


# --- upload --------------------------------------------------------------------------------------------------------


def test_upload_reports_and_records_the_photo_metadata(api, db):
    client, who = api
    data = phone_photo()
    response = upload(client, data, who["grid_worker"])
    assert response.status_code == 201, response.text
    body = response.json()
    sha = hashlib.sha256(data).hexdigest()
    assert body["sha256"] == sha and body["content_type"] == "image/jpeg" and body["size"] == len(data)
    assert (body["width"], body["height"]) == (480, 640)
    assert dt.datetime.fromisoformat(body["taken_at"]) == dt.datetime(2026, 11, 25, 0, 30, tzinfo=dt.UTC)
    assert body["gps_lng"] == pytest.approx(LNG, abs=1e-6) and body["gps_lat"] == pytest.approx(LAT, abs=1e-6)

    row = db.get(MediaFile, sha)
    db.refresh(row)
    assert (row.width, row.height) == (480, 640)
    assert row.taken_at == dt.datetime(2026, 11, 25, 0, 30, tzinfo=dt.UTC)
    assert row.gps_lng == pytest.approx(LNG, abs=1e-6) and row.gps_lat == pytest.approx(LAT, abs=1e-6)


def test_upload_refuses_disguised_truncated_and_accepts_png(api):
    client, who = api
    text = upload(client, b"GIF89a? no: just text pretending to be a photo\n", who["citizen"])
    assert text.status_code == 422 and text.json()["code"] == "unsupported_type"
    data = phone_photo()
    truncated = upload(client, data[: len(data) * 2 // 3], who["citizen"])
    assert truncated.status_code == 422 and truncated.json()["code"] == "bad_image"
    png = upload(client, photo((90, 60), fmt="PNG"), who["citizen"], name="screen.png")
    assert png.status_code == 201 and png.json()["content_type"] == "image/png"
    assert (png.json()["width"], png.json()["height"]) == (90, 60)


def test_upload_over_the_limit_is_413(api, app, settings):
    client, who = api
    data = phone_photo()
    app.state.settings = settings.model_copy(update={"max_upload_bytes": len(data) - 1})
    try:
        response = upload(client, data, who["grid_worker"])
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "too_large" and response.json()["limit"] == len(data) - 1
    finally:
        app.state.settings = settings


# --- variants and who may fetch what -------------------------------------------------------------------------------


def test_default_variant_is_the_public_copy_without_exif(api, db, world):
    client, who = api
    data = phone_photo()
    sha = upload(client, data, who["grid_worker"]).json()["sha256"]
    assert client.get(f"/api/v1/media/{sha}", headers=who["handler"]).status_code == 404  # on no case of theirs
    seen_by_all(client, db, world, who, sha)

    response = client.get(f"/api/v1/media/{sha}", headers=who["handler"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["etag"] == f'"{sha}"'
    assert response.headers["cache-control"].startswith("private, max-age=")
    assert response.content != data and b"Exif" not in response.content and b"ACME-PHONES" not in response.content
    shown = Image.open(io.BytesIO(response.content))
    assert shown.size == (480, 640) and len(shown.getexif()) == 0
    assert near(shown.convert("RGB").getpixel((470, 10)), RED)  # the stored top-left corner, turned clockwise

    again = client.get(f"/api/v1/media/{sha}", headers={**who["handler"], "If-None-Match": f'"{sha}"'})
    assert again.status_code == 304 and again.content == b""

    thumb = client.get(f"/api/v1/media/{sha}", params={"variant": "thumb"}, headers=who["citizen"])
    assert thumb.status_code == 200 and thumb.headers["etag"] == f'"{sha}-thumb"'
    image = Image.open(io.BytesIO(thumb.content))
    assert max(image.size) <= 320 and image.size == (240, 320) and len(image.getexif()) == 0

    assert client.get(f"/api/v1/media/{'0' * 64}", headers=who["handler"]).status_code == 404
    assert client.get("/api/v1/media/not-a-hash", headers=who["handler"]).status_code == 404
    assert client.get(f"/api/v1/media/{sha}", params={"variant": "raw"}, headers=who["handler"]).status_code == 422
    assert client.get(f"/api/v1/media/{sha}").status_code == 401


def test_original_only_for_roles_that_register_or_verify(api, db, world):
    client, who = api
    data = phone_photo()
    sha = upload(client, data, who["grid_worker"]).json()["sha256"]
    seen_by_all(client, db, world, who, sha)
    url = f"/api/v1/media/{sha}?variant=original"

    for allowed in ("dispatcher", "grid_worker"):
        response = client.get(url, headers=who[allowed])
        assert response.status_code == 200, allowed
        assert response.content == data and response.headers["etag"] == f'"{sha}-original"'
        assert Image.open(io.BytesIO(response.content)).getexif()[0x010F] == "ACME-PHONES"

    for refused in ("handler", "citizen"):
        response = client.get(url, headers=who[refused])
        assert response.status_code == 403, refused
        assert response.json()["code"] == "permission_denied" and "public copy" in response.json()["message"]
    denials = db.scalars(
        select(AuditEntry).where(AuditEntry.outcome == AuditOutcome.denied, AuditEntry.target_id == sha)
    ).all()
    assert sorted(d.actor_role for d in denials) == [Role.citizen, Role.unit_handler]


def test_a_pdf_is_served_as_it_is_and_has_no_thumbnail(api, db, world):
    client, who = api
    data = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
    sha = upload(client, data, who["grid_worker"], name="notice.pdf").json()["sha256"]
    seen_by_all(client, db, world, who, sha)
    response = client.get(f"/api/v1/media/{sha}", headers=who["handler"])
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == "application/pdf"
    assert client.get(f"/api/v1/media/{sha}?variant=thumb", headers=who["handler"]).status_code == 404


# --- the anonymous public route ------------------------------------------------------------------------------------


def _case_with_photo(client: TestClient, db: Session, headers: dict[str, str], sha: str, channel: Channel) -> Case:
    lng, lat = point()
    body = {"channel": "hotline", "matter_type": "SJ0102", "title": "路边暴露垃圾", "lng": lng, "lat": lat}
    response = client.post("/api/v1/cases", json={**body, "attachments": [sha]}, headers=headers)
    assert response.status_code == 201, response.text
    case = db.get(Case, response.json()["case"]["id"])
    case.channel = channel  # the route looks only at the channel the case came in through
    db.flush()
    return case


def test_public_route_serves_public_channel_photos_only(api, db):
    client, who = api
    data = phone_photo()
    sha = upload(client, data, who["grid_worker"]).json()["sha256"]
    url = media.public_media_url(sha)
    assert url == f"/media/public/{sha}"

    assert client.get(url).status_code == 404  # uploaded but attached to nothing: not public
    case = _case_with_photo(client, db, who["dispatcher"], sha, Channel.hotline)
    assert client.get(url).status_code == 404  # a hotline caller never published it
    case.channel = Channel.patrol
    db.flush()
    assert client.get(url).status_code == 404

    case.channel = Channel.snapshot
    db.flush()
    response = client.get(url)  # no Authorization header
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"].startswith("public, max-age=")
    assert b"Exif" not in response.content and b"ACME-PHONES" not in response.content
    assert Image.open(io.BytesIO(response.content)).size == (480, 640)
    thumb = client.get(media.public_media_url(sha, "thumb"))
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.content)).size) <= 320
    original = client.get(f"{url}?variant=original")
    assert original.status_code == 403 and data not in original.content

    case.channel = Channel.open311
    db.flush()
    assert client.get(url).status_code == 200
    assert client.get("/media/public/..%2F..%2Fetc%2Fpasswd").status_code == 404


# --- the GPS check -------------------------------------------------------------------------------------------------


def test_photo_flags_finds_a_photo_taken_far_from_the_reported_point(db, world, settings):
    ctx = Context.of(world.grid_worker)
    lng, lat = point()
    # ~100 m and ~2 km north of the reported point; a third photo without GPS is not judged.
    near_at, far_at = (lng, lat + 0.0009), (lng, lat + 0.018)
    shas = []
    for seed, gps in enumerate((near_at, far_at, None)):
        stored = media.store(photo(gps=gps, seed=seed), media_dir=settings.media_dir, max_bytes=10**7)
        shas.append(case_service.register_media(db=db, stored=stored, filename=None, ctx=ctx).sha256)
    near_sha, far_sha, blind_sha = shas

    flags = case_service.photo_flags(db=db, sha256s=shas, lng=lng, lat=lat)
    assert [f["sha256"] for f in flags] == [far_sha]
    assert flags[0]["distance_m"] == pytest.approx(distance_m(*far_at, lng, lat), abs=0.5)
    assert 1900 < flags[0]["distance_m"] < 2100
    assert case_service.photo_flags(db=db, sha256s=[near_sha, blind_sha], lng=lng, lat=lat) == []
    assert case_service.photo_flags(db=db, sha256s=[], lng=lng, lat=lat) == []
    # A stricter limit catches the near photo too.
    strict = case_service.photo_flags(db=db, sha256s=shas, lng=lng, lat=lat, max_distance_m=50)
    assert [f["sha256"] for f in strict] == [near_sha, far_sha]
