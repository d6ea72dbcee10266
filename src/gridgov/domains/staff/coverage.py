"""Household visit coverage (走访覆盖率) per grid, community or street over a period, computed from the visits
workers logged and the cases their findings became — nothing else.

There is no check-in, no location ping and no online time here, on purpose (DOMAIN.md §3, 防治"指尖上的形式主义"):
a visit counts because it was logged with what was found. Coverage is the households visited at least once in
the period over the households of the area (`Area.households`). A household is its register id when the visit
names one, otherwise the worker's reference (building, unit, room) within the grid, compared without case or
spacing differences.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core.errors import Invalid
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.models import User
from gridgov.domains.cases.enums import CaseStage
from gridgov.domains.cases.models import Case
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.intake.models import HouseholdVisit

LEVELS = (AreaLevel.grid, AreaLevel.community, AreaLevel.street)
_CHUNK = 900  # ids per IN (...) list, below SQLite's old limit of 999 parameters

HouseholdKey = tuple[str, int] | tuple[str, int, str]


@dataclass
class CoverageRow:
    """An area's visits over the period: households visited against its households, visits, workers, findings
    and the cases made from them."""

    code: str
    name: str
    level: AreaLevel
    households: int | None
    visited: set[HouseholdKey] = field(default_factory=set)
    workers: set[int] = field(default_factory=set)
    visits: int = 0
    findings: int = 0
    cases: int = 0
    cases_closed: int = 0

    @property
    def households_visited(self) -> int:
        return len(self.visited)

    @property
    def coverage(self) -> float | None:
        """Households visited / households (None without a household figure)."""
        return self.households_visited / self.households if self.households else None

    @property
    def visits_per_worker(self) -> float | None:
        """Visits per worker who logged visits here (None without visits)."""
        return self.visits / len(self.workers) if self.workers else None


@dataclass
class WorkerRow:
    """One worker's visits in the period."""

    user_id: int
    name: str
    visits: int = 0
    visited: set[HouseholdKey] = field(default_factory=set)
    findings: int = 0
    cases: int = 0


@dataclass
class Coverage:
    """Coverage of every area of a level in a scope, their total, and (optionally) each worker's visits."""

    period: Period
    level: AreaLevel
    rows: list[CoverageRow]
    total: CoverageRow
    workers: list[WorkerRow]


def check_level(level: AreaLevel | str) -> AreaLevel:
    """Returns a coverage level (grid, community or street), or raises Invalid."""
    try:
        found = AreaLevel(level)
    except ValueError:
        found = None
    if found not in LEVELS:
        raise Invalid(f"coverage is by grid, community or street, not {level!r}", code="bad_level", field="level")
    return found


def household_key(visit_grid_id: int, household_id: int | None, household_ref: str) -> HouseholdKey:
    """Returns what identifies a visited household: the register id, else the reference within its grid."""
    if household_id is not None:
        return ("id", household_id)
    return ("ref", visit_grid_id, " ".join(household_ref.split()).casefold())


def _closed(db: Session, case_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(case_ids))
    closed: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        closed.update(db.scalars(select(Case.id).where(Case.id.in_(chunk), Case.stage == CaseStage.closed)))
    return closed


def coverage(
    *,
    db: Session,
    period: Period,
    level: AreaLevel | str = AreaLevel.grid,
    scope_path: str | None = None,
    with_workers: bool = False,
) -> Coverage:
    """Returns the visit coverage of every area of `level` within `scope_path` over `period` (areas in path order,
    quiet ones too), their total over the scope, and each visiting worker's figures with `with_workers`."""
    level = check_level(level)
    depth = level.depth
    stmt = select(Area.code, Area.name, Area.households).where(Area.level == level)
    if scope_path:
        stmt = stmt.where(Area.path.startswith(scope_path, autoescape=True))
    rows = {
        code: CoverageRow(code=code, name=name, level=level, households=households)
        for code, name, households in db.execute(stmt.order_by(Area.path))
    }
    total = _total_row(db, scope_path, level, rows.values())
    visits = select(
        HouseholdVisit.grid_id,
        HouseholdVisit.area_path,
        HouseholdVisit.household_id,
        HouseholdVisit.household_ref,
        HouseholdVisit.worker_user_id,
        HouseholdVisit.findings,
        HouseholdVisit.case_ids,
    ).where(HouseholdVisit.visited_at >= period.start, HouseholdVisit.visited_at < period.end)
    if scope_path:
        visits = visits.where(HouseholdVisit.area_path.startswith(scope_path, autoescape=True))
    workers: dict[int, WorkerRow] = {}
    made: list[tuple[list[CoverageRow], list[int]]] = []
    for grid_id, path, household_id, household_ref, worker_id, findings, case_ids in db.execute(visits):
        codes = [c for c in path.strip("/").split("/") if c]
        row = rows.get(codes[depth]) if len(codes) > depth else None
        key = household_key(grid_id, household_id, household_ref)
        found = len(findings or [])
        cases = [int(c) for c in case_ids or []]
        targets = [r for r in (row, total) if r is not None]
        for target in targets:
            target.visited.add(key)
            target.workers.add(worker_id)
            target.visits += 1
            target.findings += found
            target.cases += len(cases)
        made.append((targets, cases))
        if with_workers:
            worker = workers.setdefault(worker_id, WorkerRow(user_id=worker_id, name=""))
            worker.visits += 1
            worker.visited.add(key)
            worker.findings += found
            worker.cases += len(cases)
    closed = _closed(db, (c for _, cases in made for c in cases))
    for targets, cases in made:
        done = sum(1 for c in cases if c in closed)
        for target in targets:
            target.cases_closed += done
    if workers:
        names: dict[int, str] = dict(
            db.execute(select(User.id, User.display_name).where(User.id.in_(list(workers)))).all()  # type: ignore[arg-type]
        )
        for worker in workers.values():
            worker.name = names.get(worker.user_id, f"#{worker.user_id}")
    return Coverage(
        period=period,
        level=level,
        rows=list(rows.values()),
        total=total,
        workers=sorted(workers.values(), key=lambda w: (w.name, w.user_id)),
    )


def _total_row(db: Session, scope_path: str | None, level: AreaLevel, rows: Iterable[CoverageRow]) -> CoverageRow:
    """The total over the scope: the scope area's own households when known, else the sum over the rows."""
    listed = [r.households for r in rows if r.households]
    summed = sum(listed) if listed else None
    if scope_path:
        code = scope_path.strip("/").split("/")[-1]
        scope = db.execute(select(Area.code, Area.name, Area.level, Area.households).where(Area.code == code)).first()
        if scope is not None:
            households = scope.households if scope.households else summed
            return CoverageRow(code=scope.code, name=scope.name, level=scope.level, households=households)
    return CoverageRow(code="", name="", level=level, households=summed)
