"""Who may do what, where: ONE table of role × action → scope, and the query filter that applies it.

A role either lacks an action (403) or has it within a scope: the whole deployment, the user's area subtree,
the cases of the user's own unit, or what the user reported. Lists are filtered with `restrict`; a single
case is fetched through `check_case`, which answers 404 for a case outside the scope (its existence is not
revealed) and writes the denial to the audit log. docs/permissions.md is generated from this table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Boolean, ColumnElement, Integer, Select, false, literal, or_, select, true
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from gridgov.core.errors import Forbidden, NotFoundError
from gridgov.domains.auth.enums import ROLE_LABELS_ZH, AuditOutcome, Role, TokenScope
from gridgov.domains.auth.schemas import Actor, AuditRecord
from gridgov.domains.cases.enums import Action
from gridgov.domains.cases.models import Case


class Scope(StrEnum):
    """How far a granted action reaches."""

    all = "all"  # the whole deployment
    area = "area"  # the user's area subtree (the whole deployment when the user has no scope area)
    unit = "unit"  # cases whose handling unit or co-unit is the user's unit
    own = "own"  # what the user reported


SCOPE_LABELS = {
    Scope.all: "the whole deployment",
    Scope.area: "the user's area subtree",
    Scope.unit: "cases of the user's unit (handling or co-handling)",
    Scope.own: "what the user reported",
}

# Every action, with what it covers (the permission reference is generated from this and PERMISSIONS).
ACTIONS: dict[str, str] = {
    "case.view": "See cases: lists, map, detail, timeline, attachments",
    "case.report": "Report a case (上报), including on-the-spot handling (即时处置)",
    "case.register": "Register, reject, merge or reclassify a reported case (立案, 不予立案, 并单, 改类)",
    "case.dispatch": "Dispatch a case to a handling unit (派遣)",
    "case.handle": "Sign, return, start and finish; ask for extension or suspension (签收, 回退, 处置, 申请延期/挂账)",
    "case.verify": "Confirm a public report on site, check a handled case, order rework (核实, 核查, 返工)",
    "case.approve": "Decide extension and suspension requests; resume a suspended case (延期/挂账审批)",
    "case.supervise": "Supervise, reopen, rule on reasonableness (督办, 重办, 合理性认定)",
    "case.escalate": "Escalate a case to the higher centre (提级)",
    "case.rate": "Record the reporter's satisfaction with a closed case (回访评价)",
    "case.note": "Add a note to a case",
    "case.contact": "Read a case reporter's contact, with a stated purpose (personal data; every read is audited)",
    "audit.view": "Search the audit log",
    "user.manage": "Create, disable and reset users; revoke their tokens",
    "terminal.manage": "Bind grid workers' phones to them and revoke lost ones (终端绑定)",
    "device.view": "See IoT devices, their readings and alarms, cameras and video alarms",
    "device.manage": "Import and edit IoT devices, device types, alarm rules, cameras, video sources and algorithms",
    "telemetry.ingest": "Send device readings and video-AI alarms (gateways and platforms)",
    "video.feedback": "Mark a video-AI alarm true or false (误报), which feeds the algorithms' precision",
    "visit.log": "Log a household visit (入户走访) and turn its findings into cases",
    "visit.view": "See household visits",
    "catalog.manage": "Import and edit the catalogue: units, matter types, the three lists",
    "area.manage": "Import and edit the area tree",
    "resident.view": "See resident records, masked (人口信息, 脱敏)",
    "resident.unmask": "See a resident's ID number and phone in clear (every read is audited)",
    "resident.manage": "Import residents and households and record their changes: move in/out, birth, death, contact",
    "party.view": "See party organisations, members, dual registrations (双报到) and volunteer service",
    "party.manage": "Edit party organisations and members, record dual registrations and volunteer service",
    "staff.view": "See grid staff, their grids, personnel filings (报备) and the staffing report",
    "staff.manage": "Assign staff to grids and communities; request personnel changes (人员变动报备)",
    "filing.approve": "Approve or refuse personnel change filings (报备审批); never one's own",
    "duty.view": "See duty rosters, who is on duty now and the handover log (值班)",
    "duty.manage": "Edit duty rosters and shifts (排班); handovers are written by whoever is on the shift",
    "triage.view": "See triage: hotspots (高频事项), classification and duplicate suggestions, the models",
    "triage.manage": "Add triage models and choose the one intake uses (分类模型)",
    "hotspot.decide": "Turn a hotspot into one supervised case, or dismiss it",
    "evaluation.view": "See indicators, rankings, bulletins, campaigns and the operation centre's dashboard (评价)",
    "evaluation.manage": "Edit the indicators: formulas, weights, minimum samples (评价指标)",
    "campaign.manage": "Create and run special supervision campaigns, tag their cases (专项督查)",
    "ledger.export": "Export case ledgers (台账) to XLSX, watermarked and audited",
    "export.request": "Ask for an export of data",
    "export.approve": "Approve an export request",
}

A, U, OWN, ALL = Scope.area, Scope.unit, Scope.own, Scope.all
_DISPATCHER: dict[str, Scope] = {
    "case.view": A,
    "case.report": A,  # 受理员 take hotline calls and walk-ins
    "case.register": A,
    "case.dispatch": A,
    "case.verify": A,
    "case.approve": A,
    "case.supervise": A,
    "case.escalate": A,
    "case.rate": A,
    "case.note": A,
    "case.contact": A,  # to call the reporter back (回访) or ask for details
    "device.view": A,
    "video.feedback": A,
    "resident.view": A,
    "visit.view": A,
    "export.request": A,
    "party.view": A,
    "staff.view": A,
    "staff.manage": A,
    "filing.approve": A,
    "duty.view": A,
    "duty.manage": A,
    "triage.view": A,
    "hotspot.decide": A,
    "evaluation.view": A,
    "ledger.export": A,
}

# NOTE: the one permission table. The administrator manages accounts and reference data but sees no cases or
# residents, and only the auditor reads the audit log (三员分立: system, security and audit duties apart).
PERMISSIONS: dict[Role, dict[str, Scope]] = {
    Role.district_leader: {
        "case.view": A,
        "case.report": A,  # 领导交办: a leader assigns a matter (the assignment channel)
        "case.approve": A,
        "case.supervise": A,
        "case.note": A,
        "visit.view": A,
        "device.view": A,
        "resident.view": A,
        "export.request": A,
        "export.approve": A,
        "party.view": A,
        "staff.view": A,
        "filing.approve": A,
        "duty.view": A,
        "triage.view": A,
        "hotspot.decide": A,
        "evaluation.view": A,
        "campaign.manage": A,
        "ledger.export": A,
    },
    Role.district_dispatcher: {**_DISPATCHER, "campaign.manage": A},  # campaigns are the district centre's
    Role.street_dispatcher: {**_DISPATCHER, "party.manage": A},  # the street party working committee's register
    Role.community_secretary: {
        "case.view": A,
        "case.report": A,
        "case.handle": A,  # the service also requires the case to be with the user's unit
        "case.note": A,
        "visit.view": A,
        "resident.view": A,
        "resident.unmask": A,
        "resident.manage": A,
        "export.request": A,
        "party.view": A,
        "party.manage": A,
        "staff.view": A,
        "staff.manage": A,
        "duty.view": A,
        "evaluation.view": A,
        "ledger.export": A,
    },
    Role.grid_worker: {
        "case.view": A,
        "case.report": A,
        "case.handle": A,
        "case.verify": A,
        "case.note": A,
        "case.contact": A,  # to meet the reporter when verifying on site (核实)
        "visit.log": A,
        "visit.view": A,
        "device.view": A,
        "resident.view": A,
        "resident.unmask": A,
        "resident.manage": A,
        "duty.view": A,
    },
    Role.unit_handler: {"case.view": U, "case.handle": U, "case.note": U},
    Role.auditor: {"audit.view": ALL, "case.view": ALL},
    Role.admin: {
        "user.manage": ALL,
        "terminal.manage": ALL,
        "catalog.manage": ALL,
        "area.manage": ALL,
        "device.manage": ALL,
        "triage.manage": ALL,
        "evaluation.manage": ALL,
    },
    Role.citizen: {"case.view": OWN, "case.report": OWN, "case.rate": OWN},
    Role.system: {
        "telemetry.ingest": ALL,
        "case.view": ALL,
        "case.report": ALL,
        "case.register": ALL,
        "case.dispatch": ALL,
        "case.approve": ALL,
        "case.supervise": ALL,
        "case.escalate": ALL,
        "case.rate": ALL,
        "case.note": ALL,
    },
}

# The API token scope an action needs when the caller authenticates with a token rather than a session.
ACTION_TOKEN_SCOPES: dict[str, TokenScope] = {
    action: (
        TokenScope.cases_read
        if action in ("case.view", "visit.view", "device.view", "triage.view", "evaluation.view")
        else TokenScope.residents_read  # personal data, like the resident register
        if action == "case.contact"
        else TokenScope.cases_write
        if action.startswith("case.")
        or action in ("visit.log", "telemetry.ingest", "video.feedback", "hotspot.decide", "campaign.manage")
        else TokenScope.residents_write
        if action == "resident.manage"
        else TokenScope.residents_read
        if action.startswith("resident.")
        else TokenScope.registers_read
        if action in ("party.view", "staff.view", "duty.view")
        else TokenScope.registers_write
        if action in ("party.manage", "staff.manage", "filing.approve", "duty.manage")
        else TokenScope.exports
        if action.startswith("export.") or action == "ledger.export"
        else TokenScope.audit_read
        if action == "audit.view"
        else TokenScope.admin
    )
    for action in ACTIONS
}

# Which permission each case action of the state machine needs (the machine then checks stage and role).
CASE_ACTION_PERMISSIONS: dict[Action, str] = {
    Action.report: "case.report",
    Action.self_handle: "case.report",
    Action.confirm: "case.verify",
    Action.register: "case.register",
    Action.reject: "case.register",
    Action.merge: "case.register",
    Action.reclassify: "case.register",
    Action.dispatch: "case.dispatch",
    Action.sign: "case.handle",
    Action.return_: "case.handle",
    Action.start: "case.handle",
    Action.finish: "case.handle",
    Action.request_extension: "case.handle",
    Action.request_suspension: "case.handle",
    Action.verify: "case.verify",
    Action.rework: "case.verify",
    Action.decide_extension: "case.approve",
    Action.decide_suspension: "case.approve",
    Action.resume: "case.approve",
    Action.supervise: "case.supervise",
    Action.reopen: "case.supervise",
    Action.rule_reasonableness: "case.supervise",
    Action.warn: "case.supervise",
    Action.overdue: "case.supervise",
    Action.escalate: "case.escalate",
    Action.rate: "case.rate",
    Action.note: "case.note",
}


class PermissionDenied(Forbidden):
    """The actor's role may not take the action at all (403); the denial is in `audit_record`."""

    code = "permission_denied"

    def __init__(self, message: str, *, audit_record: AuditRecord, **details: object) -> None:
        super().__init__(message, **details)
        self.audit_record = audit_record


