"""Random case histories driven through the real services: every kind of event, at random times around the end of
November 2026 (so periods cut through them), for comparing the engines with each other and with `reference`.
"""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core.errors import DomainError
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import CaseStage, Channel, Reasonableness, Satisfaction
from gridgov.domains.cases.models import Case
from gridgov.domains.catalog.models import Unit
from gridgov.domains.intake.schemas import SelfHandledIn
from tests.domains.cases.world import World
from tests.domains.evaluation.scenario import at, ctx, photo, submit, sweep

STREETS = ("410105001", "410105002")
MATTERS = ("SJ0102", "SJ0102", "SJ0501", "BJ0101", "ZZ0101", "SJ0601")
STEPS = (
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=40),
    dt.timedelta(hours=3),
    dt.timedelta(hours=20),
    dt.timedelta(days=3),
)


class Cast:
    """Actors of the random world: grid workers per community, dispatchers per street, a handler per unit."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.units = {u.code: u for u in world.db.scalars(select(Unit))}
        self.district = world.actor(Role.district_dispatcher, "CENTRE", user_id=301, name="区值班长")
        self.leader = world.actor(Role.district_leader, "CENTRE", user_id=401, name="区领导")
        self.citizen = Actor(name="市民", role=Role.citizen)
        communities = [f"{street}{n}" for street in STREETS for n in ("001", "002")]
        self.workers = {w.user_id: w for w in (self.grid_worker(c, n) for c in communities for n in (1, 2))}

    def grid_worker(self, community: str, n: int) -> Actor:
        user_id = 1000 + int(community[-4:]) * 10 + n
        return self.world.actor(Role.grid_worker, f"{community}-JWH", user_id=user_id, name=f"网格员{user_id}")

    def dispatcher(self, street: str) -> Actor:
        return self.world.actor(Role.street_dispatcher, f"{street}-CYZX", user_id=200 + int(street[-1]), name="派遣员")

    def handler(self, unit_id: int) -> Actor:
        unit = next(u for u in self.units.values() if u.id == unit_id)
        return Actor(name=f"{unit.code}处置员", role=Role.unit_handler, user_id=5000 + unit_id, unit_id=unit_id)

    def verifier(self, case: Case) -> Actor:
        """The patrol case's reporter (巡办分离 assigns it), else the district dispatcher."""
        return self.workers.get(case.verifier_user_id, self.district)


def _where(rng: random.Random) -> tuple[tuple[float, float], str]:
    x, y = rng.uniform(10, 990), rng.uniform(10, 990)
    street = STREETS[0] if x < 500 else STREETS[1]
    return (x, y), f"{street}{'001' if y >= 500 else '002'}"


def play(db: Session, world: World, *, cases: int = 120, seed: int = 7) -> list[int]:
    """Makes `cases` cases with random histories between 2026-10-28 and mid-December; returns their ids."""
    rng = random.Random(seed)
    cast = Cast(world)
    evidence = [photo(db, "r")]
    ids = []
    for n in range(cases):
        xy, community = _where(rng)
        street = community[:9]
        when = at(28, 8, month=10) + dt.timedelta(minutes=rng.randrange(0, 40 * 24 * 60, 7))
        channel = rng.choice((Channel.patrol, Channel.patrol, Channel.snapshot, Channel.hotline))
        matter = rng.choice(MATTERS)
        worker = cast.grid_worker(community, 1 + n % 2)
        reporter = {Channel.patrol: worker, Channel.snapshot: cast.citizen, Channel.hotline: cast.dispatcher(street)}
        extra: dict[str, object] = {}
        if channel == Channel.patrol and matter in ("SJ0102", "ZZ0101") and rng.random() < 0.2:
            extra["self_handled"] = SelfHandledIn(result="当场处置", evidence=evidence)
        try:
            with db.begin_nested():
                case = submit(db, reporter[channel], when, xy, matter=matter, channel=channel, **extra)
        except DomainError:
            continue
        ids.append(case.id)
        for _ in range(rng.randrange(2, 12)):
            when += rng.choice(STEPS)
            if case.is_open and rng.random() < 0.3:
                sweep(db, case, when)
            _step(db, rng, cast, case, when, street, worker, evidence)
            if case.stage in (CaseStage.rejected, CaseStage.merged):
                break
    db.flush()
    return ids


