"""双报到 (dual registration), volunteer activities, service records and the totals of a period.

Units' party organisations and in-service members register with a community and pledge services (认领服务);
communities hold volunteer activities; each member's or organisation's hours at an activity are one service
record, verified (核实) by a party manager. Totals of a period count verified hours only (unverified hours are
shown beside them), so what reaches a report has been checked by someone.

报到率 of a community for a period: of the members registered with it at some time in the period, the share
with verified hours at one of its activities in the period ("reporting members / registered members").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from gridgov.core import clock
from gridgov.core.errors import Conflict, Forbidden, InputError, Issue, NotFoundError
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.models import User
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.party import service
from gridgov.domains.party.enums import RegistrantKind, RegistrationStatus
from gridgov.domains.party.models import (
    Activity,
    PartnerOrg,
    PartyMember,
    PartyOrg,
    Pledge,
    Registration,
    ServiceRecord,
)
from gridgov.domains.party.schemas import (
    ActivityCreate,
    ActivityRead,
    AreaRef,
    CommunityTotals,
    MemberRef,
    MemberTotals,
    OrgRef,
    PartnerRef,
    PartnerTotals,
    PledgeIn,
    PledgeRead,
    RegistrationCreate,
    RegistrationEnd,
    RegistrationRead,
    ServiceRecordCreate,
    ServiceRecordRead,
    SummaryRead,
)
from gridgov.domains.party.service import audit, in_scope, scope_path, today, within

MAX_HOURS = 24.0


def hours_of(minutes: int) -> float:
    """Returns minutes as decimal hours, rounded to 2 places (90 → 1.5)."""
    return round(minutes / 60, 2)


def _community(db: Session, actor: Actor, code: str, field: str = "community") -> Area:
    """Returns the community `code` in the actor's managing scope; InputError naming the field otherwise."""
    area = db.scalars(select(Area).where(Area.code == code)).first()
    if area is None:
        raise InputError([Issue("body", f"unknown community {code!r}", field)], "not saved")
    if area.level != AreaLevel.community:
        raise InputError([Issue("body", f"{code} ({area.name}) is a {area.level.value}, not a community", field)])
    if not within(area.path, service.scope_path(actor, "party.manage")):
        raise InputError([Issue("body", f"community {code} ({area.name}) lies outside your area", field)], "not saved")
    return area


def communities(*, db: Session, actor: Actor, action: str = "party.manage") -> list[Area]:
    """Returns the communities in the actor's area for `action`, by code (for forms)."""
    scope = scope_path(actor, action)
    stmt = select(Area).where(Area.level == AreaLevel.community, in_scope(Area.path, scope)).order_by(Area.code)
    return list(db.scalars(stmt))


# --- registrations -----------------------------------------------------------------------------------------------


def _registration_options() -> tuple[Any, ...]:
    return (
        selectinload(Registration.member),
        selectinload(Registration.partner_org),
        selectinload(Registration.community),
        selectinload(Registration.pledges),
    )


def registration_read(row: Registration) -> RegistrationRead:
    """Returns the read model of a registration."""
    return RegistrationRead(
        id=row.id,
        kind=row.kind,
        member=MemberRef.model_validate(row.member) if row.member is not None else None,
        partner_org=PartnerRef.model_validate(row.partner_org) if row.partner_org is not None else None,
        community=AreaRef.model_validate(row.community),
        registered_on=row.registered_on,
        status=row.status,
        ended_on=row.ended_on,
        note=row.note,
        pledges=[PledgeRead.model_validate(p) for p in row.pledges],
    )


def list_registrations(
    *,
    db: Session,
    actor: Actor,
    community: str | None = None,
    status: RegistrationStatus | None = None,
    kind: RegistrantKind | None = None,
    member_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Registration], int]:
    """Returns a page of the registrations with communities in the actor's area (newest first) and the total."""
    conditions: list[ColumnElement[bool]] = [in_scope(Registration.area_path, scope_path(actor, "party.view"))]
    if community is not None:
        conditions.append(Registration.community_id.in_(select(Area.id).where(Area.code == community)))
    if status is not None:
        conditions.append(Registration.status == status)
    if kind is not None:
        conditions.append(Registration.kind == kind)
    if member_id is not None:
        conditions.append(Registration.member_id == member_id)
    total = db.scalar(select(func.count()).select_from(Registration).where(*conditions)) or 0
    stmt = (
        select(Registration)
        .where(*conditions)
        .options(*_registration_options())
        .order_by(Registration.registered_on.desc(), Registration.id.desc())
    )
    return list(db.scalars(stmt.offset(offset).limit(limit))), total


