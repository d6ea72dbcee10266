"""Fixtures of the video-AI tests: the case tests' synthetic world, a signed source, cameras on both streets, and
two algorithm mappings; the clock is frozen at T0 (`now`)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import clock
from gridgov.domains.video import service
from gridgov.domains.video.files import AlgorithmRecord, CameraRecord
from gridgov.domains.video.models import Camera, VideoSource
from gridgov.domains.video.schemas import AlgorithmIn
from tests.domains.areas.synthetic import lnglat
from tests.domains.cases.conftest import T0, world  # noqa: F401 - fixtures shared with the case tests
from tests.domains.cases.test_api import api, now  # noqa: F401
from tests.domains.cases.world import World

SOURCE = "ai-1"
SECRET = "test-secret-0123456789abcdef"
URL = "/api/v1/video/alarms"
# West street 410105001 spans x 0..500 m, east street 410105002 x 500..1000 m.
CAMERAS = {
    "CAM-W1": ("西街路口摄像机", lnglat(120, 880), "CGJ"),
    "CAM-W2": ("西街广场摄像机", lnglat(380, 300), None),  # the south community
    "CAM-E1": ("东街路口摄像机", lnglat(760, 880), "CGJ"),
}
GARBAGE, VENDING = "garbage", "vending"


@dataclass
class Video:
    """Handles on the video fixtures."""

    db: Session
    source: VideoSource

    def camera(self, code: str) -> Camera:
        return self.db.scalars(select(Camera).where(Camera.code == code)).one()


@pytest.fixture
def video(db: Session, world: World) -> Video:  # noqa: F811 - the imported fixture
    """A source `ai-1` (known secret, 600 s fold window), three cameras, and two global algorithm mappings."""
    service.reset_counters()
    source, _ = service.create_source(db=db, code=SOURCE, name="测试算法平台", fold_window_s=600, secret=SECRET)
    records = [
        CameraRecord(where=f"test camera {code}", code=code, name=name, lng=at[0], lat=at[1], owner_unit=owner)
        for code, (name, at, owner) in CAMERAS.items()
    ]
    service.import_cameras(db=db, records=records, source="test cameras")
    mappings = [
        AlgorithmIn(algorithm_code=GARBAGE, name="暴露垃圾识别", matter_type="SJ0102", min_confidence=0.6),
        AlgorithmIn(algorithm_code=VENDING, name="占道经营识别", matter_type="SJ0501", min_confidence=0.6),
    ]
    service.import_algorithms(db=db, records=[AlgorithmRecord(where="test", item=m) for m in mappings])
    db.flush()
    return Video(db=db, source=source)


def alarm(
    event_id: str | None = "e1",
    camera: str = "CAM-W1",
    algorithm: str = GARBAGE,
    confidence: float = 0.9,
    at: dt.datetime = T0 - dt.timedelta(minutes=1),
    **extra: Any,
) -> dict[str, Any]:
    """Returns one webhook alarm (without an image unless given)."""
    body: dict[str, Any] = {
        "camera": camera,
        "algorithm": algorithm,
        "confidence": confidence,
        "bbox": [0.1, 0.2, 0.3, 0.4],
        "time": at.isoformat(),
        **extra,
    }
    if event_id is not None:
        body["id"] = event_id
    return body


def post(
    client: TestClient,
    body: Any,
    *,
    source: str = SOURCE,
    secret: str = SECRET,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Posts `body` to the webhook signed with `secret` (timestamp: the clock's now unless given)."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = int(clock.now().timestamp()) if timestamp is None else timestamp
    signed = service.signed_headers(source, secret, raw, stamp)
    return client.post(URL, content=raw, headers={**signed, **(headers or {})})
