"""The one intake function every channel calls: validate → locate → (classify) → duplicates → dispatch →
clocks → case + events, in the caller's transaction, idempotent on a client-supplied key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridgov.core.errors import Conflict, Forbidden, Invalid
from gridgov.core.geo import point_to_wgs84
from gridgov.core.models import fill_defaults
from gridgov.domains.areas import locate as locate_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases import sla
from gridgov.domains.cases.enums import Action, AttachmentKind, CaseStage, Channel
from gridgov.domains.cases.models import Case, CaseContact
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog.enums import Stage
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.intake.schemas import CaseSubmit, DuplicateSuggestion

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
}


@dataclass
class IntakeResult:
    """The case made (or found again, for a retried key) and the duplicates suggested at intake."""

    case: Case
    created: bool
    duplicates: list[DuplicateSuggestion] = field(default_factory=list)


def _existing(*, db: Session, report: CaseSubmit, ctx: Context, idempotency_key: str | None) -> Case | None:
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
            return found
    if report.external_id:
        return db.scalars(
            select(Case).where(Case.channel == report.channel, Case.external_id == report.external_id)
        ).first()
    return None


def submit(*, db: Session, report: CaseSubmit, ctx: Context, idempotency_key: str | None = None) -> IntakeResult:
    """Turns a report into a case, or returns the case an earlier submission with the same key made."""
    if (found := _existing(db=db, report=report, ctx=ctx, idempotency_key=idempotency_key)) is not None:
        return IntakeResult(case=found, created=False)
    allowed_roles = CHANNEL_ROLES.get(report.channel)
    if allowed_roles is not None and ctx.actor.role not in allowed_roles:
        raise Forbidden(
            f"role '{ctx.actor.role}' may not report through channel '{report.channel}'", code="channel_not_allowed"
        )
    if report.self_handled and ctx.actor.role != Role.grid_worker:
        raise Forbidden("only grid workers self-handle (即时处置) a report", code="self_handle_not_allowed")

    matter = db.scalars(select(MatterType).where(MatterType.code == report.matter_type, MatterType.is_active)).first()
    if matter is None:
        raise Invalid(f"unknown matter type {report.matter_type!r}", code="unknown_matter_type", field="matter_type")
    owner = None
    if report.component_owner:
        owner = db.scalars(select(Unit).where(Unit.code == report.component_owner)).first()
        if owner is None:
            raise Invalid(
                f"unknown component owner unit {report.component_owner!r}", code="unknown_unit", field="component_owner"
            )

    lng, lat = point_to_wgs84(report.lng, report.lat, report.crs)
    located = locate_service.get_index(db=db).locate(lng, lat)
    if located.status != "inside" or located.grid is None:
        nearest = located.nearest
        where = f"; nearest grid {nearest.name} ({nearest.code}) is {located.distance_m:.0f} m away" if nearest else ""
        raise Invalid(
            f"location ({report.lng}, {report.lat}) is outside the district's grids{where}",
            code="outside_district",
            field="lng/lat",
        )

    duplicates = [
        DuplicateSuggestion(
            case_id=c.id, number=c.number, title=c.title, distance_m=round(d, 1), reported_at=c.reported_at.isoformat()
        )
        for c, d in case_service.find_duplicates(db=db, matter_type_id=matter.id, lng=lng, lat=lat, at=ctx.now)
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
            classification=report.classification.model_dump() if report.classification else None,
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
    case_service.record(
        db=db,
        case=case,
        action=Action.report,
        ctx=ctx,
        from_stage=None,
        to_stage=case.stage,
        data={"channel": str(report.channel), "crs": str(report.crs)},
    )
    case_service.attach(db=db, case=case, sha256s=report.attachments, kind=AttachmentKind.report, ctx=ctx)
    if report.self_handled:
        _self_handle(db=db, case=case, report=report, ctx=ctx)
    elif case.stage == CaseStage.reported:
        system = Context(actor=case_service.SYSTEM_ACTOR, now=ctx.now, calendar=ctx.calendar)
        case_service.register(db=db, case=case, ctx=system, note=f"registered on intake ({report.channel})")
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
        if (found := _existing(db=db, report=report, ctx=ctx, idempotency_key=idempotency_key)) is not None:
            return IntakeResult(case=found, created=False)
        raise
    return IntakeResult(case=case, created=True, duplicates=duplicates)


TRACKED_CHANNELS = frozenset({Channel.snapshot, Channel.open311, Channel.hotline})


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
