"""The case lifecycle as one explicit transition table: which action may happen in which stage, by whom.

Rules that need more than the stage and the role (the handler's own unit, 巡办分离, approvals, evidence)
are checked in `service.py`; this table is the single answer to "is this action legal now?".
"""

from __future__ import annotations

from dataclasses import dataclass

from gridgov.core.errors import Conflict, Forbidden
from gridgov.domains.auth.enums import Role
from gridgov.domains.cases.enums import Action, CaseStage

S = CaseStage
DISPATCHERS = frozenset({Role.district_dispatcher, Role.street_dispatcher})
HANDLERS = frozenset({Role.unit_handler, Role.community_secretary, Role.grid_worker})
LEADERS = frozenset({Role.district_leader})
SYSTEM = frozenset({Role.system})


@dataclass(frozen=True)
class Transition:
    """One row of the table: `action` is legal in `sources` for `roles`; `target` None keeps the stage."""

    action: Action
    sources: frozenset[CaseStage]
    target: CaseStage | None
    roles: frozenset[Role]


def _t(action: Action, sources: set[CaseStage], target: CaseStage | None, roles: frozenset[Role]) -> Transition:
    return Transition(action, frozenset(sources), target, roles)


_OPEN_WORK = {S.dispatched, S.signed, S.handling, S.handled}
_ANY_OPEN = {S.reported, S.verifying, S.registered, S.returned, *_OPEN_WORK}

TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        _t(Action.confirm, {S.verifying}, S.registered, DISPATCHERS | {Role.grid_worker}),
        _t(Action.register, {S.reported, S.verifying}, S.registered, DISPATCHERS | SYSTEM),
        _t(Action.reject, {S.reported, S.verifying, S.registered, S.returned}, S.rejected, DISPATCHERS),
        _t(Action.merge, {S.reported, S.verifying, S.registered, S.returned}, S.merged, DISPATCHERS),
        _t(Action.reclassify, {S.reported, S.verifying, S.registered, S.returned}, None, DISPATCHERS),
        _t(Action.dispatch, {S.registered, S.returned}, S.dispatched, DISPATCHERS | SYSTEM),
        _t(Action.sign, {S.dispatched}, S.signed, HANDLERS),
        _t(Action.return_, {S.dispatched, S.signed}, S.returned, HANDLERS),
        _t(Action.start, {S.signed}, S.handling, HANDLERS),
        _t(Action.finish, {S.signed, S.handling}, S.handled, HANDLERS),
        _t(Action.verify, {S.handled}, S.closed, DISPATCHERS | {Role.grid_worker}),
        _t(Action.rework, {S.handled}, S.handling, DISPATCHERS | {Role.grid_worker}),
        _t(Action.request_extension, {S.dispatched, S.signed, S.handling}, None, HANDLERS),
        _t(Action.decide_extension, {S.dispatched, S.signed, S.handling}, None, DISPATCHERS | LEADERS),
        _t(Action.request_suspension, {S.signed, S.handling}, None, HANDLERS),
        _t(Action.decide_suspension, {S.signed, S.handling}, None, DISPATCHERS | LEADERS),
        _t(Action.resume, {S.signed, S.handling}, None, DISPATCHERS | LEADERS | SYSTEM),
        _t(Action.supervise, _ANY_OPEN, None, DISPATCHERS | LEADERS | SYSTEM),
        _t(Action.escalate, {S.reported, S.verifying, S.registered, S.returned}, None, DISPATCHERS | SYSTEM),
        _t(Action.rate, {S.closed}, None, DISPATCHERS | {Role.citizen, Role.system}),
        _t(Action.reopen, {S.closed}, S.handling, DISPATCHERS | LEADERS | SYSTEM),
        _t(Action.rule_reasonableness, {*_ANY_OPEN, S.closed}, None, DISPATCHERS | LEADERS),
        _t(Action.note, {*_ANY_OPEN, S.closed}, None, frozenset(Role) - {Role.citizen, Role.auditor}),
        _t(Action.warn, _ANY_OPEN, None, SYSTEM),
        _t(Action.overdue, _ANY_OPEN, None, SYSTEM),
    )
}


class IllegalTransition(Conflict):
    """Raised when an action is not legal in the case's stage; carries the actions that are."""

    code = "illegal_transition"

    def __init__(self, action: Action, stage: CaseStage, allowed: list[Action]) -> None:
        super().__init__(
            f"action '{action}' is not allowed in stage '{stage}'; allowed: {', '.join(allowed) or 'none'}",
            stage=str(stage),
            allowed=[str(a) for a in allowed],
        )


class RoleNotAllowed(Forbidden):
    """Raised when the actor's role may not take an action at all."""

    code = "role_not_allowed"

    def __init__(self, action: Action, role: Role) -> None:
        super().__init__(f"role '{role}' may not take action '{action}'", action=str(action), role=str(role))


def allowed_actions(stage: CaseStage, role: Role | None = None) -> list[Action]:
    """Returns the actions legal in `stage` (for `role`, when given), in table order."""
    return [
        t.action
        for t in TRANSITIONS.values()
        if stage in t.sources and (role is None or role in t.roles) and t.roles != SYSTEM
    ]


def check(action: Action, stage: CaseStage, role: Role) -> CaseStage:
    """Returns the stage after `action`, or raises IllegalTransition / RoleNotAllowed."""
    transition = TRANSITIONS[action]
    if stage not in transition.sources:
        raise IllegalTransition(action, stage, allowed_actions(stage))
    if role not in transition.roles:
        raise RoleNotAllowed(action, role)
    return transition.target or stage
