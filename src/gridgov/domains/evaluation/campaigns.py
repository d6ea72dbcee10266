"""Special supervision campaigns (专项督查): a named scope (matter types, areas, period), targets, its cases.

A campaign tags the cases in its scope — every case of its matter types (all types when none is named), placed
in its areas' subtrees (the whole district when none is named), reported within [starts_at, ends_at) — when it
is created or its scope changes, and again every 10 minutes while it is active (`jobs.tag_campaigns`). Tagging
is idempotent: a case is in a campaign once (the primary key), inserts skip what is there. A campaign manager
may also tag a case outside the scope by hand (it must be a case they may see) and untag such a case; a case
within the scope cannot be untagged (the next run would tag it again: narrow the scope instead).

`progress` counts over the campaign's cases only (`engine.compute(..., case_ids=...)`) from its start until now
(or until it was closed): the base counts, the values of the indicators it has targets for (met or not), per
street, the cases open and overdue now, and a daily series of received and closed cases. Closing a campaign
freezes it: no more tagging, by scope or by hand.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, false, func, literal, null, or_, select
from sqlalchemy import case as when
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core.clock import now as clock_now
from gridgov.core.errors import Conflict, InputError, Invalid, Issue, NotFoundError
from gridgov.core.models import UTCDateTime
from gridgov.core.permissions import AuditWriter, check_case, require
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.schemas import Actor, AuditRecord
from gridgov.domains.cases.models import Case
from gridgov.domains.catalog.models import MatterType
from gridgov.domains.evaluation import dashboard
from gridgov.domains.evaluation import engine as counts_engine
from gridgov.domains.evaluation import indicators as indicators_service
from gridgov.domains.evaluation.dashboard import DayCount
from gridgov.domains.evaluation.enums import CampaignStatus, Dimension, Direction
from gridgov.domains.evaluation.indicators import IndicatorDef
from gridgov.domains.evaluation.models import Campaign, CampaignCase
from gridgov.domains.evaluation.periods import MAX_YEAR, MIN_YEAR, Period
from gridgov.domains.evaluation.schemas import CampaignCreate, CampaignUpdate

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_DAYS = 3 * 366  # a campaign's daily series is kept to a readable length
FIELDS = ("name", "description", "matter_type_codes", "area_codes", "starts_at", "ends_at", "targets")


# --- queries ----------------------------------------------------------------------------------------------------


def get_by_code(*, db: Session, code: str) -> Campaign:
    """Returns the campaign with `code`, or raises NotFoundError."""
    found = db.scalars(select(Campaign).where(Campaign.code == code)).one_or_none()
    if found is None:
        raise NotFoundError(f"campaign {code!r} not found")
    return found


def list_campaigns(*, db: Session, status: CampaignStatus | None = None) -> list[Campaign]:
    """Returns the campaigns (active first, newest start first), of one status when given."""
    stmt = select(Campaign)
    if status is not None:
        stmt = stmt.where(Campaign.status == status)
    return list(db.scalars(stmt.order_by(Campaign.status, Campaign.starts_at.desc(), Campaign.id.desc())))


def case_counts(*, db: Session, campaign_ids: Sequence[int], scope_path: str | None = None) -> dict[int, int]:
    """Returns how many cases each campaign holds (those in an area subtree, when given), by campaign id."""
    if not campaign_ids:
        return {}
    stmt = (
        select(CampaignCase.campaign_id, func.count())
        .where(CampaignCase.campaign_id.in_(list(campaign_ids)))
        .group_by(CampaignCase.campaign_id)
    )
    if scope_path:
        stmt = stmt.join(Case, Case.id == CampaignCase.case_id).where(dashboard.in_scope(scope_path))
    return {campaign_id: int(n) for campaign_id, n in db.execute(stmt)}


def case_ids(*, db: Session, campaign: Campaign, scope_path: str | None = None) -> list[int]:
    """Returns the ids of the campaign's cases (those in an area subtree, when given), in id order."""
    stmt = select(CampaignCase.case_id).where(CampaignCase.campaign_id == campaign.id)
    if scope_path:
        stmt = stmt.join(Case, Case.id == CampaignCase.case_id).where(dashboard.in_scope(scope_path))
    return list(db.scalars(stmt.order_by(CampaignCase.case_id)))


