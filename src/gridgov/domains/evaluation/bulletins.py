"""Bulletins (通报): a period's headline figures, rankings, overdue list, top matter types, hotspots and one page
per street, as plain data (`build`), then written as XLSX, a printable HTML page, or PDF printed from that page.

`generate` stores the files in `evaluation_bulletin` (one row per period, scope and format: regenerating
replaces the row) and audits it; the worker's monthly job (`evaluation.jobs.monthly_bulletins`) inserts only, so
two processes racing for the same month leave one row. See docs/evaluation.md ("Bulletins").

The figures of a past period are reproducible from the event log; the overdue list (of the cases reported before
the period's end) and the hotspots are what the case table and the hotspot refresh say when the bulletin is
generated: they are the centre's working lists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Engine, and_, case, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core import clock
from gridgov.core.db import transaction
from gridgov.core.errors import DomainError, Forbidden, Invalid
from gridgov.core.permissions import scope_of
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.models import Case
from gridgov.domains.catalog.enums import Stage
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.evaluation import campaigns
from gridgov.domains.evaluation import engine as counts_engine
from gridgov.domains.evaluation import indicators as indicator_defs
from gridgov.domains.evaluation import service as ranking_service
from gridgov.domains.evaluation.counts import CountTable
from gridgov.domains.evaluation.enums import BulletinFormat, Dimension
from gridgov.domains.evaluation.models import Bulletin, Campaign, CampaignCase
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.triage.enums import HotspotStatus
from gridgov.domains.triage.models import Hotspot

TEMPLATE = "evaluation/bulletin.html"
OVERDUE_LIMIT = 100  # rows of the overdue list (the total is given beside it)
TOP_MATTER_LIMIT = 10
HOTSPOT_LIMIT = 10
PDF_TIMEOUT_S = 60.0
NOT_RANKED = "样本不足"  # the mark of a row listed but not ranked (minimum-sample rule)

# The levels a bulletin ranks, and their Chinese names.
LEVELS: dict[Dimension, str] = {Dimension.street: "街道", Dimension.community: "社区", Dimension.grid: "网格"}
LEVEL_DEPTH = {Dimension.street: 1, Dimension.community: 2, Dimension.grid: 3}

CONTENT_TYPES: dict[BulletinFormat, str] = {
    BulletinFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    BulletinFormat.html: "text/html; charset=utf-8",
    BulletinFormat.pdf: "application/pdf",
}


@dataclass(frozen=True)
class Headline:
    """A headline figure: a base count, or a rate of two (None when the denominator is 0)."""

    code: str
    label: str
    numerator: str
    denominator: str | None = None


# The headline figures of a bulletin and of each street page (base count names: evaluation.counts).
HEADLINES: tuple[Headline, ...] = (
    Headline("received", "受理数", "received"),
    Headline("registered", "立案数", "registered"),
    Headline("due", "应结案数", "due"),
    Headline("closed", "结案数", "closed"),
    Headline("closure_rate", "结案率", "closed", "due"),
    Headline("on_time_rate", "按期结案率", "closed_on_time", "due"),
    Headline("open_overdue", "超期未结数", "open_overdue"),
    Headline("rework", "返工数", "rework"),
    Headline("satisfaction_rate", "满意率", "satisfied", "rated"),
)
DATA_COUNTS = ("received", "registered", "dispatched", "due", "closed", "rated")  # any > 0: the period has data


# How work that must not hold one long transaction opens short ones: `open_tx(write)` yields a session in one
# transaction, committed at the end (the API's default: on the app's engine; tests join their own).
Transactions = Callable[[bool], AbstractContextManager[Session]]


def engine_transactions(engine: Engine) -> Transactions:
    """Returns the transactions of `engine` as `open_tx(write)`."""
    return lambda write: transaction(engine, write=write)


class PdfUnavailable(DomainError):
    """The PDF cannot be printed here: no Chromium, or it failed (XLSX and HTML still work)."""

    status = 503
    code = "pdf_unavailable"


# --- the data of a bulletin -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One headline figure of the period, with the previous period's value."""

    code: str
    label: str
    value: float | None
    previous: float | None
    is_rate: bool

    @property
    def change(self) -> float | None:
        """The value minus the previous one (for a rate: in fractions, i.e. percentage points / 100)."""
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass(frozen=True)
class Column:
    """An indicator column of a ranking table."""

    code: str
    name: str
    unit: str  # "%", "count", "per10k", "hours" ...
    scored: bool = True  # part of the composite (weight > 0); the printed page shows only these


@dataclass(frozen=True)
class RankingLine:
    """One row of a ranking table; a row below the minimum sample is listed with its values but not ranked."""

    key: str
    label: str
    rank: int | None
    ranked: bool
    sample: int
    composite: float | None
    previous_composite: float | None
    change: float | None
    rank_change: int | None  # previous rank − rank: positive = moved up
    values: dict[str, float | None]

    @property
    def note(self) -> str:
        return "" if self.ranked else NOT_RANKED


@dataclass(frozen=True)
class RankingTable:
    """A ranking (of streets, communities, grids or units) with its indicator columns."""

    title: str
    dimension: str
    columns: list[Column]
    rows: list[RankingLine]

    @property
    def ranked_count(self) -> int:
        return sum(1 for row in self.rows if row.ranked)


@dataclass(frozen=True)
class OverdueLine:
    """An open overdue case, as the centre chases it."""

    number: str
    title: str
    matter: str
    unit: str
    street: str
    community: str
    stage: str
    due_at: dt.datetime | None
    hours_overdue: float | None


@dataclass(frozen=True)
class MatterLine:
    """A matter type among the most reported of the period."""

    code: str
    name: str
    count: int
    share: float  # of all cases received in the period
    previous: int
    change: int


