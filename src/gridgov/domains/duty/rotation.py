"""A month's roster from a rotation (轮班): teams take the centre's shifts in turn, leaders take days in turn.

The shifts of every day, in the order they start (夜班 00:00, 早班 08:00, 中班 16:00), form one sequence from the
rotation's anchor date; slot n of that sequence goes to team n mod (number of teams). With three shifts and four
teams that is the classic 四班三倒 (8 hours on, 24 hours off); with one 24-hour shift and four teams each works
one day in four. When a daily rota of duty leaders (值班领导) is given, day d's leader leads every shift of day d;
otherwise each team's first member leads its shifts. Generating month after month with the same anchor continues
the rotation without a seam.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core.errors import InputError, Issue
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.duty import service
from gridgov.domains.duty.models import DutyRoster, DutyShift


@dataclass
class Rotation:
    """How a month's roster is drawn: the teams (usernames, in turn), an optional daily rota of leaders."""

    teams: list[list[str]]
    leaders: list[str] = field(default_factory=list)
    shifts: list[str] | None = None  # shift codes taking part (default: the centre's active shifts)
    anchor: dt.date | None = None  # day 0 of the rotation (default: the month's first day)


def _shifts(db: Session, centre: Area, wanted: Sequence[str] | None) -> list[DutyShift]:
    available = service.list_shifts(db=db, centre=centre, active_only=True)
    if not wanted:
        if not available:
            raise InputError(
                [Issue("rotation", f"{service.centre_name(centre)} has no shifts yet: add them first", "shifts")],
                "roster not generated",
            )
        return available
    chosen, issues = [], []
    for key in wanted:
        shift = service.find_shift(available, key)
        if shift is None:
            issues.append(Issue("rotation", f"no active shift {key!r}", "shifts"))
        elif shift not in chosen:
            chosen.append(shift)
    if issues:
        raise InputError(issues, "roster not generated")
    return sorted(chosen, key=lambda s: (s.start_minute, s.position, s.code))


def plan_month(*, db: Session, centre: Area, month: str | dt.date, rotation: Rotation) -> list[service.RosterInput]:
    """Returns the roster rows a rotation gives for a month (not written)."""
    teams = [[name for name in team if name] for team in rotation.teams]
    issues = [Issue("rotation", f"team {n} is empty", "teams") for n, team in enumerate(teams, start=1) if not team]
    if not teams:
        issues.append(Issue("rotation", "at least one team is needed", "teams"))
    if issues:
        raise InputError(issues, "roster not generated")
    first, following = service.month_bounds(month)
    shifts = _shifts(db, centre, rotation.shifts)
    anchor = rotation.anchor or first
    entries = []
    day = first
    while day < following:
        offset = (day - anchor).days
        for index, shift in enumerate(shifts):
            team = teams[(offset * len(shifts) + index) % len(teams)]
            leader = rotation.leaders[offset % len(rotation.leaders)] if rotation.leaders else team[0]
            entries.append(
                service.RosterInput(
                    day=day,
                    shift=shift.code,
                    leader=leader,
                    staff=[name for name in team if name != leader],
                    where=f"{day.isoformat()} {shift.name}",
                )
            )
        day += dt.timedelta(days=1)
    return entries


def generate_month(
    *,
    db: Session,
    centre: Area,
    month: str | dt.date,
    rotation: Rotation,
    actor: Actor,
    replace: bool = False,
) -> list[DutyRoster]:
    """Writes a month's roster drawn from a rotation; rows already on the roster are refused unless `replace`."""
    entries = plan_month(db=db, centre=centre, month=month, rotation=rotation)
    if not replace:
        first, following = service.month_bounds(month)
        taken = db.execute(
            select(DutyRoster.duty_date, DutyShift.name)
            .join(DutyShift, DutyRoster.shift_id == DutyShift.id)
            .where(
                DutyRoster.centre_area_id == centre.id,
                DutyRoster.duty_date >= first,
                DutyRoster.duty_date < following,
                DutyShift.code.in_({e.shift for e in entries}),
            )
            .order_by(DutyRoster.duty_date)
        ).all()
        if taken:
            shown = ", ".join(f"{day.isoformat()} {name}" for day, name in taken[:5])
            more = f" and {len(taken) - 5} more" if len(taken) > 5 else ""
            raise InputError(
                [
                    Issue(
                        "rotation",
                        f"{len(taken)} row(s) are on the roster already ({shown}{more}); replace them explicitly",
                        "replace",
                    )
                ],
                "roster not generated",
            )
    return service.set_rosters(db=db, centre=centre, entries=entries, actor=actor, source="rotation")
