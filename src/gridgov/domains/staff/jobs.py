"""Scheduled work of the staff register: approved personnel filings take effect on their date.

Each filing is applied in its own transaction (one that fails is logged and retried next time); applying is
idempotent, since only filings still approved are taken.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from gridgov.core.db import transaction
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.staff import filings
from gridgov.domains.staff.enums import FilingStatus
from gridgov.domains.staff.models import Filing

log = logging.getLogger(__name__)

JOB_ACTOR = Actor(name="报备生效任务 filing job", role=Role.system)


def apply_due_filings(*, engine: Engine) -> dict[str, int]:
    """Applies every approved filing whose effective date has come, one transaction each; returns the counts."""
    with transaction(engine, write=False) as db:
        due = filings.due_filing_ids(db=db)
    counts = {"applied": 0, "failed": 0}
    for filing_id in due:
        try:
            with transaction(engine) as db:
                filing = db.get(Filing, filing_id, with_for_update=True)
                if filing is None or filing.status != FilingStatus.approved:
                    continue
                filings.apply(db=db, actor=JOB_ACTOR, filing=filing)
                counts["applied" if filing.status == FilingStatus.applied else "failed"] += 1
        except Exception:
            log.exception("filing %s could not be applied", filing_id)
    return counts