# --- validation -------------------------------------------------------------------------------------------------


def _aware(value: dt.datetime) -> dt.datetime:
    """Returns `value` as an aware UTC time; a naive time is the district's local time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=get_settings().tz)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01 local has no UTC instant: left as it is, `_validate` refuses its year
        return value


def _validate(*, db: Session, values: dict[str, Any], actor: Actor) -> None:
    """Refuses (InputError, 422) a campaign with unknown codes, an empty period or targets it cannot measure."""
    where = f"campaign {values.get('code') or ''}".strip()
    issues: list[Issue] = []
    code = values.get("code") or ""
    if not CODE_RE.fullmatch(code):
        issues.append(
            Issue(where, "a code is 1–64 letters, digits, '-', '_' or '.', starting with a letter or digit", "code")
        )
    if not str(values.get("name") or "").strip():
        issues.append(Issue(where, "a campaign needs a name", "name"))

    matters = list(dict.fromkeys(values.get("matter_type_codes") or []))
    if matters:
        known = set(db.scalars(select(MatterType.code).where(MatterType.code.in_(matters))))
        for unknown in (m for m in matters if m not in known):
            issues.append(Issue(where, f"unknown matter type {unknown!r}", "matter_type_codes"))

    areas = list(dict.fromkeys(values.get("area_codes") or []))
    found = {a.code: a for a in db.scalars(select(Area).where(Area.code.in_(areas)))} if areas else {}
    for code_ in areas:
        area = found.get(code_)
        if area is None:
            issues.append(Issue(where, f"unknown area code {code_!r}", "area_codes"))
        elif actor.scope_path and not area.path.startswith(actor.scope_path):
            issues.append(Issue(where, f"area {code_} ({area.name}) lies outside your area", "area_codes"))
    if not areas and actor.scope_path and not _is_district(db, actor.scope_path):
        issues.append(Issue(where, "name the areas of the campaign: yours is not the whole district", "area_codes"))

    starts_at, ends_at = values.get("starts_at"), values.get("ends_at")
    dated = True
    for name, moment in (("starts_at", starts_at), ("ends_at", ends_at)):
        if moment is None:
            issues.append(Issue(where, "a campaign needs its period: this cannot be null", name))
            dated = False
        elif not MIN_YEAR <= moment.year <= MAX_YEAR:
            issues.append(Issue(where, f"must lie within the years {MIN_YEAR}–{MAX_YEAR}", name))
            dated = False
    if dated and ends_at <= starts_at:
        issues.append(
            Issue(
                where, f"ends_at ({ends_at.isoformat()}) must be after starts_at ({starts_at.isoformat()})", "ends_at"
            )
        )

    targets: dict[str, Any] = values.get("targets") or {}
    indicators = _definitions(db)
    for key, target in targets.items():
        indicator = indicators.get(key)
        if indicator is None:
            issues.append(Issue(where, f"unknown indicator code {key!r} in targets", "targets"))
            continue
        if not indicator.is_active:
            issues.append(Issue(where, f"indicator {key!r} is not active", "targets"))
        if not isinstance(target, int | float) or isinstance(target, bool) or not math.isfinite(target):
            issues.append(Issue(where, f"the target of {key} must be a number", "targets"))
        elif target < 0:
            issues.append(Issue(where, f"the target of {key} must not be negative", "targets"))
        elif indicator.unit == "%" and target > 1:
            issues.append(
                Issue(where, f"{key} is a rate: give its target as a fraction (95% → 0.95), not {target:g}", "targets")
            )
    if issues:
        raise InputError(issues, summary=f"{where} refused")


def _is_district(db: Session, scope_path: str) -> bool:
    level = db.scalar(select(Area.level).where(Area.path == scope_path))
    return level == AreaLevel.district


def _audit(db: Session, actor: Actor, action: str, campaign: Campaign, detail: dict[str, Any]) -> None:
    record = AuditRecord.of(actor, action, target_type="evaluation_campaign", target_id=campaign.code, detail=detail)
    auth_service.add_audit(db=db, record=record)


# --- commands ---------------------------------------------------------------------------------------------------


def create(*, db: Session, data: CampaignCreate, actor: Actor, now: dt.datetime | None = None) -> Campaign:
    """Creates a campaign and tags the cases in its scope; 409 for a taken code."""
    require(actor, "campaign.manage", db=db, target_type="evaluation_campaign", target_id=data.code)
    now = now or clock_now()
    values = data.model_dump()
    values["starts_at"], values["ends_at"] = _aware(values["starts_at"]), _aware(values["ends_at"])
    values["matter_type_codes"] = list(dict.fromkeys(values.get("matter_type_codes") or []))
    values["area_codes"] = list(dict.fromkeys(values.get("area_codes") or []))
    _validate(db=db, values=values, actor=actor)
    if db.scalar(select(Campaign.id).where(Campaign.code == values["code"])) is not None:
        raise Conflict(f"a campaign with the code {values['code']!r} exists already", code="duplicate_code")
    campaign = Campaign(
        code=values["code"],
        name=values["name"].strip(),
        description=values.get("description"),
        matter_type_codes=values["matter_type_codes"],
        area_codes=values["area_codes"],
        starts_at=values["starts_at"],
        ends_at=values["ends_at"],
        targets={k: float(v) for k, v in (values.get("targets") or {}).items()},
        status=CampaignStatus.active,
        created_by_user_id=actor.user_id,
    )
    db.add(campaign)
    db.flush()
    tagged = tag_by_scope(db=db, campaign=campaign, now=now)
    _audit(db, actor, "campaign.create", campaign, {"name": campaign.name, "tagged": tagged})
    return campaign


def update(
    *, db: Session, campaign: Campaign, data: CampaignUpdate, actor: Actor, now: dt.datetime | None = None
) -> Campaign:
    """Changes a campaign (only the fields given in `data`); a changed scope re-tags its cases.

    Cases the old scope tagged that the new one leaves out are untagged; cases tagged by hand stay.
    """
    require(actor, "campaign.manage", db=db, target_type="evaluation_campaign", target_id=campaign.code)
    _require_active(campaign)
    now = now or clock_now()
    given = data.model_dump(exclude_unset=True)
    for key in ("starts_at", "ends_at"):
        if given.get(key) is not None:
            given[key] = _aware(given[key])
    for key in ("matter_type_codes", "area_codes"):
        if key in given:
            given[key] = list(dict.fromkeys(given[key] or []))
    if given.get("name") is None:
        given.pop("name", None)
    values = {"code": campaign.code, **{k: getattr(campaign, k) for k in FIELDS}, **given}
    _validate(db=db, values=values, actor=actor)
    scope_changed = any(
        key in given and given[key] != getattr(campaign, key)
        for key in ("matter_type_codes", "area_codes", "starts_at", "ends_at")
    )
    for key, value in given.items():
        if key in FIELDS:
            setattr(campaign, key, value.strip() if key == "name" else value)
    if "targets" in given:
        campaign.targets = {k: float(v) for k, v in (given["targets"] or {}).items()}
    db.flush()
    dropped = tagged = 0
    if scope_changed:
        outside = select(Case.id).where(~scope_condition(db=db, campaign=campaign))
        dropped = (
            db.execute(
                delete(CampaignCase).where(
                    CampaignCase.campaign_id == campaign.id,
                    CampaignCase.tagged_by_user_id.is_(None),
                    CampaignCase.case_id.in_(outside),
                )
            ).rowcount
            or 0
        )
        tagged = tag_by_scope(db=db, campaign=campaign, now=now)
    _audit(db, actor, "campaign.update", campaign, {"changed": sorted(given), "tagged": tagged, "untagged": dropped})
    return campaign


def close(*, db: Session, campaign: Campaign, actor: Actor, now: dt.datetime | None = None) -> Campaign:
    """Closes a campaign: its cases stay, tagging stops, its progress is frozen at this moment; 409 if closed."""
    require(actor, "campaign.manage", db=db, target_type="evaluation_campaign", target_id=campaign.code)
    _require_active(campaign)
    now = now or clock_now()
    tag_by_scope(db=db, campaign=campaign, now=now)  # NOTE: a last run, so the frozen set is complete
    campaign.status = CampaignStatus.closed
    campaign.updated_at = now
    db.flush()
    _audit(
        db,
        actor,
        "campaign.close",
        campaign,
        {"cases": case_counts(db=db, campaign_ids=[campaign.id]).get(campaign.id, 0)},
    )
    return campaign


def _require_active(campaign: Campaign) -> None:
    if campaign.status != CampaignStatus.active:
        raise Conflict(f"campaign {campaign.code} is closed: it can no longer change", code="campaign_closed")


def scope_condition(*, db: Session, campaign: Campaign) -> ColumnElement[bool]:
    """Returns the condition selecting the cases in the campaign's scope (types, area subtrees, period)."""
    conditions: list[ColumnElement[bool]] = [
        Case.reported_at >= campaign.starts_at,
        Case.reported_at < campaign.ends_at,
    ]
    if campaign.matter_type_codes:
        conditions.append(
            Case.matter_type_id.in_(select(MatterType.id).where(MatterType.code.in_(campaign.matter_type_codes)))
        )
    if campaign.area_codes:
        paths = list(db.scalars(select(Area.path).where(Area.code.in_(campaign.area_codes))))
        conditions.append(or_(*[Case.area_path.startswith(p, autoescape=True) for p in paths]) if paths else false())
    return and_(*conditions)


