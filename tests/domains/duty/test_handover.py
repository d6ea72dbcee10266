"""The handover log (交接班): the outgoing staff write it, the incoming leader acknowledges it, history per centre."""

from __future__ import annotations

import datetime as dt

import pytest

from gridgov.core.errors import Conflict, Forbidden, InputError, Invalid
from gridgov.domains.cases.service import Context
from gridgov.domains.duty import service
from gridgov.domains.intake import service as intake
from tests.domains.cases.test_flow import report
from tests.domains.duty.conftest import OPERATOR, local

D = dt.date


@pytest.fixture
def shifts(duty):
    """West's night and early shifts of 1 December, and the middle shift of 2 December (a day later)."""
    night = duty.set(duty.west, D(2026, 12, 1), "night", "w_disp1", "w_disp2")
    early = duty.set(duty.west, D(2026, 12, 1), "early", "w_disp3", "d_disp1")
    later = duty.set(duty.west, D(2026, 12, 2), "middle", "w_disp2")
    return night, early, later


def test_the_outgoing_staff_write_and_the_incoming_leader_acknowledges(duty, shifts):
    night, early, _ = shifts
    case = intake.submit(
        db=duty.db, report=report(), ctx=Context.of(duty.world.grid_worker, now=local(2026, 12, 1, 5))
    ).case
    handover = service.write_handover(
        db=duty.db,
        roster=night,
        actor=duty.actor("w_disp2"),
        open_matters="  路灯故障待修  ",
        case_numbers=[case.number, case.number],
        notes="",
        now=local(2026, 12, 1, 7, 50),
    )
    assert handover.incoming_roster_id == early.id  # the shift starting when the night one ends
    assert handover.case_numbers == [case.number] and handover.open_matters == "路灯故障待修"
    with pytest.raises(Forbidden, match="incoming shift"):
        service.acknowledge_handover(db=duty.db, handover=handover, actor=duty.actor("d_disp1"))  # staff, not leader
    done = service.acknowledge_handover(
        db=duty.db, handover=handover, actor=duty.actor("w_disp3"), note="收到", now=local(2026, 12, 1, 8, 5)
    )
    assert done.acknowledged_by_user_id == duty.users["w_disp3"].id and done.acknowledgement_note == "收到"
    with pytest.raises(Conflict, match="already acknowledged"):
        service.acknowledge_handover(db=duty.db, handover=handover, actor=duty.actor("w_disp3"))
    with pytest.raises(Conflict, match="already written"):
        service.write_handover(
            db=duty.db, roster=night, actor=duty.actor("w_disp1"), notes="again", now=local(2026, 12, 1, 7, 55)
        )


def test_only_the_staff_of_the_shift_write_its_handover(duty, shifts):
    night, _, _ = shifts
    for username in ("w_disp3", "d_leader"):
        with pytest.raises(Forbidden, match="only the staff on duty"):
            service.write_handover(
                db=duty.db, roster=night, actor=duty.actor(username), notes="x", now=local(2026, 12, 1, 7, 50)
            )
    with pytest.raises(Invalid, match="not started"):
        service.write_handover(
            db=duty.db, roster=night, actor=duty.actor("w_disp1"), notes="x", now=local(2026, 11, 30, 23, 0)
        )
    with pytest.raises(InputError, match="open matters or a note"):
        service.write_handover(db=duty.db, roster=night, actor=duty.actor("w_disp1"), now=local(2026, 12, 1, 7, 0))


def test_case_numbers_must_exist_and_be_visible_to_the_writer(duty, shifts):
    night, _, _ = shifts
    east_case = intake.submit(
        db=duty.db,
        report=report(at=duty.world.area("410105002001001").geometry.representative_point().coords[0]),
        ctx=Context.of(
            duty.world.actor(duty.world.grid_worker.role, "410105002001-JWH", user_id=9, name="东网格员"),
            now=local(2026, 12, 1, 5),
        ),
    ).case
    assert east_case.street_id == duty.east.id
    with pytest.raises(InputError) as refused:
        service.write_handover(
            db=duty.db,
            roster=night,
            actor=duty.actor("w_disp1"),
            notes="x",
            case_numbers=["410105-20261201-999999", east_case.number],
            now=local(2026, 12, 1, 7),
        )
    issue = refused.value.issues[0]
    assert issue.field == "case_numbers" and east_case.number in issue.message and "999999" in issue.message


def test_a_handover_without_a_following_shift_is_taken_by_the_next_one_on_the_roster(duty, shifts):
    _, early, later = shifts
    handover = service.write_handover(
        db=duty.db, roster=early, actor=duty.actor("d_disp1"), notes="无遗留", now=local(2026, 12, 1, 15, 55)
    )
    assert handover.incoming_roster_id == later.id  # no middle shift on the 1st: the next shift on the roster
    assert service.handovers_to_acknowledge(db=duty.db, actor=duty.actor("w_disp2")) == [handover]
    assert service.handovers_to_acknowledge(db=duty.db, actor=duty.actor("w_disp1")) == []


def test_the_history_lists_a_centre_newest_shift_first(duty, shifts):
    night, early, _ = shifts
    first = service.write_handover(
        db=duty.db, roster=night, actor=duty.actor("w_disp1"), notes="a", now=local(2026, 12, 1, 7, 55)
    )
    second = service.write_handover(
        db=duty.db, roster=early, actor=duty.actor("w_disp3"), notes="b", now=local(2026, 12, 1, 15, 55)
    )
    rows, total = service.list_handovers(db=duty.db, centre=duty.west)
    assert total == 2 and [r.id for r in rows] == [second.id, first.id]
    assert service.list_handovers(db=duty.db, centre=duty.east) == ([], 0)
    # a shift with a handover is kept as history
    with pytest.raises(Conflict, match="handover"):
        service.delete_roster(db=duty.db, roster=night, actor=OPERATOR)


def test_shifts_to_hand_over_are_the_users_own_recent_ones(duty, shifts):
    night, early, _ = shifts
    mine = service.shifts_to_hand_over(db=duty.db, actor=duty.actor("w_disp1"), now=local(2026, 12, 1, 9))
    assert mine == [night]
    service.write_handover(
        db=duty.db, roster=night, actor=duty.actor("w_disp2"), notes="a", now=local(2026, 12, 1, 7, 55)
    )
    assert service.shifts_to_hand_over(db=duty.db, actor=duty.actor("w_disp1"), now=local(2026, 12, 1, 9)) == []
    assert service.shifts_to_hand_over(db=duty.db, actor=duty.actor("d_disp1"), now=local(2026, 12, 1, 9)) == [early]
