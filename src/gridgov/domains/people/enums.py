"""Enumerations of the resident register (人口信息), with their Chinese labels for files, exports and pages."""

from __future__ import annotations

from enum import StrEnum


class Gender(StrEnum):
    """性别, as the identity number's 17th digit records it (odd: male)."""

    male = "male"
    female = "female"


class Relation(StrEnum):
    """与户主关系: how a resident is related to the head of their household."""

    head = "head"  # 户主
    spouse = "spouse"  # 配偶
    child = "child"  # 子女
    parent = "parent"  # 父母
    grandchild = "grandchild"  # 孙子女 / 外孙子女
    grandparent = "grandparent"  # 祖父母 / 外祖父母
    sibling = "sibling"  # 兄弟姐妹
    child_in_law = "child_in_law"  # 儿媳 / 女婿
    other_relative = "other_relative"  # 其他亲属
    non_relative = "non_relative"  # 非亲属 (集体户成员, 合租)


class ResidenceType(StrEnum):
    """户籍/常住/流动: whether a person (or a household) is registered here, lives here, or is floating."""

    registered = "registered"  # 户籍人口: 户口 at this address
    resident = "resident"  # 常住人口: lives here for six months or more, 户口 elsewhere
    floating = "floating"  # 流动人口: lives here for a shorter time


class HouseholdKind(StrEnum):
    """户类型."""

    family = "family"  # 家庭户
    collective = "collective"  # 集体户 (dormitories, care homes)


class ResidentStatus(StrEnum):
    """Whether a resident still lives here (在册), has moved away (迁出) or has died (死亡)."""

    active = "active"
    moved_out = "moved_out"
    deceased = "deceased"


class EventKind(StrEnum):
    """What a register event records; every change of a resident or household is one of these."""

    registered = "registered"  # 登记: entered by import or by hand
    move_in = "move_in"  # 迁入
    move_out = "move_out"  # 迁出
    birth = "birth"  # 出生
    death = "death"  # 死亡
    contact_change = "contact_change"  # 联系方式变更
    household_change = "household_change"  # 户变更 (moved to another household of the district)
    tag_added = "tag_added"  # 标签添加
    tag_removed = "tag_removed"  # 标签移除
    correction = "correction"  # 信息更正 (a wrong name, date, number ...)
    household_created = "household_created"  # 立户
    household_update = "household_update"  # 户信息变更


class Sensitivity(StrEnum):
    """分级 of a tag: who may see that a resident belongs to the group (see privacy.TAG_VISIBILITY)."""

    public = "public"  # 公开
    internal = "internal"  # 内部
    sensitive = "sensitive"  # 敏感
    core = "core"  # 核心


class ExportStatus(StrEnum):
    """Where an export request stands; `expired` is derived (approved and past its expiry), never stored."""

    pending = "pending"  # 待审批
    approved = "approved"  # 已批准
    refused = "refused"  # 未批准
    cancelled = "cancelled"  # 已撤回
    expired = "expired"  # 已过期


GENDER_ZH = {Gender.male: "男", Gender.female: "女"}
RELATION_ZH = {
    Relation.head: "户主",
    Relation.spouse: "配偶",
    Relation.child: "子女",
    Relation.parent: "父母",
    Relation.grandchild: "孙子女",
    Relation.grandparent: "祖父母",
    Relation.sibling: "兄弟姐妹",
    Relation.child_in_law: "儿媳/女婿",
    Relation.other_relative: "其他亲属",
    Relation.non_relative: "非亲属",
}
RESIDENCE_ZH = {ResidenceType.registered: "户籍", ResidenceType.resident: "常住", ResidenceType.floating: "流动"}
HOUSEHOLD_KIND_ZH = {HouseholdKind.family: "家庭户", HouseholdKind.collective: "集体户"}
STATUS_ZH = {ResidentStatus.active: "在册", ResidentStatus.moved_out: "已迁出", ResidentStatus.deceased: "已死亡"}
SENSITIVITY_ZH = {
    Sensitivity.public: "公开",
    Sensitivity.internal: "内部",
    Sensitivity.sensitive: "敏感",
    Sensitivity.core: "核心",
}
EVENT_ZH = {
    EventKind.registered: "登记",
    EventKind.move_in: "迁入",
    EventKind.move_out: "迁出",
    EventKind.birth: "出生",
    EventKind.death: "死亡",
    EventKind.contact_change: "联系方式变更",
    EventKind.household_change: "户变更",
    EventKind.tag_added: "添加标签",
    EventKind.tag_removed: "移除标签",
    EventKind.correction: "信息更正",
    EventKind.household_created: "立户",
    EventKind.household_update: "户信息变更",
}
EXPORT_STATUS_ZH = {
    ExportStatus.pending: "待审批",
    ExportStatus.approved: "已批准",
    ExportStatus.refused: "未批准",
    ExportStatus.cancelled: "已撤回",
    ExportStatus.expired: "已过期",
}
