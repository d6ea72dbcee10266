"""Party part of the Jinshui demo: 人民路街道's party organisations, members, 双报到, activities and service hours.

The tree is built from the demo areas already in the database and imported through `service.import_document`, so
it is checked like a district's own file: the 街道党工委, every community's party organisation (党委, 党总支 or
党支部 by size), one grid branch per grid (in some communities one branch covers the last two grids), 楼院党小组
on the first buildings, and 党员中心户 in 锦湖社区 linked to its demo households when the people demo is loaded.
Then ~200 members with generated names, five units' party organisations (机关企事业单位党组织, clearly marked
演示) registered with communities with their pledges, in-service members reporting to their home communities, and
volunteer activities of the last two months with service hours — all through the services, as the operator.

Everything is drawn with a fixed seed relative to today; loading it again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.party import dual, service
from gridgov.domains.party.enums import (
    SERVICE_CATEGORY_LABELS_ZH,
    MemberStatus,
    OrgLevel,
    RegistrantKind,
    ServiceCategory,
)
from gridgov.domains.party.models import (
    Activity,
    HouseholdLink,
    PartyMember,
    PartyOrg,
    Registration,
    ServiceRecord,
)
from gridgov.domains.party.schemas import (
    ActivityCreate,
    MemberCreate,
    OrgIn,
    OrgUpdate,
    PartnerOrgIn,
    PartyTreeDocument,
    PledgeIn,
    RegistrationCreate,
    ServiceRecordCreate,
)
from gridgov.domains.people.models import Household

SEED = 410105
STREET = "410105003"  # 人民路街道
FOCUS_COMMUNITY = "410105003005"  # 锦湖社区: building groups in every grid, 党员中心户 with households
SOURCE = "gridgov demo party"
TREE_MEMBERS = 180
PARTNER_MEMBERS = 20
ACTIVITIES_PER_COMMUNITY = 3
COUNTED = ("party_orgs", "party_members", "registrations", "activities", "service_records", "household_links")

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "建国伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英文华红梅志强海燕玉兰春梅德明晓东丽华振华"
EMPLOYERS = (
    "金水区某科技公司（演示）",
    "郑州市某中学（演示）",
    "金水区某医院（演示）",
    "某商业银行金水支行（演示）",
    "金水区某物流公司（演示）",
    "某律师事务所（演示）",
)
PARTNERS: tuple[tuple[str, str, tuple[tuple[ServiceCategory, str], ...]], ...] = (
    (
        "DEMO-SWJ",
        "金水区税务局机关党支部（演示）",
        ((ServiceCategory.policy, "税收政策进社区宣讲"), (ServiceCategory.professional, "个税申报咨询")),
    ),
    (
        "DEMO-RMYY",
        "金水区人民医院党委（演示）",
        ((ServiceCategory.professional, "每月一次义诊"), (ServiceCategory.elderly_children, "独居老人健康随访")),
    ),
    (
        "DEMO-JYJ",
        "金水区教育局机关党支部（演示）",
        ((ServiceCategory.elderly_children, "四点半课堂"), (ServiceCategory.culture, "暑期读书会")),
    ),
    (
        "DEMO-GDGS",
        "金水供电服务中心党支部（演示）",
        ((ServiceCategory.safety, "老旧小区用电安全检查"), (ServiceCategory.assistance, "困难户线路改造")),
    ),
    (
        "DEMO-YH",
        "某银行金水支行党支部（演示）",
        ((ServiceCategory.policy, "反电诈宣传"), (ServiceCategory.civility, "文明楼院评选")),
    ),
)
ACTIVITY_TITLES: dict[ServiceCategory, tuple[str, ...]] = {
    ServiceCategory.environment: ("楼院环境集中整治", "背街小巷清扫", "垃圾分类入户宣传"),
    ServiceCategory.policy: ("党的政策进楼院宣讲", "反电诈宣传进社区"),
    ServiceCategory.elderly_children: ("敬老院慰问", "四点半课堂", "独居老人上门探访"),
    ServiceCategory.safety: ("消防安全隐患排查", "夜间平安巡逻"),
    ServiceCategory.professional: ("义诊进社区", "法律咨询服务日"),
    ServiceCategory.culture: ("社区读书分享会", "邻里文化节"),
    ServiceCategory.assistance: ("困难家庭走访帮扶",),
    ServiceCategory.civility: ("文明楼院创建志愿服务",),
}


def _name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def _community_kind(grids: int) -> str:
    return "committee" if grids >= 8 else "general_branch" if grids >= 5 else "branch"


def build_tree(*, db: Session) -> PartyTreeDocument:
    """Returns the demo street's party tree, built on the demo areas in the database (empty without them)."""
    street = db.scalars(select(Area).where(Area.code == STREET)).first()
    if street is None:
        return PartyTreeDocument()
    below = list(
        db.scalars(
            select(Area)
            .where(Area.path.startswith(street.path), Area.level.in_([AreaLevel.community, AreaLevel.grid]))
            .order_by(Area.code)
        )
    )
    communities = [a for a in below if a.level == AreaLevel.community]
    grids: dict[int, list[Area]] = {c.id: [] for c in communities}
    for area in below:
        if area.level == AreaLevel.grid and area.parent_id in grids:
            grids[area.parent_id].append(area)
    grid_ids = [g.id for gs in grids.values() for g in gs]
    buildings: dict[int, list[Area]] = {g: [] for g in grid_ids}
    for building in db.scalars(
        select(Area).where(Area.parent_id.in_(grid_ids), Area.level == AreaLevel.building).order_by(Area.code)
    ):
        buildings[building.parent_id].append(building)  # type: ignore[index]

    rng = random.Random(SEED)
    top = f"P{STREET}"
    orgs = [
        OrgIn(code=top, name="人民路街道党工委（演示）", level=OrgLevel.street, areas=[STREET], secretary=_name(rng))
    ]
    for number, community in enumerate(communities):
        code = f"P{community.code}"
        own = grids[community.id]
        kind = _community_kind(len(own))
        label = {"committee": "党委", "general_branch": "党总支", "branch": "党支部"}[kind]
        orgs.append(
            OrgIn(
                code=code,
                name=f"{community.name}{label}",
                level=OrgLevel.community,
                kind=kind,
                parent=top,
                areas=[community.code],
                secretary=_name(rng),
            )
        )
        # Every third community has few party members in its last two grids: one branch covers both.
        joined = own[-2:] if number % 3 == 1 and len(own) >= 3 else []
        for index, grid in enumerate(own):
            if joined and grid is joined[1]:
                continue
            covered = joined if joined and grid is joined[0] else [grid]
            branch = f"P{grid.code}"
            orgs.append(
                OrgIn(
                    code=branch,
                    name=f"{grid.name}党支部"
                    if len(covered) == 1
                    else f"{community.name}第{index + 1}、{index + 2}网格联合党支部",
                    level=OrgLevel.grid,
                    parent=code,
                    areas=[g.code for g in covered],
                    secretary=_name(rng),
                )
            )
            in_focus = community.code == FOCUS_COMMUNITY
            groups = buildings[grid.id][: 2 if in_focus else (1 if index == 0 else 0)]
            for building in groups:
                group = f"P{building.code}"
                orgs.append(
                    OrgIn(
                        code=group,
                        name=f"{building.name}党小组",
                        level=OrgLevel.building,
                        parent=branch,
                        areas=[building.code],
                        secretary=_name(rng),
                    )
                )
                if in_focus:
                    orgs.append(
                        OrgIn(
                            code=f"{group}-H1",
                            name=f"{building.name}党员中心户",
                            level=OrgLevel.household,
                            parent=group,
                            areas=[building.code],
                        )
                    )
    return PartyTreeDocument(orgs=orgs)


