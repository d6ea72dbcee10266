"""The operation centre's dashboard (城运中心大屏): today's figures, the trend, the funnel, rankings, overdue cases.

`overview` answers for one actor's area (the evaluation.view scope: the subtree of their scope area, the whole
district for district users). Its figures are OPERATIONAL, read straight from the case table and today's events:
"closed today" is every case closed today, not the evaluation's 结案数 (which counts only the cases due in a
period); the ranking is the evaluation's own (`service.rank`, this month so far).

The result is cached in the process for `settings.dashboard_cache_s` seconds, keyed by the scope path (and what
the role may read besides cases: device alarms, hotspots), so a wall screen and twenty browsers of one street
refreshing every few seconds cost one computation per TTL. The ranking, the one costly part (a run of the counts
engine over the month), is kept at least RANKING_CACHE_S (5 minutes) per scope. NOTE: the cache lives in each
process: with several `gridgov serve` workers each keeps its own, so two screens may disagree for up to one TTL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, distinct, func, or_, select, true
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core.errors import Forbidden
from gridgov.core.permissions import can
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.enums import OPEN_STAGES, Action, CaseStage, Channel
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.catalog.enums import Stage
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.evaluation import service
from gridgov.domains.evaluation.enums import Dimension
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.iot.enums import AlarmState
from gridgov.domains.iot.models import Alarm, Device
from gridgov.domains.triage import service as triage_service
from gridgov.domains.triage.enums import HotspotStatus

TREND_DAYS = 30
TOP_MATTER_DAYS = 7
TOP_MATTER_LIMIT = 10
OVERDUE_LIMIT = 20
HOTSPOT_LIMIT = 5
WARNING_LEVEL = 50  # the first SLA warning (50 % of the limit used)
# NOTE: the month's ranking is the one costly part (a run of the counts engine) and moves slowly: it is kept
# longer than the rest of the dashboard.
RANKING_CACHE_S = 300.0

# The ranking a user's scope level looks at: the level below it (a street user ranks its communities).
CHILD_DIMENSION: dict[AreaLevel | None, Dimension] = {
    None: Dimension.street,
    AreaLevel.district: Dimension.street,
    AreaLevel.street: Dimension.community,
    AreaLevel.community: Dimension.grid,
    AreaLevel.grid: Dimension.grid,
    AreaLevel.building: Dimension.grid,
}
REGISTER_ACTIONS = (Action.register, Action.confirm, Action.self_handle)
FUNNEL_STAGES: tuple[tuple[str, Any], ...] = (
    ("reported", Case.reported_at),
    ("registered", Case.registered_at),
    ("dispatched", Case.dispatched_at),
    ("handled", Case.handled_at),
    ("closed", Case.closed_at),
)


# --- shared case conditions (also used by campaigns) ------------------------------------------------------------


def due_in_force() -> ColumnElement[Any]:
    """Returns the SQL expression of a case's deadline in force: the due column of its running clock."""
    return case(
        (Case.clock_stage == Stage.register, Case.register_due_at),
        (Case.clock_stage == Stage.dispatch, Case.dispatch_due_at),
        (Case.clock_stage == Stage.handle, Case.handle_due_at),
        (Case.clock_stage == Stage.verify, Case.verify_due_at),
        else_=None,
    )


def is_open() -> ColumnElement[bool]:
    """Returns the condition "the case is open" (by stage, not `is_open`: the stage index finds the few open cases
    among all, the same set)."""
    return Case.stage.in_(OPEN_STAGES)


def overdue_condition(now: dt.datetime) -> ColumnElement[bool]:
    """Returns the condition "open and past the deadline in force at `now`" (a suspended case's clock is paused).

    Derived from the deadline, not from the `is_overdue` mark, so it does not wait for the next SLA sweep.
    """
    return and_(is_open(), Case.is_suspended.is_(False), due_in_force() < now)


def warning_condition(now: dt.datetime) -> ColumnElement[bool]:
    """Returns the condition "open, warned by the SLA sweep (≥ 50 % of the limit used), not yet overdue"."""
    return and_(
        is_open(),
        Case.is_suspended.is_(False),
        Case.warning_level >= WARNING_LEVEL,
        or_(due_in_force() >= now, due_in_force().is_(None)),
    )


