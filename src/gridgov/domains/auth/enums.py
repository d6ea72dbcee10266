"""Roles of the people and systems that act on cases."""

from enum import StrEnum


class Role(StrEnum):
    """What a user does in the district; permissions are granted per role (and limited by area scope)."""

    district_leader = "district_leader"  # 区领导: supervision (督办), rulings
    district_dispatcher = "district_dispatcher"  # 区城运中心 值班长/派遣员
    street_dispatcher = "street_dispatcher"  # 街道城运中心 派遣员
    community_secretary = "community_secretary"  # 社区书记
    grid_worker = "grid_worker"  # 网格员 / 监督员: reports, verifies (核实/核查), self-handles
    unit_handler = "unit_handler"  # 责任单位 处置人员
    auditor = "auditor"  # 审计员: reads the audit log
    admin = "admin"  # 系统管理员
    citizen = "citizen"  # 市民 (public channels)
    system = "system"  # jobs, IoT rules, integrations


DISPATCHER_ROLES = frozenset({Role.district_dispatcher, Role.street_dispatcher})
