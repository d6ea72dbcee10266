"""Console page of evaluation (/evaluation): this month's ranking of the user's level, headline figures with their
change, the campaigns and their progress, and the bulletins to download.

Thin, like the JSON API: the ranking is `service.rank` (the level below the user's scope: streets for district
users, communities for a street), the headline figures are the bulletins' (`bulletins.HEADLINES`) over the
counts engine, the campaigns' progress is `campaigns.progress` limited to the user's area.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from gridgov.config import get_settings
from gridgov.core import clock
from gridgov.core.db import DbSession
from gridgov.core.errors import DomainError, NotFoundError
from gridgov.core.pages import PageUser, error_messages, require_page
from gridgov.core.templating import N_, render
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.auth.schemas import Actor, Principal
from gridgov.domains.evaluation import bulletins, campaigns, dashboard, service
from gridgov.domains.evaluation import engine as counts_engine
from gridgov.domains.evaluation import indicators as indicator_defs
from gridgov.domains.evaluation.api import OwnTransactions
from gridgov.domains.evaluation.bulletins import Transactions
from gridgov.domains.evaluation.enums import BulletinFormat, CampaignStatus, Dimension
from gridgov.domains.evaluation.models import Bulletin
from gridgov.domains.evaluation.periods import Period

router = APIRouter(include_in_schema=False)
CAMPAIGNS_SHOWN = 10
BULLETINS_SHOWN = 12

HEADLINE_LABELS: dict[str, str] = {
    "received": N_("Cases received"),
    "registered": N_("Cases registered"),
    "due": N_("Cases due"),
    "closed": N_("Cases closed (of those due)"),
    "closure_rate": N_("Closure rate"),
    "on_time_rate": N_("On-time closure rate"),
    "open_overdue": N_("Overdue, not closed"),
    "rework": N_("Cases reworked"),
    "satisfaction_rate": N_("Satisfaction rate"),
}
LEVEL_LABELS: dict[str, str] = {
    Dimension.street: N_("Streets"),
    Dimension.community: N_("Communities"),
    Dimension.grid: N_("Grids"),
}
# The dimension whose one row is the user's whole area (its own level).
OWN_DIMENSION: dict[AreaLevel | None, Dimension] = {
    None: Dimension.district,
    AreaLevel.district: Dimension.district,
    AreaLevel.street: Dimension.street,
    AreaLevel.community: Dimension.community,
    AreaLevel.grid: Dimension.grid,
    AreaLevel.building: Dimension.grid,
}


@dataclass
class Headline:
    """A headline figure of this month so far, with last month's whole value."""

    code: str
    label: str
    value: float | None
    previous: float | None
    is_rate: bool

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


def _totals(table: Any) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counts in table.rows.values():
        for name, value in counts.items():
            totals[name] = totals.get(name, 0) + int(value or 0)
    return totals


def _value(counts: dict[str, int], numerator: str, denominator: str | None) -> float | None:
    if denominator is None:
        return float(counts.get(numerator, 0))
    below = counts.get(denominator, 0)
    return counts.get(numerator, 0) / below if below else None


def headlines(*, db: Session, period: Period, scope_path: str | None, level: AreaLevel | None) -> list[Headline]:
    """Returns the bulletins' headline figures of the user's area for `period`, with the previous period's."""
    dimension = OWN_DIMENSION[level]
    current = _totals(counts_engine.compute(db=db, period=period, dimension=dimension, scope_path=scope_path))
    before = _totals(counts_engine.compute(db=db, period=period.previous(), dimension=dimension, scope_path=scope_path))
    return [
        Headline(
            code=h.code,
            label=HEADLINE_LABELS.get(h.code, h.label),
            value=_value(current, h.numerator, h.denominator),
            previous=_value(before, h.numerator, h.denominator),
            is_rate=h.denominator is not None,
        )
        for h in bulletins.HEADLINES
    ]


def visible_bulletins(*, db: Session, actor: Actor) -> list[Bulletin]:
    """Returns the newest stored bulletins the user may download: district-wide ones for district users, their
    street's for a street user, none below a street."""
    try:
        area = bulletins.bulletin_scope(db=db, actor=actor)
    except DomainError:
        return []
    stmt = select(Bulletin).order_by(Bulletin.created_at.desc(), Bulletin.id.desc()).limit(BULLETINS_SHOWN)
    if area is None:
        stmt = stmt.where(~Bulletin.scope.contains("@"))
    else:
        stmt = stmt.where(Bulletin.scope.endswith(f"@{area.code}", autoescape=True))
    return list(db.scalars(stmt))


