"""The closed loop end to end at service level: intake → register → dispatch → sign → finish → verify → close."""

from __future__ import annotations

import datetime as dt

import pytest

from gridgov.core.errors import Forbidden, Invalid
from gridgov.domains.auth.enums import Role
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Action, CaseStage, Channel
from gridgov.domains.cases.models import MediaFile
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake
from gridgov.domains.intake.schemas import CaseSubmit
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import COMMUNITY_W_N, STREET_W, point


def report(matter: str = "SJ0102", channel: Channel = Channel.patrol, at=None, **extra) -> CaseSubmit:
    lng, lat = at or point()
    return CaseSubmit(
        channel=channel, matter_type=matter, title="路边暴露垃圾", description="一堆生活垃圾", lng=lng, lat=lat, **extra
    )


def photo(db, name: str = "a") -> str:
    sha = (name * 64)[:64]
    if db.get(MediaFile, sha) is None:
        db.add(MediaFile(sha256=sha, content_type="image/jpeg", size=10, created_at=T0))
        db.flush()
    return sha


def ctx(actor, minutes: float = 0) -> Context:
    return Context.of(actor, now=T0 + dt.timedelta(minutes=minutes))


def test_patrol_report_is_registered_and_auto_dispatched_then_closed(world, db):
    result = intake.submit(db=db, report=report(), ctx=ctx(world.grid_worker))
    case = result.case
    assert result.created
    assert case.number == f"410105-20261125-{1:06d}"
    assert case.stage == CaseStage.dispatched
    assert case.handling_unit_id == world.unit(f"{STREET_W}-HWS").id
    assert case.grid_id == world.area("410105001001001").id
    assert case.street_id == world.area(STREET_W).id
    assert case.area_path == world.area("410105001001001").path  # the grid's own path, for subtree filters
    assert case.registered_at == case.dispatched_at == T0
    # handling clock: 4 working hours from 09:00: 3 h until 12:00, lunch until 14:00, 1 h more
    assert case.handle_due_at == dt.datetime(2026, 11, 25, 15, 0, tzinfo=T0.tzinfo)
    assert case.verifier_user_id == world.grid_worker.user_id

    handler = world.sanitation
    case_service.sign(db=db, case=case, ctx=ctx(handler, 5))
    with pytest.raises(Invalid, match="requires a photo"):
        case_service.finish(db=db, case=case, ctx=ctx(handler, 60), result="已清理")
    case_service.finish(db=db, case=case, ctx=ctx(handler, 60), result="已清理", evidence=[photo(db)])
    assert case.stage == CaseStage.handled
    case_service.verify(db=db, case=case, ctx=ctx(world.grid_worker, 90), ok=True)
    assert case.stage == CaseStage.closed and not case.is_open
    assert case.closed_at == T0 + dt.timedelta(minutes=90)

    events = case_service.timeline(db=db, case=case)
    assert [(e.action, e.from_stage, e.to_stage) for e in events] == [
        (Action.report, None, CaseStage.reported),
        (Action.register, CaseStage.reported, CaseStage.registered),
        (Action.dispatch, CaseStage.registered, CaseStage.dispatched),
        (Action.sign, CaseStage.dispatched, CaseStage.signed),
        (Action.finish, CaseStage.signed, CaseStage.handled),
        (Action.verify, CaseStage.handled, CaseStage.closed),
    ]
    assert [e.seq for e in events] == list(range(1, 7))
    assert events[2].deadline_at == case.handle_due_at
    assert [a.kind for a in case.attachments] == ["after"]


def test_nobody_of_the_handling_unit_verifies_its_case(world, db):
    # 矛盾纠纷 goes to the community committee, which is also the grid workers' unit.
    case = intake.submit(db=db, report=report(matter="ZZ0101"), ctx=ctx(world.grid_worker)).case
    secretary = world.actor(Role.community_secretary, f"{COMMUNITY_W_N}-JWH", user_id=601)
    assert case.handling_unit_id == secretary.unit_id
    case_service.sign(db=db, case=case, ctx=ctx(secretary))
    case_service.finish(db=db, case=case, ctx=ctx(secretary), result="已调解")
    for colleague in (world.grid_worker, world.other_grid_worker):
        with pytest.raises(Forbidden, match="巡办分离"):
            case_service.verify(db=db, case=case, ctx=ctx(colleague), ok=True)
    case_service.verify(db=db, case=case, ctx=ctx(world.street_dispatcher), ok=True)
    assert case.stage == CaseStage.closed