def _step(
    db: Session,
    rng: random.Random,
    cast: Cast,
    case: Case,
    when: dt.datetime,
    street: str,
    worker: Actor,
    evidence: list[str],
) -> None:
    """Takes one plausible action on the case (skipped when the services refuse it)."""
    s = case_service
    stage, roll = case.stage, rng.random()
    handler = cast.handler(case.handling_unit_id) if case.handling_unit_id else None
    dispatcher = rng.choice((cast.district, cast.dispatcher(street)))
    actions = []
    if stage == CaseStage.verifying:
        actions = [lambda: s.confirm(db=db, case=case, ctx=ctx(worker, when))] * 3
        actions.append(lambda: s.reject(db=db, case=case, ctx=ctx(dispatcher, when), reason_code="not_a_problem"))
    elif stage in (CaseStage.registered, CaseStage.returned):
        unit = cast.units[rng.choice((f"{street}-HWS", f"{street}-CGZD", "CGJ", "WATER"))]
        dispatch = lambda: s.dispatch(db=db, case=case, unit=unit, co_units=[], ctx=ctx(dispatcher, when))  # noqa: E731
        actions = [dispatch, dispatch, dispatch]
        actions.append(lambda: s.reject(db=db, case=case, ctx=ctx(dispatcher, when), reason_code="invalid"))
    elif case.pending_request and case.pending_request.get("kind") == "extension":
        approver = cast.leader if roll < 0.3 else dispatcher
        actions = [lambda: s.decide_extension(db=db, case=case, ctx=ctx(approver, when), approve=rng.random() < 0.7)]
    elif stage == CaseStage.dispatched and handler:
        actions = [lambda: s.sign(db=db, case=case, ctx=ctx(handler, when))] * 3
        actions.append(lambda: s.return_case(db=db, case=case, ctx=ctx(handler, when), reason_code="dispatch_error"))
    elif stage in (CaseStage.signed, CaseStage.handling) and handler:
        finish = lambda: s.finish(db=db, case=case, ctx=ctx(handler, when), result="已处置", evidence=evidence)  # noqa: E731
        actions = [finish, finish, finish, lambda: s.start(db=db, case=case, ctx=ctx(handler, when))]
        actions.append(
            lambda: s.request_extension(
                db=db, case=case, ctx=ctx(handler, when), amount=rng.choice((2, 8, 24)), reason="需要时间"
            )
        )
        if stage == CaseStage.signed:
            actions.append(
                lambda: s.return_case(db=db, case=case, ctx=ctx(handler, when), reason_code="dispatch_error")
            )
    elif stage == CaseStage.handled:
        verifier = cast.verifier(case)
        actions = [lambda: s.verify(db=db, case=case, ctx=ctx(verifier, when), ok=True)] * 2
        actions.append(lambda: s.verify(db=db, case=case, ctx=ctx(verifier, when), ok=False, note="不合格"))
    elif stage == CaseStage.closed:
        rater = cast.citizen if case.channel == Channel.snapshot else cast.district
        rating = rng.choice(list(Satisfaction))
        actions = [lambda: s.rate(db=db, case=case, ctx=ctx(rater, when), satisfaction=rating)] * 2
        ruling = rng.choice(list(Reasonableness))
        actions.append(
            lambda: s.rule_reasonableness(
                db=db,
                case=case,
                ctx=ctx(cast.district, when),
                ruling=ruling,
                reason_code="beyond_public_duty",
                note="认定",
            )
        )
    if not actions:
        return
    try:
        with db.begin_nested():
            rng.choice(actions)()
            db.flush()
    except DomainError:
        pass
