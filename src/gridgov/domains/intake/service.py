"""The one intake function every channel calls: validate → locate → (classify) → duplicates → dispatch →
clocks → case + events, in the caller's transaction, idempotent on a client-supplied key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core.errors import Conflict, Forbidden, Invalid
from gridgov.core.geo import distance_m, point_to_wgs84
from gridgov.core.models import fill_defaults
from gridgov.domains.areas import locate as locate_service
from gridgov.domains.areas.locate import Located
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.enums import Role
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases import sla
from gridgov.domains.cases.enums import Action, AttachmentKind, CaseFlag, CaseStage, Channel
from gridgov.domains.cases.models import Case, CaseContact
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog.enums import Stage, TimeUnit
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.intake.schemas import CaseSubmit, DuplicateSuggestion
from gridgov.domains.triage import duplicates as duplicates_service
from gridgov.domains.triage import registry as triage_registry
from gridgov.domains.triage.enums import LabelTarget

# Where each channel's reports start (DOMAIN.md §2.2): a grid worker's report, a hotline work order, a leader's
# assignment and a sensor alarm are registered at once; citizens' reports and video-AI alarms are first
# verified on site (核实) by a grid worker.
INITIAL_STAGE: dict[Channel, CaseStage] = {
    Channel.patrol: CaseStage.registered,
    Channel.hotline: CaseStage.registered,
    Channel.assignment: CaseStage.registered,
    Channel.iot: CaseStage.registered,
    Channel.discovered: CaseStage.registered,
    Channel.snapshot: CaseStage.verifying,
    Channel.open311: CaseStage.verifying,
    Channel.video: CaseStage.verifying,
}
CHANNEL_ROLES: dict[Channel, frozenset[Role]] = {
    Channel.patrol: frozenset({Role.grid_worker}),
    Channel.assignment: frozenset({Role.district_leader, Role.district_dispatcher}),
    Channel.iot: frozenset({Role.system}),
    Channel.video: frozenset({Role.system}),
    Channel.discovered: frozenset({Role.system, Role.district_dispatcher}),
    Channel.hotline: frozenset({Role.system, Role.district_dispatcher, Role.street_dispatcher}),
}


@dataclass
class IntakeResult:
    """The case made (or found again, for a retried key) and the duplicates suggested at intake."""

    case: Case
    created: bool
    duplicates: list[DuplicateSuggestion] = field(default_factory=list)


def find_existing(*, db: Session, report: CaseSubmit, ctx: Context, idempotency_key: str | None) -> Case | None:
    """Returns the case an earlier submission of this report made (same key, or same channel and external id).

    The same key with a different report, or from another reporter, is refused (409 idempotency_key_reused).
    """
    if idempotency_key:
        found = db.scalars(select(Case).where(Case.idempotency_key == idempotency_key)).first()
        if found is not None:
            # NOTE: keys are global; a replay only returns the case to whoever reported it, or a guessed key
            # would reveal someone else's case.
            if found.reporter_user_id != ctx.actor.user_id:
                raise Conflict(
                    "this Idempotency-Key was already used by another reporter; send a new key",
                    code="idempotency_key_reused",
                )
            if not _same_report(found, report):
                raise Conflict(
                    "this Idempotency-Key was already used for a different report; a retry must resend the same "
                    "report, a new report needs a new key",
                    code="idempotency_key_reused",
                )
            return found
    if report.external_id:
        return db.scalars(
            select(Case).where(Case.channel == report.channel, Case.external_id == report.external_id)
        ).first()
    return None


def _same_report(found: Case, report: CaseSubmit) -> bool:
    """Tells whether `report` is a retry of the report that made `found` (same matter, text and place)."""
    if (found.channel, found.title, found.description) != (report.channel, report.title, report.description):
        return False
    # A report left to the classifier (no type, or the catch-all) took the model's type: any type matches it.
    chosen = report.matter_type and report.matter_type != get_settings().snapshot_other_matter_type.strip()
    if chosen and found.matter_type.code != report.matter_type:
        return False
    if report.lng is None or report.lat is None:
        return True
    lng, lat = point_to_wgs84(report.lng, report.lat, report.crs)
    return distance_m(lng, lat, found.lng, found.lat) < 1.0


def submit(*, db: Session, report: CaseSubmit, ctx: Context, idempotency_key: str | None = None) -> IntakeResult:
    """Turns a report into a case, or returns the case an earlier submission with the same key made."""
    if (found := find_existing(db=db, report=report, ctx=ctx, idempotency_key=idempotency_key)) is not None:
        return IntakeResult(case=found, created=False)
    allowed_roles = CHANNEL_ROLES.get(report.channel)
    if allowed_roles is not None and ctx.actor.role not in allowed_roles:
        raise Forbidden(
            f"role '{ctx.actor.role}' may not report through channel '{report.channel}'", code="channel_not_allowed"
        )
    if report.self_handled and ctx.actor.role != Role.grid_worker:
        raise Forbidden("only grid workers self-handle (即时处置) a report", code="self_handle_not_allowed")

    matter, classification = _classify(db=db, report=report)
    owner = None
    if report.component_owner:
        owner = db.scalars(select(Unit).where(Unit.code == report.component_owner)).first()
        if owner is None:
            raise Invalid(
                f"unknown component owner unit {report.component_owner!r}", code="unknown_unit", field="component_owner"
            )

    lng, lat, located = _locate(db=db, report=report)
    assigned_unit = _assigned_unit(db=db, report=report)
    # NOTE: lng/lat of a report naming only an area are that area's representative point; suggest() knows it.
    found = duplicates_service.suggest(
        db=db,
        matter_type_id=matter.id,
        text=duplicates_service.compose_text(report.title, report.description),
        lng=lng,
        lat=lat,
        grid_id=located.grid.id,
        community_id=located.community.id if located.community else None,
        street_id=located.street.id if located.street else None,
        district_id=located.district.id if located.district else None,
        at=ctx.now,
    )
    found = duplicates_service.visible_to(db=db, actor=ctx.actor, candidates=found)
    duplicates = [
        DuplicateSuggestion(
            case_id=d.case.id,
            number=d.case.number,
            title=d.case.title,
            distance_m=d.distance_m,
            reported_at=d.case.reported_at.isoformat(),
            score=d.score,
            text_similarity=d.text_similarity,
        )
        for d in found
    ]

    stage = INITIAL_STAGE[report.channel]
    if report.self_handled:
        case_service.require_evidence(matter, report.self_handled.evidence)
    verifying = stage == CaseStage.verifying and not report.self_handled
    patrol_verified = report.channel == Channel.patrol and not report.self_handled
    # NOTE: the case is built in memory, run through register/dispatch and its clocks, and inserted with its
    # events in one flush at the end: a handful of statements per report instead of one per step.
    case = fill_defaults(
        Case(
            channel=report.channel,
            external_id=report.external_id,
            idempotency_key=idempotency_key,
            tracking_code=secrets.token_hex(5).upper() if report.channel in TRACKED_CHANNELS else None,
            matter_type=matter,
            urgency=report.urgency or matter.default_urgency,
            title=report.title,
            description=report.description,
            lng=lng,
            lat=lat,
            address=report.address,
            grid_id=located.grid.id,
            community_id=located.community.id if located.community else None,
            street_id=located.street.id if located.street else None,
            district_id=located.district.id if located.district else None,
            area_path=located.path,
            reporter_user_id=ctx.actor.user_id,
            reporter_role=ctx.actor.role,
            reporter_unit_id=ctx.actor.unit_id,
            component_owner_unit_id=owner.id if owner else None,
            classification=classification,
            stage=CaseStage.verifying if verifying else CaseStage.reported,
            reported_at=ctx.now,
            verifying_at=ctx.now if verifying else None,
            updated_at=ctx.now,
            # 巡办分离: a patrol case is verified by its reporter; other channels by the grid's worker.
            verifier_user_id=ctx.actor.user_id if patrol_verified else None,
        )
    )
    if report.contact and (report.contact.name or report.contact.phone or report.contact.email):
        case.contact = CaseContact(**report.contact.model_dump())
    if verifying:
        # A public report waits for on-site verification (核实) by a grid worker; the register clock runs.
        sla.start_clock(db=db, case=case, stage=Stage.register, at=ctx.now, calendar=ctx.calendar)
        case_service.plan_dispatch(db=db, case=case)
    report_data: dict[str, Any] = {"channel": str(report.channel), "crs": str(report.crs)}
    # NOTE: a photo taken far from where the problem is said to be is flagged for the dispatcher, not refused:
    # the reporter may have photographed it from across the road, or uploaded an older photo by mistake.
    if far := case_service.photo_flags(db=db, sha256s=report.attachments, lng=lng, lat=lat):
        case.flags = [CaseFlag.photo_far_from_location]
        report_data["photos_far_from_location"] = far
    case_service.record(
        db=db, case=case, action=Action.report, ctx=ctx, from_stage=None, to_stage=case.stage, data=report_data
    )
    case_service.attach(db=db, case=case, sha256s=report.attachments, kind=AttachmentKind.report, ctx=ctx)
    if report.self_handled:
        _self_handle(db=db, case=case, report=report, ctx=ctx)
    elif case.stage == CaseStage.reported:
        system = Context(actor=case_service.SYSTEM_ACTOR, now=ctx.now, calendar=ctx.calendar)
        note = f"registered on intake ({report.channel})"
        case_service.register(db=db, case=case, ctx=system, note=note, dispatch=assigned_unit is None)
    if report.channel == Channel.assignment:
        _assign(db=db, case=case, unit=assigned_unit, report=report, ctx=ctx)
    try:
        # NOTE: the number is drawn inside the savepoint, so a lost idempotency race gives it back (no gap).
        with db.begin_nested():
            case.number = case_service.next_number(
                db=db, district_code=located.district.code, at=ctx.now, calendar=ctx.calendar
            )
            db.add(case)
            db.flush()
    except IntegrityError:
        # NOTE: a concurrent retry with the same key (or external id) won the race: return its case. (The
        # savepoint's rollback has already taken our unsaved case out of the session.)
        if (found := find_existing(db=db, report=report, ctx=ctx, idempotency_key=idempotency_key)) is not None:
            return IntakeResult(case=found, created=False)
        raise
    return IntakeResult(case=case, created=True, duplicates=duplicates)


# Channels whose reporters follow their case by a code (the hotline follows its own by its order id).
TRACKED_CHANNELS = frozenset({Channel.snapshot, Channel.open311})


def _classify(*, db: Session, report: CaseSubmit) -> tuple[MatterType, dict[str, Any] | None]:
    """Returns the report's matter type and the classification to keep on the case.

    The reporter's own choice stands; a report without one, or with the catch-all "other" type (其他), is
    classified by the active triage model. The case takes the model's best label; below the confidence
    threshold it then waits in the dispatcher's queue with the top suggestions instead of going out.
    """
    if report.classification is not None:
        return _matter_type(db, report.matter_type), report.classification.model_dump()
    catch_all = get_settings().snapshot_other_matter_type.strip()
    if report.matter_type and report.matter_type != catch_all:
        return _matter_type(db, report.matter_type), None
    found = triage_registry.classify(db=db, text=f"{report.title}。{report.description}")
    if found is not None and found.target == LabelTarget.matter_type:
        return _matter_type(db, found.code), found.as_case_data()
    if report.matter_type:
        return _matter_type(db, report.matter_type), found.as_case_data() if found else None
    if found is not None:
        why = "the active triage model suggests handling units, not matter types"
    elif triage_registry.active_model(db=db) is not None:
        why = "the triage model could not classify the report"
    else:
        why = "no triage model is active to classify the report"
    raise Invalid(f"give the matter type (事项编码): {why}", code="matter_type_required", field="matter_type")


def _matter_type(db: Session, code: str | None) -> MatterType:
    matter = db.scalars(select(MatterType).where(MatterType.code == code, MatterType.is_active)).first()
    if matter is None:
        raise Invalid(f"unknown matter type {code!r}", code="unknown_matter_type", field="matter_type")
    return matter


def _locate(*, db: Session, report: CaseSubmit) -> tuple[float, float, Located]:
    """Returns the report's WGS84 point and its grid: from its coordinates, or from the area it names."""
    index = locate_service.get_index(db=db)
    if report.lng is not None and report.lat is not None:
        lng, lat = point_to_wgs84(report.lng, report.lat, report.crs)
        where = f"location ({report.lng}, {report.lat})"
    else:
        area = db.scalars(select(Area).where(Area.code == report.area_code)).first()
        if area is None:
            raise Invalid(f"unknown area code {report.area_code!r}", code="unknown_area", field="area_code")
        point = locate_service.point_in_area(db=db, area_id=area.id)
        if point is None:
            raise Invalid(
                f"area {area.name} ({area.code}) has no grid to place the case in; give coordinates",
                code="area_without_grid",
                field="area_code",
            )
        lng, lat = point
        where = f"area {area.code} {area.name}"
    located = index.locate(lng, lat)
    if located.status != "inside" or located.grid is None:
        nearest = located.nearest
        near = f"; nearest grid {nearest.name} ({nearest.code}) is {located.distance_m:.0f} m away" if nearest else ""
        raise Invalid(f"{where} is outside the district's grids{near}", code="outside_district", field="lng/lat")
    return lng, lat, located