@dataclass(frozen=True)
class HotspotLine:
    """A hotspot (高频事项) active in the period."""

    title: str
    size: int
    heat: float
    first_at: dt.datetime
    last_at: dt.datetime
    street: str
    status: str

    @property
    def span_days(self) -> float:
        return round((self.last_at - self.first_at).total_seconds() / 86400, 1)


@dataclass(frozen=True)
class StreetPage:
    """One street's page: its figures and the ranking of its communities."""

    code: str
    name: str
    figures: list[Figure]
    ranking: RankingTable
    overdue_total: int


@dataclass
class BulletinData:
    """Everything a bulletin shows, as plain data; `to_xlsx`, `to_html` and `to_pdf` only lay it out."""

    title: str
    period: Period
    period_text: str  # "2026-11（2026-11-01 至 2026-11-30）"
    previous_label: str
    level: Dimension
    level_name: str
    district: str
    scope_code: str | None
    scope_name: str
    campaign: str | None
    generated_at: dt.datetime
    generated_by: str
    tz: str
    has_data: bool
    figures: list[Figure]
    ranking: RankingTable
    units: RankingTable
    overdue: list[OverdueLine]
    overdue_total: int
    matter_types: list[MatterLine]
    hotspots: list[HotspotLine]
    streets: list[StreetPage] = field(default_factory=list)

    def local(self, value: dt.datetime | None) -> str:
        """Formats a UTC time in the district's time zone, to the minute."""
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(ZoneInfo(self.tz)).strftime("%Y-%m-%d %H:%M")


# --- building ---------------------------------------------------------------------------------------------------


def parse_period(text: str, tz: ZoneInfo | None = None) -> Period:
    """Returns the period `text` names ("2026-11", "2026-Q4", "2026", "2026-11-01..2026-11-15"); Invalid else."""
    return Period.parse(text.strip(), tz or get_settings().tz)


def parse_level(text: str | Dimension) -> Dimension:
    """Returns the area level a bulletin ranks (street, community or grid); Invalid otherwise."""
    try:
        level = Dimension(str(text).strip().lower())
    except ValueError:
        level = None
    if level not in LEVELS:
        raise Invalid(f"unknown bulletin level {text!r}: use one of {', '.join(LEVELS)}", field="level")
    return level


def scope_area(*, db: Session, scope_path: str | None) -> Area | None:
    """Returns the area whose subtree `scope_path` names (None for the whole district); Invalid if unknown."""
    if not scope_path:
        return None
    area = db.scalars(select(Area).where(Area.path == scope_path)).one_or_none()
    if area is None:
        raise Invalid(f"no area has the path {scope_path!r}", field="scope")
    return area


def bulletin_scope(*, db: Session, actor: Actor) -> Area | None:
    """Returns the area an actor's bulletins cover: None for district users, their street for street users.

    Bulletins are made for the district or for one street; an actor scoped below a street (a community) may see
    rankings on the console but gets no bulletin of their own (403).
    """
    if scope_of(actor, "evaluation.view") is None:
        raise Forbidden(f"role '{actor.role}' may not see evaluation bulletins")
    area = scope_area(db=db, scope_path=actor.scope_path)
    if area is None or area.level == AreaLevel.district:
        return None
    if area.level == AreaLevel.street:
        return area
    raise Forbidden(
        f"bulletins are made for the district or a street; your scope is {area.level} {area.name} ({area.code})"
    )


SCOPE_LENGTH = 64  # evaluation_bulletin.scope


def scope_key(level: Dimension, area: Area | None, campaign: Campaign | None = None) -> str:
    """Returns the stored scope of a bulletin: "street" (the district), "community@<street code>", "campaign:<code>"
    (a campaign's, district-wide) or "campaign:<code>@<street code>" (a campaign's cases in one street)."""
    street = f"@{area.code}" if area is not None and area.level != AreaLevel.district else ""
    if campaign is None:
        return f"{level}{street}"
    key = f"campaign:{campaign.code}{street}"
    if len(key) > SCOPE_LENGTH:
        # NOTE: a campaign code may be 64 characters itself: shortened, with a digest of the whole keeping it unique.
        digest = hashlib.sha256(campaign.code.encode()).hexdigest()[:8]
        room = SCOPE_LENGTH - len("campaign:~") - len(digest) - len(street)
        key = f"campaign:{campaign.code[:room]}~{digest}{street}"
    return key


