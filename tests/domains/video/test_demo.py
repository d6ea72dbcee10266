"""The video-AI demo on the Jinshui demo district: loaded through the real imports, idempotent, and usable."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from gridgov.demo import service as demo_service
from gridgov.domains.areas import locate
from gridgov.domains.cases.models import Case
from gridgov.domains.video import demo, service
from gridgov.domains.video.models import AlgorithmMapping, Camera, VideoAlarm, VideoSource
from tests.domains.cases.conftest import T0


def test_the_demo_loads_once_and_takes_its_sample_alarms(db, settings):
    locate.invalidate()
    demo_service.load(db=db)
    assert demo.load_demo(db=db) == {"video_sources": 1, "cameras": 60, "algorithm_mappings": 6}
    cameras = list(db.scalars(select(Camera).order_by(Camera.code)))
    assert len(cameras) == 60 and len({c.grid_id for c in cameras}) == 60
    assert sum(c.area_path.startswith(f"/410105/{demo.DEMO_STREET}/") for c in cameras) >= demo.STREET_CAMERAS
    source = db.scalars(select(VideoSource)).one()
    assert (source.code, source.secret) == (demo.DEMO_SOURCE, demo.DEMO_SECRET)
    codes = db.scalars(select(AlgorithmMapping.algorithm_code)).all()
    assert set(codes) == {
        "street_vending",
        "exposed_garbage",
        "material_piling",
        "illegal_parking",
        "uncovered_muck_truck",
        "crowd_gathering",
    }

    before = [(c.code, c.lng, c.lat, c.grid_id) for c in cameras]
    assert demo.load_demo(db=db) == {"video_sources": 1, "cameras": 60, "algorithm_mappings": 6}
    assert [(c.code, c.lng, c.lat, c.grid_id) for c in db.scalars(select(Camera).order_by(Camera.code))] == before
    assert db.scalar(select(func.count(VideoSource.id))) == 1

    now = T0.astimezone(dt.UTC)
    alarms = demo.sample_alarms(db=db, count=20, now=now, seed=1)
    result = service.receive(db=db, source=source, alarms=alarms, now=now, settings=settings)
    assert result.rejected == 0 and result.new_alarms + result.folded == 20
    assert result.cases_created + result.below_threshold == result.new_alarms
    assert db.scalar(select(func.count(VideoAlarm.id))) == result.new_alarms
    assert db.scalar(select(func.count(Case.id)).where(Case.channel == "video")) == result.cases_created > 0
