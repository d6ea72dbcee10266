"""Rankings (排名): indicator values and scores per key, the composite score, the minimum-sample rule, ties and
the change against the previous period; and the staffing report (社区工作者配备).

`rank` computes the base counts of a period (engine.compute) and hands them to `rank_table`, which is pure:
it takes a CountTable and the indicator definitions, so it is tested on hand-made tables.

The rules, in order:
1. Each active indicator of the object (areas, departments, posts) gets its value on the key's counts.
2. An indicator whose own `sample` count is below its `min_sample` is shown but not scored.
3. The composite is Σ weight·score / Σ weight over the scored indicators that have a score.
4. The key's sample is the sample count of its lead indicator: the heaviest scored indicator that has a value.
   Below that indicator's min_sample the key is listed, with its values, but not ranked (样本不足).
5. Ranked keys are ordered by composite, descending; equal composites share a rank (1, 2, 2, 4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core.errors import Invalid
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.evaluation import engine as counts_engine
from gridgov.domains.evaluation import indicators as indicator_defs
from gridgov.domains.evaluation.counts import AREA_ATTRIBUTES, CountTable
from gridgov.domains.evaluation.enums import Dimension, EvaluationObject
from gridgov.domains.evaluation.indicators import IndicatorDef
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.staff import service as staff_service

# Counts that describe a key rather than happen in a period: a table with nothing else holds no data.
STATIC_COUNTS = frozenset(AREA_ATTRIBUTES)
AREA_DIMENSIONS = frozenset(d for d, o in indicator_defs.OBJECT_OF.items() if o is EvaluationObject.area)
_TIE_DIGITS = 6  # composites equal to this many decimals are a tie (float noise is not a difference)


@dataclass
class RankRow:
    """One key of a ranking: its indicator values and scores, composite, rank and change."""

    key: str
    label: str
    values: dict[str, float | None]
    scores: dict[str, float | None]
    composite: float | None
    rank: int | None
    ranked: bool  # False: listed, not ranked (no composite, or the sample is below the minimum: 样本不足)
    sample: int  # the sample count of the lead indicator (0 when no scored indicator has a value)
    previous_composite: float | None = None
    change: float | None = None  # composite − previous composite
    previous_rank: int | None = None
    rank_change: int | None = None  # previous rank − rank: positive = moved up
    min_sample: int = 0  # the lead indicator's minimum sample
    short: list[str] = field(default_factory=list)  # indicators shown but not scored: below their own min_sample
    counts: dict[str, int | float] = field(default_factory=dict)  # the key's base counts


@dataclass
class Ranking:
    """A ranking of one period and dimension: the indicators used and one row per key, ranked ones first."""

    period: Period
    dimension: Dimension
    indicators: list[IndicatorDef]
    rows: list[RankRow]
    object: EvaluationObject | None = None
    previous_period: Period | None = None
    scope_path: str | None = None

    @property
    def ranked(self) -> list[RankRow]:
        return [row for row in self.rows if row.ranked]

    @property
    def not_ranked(self) -> list[RankRow]:
        return [row for row in self.rows if not row.ranked]

    @property
    def is_empty(self) -> bool:
        return not self.rows


def object_for(dimension: Dimension | str) -> EvaluationObject:
    """Returns the evaluation object a dimension ranks; Invalid for dimensions that are not ranked."""
    found = indicator_defs.object_of(Dimension(dimension))
    if found is None:
        ranked = ", ".join(str(d) for d in indicator_defs.OBJECT_OF)
        raise Invalid(
            f"dimension {dimension} is not ranked: rankings are by {ranked}; see the counts for {dimension}",
            code="not_ranked",
        )
    return found


def row_counts(table: CountTable, key: str) -> dict[str, int | float]:
    """Returns a key's counts with its residents and staff (areas) filled in from the table."""
    counts = dict(table.rows.get(key, {}))
    if table.dimension in AREA_DIMENSIONS:
        for name in AREA_ATTRIBUTES:
            if name not in counts:
                counts[name] = table.get(key, name) or 0
    return counts


def _has_data(table: CountTable) -> bool:
    return any(value for row in table.rows.values() for name, value in row.items() if name not in STATIC_COUNTS)


def _rows_of(matrix: np.ndarray) -> list[list[float | None]]:
    """Returns a (definitions × keys) float matrix as one list per key, NaN as None."""
    cells = matrix.T.astype(object)
    cells[np.isnan(matrix.T)] = None
    return cells.tolist()