def in_scope(scope_path: str | None) -> ColumnElement[bool]:
    """Returns the condition limiting cases to an area subtree (everything for None)."""
    return Case.area_path.startswith(scope_path, autoescape=True) if scope_path else true()


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """Returns the UTC instant a local day starts."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def day_bounds(first: dt.date, days: int, tz: ZoneInfo) -> list[dt.datetime]:
    """Returns the `days + 1` UTC instants that bound `days` local days from `first` (DST-safe)."""
    return [local_midnight(first + dt.timedelta(days=n), tz) for n in range(days + 1)]


def bucket(column: Any, bounds: Sequence[dt.datetime]) -> ColumnElement[Any]:
    """Returns the SQL expression of the index of the day `column` falls in (None outside `bounds`)."""
    whens = [(column < bounds[n + 1], n) for n in range(len(bounds) - 1)]
    return case(*whens, else_=None)


@dataclass
class DayCount:
    """Cases received and closed on one local day."""

    day: dt.date
    received: int = 0
    closed: int = 0


def daily_counts(
    *,
    db: Session,
    first: dt.date,
    days: int,
    tz: ZoneInfo,
    condition: ColumnElement[bool] | None = None,
    reached: dict[str, int] | None = None,
) -> list[DayCount]:
    """Returns cases received (reported_at) and closed (closed_at) per local day from `first`, of `condition`.

    `reached`, when given, is filled with how many of the received cases reached each stage of FUNNEL_STAGES
    (counted in the same scan).
    """
    bounds = day_bounds(first, days, tz)
    series = [DayCount(day=first + dt.timedelta(days=n)) for n in range(days)]
    where = condition if condition is not None else true()
    index = bucket(Case.reported_at, bounds).label("day")
    received = (
        select(index, *[func.count(column) for _, column in FUNNEL_STAGES])
        .where(where, Case.reported_at >= bounds[0], Case.reported_at < bounds[-1])
        .group_by(index)
    )
    totals = [0] * len(FUNNEL_STAGES)
    for n, *counts in db.execute(received):
        if n is not None:
            series[int(n)].received = int(counts[0])
            totals = [t + int(c) for t, c in zip(totals, counts, strict=True)]
    if reached is not None:
        reached.update({name: total for (name, _), total in zip(FUNNEL_STAGES, totals, strict=True)})
    index = bucket(Case.closed_at, bounds).label("day")
    closed = (
        select(index, func.count())
        .where(where, Case.closed_at >= bounds[0], Case.closed_at < bounds[-1])
        .group_by(index)
    )
    for n, count in db.execute(closed):
        if n is not None:
            series[int(n)].closed = int(count)
    return series


# --- the dashboard ----------------------------------------------------------------------------------------------


@dataclass
class ChannelToday:
    """Today's figures of one channel (or of all: channel None)."""

    channel: str | None
    received: int = 0  # reported today
    registered: int = 0  # registered (立案), confirmed or handled on the spot today
    dispatched: int = 0  # dispatched today
    closed: int = 0  # closed today
    open: int = 0  # open now
    overdue: int = 0  # open and past the deadline in force now
    warnings: int = 0  # open, past the first warning (50 % of the limit), not yet overdue


@dataclass
class StageCount:
    """A stage and how many cases are (or went) there."""

    stage: str
    count: int


@dataclass
class MatterCount:
    """A matter type and how many cases of it were received."""

    code: str
    name: str
    count: int


@dataclass
class RankingRow:
    """One row of the ranking shown on the dashboard (from `service.rank`)."""

    key: str
    label: str
    composite: float | None
    rank: int | None
    ranked: bool
    sample: int
    change: float | None


@dataclass
class OverdueCase:
    """An open case past its deadline in force."""

    id: int
    number: str
    title: str
    channel: str
    stage: str
    matter_type: str | None
    street: str | None
    unit: str | None
    due_at: dt.datetime
    hours_overdue: float


@dataclass
class HotspotSummary:
    """An open hotspot (高频事项), as the user may see it."""

    id: int
    title: str
    size: int
    heat: float
    street: str | None


@dataclass
class Dashboard:
    """Everything the operation centre's screen shows for one area, at one moment."""

    scope_path: str | None
    scope_code: str | None
    scope_name: str
    generated_at: dt.datetime
    day: dt.date  # today, in the district's time zone
    today: list[ChannelToday]  # one per channel that has any figure, busiest first
    today_total: ChannelToday
    open_by_stage: list[StageCount]
    trend: list[DayCount]  # the last 30 local days, today last
    funnel: list[StageCount]  # of the cases received in those 30 days: how many reached each stage
    top_matter_types: list[MatterCount]  # received in the last 7 days
    ranking_period: str
    ranking_dimension: str
    ranking: list[RankingRow]
    overdue: list[OverdueCase]  # the 20 most overdue
    overdue_total: int
    alarms_open: int | None  # None: the role may not read device alarms
    hotspots: list[HotspotSummary] | None  # None: the role may not read hotspots
    from_cache: bool = False
    seconds: float = 0.0  # how long the computation took


