"""Enumerations of the party register (党建): organisation levels and kinds, members, 双报到 and service."""

from __future__ import annotations

from enum import StrEnum

from gridgov.domains.areas.enums import AreaLevel


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Marks `message` for extraction without translating it now."""
    return message


class OrgLevel(StrEnum):
    """The five levels of the party organisation tree, from the street down to a party household."""

    street = "street"  # 街道党工委
    community = "community"  # 社区党组织 (党委 / 党总支 / 党支部)
    grid = "grid"  # 网格党支部
    building = "building"  # 楼院党小组
    household = "household"  # 党员中心户

    @property
    def depth(self) -> int:
        return ORG_LEVEL_ORDER.index(self)

    @property
    def parent_level(self) -> OrgLevel | None:
        return None if self.depth == 0 else ORG_LEVEL_ORDER[self.depth - 1]

    @property
    def child_level(self) -> OrgLevel | None:
        return ORG_LEVEL_ORDER[self.depth + 1] if self.depth + 1 < len(ORG_LEVEL_ORDER) else None


ORG_LEVEL_ORDER: tuple[OrgLevel, ...] = tuple(OrgLevel)


class OrgKind(StrEnum):
    """What kind of party body an organisation is (a community's may be a committee, general branch or branch)."""

    working_committee = "working_committee"  # 党工委
    committee = "committee"  # 党委
    general_branch = "general_branch"  # 党总支
    branch = "branch"  # 党支部
    group = "group"  # 党小组
    household = "household"  # 党员中心户


# The kinds an organisation of each level may be; the first is the default when a file or request gives none.
LEVEL_KINDS: dict[OrgLevel, tuple[OrgKind, ...]] = {
    OrgLevel.street: (OrgKind.working_committee,),
    OrgLevel.community: (OrgKind.committee, OrgKind.general_branch, OrgKind.branch),
    OrgLevel.grid: (OrgKind.branch,),
    OrgLevel.building: (OrgKind.group,),
    OrgLevel.household: (OrgKind.household,),
}

# The area levels an organisation of each level may be linked to (a 楼院党小组 may cover a building or a small
# grid where buildings are not mapped).
LEVEL_AREAS: dict[OrgLevel, tuple[AreaLevel, ...]] = {
    OrgLevel.street: (AreaLevel.street,),
    OrgLevel.community: (AreaLevel.community,),
    OrgLevel.grid: (AreaLevel.grid,),
    OrgLevel.building: (AreaLevel.building, AreaLevel.grid),
    OrgLevel.household: (AreaLevel.building,),
}

ORG_LEVEL_LABELS_ZH: dict[OrgLevel, str] = {
    OrgLevel.street: "街道党工委",
    OrgLevel.community: "社区党组织",
    OrgLevel.grid: "网格党支部",
    OrgLevel.building: "楼院党小组",
    OrgLevel.household: "党员中心户",
}
ORG_KIND_LABELS_ZH: dict[OrgKind, str] = {
    OrgKind.working_committee: "党工委",
    OrgKind.committee: "党委",
    OrgKind.general_branch: "党总支",
    OrgKind.branch: "党支部",
    OrgKind.group: "党小组",
    OrgKind.household: "党员中心户",
}
ORG_LEVEL_LABELS: dict[OrgLevel, str] = {
    OrgLevel.street: N_("Street party working committee"),
    OrgLevel.community: N_("Community party organisation"),
    OrgLevel.grid: N_("Grid party branch"),
    OrgLevel.building: N_("Building party group"),
    OrgLevel.household: N_("Party household"),
}
ORG_KIND_LABELS: dict[OrgKind, str] = {
    OrgKind.working_committee: N_("Working committee"),
    OrgKind.committee: N_("Party committee"),
    OrgKind.general_branch: N_("General branch"),
    OrgKind.branch: N_("Branch"),
    OrgKind.group: N_("Party group"),
    OrgKind.household: N_("Party household"),
}


class MemberStatus(StrEnum):
    """A member's standing: full member (正式党员) or probationary member (预备党员)."""

    full = "full"
    probationary = "probationary"


MEMBER_STATUS_LABELS_ZH = {MemberStatus.full: "正式党员", MemberStatus.probationary: "预备党员"}
MEMBER_STATUS_LABELS = {MemberStatus.full: N_("Full member"), MemberStatus.probationary: N_("Probationary member")}


class RegistrantKind(StrEnum):
    """Who registers with a community under 双报到: a unit's party organisation or an in-service member."""

    organisation = "organisation"  # 机关企事业单位党组织 到社区报到
    member = "member"  # 在职党员 到居住地社区报到


REGISTRANT_KIND_LABELS = {RegistrantKind.organisation: N_("Organisation"), RegistrantKind.member: N_("Member")}


class RegistrationStatus(StrEnum):
    """Whether a dual registration is in force."""

    active = "active"
    ended = "ended"


REGISTRATION_STATUS_LABELS = {RegistrationStatus.active: N_("Active"), RegistrationStatus.ended: N_("Ended")}


class ServiceCategory(StrEnum):
    """What a pledged service (认领服务) or a volunteer activity is about."""

    policy = "policy"  # 政策宣讲
    environment = "environment"  # 环境整治
    safety = "safety"  # 平安建设
    assistance = "assistance"  # 帮扶困难群众
    elderly_children = "elderly_children"  # 一老一小
    culture = "culture"  # 文体活动
    professional = "professional"  # 专业服务 (法律, 医疗, 技能)
    civility = "civility"  # 文明创建
    other = "other"  # 其他


SERVICE_CATEGORY_LABELS_ZH: dict[ServiceCategory, str] = {
    ServiceCategory.policy: "政策宣讲",
    ServiceCategory.environment: "环境整治",
    ServiceCategory.safety: "平安建设",
    ServiceCategory.assistance: "帮扶困难群众",
    ServiceCategory.elderly_children: "一老一小",
    ServiceCategory.culture: "文体活动",
    ServiceCategory.professional: "专业服务",
    ServiceCategory.civility: "文明创建",
    ServiceCategory.other: "其他",
}
SERVICE_CATEGORY_LABELS: dict[ServiceCategory, str] = {
    ServiceCategory.policy: N_("Policy outreach"),
    ServiceCategory.environment: N_("Environment clean-up"),
    ServiceCategory.safety: N_("Safety and order"),
    ServiceCategory.assistance: N_("Help for families in need"),
    ServiceCategory.elderly_children: N_("Elderly and children"),
    ServiceCategory.culture: N_("Culture and sports"),
    ServiceCategory.professional: N_("Professional services"),
    ServiceCategory.civility: N_("Civility campaigns"),
    ServiceCategory.other: N_("Other"),
}