def get_registration(*, db: Session, actor: Actor, registration_id: int, action: str = "party.view") -> Registration:
    """Returns a registration with its community in the actor's area; 404 otherwise, like a missing one."""
    stmt = select(Registration).where(
        Registration.id == registration_id, in_scope(Registration.area_path, scope_path(actor, action))
    )
    found = db.scalars(stmt.options(*_registration_options())).first() if service.is_id(registration_id) else None
    if found is None:
        raise NotFoundError(f"registration {registration_id} not found")
    return found


def _pledges(items: Sequence[PledgeIn]) -> list[Pledge]:
    seen: set[tuple[str, str]] = set()
    issues = []
    for index, item in enumerate(items):
        key = (item.category.value, item.item.strip())
        if key in seen:
            issues.append(Issue(f"pledges[{index}]", f"the pledge {item.item!r} is listed twice", "pledges"))
        seen.add(key)
    if issues:
        raise InputError(issues, "not saved")
    return [Pledge(category=p.category, item=p.item.strip(), position=n) for n, p in enumerate(items)]


def _member_for_registration(db: Session, actor: Actor, member_id: int) -> PartyMember:
    """Returns a member the actor may register: one it may manage, or a unit's member (in nobody's tree scope)."""
    member = db.get(PartyMember, member_id) if 0 < member_id < 2**31 else None
    if member is None:
        raise InputError([Issue("body", f"party member {member_id} does not exist", "member_id")], "not registered")
    visible = db.scalar(
        select(PartyMember.id).where(PartyMember.id == member_id, service.visible_members(actor, "party.manage"))
    )
    if visible is None and member.org_id is not None:
        message = (
            f"party member {member_id} belongs to a party organisation outside your area: their own organisation's "
            "manager or the street registers them"
        )
        raise InputError([Issue("body", message, "member_id")], "not registered")
    return member


def create_registration(
    *, db: Session, actor: Actor, data: RegistrationCreate, source_address: str | None = None
) -> Registration:
    """Registers a unit's party organisation or an in-service member with a community in the actor's area."""
    community = _community(db, actor, data.community)
    registered_on = data.registered_on or today()
    if registered_on > today():
        raise InputError([Issue("body", f"registered_on {registered_on} is in the future", "registered_on")])
    row = Registration(
        kind=data.kind,
        community_id=community.id,
        area_path=community.path,
        registered_on=registered_on,
        status=RegistrationStatus.active,
        note=data.note,
        created_by_user_id=actor.user_id,
    )
    if data.kind == RegistrantKind.member:
        if data.partner_org is not None:
            raise InputError([Issue("body", "a member's registration names no partner_org", "partner_org")])
        if (data.member_id is None) == (data.member is None):
            raise InputError([Issue("body", "give the member: member_id, or member for a new one", "member_id")])
        if data.member is not None:
            member = service.create_member(
                db=db, actor=actor, data=data.member, source_address=source_address, via_registration=True
            )
        else:
            assert data.member_id is not None
            member = _member_for_registration(db, actor, data.member_id)
        if not member.in_service:
            message = f"member {member.id} is not in service: 双报到 is for in-service members (在职党员)"
            raise InputError([Issue("body", message, "member_id")], "not registered")
        if member.left_on is not None:
            raise InputError([Issue("body", f"member {member.id} left on {member.left_on}", "member_id")])
        current = db.scalars(
            select(Registration)
            .where(Registration.member_id == member.id, Registration.status == RegistrationStatus.active)
            .options(selectinload(Registration.community))
        ).first()
        if current is not None:
            raise Conflict(
                f"member {member.id} is registered with {current.community.name} since {current.registered_on}: "
                "a member reports to one home community; end that registration first",
                code="already_registered",
            )
        row.member_id = member.id
    else:
        if data.member_id is not None or data.member is not None:
            raise InputError([Issue("body", "an organisation's registration names no member", "member_id")])
        if data.partner_org is None:
            raise InputError([Issue("body", "give the partner organisation's code", "partner_org")], "not registered")
        partner = db.scalars(select(PartnerOrg).where(PartnerOrg.code == data.partner_org)).first()
        if partner is None:
            raise InputError([Issue("body", f"unknown partner organisation {data.partner_org!r}", "partner_org")])
        if not partner.is_active:
            raise InputError([Issue("body", f"partner organisation {partner.code} is inactive", "partner_org")])
        current_id = db.scalar(
            select(Registration.id).where(
                Registration.partner_org_id == partner.id,
                Registration.community_id == community.id,
                Registration.status == RegistrationStatus.active,
            )
        )
        if current_id is not None:
            raise Conflict(
                f"{partner.name} is already registered with {community.name} (registration {current_id})",
                code="already_registered",
            )
        row.partner_org_id = partner.id
    row.pledges = _pledges(data.pledges)
    db.add(row)
    db.flush()
    audit(
        db,
        actor,
        "party.registration.create",
        target_type="party_registration",
        target_id=row.id,
        source_address=source_address,
        community=community.code,
        kind=data.kind.value,
    )
    return get_registration(db=db, actor=actor, registration_id=row.id, action="party.manage")


