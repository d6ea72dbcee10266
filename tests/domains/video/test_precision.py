"""Precision per algorithm and per camera on a constructed set of alarms, verdicts and case outcomes."""

from __future__ import annotations

import datetime as dt

from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.service import Context
from gridgov.domains.video import service
from tests.domains.cases.conftest import T0
from tests.domains.cases.test_api import DISTRICT_DISPATCHER
from tests.domains.video.conftest import GARBAGE, VENDING, alarm, post

MIN = dt.timedelta(minutes=1)


def _make(api, event_id: str, minutes_ago: int, **kwargs) -> dict:
    item = post(api, [alarm(event_id, at=T0 - minutes_ago * MIN, **kwargs)]).json()["items"][0]
    assert item["status"] in ("alarm", "folded"), item
    return item


def _verdict(api, item: dict, verdict: str) -> None:
    url = f"/api/v1/video/alarms/{item['alarm_id']}/feedback"
    response = api.post(url, json={"verdict": verdict}, headers=DISTRICT_DISPATCHER)
    assert response.status_code == 200, response.text


def _build(api, db, world) -> None:
    """Garbage on CAM-W1: explicit TP (2 events), explicit FP, a case rejected as 不属实 (implicit FP), one without a
    verdict, one below the threshold. Vending: a case confirmed on site (implicit TP) on CAM-E1, an explicit TP on
    CAM-W2, and an explicit TP on CAM-E1 that overrides its case's rejection."""
    dispatcher = Context.of(world.district_dispatcher, now=T0)
    g1 = _make(api, "g1", 100)
    _make(api, "g1b", 99)  # folds into g1
    _verdict(api, g1, "true_positive")
    _verdict(api, _make(api, "g2", 80), "false_positive")
    g3 = _make(api, "g3", 60)
    case_service.reject(db=db, case=db.get(Case, g3["case_id"]), ctx=dispatcher, reason_code="not_a_problem")
    _make(api, "g4", 40)
    below = _make(api, "g5", 20, confidence=0.3)
    assert below["case_id"] is None

    v1 = _make(api, "v1", 90, camera="CAM-E1", algorithm=VENDING)
    case_service.confirm(db=db, case=db.get(Case, v1["case_id"]), ctx=Context.of(world.grid_worker, now=T0))
    _verdict(api, _make(api, "v2", 70, camera="CAM-W2", algorithm=VENDING), "true_positive")
    v3 = _make(api, "v3", 50, camera="CAM-E1", algorithm=VENDING)
    case_service.reject(db=db, case=db.get(Case, v3["case_id"]), ctx=dispatcher, reason_code="not_a_problem")
    _verdict(api, v3, "true_positive")
    # a case rejected for another reason (a duplicate) is no verdict on the algorithm
    g6 = _make(api, "g6", 5, camera="CAM-W2")
    case_service.reject(db=db, case=db.get(Case, g6["case_id"]), ctx=dispatcher, reason_code="duplicate")


def _rows(report) -> list[tuple]:
    return [
        (
            r.key,
            r.alarms,
            r.events,
            r.with_feedback,
            r.true_positives,
            r.false_positives,
            r.precision,
            r.below_threshold,
        )
        for r in report.rows
    ]


def test_precision_per_algorithm_and_camera_is_exact_and_worst_first(api, video, world, db):
    _build(api, db, world)
    by_algorithm = service.precision(db=db, actor=None, by="algorithm")
    assert _rows(by_algorithm) == [
        # key, alarms, events, sample, TP, FP, precision, below threshold
        (GARBAGE, 6, 7, 3, 1, 2, 0.3333, 1),
        (VENDING, 3, 3, 3, 3, 0, 1.0, 0),
    ]
    assert [r.name for r in by_algorithm.rows] == ["暴露垃圾识别", "占道经营识别"]
    assert "TP / (TP + FP)" in by_algorithm.formula

    by_camera = service.precision(db=db, actor=None, by="camera")
    assert _rows(by_camera) == [
        ("CAM-W1", 5, 6, 3, 1, 2, 0.3333, 1),
        ("CAM-E1", 2, 2, 2, 2, 0, 1.0, 0),
        ("CAM-W2", 2, 2, 1, 1, 0, 1.0, 0),
    ]
    assert by_camera.rows[0].name == "西街路口摄像机"

    # alarms first seen in [T0-65 min, T0-30 min): g3 (implicit FP), g4 (no verdict), v3 (explicit TP)
    since, until = T0 - 65 * MIN, T0 - 30 * MIN
    window = service.precision(db=db, actor=None, by="algorithm", since=since, until=until)
    assert _rows(window) == [(GARBAGE, 2, 2, 1, 0, 1, 0.0, 0), (VENDING, 1, 1, 1, 1, 0, 1.0, 0)]


def test_the_precision_api_takes_local_times_and_is_area_scoped(api, video, world, db):
    _build(api, db, world)
    response = api.get(
        "/api/v1/video/precision",
        params={"since": "2026-11-25T07:55:00", "until": "2026-11-25T08:30:00"},  # Shanghai time, naive
        headers=DISTRICT_DISPATCHER,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(r["key"], r["alarms"], r["precision"]) for r in body["rows"]] == [(GARBAGE, 2, 0.0), (VENDING, 1, 1.0)]
    empty = api.get(
        "/api/v1/video/precision", params={"since": "2026-11-26T00:00:00+08:00"}, headers=DISTRICT_DISPATCHER
    )
    assert empty.json()["rows"] == []
    stats = api.get("/api/v1/video/stats", headers=DISTRICT_DISPATCHER).json()
    assert (stats["alarms"], stats["true_positives"], stats["false_positives"]) == (9, 4, 2)
