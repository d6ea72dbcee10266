"""Household visits (入户走访): a grid worker logs a visit; findings that are problems become patrol cases.

A visit stays in the worker's grid (area scope); the cases it makes go through the one intake function with
the patrol channel, and say which visit they came from — never the household's people (personal data stays in
the registers, referred to by id).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core.errors import Conflict, Forbidden, Invalid, NotFoundError
from gridgov.core.geo import point_to_wgs84
from gridgov.core.models import fill_defaults
from gridgov.core.permissions import scope_condition
from gridgov.domains.areas import locate as locate_service
from gridgov.domains.cases.enums import Channel
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.models import HouseholdVisit
from gridgov.domains.intake.schemas import CaseSubmit, VisitIn
from gridgov.domains.people.privacy import redact

TITLE_CHARS = 30


def log_visit(*, db: Session, visit: VisitIn, ctx: Context, idempotency_key: str | None = None) -> HouseholdVisit:
    """Records a visit in the worker's grid and turns findings marked `create_case` into patrol cases."""
    actor = ctx.actor
    if idempotency_key:
        found = db.scalars(select(HouseholdVisit).where(HouseholdVisit.idempotency_key == idempotency_key)).first()
        if found is not None:
            if found.worker_user_id != actor.user_id or not _same_visit(found, visit):
                raise Conflict(
                    "this Idempotency-Key was already used for another visit; a retry must resend the same visit, "
                    "a new visit needs a new key",
                    code="idempotency_key_reused",
                )
            return found
    if actor.user_id is None:
        raise Forbidden("only a signed-in worker logs visits", code="visit_needs_user")
    for number, finding in enumerate(visit.findings, start=1):
        if finding.create_case and not finding.matter_type:
            raise Invalid(
                f"finding {number}: a finding that becomes a case needs its matter type",
                code="matter_type_required",
                field=f"findings[{number - 1}].matter_type",
            )
    lng, lat = point_to_wgs84(visit.lng, visit.lat, visit.crs)
    located = locate_service.get_index(db=db).locate(lng, lat)
    if located.status != "inside" or located.grid is None:
        raise Invalid(f"location ({visit.lng}, {visit.lat}) is outside the district's grids", code="outside_district")
    if actor.scope_path and not located.path.startswith(actor.scope_path):
        raise Forbidden(
            f"the visit is in grid {located.grid.name} ({located.grid.code}), outside your area", code="out_of_area"
        )
    row = fill_defaults(
        HouseholdVisit(
            grid_id=located.grid.id,
            area_path=located.path,
            worker_user_id=actor.user_id,
            household_ref=visit.household_ref,
            household_id=visit.household_id,
            visited_at=visit.visited_at or ctx.now,
            purpose=visit.purpose,
            summary=visit.summary,
            findings=[f.model_dump(exclude={"attachments"}) for f in visit.findings],
            idempotency_key=idempotency_key,
            created_at=ctx.now,
        )
    )
    db.add(row)
    db.flush()
    case_ids: list[int] = []
    for number, finding in enumerate(visit.findings, start=1):
        if not finding.create_case:
            continue
        report = CaseSubmit(
            channel=Channel.patrol,
            matter_type=finding.matter_type or "",
            # NOTE: redacted: an identity number or phone the worker typed into a finding stays out of the case;
            # redacted before it is cut to a title, since a number cut in half is no longer recognised.
            title=redact(finding.title) if finding.title else redact(finding.description)[:TITLE_CHARS],
            description=redact(finding.description)
            + f"\n（入户走访 #{row.id} 发现 / found on household visit #{row.id}）",
            lng=lng,
            lat=lat,
            attachments=finding.attachments,
        )
        key = f"{idempotency_key}:finding:{number}" if idempotency_key else None
        result = intake_service.submit(db=db, report=report, ctx=ctx, idempotency_key=key)
        case_ids.append(result.case.id)
        row.findings[number - 1] = {**row.findings[number - 1], "case_id": result.case.id}
    row.case_ids = case_ids
    row.findings = list(row.findings)  # a new list, so the JSON column is written
    db.flush()
    return row


def _same_visit(found: HouseholdVisit, visit: VisitIn) -> bool:
    """Tells whether `visit` is a retry of the one logged as `found` (same household, words and findings)."""
    findings = [f.model_dump(exclude={"attachments"}) for f in visit.findings]
    logged = [{k: v for k, v in f.items() if k != "case_id"} for f in found.findings]
    return (found.household_ref, found.purpose, found.summary, logged) == (
        visit.household_ref,
        visit.purpose,
        visit.summary,
        findings,
    )


def list_visits(
    *, db: Session, ctx: Context, grid_id: int | None = None, limit: int = 50, offset: int = 0
) -> list[HouseholdVisit]:
    """Returns the visits the actor may see (its area; newest first)."""
    stmt = select(HouseholdVisit).where(_visible(ctx))
    if grid_id is not None:
        stmt = stmt.where(HouseholdVisit.grid_id == grid_id)
    order = (HouseholdVisit.visited_at.desc(), HouseholdVisit.id.desc())
    return list(db.scalars(stmt.order_by(*order).limit(limit).offset(offset)))


def get_visit(*, db: Session, ctx: Context, visit_id: int) -> HouseholdVisit:
    """Returns a visit the actor may see; outside its area answers like a missing one."""
    found = db.scalars(select(HouseholdVisit).where(HouseholdVisit.id == visit_id, _visible(ctx))).first()
    if found is None:
        raise NotFoundError(f"visit {visit_id} not found")
    return found


def _visible(ctx: Context):  # noqa: ANN202 - a SQL condition
    return scope_condition(
        ctx.actor,
        "visit.view",
        area_path=HouseholdVisit.area_path,
        unit_ids=(),
        unit_lists=(),
        owner_id=HouseholdVisit.worker_user_id,
    )
