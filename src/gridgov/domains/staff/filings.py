"""Personnel change filings (人员变动报备) for community and grid staff: request → approve or refuse → applied.

A community asks (staff.manage, within its area): someone takes a post (onboard), leaves one, moves to another
community or grid (transfer), or changes post. Someone else with filing.approve whose area holds every place
the filing touches (the street) approves or refuses it; the requester never decides their own filing. An
approved filing changes the assignments on its effective date: at once when that date has come, otherwise
through the daily job (jobs.apply_due_filings) or `gridgov staff apply-due`. Nothing changes before that, a
refused or withdrawn filing changes nothing, and every step is kept in the filing's history and the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.orm import Session, joinedload, selectinload

from gridgov.core import clock
from gridgov.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFoundError
from gridgov.core.permissions import scope_of
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.enums import AuditOutcome, Role
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor, AuditRecord
from gridgov.domains.auth.service import write_audit
from gridgov.domains.staff import service
from gridgov.domains.staff.enums import (
    FILED_LEVELS,
    OPEN_FILING_STATUSES,
    Employment,
    FilingAction,
    FilingKind,
    FilingStatus,
    GridLevel,
    Post,
)
from gridgov.domains.staff.models import Assignment, Filing, FilingEvent, StaffMember
from gridgov.domains.staff.schemas import FilingCreate

MAX_ID = service.MAX_ID
# How far from today an effective date may lie: a typo of a year is refused, not filed.
MAX_DAYS_AWAY = 366
REASON_CHARS = 2000


class AuditAction:
    """Actions of filings written to the audit log."""

    request = "filing.request"
    approve = "filing.approve"
    refuse = "filing.refuse"
    withdraw = "filing.withdraw"
    apply = "filing.apply"
    fail = "filing.fail"


class OwnFiling(Forbidden):
    """The requester of a filing tried to approve or refuse it (403): a filing is decided by someone else. The
    attempt is audited (`audit_record`, written after the refused request by the API and the pages)."""

    code = "own_filing"

    def __init__(self, message: str, *, audit_record: AuditRecord, **details: object) -> None:
        super().__init__(message, **details)
        self.audit_record = audit_record


# --- visibility ---------------------------------------------------------------------------------------------------


def _paths_condition(actor: Actor, action: str, *, every: bool) -> ColumnElement[bool]:
    """Filings whose places lie in the actor's area for `action`: any of them, or (`every`) all of them."""
    if actor.role == Role.system:
        return true()
    if scope_of(actor, action) is None:
        return false()
    if actor.scope_path is None:
        return true()
    in_from = Filing.area_path.startswith(actor.scope_path, autoescape=True)
    in_to = Filing.to_path.startswith(actor.scope_path, autoescape=True)
    if every:
        return and_(in_from, or_(Filing.to_path.is_(None), in_to))
    return or_(in_from, in_to)


def _visible(actor: Actor) -> ColumnElement[bool]:
    return or_(
        _paths_condition(actor, "staff.view", every=False), _paths_condition(actor, "filing.approve", every=False)
    )


def may_decide(actor: Actor, filing: Filing) -> bool:
    """Tells whether the actor may approve or refuse the filing: the permission, every place in its area, and not
    its requester."""
    if scope_of(actor, "filing.approve") is None or filing.requested_by_user_id == actor.user_id:
        return False
    return service.in_scope(actor, filing.area_path) and (
        filing.to_path is None or service.in_scope(actor, filing.to_path)
    )


def get_filing(*, db: Session, actor: Actor, filing_id: int, for_update: bool = False) -> Filing:
    """Returns a filing touching the actor's area, with its history; NotFoundError otherwise."""
    stmt = (
        select(Filing)
        .where(Filing.id == filing_id, _visible(actor))
        .options(selectinload(Filing.events), joinedload(Filing.from_area), joinedload(Filing.to_area))
    )
    if for_update:
        stmt = stmt.with_for_update(of=Filing)
    found = db.scalars(stmt).unique().one_or_none() if 0 < filing_id <= MAX_ID else None
    if found is None:
        raise NotFoundError(f"filing {filing_id} not found")
    return found