class OutOfScope(NotFoundError):
    """The object exists but lies outside the actor's scope; answered like a missing one (404), and audited."""

    def __init__(self, message: str, *, audit_record: AuditRecord) -> None:
        super().__init__(message)
        self.audit_record = audit_record


AuditWriter = Callable[[Session | None, AuditRecord], None]


def write_to_session(db: Session | None, record: AuditRecord) -> None:
    """The default audit writer: adds the entry to the caller's transaction (kept if that transaction commits)."""
    if db is None:
        return
    # NOTE: imported here because the auth service imports this module.
    from gridgov.domains.auth import service as auth_service

    auth_service.add_audit(db=db, record=record)


def pending_audit(exc: BaseException | None) -> AuditRecord | None:
    """Returns the audit record a denial carries (looking through chained exceptions), or None."""
    seen = 0
    while exc is not None and seen < 10:
        record = getattr(exc, "audit_record", None)
        if isinstance(record, AuditRecord):
            return record
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def scope_of(actor: Actor, action: str) -> Scope | None:
    """Returns the scope within which `actor` may take `action`, or None when the role lacks it."""
    if action not in ACTIONS:
        raise ValueError(f"unknown permission action {action!r}")
    return PERMISSIONS.get(actor.role, {}).get(action)


def can(actor: Actor, action: str) -> bool:
    """Returns True when the actor's role grants `action` in some scope."""
    return scope_of(actor, action) is not None


