"""Two webhook calls about the same camera at once, on a committed database: they fold and deduplicate one after
the other (PostgreSQL: the camera rows are locked FOR UPDATE; SQLite: writers take turns)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from gridgov import migrations
from gridgov.config import Settings
from gridgov.core.db import create_db_engine, transaction
from gridgov.domains.areas import locate
from gridgov.domains.cases.models import Case
from gridgov.domains.video import service
from gridgov.domains.video.files import AlgorithmRecord, CameraRecord
from gridgov.domains.video.models import VideoAlarm, VideoEvent, VideoSource
from gridgov.domains.video.schemas import AlgorithmIn
from tests.domains.areas.synthetic import lnglat
from tests.domains.cases.conftest import T0
from tests.domains.cases.test_concurrency import HOLD_S, race
from tests.domains.cases.world import load_world
from tests.domains.video.conftest import alarm


@pytest.fixture
def committed(fresh_database_url: str) -> Iterator[Engine]:
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    locate.invalidate()
    with transaction(engine) as db:
        load_world(db)
        service.create_source(db=db, code="ai-1", name="平台", secret="test-secret-0123456789abcdef")
        lng, lat = lnglat(120, 880)
        camera = CameraRecord(where="test", code="CAM-W1", name="西街路口摄像机", lng=lng, lat=lat)
        service.import_cameras(db=db, records=[camera])
        mapping = AlgorithmIn(algorithm_code="garbage", name="暴露垃圾识别", matter_type="SJ0102")
        service.import_algorithms(db=db, records=[AlgorithmRecord(where="test", item=mapping)])
    try:
        yield engine
    finally:
        engine.dispose()
        locate.invalidate()


@pytest.mark.parametrize("same_id", [True, False], ids=["retry", "two-events"])
def test_concurrent_calls_about_one_camera_make_one_alarm_and_one_case(committed, settings: Settings, same_id):
    now = T0.astimezone(dt.UTC)

    def call(i: int) -> str:
        with transaction(committed) as db:
            source = db.scalars(select(VideoSource)).one()
            event_id = "e1" if same_id else f"e{i}"
            result = service.receive(db=db, source=source, alarms=[alarm(event_id)], now=now, settings=settings)
            time.sleep(HOLD_S)
            return result.items[0].status

    statuses = sorted(race(call))
    assert statuses == (["alarm", "duplicate"] if same_id else ["alarm", "folded"])
    with transaction(committed, write=False) as db:
        assert db.scalar(select(func.count(VideoAlarm.id))) == 1
        assert db.scalar(select(func.count(VideoEvent.id))) == (1 if same_id else 2)
        assert db.scalar(select(func.count(Case.id))) == 1
