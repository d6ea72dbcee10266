"""Commands and queries of the case loop. Every command checks the transition table, the actor and the
case's version, changes the case row and appends its event in the caller's transaction (never commits).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from gridgov.config import get_settings
from gridgov.core.calendar import TimeUnit, WorkingCalendar
from gridgov.core.clock import now as clock_now
from gridgov.core.errors import Conflict, Forbidden, Invalid, NotFoundError
from gridgov.core.geo import distance_m
from gridgov.core.media import StoredFile
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.enums import DISPATCHER_ROLES, Role
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, Actor
from gridgov.domains.cases import machine, sla
from gridgov.domains.cases.enums import (
    TERMINAL_STAGES,
    Action,
    AttachmentKind,
    CaseStage,
    Reasonableness,
    Satisfaction,
)
from gridgov.domains.cases.models import Case, CaseAttachment, CaseEvent, CaseSequence, MediaFile
from gridgov.domains.cases.public import UNREASONABLE_REASONS
from gridgov.domains.catalog.enums import Stage
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.dispatch import service as dispatch_service
from gridgov.domains.dispatch.schemas import DispatchPlan

STAGE_TIMESTAMP: dict[CaseStage, str] = {
    CaseStage.reported: "reported_at",
    CaseStage.verifying: "verifying_at",
    CaseStage.registered: "registered_at",
    CaseStage.rejected: "rejected_at",
    CaseStage.merged: "merged_at",
    CaseStage.dispatched: "dispatched_at",
    CaseStage.signed: "signed_at",
    CaseStage.returned: "returned_at",
    CaseStage.handling: "handling_at",
    CaseStage.handled: "handled_at",
    CaseStage.closed: "closed_at",
}

MAX_ID = 2**31 - 1  # the largest value of an Integer primary key on PostgreSQL

RETURN_REASONS: dict[str, str] = {
    "not_our_duty": "非本单位职责 (not this unit's responsibility)",
    "wrong_location": "属地不符 (outside this unit's area)",
    "unclear_ownership": "权属不清 (ownership unclear)",
    "insufficient_information": "信息不全 (not enough information)",
    "duplicate": "重复派单 (duplicate)",
    "dispatch_error": "派遣错误 (dispatcher error)",
}
# Returns for these reasons must cite the responsibility-list or power-list item they rely on.
CITATION_REQUIRED = frozenset({"not_our_duty", "unclear_ownership", "wrong_location"})

REJECT_REASONS: dict[str, str] = {
    "not_a_problem": "不属实 (not confirmed on site)",
    "out_of_scope": "不属于受理范围 (outside the platform's scope)",
    "duplicate": "重复上报 (duplicate report)",
    "already_solved": "已解决 (already solved)",
    "invalid": "无效信息 (invalid or abusive)",
}


@dataclass
class Context:
    """What every command needs besides its arguments: who, when, which calendar."""

    actor: Actor
    now: dt.datetime
    calendar: WorkingCalendar

    @classmethod
    def of(cls, actor: Actor, now: dt.datetime | None = None, calendar: WorkingCalendar | None = None) -> Context:
        return cls(actor=actor, now=now or clock_now(), calendar=calendar or sla.default_calendar())


# --- queries -------------------------------------------------------------------------------------------------


def get(*, db: Session, case_id: int) -> Case:
    """Returns the case with `case_id`, or raises NotFoundError."""
    # NOTE: ids are 32-bit integers; a larger one would make the database driver fail (a 500) instead of a 404.
    case = db.get(Case, case_id) if 0 < case_id <= MAX_ID else None
    if case is None:
        raise NotFoundError(f"case {case_id} not found")
    return case


def get_by_number(*, db: Session, number: str) -> Case:
    """Returns the case numbered `number`, or raises NotFoundError."""
    case = db.scalars(select(Case).where(Case.number == number)).first()
    if case is None:
        raise NotFoundError(f"case {number} not found")
    return case


def timeline(*, db: Session, case: Case) -> list[CaseEvent]:
    """Returns the case's events in order: its whole history."""
    return list(db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)))


@dataclass
class CaseFilter:
    """Filters of the case list; every field is optional."""

    stage: list[CaseStage] | None = None
    is_open: bool | None = None
    overdue: bool | None = None
    min_warning_level: int | None = None
    unit_id: int | None = None
    area_path: str | None = None
    centre_area_id: int | None = None
    matter_type_id: int | None = None
    channel: list[str] | None = None
    reported_from: dt.datetime | None = None
    reported_to: dt.datetime | None = None
    text: str | None = None
    supervised: bool | None = None