def _insert(db: Session) -> Any:
    """Returns the dialect's INSERT of campaign cases (ON CONFLICT DO NOTHING: two taggers at once both succeed)."""
    name = db.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(CampaignCase)
    if name == "sqlite":
        return sqlite.insert(CampaignCase)
    raise NotImplementedError(f"campaign tagging supports SQLite and PostgreSQL, not {name}")


def tag_by_scope(*, db: Session, campaign: Campaign, now: dt.datetime | None = None) -> int:
    """Tags every case in the campaign's scope not tagged yet; returns how many it tagged (0 once closed)."""
    if campaign.status != CampaignStatus.active:
        return 0
    now = now or clock_now()
    already = exists().where(CampaignCase.campaign_id == campaign.id, CampaignCase.case_id == Case.id)
    rows = select(literal(campaign.id), Case.id, literal(now, UTCDateTime()), null()).where(
        scope_condition(db=db, campaign=campaign), ~already
    )
    stmt = (
        _insert(db)
        .from_select(["campaign_id", "case_id", "tagged_at", "tagged_by_user_id"], rows)
        .on_conflict_do_nothing()
        .returning(CampaignCase.case_id)
    )
    # NOTE: counted from RETURNING: the driver's rowcount of an INSERT ... SELECT is -1 on PostgreSQL.
    return len(db.scalars(stmt).all())


