"""Shifts and rosters: wall-clock spans in the district's zone, lookups at any instant (across midnight and month
ends), and the refusals — overlapping shifts, no duty leader, staff outside the centre's area — all or nothing."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from gridgov.core.errors import Conflict, InputError
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.duty import rotation, service
from gridgov.domains.duty.models import DutyRoster, DutyShift
from tests.domains.duty.conftest import OPERATOR, local

D = dt.date


def names(groups, code: str) -> tuple[list[str], list[str]]:
    """Returns (leaders, everyone) on duty at the centre `code` in the result of service.on_duty."""
    group = next(g for g in groups if g.centre.code == code)
    return [p.username for p in group.leaders], sorted(p.username for p in group.people)


# --- spans -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "length", "shown"),
    [
        ("08:00-16:00", 480, 480, "08:00-16:00"),
        ("16:00-24:00", 960, 480, "16:00-24:00"),
        ("00:00-08:00", 0, 480, "00:00-08:00"),
        ("20:00-08:00", 1200, 720, "20:00-08:00"),
        ("08:00-08:00", 480, 1440, "08:00-08:00"),
        ("8:30 – 17:30", 510, 540, "08:30-17:30"),
    ],
)
def test_spans_are_wall_clock_start_and_length(text, start, length, shown):
    assert service.parse_span(text) == (start, length)
    assert service.format_span(start, length) == shown


@pytest.mark.parametrize("text", ["", "8-16", "24:00-08:00", "08:60-09:00", "07:00-24:30"])
def test_a_bad_span_names_the_field(text):
    with pytest.raises(InputError) as refused:
        service.parse_span(text, where="shift early")
    assert refused.value.issues[0].field == "time" and refused.value.issues[0].where == "shift early"


def test_a_shift_is_placed_in_the_district_zone_and_stored_in_utc():
    night = DutyShift(start_minute=0, duration_minutes=480)
    late = DutyShift(start_minute=1200, duration_minutes=720)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert service.shift_span(night, D(2026, 12, 1), shanghai) == (
        dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC),
    )
    # 20:00 on New Year's Eve to 08:00 on New Year's Day, across the year's end
    assert service.shift_span(late, D(2026, 12, 31), shanghai) == (
        dt.datetime(2026, 12, 31, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2027, 1, 1, 0, 0, tzinfo=dt.UTC),
    )
    # A zone with daylight saving keeps the printed times: the night Berlin springs forward is an hour shorter,
    # the night it falls back an hour longer.
    berlin = ZoneInfo("Europe/Berlin")
    spring = service.shift_span(night, D(2026, 3, 29), berlin)
    autumn = service.shift_span(night, D(2026, 10, 25), berlin)
    assert spring[1] - spring[0] == dt.timedelta(hours=7)
    assert autumn[1] - autumn[0] == dt.timedelta(hours=9)


def test_month_bounds_cover_december_into_january():
    assert service.month_bounds("2026-12") == (D(2026, 12, 1), D(2027, 1, 1))
    assert service.month_bounds(D(2026, 2, 14)) == (D(2026, 2, 1), D(2026, 3, 1))
    with pytest.raises(InputError):
        service.month_bounds("2026-13")


# --- who is on duty at a given time ----------------------------------------------------------------------------


def test_lookup_across_midnight_and_the_month_boundary(duty):
    east = duty.east
    duty.set(east, D(2026, 11, 30), "day", "e_disp1", "d_disp1")
    duty.set(east, D(2026, 11, 30), "night", "d_disp2", "d_disp3")
    duty.set(east, D(2026, 12, 1), "day", "e_disp1")

    def at(*when: int):
        return names(service.on_duty(db=duty.db, centres=[east], at=local(*when)), east.code)

    assert at(2026, 11, 30, 19, 59) == (["e_disp1"], ["d_disp1", "e_disp1"])
    # 20:00 belongs to the night shift (spans are start-inclusive, end-exclusive)
    assert at(2026, 11, 30, 20, 0) == (["d_disp2"], ["d_disp2", "d_disp3"])
    # 03:00 on 1 December is still the night shift of 30 November
    assert at(2026, 12, 1, 3, 0) == (["d_disp2"], ["d_disp2", "d_disp3"])
    assert at(2026, 12, 1, 8, 0) == (["e_disp1"], ["e_disp1"])
    assert at(2026, 12, 1, 20, 0) == ([], [])  # no night shift on the roster for 1 December: a gap
    group = service.on_duty(db=duty.db, centres=[east], at=local(2026, 12, 1, 3, 0))[0]
    assert group.next_change_at == local(2026, 12, 1, 8, 0)
    assert group.people[0].shift == "夜班"


def test_lookup_at_the_end_of_the_year_with_three_shifts(duty):
    west = duty.west
    duty.set(west, D(2026, 12, 31), "middle", "w_disp1", "w_disp2")
    duty.set(west, D(2027, 1, 1), "night", "w_disp3", "d_disp1")
    groups = service.on_duty(db=duty.db, centres=[west, duty.district], at=local(2026, 12, 31, 23, 59))
    assert names(groups, west.code) == (["w_disp1"], ["w_disp1", "w_disp2"])
    assert names(groups, duty.district.code) == ([], [])
    assert names(service.on_duty(db=duty.db, centres=[west], at=local(2027, 1, 1, 0, 0)), west.code) == (
        ["w_disp3"],
        ["d_disp1", "w_disp3"],
    )


def test_an_instant_without_offset_is_refused_by_the_service(duty):
    with pytest.raises(Exception, match="offset"):
        service.on_duty(db=duty.db, centres=[duty.west], at=dt.datetime(2026, 12, 1, 9, 0))


def test_coverage_gaps_are_the_hours_with_nobody(duty):
    west = duty.west
    for day in (D(2026, 12, 1), D(2026, 12, 2)):
        for shift in ("night", "early", "middle"):
            if (day, shift) != (D(2026, 12, 2), "early"):
                duty.set(west, day, shift, "w_disp1" if shift != "middle" else "w_disp2")
    gaps = service.coverage_gaps(db=duty.db, centre=west, start=local(2026, 12, 1, 0, 0), end=local(2026, 12, 3, 0, 0))
    assert [(g.starts_at, g.ends_at) for g in gaps] == [(local(2026, 12, 2, 8, 0), local(2026, 12, 2, 16, 0))]
    assert gaps[0].hours == 8
    tail = service.coverage_gaps(db=duty.db, centre=west, start=local(2026, 12, 2, 20, 0), end=local(2026, 12, 4))
    assert [(g.starts_at, g.ends_at) for g in tail] == [(local(2026, 12, 3, 0, 0), local(2026, 12, 4, 0, 0))]


# --- refusals --------------------------------------------------------------------------------------------------


def _rows(db) -> int:
    return db.scalar(select(func.count(DutyRoster.id)))


def test_a_user_on_two_overlapping_shifts_is_refused_even_at_another_centre(duty):
    duty.set(duty.district, D(2026, 12, 1), "early", "d_leader", "d_disp1")
    before = _rows(duty.db)
    with pytest.raises(InputError) as refused:
        duty.set(duty.east, D(2026, 12, 1), "day", "e_disp1", "d_disp1")
    issue = refused.value.issues[0]
    assert issue.field == "staff"
    assert "区值班员一 (d_disp1)" in issue.message and "overlapping" in issue.message
    assert "区城运中心" in issue.message and "花园路街道城运中心" in issue.message
    assert _rows(duty.db) == before
    # adjacent shifts do not overlap: the early shift ends at 16:00 when the middle one starts
    duty.set(duty.district, D(2026, 12, 1), "middle", "d_disp1")


def test_overlaps_within_one_batch_are_found_too(duty):
    entries = [
        service.RosterInput(day=D(2026, 12, 5), shift="day", leader="e_disp1", where="row 2"),
        service.RosterInput(day=D(2026, 12, 5), shift="night", leader="d_disp1", staff=["d_disp2"], where="row 3"),
        service.RosterInput(day=D(2026, 12, 6), shift="day", leader="d_disp2", where="row 4"),  # adjacent: fine
        service.RosterInput(day=D(2026, 12, 5), shift="day", leader="d_disp3", where="row 5"),
    ]
    with pytest.raises(InputError) as refused:
        service.set_rosters(db=duty.db, centre=duty.east, entries=entries, actor=OPERATOR)
    assert [(i.where, i.field) for i in refused.value.issues] == [("row 5", "shift")]
    assert "given twice (also row 2)" in refused.value.issues[0].message
    service.set_rosters(db=duty.db, centre=duty.east, entries=entries[:3], actor=OPERATOR)

    service.set_shift(db=duty.db, centre=duty.district, code="day24", name="全天班", span="08:00-08:00", actor=OPERATOR)
    batch = [
        service.RosterInput(day=D(2026, 12, 7), shift="day24", leader="d_disp3", where="row 2"),
        service.RosterInput(day=D(2026, 12, 7), shift="early", leader="d_leader", staff=["d_disp3"], where="row 3"),
    ]
    with pytest.raises(InputError) as refused:
        service.set_rosters(db=duty.db, centre=duty.district, entries=batch, actor=OPERATOR)
    assert [(i.where, i.field) for i in refused.value.issues] == [("row 3", "staff")]
    assert "区值班员三 (d_disp3)" in refused.value.issues[0].message
    # d_disp2, on the east's night shift until 08:00 on the 6th, may not start the district's night shift at 00:00
    with pytest.raises(InputError, match="花园路街道城运中心 2026-12-05 夜班"):
        duty.set(duty.district, D(2026, 12, 6), "night", "d_disp2")


def test_a_shift_without_a_duty_leader_is_refused(duty):
    with pytest.raises(InputError) as refused:
        duty.set(duty.west, D(2026, 12, 1), "early", None, "w_disp1", "w_disp2")
    assert [(i.field, i.message) for i in refused.value.issues] == [
        ("leader", "2026-12-01 早班 (08:00-16:00) has no duty leader (值班长)")
    ]
    assert _rows(duty.db) == 0


def test_staff_outside_the_centre_area_or_role_are_refused_all_at_once(duty):
    with pytest.raises(InputError) as refused:
        duty.set(duty.west, D(2026, 12, 1), "early", "e_disp1", "gw", "hws", "nobody", "w_disp2")
    messages = {i.message.split(":")[0]: i for i in refused.value.issues}
    assert len(refused.value.issues) == 4
    east = next(i for i in refused.value.issues if "e_disp1" in i.message)
    assert east.field == "leader" and "outside the centre's area 经八路街道 (410105001)" in east.message
    grid = next(i for i in refused.value.issues if "(gw)" in i.message)
    assert "works in" in grid.message  # a grid worker cannot see the street's cases
    handler = next(i for i in refused.value.issues if "(hws)" in i.message)
    assert "unit_handler" in handler.message
    assert any(i.message == "no user 'nobody'" for i in messages.values())
    assert _rows(duty.db) == 0
    # a street's dispatcher may not be on the district's roster either
    with pytest.raises(InputError, match="outside the centre's area"):
        duty.set(duty.district, D(2026, 12, 1), "early", "w_disp1")


def test_setting_a_row_again_replaces_its_people_and_is_audited(duty):
    row = duty.set(duty.west, D(2026, 12, 1), "early", "w_disp1", "w_disp2", note="first")
    again = duty.set(duty.west, D(2026, 12, 1), "early", "w_disp2", "w_disp3")
    assert again.id == row.id and again.note is None
    assert sorted((m.user.username, m.is_leader) for m in again.members) == [("w_disp2", True), ("w_disp3", False)]
    assert _rows(duty.db) == 1
    audits = duty.db.scalars(select(AuditEntry).where(AuditEntry.action == "duty.roster.set")).all()
    assert len(audits) == 2 and audits[-1].target_id == duty.west.code
    service.delete_roster(db=duty.db, roster=again, actor=OPERATOR)
    assert _rows(duty.db) == 0


def test_a_shift_times_cannot_change_once_on_the_roster(duty):
    duty.set(duty.west, D(2026, 12, 1), "early", "w_disp1")
    with pytest.raises(Conflict, match="cannot change"):
        service.set_shift(db=duty.db, centre=duty.west, code="early", name="早班", span="07:00-15:00", actor=OPERATOR)
    renamed = service.set_shift(
        db=duty.db, centre=duty.west, code="early", name="白班", span="08:00-16:00", actor=OPERATOR
    )
    assert renamed.name == "白班"


# --- rotation --------------------------------------------------------------------------------------------------


def test_a_month_from_four_teams_on_three_shifts(duty):
    teams = [["w_disp1"], ["w_disp2"], ["w_disp3"], ["d_disp1", "d_disp2"]]
    rows = rotation.generate_month(
        db=duty.db, centre=duty.west, month="2026-12", rotation=rotation.Rotation(teams=teams), actor=OPERATOR
    )
    assert len(rows) == 31 * 3
    by_slot = {(r.duty_date, r.shift.code): r for r in rows}
    # slots in time order from 1 December: night, early, middle, night ... taken by teams 1, 2, 3, 4, 1 ...
    assert by_slot[(D(2026, 12, 1), "night")].leader.username == "w_disp1"
    assert by_slot[(D(2026, 12, 1), "early")].leader.username == "w_disp2"
    assert by_slot[(D(2026, 12, 1), "middle")].leader.username == "w_disp3"
    fourth = by_slot[(D(2026, 12, 2), "night")]
    assert fourth.leader.username == "d_disp1" and {m.user.username for m in fourth.members} == {"d_disp1", "d_disp2"}
    assert by_slot[(D(2026, 12, 2), "early")].leader.username == "w_disp1"  # 8 hours on, 24 off
    assert service.coverage_gaps(db=duty.db, centre=duty.west, start=local(2026, 12, 1), end=local(2027, 1, 1)) == []

    with pytest.raises(InputError, match="93 row"):
        rotation.generate_month(
            db=duty.db, centre=duty.west, month="2026-12", rotation=rotation.Rotation(teams=teams), actor=OPERATOR
        )
    # January with the same anchor continues the sequence: slot 93 goes to team 93 mod 4 = 2
    january = rotation.generate_month(
        db=duty.db,
        centre=duty.west,
        month="2027-01",
        rotation=rotation.Rotation(teams=teams, anchor=D(2026, 12, 1)),
        actor=OPERATOR,
    )
    first = min(january, key=lambda r: r.starts_at)
    assert (first.duty_date, first.shift.code, first.leader.username) == (D(2027, 1, 1), "night", "w_disp2")


def test_daily_leaders_lead_every_shift_of_their_day(duty):
    with pytest.raises(InputError, match="e_disp1"):  # a street's dispatcher may not lead the district's day
        rotation.generate_month(
            db=duty.db,
            centre=duty.district,
            month="2026-12",
            rotation=rotation.Rotation(teams=[["d_disp1"], ["d_disp2"], ["d_disp3"]], leaders=["d_leader", "e_disp1"]),
            actor=OPERATOR,
        )
    rows = rotation.generate_month(
        db=duty.db,
        centre=duty.district,
        month="2026-12",
        rotation=rotation.Rotation(teams=[["d_disp1"], ["d_disp2"], ["d_disp3"]], leaders=["d_leader"]),
        actor=OPERATOR,
    )
    assert {r.leader.username for r in rows} == {"d_leader"}
    assert all(len(r.members) == 2 for r in rows)


def test_a_rotation_needs_shifts_and_teams(duty):
    with pytest.raises(InputError, match="at least one team"):
        rotation.plan_month(db=duty.db, centre=duty.west, month="2026-12", rotation=rotation.Rotation(teams=[]))
    with pytest.raises(InputError, match="no active shift 'evening'"):
        rotation.plan_month(
            db=duty.db,
            centre=duty.west,
            month="2026-12",
            rotation=rotation.Rotation(teams=[["w_disp1"]], shifts=["evening"]),
        )
