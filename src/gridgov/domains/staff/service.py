"""Grid staff (网格力量): the people, their assignments to streets, communities and grids, and the one count of
community workers that every staffing figure uses.

History is never overwritten: an assignment is ended (its `ends_on` set), never edited or deleted. Changes of
community and grid staff (grid levels 2 and 3) go through a personnel filing (filings.py); this module only
lets users change street-level posts directly. The system actor (the server's operator on the command line,
the demo, a filing being applied) may register any level.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, true
from sqlalchemy.orm import Session, joinedload

from gridgov.config import get_settings
from gridgov.core import clock
from gridgov.core.errors import Conflict, Forbidden, Invalid, NotFoundError
from gridgov.core.permissions import scope_condition
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.auth.service import write_audit
from gridgov.domains.staff.enums import (
    COUNTED_LEVELS,
    COUNTED_POSTS,
    FILED_LEVELS,
    GRID_LEVEL_LABELS_ZH,
    POST_LEVELS,
    Employment,
    GridLevel,
    Post,
)
from gridgov.domains.staff.models import Assignment, StaffMember

MAX_ID = 2**31 - 1
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{4,30}$")
# Accounts that stand in for people not yet in the register (see community_worker_counts).
ACCOUNT_STAFF_ROLES = (Role.grid_worker, Role.community_secretary)


class AuditAction:
    """Actions the staff register writes to the audit log."""

    member_create = "staff.member_create"
    member_update = "staff.member_update"
    assign = "staff.assign"
    end = "staff.assignment_end"


def today() -> dt.date:
    """Returns today's date in the district's time zone."""
    return clock.now().astimezone(get_settings().tz).date()


# --- scope --------------------------------------------------------------------------------------------------------


def visible(actor: Actor, action: str, path_column: Any) -> ColumnElement[bool]:
    """Returns the condition limiting rows with `path_column` to the actor's area for `action` (none without it);
    the system actor (the operator's command line, the demo, the filing job) sees everything."""
    if actor.role == Role.system:
        return true()
    return scope_condition(actor, action, area_path=path_column)


def in_scope(actor: Actor, path: str | None) -> bool:
    """Tells whether an area path lies in the actor's area (everything for actors without a scope)."""
    return actor.scope_path is None or (path is not None and path.startswith(actor.scope_path))


def require_area_in_scope(actor: Actor, area: Area, *, what: str = "area") -> None:
    """Raises Forbidden when `area` lies outside the actor's area."""
    if not in_scope(actor, area.path):
        raise Forbidden(f"{what} {area.code} ({area.name}) lies outside your area", code="out_of_area", field=what)


def scope_area(*, db: Session, actor: Actor, code: str | None) -> tuple[str | None, Area | None]:
    """Returns the area path a request is limited to — the actor's own area, narrowed to `code` — and that area;
    an area outside the actor's is answered like an unknown one (NotFoundError)."""
    if code is None:
        if actor.scope_path is None:
            return None, None
        own = actor.scope_path.strip("/").split("/")[-1]
        return actor.scope_path, db.scalars(select(Area).where(Area.code == own)).one_or_none()
    found = db.scalars(select(Area).where(Area.code == code.strip())).one_or_none()
    if found is None or not in_scope(actor, found.path):
        raise NotFoundError(f"unknown area {code!r}")
    return found.path, found


# --- areas and people ---------------------------------------------------------------------------------------------


def get_area(*, db: Session, code: str, field: str = "area") -> Area:
    """Returns the area with `code`, or raises Invalid naming the field."""
    area = db.scalars(select(Area).where(Area.code == (code or "").strip())).one_or_none()
    if area is None:
        raise Invalid(f"no area with code {code!r}", code="unknown_area", field=field)
    return area


def grid_level_of(area: Area, *, field: str = "area") -> GridLevel:
    """Returns the grid level of an area (street 1, community 2, grid 3); Invalid for other levels."""
    level = GridLevel.of(area.level)
    if level is None:
        raise Invalid(
            f"{area.code} ({area.name}) is a {area.level}: staff are assigned to a street, a community or a grid",
            code="not_a_grid_level",
            field=field,
        )
    return level


def check_post(post: Post, level: GridLevel, *, field: str = "post") -> None:
    """Raises Invalid when `post` is not held at grid level `level`."""
    if level not in POST_LEVELS[post]:
        allowed = ", ".join(GRID_LEVEL_LABELS_ZH[lv] for lv in sorted(POST_LEVELS[post]))
        raise Invalid(
            f"the post {post} is held at {allowed}, not at {GRID_LEVEL_LABELS_ZH[level]} ({level.name})",
            code="post_not_at_level",
            field=field,
        )


def check_phone(value: str | None, *, field: str = "work_phone") -> str | None:
    """Returns a work phone number stripped (None when empty), or raises Invalid for a malformed one."""
    value = (value or "").strip()
    if not value:
        return None
    if not PHONE_RE.match(value) or sum(c.isdigit() for c in value) < 5:
        raise Invalid(f"work phone {value!r}: digits, spaces and hyphens only (5-32)", code="bad_phone", field=field)
    return value


def check_name(value: str | None, *, field: str = "name") -> str:
    """Returns a person's name stripped, or raises Invalid when empty or longer than 100 characters."""
    value = (value or "").strip()
    if not value or len(value) > 100:
        raise Invalid("a person's name is 1-100 characters", code="bad_name", field=field)
    return value


def get_user(*, db: Session, username: str, field: str = "username") -> User:
    """Returns the active user with `username`, or raises Invalid naming the field."""
    user = db.scalars(select(User).where(User.username == (username or "").strip().lower())).one_or_none()
    if user is None or not user.is_active:
        raise Invalid(f"no active user {username!r}", code="unknown_user", field=field)
    return user


def member_of_user(*, db: Session, user: User) -> StaffMember | None:
    """Returns the register's record of a user, or None when the user is not in the register."""
    return db.scalars(select(StaffMember).where(StaffMember.user_id == user.id)).one_or_none()


def ensure_member(
    *,
    db: Session,
    actor: Actor,
    user: User | None = None,
    name: str | None = None,
    work_phone: str | None = None,
    source_address: str | None = None,
) -> StaffMember:
    """Returns the register's record of `user` (created on first use), or a new record of a person without login."""
    if user is not None:
        found = member_of_user(db=db, user=user)
        if found is not None:
            return found
        name = user.display_name
    member = StaffMember(
        user_id=user.id if user is not None else None, name=check_name(name), work_phone=check_phone(work_phone)
    )
    db.add(member)
    db.flush()
    write_audit(
        db=db,
        actor=actor,
        action=AuditAction.member_create,
        target_type="staff_member",
        target_id=member.id,
        source_address=source_address,
        detail={"user_id": member.user_id},
    )
    return member


def get_member(*, db: Session, actor: Actor, member_id: int, action: str = "staff.view") -> StaffMember:
    """Returns a person the actor may see (one with an assignment in its area, now or before); else NotFoundError."""
    condition = exists().where(Assignment.member_id == StaffMember.id, visible(actor, action, Assignment.area_path))
    found = (
        db.scalars(select(StaffMember).where(StaffMember.id == member_id, condition)).one_or_none()
        if 0 < member_id <= MAX_ID
        else None
    )
    if found is None:
        raise NotFoundError(f"staff member {member_id} not found")
    return found


def list_members(
    *, db: Session, actor: Actor, text: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[StaffMember], int]:
    """Returns the people with an assignment in the actor's area (now or before), by name, and their number."""
    condition = exists().where(
        Assignment.member_id == StaffMember.id, visible(actor, "staff.view", Assignment.area_path)
    )
    stmt = select(StaffMember).where(condition)
    if text:
        stmt = stmt.where(StaffMember.name.contains(text.strip(), autoescape=True))
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(stmt.order_by(StaffMember.name, StaffMember.id).offset(offset).limit(limit)).all()
    return list(rows), total


def update_member(
    *,
    db: Session,
    actor: Actor,
    member: StaffMember,
    name: str | None = None,
    work_phone: str | None = None,
    clear_phone: bool = False,
    source_address: str | None = None,
) -> StaffMember:
    """Corrects a person's name or work phone (a user's name stays their account's); audited."""
    if actor.role != Role.system:
        current = current_assignments(db=db, member_ids=[member.id])
        if not any(in_scope(actor, a.area_path) for a in current):
            raise Forbidden(
                f"{member.name} holds no post in your area: only their current area may correct the record",
                code="out_of_area",
            )
    changed: dict[str, object] = {}
    if name is not None:
        if member.user_id is not None:
            raise Invalid("a user's name is their account's display name", code="name_of_user", field="name")
        new_name = check_name(name)
        if new_name != member.name:
            changed["name"] = [member.name, new_name]
            member.name = new_name
    if work_phone is not None or clear_phone:
        new_phone = None if clear_phone else check_phone(work_phone)
        if new_phone != member.work_phone:
            changed["work_phone"] = "changed"
            member.work_phone = new_phone
    if changed:
        db.flush()
        write_audit(
            db=db,
            actor=actor,
            action=AuditAction.member_update,
            target_type="staff_member",
            target_id=member.id,
            source_address=source_address,
            detail=changed,
        )
    return member


# --- assignments --------------------------------------------------------------------------------------------------


def current_condition(on: dt.date) -> ColumnElement[bool]:
    """Returns the condition selecting assignments held on day `on`."""
    return (Assignment.starts_on <= on) & or_(Assignment.ends_on.is_(None), Assignment.ends_on > on)


def current_assignments(*, db: Session, member_ids: Iterable[int], on: dt.date | None = None) -> list[Assignment]:
    """Returns the assignments the given people hold on day `on` (default today)."""
    ids = list(member_ids)
    if not ids:
        return []
    stmt = select(Assignment).where(Assignment.member_id.in_(ids), current_condition(on or today()))
    return list(db.scalars(stmt.order_by(Assignment.area_path, Assignment.id)))


def get_assignment(*, db: Session, actor: Actor, assignment_id: int, action: str = "staff.view") -> Assignment:
    """Returns an assignment in the actor's area; NotFoundError otherwise (outside the area too)."""
    found = (
        db.scalars(
            select(Assignment).where(Assignment.id == assignment_id, visible(actor, action, Assignment.area_path))
        ).one_or_none()
        if 0 < assignment_id <= MAX_ID
        else None
    )
    if found is None:
        raise NotFoundError(f"assignment {assignment_id} not found")
    return found


def list_assignments(
    *,
    db: Session,
    actor: Actor,
    area: Area | None = None,
    subtree: bool = True,
    member_id: int | None = None,
    on: dt.date | None = None,
    history: bool = False,
    posts: Sequence[Post] = (),
    offset: int = 0,
    limit: int | None = 200,
) -> tuple[list[Assignment], int]:
    """Returns the assignments the actor may see — held on day `on` (default today), or all of them with `history`
    — of an area (and below, unless `subtree` is False) or of one person; ordered by place, post and name."""
    stmt = select(Assignment).where(visible(actor, "staff.view", Assignment.area_path))
    if area is not None:
        stmt = stmt.where(
            Assignment.area_path.startswith(area.path, autoescape=True) if subtree else Assignment.area_id == area.id
        )
    if member_id is not None:
        stmt = stmt.where(Assignment.member_id == member_id)
    if not history:
        stmt = stmt.where(current_condition(on or today()))
    if posts:
        stmt = stmt.where(Assignment.post.in_(list(posts)))
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = (
        stmt.join(StaffMember, StaffMember.id == Assignment.member_id)
        .options(joinedload(Assignment.member), joinedload(Assignment.area))
        .order_by(Assignment.area_path, Assignment.post, StaffMember.name, Assignment.starts_on.desc(), Assignment.id)
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(db.scalars(stmt).unique()), total


def start_assignment(
    *,
    db: Session,
    actor: Actor,
    member: StaffMember,
    area: Area,
    post: Post,
    employment: Employment,
    starts_on: dt.date,
    source_address: str | None = None,
    detail: dict[str, object] | None = None,
) -> Assignment:
    """Records that a person holds a post in an area from `starts_on` (no filing or scope check: callers do that)."""
    level = grid_level_of(area)
    check_post(post, level)
    clash = db.scalars(
        select(Assignment.id).where(
            Assignment.member_id == member.id,
            Assignment.area_id == area.id,
            Assignment.post == post,
            or_(Assignment.ends_on.is_(None), Assignment.ends_on > starts_on),
        )
    ).first()
    if clash is not None:
        raise Conflict(
            f"{member.name} already holds the post {post} in {area.code} ({area.name}) on {starts_on} "
            f"(assignment {clash}); end it or change it instead",
            code="already_assigned",
            assignment_id=clash,
        )
    now = clock.now()
    row = Assignment(
        member_id=member.id,
        area_id=area.id,
        area_path=area.path,
        grid_level=int(level),
        post=post,
        employment=employment,
        starts_on=starts_on,
        created_at=now,
        created_by_user_id=actor.user_id,
    )
    db.add(row)
    db.flush()
    write_audit(
        db=db,
        actor=actor,
        action=AuditAction.assign,
        target_type="staff_assignment",
        target_id=row.id,
        source_address=source_address,
        detail={
            "member_id": member.id,
            "area": area.code,
            "post": str(post),
            "employment": str(employment),
            "starts_on": starts_on.isoformat(),
            **(detail or {}),
        },
    )
    return row


def finish_assignment(
    *,
    db: Session,
    actor: Actor,
    assignment: Assignment,
    ends_on: dt.date,
    reason: str,
    source_address: str | None = None,
    detail: dict[str, object] | None = None,
) -> Assignment:
    """Ends an assignment from day `ends_on` (the first day without the post), keeping it as history; audited."""
    if assignment.ends_on is not None:
        raise Conflict(f"assignment {assignment.id} already ended on {assignment.ends_on}", code="assignment_ended")
    if ends_on < assignment.starts_on:
        raise Invalid(
            f"the end ({ends_on}) is before the start of assignment {assignment.id} ({assignment.starts_on})",
            code="ends_before_start",
            field="ends_on",
        )
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("say why the assignment ends", code="reason_required", field="reason")
    assignment.ends_on = ends_on
    assignment.end_reason = reason[:400]
    assignment.ended_at = clock.now()
    assignment.ended_by_user_id = actor.user_id
    db.flush()
    write_audit(
        db=db,
        actor=actor,
        action=AuditAction.end,
        target_type="staff_assignment",
        target_id=assignment.id,
        source_address=source_address,
        detail={"member_id": assignment.member_id, "ends_on": ends_on.isoformat(), **(detail or {})},
    )
    return assignment


def _require_direct(actor: Actor, area: Area, level: GridLevel) -> None:
    """Refuses a direct change of community or grid staff by a user: those go through a filing (报备)."""
    if actor.role == Role.system:
        return
    if level in FILED_LEVELS:
        raise Conflict(
            f"{area.code} ({area.name}) is a {GridLevel(level).name}: changes of community and grid staff are made "
            "through a personnel filing (人员变动报备, POST /api/v1/staff/filings) and its approval",
            code="filing_required",
        )
    require_area_in_scope(actor, area)


def assign(
    *,
    db: Session,
    actor: Actor,
    area: Area,
    post: Post,
    employment: Employment = Employment.full_time,
    starts_on: dt.date | None = None,
    user: User | None = None,
    member: StaffMember | None = None,
    name: str | None = None,
    work_phone: str | None = None,
    source_address: str | None = None,
) -> Assignment:
    """Assigns a person (a user, a register member, or a new person by name) to a post in an area, from
    `starts_on` (default today); users may do so for street posts only, the rest needs a filing; audited."""
    level = grid_level_of(area)
    check_post(post, level)
    _require_direct(actor, area, level)
    if sum(x is not None for x in (user, member, name)) != 1:
        raise Invalid("name the person once: a user, a register member or a new person's name", field="person")
    if member is None:
        member = ensure_member(db=db, actor=actor, user=user, name=name, work_phone=work_phone)
    return start_assignment(
        db=db,
        actor=actor,
        member=member,
        area=area,
        post=post,
        employment=employment,
        starts_on=starts_on or today(),
        source_address=source_address,
    )


def end(
    *,
    db: Session,
    actor: Actor,
    assignment: Assignment,
    ends_on: dt.date | None = None,
    reason: str,
    source_address: str | None = None,
) -> Assignment:
    """Ends a street-level assignment from `ends_on` (default today); community and grid ones need a filing."""
    _require_direct(actor, assignment.area, GridLevel(assignment.grid_level))
    return finish_assignment(
        db=db,
        actor=actor,
        assignment=assignment,
        ends_on=ends_on or today(),
        reason=reason,
        source_address=source_address,
    )


# --- counting -----------------------------------------------------------------------------------------------------


def is_counted(assignment: Assignment) -> bool:
    """Tells whether an assignment makes its holder a community worker (社区工作者) for the staffing ratio."""
    return (
        assignment.post in COUNTED_POSTS
        and assignment.employment == Employment.full_time
        and GridLevel(assignment.grid_level) in COUNTED_LEVELS
    )


def community_worker_counts(*, db: Session, on: dt.date | None = None, scope_path: str | None = None) -> dict[str, int]:
    """Returns, per area code, how many community workers (社区工作者) work in the area or below on day `on`
    (default today); with `scope_path`, only staff of that subtree are read (complete for the areas in it).

    A community worker holds a full-time counted post (secretary, director, committee member, community worker,
    grid leader, full-time grid worker) in a community or a grid; a person with several such posts counts once
    per area. An active grid-worker or community-secretary account whose person is not in the register at all
    counts at its scope area, so that a district counts its accounts until it has filled the register.
    """
    on = on or today()
    people: dict[str, set[tuple[str, int]]] = {}

    def add(key: tuple[str, int], path: str) -> None:
        for code in path.strip("/").split("/"):
            if code:
                people.setdefault(code, set()).add(key)

    held = select(Assignment.member_id, Assignment.area_path).where(
        current_condition(on),
        Assignment.post.in_(list(COUNTED_POSTS)),
        Assignment.employment == Employment.full_time,
        Assignment.grid_level.in_([int(level) for level in COUNTED_LEVELS]),
    )
    registered = select(StaffMember.user_id).where(StaffMember.user_id.is_not(None))
    accounts = (
        select(User.id, Area.path)
        .join(Area, Area.id == User.scope_area_id)
        .where(User.is_active.is_(True), User.role.in_(ACCOUNT_STAFF_ROLES), User.id.not_in(registered))
    )
    if scope_path:
        held = held.where(Assignment.area_path.startswith(scope_path, autoescape=True))
        accounts = accounts.where(Area.path.startswith(scope_path, autoescape=True))
    for member_id, path in db.execute(held):
        add(("member", member_id), path)
    for user_id, path in db.execute(accounts):
        add(("user", user_id), path)
    return {code: len(keys) for code, keys in people.items()}


def posts_below(*, db: Session, actor: Actor, area: Area, on: dt.date | None = None) -> dict[str, int]:
    """Returns, per child area code of `area`, how many posts are held in it and below on day `on` (default today)."""
    depth = len([c for c in area.path.split("/") if c])
    paths = db.scalars(
        select(Assignment.area_path).where(
            Assignment.area_path.startswith(area.path, autoescape=True),
            Assignment.area_id != area.id,
            current_condition(on or today()),
            visible(actor, "staff.view", Assignment.area_path),
        )
    )
    held: dict[str, int] = {}
    for path in paths:
        codes = [c for c in path.split("/") if c]
        if len(codes) > depth:
            held[codes[depth]] = held.get(codes[depth], 0) + 1
    return held


@dataclass(frozen=True)
class AreaStaff:
    """The current staff of one area: the posts held in it, and its community workers (the area and below)."""

    area: Area
    assignments: list[Assignment]
    community_workers: int


def area_staff(*, db: Session, actor: Actor, area: Area, on: dt.date | None = None) -> AreaStaff:
    """Returns the staff holding posts in an area itself on day `on` (default today), for a grid's page."""
    if actor.role != Role.system and not in_scope(actor, area.path):
        raise NotFoundError(f"no area with code {area.code!r}")
    rows, _ = list_assignments(db=db, actor=actor, area=area, subtree=False, on=on, limit=None)
    counts = community_worker_counts(db=db, on=on, scope_path=area.path)
    return AreaStaff(area=area, assignments=rows, community_workers=counts.get(area.code, 0))
