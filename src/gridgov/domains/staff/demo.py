"""Staff part of the Jinshui demo: the grid force of 人民路街道 (410105003) — community staff, a full-time grid
worker and a part-time helper per grid, grid leaders, community police — a few personnel filings in every state,
and some household visits by the demo grid worker.

Everything goes through the register's own services (assignments audited, filings requested, decided and
applied by the demo logins), so the demo follows the same rules as a district's data. Names are generated and
marked （演示）; no phone numbers are invented. Staffing varies by community on purpose: the staffing report
shows some communities under the standard of 18 community workers per 10,000 residents. Loading it twice
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import math
import random

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core import clock
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.intake.models import HouseholdVisit
from gridgov.domains.staff import filings, service
from gridgov.domains.staff.enums import Employment, Post
from gridgov.domains.staff.models import Assignment, Filing, StaffMember
from gridgov.domains.staff.schemas import FilingCreate

SEED = 410105
STREET = "410105003"  # 人民路街道, where the demo logins work
HOME = "410105003005"  # 锦湖社区: the demo secretary's community
HOME_GRID = "410105003005001"  # the demo grid worker's grid
OTHER = "410105003001"  # 安府社区: a filing of the street's own, decided by the district centre
DEMO_ACTOR = Actor(name="gridgov demo", role=Role.system)
# Community workers above (+) or below (−) the standard, by the community's number: some are under-staffed.
STAFFING_DELTA = (2, -3, 0, 1, -2, 3, -4, 0, 1, -1)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = (
    "建国 秀英 志强 丽娟 海燕 文军 桂英 晓东 红梅 国华 玉兰 建华 春燕 振宇 静 "
    "伟 敏 磊 洁 勇 婷 涛 霞 鹏 颖 欣怡 子涵 浩然 雨欣 思远"
).split()
VISIT_REFS = 40  # households of the demo grid that were visited
VISITS = 60


def _name(rng: random.Random, used: set[str]) -> str:
    while True:
        name = f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}（演示）"
        if name not in used:
            used.add(name)
            return name


def _start(rng: random.Random, today: dt.date) -> dt.date:
    return today - dt.timedelta(days=rng.randrange(200, 2200))


def load_demo(*, db: Session) -> dict[str, int]:
    """Loads the demo grid force of 人民路街道 (no commit); returns what it wrote. Does nothing when it is there."""
    street = db.scalars(select(Area).where(Area.code == STREET)).one_or_none()
    counts = {"staff members": 0, "staff assignments": 0, "personnel filings": 0, "household visits": 0}
    if street is None:
        return counts
    loaded = db.scalar(select(func.count()).select_from(Assignment).where(Assignment.area_path.startswith(street.path)))
    if loaded:
        return counts
    rng = random.Random(SEED)
    today = service.today()
    users = {
        u.username: u
        for u in db.scalars(select(User).where(User.username.in_(["street", "secretary", "gridworker", "dispatcher"])))
    }
    used: set[str] = set()
    standard = get_settings().staffing_standard_per_10k

    def person(user: User | None = None) -> StaffMember:
        return service.ensure_member(db=db, actor=DEMO_ACTOR, user=user, name=None if user else _name(rng, used))

    def hold(member: StaffMember, area: Area, post: Post, employment: Employment = Employment.full_time) -> Assignment:
        return service.start_assignment(
            db=db,
            actor=DEMO_ACTOR,
            member=member,
            area=area,
            post=post,
            employment=employment,
            starts_on=_start(rng, today),
        )

    hold(person(), street, Post.grid_leader)  # 一级网格长: the street's party secretary (not a community worker)
    communities = list(
        db.scalars(
            select(Area).where(Area.parent_id == street.id, Area.level == AreaLevel.community).order_by(Area.code)
        )
    )
    for number, community in enumerate(communities):
        grids = list(
            db.scalars(
                select(Area).where(Area.parent_id == community.id, Area.level == AreaLevel.grid).order_by(Area.code)
            )
        )
        secretary = person(users.get("secretary") if community.code == HOME else None)
        hold(secretary, community, Post.community_secretary)
        counted = 1
        if number % 2 == 0:  # 书记、主任"一肩挑": one person, two posts, counted once
            hold(secretary, community, Post.community_director)
        else:
            hold(person(), community, Post.community_director)
            counted += 1
        committee = [person() for _ in range(2 + number % 3)]
        for member in committee:
            hold(member, community, Post.committee_member)
        counted += len(committee)
        hold(person(), community, Post.community_police, Employment.part_time)
        if community.code == HOME and "street" in users:
            hold(person(users["street"]), community, Post.grid_instructor, Employment.part_time)
        delta = STAFFING_DELTA[number % len(STAFFING_DELTA)]
        for n, grid in enumerate(grids):
            # NOTE: an under-staffed community has its last grid without a full-time worker (网格员空缺).
            if delta >= 0 or n < len(grids) - 1:
                worker = person(users.get("gridworker") if grid.code == HOME_GRID else None)
                hold(worker, grid, Post.grid_worker)
                counted += 1
            hold(person(), grid, Post.grid_worker, Employment.part_time)  # 兼职网格员: a building head
            hold(committee[n % len(committee)], grid, Post.grid_leader)  # 网格长: a committee member
        need = math.ceil(standard * (community.population or 0) / 10000)
        for _ in range(max(0, need - counted + delta)):
            hold(person(), community, Post.community_worker)
    counts["personnel filings"] = _filings(db, users, today, rng, used)
    counts["household visits"] = _visits(db, users.get("gridworker"), rng)
    db.flush()
    counts["staff members"] = db.scalar(select(func.count()).select_from(StaffMember)) or 0
    counts["staff assignments"] = (
        db.scalar(select(func.count()).select_from(Assignment).where(Assignment.area_path.startswith(street.path))) or 0
    )
    return counts


def _filings(db: Session, users: dict[str, User], today: dt.date, rng: random.Random, used: set[str]) -> int:
    """Files, decides and applies a few personnel changes in 锦湖社区 (and one in 安府社区) through the demo logins."""
    if not {"secretary", "street", "dispatcher"} <= set(users):
        return 0
    secretary, street, district = (auth_service.actor_of(users[n]) for n in ("secretary", "street", "dispatcher"))
    home = db.scalars(select(Area).where(Area.code == HOME)).one()
    grid_rows = {
        a.area.code: a
        for a in db.scalars(
            select(Assignment).where(
                Assignment.area_path.startswith(home.path),
                Assignment.post == Post.grid_worker,
                Assignment.employment == Employment.full_time,
                Assignment.ends_on.is_(None),
            )
        )
    }
    part_time = db.scalars(
        select(Assignment)
        .where(
            Assignment.area_path.startswith(home.path),
            Assignment.post == Post.grid_worker,
            Assignment.employment == Employment.part_time,
        )
        .order_by(Assignment.id)
    ).all()
    grids = sorted(grid_rows)
    every = list(db.scalars(select(Area.code).where(Area.parent_id == home.id).order_by(Area.code)))
    vacant = [code for code in every if code not in grid_rows] or every[-1:]
    day = dt.timedelta(days=1)

    def ask(actor: Actor, **fields: object) -> Filing:
        return filings.request(db=db, actor=actor, data=FilingCreate.model_validate(fields))

    # Took effect: a new community worker last month, and a part-time helper who left ten days ago.
    joined = ask(
        secretary,
        kind="onboard",
        to_area=HOME,
        post="community_worker",
        person_name=_name(rng, used),
        effective_on=today - 30 * day,
        reason="社区工作者招聘录用（演示）",
    )
    filings.approve(db=db, actor=street, filing=joined, note="同意")
    left = ask(
        secretary,
        kind="leave",
        assignment_id=part_time[0].id,
        effective_on=today - 10 * day,
        reason="本人工作调整，不再担任兼职网格员（演示）",
    )
    filings.approve(db=db, actor=street, filing=left)
    # Approved, not yet in effect: a grid worker moves to the neighbouring grid in ten days.
    moved = ask(
        secretary,
        kind="transfer",
        assignment_id=grid_rows[grids[1]].id,
        to_area=grids[2],
        effective_on=today + 10 * day,
        reason="网格调整，补充第3网格力量（演示）",
    )
    filings.approve(db=db, actor=street, filing=moved, note="同意，按期到岗")
    # Awaiting the street's decision: a new grid worker, and a part-time helper becoming full-time.
    ask(
        secretary,
        kind="onboard",
        to_area=vacant[0],
        post="grid_worker",
        person_name=_name(rng, used),
        effective_on=today + 7 * day,
        reason="补足网格员缺口（演示）",
    )
    ask(
        secretary,
        kind="change_post",
        assignment_id=part_time[1].id,
        employment="full_time",
        effective_on=today + 14 * day,
        reason="转为专职网格员（演示）",
    )
    # Refused and withdrawn: nothing changed.
    kept = ask(
        secretary,
        kind="leave",
        assignment_id=joined.new_assignment_id,
        effective_on=today + 5 * day,
        reason="申请离岗（演示）",
    )
    filings.refuse(db=db, actor=street, filing=kept, note="社区人员不足，请先完成交接再报（演示）")
    dropped = ask(
        secretary,
        kind="onboard",
        to_area=HOME,
        post="community_worker",
        person_name=_name(rng, used),
        effective_on=today + 20 * day,
        reason="拟录用（演示）",
    )
    filings.withdraw(db=db, actor=secretary, filing=dropped, note="人选另定")
    # The street files for another community; the district centre decides.
    other = db.scalars(
        select(Assignment)
        .join(Area, Area.id == Assignment.area_id)
        .where(Area.code == OTHER, Assignment.post == Post.committee_member)
        .order_by(Assignment.id)
    ).first()
    if other is not None:
        changed = ask(
            street,
            kind="change_post",
            assignment_id=other.id,
            post="community_worker",
            effective_on=today - 2 * day,
            reason="岗位调整（演示）",
        )
        filings.approve(db=db, actor=district, filing=changed)
    return db.scalar(select(func.count()).select_from(Filing)) or 0


def _visits(db: Session, worker: User | None, rng: random.Random) -> int:
    """Logs some past household visits of the demo grid worker in their grid (no cases: findings noted only)."""
    grid = db.scalars(select(Area).where(Area.code == HOME_GRID)).one_or_none()
    if worker is None or grid is None:
        return 0
    now = clock.now()
    findings = [
        {"description": "楼道堆放杂物，已提醒清理", "create_case": False},
        {"description": "独居老人，需定期关爱走访", "create_case": False},
        {"description": "反映夜间噪声扰民", "create_case": False},
    ]
    for n in range(VISITS):
        building, unit, room = rng.randint(1, 8), rng.randint(1, 3), rng.choice((101, 201, 302, 401, 502, 601))
        ref = f"{building}号楼{unit}单元{room}" if n < VISIT_REFS else f"{(n % 8) + 1}号楼1单元101"
        db.add(
            HouseholdVisit(
                grid_id=grid.id,
                area_path=grid.path,
                worker_user_id=worker.id,
                household_ref=ref,
                visited_at=now - dt.timedelta(days=rng.uniform(0.5, 28)),
                purpose=rng.choice(("例行走访", "关爱走访", "矛盾排查")),
                summary="演示走访记录",
                findings=[rng.choice(findings)] if rng.random() < 0.3 else [],
                case_ids=[],
                created_at=now,
            )
        )
    db.flush()
    return VISITS