class _Cache:
    """An in-process TTL cache: key → (when computed, value) (per process: see the module's note)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[Any, ...], tuple[dt.datetime, Any]] = {}

    def get(self, key: tuple[Any, ...], now: dt.datetime, ttl: float) -> Any | None:
        with self._lock:
            found = self._entries.get(key)
        if found is None:
            return None
        at, value = found
        return value if 0 <= (now - at).total_seconds() < ttl else None

    def put(self, key: tuple[Any, ...], now: dt.datetime, value: Any) -> None:
        with self._lock:
            if len(self._entries) > 1000:  # NOTE: scopes are few; this only bounds a pathological caller
                self._entries.clear()
            self._entries[key] = (now, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = _Cache()


def clear_cache() -> None:
    """Forgets every cached dashboard and ranking of this process (tests; after a bulk import)."""
    _cache.clear()


def cache_key(actor: Actor) -> tuple[Any, ...]:
    """Returns what a cached dashboard is shared by: the scope path, and whether alarms and hotspots are readable."""
    return ("dashboard", actor.scope_path or "", can(actor, "device.view"), can(actor, "triage.view"))


def ranking_ttl(ttl: float) -> float:
    """Returns how long the dashboard's ranking is kept: at least RANKING_CACHE_S, unless caching is off."""
    return 0.0 if ttl <= 0 else max(ttl, RANKING_CACHE_S)


def overview(
    *,
    db: Session,
    actor: Actor,
    now: dt.datetime,
    cache_s: float | None = None,
    engine: str | None = None,
) -> Dashboard:
    """Returns the dashboard of the actor's area at `now`, from this process's cache when younger than the TTL."""
    if not can(actor, "evaluation.view"):
        raise Forbidden(f"role '{actor.role}' may not see the dashboard (evaluation.view)", code="permission_denied")
    ttl = get_settings().dashboard_cache_s if cache_s is None else cache_s
    key = cache_key(actor)
    if ttl > 0:
        cached = _cache.get(key, now, ttl)
        if cached is not None:
            return dataclasses.replace(cached, from_cache=True)
    value = compute(db=db, actor=actor, now=now, engine=engine, ranking_cache_s=ranking_ttl(ttl))
    if ttl > 0:
        _cache.put(key, now, value)
    return value


def scope_area(*, db: Session, scope_path: str | None) -> Area | None:
    """Returns the area whose path is `scope_path` (None for the whole deployment)."""
    if not scope_path:
        return None
    return db.scalars(select(Area).where(Area.path == scope_path)).first()


def compute(
    *, db: Session, actor: Actor, now: dt.datetime, engine: str | None = None, ranking_cache_s: float = 0.0
) -> Dashboard:
    """Computes the dashboard of the actor's area at `now` (its ranking from the cache when `ranking_cache_s` > 0)."""
    started = dt.datetime.now(dt.UTC)
    tz = get_settings().tz
    scope_path = actor.scope_path
    area = scope_area(db=db, scope_path=scope_path)
    if area is None:
        district = db.scalars(select(Area).where(Area.level == AreaLevel.district).order_by(Area.id)).first()
        scope_name = district.name if district is not None else ""
        scope_code = district.code if district is not None else None
    else:
        scope_name, scope_code = area.name, area.code
    where = in_scope(scope_path)
    today = now.astimezone(tz).date()

    open_rows = _open_now(db=db, where=where, now=now)
    rows, total = _today(db=db, where=where, day=today, tz=tz, open_rows=open_rows)
    reached: dict[str, int] = {}
    trend = daily_counts(
        db=db, first=today - dt.timedelta(days=TREND_DAYS - 1), days=TREND_DAYS, tz=tz, condition=where, reached=reached
    )
    overdue, overdue_total = overdue_cases(db=db, where=where, now=now)
    dimension = CHILD_DIMENSION[area.level if area is not None else None]
    ranking_key = ("ranking", scope_path or "", str(dimension), now.astimezone(tz).strftime("%Y-%m"))
    found = _cache.get(ranking_key, now, ranking_cache_s) if ranking_cache_s > 0 else None
    if found is None:
        found = _ranking(db=db, now=now, tz=tz, dimension=dimension, scope_path=scope_path, engine=engine)
        if ranking_cache_s > 0:
            _cache.put(ranking_key, now, found)
    period_label, ranking = found
    value = Dashboard(
        scope_path=scope_path,
        scope_code=scope_code,
        scope_name=scope_name,
        generated_at=now,
        day=today,
        today=rows,
        today_total=total,
        open_by_stage=_open_by_stage(open_rows),
        trend=trend,
        funnel=[StageCount(stage=name, count=reached[name]) for name, _ in FUNNEL_STAGES],
        top_matter_types=_top_matter_types(db=db, where=where, since=now - dt.timedelta(days=TOP_MATTER_DAYS)),
        ranking_period=period_label,
        ranking_dimension=str(dimension),
        ranking=ranking,
        overdue=overdue,
        overdue_total=overdue_total,
        alarms_open=_alarms_open(db=db, scope_path=scope_path) if can(actor, "device.view") else None,
        hotspots=_hotspots(db=db, actor=actor) if can(actor, "triage.view") else None,
    )
    value.seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return value