def filter_statement(stmt: Select[Any], filters: CaseFilter) -> Select[Any]:
    """Applies `filters` to a select of cases."""
    conditions = []
    if filters.stage:
        conditions.append(Case.stage.in_(filters.stage))
    if filters.is_open is not None:
        conditions.append(Case.is_open.is_(filters.is_open))
    if filters.overdue is not None:
        conditions.append(Case.is_overdue.is_(filters.overdue))
    if filters.min_warning_level is not None:
        conditions.append(Case.warning_level >= filters.min_warning_level)
    if filters.unit_id is not None:
        conditions.append(Case.handling_unit_id == filters.unit_id)
    if filters.area_path:
        conditions.append(Case.area_path.startswith(filters.area_path, autoescape=True))
    if filters.centre_area_id is not None:
        conditions.append(Case.centre_area_id == filters.centre_area_id)
    if filters.matter_type_id is not None:
        conditions.append(Case.matter_type_id == filters.matter_type_id)
    if filters.channel:
        conditions.append(Case.channel.in_(filters.channel))
    if filters.reported_from is not None:
        conditions.append(Case.reported_at >= filters.reported_from)
    if filters.reported_to is not None:
        conditions.append(Case.reported_at < filters.reported_to)
    if filters.supervised is not None:
        conditions.append(Case.is_supervised.is_(filters.supervised))
    if filters.text:
        # NOTE: autoescape, so "%" or "_" typed into the search box match themselves, not everything.
        text = filters.text
        conditions.append(
            Case.title.icontains(text, autoescape=True)
            | Case.description.icontains(text, autoescape=True)
            | Case.number.icontains(text, autoescape=True)
        )
    return stmt.where(*conditions)


def list_cases(
    *,
    db: Session,
    filters: CaseFilter,
    offset: int = 0,
    limit: int = 50,
    scope: Callable[[Select[Any]], Select[Any]] | None = None,
) -> tuple[list[Case], int]:
    """Returns one page of cases matching `filters` (and `scope`, e.g. permissions.restrict), newest first."""
    limited = scope or (lambda stmt: stmt)
    total = db.scalar(limited(filter_statement(select(func.count(Case.id)), filters))) or 0
    stmt = limited(filter_statement(select(Case), filters)).order_by(Case.reported_at.desc(), Case.id.desc())
    return list(db.scalars(stmt.offset(offset).limit(limit))), total


def reporters_to_notify(*, db: Session, case: Case) -> list[Case]:
    """Returns the case and every case merged into it: all their reporters receive the parent's updates."""
    children = list(db.scalars(select(Case).where(Case.parent_id == case.id).order_by(Case.id)))
    return [case, *children]


# --- the event log ---------------------------------------------------------------------------------------------


def next_number(*, db: Session, district_code: str, at: dt.datetime, calendar: WorkingCalendar) -> str:
    """Returns the next case number: district code, local date and a daily sequence (410105-20261127-000042)."""
    day = at.astimezone(calendar.tz).strftime("%Y%m%d")
    bumped = db.execute(
        update(CaseSequence)
        .where(CaseSequence.district_code == district_code, CaseSequence.day == day)
        .values(last=CaseSequence.last + 1)
        .returning(CaseSequence.last)
    ).scalar()
    if bumped is None:
        try:
            with db.begin_nested():
                db.add(CaseSequence(district_code=district_code, day=day, last=1))
            bumped = 1
        except IntegrityError:
            # NOTE: a concurrent first case of the day inserted the row first (PostgreSQL waited for its commit);
            # the savepoint undid only our insert, so take the next number from its row.
            bumped = db.execute(
                update(CaseSequence)
                .where(CaseSequence.district_code == district_code, CaseSequence.day == day)
                .values(last=CaseSequence.last + 1)
                .returning(CaseSequence.last)
            ).scalar_one()
    return f"{district_code}-{day}-{bumped:06d}"


def record(
    *,
    db: Session,
    case: Case,
    action: Action,
    ctx: Context,
    from_stage: CaseStage | None,
    to_stage: CaseStage,
    reason_code: str | None = None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> CaseEvent:
    """Appends one event to the case's log, stamped with the deadline in force after it.

    A case still being built by intake (no id yet) keeps its events in memory: they are inserted with it, in
    one round trip.
    """
    actor = actor or ctx.actor
    event = CaseEvent(
        action=action,
        from_stage=from_stage,
        to_stage=to_stage,
        actor_user_id=actor.user_id,
        actor_name=actor.name,
        actor_role=actor.role,
        actor_unit_id=actor.unit_id,
        reason_code=reason_code,
        note=note,
        data=data or {},
        clock_stage=case.clock_stage,
        deadline_at=sla.due_at(case),
        occurred_at=ctx.now,
    )
    if case.id is None:
        event.seq = len(case.events) + 1
        case.events.append(event)
    else:
        last = db.scalar(select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == case.id))
        event.case_id, event.seq = case.id, (last or 0) + 1
        db.add(event)
    return event


def _begin(case: Case, action: Action, ctx: Context, expected_version: int | None) -> CaseStage:
    """Checks version, stage and role; returns the target stage."""
    if expected_version is not None and expected_version != case.version:
        raise Conflict(
            f"case {case.number} was changed by someone else (version {case.version}, you had {expected_version});"
            " reload it and try again",
            code="stale_version",
            current_version=case.version,
        )
    return machine.check(action, case.stage, ctx.actor.role)


