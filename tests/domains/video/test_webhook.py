"""The signed webhook: alarms → folded VideoAlarms → cases through intake; refusals and rejections are counted."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import func, select

from gridgov.core import media
from gridgov.domains.auth.enums import AuditOutcome, Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.cases.enums import Action, CaseStage, Channel
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.catalog.models import MatterType
from gridgov.domains.video import service
from gridgov.domains.video.files import AlgorithmRecord
from gridgov.domains.video.models import VideoAlarm, VideoEvent
from gridgov.domains.video.schemas import AlgorithmIn
from tests.domains.cases.conftest import T0
from tests.domains.cases.test_api import DISTRICT_DISPATCHER, jpeg
from tests.domains.video.conftest import GARBAGE, SECRET, SOURCE, URL, VENDING, alarm, post

MIN = dt.timedelta(minutes=1)


def _counts(db) -> tuple[int, int, int]:
    return (
        db.scalar(select(func.count(VideoAlarm.id))),
        db.scalar(select(func.count(VideoEvent.id))),
        db.scalar(select(func.count(Case.id))),
    )


def test_a_signed_alarm_opens_one_case_in_verifying_with_the_snapshot(api, video, world, db, settings):
    photo = jpeg()
    response = post(api, alarm(image=base64.b64encode(photo).decode()))  # one object, not a list
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["received"], result["new_alarms"], result["cases_created"], result["rejected"]) == (1, 1, 1, 0)
    [item] = result["items"]
    assert item["status"] == "alarm" and item["id"] == "e1" and item["case_number"]

    row = db.get(VideoAlarm, item["alarm_id"])
    assert (row.count, row.confidence, row.bbox) == (1, 0.9, [0.1, 0.2, 0.3, 0.4])
    assert row.first_at == row.last_at == T0 - MIN
    case = db.get(Case, item["case_id"])
    assert row.case_id == case.id
    assert case.channel == Channel.video and case.stage == CaseStage.verifying
    assert case.external_id == f"video-{row.id}"
    assert case.title == "[视频告警] 暴露垃圾识别 · 西街路口摄像机"
    assert case.matter_type.code == "SJ0102"
    assert case.grid_id == world.area("410105001001001").id
    assert case.reporter_role == Role.system and case.reporter_user_id is None
    assert "置信度 0.90" in case.description
    sha = hashlib.sha256(photo).hexdigest()
    assert row.snapshot_sha256 == sha
    assert [(a.sha256, a.kind) for a in case.attachments] == [(sha, "report")]
    # the media store wrote the EXIF-free public copy and the thumbnail next to the original
    assert media.path_for(settings.media_dir, sha).exists()
    assert media.public_path_for(settings.media_dir, sha).exists()
    assert media.thumb_path_for(settings.media_dir, sha).exists()
    assert _counts(db) == (1, 1, 1)


def test_an_image_url_is_kept_as_a_reference(api, video, db):
    result = post(api, [alarm(image_url="https://ai.example.com/snap/e1.jpg")]).json()
    row = db.get(VideoAlarm, result["items"][0]["alarm_id"])
    assert row.snapshot_url == "https://ai.example.com/snap/e1.jpg" and row.snapshot_sha256 is None
    assert db.get(Case, row.case_id).attachments == []


def test_events_within_the_window_fold_and_later_ones_open_a_new_alarm_and_case(api, video, db, now):
    now[0] = T0 + 20 * MIN
    first = post(api, [alarm("e1", confidence=0.7, at=T0 - 10 * MIN)]).json()["items"][0]
    second = post(api, [alarm("e2", confidence=0.95, at=T0 - 2 * MIN, bbox=[0, 0, 0.5, 0.5])]).json()["items"][0]
    assert second["status"] == "folded"
    assert (second["alarm_id"], second["case_id"]) == (first["alarm_id"], first["case_id"])
    row = db.get(VideoAlarm, first["alarm_id"])
    assert (row.count, row.confidence, row.bbox) == (2, 0.95, [0, 0, 0.5, 0.5])
    assert (row.first_at, row.last_at) == (T0 - 10 * MIN, T0 - 2 * MIN)
    assert _counts(db) == (1, 2, 1)

    # 10 min 1 s after the alarm's last event: outside the 600 s window → a new alarm and a second case
    third = post(api, [alarm("e3", at=T0 + 8 * MIN + dt.timedelta(seconds=1))]).json()["items"][0]
    assert third["status"] == "alarm" and third["alarm_id"] != first["alarm_id"]
    assert third["case_id"] not in (None, first["case_id"])
    # another algorithm on the same camera at the same time is an alarm of its own
    other = post(api, [alarm("e4", algorithm=VENDING, at=T0 - 2 * MIN)]).json()["items"][0]
    assert other["status"] == "alarm" and other["alarm_id"] not in (first["alarm_id"], third["alarm_id"])
    assert _counts(db) == (3, 4, 3)


def test_a_retry_with_the_same_event_id_adds_nothing(api, video, db):
    first = post(api, [alarm("e1")]).json()["items"][0]
    retry = post(api, [alarm("e1"), alarm("e1")]).json()
    assert retry["duplicates"] == 2 and retry["new_alarms"] == retry["folded"] == 0
    assert [i["status"] for i in retry["items"]] == ["duplicate", "duplicate"]
    assert {i["alarm_id"] for i in retry["items"]} == {first["alarm_id"]}
    assert retry["items"][0]["case_number"] == first["case_number"]
    assert db.get(VideoAlarm, first["alarm_id"]).count == 1
    assert _counts(db) == (1, 1, 1)
    # the same id twice in one new call: the second is the retry
    twice = post(api, [alarm("e9", camera="CAM-E1"), alarm("e9", camera="CAM-E1")]).json()
    assert [i["status"] for i in twice["items"]] == ["alarm", "duplicate"]
    assert _counts(db) == (2, 2, 2)


@pytest.mark.parametrize(
    ("kwargs", "reason", "says"),
    [
        ({"secret": "not-the-secret-0123456789"}, "bad_signature", "signature does not match"),
        ({"source": "nobody"}, "unknown_source", "unknown video source 'nobody'"),
        ({"timestamp": int(T0.timestamp()) - 301}, "stale_timestamp", "301 s behind"),
        ({"timestamp": int(T0.timestamp()) + 400}, "stale_timestamp", "400 s ahead of"),
        ({"headers": {"X-Timestamp": "yesterday"}}, "bad_timestamp", "Unix time"),
    ],
)
def test_a_badly_signed_call_is_refused_counted_and_writes_nothing(api, video, db, kwargs, reason, says):
    response = post(api, [alarm()], **kwargs)
    assert response.status_code == 401, response.text
    assert says in response.json()["detail"]
    assert response.headers["WWW-Authenticate"].startswith("HMAC-SHA256")
    assert service.counters() == {f"refused.{reason}": 1}
    assert _counts(db) == (0, 0, 0)
    audited = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "video.signature_refused")))
    if reason == "bad_signature":
        [entry] = audited
        assert (entry.actor_user_id, entry.actor_name, entry.outcome) == (None, "anonymous", AuditOutcome.denied)
        assert entry.target_id == SOURCE and entry.detail == {"reason": "bad_signature"}
    else:
        assert audited == []


def test_unsigned_tampered_replayed_and_disabled_calls_are_refused(api, video, db, now):
    unsigned = api.post(URL, json=[alarm()])
    assert unsigned.status_code == 401 and "unsigned call" in unsigned.json()["detail"]

    raw = json.dumps([alarm()]).encode()
    headers = service.signed_headers(SOURCE, SECRET, raw, int(T0.timestamp()))
    tampered = api.post(URL, content=raw.replace(b"0.9", b"1.0"), headers=headers)
    assert tampered.status_code == 401

    assert api.post(URL, content=raw, headers=headers).status_code == 200  # the genuine call
    now[0] = T0 + 6 * MIN
    replay = api.post(URL, content=raw, headers=headers)  # the same bytes and signature, 6 minutes later
    assert replay.status_code == 401 and "replayed call" in replay.json()["detail"]

    service.update_source(db=db, code=SOURCE, is_active=False)
    disabled = post(api, [alarm("e2")])
    assert disabled.status_code == 401 and "disabled" in disabled.json()["detail"]
    assert service.counters() == {
        "refused.missing_signature": 1,
        "refused.bad_signature": 1,
        "refused.stale_timestamp": 1,
        "refused.inactive_source": 1,
        "events.accepted": 1,
        "alarms.created": 1,
        "cases.created": 1,
    }
    assert _counts(db) == (1, 1, 1)


def test_a_mixed_batch_keeps_the_good_alarms_and_counts_the_bad_ones(api, video, db):
    no_time = alarm("b5")
    del no_time["time"]
    body = [
        alarm("ok-1"),
        alarm("b1", camera="NOPE"),
        alarm("b2", algorithm="fire"),
        alarm("b3", confidence=1.5),
        alarm("b4", bbox=[0.5, 0.5, 0.6, 0.1]),
        no_time,
        alarm("b6", at=T0 + 10 * MIN),
        alarm("b7", image=base64.b64encode(b"GIF89a, not a JPEG").decode()),
        alarm("b8", image="*** not base64 ***"),
        {**alarm("b9"), "time": "2026-11-25 09:00"},
        {**alarm("b10"), "time": "0001-01-01T00:30:00+01:00"},  # year 1: no window arithmetic on it
        "not an object",
        alarm("ok-2", camera="CAM-E1", algorithm=VENDING),
    ]
    response = post(api, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["received"], result["new_alarms"], result["rejected"], result["cases_created"]) == (13, 2, 11, 2)
    reasons = [(i["id"], i["reason"]) for i in result["items"] if i["status"] == "rejected"]
    assert reasons == [
        ("b1", "unknown_camera"),
        ("b2", "unknown_algorithm"),
        ("b3", "bad_confidence"),
        ("b4", "bad_bbox"),
        ("b5", "missing_time"),
        ("b6", "future_time"),
        ("b7", "bad_image"),
        ("b8", "bad_image"),
        ("b9", "bad_time"),
        ("b10", "stale_time"),
        (None, "malformed"),
    ]
    messages = {i["id"]: i["message"] for i in result["items"] if i["status"] == "rejected"}
    assert messages["b1"] == "camera 'NOPE' is not registered"
    assert "ISO 8601 with an offset" in messages["b9"]
    assert _counts(db) == (2, 2, 2)

    stats = api.get("/api/v1/video/stats", headers=DISTRICT_DISPATCHER).json()
    assert stats["rejected"] == {
        "bad_bbox": 1,
        "bad_confidence": 1,
        "bad_image": 2,
        "bad_time": 1,
        "future_time": 1,
        "malformed": 1,
        "missing_time": 1,
        "stale_time": 1,
        "unknown_algorithm": 1,
        "unknown_camera": 1,
    }
    assert (stats["accepted"], stats["new_alarms"], stats["cases_created"], stats["alarms"]) == (2, 2, 2, 2)


def test_a_call_whose_every_alarm_is_rejected_answers_422(api, video, db):
    response = post(api, [alarm("x", camera="NOPE"), alarm("y", confidence=-1)])
    assert response.status_code == 422
    assert response.json()["rejected"] == 2
    assert post(api, {"no": "alarm"}).json()["items"][0]["reason"] == "malformed"
    assert post(api, []).json()["code"] == "malformed_body"
    raw = b"{not json"
    bad_json = api.post(URL, content=raw, headers=service.signed_headers(SOURCE, SECRET, raw, int(T0.timestamp())))
    assert bad_json.status_code == 422 and bad_json.json()["code"] == "malformed_body"
    too_many = post(api, [alarm(f"n{i}") for i in range(101)])
    assert too_many.status_code == 422 and too_many.json()["code"] == "batch_too_large"
    assert _counts(db) == (0, 0, 0)


def test_a_disabled_mapping_for_the_source_overrides_the_global_one(api, video, db):
    override = AlgorithmIn(source=SOURCE, algorithm_code=GARBAGE, name="停用", matter_type="SJ0102", is_active=False)
    service.import_algorithms(db=db, records=[AlgorithmRecord(where="test", item=override)])
    result = post(api, [alarm("g"), alarm("v", algorithm=VENDING)]).json()
    assert [i["reason"] for i in result["items"]] == ["inactive_algorithm", None]


def test_an_alarm_below_the_minimum_confidence_makes_no_case_until_a_repeat_reaches_it(api, video, db, now):
    now[0] = T0 + 10 * MIN
    low = post(api, [alarm("low", confidence=0.4)]).json()
    assert (low["new_alarms"], low["below_threshold"], low["cases_created"]) == (1, 1, 0)
    assert low["items"][0]["case_id"] is None
    assert _counts(db) == (1, 1, 0)
    stats = api.get("/api/v1/video/stats", headers=DISTRICT_DISPATCHER).json()
    assert (stats["below_threshold"], stats["alarms_without_case"], stats["alarms_with_case"]) == (1, 1, 0)

    sure = post(api, [alarm("sure", confidence=0.8, at=T0)]).json()["items"][0]
    assert sure["status"] == "folded" and sure["case_id"] is not None
    assert db.get(Case, sure["case_id"]).stage == CaseStage.verifying
    assert _counts(db) == (1, 2, 1)


def test_folded_repeats_note_the_case_at_most_every_ten_minutes(api, video, db, now):
    now[0] = T0 + 30 * MIN
    first = post(api, [alarm("e1", at=T0 + 20 * MIN)]).json()["items"][0]
    post(api, [alarm("e2", at=T0 + 22 * MIN)])  # right after the case was made: no note yet

    def notes() -> list[CaseEvent]:
        stmt = select(CaseEvent).where(CaseEvent.case_id == first["case_id"], CaseEvent.action == Action.note)
        return list(db.scalars(stmt))

    assert notes() == []
    now[0] = T0 + 41 * MIN
    post(api, [alarm("e3", at=T0 + 29 * MIN)])
    [note] = notes()
    assert "共 3 次" in note.note and note.data["count"] == 3 and note.data["video_alarm_id"] == first["alarm_id"]
    post(api, [alarm("e4", at=T0 + 30 * MIN)])  # a minute later: folded, but no second note
    assert len(notes()) == 1
    assert db.get(VideoAlarm, first["alarm_id"]).count == 4
    now[0] = T0 + 52 * MIN
    post(api, [alarm("e5", at=T0 + 38 * MIN)])
    assert len(notes()) == 2
    assert db.get(Case, first["case_id"]).stage == CaseStage.verifying  # repeats never move the case


def test_a_body_over_the_limit_is_refused_before_it_is_read(api, video, db, monkeypatch):
    from gridgov.domains.video import api as video_api

    monkeypatch.setattr(video_api, "MAX_BODY_BYTES", 100)
    response = post(api, [alarm(f"n{i}") for i in range(3)])
    assert response.status_code == 413 and "at most 100 bytes" in response.json()["detail"]
    assert service.counters() == {"refused.too_large": 1}
    assert _counts(db) == (0, 0, 0)


def test_an_alarm_whose_case_intake_refuses_is_kept_and_retried_on_its_next_event(api, video, world, db):
    matter = db.scalars(select(MatterType).where(MatterType.code == "SJ0102")).one()
    matter.is_active = False
    db.flush()
    first = post(api, [alarm("e1", at=T0 - 5 * MIN)]).json()
    [item] = first["items"]
    assert (item["status"], item["reason"], item["case_id"]) == ("alarm", "case_failed", None)
    assert "unknown matter type 'SJ0102'" in item["message"]
    assert db.get(VideoAlarm, item["alarm_id"]).data["case_error"] == "unknown matter type 'SJ0102'"
    assert _counts(db) == (1, 1, 0)
    assert service.counters()["cases.failed"] == 1

    matter.is_active = True
    db.flush()
    second = post(api, [alarm("e2")]).json()["items"][0]
    assert second["status"] == "folded" and second["case_id"] is not None
    assert _counts(db) == (1, 2, 1)


def test_the_first_snapshot_of_an_alarm_without_one_is_attached_to_its_case(api, video, db):
    first = post(api, [alarm("e1", at=T0 - 5 * MIN)]).json()["items"][0]
    assert db.get(Case, first["case_id"]).attachments == []
    photo = jpeg()
    post(api, [alarm("e2", image=base64.b64encode(photo).decode())])
    post(api, [alarm("e3", image=base64.b64encode(photo + b"\0").decode())])  # the alarm has its picture now
    sha = hashlib.sha256(photo).hexdigest()
    assert db.get(VideoAlarm, first["alarm_id"]).snapshot_sha256 == sha
    db.expire_all()
    assert [a.sha256 for a in db.get(Case, first["case_id"]).attachments] == [sha]