def _assigned_unit(*, db: Session, report: CaseSubmit) -> Unit | None:
    if report.due_at is not None and not report.assigned_unit:
        raise Invalid("a deadline (due_at) needs the unit it applies to (assigned_unit)", code="unit_required")
    if not report.assigned_unit:
        return None
    unit = db.scalars(select(Unit).where(Unit.code == report.assigned_unit, Unit.is_active)).first()
    if unit is None:
        raise Invalid(f"unknown unit {report.assigned_unit!r}", code="unknown_unit", field="assigned_unit")
    return unit


def _assign(*, db: Session, case: Case, unit: Unit | None, report: CaseSubmit, ctx: Context) -> None:
    """领导交办: dispatched to the leader's unit (or by the catalogue) and supervised from the start."""
    if unit is not None:
        system = Context(actor=case_service.SYSTEM_ACTOR, now=ctx.now, calendar=ctx.calendar)
        case_service.dispatch(
            db=db, case=case, unit=unit, co_units=[], ctx=system, note="领导交办 (assigned by a leader)"
        )
        if report.due_at is not None:
            # NOTE: the leader's deadline is an instant, not an amount of working time: counted in natural hours,
            # a deadline on a weekend stays on the weekend instead of moving to Friday's closing time.
            case.clock_unit = TimeUnit.natural_hours
    case_service.supervise(
        db=db,
        case=case,
        ctx=ctx,
        note="领导交办，全程督办 (assigned by a leader: supervised)",
        new_deadline=report.due_at,
    )


def _self_handle(*, db: Session, case: Case, report: CaseSubmit, ctx: Context) -> None:
    """即时处置: reported and handled in one step; verified later by someone else (sampling or another worker)."""
    handled = report.self_handled
    assert handled is not None
    case.stage = CaseStage.handled
    case.registered_at = case.handled_at = ctx.now
    case.handling_unit_id = ctx.actor.unit_id
    case.result = handled.result
    case.centre_area_id = case.street_id
    sla.start_clock(db=db, case=case, stage=Stage.verify, at=ctx.now, calendar=ctx.calendar)
    case_service.record(
        db=db,
        case=case,
        action=Action.self_handle,
        ctx=ctx,
        from_stage=CaseStage.reported,
        to_stage=CaseStage.handled,
        note=handled.result,
        data={"evidence": handled.evidence},
    )
    case_service.attach(db=db, case=case, sha256s=handled.evidence, kind=AttachmentKind.after, ctx=ctx)