def write_case(*, db: Session, case: Case) -> None:
    """Flushes the case's changes now; a concurrent writer that committed first makes this a stale_version 409."""
    if case.id is None:
        return  # being built by intake: inserted once, at the end
    number, version = case.number, case.version
    try:
        db.flush()
    except StaleDataError:
        # NOTE: the UPDATE ... WHERE version = ours matched nothing: on PostgreSQL another transaction changed the
        # case after we read it (we waited for its row lock). The transaction is unusable; the caller rolls back.
        raise Conflict(
            f"case {number} was changed by someone else while you acted on version {version}; reload it and try again",
            code="stale_version",
        ) from None


def _move(case: Case, to_stage: CaseStage, ctx: Context) -> CaseStage:
    """Moves the case to `to_stage`, stamping the stage's time column; returns the previous stage."""
    previous = case.stage
    case.stage = to_stage
    if to_stage != previous and to_stage in STAGE_TIMESTAMP:
        setattr(case, STAGE_TIMESTAMP[to_stage], ctx.now)
    case.is_open = to_stage not in TERMINAL_STAGES
    case.updated_at = ctx.now
    return previous


def _act(
    *,
    db: Session,
    case: Case,
    action: Action,
    ctx: Context,
    expected_version: int | None,
    reason_code: str | None = None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    clock: Stage | None = None,
) -> CaseEvent:
    """Runs one transition: checks, moves, restarts the clock of `clock` (if given), records the event."""
    to_stage = _begin(case, action, ctx, expected_version)
    previous = _move(case, to_stage, ctx)
    write_case(db=db, case=case)
    if to_stage in TERMINAL_STAGES:
        sla.stop_clock(case)
    elif clock is not None:
        sla.start_clock(db=db, case=case, stage=clock, at=ctx.now, calendar=ctx.calendar)
    return record(
        db=db,
        case=case,
        action=action,
        ctx=ctx,
        from_stage=previous,
        to_stage=to_stage,
        reason_code=reason_code,
        note=note,
        data=data,
    )


def _require_note(note: str | None, what: str) -> str:
    if not note or not note.strip():
        raise Invalid(f"{what} requires a note", code="note_required")
    return note.strip()


def _check_handler(case: Case, action: Action, ctx: Context, expected_version: int | None) -> None:
    """Checks the transition, then that only the handling unit's own people act as handler."""
    _begin(case, action, ctx, expected_version)
    if ctx.actor.unit_id is None or ctx.actor.unit_id != case.handling_unit_id:
        raise Forbidden(f"only the handling unit of case {case.number} may do this", code="not_handling_unit")


# --- intake-time helpers (used by gridgov.domains.intake) ------------------------------------------------------


def case_areas(case: Case) -> dict[AreaLevel, int | None]:
    """Returns the case's area ids per level, as dispatch resolves units."""
    return {
        AreaLevel.grid: case.grid_id,
        AreaLevel.community: case.community_id,
        AreaLevel.street: case.street_id,
        AreaLevel.district: case.district_id,
    }


def plan_dispatch(*, db: Session, case: Case) -> DispatchPlan:
    """Computes the case's dispatch candidates and owning centre; stores them on the case."""
    settings = get_settings()
    classification = case.classification or {}
    # NOTE: only a model that chose the matter type holds a case back; a unit model's output is a suggestion.
    trusted = classification.get("reviewed") or classification.get("target") == "unit"
    confidence = None if trusted else classification.get("confidence")
    owner = db.get(Unit, case.component_owner_unit_id) if case.component_owner_unit_id else None
    plan = dispatch_service.plan(
        db=db,
        matter_type=case.matter_type,
        area_path=case.area_path,
        case_areas=case_areas(case),
        component_owner=owner,
        confidence=confidence,
        min_confidence=settings.auto_dispatch_min_confidence,
    )
    case.dispatch_candidates = [c.model_dump(mode="json") for c in plan.candidates]
    if case.centre_area_id is None or not case.is_escalated:
        case.centre_area_id = case.district_id if plan.centre_level == AreaLevel.district else case.street_id
    return plan


# --- commands ---------------------------------------------------------------------------------------------------


def confirm(
    *, db: Session, case: Case, ctx: Context, note: str | None = None, expected_version: int | None = None
) -> CaseEvent:
    """核实属实: a public report is confirmed on site and registered; it is auto-dispatched when unambiguous."""
    event = _act(
        db=db,
        case=case,
        action=Action.confirm,
        ctx=ctx,
        expected_version=expected_version,
        note=note,
        clock=Stage.dispatch,
    )
    auto_dispatch(db=db, case=case, ctx=ctx)
    return event


