"""A plain-Python reading of the base-count definitions, case by case, to check the SQL engine against.

It follows the wording of `counts.BASE_COUNTS` (and docs) directly, with no SQL: slow, obvious, independent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.domains.areas.models import Area
from gridgov.domains.cases.enums import Action, CaseStage, Channel, Reasonableness
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.catalog.enums import Stage
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.evaluation.counts import BASE_COUNTS
from gridgov.domains.evaluation.enums import Dimension
from gridgov.domains.evaluation.periods import Period

Rows = dict[str, dict[str, int | float]]


def reference_rows(db: Session, period: Period, dimension: Dimension) -> Rows:
    """Returns the event-log counts (not population/staff) of `period` by `dimension`, as compute's `rows`."""
    units = {u.id: u.code for u in db.scalars(select(Unit))}
    areas = {a.id: a.code for a in db.scalars(select(Area))}
    matters = {m.id: m for m in db.scalars(select(MatterType))}
    events: dict[int, list[CaseEvent]] = defaultdict(list)
    for event in db.scalars(select(CaseEvent).order_by(CaseEvent.case_id, CaseEvent.seq)):
        if event.occurred_at < period.end:
            events[event.case_id].append(event)

    cases: dict[tuple[str, str], set[int]] = defaultdict(set)
    spoiled: dict[tuple[str, str], set[int]] = defaultdict(set)
    counted: dict[tuple[str, str], int] = defaultdict(int)
    seconds: dict[tuple[str, str], float] = defaultdict(float)

    for case in db.scalars(select(Case)):
        log = events.get(case.id, [])
        if not log:
            continue

        def key(unit: str | None, user: int | None, _case: Case = case) -> str | None:
            return _key(dimension, _case, unit, user, areas, matters)

        def add(
            name: str,
            unit: str | None = None,
            user: int | None = None,
            *,
            ok: bool = True,
            secs: float = 0,
            _case_id: int = case.id,
        ) -> None:
            k = key(unit, user)
            if k is None:
                return
            if BASE_COUNTS[name].aggregate == "cases":
                cases[(k, name)].add(_case_id)
                if not ok:
                    spoiled[(k, name)].add(_case_id)
            elif BASE_COUNTS[name].aggregate == "events":
                counted[(k, name)] += 1
            else:
                cases[(k, name)].add(_case_id)
                seconds[(k, name)] += secs

        _count_case(case, log, period, units, add)

    rows: Rows = defaultdict(dict)
    for (k, name), ids in cases.items():
        if BASE_COUNTS[name].aggregate == "hours":
            value: int | float = round(seconds[(k, name)] / 3600, 2)
        else:
            value = len(ids) - len(spoiled.get((k, name), set()))
        if value:
            rows[k][name] = value
    for (k, name), n in counted.items():
        rows[k][name] = n
    return dict(rows)


def _key(
    dimension: Dimension,
    case: Case,
    unit: str | None,
    user: int | None,
    areas: dict[int, str],
    matters: dict[int, MatterType],
) -> str | None:
    if dimension == Dimension.unit:
        return unit
    if dimension == Dimension.person:
        return None if user is None else str(user)
    if dimension == Dimension.channel:
        return str(case.channel)
    if dimension == Dimension.matter_type:
        return matters[case.matter_type_id].code
    if dimension == Dimension.matter_class:
        return matters[case.matter_type_id].major_code
    area_id = {
        Dimension.grid: case.grid_id,
        Dimension.community: case.community_id,
        Dimension.street: case.street_id,
        Dimension.district: case.district_id,
    }[dimension]
    return areas.get(area_id) if area_id else None