def build(
    *,
    db: Session,
    period: Period,
    level: Dimension,
    scope_path: str | None = None,
    campaign: Campaign | None = None,
    engine: str | None = None,
    now: dt.datetime | None = None,
    generated_by: str = "系统（定时生成）",
) -> BulletinData:
    """Returns the bulletin of `period` ranking `level` within `scope_path` (or a campaign's cases), as data."""
    settings = get_settings()
    level = parse_level(level)
    area = scope_area(db=db, scope_path=scope_path)
    if area is not None and area.level != AreaLevel.district and LEVEL_DEPTH[level] <= area.level.depth:
        raise Invalid(
            f"a bulletin of {area.level} {area.name} ranks what lies below it, not {level}: "
            f"use {', '.join(lv for lv in LEVELS if LEVEL_DEPTH[lv] > area.level.depth) or 'another scope'}",
            field="level",
        )
    scope_path = area.path if area is not None and area.level != AreaLevel.district else None
    now = now or clock.now()
    case_ids = _campaign_case_ids(db=db, campaign=campaign)
    previous = period.previous()
    tables = _Tables(db=db, period=period, scope_path=scope_path, engine=engine, case_ids=case_ids)

    current_total, previous_total = (_totals(table) for table in tables.get(Dimension.district))
    ranking = _ranking_table(tables.rank(level), f"{LEVELS[level]}排名", level)
    units = _ranking_table(tables.rank(Dimension.unit), "部门排名", "unit")
    # NOTE: the overdue lists hold what is open and overdue when the bulletin is written, of the cases reported
    # before the period's end: a bulletin of a past period lists what that period left behind, not later cases.
    where = and_(_case_scope(scope_path, case_ids), Case.reported_at < period.end)
    overdue, overdue_total = overdue_cases(db=db, where=where, now=now)
    matter_types = _top_matter_types(*tables.get(Dimension.matter_type))
    hotspots = _hotspots(db=db, period=period, scope_path=scope_path, case_ids=case_ids)
    streets = _street_pages(db=db, area=area, tables=tables, where=where)

    district = db.scalars(select(Area.name).where(Area.level == AreaLevel.district).order_by(Area.path)).first() or ""
    scope_name = campaign.name if campaign is not None else area.name if area is not None else district
    first_day, last_day = period.local_dates()
    subject = f"专项督查“{campaign.name}”" if campaign is not None else scope_name
    return BulletinData(
        title=f"{subject}{_period_words(period, first_day, last_day)}网格化服务管理工作通报",
        period=period,
        period_text=f"{period.label}（{first_day.isoformat()} 至 {last_day.isoformat()}）",
        previous_label=previous.label,
        level=level,
        level_name=LEVELS[level],
        district=district,
        scope_code=area.code if area is not None else None,
        scope_name=scope_name,
        campaign=campaign.code if campaign is not None else None,
        generated_at=now,
        generated_by=generated_by,
        tz=settings.timezone,
        has_data=any(current_total.get(name, 0) for name in DATA_COUNTS),
        figures=_figures(current_total, previous_total),
        ranking=ranking,
        units=units,
        overdue=overdue,
        overdue_total=overdue_total,
        matter_types=matter_types,
        hotspots=hotspots,
        streets=streets,
    )


def _period_words(period: Period, first: dt.date, last: dt.date) -> str:
    kind = period.kind
    if kind == "month":
        return f"{first.year}年{first.month}月"
    if kind == "quarter":
        return f"{first.year}年第{(first.month - 1) // 3 + 1}季度"
    if kind == "year":
        return f"{first.year}年"
    if kind == "day":
        return f"{first.year}年{first.month}月{first.day}日"
    return f"{first.year}年{first.month}月{first.day}日至{last.year}年{last.month}月{last.day}日"


def _campaign_case_ids(*, db: Session, campaign: Campaign | None) -> list[int] | None:
    if campaign is None:
        return None
    return list(db.scalars(select(CampaignCase.case_id).where(CampaignCase.campaign_id == campaign.id)))


def _totals(table: CountTable) -> dict[str, int | float]:
    """Sums a count table's rows (one row for the district dimension; summed in case a deployment has several)."""
    totals: dict[str, int | float] = {}
    for counts in table.rows.values():
        for name, value in counts.items():
            totals[name] = totals.get(name, 0) + (value or 0)
    return totals


def _value(counts: Mapping[str, int | float], headline: Headline) -> float | None:
    numerator = counts.get(headline.numerator, 0)
    if headline.denominator is None:
        return float(numerator)
    denominator = counts.get(headline.denominator, 0)
    return numerator / denominator if denominator else None


def _figures(current: Mapping[str, int | float], previous: Mapping[str, int | float]) -> list[Figure]:
    return [
        Figure(
            code=h.code,
            label=h.label,
            value=_value(current, h),
            previous=_value(previous, h),
            is_rate=h.denominator is not None,
        )
        for h in HEADLINES
    ]


def _ranking_table(ranking: Any, title: str, dimension: str) -> RankingTable:
    columns = [
        Column(code=i.code, name=i.name, unit=str(i.unit or ""), scored=float(i.weight or 0) > 0)
        for i in ranking.indicators
    ]
    lines = [
        RankingLine(
            key=str(row.key),
            label=str(row.label),
            rank=row.rank,
            ranked=bool(row.ranked),
            sample=int(row.sample or 0),
            composite=row.composite,
            previous_composite=row.previous_composite,
            change=row.change,
            rank_change=getattr(row, "rank_change", None),
            values={column.code: row.values.get(column.code) for column in columns},
        )
        for row in ranking.rows
    ]
    # NOTE: ranked rows by rank, then the rows listed but not ranked (minimum sample), best composite first.
    lines.sort(
        key=lambda line: (
            not line.ranked,
            line.rank if line.rank is not None else 0,
            -(line.composite if line.composite is not None else -1.0),
            line.label,
        )
    )
    return RankingTable(title=title, dimension=str(dimension), columns=columns, rows=lines)


def _case_scope(scope_path: str | None, case_ids: Sequence[int] | None) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if scope_path:
        conditions.append(Case.area_path.startswith(scope_path, autoescape=True))
    if case_ids is not None:
        conditions.append(Case.id.in_(list(case_ids)) if case_ids else Case.id.is_(None))
    return and_(*conditions) if conditions else true()


def deadline_in_force() -> ColumnElement[Any]:
    """Returns the SQL expression of a case's deadline in force: the due time of its running clock."""
    return case(
        (Case.clock_stage == Stage.register, Case.register_due_at),
        (Case.clock_stage == Stage.dispatch, Case.dispatch_due_at),
        (Case.clock_stage == Stage.handle, Case.handle_due_at),
        (Case.clock_stage == Stage.verify, Case.verify_due_at),
        else_=Case.handle_due_at,
    )