def in_scope(*, db: Session, campaign: Campaign, case_id: int) -> bool:
    """Tells whether a case lies within the campaign's scope."""
    stmt = select(Case.id).where(Case.id == case_id, scope_condition(db=db, campaign=campaign))
    return db.scalar(stmt) is not None


def tag(
    *,
    db: Session,
    campaign: Campaign,
    case_id: int,
    actor: Actor,
    now: dt.datetime | None = None,
    source_address: str | None = None,
    audit: AuditWriter | None = None,
) -> bool:
    """Tags a case by hand (campaign.manage; a case the actor may see, else 404); False when it was tagged."""
    require(actor, "campaign.manage", db=db, target_type="evaluation_campaign", target_id=campaign.code, audit=audit)
    check_case(db, actor, "case.view", case_id, source_address=source_address, audit=audit)
    _require_active(campaign)
    now = now or clock_now()
    if db.get(CampaignCase, (campaign.id, case_id)) is not None:
        return False
    db.add(CampaignCase(campaign_id=campaign.id, case_id=case_id, tagged_at=now, tagged_by_user_id=actor.user_id))
    db.flush()
    _audit(db, actor, "campaign.tag", campaign, {"case_id": case_id})
    return True


def untag(
    *,
    db: Session,
    campaign: Campaign,
    case_id: int,
    actor: Actor,
    source_address: str | None = None,
    audit: AuditWriter | None = None,
) -> None:
    """Removes a case tagged outside the scope (campaign.manage; 404 when not tagged; 422 within the scope)."""
    require(actor, "campaign.manage", db=db, target_type="evaluation_campaign", target_id=campaign.code, audit=audit)
    check_case(db, actor, "case.view", case_id, source_address=source_address, audit=audit)
    _require_active(campaign)
    row = db.get(CampaignCase, (campaign.id, case_id))
    if row is None:
        raise NotFoundError(f"case {case_id} is not in campaign {campaign.code}")
    if in_scope(db=db, campaign=campaign, case_id=case_id):
        raise Invalid(
            f"case {case_id} lies within the scope of campaign {campaign.code} (its matter types, areas and period), "
            "so the next tagging run would add it again: narrow the scope instead",
            code="in_scope",
        )
    db.delete(row)
    db.flush()
    _audit(db, actor, "campaign.untag", campaign, {"case_id": case_id})