def require(
    actor: Actor,
    action: str,
    *,
    db: Session | None = None,
    target_type: str | None = None,
    target_id: str | int | None = None,
    source_address: str | None = None,
    audit: AuditWriter | None = None,
) -> Scope:
    """Returns the actor's scope for `action`, or audits the denial and raises PermissionDenied (403)."""
    scope = scope_of(actor, action)
    if scope is not None:
        return scope
    record = AuditRecord.of(
        actor,
        action,
        outcome=AuditOutcome.denied,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        source_address=source_address,
        detail={"reason": "role lacks the permission"},
    )
    (audit or write_to_session)(db, record)
    raise PermissionDenied(
        f"role '{actor.role}' ({ROLE_LABELS_ZH.get(actor.role, actor.role)}) may not {action}",
        audit_record=record,
        action=action,
        role=str(actor.role),
    )


def scope_condition(
    actor: Actor,
    action: str,
    *,
    area_path: Any = None,
    unit_ids: Iterable[Any] = (),
    unit_lists: Iterable[Any] = (),
    owner_id: Any = None,
) -> ColumnElement[bool]:
    """Returns the WHERE condition limiting rows to the actor's scope for `action`, given the row's columns.

    `area_path` is the row's area path column (subtree match), `unit_ids` columns holding one unit id,
    `unit_lists` JSON columns holding a list of unit ids, `owner_id` the column naming who reported it.
    A role without the action, or a scope the row has no column for, matches nothing.
    """
    scope = scope_of(actor, action)
    if scope is None:
        return false()
    if scope is Scope.all:
        return true()
    if scope is Scope.area:
        if actor.scope_path is None:
            return true()
        if area_path is None:
            return false()
        return area_path.startswith(actor.scope_path, autoescape=True)
    if scope is Scope.unit:
        conditions = [column == actor.unit_id for column in unit_ids]
        conditions += [json_list_contains(column, actor.unit_id) for column in unit_lists]
        if actor.unit_id is None or not conditions:
            return false()
        return or_(*conditions)
    if owner_id is None or actor.user_id is None:
        return false()
    return owner_id == actor.user_id