def overdue_cases(
    *, db: Session, where: ColumnElement[bool], now: dt.datetime, limit: int = OVERDUE_LIMIT
) -> tuple[list[OverdueLine], int]:
    """Returns the open cases marked overdue (most overdue first, at most `limit`) and how many there are."""
    from gridgov.core.templating import STAGE_LABELS, translator

    zh = translator("zh_CN")["_"]
    condition = and_(where, Case.is_open.is_(True), Case.is_overdue.is_(True))
    total = db.scalar(select(func.count()).select_from(Case).where(condition)) or 0
    due = deadline_in_force().label("due")
    found = list(db.execute(select(Case, due).where(condition).order_by(due, Case.id).limit(limit)))
    names = _names(db, [row for row, _ in found])
    lines = []
    for row, due_at in found:
        if due_at is not None and due_at.tzinfo is None:
            due_at = due_at.replace(tzinfo=dt.UTC)  # NOTE: SQLite hands a CASE expression back naive (UTC)
        hours = round((now - due_at).total_seconds() / 3600, 1) if due_at is not None else None
        lines.append(
            OverdueLine(
                number=row.number,
                title=row.title,
                matter=names["matter"].get(row.matter_type_id, ""),
                unit=names["unit"].get(row.handling_unit_id, "") if row.handling_unit_id else "",
                street=names["area"].get(row.street_id, "") if row.street_id else "",
                community=names["area"].get(row.community_id, "") if row.community_id else "",
                stage=zh(STAGE_LABELS[row.stage]),
                due_at=due_at,
                hours_overdue=hours,
            )
        )
    return lines, int(total)


def _names(db: Session, cases: Sequence[Case]) -> dict[str, dict[int, str]]:
    """Returns the names of the matter types, areas and units of `cases`, by id (three small queries)."""
    matter_ids = {c.matter_type_id for c in cases}
    area_ids = {a for c in cases for a in (c.street_id, c.community_id) if a}
    unit_ids = {c.handling_unit_id for c in cases if c.handling_unit_id}
    out: dict[str, dict[int, str]] = {"matter": {}, "area": {}, "unit": {}}
    if matter_ids:
        out["matter"] = dict(
            db.execute(select(MatterType.id, MatterType.name).where(MatterType.id.in_(matter_ids))).all()
        )
    if area_ids:
        out["area"] = dict(db.execute(select(Area.id, Area.name).where(Area.id.in_(area_ids))).all())
    if unit_ids:
        out["unit"] = dict(db.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all())
    return out


def _top_matter_types(current: CountTable, previous: CountTable) -> list[MatterLine]:
    total = sum(current.get(key, "received") for key in current.rows)
    ordered = sorted(
        (key for key in current.rows if current.get(key, "received") > 0),
        key=lambda key: (-current.get(key, "received"), key),
    )
    lines = []
    for key in ordered[:TOP_MATTER_LIMIT]:
        count = current.get(key, "received")
        before = previous.get(key, "received") if key in previous.rows else 0
        lines.append(
            MatterLine(
                code=key,
                name=current.labels.get(key, key),
                count=count,
                share=count / total if total else 0.0,
                previous=before,
                change=count - before,
            )
        )
    return lines


def _hotspots(
    *, db: Session, period: Period, scope_path: str | None, case_ids: Sequence[int] | None
) -> list[HotspotLine]:
    """Returns the open or escalated hotspots whose cases fall in the period, hottest first."""
    if case_ids is not None:
        return []  # NOTE: a campaign's bulletin shows no hotspots: hotspots are not tagged into campaigns
    street = Area.__table__.alias("street")
    stmt = (
        select(Hotspot, street.c.name)
        .outerjoin(street, street.c.id == Hotspot.street_id)
        .where(
            Hotspot.status.in_((HotspotStatus.open, HotspotStatus.escalated)),
            Hotspot.first_at < period.end,
            Hotspot.last_at >= period.start,
        )
        .order_by(Hotspot.heat.desc(), Hotspot.id)
    )
    if scope_path:
        stmt = stmt.where(street.c.path.startswith(scope_path, autoescape=True))
    labels = {HotspotStatus.open: "待研判", HotspotStatus.escalated: "已立案督办"}
    return [
        HotspotLine(
            title=spot.title,
            size=spot.size,
            heat=round(spot.heat, 2),
            first_at=spot.first_at,
            last_at=spot.last_at,
            street=name or "",
            status=labels.get(spot.status, str(spot.status)),
        )
        for spot, name in db.execute(stmt.limit(HOTSPOT_LIMIT))
    ]


class _Tables:
    """The count tables of one bulletin (this period and the previous one), each computed once.

    NOTE: every `engine.compute` call has a fixed cost (DuckDB attaches the database), so a bulletin computes each
    dimension once for its whole scope, and the street pages rank their communities on slices of one community
    table (`service.rank_table`, the same rules as `service.rank`) instead of one computation per street.
    """

    def __init__(
        self, *, db: Session, period: Period, scope_path: str | None, engine: str | None, case_ids: list[int] | None
    ) -> None:
        self.db, self.period, self.scope_path, self.engine, self.case_ids = db, period, scope_path, engine, case_ids
        self._tables: dict[Dimension, tuple[CountTable, CountTable]] = {}

    def get(self, dimension: Dimension) -> tuple[CountTable, CountTable]:
        """Returns the table of `dimension` for the period and for the previous period."""
        if dimension not in self._tables:
            options: dict[str, Any] = {"db": self.db, "scope_path": self.scope_path, "engine": self.engine}
            if self.case_ids is not None:
                options["case_ids"] = self.case_ids
            self._tables[dimension] = (
                counts_engine.compute(period=self.period, dimension=dimension, **options),
                counts_engine.compute(period=self.period.previous(), dimension=dimension, **options),
            )
        return self._tables[dimension]

    def rank(self, dimension: Dimension, keys: set[str] | None = None) -> Any:
        """Returns the ranking of `dimension` (of `keys` only, when given) with the change against the previous."""
        current, previous = self.get(dimension)
        if keys is not None:
            current, previous = _slice(current, keys), _slice(previous, keys)
        obj = ranking_service.object_for(dimension)
        definitions = indicator_defs.list_definitions(db=self.db, obj=obj, active_only=True)
        return ranking_service.rank_table(current, definitions, previous=previous, obj=obj)