def _count_case(
    case: Case, log: list[CaseEvent], period: Period, units: dict[int, str], add: Callable[..., None]
) -> None:
    """Adds every count one case contributes (its events before the end are `log`)."""
    in_period = [e for e in log if period.start <= e.occurred_at]
    dispatches = [e for e in log if e.action == Action.dispatch]
    handler = dispatches[-1].data.get("unit") if dispatches else None
    returns = [e for e in log if e.action == Action.return_]
    stage_at_end = log[-1].to_stage

    def unit_of(event: CaseEvent) -> str | None:
        return units.get(event.actor_unit_id) if event.actor_unit_id else None

    def deadline_before(event: CaseEvent, clock: Stage):
        earlier = [e for e in log if e.seq < event.seq and e.clock_stage == clock]
        return earlier[-1].deadline_at if earlier else None

    def on_time(event: CaseEvent, clock: Stage) -> bool:
        deadline = deadline_before(event, clock)
        return deadline is None or event.occurred_at <= deadline

    for e in in_period:
        actor = (unit_of(e), e.actor_user_id)
        if e.action == Action.report:
            add("received", handler, e.actor_user_id)
            if case.channel == Channel.patrol:
                add("reports", *actor)
                if not any(x.action == Action.reject for x in log):
                    add("valid_reports", *actor)
        if e.action == Action.dispatch:
            add("dispatched", e.data.get("unit"), e.actor_user_id)
            returned_after = any(r.seq > e.seq for r in returns)
            add("accurate_dispatch", e.data.get("unit"), e.actor_user_id, ok=not returned_after)
        if e.action in (Action.rework, Action.reopen):
            add("rework", handler)
        if e.action == Action.decide_extension and e.data.get("approved") is True:
            add("extended", handler)
        if e.action == Action.return_:
            add("returned", *actor)
        if e.action == Action.overdue:
            add("overdue", handler)
        if e.action == Action.self_handle:
            add("self_handled", *actor)
        if e.action in (Action.verify, Action.rework):
            add("verify_tasks", *actor)
            if on_time(e, Stage.verify):
                add("verified_on_time", *actor)
        if e.action == Action.confirm or (e.action == Action.reject and e.from_stage == CaseStage.verifying):
            add("confirm_tasks", *actor)
            if on_time(e, Stage.register):
                add("confirmed_on_time", *actor)
        if e.action == Action.rate and case.reasonableness != Reasonableness.unreasonable:
            add("rated", handler)
            if e.data.get("satisfaction") in ("satisfied", "basically_satisfied"):
                add("satisfied", handler)
            if e.data.get("satisfaction") == "unsatisfied":
                add("unsatisfied", handler)

    registrations = [e for e in log if e.action in (Action.register, Action.confirm, Action.self_handle)]
    if registrations and registrations[0].occurred_at >= period.start:
        first = registrations[0]
        add("registered", unit_of(first), first.actor_user_id)
        if on_time(first, Stage.register):
            add("registered_on_time", unit_of(first), first.actor_user_id)

    handle_events = [e for e in log if e.clock_stage == Stage.handle]
    if handle_events:
        last = handle_events[-1]
        deadline = last.deadline_at
        returned_in_time = any(r.seq > last.seq and r.occurred_at <= deadline for r in returns)
        if deadline is not None and period.start <= deadline < period.end and not returned_in_time:
            add("due", handler)
            if stage_at_end == CaseStage.closed:
                add("closed", handler)
                finishes = [e for e in log if e.action == Action.finish]
                if finishes[-1].occurred_at <= deadline:
                    add("closed_on_time", handler)
                else:
                    add("closed_late", handler)
            else:
                add("open_overdue", handler)

    closures = [e for e in in_period if e.action == Action.verify]
    if closures:
        closure = closures[-1]
        before = [e for e in log if e.seq < closure.seq]
        starts = [e for e in before if e.action in (Action.dispatch, Action.reopen)]
        finishes = [e for e in before if e.action == Action.finish]
        if starts and finishes:
            secs = round((finishes[-1].occurred_at - starts[-1].occurred_at).total_seconds())
            add("handled", handler)
            add("handle_hours", handler, secs=secs)
