"""Duty (值班) of the operation centres: shifts, rosters, who is on duty at a time, coverage gaps, handovers and
the duty contacts. No HTTP, no commit: the request, the CLI or the job owns the transaction.

A centre is an area of level district or street. Times of shifts are wall-clock times in the district's time zone
(`settings.timezone`); every roster row stores its span in UTC, so "who is on duty at t" is one range query. A
user may see the centres within their area scope and the centres above it (the ones that serve them); only the
centres within their scope may be edited, and only their handovers and notifications read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from gridgov.config import get_settings
from gridgov.core.clock import now as clock_now
from gridgov.core.errors import Conflict, Forbidden, InputError, Invalid, Issue, NotFoundError
from gridgov.core.permissions import PERMISSIONS, require, restrict
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.models import Case
from gridgov.domains.duty.models import DutyContact, DutyHandover, DutyRoster, DutyRosterMember, DutyShift

CENTRE_LEVELS = (AreaLevel.district, AreaLevel.street)
DAY_MINUTES = 24 * 60
MAX_POSITION = 10_000  # the order of a shift among those starting together; far larger overflows the column
_SPAN_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–~至]\s*(\d{1,2}):(\d{2})\s*$")
_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MOBILE_RE = re.compile(r"^(\+?86)?1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")
_CASE_NUMBER_RE = re.compile(r"^[A-Za-z0-9-]{1,32}$")
NAME_SEPARATORS = re.compile(r"[,，、;；\s]+")

# Shift sets a centre can start from (`gridgov duty shifts --defaults three|day`).
DEFAULT_SHIFTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "three": (("night", "夜班", "00:00-08:00"), ("early", "早班", "08:00-16:00"), ("middle", "中班", "16:00-24:00")),
    "day": (("day", "24小时班", "08:00-08:00"),),
}


# --- time ------------------------------------------------------------------------------------------------------


def district_tz() -> ZoneInfo:
    """Returns the district's time zone (settings.timezone)."""
    return get_settings().tz


def parse_span(text: str, *, where: str = "shift", field_name: str = "time") -> tuple[int, int]:
    """Returns (start minute, length in minutes) of a wall-clock span "08:00-16:00"; "16:00-24:00" ends at midnight,
    an end at or before the start runs past midnight ("20:00-08:00"), and equal ends ("08:00-08:00") make 24 hours."""
    match = _SPAN_RE.match(text or "")
    if not match:
        raise InputError([Issue(where, f"expected HH:MM-HH:MM, got {text!r}", field_name)], "shift refused")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise InputError([Issue(where, f"not a time of day in {text!r}", field_name)], "shift refused")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    length = (end - start) % DAY_MINUTES or DAY_MINUTES
    return start, length


def format_span(start_minute: int, duration_minutes: int) -> str:
    """Returns "08:00-16:00" for a start minute and a length (an end at midnight is written 24:00)."""
    end = (start_minute + duration_minutes) % DAY_MINUTES
    end_text = "24:00" if end == 0 and start_minute else f"{end // 60:02d}:{end % 60:02d}"
    return f"{start_minute // 60:02d}:{start_minute % 60:02d}-{end_text}"