def _slice(table: CountTable, keys: set[str]) -> CountTable:
    """Returns the part of a count table about `keys` (a street's communities)."""
    return CountTable(
        dimension=table.dimension,
        period=table.period,
        rows={k: v for k, v in table.rows.items() if k in keys},
        labels={k: v for k, v in table.labels.items() if k in keys},
        population={k: v for k, v in table.population.items() if k in keys},
        staff={k: v for k, v in table.staff.items() if k in keys},
        engine=table.engine,
    )


def _street_pages(*, db: Session, area: Area | None, tables: _Tables, where: ColumnElement[bool]) -> list[StreetPage]:
    """Returns one page per street of the scope: its figures and its communities' ranking."""
    if area is not None and area.level not in (AreaLevel.district, AreaLevel.street):
        return []
    stmt = select(Area).where(Area.level == AreaLevel.street).order_by(Area.code)
    if area is not None and area.level == AreaLevel.street:
        stmt = stmt.where(Area.id == area.id)
    streets = list(db.scalars(stmt))
    if not streets:
        return []
    current, previous = tables.get(Dimension.street)
    community = Area.__table__.alias("community")
    children: dict[int, set[str]] = {}
    for parent_id, code in db.execute(
        select(community.c.parent_id, community.c.code).where(
            community.c.level == AreaLevel.community, community.c.parent_id.in_([s.id for s in streets])
        )
    ):
        children.setdefault(parent_id, set()).add(code)
    overdue_by_street = dict(
        db.execute(
            select(Case.street_id, func.count())
            .where(where, Case.is_open.is_(True), Case.is_overdue.is_(True))
            .group_by(Case.street_id)
        ).all()
    )
    return [
        StreetPage(
            code=street.code,
            name=street.name,
            figures=_figures(current.rows.get(street.code, {}), previous.rows.get(street.code, {})),
            ranking=_ranking_table(
                tables.rank(Dimension.community, children.get(street.id, set())),
                f"{street.name} 社区排名",
                Dimension.community,
            ),
            overdue_total=int(overdue_by_street.get(street.id, 0)),
        )
        for street in streets
    ]


# --- formats ----------------------------------------------------------------------------------------------------


def format_value(value: float | None, unit: str) -> str:
    """Formats an indicator value for reading: a rate as a percentage, hours and per-10k with decimals."""
    if value is None:
        return "—"
    if unit == "%":
        return f"{value * 100:.2f}%"
    if unit in ("count", ""):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return f"{value:,.2f}"


def format_change(value: float | None, is_rate: bool) -> str:
    """Formats a change: a rate's in percentage points, a count's with its sign."""
    if value is None:
        return "—"
    if is_rate:
        return f"{value * 100:+.2f} 个百分点"
    return f"{value:+,.0f}"


def _excel_format(unit: str) -> str:
    return {"%": "0.00%", "count": "#,##0", "hours": "0.0", "per10k": "0.00"}.get(unit, "0.00")


SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")


def _sheet_title(name: str, taken: set[str]) -> str:
    base = SHEET_NAME_BAD.sub("-", name)[:31] or "sheet"
    title, n = base, 2
    while title in taken:
        suffix = f"({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(title)
    return title