def _score_rows(
    keys: Sequence[str],
    labels: Sequence[str],
    counts: Sequence[Mapping[str, int | float]],
    definitions: Sequence[IndicatorDef],
) -> list[RankRow]:
    """Scores every key: values, points, composite and lead sample column by column (numpy), then one RankRow per
    key — a city's 50,000 grids rank in about a second."""
    size = len(keys)
    names = {name for d in definitions for name in d.compiled.counts} | {d.sample for d in definitions if d.sample}
    columns = {name: np.fromiter((c.get(name, 0) or 0 for c in counts), float, count=size) for name in names}
    values = np.empty((len(definitions), size))
    points = np.empty((len(definitions), size))
    short = np.zeros((len(definitions), size), dtype=bool)
    for n, d in enumerate(definitions):
        values[n] = indicator_defs.evaluate_columns(d, columns, size)
        points[n] = indicator_defs.score_columns(d, values[n])
        if d.sample:
            short[n] = (columns[d.sample] < d.min_sample) & ~np.isnan(values[n])
            points[n][short[n]] = np.nan  # shown, not scored
    weighted = np.zeros(size)
    weights = np.zeros(size)
    sample = np.zeros(size)
    min_sample = np.zeros(size)
    has_lead = np.zeros(size, dtype=bool)
    # NOTE: the lead is the heaviest scored indicator with a value (the first listed among equal weights).
    order = sorted((n for n, d in enumerate(definitions) if d.scored), key=lambda n: (-definitions[n].weight, n))
    for n in order:
        d = definitions[n]
        scored = ~np.isnan(points[n])
        weighted += np.where(scored, d.weight * np.nan_to_num(points[n]), 0.0)
        weights += np.where(scored, d.weight, 0.0)
        lead = ~has_lead & ~np.isnan(values[n])
        if d.sample:
            sample[lead] = columns[d.sample][lead]
            min_sample[lead] = d.min_sample
        has_lead |= lead
    with np.errstate(invalid="ignore", divide="ignore"):
        composite = np.where(weights > 0, weighted / np.where(weights > 0, weights, 1.0), np.nan)
    ranked = (~np.isnan(composite) & has_lead & (sample >= min_sample)).tolist()
    codes = [d.code for d in definitions]
    value_rows, point_rows = _rows_of(values), _rows_of(points)
    composites = _rows_of(composite[np.newaxis, :])
    short_codes: list[list[str]] = [[] for _ in range(size)]
    for n, i in zip(*np.nonzero(short), strict=True):  # rows first, so codes keep the definitions' order
        short_codes[i].append(codes[n])
    samples, minimums = sample.astype(int).tolist(), min_sample.astype(int).tolist()
    return [
        RankRow(
            key=keys[i],
            label=labels[i],
            values=dict(zip(codes, value_rows[i], strict=True)),
            scores=dict(zip(codes, point_rows[i], strict=True)),
            composite=composites[i][0],
            rank=None,
            ranked=ranked[i],
            sample=samples[i],
            min_sample=minimums[i],
            short=short_codes[i],
            counts=dict(counts[i]),
        )
        for i in range(size)
    ]


def _tie_key(composite: float) -> float:
    return round(composite, _TIE_DIGITS)


def _assign_ranks(rows: list[RankRow]) -> list[RankRow]:
    """Orders rows (ranked by composite, then the rest) and gives equal composites the same rank."""
    ranked = sorted((r for r in rows if r.ranked), key=lambda r: (-_tie_key(r.composite or 0.0), r.label, r.key))
    previous_key: float | None = None
    current = 0
    for position, row in enumerate(ranked, start=1):
        key = _tie_key(row.composite or 0.0)
        if key != previous_key:
            current = position
            previous_key = key
        row.rank = current
    others = sorted(
        (r for r in rows if not r.ranked),
        key=lambda r: (r.composite is None, -(r.composite or 0.0), r.label, r.key),
    )
    return ranked + others


