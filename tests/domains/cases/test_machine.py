"""The transition table against the lifecycle as documented (DESIGN.md §3, DOMAIN.md §2.2), pair by pair."""

from __future__ import annotations

import itertools

import pytest

from gridgov.domains.auth.enums import Role
from gridgov.domains.cases import machine
from gridgov.domains.cases.enums import Action, CaseStage

S, A = CaseStage, Action
OPEN = {S.reported, S.verifying, S.registered, S.returned, S.dispatched, S.signed, S.handling, S.handled}
KEEP = None  # the action keeps the stage

# Written out by hand from the documented lifecycle, independent of machine.py: (stage, action) → target.
EXPECTED: dict[tuple[CaseStage, Action], CaseStage | None] = {
    (S.verifying, A.confirm): S.registered,
    (S.reported, A.register): S.registered,
    (S.verifying, A.register): S.registered,
    **{(s, A.reject): S.rejected for s in (S.reported, S.verifying, S.registered, S.returned)},
    **{(s, A.merge): S.merged for s in (S.reported, S.verifying, S.registered, S.returned)},
    **{(s, A.reclassify): None for s in (S.reported, S.verifying, S.registered, S.returned)},
    (S.registered, A.dispatch): S.dispatched,
    (S.returned, A.dispatch): S.dispatched,
    (S.dispatched, A.sign): S.signed,
    (S.dispatched, A.return_): S.returned,
    (S.signed, A.return_): S.returned,
    (S.signed, A.start): S.handling,
    (S.signed, A.finish): S.handled,
    (S.handling, A.finish): S.handled,
    (S.handled, A.verify): S.closed,
    (S.handled, A.rework): S.handling,
    **{(s, A.request_extension): KEEP for s in (S.dispatched, S.signed, S.handling)},
    **{(s, A.decide_extension): KEEP for s in (S.dispatched, S.signed, S.handling)},
    **{(s, a): KEEP for s in (S.signed, S.handling) for a in (A.request_suspension, A.decide_suspension, A.resume)},
    **{(s, A.supervise): KEEP for s in OPEN},
    **{(s, A.escalate): KEEP for s in (S.reported, S.verifying, S.registered, S.returned)},
    (S.closed, A.rate): KEEP,
    (S.closed, A.reopen): S.handling,
    **{(s, A.rule_reasonableness): KEEP for s in OPEN | {S.closed}},
    **{(s, A.note): KEEP for s in OPEN | {S.closed}},
    **{(s, A.warn): KEEP for s in OPEN},
    **{(s, A.overdue): KEEP for s in OPEN},
}
# Actions that only intake performs (they create the case or its first handling) are not transitions.
INTAKE_ONLY = {A.report, A.self_handle}


def _a_role_for(action: Action) -> Role:
    return sorted(machine.TRANSITIONS[action].roles)[0]


@pytest.mark.parametrize(
    ("stage", "action"), list(itertools.product(CaseStage, [a for a in Action if a not in INTAKE_ONLY]))
)
def test_every_stage_action_pair(stage, action):
    role = _a_role_for(action)
    if (stage, action) in EXPECTED:
        target = EXPECTED[(stage, action)]
        assert machine.check(action, stage, role) == (target or stage)
    else:
        with pytest.raises(machine.IllegalTransition) as raised:
            machine.check(action, stage, role)
        assert raised.value.status == 409
        assert raised.value.details["allowed"] == [str(a) for a in machine.allowed_actions(stage)]


def test_terminal_stages_allow_nothing_but_the_after_closure_actions():
    assert machine.allowed_actions(S.rejected) == []
    assert machine.allowed_actions(S.merged) == []
    assert set(machine.allowed_actions(S.closed)) == {A.rate, A.reopen, A.rule_reasonableness, A.note}


@pytest.mark.parametrize(
    ("action", "stage", "role"),
    [
        (A.dispatch, S.registered, Role.unit_handler),  # handlers never dispatch
        (A.sign, S.dispatched, Role.street_dispatcher),  # dispatchers never sign for a unit
        (A.register, S.reported, Role.grid_worker),
        (A.decide_extension, S.handling, Role.unit_handler),  # no approving one's own request
        (A.rate, S.closed, Role.unit_handler),
        (A.warn, S.handling, Role.district_dispatcher),  # SLA marks are the system's
        (A.note, S.handling, Role.citizen),
    ],
)
def test_roles_that_may_not_act(action, stage, role):
    with pytest.raises(machine.RoleNotAllowed) as raised:
        machine.check(action, stage, role)
    assert raised.value.status == 403


def test_allowed_actions_for_a_role_hide_system_marks():
    assert machine.allowed_actions(S.handled, Role.grid_worker) == [A.verify, A.rework, A.note]
    assert A.warn not in machine.allowed_actions(S.handling)
