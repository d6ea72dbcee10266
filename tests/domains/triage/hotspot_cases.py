"""Cases for the hotspot tests in the system: similar reports in each street of the synthetic district."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from gridgov.domains.cases.enums import Channel
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.schemas import CaseSubmit
from tests.domains.cases.world import World, point

GARBAGE = (
    "经八路小区北门的垃圾桶满了好几天没人清运，臭气熏天",
    "经八路小区北门垃圾桶满溢，垃圾堆在地上没人清运",
    "小区北门的垃圾桶全满了，好几天没人来清运，很臭",
    "经八路小区北门垃圾没人清运，垃圾桶满了，臭味很大",
    "北门口的垃圾桶满了没人清运，经八路小区居民意见很大",
    "经八路小区北门垃圾桶满了，垃圾没人清运，苍蝇很多",
    "垃圾桶满了好几天，经八路小区北门没人清运垃圾",
    "经八路小区北门的垃圾桶又满了，还是没人清运",
)
STALLS = (
    "花园路菜市场门口流动摊贩占道经营，堵得车过不去",
    "花园路菜市场门口摊贩占道经营，人行道全被占了",
    "菜市场门口又有流动摊贩占道经营，花园路堵死了",
    "花园路菜市场门口占道经营的摊贩越来越多，走不过去",
    "花园路菜市场门口流动摊贩占道经营，早上特别堵",
    "流动摊贩在花园路菜市场门口占道经营，没人管",
)
NOISE = (
    "楼道里堆满了杂物，影响消防通道",
    "路灯不亮已经三天了",
    "公园的健身器材坏了一个",
    "邻居装修噪音太大",
    "井盖松动，车一过就响",
)
WEST = (150.0, 700.0)  # in street 410105001 (the west half of the synthetic district)
EAST = (800.0, 300.0)  # in street 410105002
MIDDLE = (500.0, 500.0)


def report(
    db: Session,
    world: World,
    texts: tuple[str, ...],
    matter: str,
    where: tuple[float, float],
    *,
    end: dt.datetime,
    days: float,
    channel: Channel = Channel.patrol,
) -> list[Case]:
    """Reports each text (a grid worker's patrol, or a citizen's snapshot) one hour apart from `days` before `end`."""
    actor = world.grid_worker if channel == Channel.patrol else world.citizen
    cases = []
    for n, text in enumerate(texts):
        lng, lat = point(where[0] + 10 * n, where[1] - 10 * n)
        at = end - dt.timedelta(days=days) + dt.timedelta(hours=n)
        submitted = CaseSubmit(channel=channel, matter_type=matter, title=text[:20], description=text, lng=lng, lat=lat)
        cases.append(intake_service.submit(db=db, report=submitted, ctx=Context.of(actor, now=at)).case)
    db.flush()
    return cases


def two_streets(db: Session, world: World, end: dt.datetime) -> dict[str, list[Case]]:
    """Reports a garbage problem in the west street, a street-stall problem in the east one, and some noise."""
    return {
        "garbage": report(db, world, GARBAGE[:6], "SJ0102", WEST, end=end, days=5),
        "stalls": report(db, world, STALLS, "SJ0501", EAST, end=end, days=3),
        "noise": report(db, world, NOISE, "SJ0601", MIDDLE, end=end, days=4),
    }