def _context(db: Session, principal: Principal) -> dict[str, Any]:
    actor = principal.actor
    now = clock.now()
    tz = get_settings().tz
    period = Period.parse(now.astimezone(tz).strftime("%Y-%m"), tz)
    area = dashboard.scope_area(db=db, scope_path=actor.scope_path)
    level = area.level if area is not None else None
    dimension = dashboard.CHILD_DIMENSION[level]
    ranking = service.rank(db=db, period=period, dimension=dimension, scope_path=actor.scope_path)
    scored = [d for d in ranking.indicators if d.scored]
    rows = campaigns.list_campaigns(db=db)[:CAMPAIGNS_SHOWN]
    progress = [
        campaigns.progress(db=db, campaign=row, now=now, scope_path=actor.scope_path)
        for row in rows
        if row.status == CampaignStatus.active or row.updated_at >= now - dt.timedelta(days=90)
    ]
    try:
        bulletins.bulletin_scope(db=db, actor=actor)
        may_bulletin = True
    except DomainError:  # NOTE: bulletins are made for the district or a street, not below
        may_bulletin = False
    return {
        "period": period,
        "scope_name": area.name if area is not None else "",
        "bulletin_level": dimension,
        "bulletin_formats": [f for f in BulletinFormat if f != BulletinFormat.pdf or bulletins.pdf_available()],
        "may_bulletin": may_bulletin,
        "campaign_errors": {},
        "level_label": LEVEL_LABELS.get(dimension, str(dimension)),
        "ranking": ranking,
        "columns": scored,
        "format_value": indicator_defs.format_value,
        "headlines": headlines(db=db, period=period, scope_path=actor.scope_path, level=level),
        "campaigns": progress,
        "bulletins": visible_bulletins(db=db, actor=actor),
    }


@router.get("/evaluation")
def get_evaluation(request: Request, db: DbSession, principal: PageUser) -> Response:
    """This month's ranking, headline figures, campaigns and bulletins of the user's area (评价)."""
    require_page(principal, "evaluation.view")
    return render(request, "evaluation/overview.html", _context(db, principal), principal=principal)


@router.post("/evaluation/campaigns/{code}/bulletin")
async def post_campaign_bulletin(
    code: str, request: Request, principal: PageUser, open_tx: OwnTransactions
) -> Response:
    """Generates a campaign's bulletin (专项督查通报) of the user's district or street from the campaign's row, stores
    it like the API does, and sends the browser to its file; a refusal comes back inline in the campaign's row."""
    require_page(principal, "evaluation.view")
    chosen = (await request.form()).get("format")
    fmt = chosen if isinstance(chosen, str) and chosen else BulletinFormat.xlsx
    # NOTE: building takes seconds (a PDF up to a minute): off the event loop, like the API's plain def routes.
    return await run_in_threadpool(_campaign_bulletin, request, principal, open_tx, code, fmt)


def _campaign_bulletin(request: Request, principal: Principal, open_tx: Transactions, code: str, fmt: str) -> Response:
    try:
        # NOTE: the API's transactions: built in a read transaction, stored in a short write one (SQLite's lock).
        with open_tx(False) as db:
            area = dashboard.scope_area(db=db, scope_path=principal.actor.scope_path)
            written = bulletins.write_campaign(
                db=db,
                code=code,
                actor=principal.actor,
                formats=[fmt],
                level=dashboard.CHILD_DIMENSION[area.level if area is not None else None],
                now=clock.now(),
            )
        with open_tx(True) as db:
            rows = bulletins.save(
                db=db, written=written, actor=principal.actor, source_address=principal.source_address
            )
            target = f"/api/v1/evaluation/bulletins/{rows[0].id}"
    except (DomainError, NotFoundError) as error:
        with open_tx(False) as db:
            context = _context(db, principal)
        context["campaign_errors"] = {code: error_messages(error)}
        status = error.status if isinstance(error, DomainError) else 404
        return render(request, "evaluation/overview.html", context, principal=principal, status_code=status)
    return RedirectResponse(target, status_code=303)
