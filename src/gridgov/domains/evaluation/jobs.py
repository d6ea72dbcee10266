"""Scheduled work of evaluation (registered in `core.jobs`): idempotent, safe with any number of processes."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Engine, select

from gridgov.core.clock import now as clock_now
from gridgov.core.db import transaction
from gridgov.domains.evaluation.enums import CampaignStatus
from gridgov.domains.evaluation.models import Campaign

log = logging.getLogger(__name__)


# --- campaign tagging (every 10 minutes) -------------------------------------------------------------------------


def tag_campaigns(*, engine: Engine, now: dt.datetime | None = None) -> dict[str, int]:
    """Tags the new cases in the scope of every active campaign, one transaction each; returns code → tagged.

    Idempotent: a case already in a campaign is skipped (and two processes inserting it at once both succeed,
    ON CONFLICT DO NOTHING); a closed campaign is not touched. One failing campaign is logged, not the others.
    """
    # NOTE: imported here so `core.jobs` loads without the campaign module's imports (the counts engine ...).
    from gridgov.domains.evaluation import campaigns

    now = now or clock_now()
    with transaction(engine, write=False) as db:
        codes = list(db.scalars(select(Campaign.code).where(Campaign.status == CampaignStatus.active)))
    tagged: dict[str, int] = {}
    for code in codes:
        try:
            with transaction(engine) as db:
                campaign = db.scalars(select(Campaign).where(Campaign.code == code)).one_or_none()
                if campaign is None or campaign.status != CampaignStatus.active:
                    continue  # NOTE: closed or deleted since the list was read
                tagged[code] = campaigns.tag_by_scope(db=db, campaign=campaign, now=now)
        except Exception:
            log.exception("tagging the cases of campaign %s failed", code)
    if any(tagged.values()):
        log.info("campaigns: tagged %s", ", ".join(f"{c} +{n}" for c, n in tagged.items() if n))
    return tagged


# --- monthly bulletins (hourly check) ----------------------------------------------------------------------------

BULLETIN_LEVEL = "street"  # the scheduled bulletin ranks the district's streets


def monthly_bulletins(*, engine: Engine, now: dt.datetime | None = None) -> list[str]:
    """Generates last month's district bulletin (streets ranked) in XLSX and HTML, and PDF when Chromium is here,
    once: from the 1st of a month (district time) on, each format missing from `evaluation_bulletin` is written.

    Idempotent across processes: a format already stored is skipped before any work, and two processes writing
    the same month at once both insert, the second meets the unique key and leaves the first one's row. The
    bulletin is built in a read transaction and stored in a short write transaction (SQLite's one writer is not
    held while the figures are computed or Chromium prints). Returns the formats written ("2026-11 xlsx", ...).
    """
    # NOTE: imported here so `core.jobs` loads without the counts engine (DuckDB) and the bulletin writers.
    from gridgov.config import get_settings
    from gridgov.domains.cases.models import Case
    from gridgov.domains.evaluation import bulletins
    from gridgov.domains.evaluation.enums import BulletinFormat, Dimension
    from gridgov.domains.evaluation.models import Bulletin
    from gridgov.domains.evaluation.periods import Period

    now = now or clock_now()
    tz = get_settings().tz
    local = now.astimezone(tz)
    last_month = (local.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    period = Period.parse(last_month, tz)
    formats = [BulletinFormat.xlsx, BulletinFormat.html]
    if bulletins.pdf_available():
        formats.append(BulletinFormat.pdf)
    with transaction(engine, write=False) as db:
        stored = set(
            db.scalars(select(Bulletin.format).where(Bulletin.period == period.label, Bulletin.scope == BULLETIN_LEVEL))
        )
        missing = [f for f in formats if f not in stored]
        if not missing:
            return []
        if db.scalar(select(Case.id).where(Case.reported_at < period.end).limit(1)) is None:
            log.debug("monthly bulletin %s skipped: no case reported before its end", period.label)
            return []
        data = bulletins.build(db=db, period=period, level=Dimension(BULLETIN_LEVEL), now=now)
    files = bulletins.render(data, missing)
    with transaction(engine) as db:
        rows = bulletins.insert_missing(db=db, period_label=period.label, scope=BULLETIN_LEVEL, files=files)
        written = [f"{period.label} {row.format}" for row in rows]
        if written:
            from gridgov.domains.auth import service as auth_service
            from gridgov.domains.auth.schemas import SYSTEM_ACTOR

            auth_service.write_audit(
                db=db,
                actor=SYSTEM_ACTOR,
                action="bulletin.generate",
                target_type="evaluation_bulletin",
                target_id=",".join(str(row.id) for row in rows),
                detail={"period": period.label, "scope": BULLETIN_LEVEL, "formats": written, "scheduled": True},
            )
    if written:
        log.info("monthly bulletin %s written: %s", period.label, ", ".join(written))
    return written