def to_xlsx(data: BulletinData) -> bytes:
    """Writes the bulletin as an XLSX workbook: a 说明 sheet, then one sheet per section and per street."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    taken: set[str] = set()
    bold, title_font = Font(bold=True), Font(bold=True, size=14)
    header_fill = PatternFill("solid", fgColor="DDE7F3")
    muted = Font(color="888888")
    generated = f"生成：{data.generated_by} · {data.local(data.generated_at)}"

    def sheet(name: str) -> Any:
        ws = workbook.active if not taken else workbook.create_sheet()
        ws.title = _sheet_title(name, taken)
        ws.append([f"{data.title} — {name}"])
        ws["A1"].font = title_font
        ws.append([f"统计周期：{data.period_text}", None, None, generated])
        ws.append([])
        ws.oddHeader.center.text = f"{data.title} · {data.period.label}"
        ws.oddFooter.left.text = generated
        ws.oddFooter.right.text = "第 &P 页 / 共 &N 页"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        return ws

    def table(ws: Any, headers: Sequence[str], rows: Iterable[Sequence[Any]], formats: Sequence[str | None]) -> None:
        ws.append(list(headers))
        header_row = ws.max_row
        for cell in ws[header_row]:
            cell.font, cell.fill = bold, header_fill
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        count = 0
        for row in rows:
            ws.append(list(row))
            count += 1
            for index, fmt in enumerate(formats, start=1):
                if fmt:
                    ws.cell(row=ws.max_row, column=index).number_format = fmt
        if count == 0:
            ws.append(["（本期无数据）"])
            ws.cell(row=ws.max_row, column=1).font = muted
        ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
        ws.print_title_rows = f"{header_row}:{header_row}"
        widths = [len(str(h)) * 2 + 2 for h in headers]
        for values in ws.iter_rows(min_row=header_row + 1, values_only=True):
            for index, value in enumerate(values[: len(widths)]):
                if value is not None:
                    text = str(value)
                    width = sum(2 if ord(ch) > 0x2E80 else 1 for ch in text) + 2
                    widths[index] = max(widths[index], min(width, 60))
        for index, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(index)].width = max(8, width)

    def figures(ws: Any, rows: Sequence[Figure]) -> None:
        # NOTE: a rate and its change as percentages, counts (and their change) as whole numbers with a sign.
        ws.append(["指标", "本期", "上期", "变化"])
        for cell in ws[ws.max_row]:
            cell.font, cell.fill = bold, header_fill
        for figure in rows:
            ws.append([figure.label, figure.value, figure.previous, figure.change])
            value_format = "0.00%" if figure.is_rate else "#,##0"
            change_format = "+0.00%;-0.00%;0.00%" if figure.is_rate else "+#,##0;-#,##0;0"
            for column, fmt in ((2, value_format), (3, value_format), (4, change_format)):
                ws.cell(row=ws.max_row, column=column).number_format = fmt
        ws.column_dimensions["A"].width = max(ws.column_dimensions["A"].width or 0, 14)
        for letter in "BCD":
            ws.column_dimensions[letter].width = max(ws.column_dimensions[letter].width or 0, 12)

    # 说明
    ws = sheet("说明")
    notes = [
        ("通报", data.title),
        ("范围", data.scope_name + (f"（{data.scope_code}）" if data.scope_code else "")),
        ("统计周期", data.period_text),
        ("对比周期", data.previous_label),
        ("排名层级", data.level_name),
        ("生成人", data.generated_by),
        ("生成时间", f"{data.local(data.generated_at)}（{data.tz}）"),
        ("数据", "本期有数据" if data.has_data else "本期无数据：所选周期内没有受理、立案、派遣或应结案的案件。"),
        (
            "主要指标",
            "受理、立案、应结案、结案等为案件数；结案率 = 结案数 / 应结案数，按期结案率 = 按期结案数 / 应结案数，",
        ),
        ("", "满意率 = 满意数（含基本满意）/ 评价数（不含认定为不合理的诉求）；变化为与上期相比。"),
        ("排名", f"综合得分 = 各计分指标得分按权重加权；样本量不足的对象列出数值但不参与排名，标注“{NOT_RANKED}”。"),
        ("超期案件", "本期结束前上报、生成时仍未结案且已超期的案件，超期最久者在前（超期时长按当前时限计算）。"),
        ("热点", "高频事项（热点）中本期内有案件、尚未排除的，按热度排列。"),
        ("工作表", "主要指标、排名、部门排名、超期案件、高发事项、热点，以及每个街道一页。"),
    ]
    ws.append(["项目", "内容"])
    for cell in ws[ws.max_row]:
        cell.font, cell.fill = bold, header_fill
    for key, value in notes:
        ws.append([key, value])
        ws.cell(row=ws.max_row, column=1).font = bold
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["B"].width = 100

    ws = sheet("主要指标")
    figures(ws, data.figures)
    ws.freeze_panes = "A5"

    for ranking in (data.ranking, data.units):
        ws = sheet(ranking.title)
        headers, rows, formats = _ranking_layout(ranking)
        table(ws, headers, rows, formats)

    ws = sheet("超期案件")
    table(
        ws,
        ["案件编号", "标题", "事项", "承办单位", "街道", "社区", "当前阶段", "时限", "超期（小时）"],
        (
            [o.number, o.title, o.matter, o.unit, o.street, o.community, o.stage, data.local(o.due_at), o.hours_overdue]
            for o in data.overdue
        ),
        [None] * 8 + ["0.0"],
    )
    if data.overdue_total > len(data.overdue):
        ws.append([f"共 {data.overdue_total} 件，此处列出超期最久的 {len(data.overdue)} 件。"])

    ws = sheet("高发事项")
    table(
        ws,
        ["序号", "事项编码", "事项", "受理数", "占比", "上期", "变化"],
        ([n, m.code, m.name, m.count, m.share, m.previous, m.change] for n, m in enumerate(data.matter_types, 1)),
        [None, None, None, "#,##0", "0.00%", "#,##0", "+#,##0;-#,##0;0"],
    )

    ws = sheet("热点")
    table(
        ws,
        ["序号", "热点", "案件数", "热度", "首次", "最近", "跨度（天）", "街道", "状态"],
        (
            [n, h.title, h.size, h.heat, data.local(h.first_at), data.local(h.last_at), h.span_days, h.street, h.status]
            for n, h in enumerate(data.hotspots, 1)
        ),
        [None, None, "#,##0", "0.00", None, None, "0.0", None, None],
    )

    for page in data.streets:
        ws = sheet(f"街道-{page.name}")
        figures(ws, page.figures)
        ws.append([f"截至生成时超期在办（本期结束前上报，含立案至核查各环节）：{page.overdue_total} 件"])
        ws.append([])
        headers, rows, formats = _ranking_layout(page.ranking)
        table(ws, headers, rows, formats)

    # NOTE: openpyxl takes any text starting with "=" for a formula: a title a resident typed as
    # "=HYPERLINK(...)" would run when the file is opened. A bulletin has no formulas: every such cell is text.
    for worksheet in workbook.worksheets:
        for row in worksheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"

    buffer = io.BytesIO()
    workbook.properties.title = data.title
    workbook.properties.creator = "gridgov"
    workbook.properties.description = f"{data.period_text}；{generated}"
    workbook.save(buffer)
    return buffer.getvalue()


def _ranking_layout(ranking: RankingTable) -> tuple[list[str], list[list[Any]], list[str | None]]:
    headers = ["排名", "名称", "综合得分", "上期得分", "变化", "样本量"]
    headers += [f"{c.name}" + ("" if c.unit in ("%", "count", "") else f"（{c.unit}）") for c in ranking.columns]
    headers.append("备注")
    formats: list[str | None] = [None, None, "0.00", "0.00", "+0.00;-0.00;0.00", "#,##0"]
    formats += [_excel_format(c.unit) for c in ranking.columns]
    formats.append(None)
    rows = [
        [
            line.rank if line.ranked else None,
            line.label,
            line.composite,
            line.previous_composite,
            line.change,
            line.sample,
            *(line.values.get(c.code) for c in ranking.columns),
            line.note,
        ]
        for line in ranking.rows
    ]
    return headers, rows, formats


def to_html(data: BulletinData) -> str:
    """Renders the bulletin as one standalone printable page (inline CSS, no scripts, A4, a page per street)."""
    from gridgov.core.templating import templates

    template = templates.env.get_template(TEMPLATE)
    return template.render(
        data=data,
        fmt=format_value,
        change=format_change,
        local=data.local,
        not_ranked=NOT_RANKED,
    )


def _chromium() -> str:
    configured = get_settings().chromium_path
    found = shutil.which(configured)
    if found is None:
        raise PdfUnavailable(
            f"Chromium not found at {configured!r}: install chromium (and fonts-noto-cjk for Chinese text) or set "
            "GRIDGOV_CHROMIUM_PATH to the browser's path; XLSX and HTML bulletins do not need it"
        )
    return found


def pdf_available() -> bool:
    """Tells whether a PDF can be printed here (the configured Chromium exists)."""
    return shutil.which(get_settings().chromium_path) is not None


def to_pdf(data: BulletinData, *, timeout_s: float = PDF_TIMEOUT_S) -> bytes:
    """Prints the bulletin's HTML to PDF with headless Chromium; PdfUnavailable when there is none or it fails."""
    return html_to_pdf(to_html(data), timeout_s=timeout_s)