def shift_span(shift: DutyShift, day: dt.date, tz: ZoneInfo | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Returns the UTC span of `shift` on the local date `day` (the shift's wall-clock times in the district's zone).

    Wall-clock arithmetic, then conversion: on a day a zone changes its clocks, a shift keeps its printed times and
    is an hour shorter or longer (China has no daylight saving, so in Asia/Shanghai every shift keeps its length).
    """
    tz = tz or district_tz()
    local_start = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=shift.start_minute)
    local_end = local_start + dt.timedelta(minutes=shift.duration_minutes)
    return local_start.replace(tzinfo=tz).astimezone(dt.UTC), local_end.replace(tzinfo=tz).astimezone(dt.UTC)


def local_date(at: dt.datetime, tz: ZoneInfo | None = None) -> dt.date:
    """Returns the district's local date at the instant `at`."""
    return at.astimezone(tz or district_tz()).date()


def month_bounds(month: str | dt.date) -> tuple[dt.date, dt.date]:
    """Returns the first day of `month` ("2026-12" or a date in it) and the first day of the next month."""
    if isinstance(month, str):
        match = re.match(r"^\s*(\d{4})-(\d{1,2})\s*$", month)
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise InputError([Issue("month", f"expected YYYY-MM, got {month!r}", "month")], "month refused")
        first = dt.date(int(match.group(1)), int(match.group(2)), 1)
    else:
        first = month.replace(day=1)
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following


# --- centres ---------------------------------------------------------------------------------------------------


def centre_name(area: Area) -> str:
    """Returns the name of the operation centre of an area ("人民路街道城运中心")."""
    return f"{area.name}城运中心"


def _ancestor_codes(scope_path: str) -> list[str]:
    return [code for code in scope_path.strip("/").split("/") if code]


def _centre_scope(actor: Actor | None, *, above: bool) -> Select[tuple[Area]]:
    stmt = select(Area).where(Area.level.in_(CENTRE_LEVELS))
    if actor is None or actor.scope_path is None:
        return stmt
    within = Area.path.startswith(actor.scope_path, autoescape=True)
    if above:
        # NOTE: the centres above the user's area serve it: a street's dispatcher needs to know who is on duty at
        # the district centre, a grid worker who is on duty at its street's.
        return stmt.where(or_(within, Area.code.in_(_ancestor_codes(actor.scope_path))))
    return stmt.where(within)


def list_centres(*, db: Session, actor: Actor | None, action: str = "duty.view", above: bool = True) -> list[Area]:
    """Returns the centres `actor` may reach with `action` (None: every centre), the district first.

    `above` adds the centres above the actor's area (seeing who is on duty there); edits, handovers and the
    notification log use `above=False`: only the centres within the actor's scope.
    """
    if actor is not None:
        require(actor, action, target_type="duty_centre")
    stmt = _centre_scope(actor, above=above)
    return list(db.scalars(stmt.order_by(Area.path)))


def get_centre(*, db: Session, code: str, actor: Actor | None, action: str = "duty.view", above: bool = True) -> Area:
    """Returns the centre with area code `code` if `actor` may reach it; NotFoundError otherwise (also when it is
    outside the actor's scope, so its existence is not revealed)."""
    if actor is not None:
        require(actor, action, target_type="duty_centre", target_id=code)
    area = db.scalars(_centre_scope(actor, above=above).where(Area.code == (code or "").strip())).first()
    if area is None:
        raise NotFoundError(f"no operation centre {code!r} (a district or street area code) that you may see")
    return area


def keeping_roster(*, db: Session, centres: Sequence[Area]) -> list[Area]:
    """Returns those of `centres` that keep a roster here (have an active shift), in the same order."""
    ids = set(
        db.scalars(
            select(DutyShift.centre_area_id).where(
                DutyShift.centre_area_id.in_([c.id for c in centres]), DutyShift.is_active
            )
        )
    )
    return [c for c in centres if c.id in ids]


def default_centre(*, db: Session, actor: Actor) -> Area | None:
    """Returns the centre a user works at or nearest above them: their own district or street, else the one above."""
    centres = list_centres(db=db, actor=actor)
    if not centres:
        return None
    if actor.scope_path is None:
        return centres[0]
    # The deepest centre on the path of the actor's scope: their street, else their district.
    on_path = [c for c in centres if actor.scope_path.startswith(c.path)]
    return max(on_path, key=lambda c: len(c.path)) if on_path else centres[0]


# --- shifts ----------------------------------------------------------------------------------------------------


def list_shifts(*, db: Session, centre: Area, active_only: bool = False) -> list[DutyShift]:
    """Returns the shifts of a centre in the order of a day (by start time, then position)."""
    stmt = select(DutyShift).where(DutyShift.centre_area_id == centre.id)
    if active_only:
        stmt = stmt.where(DutyShift.is_active)
    return list(db.scalars(stmt.order_by(DutyShift.start_minute, DutyShift.position, DutyShift.code)))


def find_shift(shifts: Iterable[DutyShift], key: str) -> DutyShift | None:
    """Returns the shift whose code (any case) or name is `key`."""
    wanted = (key or "").strip()
    for shift in shifts:
        if shift.code.casefold() == wanted.casefold() or shift.name == wanted:
            return shift
    return None


def set_shift(
    *,
    db: Session,
    centre: Area,
    code: str,
    name: str,
    span: str,
    actor: Actor,
    position: int | None = None,
    is_active: bool = True,
) -> DutyShift:
    """Creates or updates a shift of a centre; its times may change only while no roster row uses it."""
    where = f"shift {code!r}"
    issues = []
    if not _CODE_RE.match(code or ""):
        issues.append(Issue(where, "a code is 1-32 letters, digits, '_' or '-'", "code"))
    if not (name or "").strip() or len(name.strip()) > 50:
        issues.append(Issue(where, "a name of 1-50 characters is required", "name"))
    if position is not None and not -MAX_POSITION <= position <= MAX_POSITION:
        issues.append(Issue(where, f"a position is a whole number from -{MAX_POSITION} to {MAX_POSITION}", "position"))
    try:
        start, length = parse_span(span, where=where)
    except InputError as exc:
        issues += exc.issues
        start = length = 0
    if issues:
        raise InputError(issues, "shift refused")
    shift = db.scalars(
        select(DutyShift).where(DutyShift.centre_area_id == centre.id, func.lower(DutyShift.code) == code.lower())
    ).first()
    if shift is None:
        shift = DutyShift(centre_area_id=centre.id, code=code, start_minute=start, duration_minutes=length)
        db.add(shift)
    elif (shift.start_minute, shift.duration_minutes) != (start, length):
        used = db.scalar(select(func.count(DutyRoster.id)).where(DutyRoster.shift_id == shift.id))
        if used:
            raise Conflict(
                f"shift {shift.code} ({shift.name}, {format_span(shift.start_minute, shift.duration_minutes)}) is on "
                f"{used} roster row(s): its times cannot change; add a new shift and deactivate this one",
                code="shift_in_use",
            )
        shift.start_minute, shift.duration_minutes = start, length
    shift.name = name.strip()
    shift.is_active = is_active
    if position is not None:
        shift.position = position
    elif shift.position is None:
        shift.position = 0
    db.flush()
    auth_service.write_audit(
        db=db,
        actor=actor,
        action="duty.shift.set",
        target_type="duty_centre",
        target_id=centre.code,
        detail={"code": shift.code, "name": shift.name, "time": format_span(start, length), "active": is_active},
    )
    return shift


def ensure_default_shifts(*, db: Session, centre: Area, pattern: str, actor: Actor) -> list[DutyShift]:
    """Adds the shifts of a default set ("three": 夜班/早班/中班, "day": one 24-hour shift) a centre lacks."""
    if pattern not in DEFAULT_SHIFTS:
        raise Invalid(f"unknown shift set {pattern!r}: use {' or '.join(DEFAULT_SHIFTS)}", field="pattern")
    existing = {s.code for s in list_shifts(db=db, centre=centre)}
    for position, (code, name, span) in enumerate(DEFAULT_SHIFTS[pattern]):
        if code not in existing:
            set_shift(db=db, centre=centre, code=code, name=name, span=span, position=position, actor=actor)
    return list_shifts(db=db, centre=centre)


# --- roster ----------------------------------------------------------------------------------------------------


@dataclass
class RosterInput:
    """One roster row to set: a date and a shift of the centre, its duty leader and staff (usernames)."""

    day: dt.date
    shift: str  # code or name
    leader: str | None
    staff: list[str] = field(default_factory=list)
    note: str | None = None
    where: str = ""  # where it came from, for error messages ("roster.xlsx sheet 值班表 row 4")


def split_names(text: str | None) -> list[str]:
    """Returns the usernames of a cell ("wang5, li4、zhao6"), in order, without repeats."""
    names: list[str] = []
    for name in NAME_SEPARATORS.split(text or ""):
        if name and name not in names:
            names.append(name)
    return names


def eligibility(user: User, centre: Area) -> str | None:
    """Returns why `user` may not be on `centre`'s roster, or None when they may."""
    if not user.is_active:
        return "is disabled"
    if "duty.view" not in PERMISSIONS.get(user.role, {}):
        return f"has the role {user.role}, which does not do duty"
    scope = user.scope_area
    if scope is not None and not centre.path.startswith(scope.path):
        # NOTE: whoever is on duty must be able to see the centre's whole area (its cases), so their scope must be
        # the centre's own area or one above it.
        return f"works in {scope.name} ({scope.code}), outside the centre's area {centre.name} ({centre.code})"
    return None


def _label(user: User) -> str:
    return f"{user.display_name} ({user.username})"


def _slot_label(day: dt.date, shift: DutyShift) -> str:
    return f"{day.isoformat()} {shift.name} ({format_span(shift.start_minute, shift.duration_minutes)})"


@dataclass
class PlannedRow:
    """A roster row checked and ready to write."""

    entry: RosterInput
    shift: DutyShift
    starts_at: dt.datetime
    ends_at: dt.datetime
    leader: User
    people: list[User]  # the leader first, then the staff


def set_rosters(
    *, db: Session, centre: Area, entries: Sequence[RosterInput], actor: Actor, source: str = "api"
) -> list[DutyRoster]:
    """Sets roster rows of a centre (created, or replaced when the date and shift exist), all or nothing.

    Refused with every problem at once (InputError): an unknown shift or user, a row without a duty leader, a user
    who may not be on this centre's duty, the same date and shift twice, and anyone on two overlapping shifts
    (at any centre, these rows included).
    """
    planned, issues = check_rosters(db=db, centre=centre, entries=entries)
    if issues:
        raise InputError(issues, f"roster of {centre_name(centre)} not saved")
    return write_rosters(db=db, centre=centre, planned=planned, actor=actor, source=source)


def check_rosters(*, db: Session, centre: Area, entries: Sequence[RosterInput]) -> tuple[list[PlannedRow], list[Issue]]:
    """Checks roster rows of a centre without writing them; returns the rows ready to write and every problem."""
    shifts = list_shifts(db=db, centre=centre)
    names = {name for e in entries for name in [*(e.staff or []), *([e.leader] if e.leader else [])]}
    users = {
        u.username: u
        for u in db.scalars(select(User).options(joinedload(User.scope_area)).where(User.username.in_(names)))
    }
    tz = district_tz()
    issues: list[Issue] = []
    planned: list[PlannedRow] = []
    seen: dict[tuple[int, dt.date], str] = {}
    for entry in entries:
        where = entry.where or f"{entry.day.isoformat()} {entry.shift}"
        shift = find_shift(shifts, entry.shift)
        if shift is None:
            known = ", ".join(f"{s.code} ({s.name})" for s in shifts) or "none yet"
            issues.append(Issue(where, f"no shift {entry.shift!r} at {centre_name(centre)}; shifts: {known}", "shift"))
            continue
        key = (shift.id, entry.day)
        if key in seen:
            issues.append(Issue(where, f"{_slot_label(entry.day, shift)} is given twice (also {seen[key]})", "shift"))
            continue
        seen[key] = where
        if not shift.is_active and not db.scalar(
            select(DutyRoster.id).where(DutyRoster.shift_id == shift.id, DutyRoster.duty_date == entry.day)
        ):
            issues.append(Issue(where, f"shift {shift.code} ({shift.name}) is no longer in use", "shift"))
            continue
        people: list[User] = []
        leader = None
        if not entry.leader:
            issues.append(Issue(where, f"{_slot_label(entry.day, shift)} has no duty leader (值班长)", "leader"))
        for name, role_field in [(entry.leader, "leader"), *((n, "staff") for n in entry.staff or [])]:
            if not name:
                continue
            user = users.get(name)
            if user is None:
                issues.append(Issue(where, f"no user {name!r}", role_field))
                continue
            reason = eligibility(user, centre)
            if reason:
                issues.append(
                    Issue(where, f"{_label(user)} may not be on duty at {centre_name(centre)}: {reason}", role_field)
                )
                continue
            if role_field == "leader":
                leader = user
            if user not in people:
                people.append(user)
        starts_at, ends_at = shift_span(shift, entry.day, tz)
        if ends_at <= starts_at:
            issues.append(
                Issue(where, f"{_slot_label(entry.day, shift)} does not exist on that day (clock change)", "shift")
            )
            continue
        if leader is not None:
            planned.append(PlannedRow(entry, shift, starts_at, ends_at, leader, people))
    issues += _overlaps(db=db, centre=centre, planned=planned)
    return planned, issues


def write_rosters(
    *, db: Session, centre: Area, planned: Sequence[PlannedRow], actor: Actor, source: str = "api"
) -> list[DutyRoster]:
    """Writes roster rows checked by `check_rosters` (no problems) and audits the change."""
    rows = _write(db=db, centre=centre, planned=planned, actor=actor)
    if rows:
        auth_service.write_audit(
            db=db,
            actor=actor,
            action="duty.roster.set",
            target_type="duty_centre",
            target_id=centre.code,
            detail={
                "source": source,
                "rows": len(rows),
                "from": min(r.duty_date for r in rows).isoformat(),
                "to": max(r.duty_date for r in rows).isoformat(),
                "people": sorted({m.user_id for r in rows for m in r.members}),
            },
        )
    return rows


def _overlaps(*, db: Session, centre: Area, planned: Sequence[PlannedRow]) -> list[Issue]:
    """Returns an issue for every person put on two shifts that overlap (in this batch, or with stored rows)."""
    if not planned:
        return []
    replaced = {(p.shift.id, p.entry.day) for p in planned}
    # per person: (start, end, label, where, order in the batch; -1 for a stored row)
    spans: dict[int, list[tuple[dt.datetime, dt.datetime, str, str | None, int]]] = defaultdict(list)
    for order, p in enumerate(planned):
        label = f"{centre_name(centre)} {_slot_label(p.entry.day, p.shift)}"
        for user in p.people:
            spans[user.id].append((p.starts_at, p.ends_at, label, p.entry.where or None, order))
    first = min(p.starts_at for p in planned)
    last = max(p.ends_at for p in planned)
    stored = db.execute(
        select(DutyRosterMember.user_id, DutyRoster, DutyShift, Area)
        .join(DutyRoster, DutyRosterMember.roster_id == DutyRoster.id)
        .join(DutyShift, DutyRoster.shift_id == DutyShift.id)
        .join(Area, DutyRoster.centre_area_id == Area.id)
        .where(DutyRosterMember.user_id.in_(spans), DutyRoster.starts_at < last, DutyRoster.ends_at > first)
    ).all()
    for user_id, roster, shift, area in stored:
        if (roster.shift_id, roster.duty_date) in replaced:
            continue
        label = f"{centre_name(area)} {_slot_label(roster.duty_date, shift)}"
        spans[user_id].append((roster.starts_at, roster.ends_at, label, None, -1))
    people = {u.id: u for p in planned for u in p.people}
    issues = []
    for user_id, items in spans.items():
        items.sort(key=lambda item: (item[0], item[1]))
        latest = items[0]
        for item in items[1:]:
            if item[0] < latest[1]:
                # NOTE: reported at the row given later in the batch: the one that clashes with what came before.
                later = item if item[4] >= latest[4] else latest
                leads = later[4] >= 0 and planned[later[4]].leader.id == user_id
                issues.append(
                    Issue(
                        later[3] or "roster",
                        f"{_label(people[user_id])} would be on two overlapping shifts: {latest[2]} and {item[2]}",
                        "leader" if leads else "staff",
                    )
                )
            if item[1] > latest[1]:
                latest = item
    return issues


def _write(*, db: Session, centre: Area, planned: Sequence[PlannedRow], actor: Actor) -> list[DutyRoster]:
    keys = [(p.shift.id, p.entry.day) for p in planned]
    existing: dict[tuple[int, dt.date], DutyRoster] = {}
    if keys:
        days = {day for _, day in keys}
        shift_ids = {shift_id for shift_id, _ in keys}
        for row in db.scalars(
            select(DutyRoster)
            .options(selectinload(DutyRoster.members))
            .where(DutyRoster.shift_id.in_(shift_ids), DutyRoster.duty_date.in_(days))
        ):
            existing[(row.shift_id, row.duty_date)] = row
    rows = []
    for p in planned:
        row = existing.get((p.shift.id, p.entry.day))
        if row is None:
            row = DutyRoster(centre_area_id=centre.id, shift_id=p.shift.id, duty_date=p.entry.day)
            db.add(row)
        row.starts_at, row.ends_at = p.starts_at, p.ends_at
        row.leader_user_id = p.leader.id
        row.note = (p.entry.note or "").strip() or None
        row.updated_by_user_id = actor.user_id
        wanted = {u.id: u.id == p.leader.id for u in p.people}
        for member in list(row.members):
            if member.user_id not in wanted:
                row.members.remove(member)
            else:
                member.is_leader = wanted.pop(member.user_id)
        for user_id, is_leader in wanted.items():
            row.members.append(DutyRosterMember(user_id=user_id, is_leader=is_leader))
        rows.append(row)
    db.flush()
    return rows


def list_rosters(*, db: Session, centre: Area, start: dt.date, end: dt.date) -> list[DutyRoster]:
    """Returns the roster rows of a centre with a date in [start, end), in time order, with shift and people."""
    return list(
        db.scalars(
            select(DutyRoster)
            .options(
                joinedload(DutyRoster.shift),
                selectinload(DutyRoster.members).joinedload(DutyRosterMember.user),
            )
            .where(DutyRoster.centre_area_id == centre.id, DutyRoster.duty_date >= start, DutyRoster.duty_date < end)
            .order_by(DutyRoster.starts_at, DutyRoster.id)
        )
    )


def get_roster(*, db: Session, centre: Area, day: dt.date, shift: str) -> DutyRoster:
    """Returns the roster row of a centre for a date and shift (code or name); NotFoundError when there is none."""
    found = find_shift(list_shifts(db=db, centre=centre), shift)
    row = (
        db.scalars(select(DutyRoster).where(DutyRoster.shift_id == found.id, DutyRoster.duty_date == day)).first()
        if found
        else None
    )
    if row is None:
        raise NotFoundError(f"{centre_name(centre)} has no roster row on {day.isoformat()} for shift {shift!r}")
    return row


def get_roster_by_id(*, db: Session, roster_id: int, centres: Sequence[Area]) -> DutyRoster:
    """Returns a roster row of one of `centres` (those the caller may reach); NotFoundError otherwise."""
    row = db.get(DutyRoster, roster_id) if 0 < roster_id < 2**31 else None
    if row is None or row.centre_area_id not in {c.id for c in centres}:
        raise NotFoundError(f"roster row {roster_id} not found")
    return row


def delete_roster(*, db: Session, roster: DutyRoster, actor: Actor) -> None:
    """Deletes a roster row; refused (409) once a handover refers to it, since the duty history is kept."""
    handed = db.scalar(
        select(DutyHandover.id).where(
            or_(DutyHandover.roster_id == roster.id, DutyHandover.incoming_roster_id == roster.id)
        )
    )
    if handed is not None:
        raise Conflict(
            f"roster row {roster.duty_date.isoformat()} {roster.shift.name} has a handover: it is kept as history",
            code="roster_has_handover",
        )
    detail = {
        "date": roster.duty_date.isoformat(),
        "shift": roster.shift.code,
        "people": sorted(m.user_id for m in roster.members),
    }
    centre = db.get(Area, roster.centre_area_id)
    db.delete(roster)
    db.flush()
    auth_service.write_audit(
        db=db,
        actor=actor,
        action="duty.roster.delete",
        target_type="duty_centre",
        target_id=centre.code if centre else None,
        detail=detail,
    )


# --- who is on duty --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnDutyPerson:
    """Someone on duty at a centre at a given time."""

    user_id: int
    username: str
    name: str
    role: str
    is_leader: bool
    mobile: str | None
    email: str | None
    shift: str  # the shift's name


@dataclass
class OnDuty:
    """Who is on duty at one centre at one instant: the roster rows in force and their people (leaders first)."""

    centre: Area
    at: dt.datetime
    rosters: list[DutyRoster]
    people: list[OnDutyPerson]
    next_change_at: dt.datetime | None = None  # when the first of these shifts ends, or the next one starts

    @property
    def leaders(self) -> list[OnDutyPerson]:
        return [p for p in self.people if p.is_leader]

    @property
    def is_gap(self) -> bool:
        return not self.people


def contacts(*, db: Session, user_ids: Iterable[int]) -> dict[int, DutyContact]:
    """Returns the duty contacts of users, by user id."""
    ids = set(user_ids)
    if not ids:
        return {}
    return {c.user_id: c for c in db.scalars(select(DutyContact).where(DutyContact.user_id.in_(ids)))}


def on_duty(*, db: Session, centres: Sequence[Area], at: dt.datetime) -> list[OnDuty]:
    """Returns who is on duty at each centre at the instant `at` (rows with starts_at <= at < ends_at)."""
    if at.tzinfo is None:
        raise Invalid("a time with its offset is needed (e.g. 2026-12-01T09:00:00+08:00)", field="at")
    ids = [c.id for c in centres]
    rows = list(
        db.scalars(
            select(DutyRoster)
            .options(
                joinedload(DutyRoster.shift),
                selectinload(DutyRoster.members).joinedload(DutyRosterMember.user),
            )
            .where(DutyRoster.centre_area_id.in_(ids), DutyRoster.starts_at <= at, DutyRoster.ends_at > at)
            .order_by(DutyRoster.starts_at, DutyRoster.id)
        )
    )
    upcoming = dict(
        db.execute(
            select(DutyRoster.centre_area_id, func.min(DutyRoster.starts_at))
            .where(DutyRoster.centre_area_id.in_(ids), DutyRoster.starts_at > at)
            .group_by(DutyRoster.centre_area_id)
        ).all()
    )
    known = contacts(db=db, user_ids=[m.user_id for r in rows for m in r.members])
    result = []
    for centre in centres:
        mine = [r for r in rows if r.centre_area_id == centre.id]
        people: dict[int, OnDutyPerson] = {}
        for row in mine:
            for member in row.members:
                current = people.get(member.user_id)
                if current is not None and (current.is_leader or not member.is_leader):
                    continue
                contact = known.get(member.user_id)
                people[member.user_id] = OnDutyPerson(
                    user_id=member.user_id,
                    username=member.user.username,
                    name=member.user.display_name,
                    role=str(member.user.role),
                    is_leader=member.is_leader,
                    mobile=contact.mobile if contact else None,
                    email=contact.email if contact else None,
                    shift=row.shift.name,
                )
        changes = [r.ends_at for r in mine]
        if centre.id in upcoming and upcoming[centre.id] is not None:
            changes.append(_aware(upcoming[centre.id]))
        result.append(
            OnDuty(
                centre=centre,
                at=at,
                rosters=mine,
                people=sorted(people.values(), key=lambda p: (not p.is_leader, p.name)),
                next_change_at=min(changes) if changes else None,
            )
        )
    return result


def _aware(value: dt.datetime) -> dt.datetime:
    # NOTE: an aggregate (min) bypasses the column type, so SQLite hands back a naive UTC value.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@dataclass(frozen=True)
class Gap:
    """A period in which nobody is on duty at a centre (值班空档)."""

    centre_code: str
    starts_at: dt.datetime
    ends_at: dt.datetime

    @property
    def hours(self) -> float:
        return (self.ends_at - self.starts_at) / dt.timedelta(hours=1)


def coverage_gaps(*, db: Session, centre: Area, start: dt.datetime, end: dt.datetime) -> list[Gap]:
    """Returns the periods within [start, end) in which nobody is on duty at the centre, in time order."""
    if end <= start:
        raise Invalid("the end of the period must come after its start", field="end")
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    spans = db.execute(
        select(DutyRoster.starts_at, DutyRoster.ends_at)
        .where(
            DutyRoster.centre_area_id == centre.id,
            DutyRoster.starts_at < end,
            DutyRoster.ends_at > start,
            DutyRoster.members.any(),
        )
        .order_by(DutyRoster.starts_at)
    ).all()
    gaps = []
    covered = start
    for starts_at, ends_at in spans:
        if starts_at > covered:
            gaps.append(Gap(centre.code, covered, min(starts_at, end)))
        covered = max(covered, ends_at)
        if covered >= end:
            break
    if covered < end:
        gaps.append(Gap(centre.code, covered, end))
    return gaps


# --- handovers -------------------------------------------------------------------------------------------------


def _incoming(db: Session, roster: DutyRoster) -> DutyRoster | None:
    """Returns the shift that takes over from `roster`: the one starting when it ends, else the next to start."""
    base = select(DutyRoster).where(DutyRoster.centre_area_id == roster.centre_area_id, DutyRoster.id != roster.id)
    exact = db.scalars(base.where(DutyRoster.starts_at == roster.ends_at).order_by(DutyRoster.id)).first()
    if exact is not None:
        return exact
    return db.scalars(
        base.where(DutyRoster.starts_at > roster.starts_at).order_by(DutyRoster.starts_at, DutyRoster.id)
    ).first()


def _case_numbers(db: Session, actor: Actor, numbers: Iterable[str]) -> list[str]:
    wanted: list[str] = []
    for number in numbers:
        number = number.strip()
        if number and number not in wanted:
            wanted.append(number)
    if len(wanted) > 100:
        raise InputError([Issue("handover", "at most 100 case numbers", "case_numbers")], "handover refused")
    bad = [n for n in wanted if not _CASE_NUMBER_RE.match(n)]
    found = set(
        db.scalars(
            restrict(
                select(Case.number).where(Case.number.in_([n for n in wanted if n not in bad])), actor, "case.view"
            )
        )
    )
    unknown = [n for n in wanted if n not in found]
    if unknown:
        # NOTE: a case outside the writer's scope is reported exactly like a missing one.
        raise InputError(
            [Issue("handover", f"no case {', '.join(unknown)} that you may see", "case_numbers")], "handover refused"
        )
    return wanted


def write_handover(
    *,
    db: Session,
    roster: DutyRoster,
    actor: Actor,
    open_matters: str = "",
    case_numbers: Iterable[str] = (),
    notes: str = "",
    now: dt.datetime | None = None,
) -> DutyHandover:
    """Writes the handover of a shift (交接班): by someone on duty on it, once it has started, once per shift."""
    now = now or clock_now()
    if actor.user_id is None or actor.user_id not in {m.user_id for m in roster.members}:
        raise Forbidden("only the staff on duty on this shift write its handover", code="not_on_shift")
    if now < roster.starts_at:
        raise Invalid("this shift has not started yet: its handover is written at its end", code="shift_not_started")
    if db.scalar(select(DutyHandover.id).where(DutyHandover.roster_id == roster.id)) is not None:
        raise Conflict("this shift's handover is already written", code="handover_exists")
    open_matters, notes = (open_matters or "").strip(), (notes or "").strip()
    if not open_matters and not notes:
        raise InputError(
            [Issue("handover", "write the open matters or a note (e.g. 无遗留事项)", "notes")], "handover refused"
        )
    numbers = _case_numbers(db, actor, case_numbers)
    incoming = _incoming(db, roster)
    handover = DutyHandover(
        roster_id=roster.id,
        centre_area_id=roster.centre_area_id,
        incoming_roster_id=incoming.id if incoming else None,
        written_by_user_id=actor.user_id,
        written_at=now,
        open_matters=open_matters,
        case_numbers=numbers,
        notes=notes,
    )
    db.add(handover)
    db.flush()
    return handover


def acknowledge_handover(
    *, db: Session, handover: DutyHandover, actor: Actor, note: str | None = None, now: dt.datetime | None = None
) -> DutyHandover:
    """Acknowledges a handover (接班确认): by the duty leader of the incoming shift, once."""
    if handover.acknowledged_at is not None:
        raise Conflict("this handover is already acknowledged", code="handover_acknowledged")
    incoming = handover.incoming
    if incoming is None:
        incoming = _incoming(db, handover.roster)
        if incoming is None:
            raise Conflict("no incoming shift is on the roster yet to take this handover", code="no_incoming_shift")
        handover.incoming_roster_id = incoming.id
    if actor.user_id is None or actor.user_id != incoming.leader_user_id:
        raise Forbidden(
            "only the duty leader of the incoming shift acknowledges the handover", code="not_incoming_leader"
        )
    handover.acknowledged_by_user_id = actor.user_id
    handover.acknowledged_at = now or clock_now()
    handover.acknowledgement_note = (note or "").strip() or None
    db.flush()
    return handover


def get_handover(*, db: Session, handover_id: int, centres: Sequence[Area]) -> DutyHandover:
    """Returns a handover of one of `centres` (those the caller may reach); NotFoundError otherwise."""
    row = db.get(DutyHandover, handover_id) if 0 < handover_id < 2**31 else None
    if row is None or row.centre_area_id not in {c.id for c in centres}:
        raise NotFoundError(f"handover {handover_id} not found")
    return row


def list_handovers(*, db: Session, centre: Area, offset: int = 0, limit: int = 50) -> tuple[list[DutyHandover], int]:
    """Returns a page of a centre's handovers, newest shift first, with the total."""
    base = select(DutyHandover).where(DutyHandover.centre_area_id == centre.id)
    total = db.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.scalars(
        base.options(
            joinedload(DutyHandover.roster).joinedload(DutyRoster.shift),
            joinedload(DutyHandover.incoming).joinedload(DutyRoster.shift),
            joinedload(DutyHandover.written_by),
            joinedload(DutyHandover.acknowledged_by),
        )
        .join(DutyRoster, DutyHandover.roster_id == DutyRoster.id)
        .order_by(DutyRoster.starts_at.desc(), DutyHandover.id.desc())
        .offset(offset)
        .limit(limit)
    ).unique()
    return list(rows), total


def shifts_to_hand_over(*, db: Session, actor: Actor, now: dt.datetime | None = None) -> list[DutyRoster]:
    """Returns the actor's shifts that have started in the last day and have no handover yet (newest first)."""
    now = now or clock_now()
    if actor.user_id is None:
        return []
    return list(
        db.scalars(
            select(DutyRoster)
            .options(joinedload(DutyRoster.shift), joinedload(DutyRoster.centre))
            .join(DutyRosterMember, DutyRosterMember.roster_id == DutyRoster.id)
            .where(
                DutyRosterMember.user_id == actor.user_id,
                DutyRoster.starts_at <= now,
                DutyRoster.ends_at > now - dt.timedelta(hours=24),
                ~select(DutyHandover.id).where(DutyHandover.roster_id == DutyRoster.id).exists(),
            )
            .order_by(DutyRoster.starts_at.desc())
        )
    )


def handovers_to_acknowledge(*, db: Session, actor: Actor) -> list[DutyHandover]:
    """Returns the unacknowledged handovers whose incoming shift the actor leads."""
    if actor.user_id is None:
        return []
    return list(
        db.scalars(
            select(DutyHandover)
            .join(DutyRoster, DutyHandover.incoming_roster_id == DutyRoster.id)
            .where(DutyHandover.acknowledged_at.is_(None), DutyRoster.leader_user_id == actor.user_id)
            .order_by(DutyHandover.written_at)
        )
    )


# --- contacts --------------------------------------------------------------------------------------------------


def set_contact(
    *, db: Session, user: User, email: str | None, mobile: str | None, actor: Actor, now: dt.datetime | None = None
) -> DutyContact:
    """Sets where a member of the duty staff is notified (work e-mail, duty mobile); empty values clear them."""
    email, mobile = (email or "").strip() or None, re.sub(r"[\s()]", "", mobile or "") or None
    issues = []
    if email and (len(email) > 200 or not _EMAIL_RE.match(email)):
        issues.append(Issue(f"contact of {user.username}", f"not an e-mail address: {email!r}", "email"))
    if mobile and not _MOBILE_RE.match(mobile):
        issues.append(
            Issue(f"contact of {user.username}", f"not a mobile (11 digits) or landline number: {mobile!r}", "mobile")
        )
    if issues:
        raise InputError(issues, "contact refused")
    contact = db.get(DutyContact, user.id)
    if contact is None:
        contact = DutyContact(user_id=user.id)
        db.add(contact)
    contact.email, contact.mobile, contact.updated_at = email, mobile, now or clock_now()
    db.flush()
    auth_service.write_audit(
        db=db,
        actor=actor,
        action="duty.contact.set",
        target_type="user",
        target_id=user.id,
        detail={"email": bool(email), "mobile": bool(mobile)},
    )
    return contact


def manages_contact(*, actor: Actor, user: User, centres: Sequence[Area]) -> bool:
    """Tells whether `actor` may set `user`'s duty contact: the user may be on the duty of one of `centres` (those
    the actor manages) and works within the actor's own area.

    NOTE: a district leader or dispatcher may be on a street's roster, but a street's dispatcher must not redirect
    their notifications (e-mail, the mobile group robots @-mention): only a manager whose area holds theirs may.
    """
    if not any(eligibility(user, centre) is None for centre in centres):
        return False
    if actor.scope_path is None:
        return True
    scope = user.scope_area
    return scope is not None and scope.path.startswith(actor.scope_path)


def get_user(*, db: Session, username: str) -> User:
    """Returns the user named `username` (with its scope area); NotFoundError when there is none."""
    user = db.scalars(
        select(User).options(joinedload(User.scope_area)).where(User.username == (username or "").strip())
    ).first()
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def staff_candidates(*, db: Session, centre: Area) -> list[User]:
    """Returns the active users who may be on a centre's duty (role and area), by role and name."""
    roles = [role for role, actions in PERMISSIONS.items() if "duty.view" in actions]
    ancestors = _ancestor_codes(centre.path)
    users = db.scalars(
        select(User)
        .options(joinedload(User.scope_area))
        .outerjoin(Area, User.scope_area_id == Area.id)
        .where(
            User.is_active,
            User.role.in_(roles),
            or_(User.scope_area_id.is_(None), Area.code.in_(ancestors)),
        )
        .order_by(User.role, User.display_name)
    )
    return [u for u in users if eligibility(u, centre) is None]
