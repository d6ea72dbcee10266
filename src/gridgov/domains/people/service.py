"""The resident register: scoped, masked and audited reads; changes recorded as events, never silent overwrites.

Every query goes through `visible` (the actor's area scope on the household's building path), so a grid worker
sees the residents of its grid's buildings only; a resident outside the scope is answered like a missing one
(404) and the attempt is audited. Every read of personal data is written to the audit log by `privacy.audit_read`
here, in the service, so the API, the console and the CLI cannot forget it. Every change writes a
`ResidentEvent` (who, when, what changed — personal values masked) and an audit entry. Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.orm import Session, selectinload

from gridgov.core import clock
from gridgov.core.errors import Conflict, Forbidden, InputError, Invalid, Issue, NotFoundError
from gridgov.core.models import fill_defaults
from gridgov.core.permissions import AuditWriter, OutOfScope, require, scope_condition, scope_of, write_to_session
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import AuditOutcome
from gridgov.domains.auth.schemas import Actor, AuditRecord
from gridgov.domains.people import privacy
from gridgov.domains.people import tags as tag_service
from gridgov.domains.people.checks import (
    normalise_ethnicity,
    normalise_identity_number,
    normalise_phone,
    parse_identity_number,
)
from gridgov.domains.people.enums import (
    EventKind,
    Gender,
    Relation,
    ResidenceType,
    ResidentStatus,
    Sensitivity,
)
from gridgov.domains.people.models import Household, Resident, ResidentEvent, ResidentTag, Tag
from gridgov.domains.people.schemas import (
    Birth,
    Correction,
    EventRead,
    HouseholdCreate,
    HouseholdDetail,
    HouseholdRead,
    HouseholdUpdate,
    MoveIn,
    ResidentDetail,
    ResidentReadMasked,
    SearchIn,
    TagBrief,
    UnmaskRead,
)

MAX_ID = 2**31 - 1
MAX_OFFSET = MAX_ID  # a larger OFFSET overflows the database's integer (a 500); no register has that many rows
MAX_PAGE = 200
SEARCH_LIMIT = 50
_DIGITS_IN_NAME = re.compile(r"\d{4,}")


@dataclass(frozen=True)
class Context:
    """What every register command needs besides its arguments: who, from where, and when."""

    actor: Actor
    source: str = "api"  # recorded on events: api, console, cli, "import people.xlsx"
    source_address: str | None = None
    audit: AuditWriter | None = None  # how refusals are audited (requests: permissions.defer_audit)
    now: dt.datetime = field(default_factory=clock.now)


@dataclass(frozen=True)
class ResidentFilter:
    """What a list or an export holds; every field optional, combined with AND, always within the actor's scope."""

    area: str | None = None  # an area code: its subtree
    building: str | None = None  # a building code
    household_id: int | None = None
    status: ResidentStatus | None = ResidentStatus.active  # None: every status
    residence_type: ResidenceType | None = None
    tag: str | None = None  # a tag code the actor may see
    name: str | None = None  # part of the name (roles that see names only)
    born_from: dt.date | None = None
    born_to: dt.date | None = None

    def as_dict(self) -> dict[str, Any]:
        """Returns the filters set, as plain values (for the audit log and export requests); never a name."""
        out: dict[str, Any] = {}
        for key in ("area", "building", "household_id", "tag"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key in ("status", "residence_type"):
            if getattr(self, key) is not None:
                out[key] = str(getattr(self, key))
        for key in ("born_from", "born_to"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key).isoformat()
        if self.name:
            out["name"] = "(given)"
        return out


@dataclass(frozen=True)
class CheckedPerson:
    """A person's facts after the checks: normalised identity number and phone, birth date and gender settled."""

    name: str
    relation: Relation
    residence_type: ResidenceType
    id_number: str | None
    phone: str | None
    gender: Gender | None
    birth_date: dt.date | None
    ethnicity: str | None


# --- checks of a person (shared by the import, move-in, births and corrections) ---------------------------------


def check_person(
    values: Mapping[str, Any], *, today: dt.date, require_id: bool = False
) -> tuple[CheckedPerson | None, list[tuple[str, str]]]:
    """Returns the checked person and [] — or None and the (field, message) problems found.

    The identity number (18 characters, GB 11643 check digit, a real birth date) decides the birth date and
    gender; given ones must match it. Without an identity number the birth date and gender are required.
    """
    problems: list[tuple[str, str]] = []
    name = str(values.get("name") or "").strip()
    if not name:
        problems.append(("name", "required"))
    elif len(name) > 100:
        problems.append(("name", "at most 100 characters"))
    elif _DIGITS_IN_NAME.search(name):
        # NOTE: digits in a name are nearly always a number pasted into the wrong column; refusing it keeps an
        # identity number from being stored in clear as a "name".
        problems.append(("name", "a name holds no run of digits: is a number in the wrong column?"))
    relation = _enum_value(Relation, values.get("relation"), "relation", problems, required=True)
    residence = _enum_value(ResidenceType, values.get("residence_type"), "residence_type", problems, required=True)
    gender = _enum_value(Gender, values.get("gender"), "gender", problems, required=False)
    birth = values.get("birth_date")
    if birth is not None and not isinstance(birth, dt.date):
        problems.append(("birth_date", "not a date"))
        birth = None
    if isinstance(birth, dt.date) and birth > today:
        problems.append(("birth_date", "lies in the future"))
    id_number = None
    raw_id = values.get("id_number")
    if raw_id:
        try:
            parsed = parse_identity_number(str(raw_id), today=today)
        except ValueError as exc:
            problems.append(("id_number", str(exc)))
        else:
            id_number = parsed.number
            if birth is not None and birth != parsed.birth_date:
                problems.append(("birth_date", "differs from the birth date in the identity number (digits 7-14)"))
            if gender is not None and gender != parsed.gender:
                problems.append(("gender", "differs from the gender the identity number gives (17th digit)"))
            birth = birth or parsed.birth_date
            gender = gender or parsed.gender
    elif require_id:
        problems.append(("id_number", "required"))
    else:
        if birth is None:
            problems.append(("birth_date", "required when there is no identity number"))
        if gender is None:
            problems.append(("gender", "required when there is no identity number"))
    phone = None
    if values.get("phone"):
        try:
            phone = normalise_phone(str(values["phone"]))
        except ValueError as exc:
            problems.append(("phone", str(exc)))
    ethnicity = None
    if values.get("ethnicity"):
        try:
            ethnicity = normalise_ethnicity(str(values["ethnicity"]))
        except ValueError as exc:
            problems.append(("ethnicity", str(exc)))
    if problems or relation is None or residence is None:
        return None, problems
    person = CheckedPerson(
        name=name,
        relation=relation,
        residence_type=residence,
        id_number=id_number,
        phone=phone,
        gender=gender,
        birth_date=birth,
        ethnicity=ethnicity,
    )
    return person, []


def _enum_value(
    kind: type[Any], value: Any, name: str, problems: list[tuple[str, str]], *, required: bool
) -> Any | None:
    if value is None or value == "":
        if required:
            problems.append((name, "required"))
        return None
    try:
        return kind(value)
    except ValueError:
        problems.append((name, f"unknown value {value!r}: one of {', '.join(kind.__members__)}"))
        return None


def _refuse(problems: list[tuple[str, str]], where: str, summary: str) -> InputError:
    return InputError([Issue(where, message, name) for name, message in problems], summary)


# --- scope and fetching -----------------------------------------------------------------------------------------


def visible(actor: Actor, action: str = "resident.view") -> ColumnElement[bool]:
    """Returns the condition limiting households (and, joined, residents) to the actor's scope for `action`."""
    return scope_condition(actor, action, area_path=Household.area_path)


def get_resident(
    *, db: Session, ctx: Context, resident_id: int, action: str = "resident.view", for_update: bool = False
) -> Resident:
    """Returns a resident within the actor's scope for `action`; 403 without the permission, 404 outside the scope
    (worded like a missing one, and audited)."""
    stmt = select(Resident).join(Household).where(Resident.id == resident_id, visible(ctx.actor, action))
    return _get_scoped(
        db, ctx, Resident, resident_id, action, stmt.with_for_update(of=Resident) if for_update else stmt
    )


def get_household(*, db: Session, ctx: Context, household_id: int, action: str = "resident.view") -> Household:
    """Returns a household within the actor's scope for `action` (404 outside it, audited)."""
    stmt = select(Household).where(Household.id == household_id, visible(ctx.actor, action))
    return _get_scoped(db, ctx, Household, household_id, action, stmt)


def _get_scoped(db: Session, ctx: Context, model: Any, object_id: int, action: str, stmt: Any) -> Any:
    """Runs `stmt` (the object by id, within the scope) after the permission check; 404 when it is missing or out
    of the scope, the latter audited as denied."""
    target_type = model.__tablename__.removeprefix("people_")
    require(
        ctx.actor,
        action,
        db=db,
        target_type=target_type,
        target_id=object_id,
        source_address=ctx.source_address,
        audit=ctx.audit,
    )
    message = f"{target_type} {object_id} not found"
    if not 0 < object_id <= MAX_ID:
        raise NotFoundError(message)
    found = db.scalars(stmt).one_or_none()
    if found is not None:
        return found
    if db.get(model, object_id) is None:
        raise NotFoundError(message)
    raise _out_of_scope(db, ctx, action, target_type, object_id, message)


def _out_of_scope(db: Session, ctx: Context, action: str, target_type: str, target_id: int, message: str) -> OutOfScope:
    """Audits an attempt on an object outside the actor's scope and returns the 404 to raise (worded like a miss)."""
    record = AuditRecord.of(
        ctx.actor,
        action,
        outcome=AuditOutcome.denied,
        target_type=target_type,
        target_id=str(target_id),
        source_address=ctx.source_address,
        detail={"reason": "outside the user's scope", "scope": str(scope_of(ctx.actor, action))},
    )
    (ctx.audit or write_to_session)(db, record)
    return OutOfScope(message, audit_record=record)


def get_building(*, db: Session, ctx: Context, code: str, action: str = "resident.manage") -> Area:
    """Returns the building (楼院) with `code` if it lies in the actor's scope; Invalid otherwise (naming why)."""
    building = db.scalars(select(Area).where(Area.code == code.strip())).first()
    if building is None or building.level != AreaLevel.building:
        raise Invalid(f"building {code!r} not found (an area code of level building)", field="building")
    if not in_scope(ctx.actor, action, building.path):
        raise Forbidden(
            f"building {code} ({building.name}) lies outside your area: you may not register residents there",
            code="out_of_area",
        )
    return building


def in_scope(actor: Actor, action: str, path: str) -> bool:
    """Tells whether an area path lies within the actor's scope for `action`."""
    scope = scope_of(actor, action)
    if scope is None:
        return False
    return actor.scope_path is None or path.startswith(actor.scope_path)


# --- reads ------------------------------------------------------------------------------------------------------


def statement(*, db: Session, actor: Actor, filters: ResidentFilter, action: str = "resident.view") -> Select[Any]:
    """Returns the select of the residents matching `filters` within the actor's scope; refuses unknown codes
    (InputError), and a tag or name filter the actor may not use (Forbidden)."""
    conditions: list[Any] = []
    issues: list[Issue] = []
    if filters.area:
        path = db.scalar(select(Area.path).where(Area.code == filters.area))
        if path is None:
            issues.append(Issue("filters", f"unknown area code {filters.area!r}", "area"))
        else:
            conditions.append(Household.area_path.startswith(path, autoescape=True))
    if filters.building:
        building_id = db.scalar(select(Area.id).where(Area.code == filters.building, Area.level == AreaLevel.building))
        if building_id is None:
            issues.append(Issue("filters", f"unknown building code {filters.building!r}", "building"))
        else:
            conditions.append(Household.building_id == building_id)
    if filters.household_id is not None:
        conditions.append(Resident.household_id == filters.household_id)
    if filters.status is not None:
        conditions.append(Resident.status == filters.status)
    if filters.residence_type is not None:
        conditions.append(Resident.residence_type == filters.residence_type)
    if filters.born_from is not None:
        conditions.append(Resident.birth_date >= filters.born_from)
    if filters.born_to is not None:
        conditions.append(Resident.birth_date <= filters.born_to)
    if filters.tag:
        try:
            tag = tag_service.get_by_code(db=db, code=filters.tag)
        except NotFoundError as exc:
            issues.append(Issue("filters", str(exc), "tag"))
        else:
            if not privacy.may_see_tag(actor, tag.sensitivity):
                raise Forbidden(
                    f"tags of sensitivity {tag.sensitivity} are not visible to your role", code="tag_not_visible"
                )
            conditions.append(Resident.id.in_(select(ResidentTag.resident_id).where(ResidentTag.tag_id == tag.id)))
    if filters.name:
        if not privacy.sees_names(actor):
            raise Forbidden("your role sees names masked, so it may not search by name", code="name_search")
        conditions.append(Resident.name.contains(filters.name.strip(), autoescape=True))
    if issues:
        raise InputError(issues, "resident filters refused")
    return select(Resident).join(Household).where(true(), visible(actor, action), *conditions)


def list_residents(
    *,
    db: Session,
    ctx: Context,
    filters: ResidentFilter = ResidentFilter(),
    offset: int = 0,
    limit: int = 50,
    purpose: str | None = None,
) -> tuple[list[ResidentReadMasked], int]:
    """Returns one page of residents (masked) within the actor's scope and the total; the read is audited."""
    require(
        ctx.actor, "resident.view", db=db, target_type="resident", source_address=ctx.source_address, audit=ctx.audit
    )
    limit = max(1, min(limit, MAX_PAGE))
    offset = min(max(offset, 0), MAX_OFFSET)
    stmt = statement(db=db, actor=ctx.actor, filters=filters)
    total = db.scalar(select(func.count()).select_from(stmt.with_only_columns(Resident.id).subquery())) or 0
    rows = list(
        db.scalars(_loaded(stmt).order_by(Household.area_path, Household.room, Resident.id).offset(offset).limit(limit))
    )
    privacy.audit_read(
        db=db,
        actor=ctx.actor,
        kind=privacy.ReadKind.list,
        resident_ids=[r.id for r in rows],
        purpose=purpose,
        source_address=ctx.source_address,
        detail={"filters": filters.as_dict(), "total": int(total), "offset": offset},
    )
    return views(actor=ctx.actor, residents=rows), int(total)


def _loaded(stmt: Select[Any]) -> Select[Any]:
    return stmt.options(
        selectinload(Resident.household).selectinload(Household.building),
        selectinload(Resident.tags).selectinload(ResidentTag.tag),
    )


def views(*, actor: Actor, residents: Sequence[Resident]) -> list[ResidentReadMasked]:
    """Returns residents as `actor` may see them: masked values, and only the tags of visible sensitivities."""
    ring = privacy.keyring()
    shown = set(privacy.visible_sensitivities(actor))
    out = []
    for resident in residents:
        household = resident.household
        out.append(
            ResidentReadMasked(
                id=resident.id,
                household_id=household.id,
                building_code=household.building.code,
                building_name=household.building.name,
                room=household.room,
                relation=resident.relation,
                name=privacy.show_name(actor, resident.name) or "",
                gender=resident.gender,
                birth=privacy.show_birth(actor, resident.birth_date),
                ethnicity=resident.ethnicity,
                id_number=privacy.masked(resident, privacy.ID_NUMBER, ring),
                phone=privacy.masked(resident, privacy.PHONE, ring),
                residence_type=resident.residence_type,
                status=resident.status,
                status_on=resident.status_on,
                tags=[
                    TagBrief.model_validate(link.tag)
                    for link in sorted(resident.tags, key=lambda link: link.tag.code)
                    if link.tag.sensitivity in shown
                ],
            )
        )
    return out


def read_resident(*, db: Session, ctx: Context, resident_id: int, purpose: str | None = None) -> ResidentDetail:
    """Returns a resident (masked) with their history; the read is audited."""
    resident = get_resident(db=db, ctx=ctx, resident_id=resident_id)
    view = views(actor=ctx.actor, residents=[resident])[0]
    privacy.audit_read(
        db=db,
        actor=ctx.actor,
        kind=privacy.ReadKind.read,
        resident_ids=[resident.id],
        purpose=purpose,
        source_address=ctx.source_address,
    )
    return ResidentDetail(
        **view.model_dump(),
        events=_history(db, ctx.actor, ResidentEvent.resident_id == resident.id),
        may_unmask=privacy.may_unmask(ctx.actor),
    )


def _history(db: Session, actor: Actor, condition: Any) -> list[EventRead]:
    """Returns the change history matching `condition` in the order it was recorded, as the actor may see it."""
    events = db.scalars(select(ResidentEvent).where(condition).order_by(ResidentEvent.recorded_at, ResidentEvent.id))
    return present_events(actor=actor, events=events)


def present_events(*, actor: Actor, events: Iterable[ResidentEvent]) -> list[EventRead]:
    """Returns events as the actor may see them: tag events of tags it may not see are left out, names masked."""
    out = []
    for event in events:
        changes = event.changes or {}
        if event.kind in (EventKind.tag_added, EventKind.tag_removed):
            level = changes.get("sensitivity")
            if level not in Sensitivity.__members__ or not privacy.may_see_tag(actor, Sensitivity(level)):
                continue
        read = EventRead.model_validate(event)
        read.changes = privacy.present_changes(actor, changes)
        out.append(read)
    return out


def last_change(
    *,
    db: Session,
    actor: Actor,
    resident_id: int | None = None,
    household_id: int | None = None,
    kind: EventKind | None = None,
) -> EventRead | None:
    """Returns the latest event (of `kind`) of a resident, or else of a household, as the actor may see it."""
    stmt = select(ResidentEvent) if kind is None else select(ResidentEvent).where(ResidentEvent.kind == kind)
    if resident_id is not None:
        stmt = stmt.where(ResidentEvent.resident_id == resident_id)
    else:
        stmt = stmt.where(ResidentEvent.household_id == household_id, ResidentEvent.resident_id.is_(None))
    event = db.scalars(stmt.order_by(ResidentEvent.id.desc()).limit(1)).first()
    shown = present_events(actor=actor, events=[event] if event is not None else [])
    return shown[0] if shown else None


def household_read(household: Household, active: int) -> HouseholdRead:
    """Returns the read model of a household."""
    return HouseholdRead(
        id=household.id,
        building_code=household.building.code,
        building_name=household.building.name,
        room=household.room,
        kind=household.kind,
        residence=household.residence,
        notes=household.notes,
        active_residents=active,
    )


def read_household(*, db: Session, ctx: Context, household_id: int, purpose: str | None = None) -> HouseholdDetail:
    """Returns a household with its residents (masked, every status) and its history; the read is audited."""
    household = get_household(db=db, ctx=ctx, household_id=household_id)
    residents = list(
        db.scalars(_loaded(select(Resident).where(Resident.household_id == household.id)).order_by(Resident.id))
    )
    privacy.audit_read(
        db=db,
        actor=ctx.actor,
        kind=privacy.ReadKind.household,
        resident_ids=[r.id for r in residents],
        purpose=purpose,
        source_address=ctx.source_address,
        detail={"household_id": household.id},
    )
    active = sum(r.status == ResidentStatus.active for r in residents)
    return HouseholdDetail(
        **household_read(household, active).model_dump(),
        residents=views(actor=ctx.actor, residents=residents),
        events=_history(db, ctx.actor, ResidentEvent.household_id == household.id),
    )


def list_households(
    *, db: Session, ctx: Context, building: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[HouseholdRead], int]:
    """Returns one page of households within the actor's scope (no personal data: doors and counts)."""
    require(
        ctx.actor, "resident.view", db=db, target_type="household", source_address=ctx.source_address, audit=ctx.audit
    )
    offset = min(max(offset, 0), MAX_OFFSET)
    conditions: list[Any] = [visible(ctx.actor)]
    if building:
        building_id = db.scalar(select(Area.id).where(Area.code == building, Area.level == AreaLevel.building))
        if building_id is None:
            raise InputError([Issue("filters", f"unknown building code {building!r}", "building")], "filters refused")
        conditions.append(Household.building_id == building_id)
    total = db.scalar(select(func.count()).select_from(Household).where(*conditions)) or 0
    rows = list(
        db.scalars(
            select(Household)
            .where(*conditions)
            .options(selectinload(Household.building))
            .order_by(Household.area_path, Household.room)
            .offset(offset)
            .limit(max(1, min(limit, MAX_PAGE)))
        )
    )
    counts = dict(
        db.execute(
            select(Resident.household_id, func.count())
            .where(Resident.household_id.in_([h.id for h in rows]), Resident.status == ResidentStatus.active)
            .group_by(Resident.household_id)
        ).all()
    )
    return [household_read(h, int(counts.get(h.id, 0))) for h in rows], int(total)


def search(*, db: Session, ctx: Context, query: SearchIn) -> list[ResidentReadMasked]:
    """Finds residents by exact identity number or phone (blind index) or by name, within the actor's scope.

    A hit outside the scope is not returned (nor its existence told). The search itself is audited, with its
    kind and the residents found, never with the number searched for.
    """
    require(
        ctx.actor, "resident.view", db=db, target_type="resident", source_address=ctx.source_address, audit=ctx.audit
    )
    stmt = select(Resident).join(Household).where(visible(ctx.actor))
    if query.id_number:
        kind = "id_number"
        number = normalise_identity_number(query.id_number)
        if len(number) != 18:
            raise Invalid("search by the whole identity number (18 characters): the search is exact", field="id_number")
        stmt = stmt.where(Resident.id_number_index == privacy.blind_index(privacy.ID_NUMBER, number))
    elif query.phone:
        kind = "phone"
        try:
            phone = normalise_phone(query.phone)
        except ValueError as exc:
            raise Invalid(f"{exc}; the search is exact", field="phone") from None
        stmt = stmt.where(Resident.phone_index == privacy.blind_index(privacy.PHONE, phone))
    else:
        kind = "name"
        if not privacy.sees_names(ctx.actor):
            raise Forbidden("your role sees names masked, so it may not search by name", code="name_search")
        stmt = stmt.where(Resident.name.contains((query.name or "").strip(), autoescape=True))
    if not query.include_inactive:
        stmt = stmt.where(Resident.status == ResidentStatus.active)
    rows = list(db.scalars(_loaded(stmt).order_by(Resident.id).limit(SEARCH_LIMIT)))
    privacy.audit_read(
        db=db,
        actor=ctx.actor,
        kind=privacy.ReadKind.search,
        resident_ids=[r.id for r in rows],
        source_address=ctx.source_address,
        detail={"by": kind},
    )
    return views(actor=ctx.actor, residents=rows)


def unmask(
    *, db: Session, ctx: Context, resident_id: int, purpose: str, fields: Sequence[str] = ("id_number", "phone")
) -> UnmaskRead:
    """Returns a resident's identity number and/or phone in clear: resident.unmask only, with a stated purpose, and
    the read is audited (who, whom, why, which fields)."""
    resident = get_resident(db=db, ctx=ctx, resident_id=resident_id, action="resident.unmask")
    stated = privacy.check_purpose(purpose)
    wanted = [privacy.FIELDS_BY_NAME[name] for name in dict.fromkeys(fields) if name in privacy.FIELDS_BY_NAME]
    if not wanted:
        raise Invalid("name the fields to unmask: id_number, phone", field="fields")
    values = {personal.name: privacy.reveal(resident, personal) for personal in wanted}
    privacy.audit_read(
        db=db,
        actor=ctx.actor,
        kind=privacy.ReadKind.unmask,
        resident_ids=[resident.id],
        purpose=stated,
        source_address=ctx.source_address,
        detail={"fields": [personal.name for personal in wanted]},
    )
    return UnmaskRead(resident_id=resident.id, purpose=stated, **values)


# --- changes ----------------------------------------------------------------------------------------------------


def add_event(
    *,
    db: Session,
    ctx: Context,
    kind: EventKind,
    resident: Resident | None = None,
    household: Household | None = None,
    occurred_on: dt.date | None = None,
    changes: Mapping[str, Any] | None = None,
    note: str | None = None,
    source: str | None = None,
) -> ResidentEvent:
    """Appends one event to the register's history (the only way the register records a change)."""
    household_id = household.id if household is not None else (resident.household_id if resident else None)
    event = ResidentEvent(
        resident_id=resident.id if resident is not None else None,
        household_id=household_id,
        kind=kind,
        occurred_on=occurred_on,
        recorded_at=ctx.now,
        actor_user_id=ctx.actor.user_id,
        actor_name=ctx.actor.name[:100],
        source=(source or ctx.source)[:200],
        changes=dict(changes or {}),
        note=note,
    )
    db.add(event)
    return event


def _audit_change(db: Session, ctx: Context, kind: EventKind, target_type: str, target_id: int, **detail: Any) -> None:
    auth_service.write_audit(
        db=db,
        actor=ctx.actor,
        action=f"resident.{kind}",
        target_type=target_type,
        target_id=target_id,
        source_address=ctx.source_address,
        detail=detail,
    )


def _shown(personal: privacy.PersonalField, value: str | None) -> str | None:
    """Returns how a personal value is written into an event's changes: masked, never in clear."""
    return privacy.mask(personal, value)


def person_changes(person: CheckedPerson) -> dict[str, list[Any]]:
    """Returns the facts of a person entering the register as event changes (personal values masked)."""
    return {
        "name": [None, person.name],
        "relation": [None, str(person.relation)],
        "residence_type": [None, str(person.residence_type)],
        "gender": [None, str(person.gender) if person.gender else None],
        "birth_date": [None, person.birth_date.isoformat() if person.birth_date else None],
        "id_number": [None, _shown(privacy.ID_NUMBER, person.id_number)],
        "phone": [None, _shown(privacy.PHONE, person.phone)],
    }


def duplicate_of(*, db: Session, id_number: str) -> Resident | None:
    """Returns the resident already registered with this identity number (any scope, any status), or None."""
    index = privacy.blind_index(privacy.ID_NUMBER, id_number)
    return db.scalars(select(Resident).where(Resident.id_number_index == index)).first()


def new_resident(household: Household, person: CheckedPerson) -> Resident:
    """Returns an unsaved resident of `household` with the person's facts, personal values encrypted."""
    resident = fill_defaults(
        Resident(
            household=household,
            household_id=household.id,
            relation=person.relation,
            name=person.name,
            gender=person.gender,
            birth_date=person.birth_date,
            ethnicity=person.ethnicity,
            residence_type=person.residence_type,
            status=ResidentStatus.active,
        )
    )
    ring = privacy.keyring()
    privacy.store(resident, privacy.ID_NUMBER, person.id_number, ring)
    privacy.store(resident, privacy.PHONE, person.phone, ring)
    return resident


def create_household(*, db: Session, ctx: Context, data: HouseholdCreate) -> Household:
    """Opens a household (立户) behind a door of a building in the actor's area; 409 when the door has one."""
    require(
        ctx.actor, "resident.manage", db=db, target_type="household", source_address=ctx.source_address, audit=ctx.audit
    )
    building = get_building(db=db, ctx=ctx, code=data.building)
    room = data.room.strip()
    if db.scalar(select(Household.id).where(Household.building_id == building.id, Household.room == room)):
        raise Conflict(f"building {building.code} has a household at {room!r} already", code="household_exists")
    household = fill_defaults(
        Household(
            building_id=building.id,
            building=building,
            area_path=building.path,
            room=room,
            kind=data.kind,
            residence=data.residence,
            notes=data.notes,
        )
    )
    db.add(household)
    db.flush()
    add_event(
        db=db,
        ctx=ctx,
        kind=EventKind.household_created,
        household=household,
        changes={"building": [None, building.code], "room": [None, room], "kind": [None, str(data.kind)]},
    )
    _audit_change(db, ctx, EventKind.household_created, "household", household.id, building=building.code)
    db.flush()
    return household


def update_household(*, db: Session, ctx: Context, household_id: int, data: HouseholdUpdate) -> Household:
    """Changes a household's kind, residence or notes, recording the change."""
    household = get_household(db=db, ctx=ctx, household_id=household_id, action="resident.manage")
    changes: dict[str, list[Any]] = {}
    for name in ("kind", "residence", "notes"):
        value = getattr(data, name)
        if value is not None and value != getattr(household, name):
            before = getattr(household, name)
            changes[name] = [str(before) if before is not None else None, str(value)]
            setattr(household, name, value)
    if not changes:
        return household
    add_event(db=db, ctx=ctx, kind=EventKind.household_update, household=household, changes=changes, note=data.reason)
    _audit_change(db, ctx, EventKind.household_update, "household", household.id, fields=sorted(changes))
    db.flush()
    return household


def move_in(*, db: Session, ctx: Context, household_id: int, data: MoveIn) -> Resident:
    """迁入: registers a person moving into a household of the actor's area (a former resident who moved out is
    taken back, with their history); 409 when the identity number belongs to an active or deceased resident."""
    household = get_household(db=db, ctx=ctx, household_id=household_id, action="resident.manage")
    person, problems = check_person(data.model_dump(), today=_today(ctx))
    if person is None:
        raise _refuse(problems, f"move-in to household {household_id}", "move-in refused")
    tags = _tags_for(db, ctx, data.tags)
    occurred = data.occurred_on or _today(ctx)
    existing = duplicate_of(db=db, id_number=person.id_number) if person.id_number else None
    if existing is not None:
        if existing.status != ResidentStatus.moved_out:
            # NOTE: outside the user's area the status stays unsaid (a death elsewhere is not theirs to learn)
            if in_scope(ctx.actor, "resident.view", existing.household.area_path):
                where = f"{existing.status}, in your area"
            else:
                where = "outside your area"
            raise Conflict(
                f"this identity number is on the register already ({where}): "
                "record a household change, or have the other community record the move out first",
                code="duplicate_identity_number",
            )
        return _return_resident(db, ctx, existing, household, person, tags, occurred, data.note)
    resident = new_resident(household, person)
    db.add(resident)
    db.flush()
    add_event(
        db=db,
        ctx=ctx,
        kind=EventKind.move_in,
        resident=resident,
        occurred_on=occurred,
        changes=person_changes(person),
        note=data.note,
    )
    for tag in tags:
        _link_tag(db, ctx, resident, tag, note=None)
    _audit_change(db, ctx, EventKind.move_in, "resident", resident.id, household_id=household.id)
    db.flush()
    return resident


def _return_resident(
    db: Session,
    ctx: Context,
    resident: Resident,
    household: Household,
    person: CheckedPerson,
    tags: list[Tag],
    occurred: dt.date,
    note: str | None,
) -> Resident:
    changes: dict[str, list[Any]] = {
        "status": [str(resident.status), str(ResidentStatus.active)],
        "household_id": [resident.household_id, household.id],
    }
    for name in ("name", "relation", "residence_type", "gender", "birth_date", "ethnicity"):
        value = getattr(person, name)
        if value is not None and value != getattr(resident, name):
            before = getattr(resident, name)
            changes[name] = [_plain(before), _plain(value)]
            setattr(resident, name, value)
    if person.phone is not None and person.phone != privacy.reveal(resident, privacy.PHONE):
        changes["phone"] = [privacy.masked(resident, privacy.PHONE), _shown(privacy.PHONE, person.phone)]
        privacy.store(resident, privacy.PHONE, person.phone)
    resident.household = household
    resident.household_id = household.id
    resident.status = ResidentStatus.active
    resident.status_on = None
    db.flush()
    add_event(
        db=db,
        ctx=ctx,
        kind=EventKind.move_in,
        resident=resident,
        household=household,
        occurred_on=occurred,
        changes=changes,
        note=note,
    )
    carried = {link.tag_id for link in resident.tags}
    for tag in tags:
        if tag.id not in carried:
            _link_tag(db, ctx, resident, tag, note=None)
    _audit_change(db, ctx, EventKind.move_in, "resident", resident.id, household_id=household.id, returned=True)
    db.flush()
    return resident


def record_birth(*, db: Session, ctx: Context, household_id: int, data: Birth) -> Resident:
    """出生: registers a child born into a household of the actor's area."""
    household = get_household(db=db, ctx=ctx, household_id=household_id, action="resident.manage")
    person, problems = check_person(data.model_dump(), today=_today(ctx))
    if person is None:
        raise _refuse(problems, f"birth in household {household_id}", "birth refused")
    if person.id_number and duplicate_of(db=db, id_number=person.id_number) is not None:
        raise Conflict("this identity number is on the register already", code="duplicate_identity_number")
    resident = new_resident(household, person)
    db.add(resident)
    db.flush()
    add_event(
        db=db,
        ctx=ctx,
        kind=EventKind.birth,
        resident=resident,
        occurred_on=person.birth_date,
        changes=person_changes(person),
        note=data.note,
    )
    _audit_change(db, ctx, EventKind.birth, "resident", resident.id, household_id=household.id)
    db.flush()
    return resident


def move_out(*, db: Session, ctx: Context, resident_id: int, occurred_on: dt.date, note: str | None = None) -> Resident:
    """迁出: the resident leaves the district; the record and its history stay."""
    return _end(db, ctx, resident_id, EventKind.move_out, ResidentStatus.moved_out, occurred_on, note)


def record_death(
    *, db: Session, ctx: Context, resident_id: int, occurred_on: dt.date, note: str | None = None
) -> Resident:
    """死亡: records a resident's death; the record and its history stay."""
    return _end(db, ctx, resident_id, EventKind.death, ResidentStatus.deceased, occurred_on, note)


def _end(
    db: Session,
    ctx: Context,
    resident_id: int,
    kind: EventKind,
    status: ResidentStatus,
    occurred_on: dt.date,
    note: str | None,
) -> Resident:
    resident = get_resident(db=db, ctx=ctx, resident_id=resident_id, action="resident.manage", for_update=True)
    if resident.status != ResidentStatus.active:
        raise Conflict(f"resident {resident_id} is {resident.status} already", code="not_active")
    if occurred_on > _today(ctx):
        raise Invalid("the date lies in the future", field="occurred_on")
    if resident.birth_date is not None and occurred_on < resident.birth_date:
        raise Invalid("the date lies before the resident's birth", field="occurred_on")
    changes = {"status": [str(resident.status), str(status)]}
    resident.status = status
    resident.status_on = occurred_on
    add_event(db=db, ctx=ctx, kind=kind, resident=resident, occurred_on=occurred_on, changes=changes, note=note)
    _audit_change(db, ctx, kind, "resident", resident.id)
    db.flush()
    return resident


def change_contact(
    *, db: Session, ctx: Context, resident_id: int, phone: str | None, note: str | None = None
) -> Resident:
    """联系方式变更: sets (or removes) a resident's phone; the history keeps both numbers masked."""
    resident = get_resident(db=db, ctx=ctx, resident_id=resident_id, action="resident.manage", for_update=True)
    new = None
    if phone:
        try:
            new = normalise_phone(phone)
        except ValueError as exc:
            raise Invalid(str(exc), field="phone") from None
    old = privacy.reveal(resident, privacy.PHONE)
    if new == old:
        raise Conflict("the resident has this phone already", code="unchanged")
    privacy.store(resident, privacy.PHONE, new)
    add_event(
        db=db,
        ctx=ctx,
        kind=EventKind.contact_change,
        resident=resident,
        occurred_on=_today(ctx),
        changes={"phone": [_shown(privacy.PHONE, old), _shown(privacy.PHONE, new)]},
        note=note,
    )
    _audit_change(db, ctx, EventKind.contact_change, "resident", resident.id)
    db.flush()
    return resident


def change_household(
    *,
    db: Session,
    ctx: Context,
    resident_id: int,
    household_id: int,
    relation: Relation,
    occurred_on: dt.date | None = None,
    note: str | None = None,
) -> Resident:
    """户变更: moves an active resident to another household; both must lie in the actor's area."""
    resident = get_resident(db=db, ctx=ctx, resident_id=resident_id, action="resident.manage", for_update=True)
    if resident.status != ResidentStatus.active:
        raise Conflict(f"resident {resident_id} is {resident.status}: record a move-in instead", code="not_active")
    target = get_household(db=db, ctx=ctx, household_id=household_id, action="resident.manage")
    if target.id == resident.household_id and relation == resident.relation:
        raise Conflict("the resident belongs to this household already", code="unchanged")
    changes = {
        "household_id": [resident.household_id, target.id],
        "relation": [str(resident.relation), str(relation)],
    }
    resident.household = target
    resident.household_id = target.id
    resident.relation = relation
    add_event(
        db=db,
        ctx=ctx,
        kind=EventKind.household_change,
        resident=resident,
        household=target,
        occurred_on=occurred_on or _today(ctx),
        changes=changes,
        note=note,
    )
    _audit_change(db, ctx, EventKind.household_change, "resident", resident.id, household_id=target.id)
    db.flush()
    return resident


def correct(*, db: Session, ctx: Context, resident_id: int, data: Correction) -> Resident:
    """信息更正: fixes recorded facts after the same checks as an import; each changed field goes into the history."""
    resident = get_resident(db=db, ctx=ctx, resident_id=resident_id, action="resident.manage", for_update=True)
    given = data.model_dump(exclude={"reason"}, exclude_none=True)
    if not given:
        raise Invalid("name at least one field to correct", field="name")
    current_id = privacy.reveal(resident, privacy.ID_NUMBER)
    merged = {
        "name": resident.name,
        "relation": resident.relation,
        "residence_type": resident.residence_type,
        "gender": resident.gender,
        "birth_date": resident.birth_date,
        "ethnicity": resident.ethnicity,
        "id_number": current_id,
        **given,
    }
    if "id_number" in given and ("birth_date" not in given or "gender" not in given):
        # NOTE: a corrected number brings its own birth date and gender, unless they are corrected with it.
        merged["birth_date"] = given.get("birth_date")
        merged["gender"] = given.get("gender")
    person, problems = check_person(merged, today=_today(ctx))
    if person is None:
        raise _refuse(problems, f"correction of resident {resident_id}", "correction refused")
    changes: dict[str, list[Any]] = {}
    for name in ("name", "relation", "residence_type", "gender", "birth_date", "ethnicity"):
        value = getattr(person, name)
        if value != getattr(resident, name):
            changes[name] = [_plain(getattr(resident, name)), _plain(value)]
            setattr(resident, name, value)
    if person.id_number != current_id:
        if person.id_number and duplicate_of(db=db, id_number=person.id_number) is not None:
            raise Conflict("this identity number is on the register already", code="duplicate_identity_number")
        changes["id_number"] = [_shown(privacy.ID_NUMBER, current_id), _shown(privacy.ID_NUMBER, person.id_number)]
        privacy.store(resident, privacy.ID_NUMBER, person.id_number)
    if not changes:
        raise Conflict("nothing differs from the record", code="unchanged")
    add_event(db=db, ctx=ctx, kind=EventKind.correction, resident=resident, changes=changes, note=data.reason)
    _audit_change(db, ctx, EventKind.correction, "resident", resident.id, fields=sorted(changes))
    db.flush()
    return resident


def add_tag(*, db: Session, ctx: Context, resident_id: int, tag: str, note: str | None = None) -> Resident:
    """Tags a resident with a group the actor may see (9+X); 409 when the resident carries it already."""
    resident = get_resident(db=db, ctx=ctx, resident_id=resident_id, action="resident.manage", for_update=True)
    found = _tags_for(db, ctx, [tag])[0]
    if any(link.tag_id == found.id for link in resident.tags):
        raise Conflict(f"the resident carries tag {found.code} already", code="tag_present")
    _link_tag(db, ctx, resident, found, note=note)
    db.flush()
    return resident


def remove_tag(*, db: Session, ctx: Context, resident_id: int, tag: str, note: str | None = None) -> Resident:
    """Removes a tag from a resident (recorded as an event); 404 when the resident does not carry it."""
    resident = get_resident(db=db, ctx=ctx, resident_id=resident_id, action="resident.manage", for_update=True)
    found = tag_service.get_by_code(db=db, code=tag)
    _check_tag_visible(ctx, found)
    link = next((link for link in resident.tags if link.tag_id == found.id), None)
    if link is None:
        raise NotFoundError(f"the resident does not carry tag {found.code}")
    resident.tags.remove(link)
    add_event(
        db=db,
        ctx=ctx,
        kind=EventKind.tag_removed,
        resident=resident,
        occurred_on=_today(ctx),
        changes=_tag_changes(found, added=False),
        note=note,
    )
    _audit_change(db, ctx, EventKind.tag_removed, "resident", resident.id, tag=found.code)
    db.flush()
    return resident


def _tags_for(db: Session, ctx: Context, codes: Iterable[str]) -> list[Tag]:
    found: dict[int, Tag] = {}
    for code in codes:
        tag = tag_service.get_by_code(db=db, code=code)
        _check_tag_visible(ctx, tag)
        if not tag.is_active:
            raise Invalid(f"tag {tag.code} is retired: no new residents get it", field="tag")
        # NOTE: one tag named twice (its code and its Chinese name, or a repeat) is one tag, linked once.
        found.setdefault(tag.id, tag)
    return list(found.values())


def _check_tag_visible(ctx: Context, tag: Tag) -> None:
    if not privacy.may_see_tag(ctx.actor, tag.sensitivity):
        raise Forbidden(
            f"tag {tag.code} is of sensitivity {tag.sensitivity}: your role may neither see nor set it",
            code="tag_not_visible",
        )


def _tag_changes(tag: Tag, *, added: bool) -> dict[str, Any]:
    pair = [None, tag.code] if added else [tag.code, None]
    return {"tag": pair, "tag_name": tag.name, "sensitivity": str(tag.sensitivity)}


def _link_tag(
    db: Session, ctx: Context, resident: Resident, tag: Tag, *, note: str | None, source: str | None = None
) -> None:
    resident.tags.append(ResidentTag(tag=tag, tag_id=tag.id, added_at=ctx.now, added_by_user_id=ctx.actor.user_id))
    add_event(
        db=db,
        ctx=ctx,
        kind=EventKind.tag_added,
        resident=resident,
        occurred_on=_today(ctx),
        changes=_tag_changes(tag, added=True),
        note=note,
        source=source,
    )
    _audit_change(db, ctx, EventKind.tag_added, "resident", resident.id, tag=tag.code)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value) if value is not None and not isinstance(value, int | str) else value


def _today(ctx: Context) -> dt.date:
    from gridgov.config import get_settings

    return ctx.now.astimezone(get_settings().tz).date()
