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


ROLE_LABELS_ZH = {
    Role.district_leader: "区领导",
    Role.district_dispatcher: "区城运中心值班长/派遣员",
    Role.street_dispatcher: "街道城运中心派遣员",
    Role.community_secretary: "社区书记",
    Role.grid_worker: "网格员",
    Role.unit_handler: "责任单位处置人员",
    Role.auditor: "审计员",
    Role.admin: "系统管理员",
    Role.citizen: "市民",
    Role.system: "系统/接口",
}


class TokenKind(StrEnum):
    """Who holds an API token: a person's own scripts, or a machine (an integration, a device gateway)."""

    personal = "personal"
    service = "service"


class TokenScope(StrEnum):
    """What an API token may be used for; its power is also limited by its user's role and area scope."""

    cases_read = "cases:read"
    cases_write = "cases:write"
    residents_read = "residents:read"
    residents_write = "residents:write"
    registers_read = "registers:read"  # party organisations, grid staff, duty rosters
    registers_write = "registers:write"
    exports = "exports"
    audit_read = "audit:read"
    admin = "admin"


class TerminalStatus(StrEnum):
    """Where a grid worker's phone stands: asked for binding, bound (may report), or revoked (lost, replaced)."""

    pending = "pending"
    active = "active"
    revoked = "revoked"


class AuditOutcome(StrEnum):
    """How an audited attempt ended."""

    ok = "ok"
    failed = "failed"  # wrong credentials, bad input
    denied = "denied"  # permission or scope refused, account locked or disabled


class AuditAction(StrEnum):
    """Actions the auth domain writes to the audit log; other domains write their own ("resident.unmask" ...)."""

    login = "auth.login"
    logout = "auth.logout"
    password_change = "auth.password_change"
    csrf = "auth.csrf"  # a state-changing browser request without its CSRF token
    token_create = "token.create"
    token_revoke = "token.revoke"
    token_use = "token.use"
    token_refused = "token.refused"  # an unknown, revoked or expired token, or one lacking a scope
    user_create = "user.create"
    user_disable = "user.disable"
    user_password_set = "user.password_set"
    user_unlock = "user.unlock"
    audit_search = "audit.search"
    terminal_bind = "terminal.bind"
    terminal_revoke = "terminal.revoke"