def _counts(db: Session, root: PartyOrg | None) -> dict[str, int]:
    if root is None:
        return dict.fromkeys(COUNTED, 0)
    area_path = root.area_path or ""
    org_ids = select(PartyOrg.id).where(PartyOrg.path.startswith(root.path))
    in_street = Activity.area_path.startswith(area_path)
    return {
        "party_orgs": db.scalar(select(func.count()).select_from(PartyOrg).where(PartyOrg.id.in_(org_ids))) or 0,
        "party_members": db.scalar(
            select(func.count())
            .select_from(PartyMember)
            .where(
                (PartyMember.org_id.in_(org_ids))
                | PartyMember.id.in_(select(Registration.member_id).where(Registration.area_path.startswith(area_path)))
            )
        )
        or 0,
        "registrations": db.scalar(
            select(func.count()).select_from(Registration).where(Registration.area_path.startswith(area_path))
        )
        or 0,
        "activities": db.scalar(select(func.count()).select_from(Activity).where(in_street)) or 0,
        "service_records": db.scalar(
            select(func.count())
            .select_from(ServiceRecord)
            .join(Activity, Activity.id == ServiceRecord.activity_id)
            .where(in_street)
        )
        or 0,
        "household_links": db.scalar(
            select(func.count()).select_from(HouseholdLink).where(HouseholdLink.org_id.in_(org_ids))
        )
        or 0,
    }