# --- progress ---------------------------------------------------------------------------------------------------


@dataclass
class TargetStatus:
    """One target of a campaign and where the campaign stands against it."""

    code: str
    name: str
    name_en: str
    unit: str
    direction: str
    target: float
    value: float | None  # None: not rated yet (e.g. nothing due)
    met: bool | None  # None: no value yet


@dataclass
class ProgressRow:
    """The campaign's figures in one street."""

    key: str
    label: str
    cases: int
    open: int
    overdue: int
    counts: dict[str, int]
    values: dict[str, float | None]
    met: dict[str, bool | None]


@dataclass
class CampaignProgress:
    """Where a campaign stands: its counts, targets met or not, per street, open and overdue, and by day."""

    code: str
    name: str
    status: str
    period: str  # local dates "YYYY-MM-DD..YYYY-MM-DD" counted over
    start: dt.datetime
    end: dt.datetime  # now while active, or when it was closed
    cases: int
    open: int
    overdue: int
    counts: dict[str, int]
    targets: list[TargetStatus]
    streets: list[ProgressRow]
    daily: list[DayCount] = field(default_factory=list)

    @property
    def met(self) -> int:
        """How many targets are met."""
        return sum(1 for t in self.targets if t.met)


def _definitions(db: Session) -> dict[str, IndicatorDef]:
    """Returns the indicators by code (the shipped set while the table is empty)."""
    return {d.code: d for d in indicators_service.list_definitions(db=db)}


def _met(direction: Direction | str, value: float | None, target: float) -> bool | None:
    if value is None:
        return None
    return value >= target - 1e-12 if Direction(direction) == Direction.higher else value <= target + 1e-12


def counted_until(*, campaign: Campaign, now: dt.datetime) -> dt.datetime:
    """Returns when a campaign's counting ends: now while it is active, the moment it was closed otherwise."""
    # NOTE: counted up to now (the handling of its cases goes on after its last reporting day) or to its closing.
    end = now if campaign.status == CampaignStatus.active else campaign.updated_at
    return max(end, campaign.starts_at + dt.timedelta(seconds=1))


def counted_dates(*, campaign: Campaign, now: dt.datetime | None = None) -> str:
    """Returns the local dates a campaign is counted over, "2026-11-01..2026-11-28": from its first day to today
    (or to the day it was closed). Its progress covers them, and its bulletin by default."""
    tz = get_settings().tz
    end = counted_until(campaign=campaign, now=now or clock_now())
    return f"{campaign.starts_at.astimezone(tz).date()}..{(end - dt.timedelta(microseconds=1)).astimezone(tz).date()}"