S = TypeVar("S", bound=Select[Any])


def restrict(stmt: S, actor: Actor, action: str) -> S:
    """Returns `stmt` (a select over Case) limited to the cases `actor` may take `action` on."""
    return stmt.where(
        scope_condition(
            actor,
            action,
            area_path=Case.area_path,
            unit_ids=(Case.handling_unit_id,),
            unit_lists=(Case.co_unit_ids,),
            owner_id=Case.reporter_user_id,
        )
    )


def check_case(
    db: Session,
    actor: Actor,
    action: str,
    case_id: int,
    *,
    source_address: str | None = None,
    audit: AuditWriter | None = None,
) -> Case:
    """Returns the case re-selected through `restrict` in the caller's transaction; out of scope is a 404.

    A role without `action` gets PermissionDenied (403); a case outside the actor's scope raises OutOfScope,
    worded exactly like a missing case, and the attempt is audited.
    """
    require(actor, action, db=db, target_type="case", target_id=case_id, source_address=source_address, audit=audit)
    case = db.scalars(restrict(select(Case).where(Case.id == case_id), actor, action)).one_or_none()
    if case is not None:
        return case
    message = f"case {case_id} not found"
    if db.scalar(select(Case.id).where(Case.id == case_id)) is None:
        raise NotFoundError(message)
    record = AuditRecord.of(
        actor,
        action,
        outcome=AuditOutcome.denied,
        target_type="case",
        target_id=str(case_id),
        source_address=source_address,
        detail={"reason": "outside the user's scope", "scope": str(scope_of(actor, action))},
    )
    (audit or write_to_session)(db, record)
    raise OutOfScope(message, audit_record=record)


def defer_audit(_db: Session | None, _record: AuditRecord) -> None:
    """Audit writer for request handlers: the denial is written by `core.auth.after_request` once the request's
    (rolled-back) transaction has ended, so it survives the rollback and is written exactly once."""


# Actions that hand a case away by design (a unit returning it), so that it may leave the actor's scope.
HANDS_AWAY = frozenset({Action.return_})


def recheck_after_action(
    db: Session, actor: Actor, action: Action, case: Case, *, source_address: str | None = None
) -> None:
    """Re-selects a case just changed by a state-machine action through the actor's scope (STYLE rule 13)."""
    if action not in HANDS_AWAY:
        recheck_case(db, actor, CASE_ACTION_PERMISSIONS[action], case, source_address=source_address, audit=defer_audit)