def end_registration(
    *, db: Session, actor: Actor, registration_id: int, data: RegistrationEnd, source_address: str | None = None
) -> Registration:
    """Ends a registration in force (409 when it has ended already)."""
    row = get_registration(db=db, actor=actor, registration_id=registration_id, action="party.manage")
    if row.status == RegistrationStatus.ended:
        raise Conflict(f"registration {registration_id} ended on {row.ended_on}", code="registration_ended")
    ended_on = data.ended_on or today()
    if ended_on < row.registered_on or ended_on > today():
        message = f"ended_on {ended_on} must lie between the registration date {row.registered_on} and today"
        raise InputError([Issue("body", message, "ended_on")], "not saved")
    row.status, row.ended_on = RegistrationStatus.ended, ended_on
    if data.note:
        row.note = f"{row.note}\n{data.note}" if row.note else data.note
    db.flush()
    audit(
        db,
        actor,
        "party.registration.end",
        target_type="party_registration",
        target_id=row.id,
        source_address=source_address,
    )
    return row


def replace_pledges(
    *, db: Session, actor: Actor, registration_id: int, pledges: Sequence[PledgeIn], source_address: str | None = None
) -> Registration:
    """Replaces the pledged services of a registration in force."""
    row = get_registration(db=db, actor=actor, registration_id=registration_id, action="party.manage")
    if row.status == RegistrationStatus.ended:
        raise Conflict(
            f"registration {registration_id} has ended; its pledges are kept as they were", code="registration_ended"
        )
    row.pledges = _pledges(pledges)
    db.flush()
    audit(
        db,
        actor,
        "party.registration.pledges",
        target_type="party_registration",
        target_id=row.id,
        source_address=source_address,
        pledges=len(pledges),
    )
    db.refresh(row)
    return row


# --- activities ------------------------------------------------------------------------------------------------


def _minutes_by_activity(db: Session, ids: Sequence[int]) -> dict[int, tuple[int, int, int]]:
    """Returns {activity id: (records, minutes, verified minutes)}."""
    if not ids:
        return {}
    stmt = (
        select(
            ServiceRecord.activity_id,
            func.count(),
            func.sum(ServiceRecord.minutes),
            func.sum(case((ServiceRecord.verified_at.is_not(None), ServiceRecord.minutes), else_=0)),
        )
        .where(ServiceRecord.activity_id.in_(list(ids)))
        .group_by(ServiceRecord.activity_id)
    )
    return {a: (int(n), int(m or 0), int(v or 0)) for a, n, m, v in db.execute(stmt)}


def activity_reads(*, db: Session, rows: Sequence[Activity]) -> list[ActivityRead]:
    """Returns the read models of activities with their record counts and hours (one query for the lot)."""
    sums = _minutes_by_activity(db, [r.id for r in rows])
    reads = []
    for row in rows:
        records, minutes, verified = sums.get(row.id, (0, 0, 0))
        reads.append(
            ActivityRead(
                id=row.id,
                community=AreaRef.model_validate(row.community),
                title=row.title,
                held_on=row.held_on,
                category=row.category,
                organiser=row.organiser,
                organiser_org=OrgRef.model_validate(row.organiser_org) if row.organiser_org is not None else None,
                description=row.description,
                records=records,
                hours=hours_of(minutes),
                verified_hours=hours_of(verified),
            )
        )
    return reads


