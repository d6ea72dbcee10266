"""The SLA sweep: marks warnings (50/75/90 %), overdue (100 %, with automatic supervision) and ends
suspensions whose date has come. Idempotent and safe with any number of processes.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gridgov.core.calendar import WorkingCalendar
from gridgov.core.clock import now as clock_now
from gridgov.core.db import transaction
from gridgov.domains.auth.schemas import SYSTEM_ACTOR
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases import sla
from gridgov.domains.cases.enums import Action
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.service import Context

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    """What one sweep did."""

    examined: int = 0
    warnings: int = 0
    overdue: int = 0
    resumed: int = 0
    failed: list[int] = field(default_factory=list)


def due_cases(*, db: Session, now: dt.datetime, limit: int) -> list[Case]:
    """Returns (and locks, on PostgreSQL) open cases whose next SLA check has come, oldest first."""
    stmt = (
        select(Case).where(Case.next_check_at <= now, Case.is_open).order_by(Case.next_check_at, Case.id).limit(limit)
    )
    if db.get_bind().dialect.name == "postgresql":
        # NOTE: other workers skip the rows this one holds, so each case is marked by exactly one of them.
        stmt = stmt.with_for_update(skip_locked=True, of=Case)
    return list(db.scalars(stmt))


def check_case(*, db: Session, case: Case, ctx: Context, report: SweepReport) -> None:
    """Applies whatever thresholds the case has crossed since its last check (none, if already applied)."""
    report.examined += 1
    if case.is_suspended:
        if case.suspended_until is not None and case.suspended_until <= ctx.now:
            case_service.resume(db=db, case=case, ctx=ctx, note="suspension ended (挂账到期)")
            report.resumed += 1
        return
    level = sla.level_at(case, ctx.now, ctx.calendar)
    if level <= case.warning_level:
        sla.refresh(case, ctx.calendar)  # nothing crossed (e.g. a limit was extended): just reschedule
        return
    case.warning_level = level
    case.updated_at = ctx.now
    if level >= 100:
        case.is_overdue = True
        report.overdue += 1
        case_service.record(
            db=db,
            case=case,
            action=Action.overdue,
            ctx=ctx,
            from_stage=case.stage,
            to_stage=case.stage,
            note=f"{case.clock_stage} deadline passed (超期)",
            data={"level": level},
        )
        if not case.is_supervised:
            case_service.supervise(db=db, case=case, ctx=ctx, note="automatic supervision at breach (超期自动督办)")
    else:
        report.warnings += 1
        case_service.record(
            db=db,
            case=case,
            action=Action.warn,
            ctx=ctx,
            from_stage=case.stage,
            to_stage=case.stage,
            note=f"{level}% of the {case.clock_stage} limit used (预警)",
            data={"level": level},
        )
    sla.refresh(case, ctx.calendar)


def sweep(
    *,
    engine: Engine,
    now: dt.datetime | None = None,
    calendar: WorkingCalendar | None = None,
    batch_size: int = 200,
    max_batches: int | None = None,
) -> SweepReport:
    """Runs the SLA sweep until no case is due, one transaction per batch."""
    ctx = Context(actor=SYSTEM_ACTOR, now=now or clock_now(), calendar=calendar or sla.default_calendar())
    report = SweepReport()
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        with transaction(engine) as db:
            cases = due_cases(db=db, now=ctx.now, limit=batch_size)
            for case in cases:
                try:
                    with db.begin_nested():
                        check_case(db=db, case=case, ctx=ctx, report=report)
                except Exception:
                    log.exception("SLA check of case %s failed", case.number)
                    report.failed.append(case.id)
                    # NOTE: push it back so one broken case cannot stall the sweep for all others.
                    case.next_check_at = ctx.now + dt.timedelta(minutes=10)
        if len(cases) < batch_size:
            break
    return report