def _today(
    *,
    db: Session,
    where: ColumnElement[bool],
    day: dt.date,
    tz: ZoneInfo,
    open_rows: Sequence[tuple[str, str, int, int, int]],
) -> tuple[list[ChannelToday], ChannelToday]:
    start, end = day_bounds(day, 1, tz)
    by_channel: dict[str, ChannelToday] = {}

    def row(channel: Any) -> ChannelToday:
        name = str(channel)
        return by_channel.setdefault(name, ChannelToday(channel=name))

    received = select(Case.channel, func.count()).where(where, Case.reported_at >= start, Case.reported_at < end)
    for channel, count in db.execute(received.group_by(Case.channel)):
        row(channel).received = int(count)

    # NOTE: distinct cases per figure: a case dispatched twice today (returned, re-dispatched) counts once.
    def distinct_where(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.count(distinct(case((condition, CaseEvent.case_id), else_=None)))

    events = (
        select(
            Case.channel,
            distinct_where(CaseEvent.action.in_(REGISTER_ACTIONS)),
            distinct_where(CaseEvent.action == Action.dispatch),
            distinct_where(and_(CaseEvent.to_stage == CaseStage.closed, CaseEvent.from_stage != CaseStage.closed)),
        )
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            where,
            CaseEvent.occurred_at >= start,
            CaseEvent.occurred_at < end,
            or_(CaseEvent.action.in_((*REGISTER_ACTIONS, Action.dispatch)), CaseEvent.to_stage == CaseStage.closed),
        )
        .group_by(Case.channel)
    )
    for channel, registered, dispatched, closed in db.execute(events):
        found = row(channel)
        found.registered, found.dispatched, found.closed = int(registered), int(dispatched), int(closed)

    for channel, _stage, count, late, warnings in open_rows:
        found = row(channel)
        found.open += count
        found.overdue += late
        found.warnings += warnings

    figures = ("received", "registered", "dispatched", "closed", "open", "overdue", "warnings")
    total = ChannelToday(channel=None)
    for found in by_channel.values():
        for name in figures:
            setattr(total, name, getattr(total, name) + getattr(found, name))
    order = {str(c): n for n, c in enumerate(Channel)}
    rows = sorted(by_channel.values(), key=lambda r: (-r.received, -r.open, order.get(r.channel or "", 99)))
    return rows, total


def _open_now(*, db: Session, where: ColumnElement[bool], now: dt.datetime) -> list[tuple[str, str, int, int, int]]:
    """Returns (channel, stage, open, overdue, warned) of the open cases: one scan serves both groupings."""
    overdue, warned = overdue_condition(now), warning_condition(now)
    stmt = (
        select(
            Case.channel,
            Case.stage,
            func.count(),
            func.count(case((overdue, 1), else_=None)),
            func.count(case((warned, 1), else_=None)),
        )
        .where(where, is_open())
        .group_by(Case.channel, Case.stage)
    )
    return [(str(c), str(s), int(n), int(o), int(w)) for c, s, n, o, w in db.execute(stmt)]


def _open_by_stage(open_rows: Sequence[tuple[str, str, int, int, int]]) -> list[StageCount]:
    counts: dict[str, int] = {}
    for _channel, stage, count, _late, _warned in open_rows:
        counts[stage] = counts.get(stage, 0) + count
    return [StageCount(stage=str(s), count=counts[str(s)]) for s in CaseStage if str(s) in counts]