def register(
    *,
    db: Session,
    case: Case,
    ctx: Context,
    note: str | None = None,
    expected_version: int | None = None,
    dispatch: bool = True,
) -> CaseEvent:
    """立案: the centre accepts the case; it is auto-dispatched when unambiguous (unless `dispatch` is False)."""
    event = _act(
        db=db,
        case=case,
        action=Action.register,
        ctx=ctx,
        expected_version=expected_version,
        note=note,
        clock=Stage.dispatch,
    )
    if dispatch:
        auto_dispatch(db=db, case=case, ctx=ctx)
    return event


def reject(
    *,
    db: Session,
    case: Case,
    ctx: Context,
    reason_code: str,
    note: str | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """不予立案: the case is refused with a reason code."""
    _begin(case, Action.reject, ctx, expected_version)
    if reason_code not in REJECT_REASONS:
        raise Invalid(
            f"unknown reject reason {reason_code!r}; use one of {', '.join(REJECT_REASONS)}",
            code="unknown_reason",
            allowed=list(REJECT_REASONS),
        )
    return _act(
        db=db,
        case=case,
        action=Action.reject,
        ctx=ctx,
        expected_version=expected_version,
        reason_code=reason_code,
        note=note,
    )


def merge(
    *, db: Session, case: Case, parent: Case, ctx: Context, note: str | None = None, expected_version: int | None = None
) -> CaseEvent:
    """并单: the case joins `parent`; its reporter then receives the parent's updates."""
    _begin(case, Action.merge, ctx, expected_version)
    if parent.id == case.id:
        raise Invalid("a case cannot be merged into itself", code="merge_self")
    if parent.stage in (CaseStage.merged, CaseStage.rejected):
        raise Conflict(f"case {parent.number} is {parent.stage} and cannot take merged cases", code="bad_parent")
    case.parent_id = parent.id
    return _act(
        db=db,
        case=case,
        action=Action.merge,
        ctx=ctx,
        expected_version=expected_version,
        note=note,
        data={"parent": parent.number},
    )


def reclassify(
    *,
    db: Session,
    case: Case,
    matter_type: MatterType,
    ctx: Context,
    note: str | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """改类: the dispatcher corrects the matter type before dispatch; the dispatch candidates are planned again.

    A model's classification stays on the case (it is what the model said, for measuring the model), marked as
    reviewed: from now on the dispatcher's choice, not the model's confidence, decides.
    """
    _begin(case, Action.reclassify, ctx, expected_version)
    if not matter_type.is_active:
        raise Invalid(f"matter type {matter_type.code} is not active", code="unknown_matter_type")
    if matter_type.id == case.matter_type_id:
        raise Invalid(f"case {case.number} is already of matter type {matter_type.code}", code="same_matter_type")
    previous = case.matter_type.code
    suggested = [s.get("code") for s in (case.classification or {}).get("suggestions", [])]
    case.matter_type = matter_type
    if case.classification:
        case.classification = {**case.classification, "reviewed": True}
    plan_dispatch(db=db, case=case)
    data = {
        "from": previous,
        "to": matter_type.code,
        "suggestion_rank": suggested.index(matter_type.code) + 1 if matter_type.code in suggested else None,
    }
    return _act(
        db=db, case=case, action=Action.reclassify, ctx=ctx, expected_version=expected_version, note=note, data=data
    )


def auto_dispatch(*, db: Session, case: Case, ctx: Context) -> CaseEvent | None:
    """Dispatches a registered case automatically when its plan names exactly one unit; else leaves it queued."""
    plan = plan_dispatch(db=db, case=case)
    if plan.auto_unit_id is None or case.is_final_ruling:
        return None
    chosen = next(c for c in plan.candidates if c.unit_id == plan.auto_unit_id)
    unit = chosen.unit or db.get(Unit, plan.auto_unit_id)
    system = Context(actor=SYSTEM_ACTOR, now=ctx.now, calendar=ctx.calendar)
    return dispatch(db=db, case=case, unit=unit, co_units=[], ctx=system, note=f"auto: {plan.reason}")


def dispatch(
    *,
    db: Session,
    case: Case,
    unit: Unit,
    co_units: list[Unit],
    ctx: Context,
    note: str | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """派遣: the case goes to a handling unit; the handling clock starts now (not at signing)."""
    _begin(case, Action.dispatch, ctx, expected_version)
    reason = dispatch_service.check_unit(db=db, matter_type=case.matter_type, unit=unit, grid_id=case.grid_id)
    if reason is not None:
        raise Invalid(reason, code="unit_not_allowed")
    if case.stage == CaseStage.returned and case.returned_at is not None:
        case.limbo_seconds += max((ctx.now - case.returned_at).total_seconds(), 0.0)
    binding = case.return_count >= get_settings().max_returns and ctx.actor.role in DISPATCHER_ROLES
    if binding:
        case.is_final_ruling = True
    case.handling_unit_id = unit.id
    case.co_unit_ids = [u.id for u in co_units if u.id != unit.id]
    case.hop_count += 1
    return _act(
        db=db,
        case=case,
        action=Action.dispatch,
        ctx=ctx,
        expected_version=expected_version,
        note=note,
        clock=Stage.handle,
        data={"unit": unit.code, "co_units": [u.code for u in co_units], "final_ruling": binding},
    )


def sign(*, db: Session, case: Case, ctx: Context, expected_version: int | None = None) -> CaseEvent:
    """签收: the handling unit acknowledges the case (its clock already runs since dispatch)."""
    _check_handler(case, Action.sign, ctx, expected_version)
    return _act(db=db, case=case, action=Action.sign, ctx=ctx, expected_version=expected_version)


def return_case(
    *,
    db: Session,
    case: Case,
    ctx: Context,
    reason_code: str,
    citation: str | None = None,
    note: str | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """回退: the handling unit sends the case back with a reason code (and the list item it relies on).

    After `GRIDGOV_MAX_RETURNS` returns the case moves to the higher centre for a binding ruling (终审); a
    unit named by that ruling cannot return the case again.
    """
    _check_handler(case, Action.return_, ctx, expected_version)
    if case.is_final_ruling:
        raise Forbidden(
            f"case {case.number} was assigned by a final ruling (终审) and cannot be returned", code="final_ruling"
        )
    if reason_code not in RETURN_REASONS:
        raise Invalid(
            f"unknown return reason {reason_code!r}; use one of {', '.join(RETURN_REASONS)}",
            code="unknown_reason",
            allowed=list(RETURN_REASONS),
        )
    if reason_code in CITATION_REQUIRED and not (citation and citation.strip()):
        raise Invalid(
            f"a return for {reason_code!r} must cite the responsibility-list or power-list item it relies on",
            code="citation_required",
        )
    previous_unit = case.handling_unit.code if case.handling_unit else None
    case.return_count += 1
    case.handling_unit_id = None
    case.co_unit_ids = []
    event = _act(
        db=db,
        case=case,
        action=Action.return_,
        ctx=ctx,
        expected_version=expected_version,
        reason_code=reason_code,
        note=note,
        clock=Stage.dispatch,
        data={"unit": previous_unit, "citation": citation},
    )
    if case.return_count >= get_settings().max_returns and case.centre_area_id != case.district_id:
        system = Context(actor=SYSTEM_ACTOR, now=ctx.now, calendar=ctx.calendar)
        escalate(
            db=db,
            case=case,
            ctx=system,
            note=f"returned {case.return_count} times: to the district centre for a binding ruling (终审)",
        )
    return event


def start(*, db: Session, case: Case, ctx: Context, expected_version: int | None = None) -> CaseEvent:
    """开始处置."""
    _check_handler(case, Action.start, ctx, expected_version)
    return _act(db=db, case=case, action=Action.start, ctx=ctx, expected_version=expected_version)


def attach(*, db: Session, case: Case, sha256s: list[str], kind: AttachmentKind, ctx: Context) -> list[CaseAttachment]:
    """Links uploaded files (by content hash) to the case; unknown hashes are refused."""
    if not sha256s:
        return []
    media = {m.sha256: m for m in db.scalars(select(MediaFile).where(MediaFile.sha256.in_(sha256s)))}
    unknown = [h for h in sha256s if h not in media]
    if unknown:
        raise Invalid(f"unknown attachment(s) {', '.join(unknown)}: upload them first", code="unknown_attachment")
    links = [
        CaseAttachment(
            kind=kind,
            sha256=h,
            content_type=media[h].content_type,
            size=media[h].size,
            filename=media[h].filename,
            uploaded_by=ctx.actor.user_id,
            created_at=ctx.now,
        )
        for h in dict.fromkeys(sha256s)
    ]
    case.attachments.extend(links)  # saved with the case (a new case inserts them with itself)
    return links


def register_media(*, db: Session, stored: StoredFile, filename: str | None, ctx: Context) -> MediaFile:
    """Records an uploaded file (stored by `gridgov.core.media.store`) once, with its photo EXIF; returns its row."""
    found = db.get(MediaFile, stored.sha256)
    if found is None:
        found = MediaFile(
            sha256=stored.sha256,
            content_type=stored.content_type,
            size=stored.size,
            filename=(filename or "")[:200] or None,
            uploaded_by=ctx.actor.user_id,
            created_at=ctx.now,
        )
        db.add(found)
    # A row recorded before photos were read (or the same bytes sent again) gets the metadata it lacks.
    for name in ("width", "height", "taken_at", "gps_lng", "gps_lat"):
        if getattr(found, name) is None and getattr(stored, name) is not None:
            setattr(found, name, getattr(stored, name))
    db.flush()
    return found


def photo_flags(
    *, db: Session, sha256s: list[str], lng: float, lat: float, max_distance_m: float | None = None
) -> list[dict[str, Any]]:
    """Returns the photos whose EXIF GPS lies farther than the allowed distance from the reported WGS84 point.

    Each entry is {sha256, distance_m} (geodesic metres, one decimal); photos without GPS are not judged.
    The limit is `photo_gps_max_distance_m` unless `max_distance_m` is given.
    """
    if not sha256s:
        return []
    limit = get_settings().photo_gps_max_distance_m if max_distance_m is None else max_distance_m
    rows = {
        m.sha256: m
        for m in db.scalars(
            select(MediaFile).where(
                MediaFile.sha256.in_(sha256s), MediaFile.gps_lng.is_not(None), MediaFile.gps_lat.is_not(None)
            )
        )
    }
    far = []
    for sha in dict.fromkeys(sha256s):
        photo = rows.get(sha)
        if photo is None or photo.gps_lng is None or photo.gps_lat is None:
            continue
        distance = distance_m(photo.gps_lng, photo.gps_lat, lng, lat)
        if distance > limit:
            far.append({"sha256": sha, "distance_m": round(distance, 1)})
    return far


def require_evidence(matter_type: MatterType, sha256s: list[str]) -> None:
    """Refuses a handling result without an after-photo when the matter type requires evidence."""
    if matter_type.evidence_required and not sha256s:
        raise Invalid(
            f"matter type {matter_type.code} requires a photo of the result as evidence", code="evidence_required"
        )


def finish(
    *,
    db: Session,
    case: Case,
    ctx: Context,
    result: str,
    evidence: list[str] | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """处置反馈: the unit reports its result (with evidence where required); the verification clock starts."""
    _check_handler(case, Action.finish, ctx, expected_version)
    evidence = evidence or []
    require_evidence(case.matter_type, evidence)
    case.result = _require_note(result, "finishing a case")
    event = _act(
        db=db,
        case=case,
        action=Action.finish,
        ctx=ctx,
        expected_version=expected_version,
        note=case.result,
        clock=Stage.verify,
        data={"evidence": evidence},
    )
    attach(db=db, case=case, sha256s=evidence, kind=AttachmentKind.after, ctx=ctx)
    return event


def _check_verifier(*, db: Session, case: Case, ctx: Context) -> None:
    """巡办分离: the person who handled a case never verifies it, nor does anyone of a unit it was dispatched to.

    A self-handled case (即时处置) had no dispatched unit: another worker of the same grid team may verify it.
    """
    actor = ctx.actor
    handling = db.execute(
        select(CaseEvent.action, CaseEvent.actor_user_id)
        .where(CaseEvent.case_id == case.id, CaseEvent.action.in_([Action.finish, Action.self_handle]))
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    ).first()
    dispatched = handling is None or handling.action == Action.finish
    if dispatched and actor.unit_id is not None and actor.unit_id == case.handling_unit_id:
        raise Forbidden(
            "patrol-handle separation (巡办分离): the handling unit cannot verify its own case", code="separation"
        )
    if handling is not None and actor.user_id is not None and actor.user_id == handling.actor_user_id:
        raise Forbidden(
            "patrol-handle separation (巡办分离): the person who handled the case cannot verify it", code="separation"
        )
    if actor.role == Role.grid_worker and case.verifier_user_id is not None and actor.user_id != case.verifier_user_id:
        raise Forbidden(f"case {case.number} is to be verified by its assigned verifier", code="not_verifier")


def verify(
    *,
    db: Session,
    case: Case,
    ctx: Context,
    ok: bool,
    note: str | None = None,
    evidence: list[str] | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """核查: someone other than the handler checks the result: ok closes the case, not ok sends it back (返工)."""
    _begin(case, Action.verify if ok else Action.rework, ctx, expected_version)
    _check_verifier(db=db, case=case, ctx=ctx)
    if ok:
        case.verified_at = ctx.now
        event = _act(db=db, case=case, action=Action.verify, ctx=ctx, expected_version=expected_version, note=note)
    else:
        note = _require_note(note, "sending a case back for rework")
        case.rework_count += 1
        event = _act(
            db=db,
            case=case,
            action=Action.rework,
            ctx=ctx,
            expected_version=expected_version,
            note=note,
            clock=Stage.handle,
        )
    attach(db=db, case=case, sha256s=evidence or [], kind=AttachmentKind.verification, ctx=ctx)
    return event


def _check_no_pending_request(case: Case) -> None:
    """One request (extension or suspension) at a time: it is decided before another may be made."""
    if case.pending_request:
        raise Conflict(
            f"case {case.number} already has a pending {case.pending_request['kind']} request", code="request_pending"
        )


def _pending_request(case: Case, kind: str) -> dict[str, Any]:
    """Returns the pending request of `kind`, or raises Conflict."""
    request = case.pending_request or {}
    if request.get("kind") != kind:
        raise Conflict(f"case {case.number} has no pending {kind} request", code="no_request")
    return request


def request_extension(
    *, db: Session, case: Case, ctx: Context, amount: float, reason: str, expected_version: int | None = None
) -> CaseEvent:
    """申请延期: the unit asks for more time (in the clock's own unit); a dispatcher or leader decides."""
    _check_handler(case, Action.request_extension, ctx, expected_version)
    _check_no_pending_request(case)
    if amount <= 0:
        raise Invalid("an extension must be a positive amount", code="bad_amount")
    case.pending_request = {
        "kind": "extension",
        "amount": amount,
        "unit": str(case.clock_unit),
        "by": ctx.actor.name,
        "at": ctx.now.isoformat(),
    }
    return _act(
        db=db,
        case=case,
        action=Action.request_extension,
        ctx=ctx,
        expected_version=expected_version,
        note=_require_note(reason, "an extension request"),
        data={"amount": amount},
    )


def decide_extension(
    *,
    db: Session,
    case: Case,
    ctx: Context,
    approve: bool,
    note: str | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """审批延期: approval lengthens the clock; the first extension is the shift leader's, later ones a leader's."""
    _begin(case, Action.decide_extension, ctx, expected_version)
    request = _pending_request(case, "extension")
    if approve and case.extension_count >= 1 and ctx.actor.role != Role.district_leader:
        raise Forbidden("a second extension needs a district leader's approval", code="leader_approval")
    case.pending_request = None
    if approve:
        case.is_extended = True
        case.extension_count += 1
        case.updated_at = ctx.now
        sla.extend(case, float(request["amount"]), ctx.calendar)
    return _act(
        db=db,
        case=case,
        action=Action.decide_extension,
        ctx=ctx,
        expected_version=expected_version,
        note=note,
        data={"approved": approve, "amount": request["amount"]},
    )


def request_suspension(
    *, db: Session, case: Case, ctx: Context, until: dt.datetime, reason: str, expected_version: int | None = None
) -> CaseEvent:
    """申请挂账: the unit cannot act until a date (season, conditions); a dispatcher or leader decides."""
    _check_handler(case, Action.request_suspension, ctx, expected_version)
    _check_no_pending_request(case)
    if until <= ctx.now:
        raise Invalid("a suspension must end in the future", code="bad_until")
    case.pending_request = {
        "kind": "suspension",
        "until": until.isoformat(),
        "by": ctx.actor.name,
        "at": ctx.now.isoformat(),
    }
    return _act(
        db=db,
        case=case,
        action=Action.request_suspension,
        ctx=ctx,
        expected_version=expected_version,
        note=_require_note(reason, "a suspension request"),
        data={"until": until.isoformat()},
    )


def decide_suspension(
    *,
    db: Session,
    case: Case,
    ctx: Context,
    approve: bool,
    note: str | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """审批挂账: approval pauses the clock until the requested date."""
    _begin(case, Action.decide_suspension, ctx, expected_version)
    request = _pending_request(case, "suspension")
    case.pending_request = None
    if approve:
        sla.pause(case, ctx.now, dt.datetime.fromisoformat(request["until"]))
    return _act(
        db=db,
        case=case,
        action=Action.decide_suspension,
        ctx=ctx,
        expected_version=expected_version,
        note=note,
        data={"approved": approve, "until": request["until"]},
    )


def resume(
    *, db: Session, case: Case, ctx: Context, note: str | None = None, expected_version: int | None = None
) -> CaseEvent:
    """挂账恢复: the clock runs again, lengthened by the paused time."""
    _begin(case, Action.resume, ctx, expected_version)
    if not case.is_suspended:
        raise Conflict(f"case {case.number} is not suspended", code="not_suspended")
    paused = sla.resume(case, ctx.now, ctx.calendar)
    return _act(
        db=db,
        case=case,
        action=Action.resume,
        ctx=ctx,
        expected_version=expected_version,
        note=note,
        data={"paused": round(paused, 3)},
    )


def supervise(
    *,
    db: Session,
    case: Case,
    ctx: Context,
    note: str,
    new_deadline: dt.datetime | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """督办: a leader or the centre flags the case with a note and, optionally, a new deadline for its clock."""
    _begin(case, Action.supervise, ctx, expected_version)
    note = _require_note(note, "supervision (督办)")
    case.is_supervised = True
    if new_deadline is not None:
        if case.clock_started_at is None or new_deadline <= ctx.now:
            raise Invalid("a new deadline needs a running clock and must lie in the future", code="bad_deadline")
        hours = ctx.calendar.working_hours_between(case.clock_started_at, new_deadline)
        if case.clock_unit == TimeUnit.natural_hours:
            hours = (new_deadline - case.clock_started_at) / dt.timedelta(hours=1)
        elif case.clock_unit == TimeUnit.working_days:
            hours /= ctx.calendar.hours_per_day
        case.clock_limit = hours
        case.is_overdue = False
        case.warning_level = sla.level_at(case, ctx.now, ctx.calendar)
        sla.refresh(case, ctx.calendar)
    return _act(
        db=db,
        case=case,
        action=Action.supervise,
        ctx=ctx,
        expected_version=expected_version,
        note=note,
        data={"new_deadline": new_deadline.isoformat() if new_deadline else None},
    )


def escalate(*, db: Session, case: Case, ctx: Context, note: str, expected_version: int | None = None) -> CaseEvent:
    """提级 (四级联动): the case moves one level up, to the queue of the centre above its current one
    (grid → community → street → district)."""
    _begin(case, Action.escalate, ctx, expected_version)
    note = _require_note(note, "escalation (提级)")
    current = db.get(Area, case.centre_area_id) if case.centre_area_id else None
    if current is None or current.parent_id is None:
        raise Conflict(f"case {case.number} is already with the district centre", code="top_level")
    case.centre_area_id = current.parent_id
    case.is_escalated = True
    return _act(
        db=db,
        case=case,
        action=Action.escalate,
        ctx=ctx,
        expected_version=expected_version,
        note=note,
        data={"to": db.get(Area, case.centre_area_id).code},
    )


def rate(
    *,
    db: Session,
    case: Case,
    ctx: Context,
    satisfaction: Satisfaction,
    note: str | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """回访评价: the reporter rates the result; an unsatisfied rating within the window reopens the case."""
    _begin(case, Action.rate, ctx, expected_version)
    case.satisfaction = satisfaction
    case.rated_at = ctx.now
    event = _act(
        db=db,
        case=case,
        action=Action.rate,
        ctx=ctx,
        expected_version=expected_version,
        note=note,
        data={"satisfaction": str(satisfaction)},
    )
    window = dt.timedelta(days=get_settings().reopen_window_days)
    if satisfaction == Satisfaction.unsatisfied and case.closed_at and ctx.now - case.closed_at <= window:
        system = Context(actor=SYSTEM_ACTOR, now=ctx.now, calendar=ctx.calendar)
        reopen(db=db, case=case, ctx=system, note="unsatisfied rating: reopened for re-handling (不满意重办)")
    return event


def reopen(*, db: Session, case: Case, ctx: Context, note: str, expected_version: int | None = None) -> CaseEvent:
    """重办: a closed case goes back to its handling unit with a new handling clock."""
    _begin(case, Action.reopen, ctx, expected_version)
    if case.handling_unit_id is None:
        raise Conflict(f"case {case.number} has no handling unit to reopen to", code="no_unit")
    case.rework_count += 1
    case.closed_at = None
    # The reporter rates the new result once it closes again; the earlier rating stays in the log.
    case.satisfaction = case.rated_at = None
    return _act(
        db=db,
        case=case,
        action=Action.reopen,
        ctx=ctx,
        expected_version=expected_version,
        note=_require_note(note, "reopening"),
        clock=Stage.handle,
    )


def rule_reasonableness(
    *,
    db: Session,
    case: Case,
    ctx: Context,
    ruling: Reasonableness,
    note: str,
    reason_code: str | None = None,
    reply: str | None = None,
    expected_version: int | None = None,
) -> CaseEvent:
    """诉求合理性认定: unreasonable requests are excluded from area scores but kept, with a reason and a reply.

    The reply is what the reporter reads (status page, Open311, the hotline's pull); without one, the reason's
    template reply is used.
    """
    _begin(case, Action.rule_reasonableness, ctx, expected_version)
    data: dict[str, Any] = {"ruling": str(ruling)}
    if ruling == Reasonableness.unreasonable:
        if reason_code not in UNREASONABLE_REASONS:
            raise Invalid(
                f"an unreasonable ruling needs a reason: one of {', '.join(UNREASONABLE_REASONS)}",
                code="unknown_reason",
                field="reason_code",
                allowed=list(UNREASONABLE_REASONS),
            )
        data |= {"reason": reason_code, "reply": (reply or "").strip() or UNREASONABLE_REASONS[reason_code][1]}
    case.reasonableness = ruling
    return _act(
        db=db,
        case=case,
        action=Action.rule_reasonableness,
        ctx=ctx,
        expected_version=expected_version,
        reason_code=reason_code if ruling == Reasonableness.unreasonable else None,
        note=_require_note(note, "a reasonableness ruling"),
        data=data,
    )


def add_note(*, db: Session, case: Case, ctx: Context, note: str, data: dict[str, Any] | None = None) -> CaseEvent:
    """Adds a note to the log without changing the stage (e.g. an IoT alarm cleared)."""
    return _act(
        db=db,
        case=case,
        action=Action.note,
        ctx=ctx,
        expected_version=None,
        note=_require_note(note, "a note"),
        data=data,
    )


def is_terminal(case: Case) -> bool:
    """Returns whether the case has left the loop (closed, rejected or merged)."""
    return case.stage in TERMINAL_STAGES
