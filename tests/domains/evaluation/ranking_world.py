"""A small November 2026 for ranking tests, driven through the real case services with a controlled clock.

West street (410105001), all in community 410105001001: 10 patrol cases reported on 11-25 from 09:00, due at
15:00 (4 working hours); 9 finished at 10:00, one at 16:00 (closed late); all verified the same day.
East street (410105002): 2 cases closed on time — too few (应结案 2 < 10) to be ranked.

By street: west 结案率 100%, 按期结案率 90%, 返工率 0 → composite (30·100 + 40·90 + 10·100) / 80 = 95.0, rank 1;
east listed, not ranked (sample 2). No ratings, so 满意率 has no value anywhere.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from gridgov.domains.auth.enums import Role
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Channel
from gridgov.domains.cases.models import Case, MediaFile
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake
from gridgov.domains.intake.schemas import CaseSubmit
from tests.domains.cases.world import World, point

SH = ZoneInfo("Asia/Shanghai")
W, E = "410105001", "410105002"
W_N, E_N = "410105001001", "410105002001"
WEST_COMPOSITE = (30 * 100 + 40 * 90 + 10 * 100) / 80


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=SH)


def _case(db: Session, world: World, reporter, handler, xy: tuple[float, float], minute: int, late: bool) -> Case:
    lng, lat = point(*xy)
    report = CaseSubmit(
        channel=Channel.patrol, matter_type="SJ0102", title="暴露垃圾", description="路边垃圾", lng=lng, lat=lat
    )
    case = intake.submit(db=db, report=report, ctx=Context.of(reporter, now=at(25, 9, minute))).case
    case_service.sign(db=db, case=case, ctx=Context.of(handler, now=at(25, 9, 30)))
    finish = at(25, 16) if late else at(25, 10)
    sha = "e" * 64
    if db.get(MediaFile, sha) is None:
        db.add(MediaFile(sha256=sha, content_type="image/jpeg", size=10, created_at=at(1, 0)))
        db.flush()
    case_service.finish(db=db, case=case, ctx=Context.of(handler, now=finish), result="已清理", evidence=[sha])
    case_service.verify(db=db, case=case, ctx=Context.of(reporter, now=finish + dt.timedelta(minutes=20)), ok=True)
    return case


def build(db: Session, world: World) -> list[Case]:
    """Plays the cases into `db` (no commit) and gives the streets and communities residents."""
    west_worker = world.actor(Role.grid_worker, f"{W_N}-JWH", user_id=101, name="网格员甲")
    east_worker = world.actor(Role.grid_worker, f"{E_N}-JWH", user_id=103, name="网格员丙")
    west_team = world.actor(Role.unit_handler, f"{W}-HWS", user_id=501, name="西环卫处置员")
    east_team = world.actor(Role.unit_handler, f"{E}-HWS", user_id=502, name="东环卫处置员")
    for code, population in ((W, 5000), (E, 5000), (W_N, 2500), (f"{W}002", 2500), (E_N, 2500), (f"{E}002", 2500)):
        world.area(code).population = population
    cases = [_case(db, world, west_worker, west_team, (120, 880), i, late=i == 9) for i in range(10)]
    cases += [_case(db, world, east_worker, east_team, (620, 880), i, late=False) for i in range(2)]
    db.flush()
    return cases