def html_to_pdf(html: str, *, timeout_s: float = PDF_TIMEOUT_S) -> bytes:
    """Prints a standalone HTML page to PDF with headless Chromium (A4, the page's own print CSS)."""
    browser = _chromium()
    with tempfile.TemporaryDirectory(prefix="gridgov-bulletin-") as tmp:
        page, out = Path(tmp) / "bulletin.html", Path(tmp) / "out.pdf"
        page.write_text(html, encoding="utf-8")
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        # NOTE: a session of its own, so a hung browser and its helper processes are killed together.
        process = subprocess.Popen(  # noqa: S603 - the configured browser, fixed arguments
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            _, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise PdfUnavailable(f"Chromium did not print the bulletin within {timeout_s:g} s") from None
        if process.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise PdfUnavailable(
                f"Chromium ({browser}) failed to print the bulletin (exit {process.returncode}): {' | '.join(tail)}"
            )
        return out.read_bytes()


# --- stored bulletins -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedFile:
    """A bulletin written in one format, ready to store or send."""

    format: BulletinFormat
    filename: str
    content_type: str
    data: bytes


def parse_formats(values: Iterable[str | BulletinFormat]) -> list[BulletinFormat]:
    """Returns the distinct formats named (xlsx, html, pdf) in order; Invalid for an unknown one or none."""
    formats: list[BulletinFormat] = []
    for value in values:
        try:
            fmt = BulletinFormat(str(value).strip().lower())
        except ValueError:
            raise Invalid(
                f"unknown bulletin format {value!r}: use {', '.join(BulletinFormat)}", field="formats"
            ) from None
        if fmt not in formats:
            formats.append(fmt)
    if not formats:
        raise Invalid("name at least one format: xlsx, html or pdf", field="formats")
    return formats


def file_name(data: BulletinData, fmt: BulletinFormat) -> str:
    """Returns the download name of a bulletin file: bulletin-2026-11-street.xlsx, ...-community-410105001.pdf,
    ...-campaign-<code>.html (a street's: ...-campaign-<code>-410105001.html)."""
    if data.campaign:
        scope = f"campaign-{data.campaign}" + (f"-{data.scope_code}" if data.scope_code else "")
    else:
        scope = f"{data.level}-{data.scope_code}" if data.scope_code else str(data.level)
    return re.sub(r"[^\w.-]+", "-", f"bulletin-{data.period.label}-{scope}") + f".{fmt}"


def render(data: BulletinData, formats: Sequence[BulletinFormat]) -> list[RenderedFile]:
    """Writes the bulletin in each format (the HTML is rendered once and reused for the PDF)."""
    files, html = [], None
    for fmt in formats:
        if fmt == BulletinFormat.xlsx:
            content = to_xlsx(data)
        else:
            html = html if html is not None else to_html(data)
            content = html.encode("utf-8") if fmt == BulletinFormat.html else html_to_pdf(html)
        files.append(RenderedFile(fmt, file_name(data, fmt), CONTENT_TYPES[fmt], content))
    return files


def store(
    *,
    db: Session,
    period_label: str,
    scope: str,
    files: Sequence[RenderedFile],
    actor: Actor | None,
    campaign_id: int | None = None,
) -> list[Bulletin]:
    """Stores rendered files, one row per period, scope and format, replacing the row of the same key."""
    return [row for row, _new in _put(db, period_label, scope, files, actor, campaign_id, replace=True)]


def insert_missing(
    *, db: Session, period_label: str, scope: str, files: Sequence[RenderedFile], actor: Actor | None = None
) -> list[Bulletin]:
    """Stores the files whose key is not stored yet and returns those rows; a stored one is left as it is."""
    return [row for row, new in _put(db, period_label, scope, files, actor, None, replace=False) if new]


def _put(
    db: Session,
    period_label: str,
    scope: str,
    files: Sequence[RenderedFile],
    actor: Actor | None,
    campaign_id: int | None,
    *,
    replace: bool,
) -> list[tuple[Bulletin, bool]]:
    # NOTE: each insert runs in a savepoint: a concurrent insert of the same key (another worker) is met by
    # updating that row (`replace`) or by leaving it (the scheduled job), never by failing the transaction.
    out: list[tuple[Bulletin, bool]] = []
    for rendered in files:
        values = {
            "filename": rendered.filename,
            "content_type": rendered.content_type,
            "sha256": hashlib.sha256(rendered.data).hexdigest(),
            "size_bytes": len(rendered.data),
            "data": rendered.data,
            "campaign_id": campaign_id,
            "generated_by_user_id": actor.user_id if actor is not None else None,
        }
        key = {"period": period_label, "scope": scope, "format": rendered.format}
        row = db.scalars(select(Bulletin).filter_by(**key)).one_or_none()
        new = False
        if row is None:
            try:
                with db.begin_nested():
                    row = Bulletin(**key, **values)
                    db.add(row)
                new = True
            except IntegrityError:
                row = db.scalars(select(Bulletin).filter_by(**key)).one()
        if not new and replace:
            for name, value in values.items():
                setattr(row, name, value)
        out.append((row, new))
    db.flush()
    return out


@dataclass(frozen=True)
class Written:
    """A bulletin built and written in its formats, not yet stored (see `write` and `save`)."""

    data: BulletinData
    scope: str
    files: list[RenderedFile]
    campaign_id: int | None


def write(
    *,
    db: Session,
    period: Period,
    level: Dimension | str,
    formats: Sequence[BulletinFormat | str],
    actor: Actor | None,
    scope_path: str | None = None,
    campaign: Campaign | None = None,
    engine: str | None = None,
) -> Written:
    """Builds a bulletin and writes it in `formats` (reads only: run it in a read transaction, then `save`)."""
    chosen = parse_formats(formats)
    if BulletinFormat.pdf in chosen:
        _chromium()  # NOTE: refuse before the (long) build when the PDF cannot be printed anyway
    data = build(
        db=db,
        period=period,
        level=parse_level(level),
        scope_path=scope_path,
        campaign=campaign,
        engine=engine,
        generated_by=actor.name if actor is not None else "系统（定时生成）",
    )
    scope = scope_key(data.level, scope_area(db=db, scope_path=scope_path), campaign)
    return Written(
        data=data,
        scope=scope,
        files=render(data, chosen),
        campaign_id=campaign.id if campaign is not None else None,
    )


def write_campaign(
    *,
    db: Session,
    code: str,
    actor: Actor,
    formats: Sequence[BulletinFormat | str],
    period: str | None = None,
    level: Dimension | str = Dimension.street,
    engine: str | None = None,
    now: dt.datetime | None = None,
) -> Written:
    """Builds and writes a campaign's bulletin (专项督查通报): its cases in the actor's district or street, over
    `period` as written or, by default, the campaign's own dates (`campaigns.counted_dates`). Reads only: `save` it.
    """
    area = bulletin_scope(db=db, actor=actor)
    campaign = campaigns.get_by_code(db=db, code=code)
    chosen = parse_period(period if period else campaigns.counted_dates(campaign=campaign, now=now))
    return write(
        db=db,
        period=chosen,
        level=level,
        formats=formats,
        actor=actor,
        scope_path=area.path if area is not None else None,
        campaign=campaign,
        engine=engine,
    )


def save(*, db: Session, written: Written, actor: Actor | None, source_address: str | None = None) -> list[Bulletin]:
    """Stores written files (replacing the rows of the same period, scope and format) and audits it."""
    rows = store(
        db=db,
        period_label=written.data.period.label,
        scope=written.scope,
        files=written.files,
        actor=actor,
        campaign_id=written.campaign_id,
    )
    auth_service.write_audit(
        db=db,
        actor=actor,
        action="bulletin.generate",
        target_type="evaluation_bulletin",
        target_id=",".join(str(row.id) for row in rows),
        source_address=source_address,
        detail={
            "period": written.data.period.label,
            "scope": written.scope,
            "formats": [str(f.format) for f in written.files],
            "has_data": written.data.has_data,
        },
    )
    return rows


def generate(
    *,
    db: Session,
    period: Period,
    level: Dimension | str,
    formats: Sequence[BulletinFormat | str],
    actor: Actor | None,
    scope_path: str | None = None,
    campaign: Campaign | None = None,
    engine: str | None = None,
    source_address: str | None = None,
) -> list[Bulletin]:
    """Builds, writes, stores (replacing the files of the same key) and audits a bulletin, in one transaction."""
    written = write(
        db=db,
        period=period,
        level=level,
        formats=formats,
        actor=actor,
        scope_path=scope_path,
        campaign=campaign,
        engine=engine,
    )
    return save(db=db, written=written, actor=actor, source_address=source_address)


def visible_scopes(*, db: Session, actor: Actor) -> str | None:
    """Returns the scope suffix ("@<street code>") of the bulletins an actor may read, None for all of them."""
    area = bulletin_scope(db=db, actor=actor)
    return None if area is None else f"@{area.code}"


def list_bulletins(*, db: Session, actor: Actor, period: str | None = None, limit: int = 200) -> list[Bulletin]:
    """Returns the stored bulletins the actor may read (district users: all; street users: their street's)."""
    suffix = visible_scopes(db=db, actor=actor)
    stmt = select(Bulletin).order_by(Bulletin.period.desc(), Bulletin.scope, Bulletin.format)
    if suffix is not None:
        stmt = stmt.where(Bulletin.scope.endswith(suffix, autoescape=True))
    if period:
        stmt = stmt.where(Bulletin.period == period)
    return list(db.scalars(stmt.limit(limit)))


def get_bulletin(*, db: Session, actor: Actor, bulletin_id: int) -> Bulletin:
    """Returns one stored bulletin the actor may read; NotFoundError (404) otherwise."""
    from gridgov.core.errors import NotFoundError

    suffix = visible_scopes(db=db, actor=actor)
    row = db.get(Bulletin, bulletin_id)
    if row is None or (suffix is not None and not row.scope.endswith(suffix)):
        raise NotFoundError(f"bulletin {bulletin_id} not found")
    return row