def list_filings(
    *,
    db: Session,
    actor: Actor,
    statuses: Sequence[FilingStatus] = (),
    kind: FilingKind | None = None,
    to_decide: bool = False,
    mine: bool = False,
    member_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Filing], int]:
    """Returns the filings touching the actor's area, newest first, and their number: of some statuses, those the
    actor may decide now (`to_decide`), those it asked for (`mine`), or those of one person."""
    stmt = select(Filing).where(_visible(actor))
    if statuses:
        stmt = stmt.where(Filing.status.in_(list(statuses)))
    if kind is not None:
        stmt = stmt.where(Filing.kind == kind)
    if to_decide:
        stmt = stmt.where(
            Filing.status == FilingStatus.requested,
            _paths_condition(actor, "filing.approve", every=True),
            Filing.requested_by_user_id != (actor.user_id or 0),
        )
    if mine:
        stmt = stmt.where(Filing.requested_by_user_id == (actor.user_id or 0))
    if member_id is not None:
        stmt = stmt.where(Filing.member_id == member_id)
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(
        stmt.options(
            selectinload(Filing.events),
            joinedload(Filing.from_area),
            joinedload(Filing.to_area),
            joinedload(Filing.requested_by),
            joinedload(Filing.decided_by),
        )
        .order_by(Filing.requested_at.desc(), Filing.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows.unique()), total


# --- request ------------------------------------------------------------------------------------------------------


def _filed_area(db: Session, code: str | None, *, field: str) -> tuple[Area, GridLevel]:
    if not code:
        raise Invalid("name the community or grid (its area code)", code="area_required", field=field)
    area = service.get_area(db=db, code=code, field=field)
    level = service.grid_level_of(area, field=field)
    if level not in FILED_LEVELS:
        raise Invalid(
            f"{area.code} ({area.name}) is a street: street posts are assigned directly, not filed; a filing is for "
            "community and grid staff (二级、三级网格)",
            code="not_filed_level",
            field=field,
        )
    return area, level


def _check_effective(on: dt.date) -> None:
    today = service.today()
    if abs((on - today).days) > MAX_DAYS_AWAY:
        raise Invalid(
            f"effective date {on} is more than a year from today ({today})",
            code="bad_effective_date",
            field="effective_on",
        )


def _open_filing_on(db: Session, assignment_id: int) -> int | None:
    return db.scalars(
        select(Filing.id).where(Filing.assignment_id == assignment_id, Filing.status.in_(list(OPEN_FILING_STATUSES)))
    ).first()


def _holds(db: Session, member_id: int, area: Area, post: Post, on: dt.date) -> int | None:
    """Returns the id of an assignment of the person to `post` in `area` running on or after `on`, if any."""
    return db.scalars(
        select(Assignment.id).where(
            Assignment.member_id == member_id,
            Assignment.area_id == area.id,
            Assignment.post == post,
            or_(Assignment.ends_on.is_(None), Assignment.ends_on > on),
        )
    ).first()


def request(*, db: Session, actor: Actor, data: FilingCreate, source_address: str | None = None) -> Filing:
    """Files a personnel change for approval (人员变动报备), after checking it against the register; audited."""
    if actor.user_id is None or (actor.role != Role.system and scope_of(actor, "staff.manage") is None):
        raise Forbidden("personnel changes are filed by a user who manages staff (staff.manage)", code="may_not_file")
    _check_effective(data.effective_on)
    reason = data.reason.strip()
    filing = Filing(
        kind=data.kind,
        status=FilingStatus.requested,
        effective_on=data.effective_on,
        reason=reason,
        requested_by_user_id=actor.user_id,
        requested_at=clock.now(),
    )
    if data.kind == FilingKind.onboard:
        _fill_onboard(db, actor, data, filing)
    else:
        _fill_change(db, actor, data, filing)
    db.add(filing)
    db.flush()
    _record(db, filing, FilingAction.requested, AuditAction.request, actor, source_address, note=reason)
    return filing


def _fill_onboard(db: Session, actor: Actor, data: FilingCreate, filing: Filing) -> None:
    area, level = _filed_area(db, data.to_area, field="to_area")
    service.require_area_in_scope(actor, area, what="to_area")
    if data.post is None:
        raise Invalid("name the post the person takes", code="post_required", field="post")
    service.check_post(data.post, level)
    given = [x for x in (data.username, data.member_id, data.person_name) if x]
    if len(given) != 1:
        raise Invalid(
            "name the person once: username (a user), member_id (already in the register) or person_name (new)",
            code="person_required",
            field="person_name",
        )
    member: StaffMember | None = None
    if data.username:
        user = service.get_user(db=db, username=data.username)
        member = service.member_of_user(db=db, user=user)
        filing.user_id, filing.person_name = user.id, user.display_name
    elif data.member_id:
        member = db.get(StaffMember, data.member_id) if data.member_id <= MAX_ID else None
        if member is None:
            raise Invalid(f"no staff member {data.member_id}", code="unknown_member", field="member_id")
        filing.person_name = member.name
    else:
        filing.person_name = service.check_name(data.person_name, field="person_name")
        filing.work_phone = service.check_phone(data.work_phone)
    if member is not None:
        filing.member_id = member.id
        held = _holds(db, member.id, area, data.post, data.effective_on)
        if held is not None:
            raise Conflict(
                f"{member.name} already holds the post {data.post} in {area.code} ({area.name}) (assignment {held})",
                code="already_assigned",
                assignment_id=held,
            )
    filing.to_area_id, filing.post = area.id, data.post
    filing.employment = data.employment or Employment.full_time
    filing.area_path, filing.to_path = area.path, None


def _fill_change(db: Session, actor: Actor, data: FilingCreate, filing: Filing) -> None:
    if not data.assignment_id:
        raise Invalid(
            f"a {data.kind} filing names the assignment it changes", code="assignment_required", field="assignment_id"
        )
    try:
        assignment = service.get_assignment(db=db, actor=actor, assignment_id=data.assignment_id, action="staff.manage")
    except NotFoundError:
        raise Invalid(
            f"no assignment {data.assignment_id} in your area", code="unknown_assignment", field="assignment_id"
        ) from None
    if GridLevel(assignment.grid_level) not in FILED_LEVELS:
        raise Invalid(
            f"assignment {assignment.id} is a street post: it is changed directly, not filed",
            code="not_filed_level",
            field="assignment_id",
        )
    if assignment.ends_on is not None:
        raise Conflict(f"assignment {assignment.id} already ended on {assignment.ends_on}", code="assignment_ended")
    if data.effective_on < assignment.starts_on:
        raise Invalid(
            f"the effective date ({data.effective_on}) is before assignment {assignment.id} started "
            f"({assignment.starts_on})",
            code="before_start",
            field="effective_on",
        )
    pending = _open_filing_on(db, assignment.id)
    if pending is not None:
        raise Conflict(
            f"filing {pending} on assignment {assignment.id} is still open: decide or withdraw it first",
            code="filing_pending",
            filing_id=pending,
        )
    member = assignment.member
    filing.assignment_id, filing.member_id, filing.person_name = assignment.id, member.id, member.name
    filing.from_area_id, filing.area_path = assignment.area_id, assignment.area_path
    if data.kind == FilingKind.leave:
        return
    post = data.post or assignment.post
    employment = data.employment or assignment.employment
    if data.kind == FilingKind.transfer:
        area, level = _filed_area(db, data.to_area, field="to_area")
        if area.id == assignment.area_id:
            raise Invalid("a transfer goes to another community or grid", code="same_area", field="to_area")
        service.check_post(post, level)
        held = _holds(db, member.id, area, post, data.effective_on)
        if held is not None:
            raise Conflict(
                f"{member.name} already holds the post {post} in {area.code} ({area.name}) (assignment {held})",
                code="already_assigned",
                assignment_id=held,
            )
        filing.to_area_id, filing.to_path = area.id, area.path
    else:
        if (post, employment) == (assignment.post, assignment.employment):
            raise Invalid(
                "a change of post names a new post or a change of full-/part-time", code="no_change", field="post"
            )
        service.check_post(post, GridLevel(assignment.grid_level))
    filing.post, filing.employment = post, employment


# --- decisions ----------------------------------------------------------------------------------------------------


def _check_decider(actor: Actor, filing: Filing, action: str) -> None:
    if actor.role != Role.system and scope_of(actor, "filing.approve") is None:
        raise Forbidden(
            "filings are decided by a user with the approval permission (filing.approve)", code="may_not_decide"
        )
    if filing.requested_by_user_id == actor.user_id:
        record = AuditRecord.of(
            actor,
            action,
            outcome=AuditOutcome.denied,
            target_type="staff_filing",
            target_id=str(filing.id),
            detail={"reason": "the requester may not decide their own filing"},
        )
        raise OwnFiling(
            f"you asked for filing {filing.id}: it must be approved or refused by someone else (报备不得自审)",
            audit_record=record,
            filing_id=filing.id,
        )
    if not (
        service.in_scope(actor, filing.area_path)
        and (filing.to_path is None or service.in_scope(actor, filing.to_path))
    ):
        raise Forbidden(
            f"filing {filing.id} touches a place outside your area: it is decided by a centre above both places",
            code="out_of_area",
        )
    if filing.status != FilingStatus.requested:
        raise Conflict(
            f"filing {filing.id} is already {filing.status}", code="filing_decided", status_of_filing=str(filing.status)
        )


def approve(
    *, db: Session, actor: Actor, filing: Filing, note: str | None = None, source_address: str | None = None
) -> Filing:
    """Approves a requested filing (not one's own); applies it at once when its effective date has come."""
    _check_decider(actor, filing, AuditAction.approve)
    problem = applicable(db=db, filing=filing)
    if problem is not None:
        raise Conflict(
            f"filing {filing.id} no longer fits the register: {problem}; refuse it instead", code="filing_stale"
        )
    note = (note or "").strip() or None
    filing.status, filing.decided_by_user_id, filing.decided_at = FilingStatus.approved, actor.user_id, clock.now()
    filing.decision_note = note
    db.flush()
    _record(db, filing, FilingAction.approved, AuditAction.approve, actor, source_address, note=note)
    if filing.effective_on <= service.today():
        apply(db=db, actor=actor, filing=filing, source_address=source_address)
    return filing


def refuse(*, db: Session, actor: Actor, filing: Filing, note: str, source_address: str | None = None) -> Filing:
    """Refuses a requested filing (not one's own) with a reason; the register does not change; audited."""
    _check_decider(actor, filing, AuditAction.refuse)
    note = (note or "").strip()
    if not note:
        raise Invalid("say why the filing is refused", code="reason_required", field="note")
    filing.status, filing.decided_by_user_id, filing.decided_at = FilingStatus.refused, actor.user_id, clock.now()
    filing.decision_note = note
    db.flush()
    _record(db, filing, FilingAction.refused, AuditAction.refuse, actor, source_address, note=note)
    return filing


def withdraw(
    *, db: Session, actor: Actor, filing: Filing, note: str | None = None, source_address: str | None = None
) -> Filing:
    """Withdraws one's own filing before it is applied; the register does not change; audited."""
    if filing.requested_by_user_id != actor.user_id:
        raise Forbidden(f"only the requester withdraws filing {filing.id}", code="not_requester")
    if filing.status not in OPEN_FILING_STATUSES:
        raise Conflict(f"filing {filing.id} is already {filing.status}", code="filing_closed")
    filing.status = FilingStatus.withdrawn
    db.flush()
    _record(
        db,
        filing,
        FilingAction.withdrawn,
        AuditAction.withdraw,
        actor,
        source_address,
        note=(note or "").strip() or None,
    )
    return filing


# --- applying -----------------------------------------------------------------------------------------------------


def applicable(*, db: Session, filing: Filing) -> str | None:
    """Returns why the filing can no longer change the register (the assignment ended meanwhile ...), or None."""
    if filing.assignment_id is not None:
        assignment = db.get(Assignment, filing.assignment_id)
        if assignment is None or assignment.ends_on is not None:
            return f"assignment {filing.assignment_id} has ended already"
        if filing.effective_on < assignment.starts_on:
            return f"assignment {assignment.id} starts after the effective date"
    target = _target_area(db, filing)
    if filing.post is not None and target is not None and filing.member_id is not None:
        held = _holds(db, filing.member_id, target, filing.post, filing.effective_on)
        if held is not None and held != filing.assignment_id:
            return f"{filing.person_name} already holds the post {filing.post} in {target.code} (assignment {held})"
    return None


def _target_area(db: Session, filing: Filing) -> Area | None:
    """Returns the place the person holds a post in after the filing (None for a leave)."""
    if filing.kind == FilingKind.leave:
        return None
    area_id = filing.to_area_id if filing.kind in (FilingKind.onboard, FilingKind.transfer) else filing.from_area_id
    return db.get(Area, area_id) if area_id is not None else None


def apply(*, db: Session, actor: Actor, filing: Filing, source_address: str | None = None) -> Filing:
    """Applies an approved filing whose date has come to the assignments; a filing the register no longer allows is
    marked failed, with the reason in its history. Returns the filing."""
    if filing.status != FilingStatus.approved:
        raise Conflict(f"filing {filing.id} is {filing.status}, not approved", code="filing_not_approved")
    if filing.effective_on > service.today():
        raise Conflict(f"filing {filing.id} takes effect on {filing.effective_on}", code="filing_not_due")
    problem = applicable(db=db, filing=filing)
    if problem is None:
        try:
            with db.begin_nested():
                _change_register(db, actor, filing, source_address)
        except DomainError as error:
            problem = error.message
    if problem is not None:
        filing.status = FilingStatus.failed
        db.flush()
        _record(
            db,
            filing,
            FilingAction.failed,
            AuditAction.fail,
            actor,
            source_address,
            note=problem,
            detail={"problem": problem},
        )
        return filing
    filing.status, filing.applied_at = FilingStatus.applied, clock.now()
    db.flush()
    _record(
        db,
        filing,
        FilingAction.applied,
        AuditAction.apply,
        actor,
        source_address,
        detail={"new_assignment_id": filing.new_assignment_id},
    )
    return filing


def _change_register(db: Session, actor: Actor, filing: Filing, source_address: str | None) -> None:
    trail = {"filing_id": filing.id}
    label = {
        FilingKind.leave: "离岗",
        FilingKind.transfer: "调动",
        FilingKind.change_post: "岗位变更",
        FilingKind.onboard: "新增",
    }[filing.kind]
    if filing.assignment_id is not None:
        assignment = db.get(Assignment, filing.assignment_id)
        assert assignment is not None  # checked by applicable()
        service.finish_assignment(
            db=db,
            actor=actor,
            assignment=assignment,
            ends_on=filing.effective_on,
            reason=f"报备 #{filing.id} {label}: {filing.reason}",
            source_address=source_address,
            detail=trail,
        )
    if filing.kind == FilingKind.leave:
        return
    member = db.get(StaffMember, filing.member_id) if filing.member_id is not None else None
    if member is None:
        user = db.get(User, filing.user_id) if filing.user_id else None
        member = service.ensure_member(
            db=db, actor=actor, user=user, name=filing.person_name, work_phone=filing.work_phone
        )
        filing.member_id = member.id
    area = _target_area(db, filing)
    assert area is not None and filing.post is not None and filing.employment is not None
    new = service.start_assignment(
        db=db,
        actor=actor,
        member=member,
        area=area,
        post=filing.post,
        employment=filing.employment,
        starts_on=filing.effective_on,
        source_address=source_address,
        detail=trail,
    )
    filing.new_assignment_id = new.id


def due_filing_ids(*, db: Session, on: dt.date | None = None) -> list[int]:
    """Returns the approved filings whose effective date has come (on day `on`, default today), oldest first."""
    on = on or service.today()
    stmt = select(Filing.id).where(Filing.status == FilingStatus.approved, Filing.effective_on <= on)
    return list(db.scalars(stmt.order_by(Filing.effective_on, Filing.id)))


def apply_due(*, db: Session, actor: Actor, on: dt.date | None = None) -> list[Filing]:
    """Applies every approved filing whose date has come (in one transaction: the job does one per transaction)."""
    done = []
    for filing_id in due_filing_ids(db=db, on=on):
        filing = db.get(Filing, filing_id)
        if filing is not None and filing.status == FilingStatus.approved:
            done.append(apply(db=db, actor=actor, filing=filing))
    return done


# --- history ------------------------------------------------------------------------------------------------------


def _record(
    db: Session,
    filing: Filing,
    action: FilingAction,
    audit_action: AuditAction,
    actor: Actor,
    source_address: str | None,
    *,
    note: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Writes one step of the filing's history and its audit entry (the filing's summary, and `detail`)."""
    _event(db, filing, action, actor, note=note)
    write_audit(
        db=db,
        actor=actor,
        action=audit_action,
        target_type="staff_filing",
        target_id=filing.id,
        source_address=source_address,
        detail={**_summary(filing), **(detail or {})},
    )


def _event(db: Session, filing: Filing, action: FilingAction, actor: Actor, *, note: str | None = None) -> FilingEvent:
    event = FilingEvent(
        filing_id=filing.id,
        action=action,
        at=clock.now(),
        actor_user_id=actor.user_id,
        actor_name=actor.name[:100],
        note=note,
    )
    db.add(event)
    db.flush()
    return event


def _summary(filing: Filing) -> dict[str, object]:
    """The facts of a filing for the audit log (ids and codes; the person by register id, never more)."""
    return {
        "kind": str(filing.kind),
        "status": str(filing.status),
        "member_id": filing.member_id,
        "user_id": filing.user_id,
        "assignment_id": filing.assignment_id,
        "from_area_id": filing.from_area_id,
        "to_area_id": filing.to_area_id,
        "post": str(filing.post) if filing.post else None,
        "employment": str(filing.employment) if filing.employment else None,
        "effective_on": filing.effective_on.isoformat(),
    }