def _street_user(db: Session, root: PartyOrg) -> Actor | None:
    """Returns the street's dispatcher (a demo login), who verifies the demo's service hours, if there is one."""
    street = db.scalar(select(Area.id).where(Area.code == STREET))
    user = db.scalars(
        select(User)
        .where(User.role == Role.street_dispatcher, User.scope_area_id == street, User.is_active)
        .order_by(User.id)
    ).first()
    return auth_service.actor_of(user) if user is not None else None


def _record(
    db: Session, op: Actor, verifier: Actor, activity_id: int, data: ServiceRecordCreate, verified: bool
) -> None:
    row = dual.create_record(
        db=db, actor=op, activity_id=activity_id, data=data.model_copy(update={"verified": verified and verifier is op})
    )
    if verified and verifier is not op:
        dual.verify_record(db=db, actor=verifier, record_id=row.id)


def load_demo(*, db: Session, seed: int = SEED) -> dict[str, int]:
    """Loads the party demo of 人民路街道 on the demo areas (no commit); a second load changes nothing."""
    op = service.OPERATOR
    document = build_tree(db=db)
    if not document.orgs:
        return _counts(db, None)
    service.import_document(db=db, document=document, actor=op, source=SOURCE)
    root = db.scalars(select(PartyOrg).where(PartyOrg.code == document.orgs[0].code)).one()
    already = db.scalar(
        select(PartyMember.id).where(
            PartyMember.org_id.in_(select(PartyOrg.id).where(PartyOrg.path.startswith(root.path)))
        )
    )
    if already is not None:
        return _counts(db, root)

    rng = random.Random(seed)
    today = service.today()
    verifier = _street_user(db, root) or op
    orgs = list(db.scalars(select(PartyOrg).where(PartyOrg.path.startswith(root.path)).order_by(PartyOrg.path)))
    by_code = {o.code: o for o in orgs}
    homes = [o for o in orgs if o.level in (OrgLevel.grid, OrgLevel.building)]
    households_of = [o for o in orgs if o.level == OrgLevel.household]
    communities = {o.area_path: o for o in orgs if o.level == OrgLevel.community}

    def community_of(org: PartyOrg) -> PartyOrg:
        return next(c for path, c in communities.items() if path and (org.area_path or "").startswith(path))

    # Members: spread over the grid branches and building groups; heads of the 党员中心户 first.
    members: list[PartyMember] = []
    for number in range(TREE_MEMBERS):
        if number < len(households_of):
            household = households_of[number]
            org = by_code[household.code.rsplit("-", 1)[0]]  # its building group
        else:
            household, org = None, homes[number % len(homes)]
        in_service = rng.random() < 0.4
        data = MemberCreate(
            name=_name(rng),
            org=org.code,
            joined_on=today - dt.timedelta(days=rng.randint(400, 365 * 40)),
            status=MemberStatus.probationary if rng.random() < 0.06 else MemberStatus.full,
            in_service=in_service,
            employer=rng.choice(EMPLOYERS) if in_service else None,
            household_org=household.code if household is not None else None,
        )
        members.append(service.create_member(db=db, actor=op, data=data))

    # The 党员中心户 of 锦湖社区: their own household and 5-8 households nearby, when the people demo is there.
    for household_org in households_of:
        building_id = db.scalar(
            select(Area.id).where(Area.path == household_org.area_path, Area.level == AreaLevel.building)
        )
        nearby = list(
            db.scalars(
                select(Household.id)
                .where(Household.building_id == building_id, ~Household.id.in_(select(HouseholdLink.household_id)))
                .order_by(Household.id)
                .limit(1 + rng.randint(5, 8))
            )
        )
        if len(nearby) < 2:
            continue
        service.update_org(db=db, actor=op, code=household_org.code, data=OrgUpdate(household_id=nearby[0]))
        service.link_households(db=db, actor=op, code=household_org.code, household_ids=nearby[1:])

    # Units' party organisations register with two or three communities each, with their pledges.
    community_codes = sorted(c.areas[0].code for c in communities.values())
    registered_orgs: dict[str, list[str]] = {}
    for code, name, pledges in PARTNERS:
        service.save_partner_org(db=db, actor=op, data=PartnerOrgIn(code=code, name=name))
        for community in rng.sample(community_codes, rng.randint(2, 3)):
            dual.create_registration(
                db=db,
                actor=op,
                data=RegistrationCreate(
                    kind=RegistrantKind.organisation,
                    partner_org=code,
                    community=community,
                    registered_on=today - dt.timedelta(days=rng.randint(90, 700)),
                    pledges=[PledgeIn(category=c, item=i) for c, i in pledges],
                ),
            )
            registered_orgs.setdefault(community, []).append(code)

    # In-service members report to their home community (双报到): the units' members, and some tree members.
    reporting: dict[str, list[int]] = {}
    for number in range(PARTNER_MEMBERS):
        code, name, pledges = PARTNERS[number % len(PARTNERS)]
        community = rng.choice(community_codes)
        category, item = rng.choice(pledges)
        row = dual.create_registration(
            db=db,
            actor=op,
            data=RegistrationCreate(
                kind=RegistrantKind.member,
                community=community,
                registered_on=today - dt.timedelta(days=rng.randint(20, 500)),
                member=MemberCreate(
                    name=_name(rng),
                    partner_org=code,
                    joined_on=today - dt.timedelta(days=rng.randint(400, 365 * 30)),
                    in_service=True,
                    employer=name.removesuffix("党委（演示）").removesuffix("党支部（演示）") + "（演示）",
                ),
                pledges=[PledgeIn(category=category, item=item)],
            ),
        )
        reporting.setdefault(community, []).append(row.member_id or 0)
    for member in members:
        if member.in_service and rng.random() < 0.5:
            community = community_of(member.org).areas[0].code if member.org is not None else community_codes[0]
            category = rng.choice(list(ServiceCategory))
            dual.create_registration(
                db=db,
                actor=op,
                data=RegistrationCreate(
                    kind=RegistrantKind.member,
                    member_id=member.id,
                    community=community,
                    registered_on=today - dt.timedelta(days=rng.randint(20, 500)),
                    pledges=[PledgeIn(category=category, item=f"认领{SERVICE_CATEGORY_LABELS_ZH[category]}服务")],
                ),
            )
            reporting.setdefault(community, []).append(member.id)

    # Volunteer activities of the last two months with hours, and one planned activity per community.
    members_of: dict[str, list[int]] = {}
    for member in members:
        if member.org is not None:
            members_of.setdefault(community_of(member.org).areas[0].code, []).append(member.id)
    for community in community_codes:
        org = communities[next(p for p, c in communities.items() if c.areas[0].code == community)]
        for number in range(ACTIVITIES_PER_COMMUNITY + 1):
            category = rng.choice(list(ACTIVITY_TITLES))
            planned = number == ACTIVITIES_PER_COMMUNITY
            held_on = (
                today + dt.timedelta(days=rng.randint(3, 20))
                if planned
                else today - dt.timedelta(days=rng.randint(1, 60))
            )
            activity = dual.create_activity(
                db=db,
                actor=op,
                data=ActivityCreate(
                    community=community,
                    title=rng.choice(ACTIVITY_TITLES[category]),
                    held_on=held_on,
                    category=category,
                    organiser=org.name,
                    organiser_org=org.code,
                ),
            )
            if planned:
                continue
            pool = sorted(set(reporting.get(community, [])) | set(members_of.get(community, [])))
            for member_id in rng.sample(pool, min(len(pool), rng.randint(4, 8))):
                hours = rng.choice((1, 1.5, 2, 2.5, 3, 4))
                verified = rng.random() < 0.85
                _record(db, op, verifier, activity.id, ServiceRecordCreate(member_id=member_id, hours=hours), verified)
            for code in registered_orgs.get(community, [])[:1]:
                data = ServiceRecordCreate(partner_org=code, hours=rng.choice((2, 3, 4)))
                _record(db, op, verifier, activity.id, data, True)
    db.flush()
    return _counts(db, root)
