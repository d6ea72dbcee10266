"""Case commands: intake rules, dispatch precedence, returns and final rulings, approvals, ratings, duplicates."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gridgov.core.errors import Conflict, Forbidden, Invalid
from gridgov.domains.auth.enums import Role
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Action, CaseStage, Channel, Reasonableness, Satisfaction
from gridgov.domains.cases.machine import IllegalTransition, RoleNotAllowed
from gridgov.domains.cases.models import Case, CaseContact, CaseEvent
from gridgov.domains.cases.public import public_view
from gridgov.domains.intake import service as intake
from gridgov.domains.intake.schemas import CaseSubmit, ContactIn, SelfHandledIn
from tests.domains.areas.synthetic import lnglat
from tests.domains.cases.conftest import T0
from tests.domains.cases.test_flow import ctx, photo, report
from tests.domains.cases.world import STREET_E, STREET_W, point


def submit(world, db, actor=None, minutes: float = 0, key: str | None = None, **kwargs) -> Case:
    return intake.submit(
        db=db, report=report(**kwargs), ctx=ctx(actor or world.grid_worker, minutes), idempotency_key=key
    ).case


def dispatched_case(world, db, **kwargs) -> Case:
    case = submit(world, db, **kwargs)
    assert case.stage == CaseStage.dispatched
    return case


def signed_case(world, db, **kwargs) -> Case:
    case = dispatched_case(world, db, **kwargs)
    case_service.sign(db=db, case=case, ctx=ctx(world.sanitation, 1))
    return case


# --- intake ---------------------------------------------------------------------------------------------------


def test_public_reports_wait_for_on_site_verification(world, db):
    case = intake.submit(
        db=db,
        report=report(channel=Channel.snapshot, contact=ContactIn(name="张三", phone="13800000000")),
        ctx=ctx(world.citizen),
    ).case
    assert case.stage == CaseStage.verifying
    assert case.tracking_code and len(case.tracking_code) == 10
    assert case.register_due_at == T0 + dt.timedelta(minutes=30)
    assert db.get(CaseContact, case.id).phone == "13800000000"
    assert "13800000000" not in (case.title + case.description)
    assert case.dispatch_candidates[0]["unit_code"] == f"{STREET_W}-HWS"

    case_service.confirm(db=db, case=case, ctx=ctx(world.grid_worker, 10))
    assert case.stage == CaseStage.dispatched  # one rule → auto-dispatched once confirmed
    assert [e.action for e in case_service.timeline(db=db, case=case)] == [
        Action.report,
        Action.confirm,
        Action.dispatch,
    ]


def test_unknown_matter_type_and_outside_location_are_refused_with_the_nearest_grid(world, db):
    with pytest.raises(Invalid, match="unknown matter type 'XX'"):
        submit(world, db, matter="XX")
    with pytest.raises(Invalid, match=r"outside the district's grids; nearest grid .*\(410105001002003\) is \d+ m"):
        submit(world, db, at=lnglat(100, -300))
    assert db.scalar(select(Case.id)) is None


def test_gcj02_coordinates_are_converted_at_intake(world, db):
    from gridgov.core.geo import wgs84_to_gcj02

    lng, lat = point()
    glng, glat = wgs84_to_gcj02(lng, lat)
    case = intake.submit(
        db=db,
        report=CaseSubmit(
            channel=Channel.patrol, matter_type="SJ0102", title="t", lng=float(glng), lat=float(glat), crs="gcj02"
        ),
        ctx=ctx(world.grid_worker),
    ).case
    assert case.lng == pytest.approx(lng, abs=1e-6) and case.lat == pytest.approx(lat, abs=1e-6)


def test_a_retry_with_the_same_key_returns_the_first_case(world, db):
    first = intake.submit(db=db, report=report(), ctx=ctx(world.grid_worker), idempotency_key="k-1")
    again = intake.submit(db=db, report=report(), ctx=ctx(world.grid_worker, 1), idempotency_key="k-1")
    assert first.created and not again.created
    assert again.case.id == first.case.id
    assert db.scalar(select(text("count(*)")).select_from(Case)) == 1


def test_external_ids_are_unique_per_channel(world, db):
    hotline = world.district_dispatcher
    one = intake.submit(db=db, report=report(channel=Channel.hotline, external_id="GD-1"), ctx=ctx(hotline))
    two = intake.submit(db=db, report=report(channel=Channel.hotline, external_id="GD-1"), ctx=ctx(hotline))
    assert one.created and not two.created and one.case.id == two.case.id


def test_case_numbers_run_per_district_and_local_day(world, db):
    a = submit(world, db)
    b = submit(world, db, minutes=1)
    late = submit(world, db, minutes=15 * 60 + 30)  # 00:30 on 26 Nov in Shanghai
    assert (a.number, b.number) == ("410105-20261125-000001", "410105-20261125-000002")
    assert late.number == "410105-20261126-000001"


def test_channels_are_restricted_to_their_reporters(world, db):
    with pytest.raises(Forbidden, match="may not report through channel 'patrol'"):
        submit(world, db, actor=world.citizen)
    with pytest.raises(Forbidden, match="self-handle"):
        intake.submit(
            db=db,
            report=report(channel=Channel.snapshot, self_handled=SelfHandledIn(result="ok")),
            ctx=ctx(world.citizen),
        )


def test_self_handled_report_needs_evidence_and_another_person_to_verify(world, db):
    with pytest.raises(Invalid, match="requires a photo"):
        intake.submit(db=db, report=report(self_handled=SelfHandledIn(result="已清理")), ctx=ctx(world.grid_worker))
    sha = photo(db)
    case = intake.submit(
        db=db, report=report(self_handled=SelfHandledIn(result="已清理", evidence=[sha])), ctx=ctx(world.grid_worker)
    ).case
    assert case.stage == CaseStage.handled
    assert case.verify_due_at is not None
    with pytest.raises(Forbidden, match="巡办分离"):
        case_service.verify(db=db, case=case, ctx=ctx(world.grid_worker, 5), ok=True)
    case_service.verify(db=db, case=case, ctx=ctx(world.other_grid_worker, 5), ok=True)
    assert case.stage == CaseStage.closed


def test_duplicates_are_suggested_within_radius_window_and_by_text_or_matter_type(world, db):
    first = submit(world, db)
    near = intake.submit(db=db, report=report(at=point(140, 880)), ctx=ctx(world.grid_worker, 30))  # 20 m away
    assert [(d.number, round(d.distance_m)) for d in near.duplicates] == [(first.number, 20)]
    far = intake.submit(db=db, report=report(at=point(200, 880)), ctx=ctx(world.grid_worker, 30))  # 80 m away
    assert far.duplicates == []
    # Another matter type with another text is a different problem; with the same text, a likely misfiled duplicate.
    vendor = report(matter="SJ0501").model_copy(update={"title": "人行道上有人摆摊卖水果", "description": ""})
    assert intake.submit(db=db, report=vendor, ctx=ctx(world.grid_worker, 30)).duplicates == []
    misfiled = intake.submit(db=db, report=report(matter="SJ0501"), ctx=ctx(world.grid_worker, 30))
    assert first.number in [d.number for d in misfiled.duplicates]
    later = intake.submit(db=db, report=report(), ctx=ctx(world.grid_worker, 73 * 60))
    assert first.number not in [d.number for d in later.duplicates]


# --- dispatch -------------------------------------------------------------------------------------------------


def test_area_rule_overrides_the_district_wide_rule(world, db):
    west = submit(world, db, matter="SJ0501")
    east = submit(world, db, matter="SJ0501", at=point(880, 880))
    assert west.handling_unit_id == world.unit(f"{STREET_W}-CGZD").id
    assert east.handling_unit_id == world.unit("CGJ").id
    assert east.centre_area_id == world.area("410105").id  # district-level matter: the district centre's queue


def test_department_only_matter_goes_to_its_owner_and_never_to_a_community(world, db):
    case = submit(world, db, matter="BJ0101")
    assert case.handling_unit_id == world.unit("WATER").id
    assert case.urgency == "urgent" and case.clock_unit == "natural_hours"
    assert case.handle_due_at == T0 + dt.timedelta(hours=4)
    with pytest.raises(Invalid, match="department-only"):
        case_service.dispatch(
            db=db,
            case=_returned(world, db, case, unit="WATER"),
            unit=world.unit(f"{STREET_W}001-JWH"),
            co_units=[],
            ctx=ctx(world.district_dispatcher),
        )


def test_matters_not_on_the_grid_access_list_never_go_to_a_community(world, db):
    case = submit(world, db, matter="SJ0501")
    _returned(world, db, case, unit=f"{STREET_W}-CGZD")
    with pytest.raises(Invalid, match="grid access list"):
        case_service.dispatch(
            db=db, case=case, unit=world.unit(f"{STREET_W}001-JWH"), co_units=[], ctx=ctx(world.street_dispatcher)
        )


def test_a_rule_nobody_can_resolve_leaves_the_case_queued_with_no_candidates(world, db):
    # ZZ0101 is handled by the community; its rule resolves. Deactivate the community to break it.
    world.unit(f"{STREET_W}001-JWH").is_active = False
    db.flush()
    case = submit(world, db, matter="ZZ0101")
    assert case.stage == CaseStage.registered
    assert case.dispatch_candidates == []
    assert case.centre_area_id == world.area(STREET_W).id


def test_a_low_confidence_classification_waits_with_its_candidates(world, db):
    from gridgov.domains.intake.schemas import ClassificationIn

    case = intake.submit(
        db=db,
        report=report(classification=ClassificationIn(label="SJ0102", confidence=0.55)),
        ctx=ctx(world.grid_worker),
    ).case
    assert case.stage == CaseStage.registered
    assert [c["unit_code"] for c in case.dispatch_candidates] == [f"{STREET_W}-HWS"]
    case_service.dispatch(
        db=db,
        case=case,
        unit=world.unit(f"{STREET_W}-HWS"),
        co_units=[world.unit("CGJ")],
        ctx=ctx(world.street_dispatcher, 5),
    )
    assert case.stage == CaseStage.dispatched and case.co_unit_ids == [world.unit("CGJ").id]
    assert case.hop_count == 1


# --- handling, returns and the final ruling -------------------------------------------------------------------


def _returned(world, db, case: Case, unit: str, minutes: float = 1) -> Case:
    handler = world.actor(Role.unit_handler, unit, user_id=900)
    case_service.return_case(db=db, case=case, ctx=ctx(handler, minutes), reason_code="dispatch_error")
    return case


def test_returns_need_a_reason_and_a_citation_when_they_deny_responsibility(world, db):
    case = dispatched_case(world, db)
    handler = world.sanitation
    with pytest.raises(Invalid, match="unknown return reason"):
        case_service.return_case(db=db, case=case, ctx=ctx(handler), reason_code="lazy")
    with pytest.raises(Invalid, match="must cite"):
        case_service.return_case(db=db, case=case, ctx=ctx(handler), reason_code="not_our_duty")
    case_service.return_case(
        db=db, case=case, ctx=ctx(handler, 10), reason_code="not_our_duty", citation="责任清单 SJ0501: 城管中队"
    )
    assert case.stage == CaseStage.returned and case.return_count == 1 and case.handling_unit_id is None
    event = case_service.timeline(db=db, case=case)[-1]
    assert (event.action, event.reason_code, event.data["citation"]) == (
        Action.return_,
        "not_our_duty",
        "责任清单 SJ0501: 城管中队",
    )
    assert case.dispatch_due_at == T0 + dt.timedelta(minutes=40)  # the dispatch clock restarts


def test_other_units_cannot_act_as_handler(world, db):
    case = dispatched_case(world, db)
    stranger = world.actor(Role.unit_handler, f"{STREET_E}-HWS", user_id=777)
    with pytest.raises(Forbidden, match="only the handling unit"):
        case_service.sign(db=db, case=case, ctx=ctx(stranger))
    with pytest.raises(Forbidden, match="only the handling unit"):
        case_service.return_case(db=db, case=case, ctx=ctx(stranger), reason_code="dispatch_error")
    assert case.stage == CaseStage.dispatched


def test_after_max_returns_the_district_rules_and_the_unit_cannot_return_again(world, db):
    case = dispatched_case(world, db)
    hws = f"{STREET_W}-HWS"
    _returned(world, db, case, hws, minutes=5)
    case_service.dispatch(db=db, case=case, unit=world.unit(hws), co_units=[], ctx=ctx(world.street_dispatcher, 20))
    assert case.limbo_seconds == 15 * 60
    _returned(world, db, case, hws, minutes=30)
    assert case.is_escalated and case.centre_area_id == world.area("410105").id
    assert [e.action for e in case_service.timeline(db=db, case=case)][-2:] == [Action.return_, Action.escalate]

    case_service.dispatch(db=db, case=case, unit=world.unit(hws), co_units=[], ctx=ctx(world.district_dispatcher, 40))
    assert case.is_final_ruling and case.hop_count == 3
    with pytest.raises(Forbidden, match="final ruling"):
        _returned(world, db, case, hws, minutes=45)


def test_wrong_role_and_illegal_transition(world, db):
    case = dispatched_case(world, db)
    with pytest.raises(RoleNotAllowed):
        case_service.sign(db=db, case=case, ctx=ctx(world.street_dispatcher))
    with pytest.raises(IllegalTransition) as raised:
        case_service.verify(db=db, case=case, ctx=ctx(world.other_grid_worker), ok=True)
    assert "sign" in raised.value.details["allowed"]
    with pytest.raises(IllegalTransition, match="'finish' is not allowed in stage 'dispatched'"):
        case_service.finish(db=db, case=case, ctx=ctx(world.sanitation), result="ok", evidence=[photo(db)])


def test_a_stale_version_is_refused(world, db):
    case = dispatched_case(world, db)
    seen = case.version
    case_service.sign(db=db, case=case, ctx=ctx(world.sanitation), expected_version=seen)
    db.flush()
    with pytest.raises(Conflict, match="changed by someone else") as raised:
        case_service.start(db=db, case=case, ctx=ctx(world.sanitation), expected_version=seen)
    assert raised.value.code == "stale_version"


def test_rework_sends_the_case_back_to_the_handler(world, db):
    case = signed_case(world, db)
    case_service.finish(db=db, case=case, ctx=ctx(world.sanitation, 30), result="已清理", evidence=[photo(db)])
    with pytest.raises(Invalid, match="requires a note"):
        case_service.verify(db=db, case=case, ctx=ctx(world.grid_worker, 40), ok=False)
    case_service.verify(db=db, case=case, ctx=ctx(world.grid_worker, 40), ok=False, note="仍有垃圾")
    assert case.stage == CaseStage.handling and case.rework_count == 1


def test_only_the_assigned_verifier_among_grid_workers(world, db):
    case = signed_case(world, db)
    case_service.finish(db=db, case=case, ctx=ctx(world.sanitation, 30), result="ok", evidence=[photo(db)])
    with pytest.raises(Forbidden, match="assigned verifier"):
        case_service.verify(db=db, case=case, ctx=ctx(world.other_grid_worker, 40), ok=True)
    case_service.verify(db=db, case=case, ctx=ctx(world.street_dispatcher, 40), ok=True)  # the centre may check
    assert case.stage == CaseStage.closed


def test_reject_and_merge(world, db):
    case = intake.submit(db=db, report=report(channel=Channel.snapshot), ctx=ctx(world.citizen)).case
    with pytest.raises(Invalid, match="unknown reject reason"):
        case_service.reject(db=db, case=case, ctx=ctx(world.street_dispatcher), reason_code="meh")
    parent = dispatched_case(world, db)
    child = intake.submit(db=db, report=report(channel=Channel.snapshot), ctx=ctx(world.citizen, 5)).case
    case_service.merge(db=db, case=child, parent=parent, ctx=ctx(world.street_dispatcher, 6))
    assert child.stage == CaseStage.merged and child.parent_id == parent.id and not child.is_open
    assert [c.id for c in case_service.reporters_to_notify(db=db, case=parent)] == [parent.id, child.id]
    case_service.reject(db=db, case=case, ctx=ctx(world.street_dispatcher), reason_code="not_a_problem")
    assert case.stage == CaseStage.rejected and case.rejected_at is not None
    with pytest.raises(Conflict, match="cannot take merged cases"):
        other = intake.submit(db=db, report=report(channel=Channel.snapshot), ctx=ctx(world.citizen, 7)).case
        case_service.merge(db=db, case=other, parent=case, ctx=ctx(world.street_dispatcher, 8))


# --- approvals ------------------------------------------------------------------------------------------------


def test_extension_lengthens_the_clock_and_a_second_one_needs_a_leader(world, db):
    case = dispatched_case(world, db)
    due = case.handle_due_at
    case_service.request_extension(db=db, case=case, ctx=ctx(world.sanitation, 10), amount=2, reason="需协调")
    with pytest.raises(Conflict, match="already has a pending"):
        case_service.request_extension(db=db, case=case, ctx=ctx(world.sanitation, 11), amount=2, reason="again")
    case_service.decide_extension(db=db, case=case, ctx=ctx(world.street_dispatcher, 20), approve=True)
    assert case.is_extended and case.extension_count == 1 and case.pending_request is None
    assert case.handle_due_at == dt.datetime(2026, 11, 25, 17, 0, tzinfo=T0.tzinfo) != due  # 15:00 + 2 wh
    case_service.request_extension(db=db, case=case, ctx=ctx(world.sanitation, 30), amount=1, reason="再延")
    with pytest.raises(Forbidden, match="leader"):
        case_service.decide_extension(db=db, case=case, ctx=ctx(world.street_dispatcher, 31), approve=True)
    case_service.decide_extension(db=db, case=case, ctx=ctx(world.leader, 32), approve=False, note="不批")
    assert case.extension_count == 1 and case.pending_request is None


def test_suspension_pauses_and_resume_lengthens_by_the_paused_working_time(world, db):
    case = signed_case(world, db)
    until = T0 + dt.timedelta(days=1)
    case_service.request_suspension(db=db, case=case, ctx=ctx(world.sanitation, 60), until=until, reason="等材料")
    case_service.decide_suspension(db=db, case=case, ctx=ctx(world.street_dispatcher, 60), approve=True)
    assert case.is_suspended and case.next_check_at == until
    case_service.resume(db=db, case=case, ctx=ctx(world.street_dispatcher, 24 * 60))
    # paused from 10:00 on the 25th to 09:00 on the 26th = 6 working hours (10-12, 14-17:30, 08:30-09:00)
    assert case.clock_limit == pytest.approx(4 + 6)
    assert not case.is_suspended and case.handle_due_at == dt.datetime(2026, 11, 26, 12, 0, tzinfo=T0.tzinfo)


def test_supervision_with_a_new_deadline(world, db):
    case = dispatched_case(world, db)
    with pytest.raises(Invalid, match="requires a note"):
        case_service.supervise(db=db, case=case, ctx=ctx(world.leader), note=" ")
    new = dt.datetime(2026, 11, 25, 11, 0, tzinfo=T0.tzinfo)
    case_service.supervise(db=db, case=case, ctx=ctx(world.leader, 5), note="尽快处理", new_deadline=new)
    assert case.is_supervised and case.handle_due_at == new


def test_escalation_goes_to_the_district_once(world, db):
    case = submit(world, db, matter="ZZ0101")
    world.unit(f"{STREET_W}001-JWH")  # resolves: dispatched to the community
    assert case.stage == CaseStage.dispatched
    queued = intake.submit(db=db, report=report(channel=Channel.snapshot), ctx=ctx(world.citizen)).case
    case_service.escalate(db=db, case=queued, ctx=ctx(world.street_dispatcher), note="需区级协调")
    assert queued.is_escalated and queued.centre_area_id == world.area("410105").id
    with pytest.raises(Conflict, match="already with the district"):
        case_service.escalate(db=db, case=queued, ctx=ctx(world.district_dispatcher), note="again")


def test_escalation_climbs_the_four_levels(world, db):
    case = intake.submit(db=db, report=report(channel=Channel.snapshot), ctx=ctx(world.citizen)).case
    case.centre_area_id = world.area("410105001001001").id  # held by a grid workstation
    climbed = []
    for minutes in (1, 2, 3):
        case_service.escalate(db=db, case=case, ctx=ctx(world.street_dispatcher, minutes), note="需上级协调")
        climbed.append(case_service.timeline(db=db, case=case)[-1].data["to"])
    assert climbed == ["410105001001", STREET_W, "410105"]
    assert case.centre_area_id == world.area("410105").id and case.is_escalated


# --- after closure ---------------------------------------------------------------------------------------------


def closed_case(world, db, minutes: float = 60) -> Case:
    case = signed_case(world, db)
    case_service.finish(db=db, case=case, ctx=ctx(world.sanitation, minutes - 10), result="ok", evidence=[photo(db)])
    case_service.verify(db=db, case=case, ctx=ctx(world.grid_worker, minutes), ok=True)
    return case


def test_an_unsatisfied_rating_within_the_window_reopens_the_case(world, db):
    case = closed_case(world, db)
    case_service.rate(db=db, case=case, ctx=ctx(world.citizen, 120), satisfaction=Satisfaction.unsatisfied)
    assert case.stage == CaseStage.handling and case.rework_count == 1 and case.closed_at is None
    assert case.handle_due_at > T0 + dt.timedelta(minutes=120)
    assert [e.action for e in case_service.timeline(db=db, case=case)][-2:] == [Action.rate, Action.reopen]


def test_ratings_after_the_window_or_satisfied_do_not_reopen(world, db):
    late = closed_case(world, db)
    case_service.rate(db=db, case=late, ctx=ctx(world.citizen, 8 * 24 * 60), satisfaction=Satisfaction.unsatisfied)
    assert late.stage == CaseStage.closed
    happy = closed_case(world, db)
    case_service.rate(db=db, case=happy, ctx=ctx(world.citizen, 100), satisfaction=Satisfaction.satisfied)
    assert happy.stage == CaseStage.closed and happy.satisfaction == Satisfaction.satisfied


def test_reasonableness_ruling_is_kept_on_the_case(world, db):
    case = closed_case(world, db)
    with pytest.raises(Invalid, match="needs a reason"):
        case_service.rule_reasonableness(
            db=db, case=case, ctx=ctx(world.street_dispatcher), note="诉求不合理", ruling=Reasonableness.unreasonable
        )
    event = case_service.rule_reasonableness(
        db=db,
        case=case,
        ctx=ctx(world.street_dispatcher),
        note="诉求不合理",
        ruling=Reasonableness.unreasonable,
        reason_code="beyond_public_duty",
    )
    assert case.reasonableness == Reasonableness.unreasonable and case.stage == CaseStage.closed
    assert event.reason_code == "beyond_public_duty" and event.data["reply"].startswith("Thank you for your report")
    view = public_view(db=db, case=case)  # the reporter reads the template reply, in Chinese by default
    assert view.reply is not None and view.reply.startswith("感谢您的反映") and "诉求不合理" not in str(view)


# --- the log --------------------------------------------------------------------------------------------------


def test_events_are_append_only_in_the_database(world, db):
    case = submit(world, db)
    event_id = case_service.timeline(db=db, case=case)[0].id
    for statement in (
        text("UPDATE case_event SET note = 'edited' WHERE id = :id"),
        text("DELETE FROM case_event WHERE id = :id"),
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
            db.execute(statement, {"id": event_id})
    assert db.get(CaseEvent, event_id).note != "edited"


def test_list_filters(world, db):
    a = submit(world, db)
    b = submit(world, db, matter="SJ0501", at=point(880, 880), minutes=5)
    filters = case_service.CaseFilter
    assert case_service.list_cases(db=db, filters=filters())[1] == 2
    assert [c.id for c in case_service.list_cases(db=db, filters=filters(area_path=world.area(STREET_E).path))[0]] == [
        b.id
    ]
    assert [c.id for c in case_service.list_cases(db=db, filters=filters(unit_id=a.handling_unit_id))[0]] == [a.id]
    assert case_service.list_cases(db=db, filters=filters(text="暴露"))[1] == 2
    assert case_service.list_cases(db=db, filters=filters(stage=[CaseStage.closed]))[1] == 0