def recheck_case(
    db: Session,
    actor: Actor,
    action: str,
    case: Case,
    *,
    source_address: str | None = None,
    audit: AuditWriter | None = None,
) -> None:
    """Raises PermissionDenied (403) when a case just written falls outside the actor's scope for `action`."""
    db.flush()
    visible = db.scalar(restrict(select(Case.id).where(Case.id == case.id), actor, action))
    if visible is not None:
        return
    record = AuditRecord.of(
        actor,
        action,
        outcome=AuditOutcome.denied,
        target_type="case",
        target_id=str(case.id),
        source_address=source_address,
        detail={"reason": "the written case lies outside the user's scope", "area_path": case.area_path},
    )
    (audit or write_to_session)(db, record)
    raise PermissionDenied(
        f"this case lies outside your area or unit ({actor.scope_path or 'no scope'}): you may not {action} it",
        audit_record=record,
        action=action,
    )


class json_list_contains(FunctionElement[bool]):  # lower case: a SQL construct, named like func.* ones
    """SQL condition: the JSON list in `column` holds the integer `value` (JSONB @> or SQLite json_each)."""

    type = Boolean()
    inherit_cache = True
    name = "json_list_contains"

    def __init__(self, column: Any, value: int | None) -> None:
        super().__init__(column, literal(value, Integer))


@compiles(json_list_contains, "postgresql")
def _json_list_contains_postgresql(element: json_list_contains, compiler: Any, **kw: Any) -> str:
    column, value = list(element.clauses)
    # NOTE: @> on JSONB can use a GIN index should one ever be added; the cast gives the parameter a type.
    return f"({compiler.process(column, **kw)} @> jsonb_build_array(CAST({compiler.process(value, **kw)} AS INTEGER)))"


@compiles(json_list_contains, "sqlite")
def _json_list_contains_sqlite(element: json_list_contains, compiler: Any, **kw: Any) -> str:
    column, value = list(element.clauses)
    return (
        f"EXISTS (SELECT 1 FROM json_each({compiler.process(column, **kw)}) "
        f"WHERE json_each.value = {compiler.process(value, **kw)})"
    )


@compiles(json_list_contains)
def _json_list_contains_other(element: json_list_contains, compiler: Any, **kw: Any) -> str:
    raise CompileError(f"json_list_contains supports SQLite and PostgreSQL, not {compiler.dialect.name}")


def permissions_markdown() -> str:
    """Returns the permission reference (docs/permissions.md) generated from PERMISSIONS and ACTIONS."""
    roles = list(PERMISSIONS)
    lines = [
        "# Permissions",
        "",
        "<!-- Generated by `gridgov users permissions --markdown --out docs/permissions.md`"
        " from gridgov/core/permissions.py; do not edit by hand (a test compares them). -->",
        "",
        "What each role may do, and how far: a role either lacks an action (the API answers 403, and the",
        "attempt is audited) or holds it within one scope. A case outside the scope is answered like a",
        "missing one (404), and that attempt is audited too. An API token is further limited to its scopes",
        "(last column). See [users.md](users.md) for roles, area scopes, login, tokens and the audit log.",
        "",
        "## Scopes",
        "",
        "| scope | the action reaches |",
        "|---|---|",
        *(f"| `{scope}` | {label} |" for scope, label in SCOPE_LABELS.items()),
        "",
        "An empty cell: the role may not take the action.",
        "",
        "## Roles × actions",
        "",
        "| action | " + " | ".join(f"`{role}`<br>{ROLE_LABELS_ZH[role]}" for role in roles) + " | token scope |",
        "|---|" + "---|" * len(roles) + "---|",
    ]
    for action in ACTIONS:
        cells = [str(PERMISSIONS[role].get(action, "")) for role in roles]
        lines.append(f"| `{action}` | " + " | ".join(cells) + f" | `{ACTION_TOKEN_SCOPES[action]}` |")
    lines += ["", "## Actions", "", "| action | covers |", "|---|---|"]
    lines += [f"| `{action}` | {text} |" for action, text in ACTIONS.items()]
    lines += [
        "",
        "## Case actions of the state machine",
        "",
        "Each action of the case lifecycle needs one permission; the state machine then checks the stage and",
        "the role, and the case service the finer rules (the handler's own unit, 巡办分离 ...).",
        "",
        "| case action | permission |",
        "|---|---|",
    ]
    lines += [f"| `{action}` | `{permission}` |" for action, permission in CASE_ACTION_PERMISSIONS.items()]
    return "\n".join(lines) + "\n"