def list_activities(
    *,
    db: Session,
    actor: Actor,
    community: str | None = None,
    period: Period | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Activity], int]:
    """Returns a page of the activities in the actor's area (latest first) and the total."""
    conditions: list[ColumnElement[bool]] = [in_scope(Activity.area_path, scope_path(actor, "party.view"))]
    if community is not None:
        conditions.append(Activity.community_id.in_(select(Area.id).where(Area.code == community)))
    if period is not None:
        first, last = period.local_dates()
        conditions += [Activity.held_on >= first, Activity.held_on <= last]
    total = db.scalar(select(func.count()).select_from(Activity).where(*conditions)) or 0
    stmt = (
        select(Activity)
        .where(*conditions)
        .options(selectinload(Activity.community), selectinload(Activity.organiser_org))
        .order_by(Activity.held_on.desc(), Activity.id.desc())
    )
    return list(db.scalars(stmt.offset(offset).limit(limit))), total


def get_activity(*, db: Session, actor: Actor, activity_id: int, action: str = "party.view") -> Activity:
    """Returns an activity in the actor's area; 404 otherwise, like a missing one."""
    stmt = select(Activity).where(Activity.id == activity_id, in_scope(Activity.area_path, scope_path(actor, action)))
    options = (selectinload(Activity.community), selectinload(Activity.organiser_org))
    found = db.scalars(stmt.options(*options)).first() if service.is_id(activity_id) else None
    if found is None:
        raise NotFoundError(f"activity {activity_id} not found")
    return found


def create_activity(*, db: Session, actor: Actor, data: ActivityCreate, source_address: str | None = None) -> Activity:
    """Records a volunteer activity in a community of the actor's area (it may lie in the future: planned)."""
    community = _community(db, actor, data.community)
    organiser_org_id = None
    if data.organiser_org is not None:
        org = db.scalars(
            select(PartyOrg).where(PartyOrg.code == data.organiser_org, service.visible_orgs(actor))
        ).first()
        if org is None:
            raise InputError([Issue("body", f"unknown party organisation {data.organiser_org!r}", "organiser_org")])
        organiser_org_id = org.id
    row = Activity(
        community_id=community.id,
        area_path=community.path,
        title=data.title.strip(),
        held_on=data.held_on,
        category=data.category,
        organiser=data.organiser.strip(),
        organiser_org_id=organiser_org_id,
        description=data.description,
        created_by_user_id=actor.user_id,
    )
    db.add(row)
    db.flush()
    audit(
        db,
        actor,
        "party.activity.create",
        target_type="party_activity",
        target_id=row.id,
        source_address=source_address,
        community=community.code,
    )
    return get_activity(db=db, actor=actor, activity_id=row.id, action="party.manage")


def delete_activity(*, db: Session, actor: Actor, activity_id: int, source_address: str | None = None) -> None:
    """Deletes an activity with no service records (409 otherwise)."""
    row = get_activity(db=db, actor=actor, activity_id=activity_id, action="party.manage")
    records = db.scalar(select(func.count()).where(ServiceRecord.activity_id == row.id)) or 0
    if records:
        raise Conflict(
            f"activity {activity_id} has {records} service records: delete them first", code="activity_in_use"
        )
    db.delete(row)
    db.flush()
    audit(
        db,
        actor,
        "party.activity.delete",
        target_type="party_activity",
        target_id=activity_id,
        source_address=source_address,
    )


# --- service records -------------------------------------------------------------------------------------------


def _record_options() -> tuple[Any, ...]:
    return (selectinload(ServiceRecord.member), selectinload(ServiceRecord.partner_org))


