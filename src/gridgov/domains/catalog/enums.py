"""Enumerations of the reference-data catalogue."""

from enum import StrEnum

from gridgov.core.calendar import TimeUnit


class UnitKind(StrEnum):
    """What kind of organisation a unit is."""

    district_centre = "district_centre"  # 区城运中心
    district_bureau = "district_bureau"  # 区直部门 (城管局, 环卫中心, ...)
    street_centre = "street_centre"  # 街道城运中心
    street_office = "street_office"  # 街道办事处
    street_team = "street_team"  # 街道所属队所 (城管中队, 环卫所, ...)
    community = "community"  # 社区居委会
    grid_team = "grid_team"  # 网格工作站
    enterprise = "enterprise"  # 权属/养护企业 (供水、燃气、电力、通信 ...)


class MatterKind(StrEnum):
    """The taxonomy a matter type belongs to."""

    component = "component"  # 部件, GB/T 30428.2
    event = "event"  # 事件, GB/T 30428.2
    social = "social"  # 综治 9+X, GB/T 31000
    hotline = "hotline"  # 12345 诉求


class Urgency(StrEnum):
    """Urgency of a case (紧急程度): it selects the time limits that apply."""

    normal = "normal"  # 一般
    urgent = "urgent"  # 紧急
    emergency = "emergency"  # 特急, natural time 7×24


class Stage(StrEnum):
    """The stages that carry their own time limit."""

    register = "register"  # 立案
    dispatch = "dispatch"  # 派遣
    handle = "handle"  # 处置
    verify = "verify"  # 核查


TIME_UNIT_SUFFIX = {"wh": TimeUnit.working_hours, "wd": TimeUnit.working_days, "h": TimeUnit.natural_hours}

UNIT_KIND_LABELS_ZH = {
    UnitKind.district_centre: "区城运中心",
    UnitKind.district_bureau: "区直部门",
    UnitKind.street_centre: "街道城运中心",
    UnitKind.street_office: "街道办事处",
    UnitKind.street_team: "街道队所",
    UnitKind.community: "社区",
    UnitKind.grid_team: "网格工作站",
    UnitKind.enterprise: "企业",
}

MATTER_KIND_LABELS_ZH = {
    MatterKind.component: "部件",
    MatterKind.event: "事件",
    MatterKind.social: "综治",
    MatterKind.hotline: "12345",
}

URGENCY_LABELS_ZH = {Urgency.normal: "一般", Urgency.urgent: "紧急", Urgency.emergency: "特急"}

STAGE_LABELS_ZH = {Stage.register: "立案", Stage.dispatch: "派遣", Stage.handle: "处置", Stage.verify: "核查"}

TIME_UNIT_LABELS_ZH = {
    TimeUnit.working_hours: "工作时",
    TimeUnit.working_days: "工作日",
    TimeUnit.natural_hours: "自然时",
}
