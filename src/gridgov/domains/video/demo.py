"""The video-AI part of the Jinshui demo: one algorithm platform, 60 cameras on the demo grids, six algorithms.

`load_demo` goes through the real services (`import_cameras`, `import_algorithms`), so the demo is checked like a
district's own files, and loading it again changes nothing. The demo source `demo-ai` signs with the published
secret DEMO_SECRET — demo only: outside production, and never on real data. `sample_alarms` makes webhook
payloads for a simulator (sign them with `service.signed_headers`).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import random
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.video import files, service
from gridgov.domains.video.files import CameraRecord
from gridgov.domains.video.models import Camera, VideoSource

DEMO_SOURCE = "demo-ai"
DEMO_SOURCE_NAME = "演示视频智能分析平台 (demo video-AI platform)"
DEMO_SECRET = "jinshui-demo-video-ai-secret-2026"  # published in the docs: demo only
DEMO_STREET = "410105003"  # the demo users' street (人民路街道): some cameras are in their area
CAMERAS = 60
STREET_CAMERAS = 12
OWNERS = ("410105-GAFJ", "410105-CGJ")  # 公安分局 (雪亮工程 cameras) and 城管局 (城管 cameras)
KINDS = ("路口球机", "沿街枪机", "高点全景")


def _algorithm_data() -> Any:
    text = resources.files("gridgov.demo").joinpath("data/video.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=files.LOADER)


def _spread(pool: list[Any], wanted: int) -> list[Any]:
    """Returns `wanted` items of `pool` at even steps (all of them when it is smaller)."""
    wanted = min(wanted, len(pool))
    return [pool[(i * len(pool)) // wanted] for i in range(wanted)] if wanted > 0 else []


def camera_records(*, db: Session) -> list[CameraRecord]:
    """Returns the demo cameras: 12 on the demo street's grids, the rest spread evenly over the district."""
    grids = list(
        db.execute(select(Area.code, Area.name, Area.geometry).where(Area.level == AreaLevel.grid).order_by(Area.code))
    )
    if not grids:
        return []
    street = [g for g in grids if g.code.startswith(DEMO_STREET)]
    chosen = {g.code: g for g in _spread(street, STREET_CAMERAS)}
    rest = [g for g in grids if g.code not in chosen]
    chosen.update({g.code: g for g in _spread(rest, CAMERAS - len(chosen))})
    records = []
    for number, grid in enumerate(sorted(chosen.values(), key=lambda g: g.code), start=1):
        point = grid.geometry.representative_point()
        code = f"41010500001320{number:06d}"  # 20 digits, shaped like a GB/T 28181 camera code
        records.append(
            CameraRecord(
                where=f"demo camera {number}",
                code=code,
                name=f"{grid.name}{KINDS[number % len(KINDS)]}",
                lng=round(point.x, 7),
                lat=round(point.y, 7),
                direction=float((number * 47) % 360),
                stream_url=f"rtsp://video.demo.invalid/live/{code}",
                owner_unit=OWNERS[number % len(OWNERS)],
            )
        )
    return records


def load_demo(*, db: Session) -> dict[str, int]:
    """Loads the demo source, its algorithm mappings and cameras (idempotent; no commit); returns counts."""
    source = db.scalars(select(VideoSource).where(VideoSource.code == DEMO_SOURCE)).first()
    if source is None:
        # NOTE: a production deployment never gets the published secret, even if someone loads the demo there.
        secret = DEMO_SECRET if get_settings().env != "production" else None
        service.create_source(db=db, code=DEMO_SOURCE, name=DEMO_SOURCE_NAME, fold_window_s=600, secret=secret)
    algorithms = files.algorithms_from_data(_algorithm_data(), source="video.yaml")
    service.import_algorithms(db=db, records=algorithms, source="gridgov demo video.yaml")
    cameras = camera_records(db=db)
    if cameras:
        service.import_cameras(db=db, records=cameras, source="gridgov demo cameras")
    return {"video_sources": 1, "cameras": len(cameras), "algorithm_mappings": len(algorithms)}


def snapshot_jpeg(seed: int = 0) -> bytes:
    """Returns a small JPEG standing in for a camera snapshot (a plain colour, different per seed)."""
    from PIL import Image

    rng = random.Random(seed)
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def sample_alarms(*, db: Session, count: int, now: dt.datetime, seed: int = 0) -> list[dict[str, Any]]:
    """Returns `count` webhook alarms on the demo cameras and algorithms within the last 10 minutes before `now`."""
    rng = random.Random(seed)
    cameras = list(db.scalars(select(Camera.code).where(Camera.code.like("41010500001320%")).order_by(Camera.code)))
    codes = [item["algorithm_code"] for item in _algorithm_data()["algorithms"]]
    alarms = []
    for number in range(count):
        at = now - dt.timedelta(seconds=rng.uniform(0, 600))
        alarm: dict[str, Any] = {
            "id": f"demo-{seed}-{number}",
            "camera": rng.choice(cameras) if cameras else "",
            "algorithm": rng.choice(codes),
            "confidence": round(rng.uniform(0.55, 0.99), 2),
            "bbox": [round(rng.uniform(0, 0.5), 3), round(rng.uniform(0, 0.5), 3), 0.2, 0.3],
            "time": at.isoformat(),
        }
        if number % 4 == 0:
            alarm["image"] = base64.b64encode(snapshot_jpeg(seed * 1000 + number)).decode()
        alarms.append(alarm)
    return alarms
