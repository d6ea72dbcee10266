"""Dispatchers' feedback on video alarms, and what each user sees: cameras and alarms in their own area only."""

from __future__ import annotations

from sqlalchemy import select

from gridgov.domains.auth.enums import AuditOutcome
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import CaseStage
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.cases.service import Context
from gridgov.domains.video.enums import Feedback
from gridgov.domains.video.models import VideoAlarm
from tests.domains.cases.conftest import T0
from tests.domains.cases.test_api import (
    CITIZEN,
    DISTRICT_DISPATCHER,
    GRID_WORKER,
    LEADER,
    STREET_DISPATCHER,
    STREET_DISPATCHER_E,
)
from tests.domains.video.conftest import alarm, post


def _feedback(api, alarm_id: int, verdict: str, headers, note: str | None = None):
    return api.post(
        f"/api/v1/video/alarms/{alarm_id}/feedback", json={"verdict": verdict, "note": note}, headers=headers
    )


def _audits(db, action: str = "video.feedback") -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_a_false_positive_rejects_the_open_case_and_the_verdict_can_change(api, video, db):
    item = post(api, [alarm()]).json()["items"][0]
    response = _feedback(api, item["alarm_id"], "false_positive", STREET_DISPATCHER, note="树影误识别")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["previous"], body["case_rejected"]) == (None, True)
    assert body["alarm"]["feedback"] == "false_positive" and body["alarm"]["feedback_by"] == STREET_DISPATCHER.user_id

    case = db.get(Case, item["case_id"])
    assert case.stage == CaseStage.rejected and not case.is_open
    last = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq.desc())).first()
    assert (last.action, last.reason_code, last.actor_name) == ("reject", "not_a_problem", "街道派遣员")
    assert last.note == f"视频误报 (video false positive, alarm #{item['alarm_id']}): 树影误识别"

    changed = _feedback(api, item["alarm_id"], "true_positive", STREET_DISPATCHER)
    assert changed.status_code == 200
    assert (changed.json()["previous"], changed.json()["case_rejected"]) == ("false_positive", False)
    assert db.get(VideoAlarm, item["alarm_id"]).feedback == Feedback.true_positive
    assert db.get(Case, item["case_id"]).stage == CaseStage.rejected  # a rejected case is not reopened
    first, second = _audits(db)
    assert first.detail["verdict"] == "false_positive" and first.detail["case_rejected"] is True
    assert second.detail["previous"] == "false_positive" and second.detail["verdict"] == "true_positive"
    assert second.actor_user_id == STREET_DISPATCHER.user_id


def test_a_true_positive_leaves_the_case_with_the_grid_worker(api, video, db):
    item = post(api, [alarm()]).json()["items"][0]
    assert _feedback(api, item["alarm_id"], "true_positive", DISTRICT_DISPATCHER).json()["case_rejected"] is False
    assert db.get(Case, item["case_id"]).stage == CaseStage.verifying


def test_a_false_positive_on_a_case_already_dispatched_keeps_the_case(api, video, world, db):
    item = post(api, [alarm()]).json()["items"][0]
    case = db.get(Case, item["case_id"])
    case_service.confirm(db=db, case=case, ctx=Context.of(world.grid_worker, now=T0))
    assert case.stage == CaseStage.dispatched  # confirmed on site and auto-dispatched to the sanitation team
    body = _feedback(api, item["alarm_id"], "false_positive", STREET_DISPATCHER).json()
    assert body["case_rejected"] is False and body["alarm"]["feedback"] == "false_positive"
    assert db.get(Case, item["case_id"]).stage == CaseStage.dispatched


def test_only_dispatchers_give_feedback(api, video, db):
    item = post(api, [alarm()]).json()["items"][0]
    for who in (GRID_WORKER, LEADER, CITIZEN):
        response = _feedback(api, item["alarm_id"], "false_positive", who)
        assert response.status_code == 403, (who.username, response.text)
    assert db.get(VideoAlarm, item["alarm_id"]).feedback is None
    assert db.get(Case, item["case_id"]).stage == CaseStage.verifying
    assert _feedback(api, item["alarm_id"], "maybe", DISTRICT_DISPATCHER).status_code == 422
    assert _feedback(api, 999_999, "true_positive", DISTRICT_DISPATCHER).status_code == 404


def test_an_east_street_dispatcher_sees_no_west_cameras_and_cannot_judge_west_alarms(api, video, db):
    def cameras(headers) -> list[str]:
        response = api.get("/api/v1/video/cameras", headers=headers)
        assert response.status_code == 200, response.text
        return [c["code"] for c in response.json()["items"]]

    assert cameras(STREET_DISPATCHER_E) == ["CAM-E1"]
    assert cameras(STREET_DISPATCHER) == ["CAM-W1", "CAM-W2"]
    assert cameras(DISTRICT_DISPATCHER) == ["CAM-E1", "CAM-W1", "CAM-W2"]
    assert cameras(GRID_WORKER) == ["CAM-W1"]  # the worker's community holds one of them
    assert api.get("/api/v1/video/cameras", headers=CITIZEN).status_code == 403

    west = post(api, [alarm("w", camera="CAM-W1")]).json()["items"][0]
    east = post(api, [alarm("e", camera="CAM-E1")]).json()["items"][0]
    listed = api.get("/api/v1/video/alarms", headers=STREET_DISPATCHER_E).json()
    assert [a["id"] for a in listed] == [east["alarm_id"]]
    assert api.get(f"/api/v1/video/alarms/{west['alarm_id']}", headers=STREET_DISPATCHER_E).status_code == 404

    refused = _feedback(api, west["alarm_id"], "false_positive", STREET_DISPATCHER_E)
    assert refused.status_code == 404 and refused.json()["detail"] == f"video alarm {west['alarm_id']} not found"
    assert db.get(VideoAlarm, west["alarm_id"]).feedback is None
    assert db.get(Case, west["case_id"]).stage == CaseStage.verifying
    [denied] = [e for e in _audits(db) if e.outcome == AuditOutcome.denied]
    assert denied.actor_user_id == STREET_DISPATCHER_E.user_id and denied.target_id == str(west["alarm_id"])

    assert _feedback(api, east["alarm_id"], "false_positive", STREET_DISPATCHER_E).status_code == 200
    precision = api.get("/api/v1/video/precision?by=camera", headers=STREET_DISPATCHER_E).json()
    assert [row["key"] for row in precision["rows"]] == ["CAM-E1"]
    stats = api.get("/api/v1/video/stats", headers=STREET_DISPATCHER_E).json()
    assert (stats["alarms"], stats["false_positives"]) == (1, 1)
