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
from starlette.responses import Response

from gridgov.config import get_settings
from gridgov.core import clock
from gridgov.core.db import DbSession
from gridgov.core.errors import DomainError
from gridgov.core.pages import PageUser, require_page
from gridgov.core.templating import N_, render
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.auth.schemas import Actor, Principal
from gridgov.domains.evaluation import bulletins, campaigns, dashboard, service
from gridgov.domains.evaluation import engine as counts_engine
from gridgov.domains.evaluation import indicators as indicator_defs
from gridgov.domains.evaluation.enums import CampaignStatus, Dimension
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
    return {
        "period": period,
        "scope_name": area.name if area is not None else "",
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