def _top_matter_types(*, db: Session, where: ColumnElement[bool], since: dt.datetime) -> list[MatterCount]:
    counted = func.count().label("n")
    stmt = (
        select(MatterType.code, MatterType.name, counted)
        .join(Case, Case.matter_type_id == MatterType.id)
        .where(where, Case.reported_at >= since)
        .group_by(MatterType.id, MatterType.code, MatterType.name)
        .order_by(counted.desc(), MatterType.code)
        .limit(TOP_MATTER_LIMIT)
    )
    return [MatterCount(code=code, name=name, count=int(n)) for code, name, n in db.execute(stmt)]


def overdue_cases(
    *, db: Session, where: ColumnElement[bool], now: dt.datetime, limit: int = OVERDUE_LIMIT
) -> tuple[list[OverdueCase], int]:
    """Returns the most overdue open cases matching `where` (oldest deadline first) and how many there are."""
    late = overdue_condition(now)
    total = db.scalar(select(func.count()).select_from(Case).where(where, late)) or 0
    due = due_in_force().label("due")
    stmt = select(Case, due).where(where, late).order_by(due, Case.id).limit(limit)
    found = list(db.execute(stmt))
    names = _names(db, [c for c, _ in found])
    rows = []
    for case_row, due_at in found:
        due_at = due_at if due_at.tzinfo else due_at.replace(tzinfo=dt.UTC)  # SQLite hands a CASE back naive
        rows.append(
            OverdueCase(
                id=case_row.id,
                number=case_row.number,
                title=case_row.title,
                channel=str(case_row.channel),
                stage=str(case_row.stage),
                matter_type=names["matter"].get(case_row.matter_type_id),
                street=names["area"].get(case_row.street_id),
                unit=names["unit"].get(case_row.handling_unit_id),
                due_at=due_at,
                hours_overdue=round((now - due_at).total_seconds() / 3600, 1),
            )
        )
    return rows, int(total)


def _names(db: Session, cases: Sequence[Case]) -> dict[str, dict[int, str]]:
    """Returns the names of the matter types, streets and units of `cases`, by id (three small queries)."""
    matter_ids = {c.matter_type_id for c in cases}
    area_ids = {c.street_id for c in cases if c.street_id}
    unit_ids = {c.handling_unit_id for c in cases if c.handling_unit_id}
    return {
        "matter": dict(db.execute(select(MatterType.id, MatterType.name).where(MatterType.id.in_(matter_ids))).all())
        if matter_ids
        else {},
        "area": dict(db.execute(select(Area.id, Area.name).where(Area.id.in_(area_ids))).all()) if area_ids else {},
        "unit": dict(db.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all()) if unit_ids else {},
    }


def _ranking(
    *, db: Session, now: dt.datetime, tz: ZoneInfo, dimension: Dimension, scope_path: str | None, engine: str | None
) -> tuple[str, list[RankingRow]]:
    period = Period.parse(now.astimezone(tz).strftime("%Y-%m"), tz)
    # NOTE: without the previous month (compare=False): half the counting on every cache miss; the /evaluation page
    # and the bulletins show the change.
    ranking = service.rank(
        db=db, period=period, dimension=dimension, scope_path=scope_path, engine=engine, compare=False
    )
    rows = [
        RankingRow(
            key=row.key,
            label=row.label,
            composite=row.composite,
            rank=row.rank,
            ranked=row.ranked,
            sample=row.sample,
            change=row.change,
        )
        for row in ranking.rows
    ]
    return period.label, rows


def _alarms_open(*, db: Session, scope_path: str | None) -> int:
    stmt = select(func.count()).select_from(Alarm).where(Alarm.state == AlarmState.raised)
    if scope_path:
        stmt = stmt.join(Device, Device.id == Alarm.device_id).where(
            Device.area_path.startswith(scope_path, autoescape=True)
        )
    return int(db.scalar(stmt) or 0)


def _hotspots(*, db: Session, actor: Actor) -> list[HotspotSummary]:
    rows, _total = triage_service.list_hotspots(db=db, actor=actor, status=HotspotStatus.open, limit=HOTSPOT_LIMIT)
    streets = triage_service.streets(db=db, ids=[r.street_id for r in rows])
    return [
        HotspotSummary(
            id=seen.hotspot.id,
            title=seen.title,
            size=seen.hotspot.size,
            heat=round(seen.hotspot.heat, 2),
            street=streets[seen.hotspot.street_id].name if seen.hotspot.street_id in streets else None,
        )
        for seen in triage_service.views(db=db, actor=actor, rows=rows)
    ]