def record_reads(*, db: Session, rows: Sequence[ServiceRecord]) -> list[ServiceRecordRead]:
    """Returns the read models of service records, with who recorded and verified them (one query)."""
    user_ids = {u for r in rows for u in (r.recorded_by_user_id, r.verified_by_user_id) if u is not None}
    names = dict(db.execute(select(User.id, User.display_name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    return [
        ServiceRecordRead(
            id=r.id,
            activity_id=r.activity_id,
            member=MemberRef.model_validate(r.member) if r.member is not None else None,
            partner_org=PartnerRef.model_validate(r.partner_org) if r.partner_org is not None else None,
            hours=hours_of(r.minutes),
            note=r.note,
            recorded_by=names.get(r.recorded_by_user_id) if r.recorded_by_user_id else None,
            verified_by=names.get(r.verified_by_user_id) if r.verified_by_user_id else None,
            verified_at=r.verified_at,
        )
        for r in rows
    ]


def list_records(*, db: Session, actor: Actor, activity_id: int) -> list[ServiceRecord]:
    """Returns the service records of an activity in the actor's area."""
    activity = get_activity(db=db, actor=actor, activity_id=activity_id)
    stmt = select(ServiceRecord).where(ServiceRecord.activity_id == activity.id).order_by(ServiceRecord.id)
    return list(db.scalars(stmt.options(*_record_options())))


def _minutes(hours: float) -> int:
    if hours != hours or hours <= 0:  # NaN or not positive
        raise InputError([Issue("body", f"hours must be more than 0, got {hours:g}", "hours")], "not recorded")
    if hours > MAX_HOURS:
        raise InputError([Issue("body", f"at most {MAX_HOURS:g} hours in one record, got {hours:g}", "hours")])
    minutes = round(hours * 60)
    if minutes < 1:
        raise InputError([Issue("body", f"{hours:g} hours is less than a minute", "hours")], "not recorded")
    return minutes


def create_record(
    *,
    db: Session,
    actor: Actor,
    activity_id: int,
    data: ServiceRecordCreate,
    source_address: str | None = None,
) -> ServiceRecord:
    """Records the hours a member or a partner organisation served at a past activity of the actor's area."""
    scope = scope_path(actor, "party.manage")
    activity = (
        db.scalars(select(Activity).where(Activity.id == activity_id, in_scope(Activity.area_path, scope))).first()
        if service.is_id(activity_id)
        else None
    )
    if activity is None:
        raise NotFoundError(f"activity {activity_id} not found")
    minutes = _minutes(data.hours)
    if activity.held_on > today():
        message = f"activity {activity.id} is on {activity.held_on}, in the future: record service after it took place"
        raise InputError([Issue("body", message, "activity_id")], "not recorded")
    row = ServiceRecord(activity_id=activity.id, minutes=minutes, note=data.note, recorded_by_user_id=actor.user_id)
    if (data.member_id is None) == (data.partner_org is None):
        raise InputError([Issue("body", "give the member_id or the partner_org who served, one of them", "member_id")])
    if data.member_id is not None:
        member = db.get(PartyMember, data.member_id) if 0 < data.member_id < 2**31 else None
        if member is None:
            raise InputError([Issue("body", f"party member {data.member_id} does not exist", "member_id")])
        visible = db.scalar(
            select(PartyMember.id).where(PartyMember.id == member.id, service.visible_members(actor, "party.manage"))
        )
        if visible is None:
            message = (
                f"party member {member.id} is outside your area: neither in your organisations nor registered with "
                "a community of yours"
            )
            raise InputError([Issue("body", message, "member_id")], "not recorded")
        if member.left_on is not None and member.left_on < activity.held_on:
            message = f"party member {member.id} left on {member.left_on}, before the activity"
            raise InputError([Issue("body", message, "member_id")], "not recorded")
        clash = ServiceRecord.member_id == member.id
        row.member_id = member.id
    else:
        partner = db.scalars(select(PartnerOrg).where(PartnerOrg.code == data.partner_org)).first()
        if partner is None:
            raise InputError([Issue("body", f"unknown partner organisation {data.partner_org!r}", "partner_org")])
        clash = ServiceRecord.partner_org_id == partner.id
        row.partner_org_id = partner.id
    existing = db.scalar(select(ServiceRecord.id).where(ServiceRecord.activity_id == activity.id, clash))
    if existing is not None:
        raise Conflict(
            f"activity {activity.id} already has a service record for them (record {existing}): change that one",
            code="record_exists",
        )
    if data.verified:
        row.verified_by_user_id, row.verified_at = actor.user_id, clock.now()
    db.add(row)
    db.flush()
    audit(
        db,
        actor,
        "party.service.record",
        target_type="party_service_record",
        target_id=row.id,
        source_address=source_address,
        activity_id=activity.id,
        minutes=minutes,
        verified=data.verified,
    )
    return row


def _get_record(db: Session, actor: Actor, record_id: int, action: str) -> ServiceRecord:
    stmt = (
        select(ServiceRecord)
        .join(Activity, Activity.id == ServiceRecord.activity_id)
        .where(ServiceRecord.id == record_id, in_scope(Activity.area_path, scope_path(actor, action)))
    )
    found = db.scalars(stmt.options(*_record_options())).first() if service.is_id(record_id) else None
    if found is None:
        raise NotFoundError(f"service record {record_id} not found")
    return found


def record_activity_id(*, db: Session, actor: Actor, record_id: int) -> int | None:
    """Returns the activity of a service record the actor may see, or None."""
    try:
        return _get_record(db, actor, record_id, "party.view").activity_id
    except NotFoundError:
        return None


def verify_record(*, db: Session, actor: Actor, record_id: int, source_address: str | None = None) -> ServiceRecord:
    """Marks a service record as verified (核实) by the actor; 409 when it was verified already."""
    row = _get_record(db, actor, record_id, "party.manage")
    if row.verified_at is not None:
        raise Conflict(f"service record {record_id} was verified on {row.verified_at:%Y-%m-%d}", code="verified")
    if actor.user_id is None:
        raise Forbidden("only a signed-in user verifies service records", code="verify_needs_user")
    row.verified_by_user_id, row.verified_at = actor.user_id, clock.now()
    db.flush()
    audit(
        db,
        actor,
        "party.service.verify",
        target_type="party_service_record",
        target_id=row.id,
        source_address=source_address,
    )
    return row


def delete_record(*, db: Session, actor: Actor, record_id: int, source_address: str | None = None) -> None:
    """Deletes a service record of the actor's area (recorded by mistake)."""
    row = _get_record(db, actor, record_id, "party.manage")
    detail = {"activity_id": row.activity_id, "member_id": row.member_id, "minutes": row.minutes}
    db.delete(row)
    db.flush()
    audit(
        db,
        actor,
        "party.service.delete",
        target_type="party_service_record",
        target_id=record_id,
        source_address=source_address,
        **detail,
    )


# --- totals ----------------------------------------------------------------------------------------------------


def summarize(*, db: Session, actor: Actor, period: Period, community: str | None = None) -> SummaryRead:
    """Returns the period's totals per community, member and partner organisation, within the actor's area (and
    `community` when given): verified hours and activities, registrations and the 报到率."""
    scope = scope_path(actor, "party.view")
    first, last = period.local_dates()
    communities_stmt = select(Area).where(Area.level == AreaLevel.community, in_scope(Area.path, scope))
    if community is not None:
        communities_stmt = communities_stmt.where(Area.code == community)
    in_area = in_scope(Activity.area_path, scope)
    activity_filter = [in_area, Activity.held_on >= first, Activity.held_on <= last]
    reg_filter = [
        in_scope(Registration.area_path, scope),
        Registration.registered_on <= last,
        or_(Registration.ended_on.is_(None), Registration.ended_on >= first),
    ]
    if community is not None:
        community_ids = select(Area.id).where(Area.code == community)
        activity_filter.append(Activity.community_id.in_(community_ids))
        reg_filter.append(Registration.community_id.in_(community_ids))

    # Activities held and their records, per community.
    records = db.execute(
        select(
            Activity.community_id,
            Activity.id,
            ServiceRecord.member_id,
            ServiceRecord.partner_org_id,
            ServiceRecord.minutes,
            ServiceRecord.verified_at.is_not(None),
        )
        .select_from(Activity)
        .outerjoin(ServiceRecord, ServiceRecord.activity_id == Activity.id)
        .where(*activity_filter)
    ).all()
    registrations = db.execute(
        select(
            Registration.community_id,
            Registration.kind,
            Registration.member_id,
            Registration.partner_org_id,
            Registration.id,
            or_(Registration.ended_on.is_(None), Registration.ended_on >= last),  # in force at the period's end
        ).where(*reg_filter)
    ).all()
    pledge_counts = (
        dict(
            db.execute(
                select(Pledge.registration_id, func.count())
                .where(Pledge.registration_id.in_([r[4] for r in registrations if r[5]]))
                .group_by(Pledge.registration_id)
            ).all()
        )
        if registrations
        else {}
    )

    # Every community of the area gets a row, zeros included: a community without activity is worth seeing.
    areas = {a.id: a for a in db.scalars(communities_stmt.order_by(Area.code))}
    totals: dict[int, CommunityTotals] = {i: CommunityTotals(code=a.code, name=a.name) for i, a in areas.items()}
    activities: dict[int, set[int]] = defaultdict(set)
    volunteers: dict[int, set[int]] = defaultdict(set)
    served_members: dict[int, set[int]] = defaultdict(set)  # community → members with verified hours there
    served_orgs: dict[int, set[int]] = defaultdict(set)
    member_minutes: dict[int, int] = defaultdict(int)
    member_activities: dict[int, set[int]] = defaultdict(set)
    partner_minutes: dict[int, int] = defaultdict(int)
    partner_activities: dict[int, set[int]] = defaultdict(set)
    verified_minutes: dict[int, int] = defaultdict(int)
    unverified_minutes: dict[int, int] = defaultdict(int)

    def community_totals(community_id: int) -> CommunityTotals | None:
        return totals.get(community_id)

    for community_id, activity_id, member_id, partner_id, minutes, verified in records:
        row = community_totals(community_id)
        if row is None:
            continue
        activities[community_id].add(activity_id)
        if minutes is None:
            continue
        row.records += 1
        if not verified:
            unverified_minutes[community_id] += minutes
            continue
        verified_minutes[community_id] += minutes
        if member_id is not None:
            volunteers[community_id].add(member_id)
            served_members[community_id].add(member_id)
            member_minutes[member_id] += minutes
            member_activities[member_id].add(activity_id)
        else:
            served_orgs[community_id].add(partner_id)
            partner_minutes[partner_id] += minutes
            partner_activities[partner_id].add(activity_id)

    registered_members: dict[int, set[int]] = defaultdict(set)
    registered_orgs: dict[int, set[int]] = defaultdict(set)
    partner_communities: dict[int, set[int]] = defaultdict(set)
    for community_id, kind, member_id, partner_id, registration_id, in_force in registrations:
        row = community_totals(community_id)
        if row is None:
            continue
        if kind == RegistrantKind.member:
            registered_members[community_id].add(member_id)
        else:
            registered_orgs[community_id].add(partner_id)
            partner_communities[partner_id].add(community_id)
        if in_force:
            row.pledges += pledge_counts.get(registration_id, 0)

    for community_id, row in totals.items():
        row.activities = len(activities[community_id])
        row.volunteers = len(volunteers[community_id])
        row.registered_members = len(registered_members[community_id])
        row.reporting_members = len(registered_members[community_id] & served_members[community_id])
        row.reporting_rate = (
            round(row.reporting_members / row.registered_members, 4) if row.registered_members else None
        )
        row.registered_orgs = len(registered_orgs[community_id])
        row.reporting_orgs = len(registered_orgs[community_id] & served_orgs[community_id])
        row.hours = hours_of(verified_minutes[community_id])
        row.unverified_hours = hours_of(unverified_minutes[community_id])

    member_names = (
        dict(db.execute(select(PartyMember.id, PartyMember.name).where(PartyMember.id.in_(list(member_minutes)))).all())
        if member_minutes
        else {}
    )
    partner_ids = set(partner_minutes) | set(partner_communities)
    partners = (
        {p.id: p for p in db.scalars(select(PartnerOrg).where(PartnerOrg.id.in_(list(partner_ids))))}
        if partner_ids
        else {}
    )
    members = [
        MemberTotals(id=m, name=member_names.get(m, ""), hours=hours_of(minutes), activities=len(member_activities[m]))
        for m, minutes in member_minutes.items()
    ]
    members.sort(key=lambda t: (-t.hours, t.name, t.id))
    partner_rows = [
        PartnerTotals(
            code=partners[p].code,
            name=partners[p].name,
            hours=hours_of(partner_minutes.get(p, 0)),
            activities=len(partner_activities.get(p, set())),
            communities=len(partner_communities.get(p, set())),
        )
        for p in partner_ids
        if p in partners
    ]
    partner_rows.sort(key=lambda t: (-t.hours, t.code))
    return SummaryRead(
        period=period.label,
        first_day=first,
        last_day=last,
        communities=sorted(totals.values(), key=lambda t: t.code),
        members=members,
        partner_orgs=partner_rows,
    )


def registered_since(*, db: Session, member_ids: Sequence[int]) -> dict[int, dt.date]:
    """Returns {member id: registered_on} of the members' registrations in force (for lists)."""
    if not member_ids:
        return {}
    stmt = select(Registration.member_id, Registration.registered_on).where(
        Registration.member_id.in_(list(member_ids)), Registration.status == RegistrationStatus.active
    )
    return {m: d for m, d in db.execute(stmt).all() if m is not None}