def progress(
    *,
    db: Session,
    campaign: Campaign,
    now: dt.datetime | None = None,
    scope_path: str | None = None,
    engine: str | None = None,
) -> CampaignProgress:
    """Returns the campaign's progress: counts over its cases (in `scope_path` when given), targets, streets, days."""
    now = now or clock_now()
    tz = get_settings().tz
    end = counted_until(campaign=campaign, now=now)
    label = counted_dates(campaign=campaign, now=now)
    period = Period(start=campaign.starts_at, end=end, label=label)
    ids = case_ids(db=db, campaign=campaign, scope_path=scope_path)

    targets = dict(campaign.targets or {})
    known = _definitions(db)
    indicators = {code: known[code] for code in targets if code in known}
    streets: list[ProgressRow] = []
    total_counts: dict[str, int] = {}
    if ids:
        whole = counts_engine.compute(
            db=db, period=period, dimension=Dimension.district, engine=engine, scope_path=scope_path, case_ids=ids
        )
        for row in whole.rows.values():
            for name, value in row.items():
                total_counts[name] = total_counts.get(name, 0) + int(value)
        by_street = counts_engine.compute(
            db=db, period=period, dimension=Dimension.street, engine=engine, scope_path=scope_path, case_ids=ids
        )
        live = _live_by_street(db=db, campaign=campaign, scope_path=scope_path, now=now)
        for key in sorted(set(by_street.rows) | set(live)):
            counts = {k: int(v) for k, v in by_street.rows.get(key, {}).items()}
            values = {code: ind.evaluate(counts) for code, ind in indicators.items()}
            cases_n, open_n, overdue_n = live.get(key, (0, 0, 0))
            streets.append(
                ProgressRow(
                    key=key,
                    label=by_street.labels.get(key) or _area_name(db, key),
                    cases=cases_n,
                    open=open_n,
                    overdue=overdue_n,
                    counts=counts,
                    values=values,
                    met={code: _met(indicators[code].direction, v, targets[code]) for code, v in values.items()},
                )
            )

    statuses = []
    for code, target in targets.items():
        indicator = indicators.get(code)
        if indicator is None:  # NOTE: an indicator deleted after the campaign was set up
            continue
        value = indicator.evaluate(total_counts)
        statuses.append(
            TargetStatus(
                code=code,
                name=indicator.name,
                name_en=indicator.name_en,
                unit=indicator.unit,
                direction=str(indicator.direction),
                target=float(target),
                value=value,
                met=_met(indicator.direction, value, float(target)),
            )
        )

    mine = CampaignCase.campaign_id == campaign.id
    live_where = and_(Case.id.in_(select(CampaignCase.case_id).where(mine)), dashboard.in_scope(scope_path))
    open_n = db.scalar(select(func.count()).select_from(Case).where(live_where, dashboard.is_open())) or 0
    overdue_n = (
        db.scalar(select(func.count()).select_from(Case).where(live_where, dashboard.overdue_condition(now))) or 0
    )
    first = campaign.starts_at.astimezone(tz).date()
    last = (end - dt.timedelta(microseconds=1)).astimezone(tz).date()
    days = min((last - first).days + 1, MAX_DAYS)
    daily = dashboard.daily_counts(db=db, first=first, days=days, tz=tz, condition=live_where) if ids else []
    return CampaignProgress(
        code=campaign.code,
        name=campaign.name,
        status=str(campaign.status),
        period=label,
        start=campaign.starts_at,
        end=end,
        cases=len(ids),
        open=int(open_n),
        overdue=int(overdue_n),
        counts=total_counts,
        targets=statuses,
        streets=streets,
        daily=daily,
    )


def _live_by_street(
    *, db: Session, campaign: Campaign, scope_path: str | None, now: dt.datetime
) -> dict[str, tuple[int, int, int]]:
    """Returns (cases, open now, overdue now) of the campaign's cases per street code."""
    overdue = dashboard.overdue_condition(now)
    stmt = (
        select(
            Area.code,
            func.count(),
            func.count(when((dashboard.is_open(), 1), else_=None)),
            func.count(when((overdue, 1), else_=None)),
        )
        .select_from(CampaignCase)
        .join(Case, Case.id == CampaignCase.case_id)
        .join(Area, Area.id == Case.street_id)
        .where(CampaignCase.campaign_id == campaign.id, dashboard.in_scope(scope_path))
        .group_by(Area.code)
    )
    return {code: (int(n), int(o), int(late)) for code, n, o, late in db.execute(stmt)}


def _area_name(db: Session, code: str) -> str:
    return db.scalar(select(Area.name).where(Area.code == code)) or code