def rank_table(
    table: CountTable,
    definitions: Sequence[IndicatorDef],
    *,
    previous: CountTable | None = None,
    obj: EvaluationObject | None = None,
) -> Ranking:
    """Ranks the keys of a count table on `definitions` (the active ones of one object are used), with the
    change against `previous` (the previous period's table), when given. A table without data ranks nobody."""
    used = [d for d in definitions if d.is_active and (obj is None or obj in d.objects)]
    used.sort(key=lambda d: (d.position, d.code))
    rows: list[RankRow] = []
    if _has_data(table):
        # NOTE: every key of the table, quiet areas too: they are listed (not ranked) rather than left out.
        keys = table.keys()
        rows = _assign_ranks(
            _score_rows(keys, [table.label(k) for k in keys], [row_counts(table, k) for k in keys], used)
        )
    previous_period: Period | None = None
    if previous is not None:
        previous_period = previous.period
        before = rank_table(previous, used, obj=obj) if _has_data(previous) else None
        by_key = {row.key: row for row in before.rows} if before else {}
        for row in rows:
            old = by_key.get(row.key)
            if old is None:
                continue
            row.previous_composite = old.composite
            row.previous_rank = old.rank
            if row.composite is not None and old.composite is not None:
                row.change = row.composite - old.composite
            if row.rank is not None and old.rank is not None:
                row.rank_change = old.rank - row.rank
    return Ranking(
        period=table.period,
        dimension=table.dimension,
        indicators=used,
        rows=rows,
        object=obj,
        previous_period=previous_period,
    )


def rank(
    *,
    db: Session,
    period: Period,
    dimension: Dimension,
    scope_path: str | None = None,
    engine: str | None = None,
    matter_type_codes: Sequence[str] = (),
    case_ids: Sequence[int] | None = None,
    definitions: Sequence[IndicatorDef] | None = None,
    compare: bool = True,
) -> Ranking:
    """Ranks the areas, units or people of `dimension` over `period` on the active indicators of their object,
    with the change against the previous period (unless `compare` is False). No data: an empty ranking."""
    dimension = Dimension(dimension)
    obj = object_for(dimension)
    if definitions is None:
        definitions = indicator_defs.list_definitions(db=db, obj=obj, active_only=True)
    options = {
        "engine": engine,
        "scope_path": scope_path,
        "matter_type_codes": matter_type_codes,
        "case_ids": case_ids,
    }
    table = counts_engine.compute(db=db, period=period, dimension=dimension, **options)
    previous = (
        counts_engine.compute(db=db, period=period.previous(), dimension=dimension, **options) if compare else None
    )
    ranking = rank_table(table, definitions, previous=previous, obj=obj)
    ranking.scope_path = scope_path
    return ranking


# --- staffing (社区工作者配备率) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffingRow:
    """One area's staffing: community workers against the standard per 10,000 residents."""

    area: Area
    staff: int  # community workers in the area or below (staff.service.community_worker_counts)
    population: int | None
    per_10k: float | None  # None: no population figure
    standard: float  # workers per 10,000 residents (settings.staffing_standard_per_10k)
    short_by: int  # workers missing to reach the standard (0: at or above it)

    @property
    def below_standard(self) -> bool:
        return self.short_by > 0


def staffing(
    *,
    db: Session,
    level: AreaLevel | str = AreaLevel.community,
    scope_path: str | None = None,
    standard: float | None = None,
) -> list[StaffingRow]:
    """Returns every area of `level` (within `scope_path`) with its community workers per 10,000 residents and
    how many it lacks against the standard; the least staffed first, areas without population last."""
    level = AreaLevel(level)
    standard = get_settings().staffing_standard_per_10k if standard is None else standard
    areas_stmt = select(Area).where(Area.level == level)
    if scope_path:
        areas_stmt = areas_stmt.where(Area.path.startswith(scope_path, autoescape=True))
    areas = list(db.scalars(areas_stmt.order_by(Area.path)))
    # NOTE: the staff register counts the community workers (one computation for every staffing figure).
    per_code = staff_service.community_worker_counts(db=db, scope_path=scope_path)
    rows = []
    for area in areas:
        staff = per_code.get(area.code, 0)
        population = area.population
        if population:
            per_10k = staff / population * 10000
            short_by = max(0, math.ceil(standard * population / 10000 - 1e-9) - staff)
        else:
            per_10k, short_by = None, 0
        rows.append(
            StaffingRow(
                area=area, staff=staff, population=population, per_10k=per_10k, standard=standard, short_by=short_by
            )
        )
    rows.sort(key=lambda r: (r.per_10k is None, r.per_10k if r.per_10k is not None else 0.0, r.area.path))
    return rows
