"""Point → grid lookup (属地定位): an in-memory index over every grid, with its community, street and district.

Rules, also in docs/areas.md:
- A point on a grid's boundary belongs to that grid (shapely "intersects"). A point on a boundary shared by several
  grids, or inside grids that overlap, belongs to the one with the smallest code (plain string order, which for
  equal-length statistical codes is numeric order). Single and bulk lookups apply the same rule.
- A point in no grid is "outside"; `locate` then names the nearest grid and its geodesic distance in metres.
- `get_index` caches one index per database. It is rebuilt after a commit that wrote areas in this process
  (`invalidate`) and when a stamp of the area table (row count, id sum, newest id and update time of every
  non-building area) changes, so imports by other processes are seen too. A session with uncommitted area writes
  gets an index of its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, LargeBinary, event, func, select, type_coerce
from sqlalchemy.orm import Session

from gridgov.core.errors import InputError, Issue
from gridgov.core.geo import Crs, distance_m, to_wgs84
from gridgov.domains.areas import schemas
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.areas.schemas import Coordinates, LocateResult

Status = Literal["inside", "outside", "empty"]
UPPER_LEVELS = (AreaLevel.community, AreaLevel.street, AreaLevel.district)

# Raster size: at least 64 cells per grid, at least two million for a district of 500 grids or more (a
# finer raster leaves fewer points for the exact test), at most 4 million cells (16 MB).
RASTER_CELLS_PER_GRID = 64
RASTER_MIN_CELLS = 2_000_000
RASTER_MAX_CELLS = 4_000_000
# Another process's area import is noticed within this many seconds (this process's own writes at once).
STAMP_INTERVAL_S = 2.0


@dataclass(frozen=True, slots=True)
class AreaRef:
    """A small reference to an area held by the index."""

    id: int
    code: str
    name: str
    level: AreaLevel


@dataclass(frozen=True, slots=True)
class Located:
    """The answer of a lookup: the grid a WGS84 point is in, with its community, street and district."""

    status: Status
    lng: float
    lat: float
    grid: AreaRef | None = None
    community: AreaRef | None = None
    street: AreaRef | None = None
    district: AreaRef | None = None
    nearest: AreaRef | None = None
    distance_m: float | None = None

    @property
    def path(self) -> str | None:
        """The grid's area path ("/district/street/community/grid/"), as the area tree stores it."""
        if self.grid is None:
            return None
        chain = [ref.code for ref in (self.district, self.street, self.community, self.grid) if ref is not None]
        return "/" + "/".join(chain) + "/"


@dataclass(frozen=True)
class _Raster:
    """A uniform raster over the grids: each cell holds the grid position of every point in it, -1 for none, or
    -2 when a grid boundary crosses the cell and its points need the exact test."""

    min_x: float
    min_y: float
    inv_cell: float
    nx: int
    ny: int
    owner: NDArray[np.int32]


class GridIndex:
    """Every grid's boundary in an STRtree, ordered by code, with the grid's community, street and district."""

    def __init__(
        self,
        grids: list[AreaRef],
        geometries: list[BaseGeometry],
        uppers: list[dict[AreaLevel, AreaRef | None]],
    ) -> None:
        order = sorted(range(len(grids)), key=lambda i: grids[i].code)
        self.grids: list[AreaRef] = [grids[i] for i in order]
        self.geometries: NDArray[np.object_] = np.array([geometries[i] for i in order], dtype=object)
        self._uppers = [uppers[i] for i in order]
        self._tree = shapely.STRtree(self.geometries)
        shapely.prepare(self.geometries)
        self._codes: dict[AreaLevel, NDArray[np.object_]] = {}
        self._ids: dict[AreaLevel, NDArray[np.int64]] = {}
        for level in (AreaLevel.grid, *UPPER_LEVELS):
            refs = self.grids if level is AreaLevel.grid else [upper[level] for upper in self._uppers]
            # NOTE: one extra slot at the end, so that position -1 (outside) maps to None / -1 by plain indexing.
            self._codes[level] = np.array([ref.code if ref else None for ref in refs] + [None], dtype=object)
            self._ids[level] = np.array([ref.id if ref else -1 for ref in refs] + [-1], dtype=np.int64)
        # NOTE: built with the index, not on first use, so that no bulk lookup pays for it (1-3 s at 50,000 grids).
        self._raster = _build_raster(self.geometries, self._tree) if self.grids else None

    def __len__(self) -> int:
        return len(self.grids)

    def locate(self, lng: float, lat: float) -> Located:
        """Returns the grid containing the WGS84 point, or the nearest grid and its distance when it is in none."""
        lng, lat = float(lng), float(lat)
        if not (math.isfinite(lng) and math.isfinite(lat)):
            raise ValueError(f"coordinates must be finite numbers, got ({lng}, {lat})")
        if not self.grids:
            return Located(status="empty", lng=lng, lat=lat)
        hits = self._tree.query(shapely.Point(lng, lat), predicate="intersects")
        if hits.size:
            position = int(hits.min())
            upper = self._uppers[position]
            return Located(
                status="inside",
                lng=lng,
                lat=lat,
                grid=self.grids[position],
                community=upper[AreaLevel.community],
                street=upper[AreaLevel.street],
                district=upper[AreaLevel.district],
            )
        position, distance = self.nearest(lng, lat)
        return Located(status="outside", lng=lng, lat=lat, nearest=self.grids[position], distance_m=distance)

    def nearest(self, lng: float, lat: float) -> tuple[int, float]:
        """Returns the position of the grid nearest to the WGS84 point and the geodesic distance to it in metres."""
        if not self.grids:
            raise LookupError("the index holds no grids")
        point = shapely.Point(lng, lat)
        first = self._tree.query_nearest(point)
        nearest_degrees = float(shapely.distance(point, self.geometries[first[0]]))
        # NOTE: a degree of longitude is shorter than a degree of latitude, so the nearest grid in degrees may not be
        # the nearest in metres; every grid that could be nearer lies within this wider radius (in degrees).
        cos_lat = max(math.cos(math.radians(lat)), 0.01)
        candidates = self._tree.query(point, predicate="dwithin", distance=nearest_degrees / cos_lat * 1.000001)
        candidates = np.sort(candidates) if candidates.size else first

        def to_local(xy: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.column_stack(((xy[:, 0] - lng) * cos_lat, xy[:, 1] - lat))

        local = shapely.transform(self.geometries[candidates], to_local)
        origin = shapely.Point(0.0, 0.0)
        best = int(np.argmin(shapely.distance(origin, local)))  # first minimum = smallest code on a tie
        near_x, near_y = shapely.get_coordinates(shapely.shortest_line(origin, local[best]))[1]
        return int(candidates[best]), distance_m(lng, lat, lng + near_x / cos_lat, lat + near_y)

    def locate_many(self, lngs: ArrayLike, lats: ArrayLike, crs: Crs | str = Crs.wgs84) -> NDArray[np.int64]:
        """Returns, for each point, the position of its grid in this index, or -1 when it is in no grid."""
        x = np.asarray(lngs, dtype=float).ravel()
        y = np.asarray(lats, dtype=float).ravel()
        if x.shape != y.shape:
            raise ValueError(f"{x.size} longitudes but {y.size} latitudes")
        if Crs(crs) is not Crs.wgs84:
            x, y = to_wgs84(x, y, crs)
        out = np.full(x.size, -1, dtype=np.int64)
        if not self.grids or not x.size:
            return out
        finite = np.isfinite(x) & np.isfinite(y)
        raster = self._raster
        if raster is None:
            pending = np.flatnonzero(finite)
        else:
            ix = np.floor((np.where(finite, x, np.inf) - raster.min_x) * raster.inv_cell)
            iy = np.floor((np.where(finite, y, np.inf) - raster.min_y) * raster.inv_cell)
            on_raster = (ix >= 0) & (ix < raster.nx) & (iy >= 0) & (iy < raster.ny)
            cells = np.flatnonzero(on_raster)
            owners = raster.owner[iy[cells].astype(np.int64) * raster.nx + ix[cells].astype(np.int64)]
            out[cells] = owners
            pending = cells[owners == -2]
            out[pending] = -1
        if pending.size:
            inputs, positions = self._tree.query(shapely.points(x[pending], y[pending]), predicate="intersects")
            inputs, positions = _smallest_per_input(inputs, positions)
            out[pending[inputs]] = positions
        return out

    def codes_of(self, positions: ArrayLike, level: AreaLevel = AreaLevel.grid) -> NDArray[np.object_]:
        """Returns the codes at `level` (grid, community, street, district) for positions; None where -1."""
        return self._codes[AreaLevel(level)][np.asarray(positions, dtype=np.int64)]

    def ids_of(self, positions: ArrayLike, level: AreaLevel = AreaLevel.grid) -> NDArray[np.int64]:
        """Returns the area ids at `level` for positions from `locate_many`; -1 where -1."""
        return self._ids[AreaLevel(level)][np.asarray(positions, dtype=np.int64)]

    def refs_at(self, position: int) -> dict[AreaLevel, AreaRef | None]:
        """Returns the grid at `position` and its community, street and district."""
        return {AreaLevel.grid: self.grids[position], **self._uppers[position]}


def _smallest_per_input(
    inputs: NDArray[np.int64], positions: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Keeps, for each input of an STRtree query result, only its smallest tree position (the tie rule)."""
    if inputs.size < 2 or bool(np.all(inputs[1:] > inputs[:-1])):
        return inputs, positions
    order = np.lexsort((positions, inputs))
    inputs, positions = inputs[order], positions[order]
    first = np.ones(inputs.size, dtype=bool)
    first[1:] = inputs[1:] != inputs[:-1]
    return inputs[first], positions[first]


def _build_raster(geometries: NDArray[np.object_], tree: shapely.STRtree) -> _Raster | None:
    """Builds the bulk-lookup raster: cells that no grid boundary touches get their grid from one exact query.

    A cell that no boundary touches is inside the same grids everywhere, so its answer is the answer for any point
    in it. Boundaries are marked by cutting every edge into pieces shorter than half a cell and marking the cells
    of each piece's bounding box, widened by a millionth of a cell against rounding. Runs of unmarked cells along a
    row are connected and boundary-free, so one query per run suffices.
    """
    min_x, min_y, max_x, max_y = shapely.total_bounds(geometries)
    width, height = max_x - min_x, max_y - min_y
    if not (width > 0 and height > 0):
        return None
    n = len(geometries)
    cells = min(RASTER_MAX_CELLS, max(RASTER_CELLS_PER_GRID * n, min(RASTER_MIN_CELLS, 4096 * n)))
    cell = math.sqrt(width * height / cells)
    nx, ny = int(width / cell) + 1, int(height / cell) + 1
    inv_cell = 1.0 / cell

    coords, ring = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(geometries)), return_index=True)
    fx, fy = (coords[:, 0] - min_x) * inv_cell, (coords[:, 1] - min_y) * inv_cell
    same_ring = ring[1:] == ring[:-1]
    ax, ay = fx[:-1][same_ring], fy[:-1][same_ring]
    ex, ey = fx[1:][same_ring] - ax, fy[1:][same_ring] - ay
    pieces = np.maximum(1, np.ceil(np.maximum(np.abs(ex), np.abs(ey)) * 2.2)).astype(np.int64)
    edge = np.repeat(np.arange(pieces.size), pieces + 1)
    step = np.arange(edge.size) - np.repeat(np.cumsum(pieces + 1) - (pieces + 1), pieces + 1)
    t = step / pieces[edge]
    px, py = ax[edge] + ex[edge] * t, ay[edge] + ey[edge] * t
    inner = step[1:] != 0  # consecutive points of the same edge
    x1, x2, y1, y2 = px[:-1][inner], px[1:][inner], py[:-1][inner], py[1:][inner]
    pad = 1e-6
    lo_x = np.clip(np.floor(np.minimum(x1, x2) - pad), 0, nx - 1).astype(np.int64)
    hi_x = np.clip(np.floor(np.maximum(x1, x2) + pad), 0, nx - 1).astype(np.int64)
    lo_y = np.clip(np.floor(np.minimum(y1, y2) - pad), 0, ny - 1).astype(np.int64) * nx
    hi_y = np.clip(np.floor(np.maximum(y1, y2) + pad), 0, ny - 1).astype(np.int64) * nx
    marked = np.zeros(nx * ny, dtype=bool)
    for row in (lo_y, hi_y):
        for column in (lo_x, hi_x):
            marked[row + column] = True

    grid = marked.reshape(ny, nx)
    run_start = ~grid
    run_start[:, 1:] &= grid[:, :-1]
    rows, columns = np.nonzero(run_start)
    centres = shapely.points(min_x + (columns + 0.5) * cell, min_y + (rows + 0.5) * cell)
    inputs, positions = _smallest_per_input(*tree.query(centres, predicate="intersects"))
    run_owner = np.full(rows.size, -1, dtype=np.int32)
    run_owner[inputs] = positions
    run_of_cell = np.cumsum(run_start.ravel()) - 1
    owner = np.where(marked, np.int32(-2), run_owner[np.maximum(run_of_cell, 0)]).astype(np.int32)
    return _Raster(min_x=float(min_x), min_y=float(min_y), inv_cell=inv_cell, nx=nx, ny=ny, owner=owner)


def build_index(*, db: Session) -> GridIndex:
    """Builds a GridIndex from every grid with a boundary in the database."""
    uppers: dict[int, tuple[AreaRef, int | None]] = {}
    upper_rows = db.execute(
        select(Area.id, Area.code, Area.name, Area.level, Area.parent_id).where(Area.level.in_(UPPER_LEVELS))
    )
    for area_id, code, name, level, parent_id in upper_rows:
        uppers[area_id] = (AreaRef(area_id, code, name, AreaLevel(level)), parent_id)

    grid_rows = db.execute(
        select(Area.id, Area.code, Area.name, Area.parent_id, type_coerce(Area.geometry, LargeBinary)).where(
            Area.level == AreaLevel.grid, Area.geometry.is_not(None)
        )
    ).all()
    geometries = shapely.from_wkb([bytes(row[4]) for row in grid_rows]) if grid_rows else []
    grids: list[AreaRef] = []
    chains: list[dict[AreaLevel, AreaRef | None]] = []
    for area_id, code, name, parent_id, _ in grid_rows:
        grids.append(AreaRef(area_id, code, name, AreaLevel.grid))
        chain: dict[AreaLevel, AreaRef | None] = dict.fromkeys(UPPER_LEVELS)
        while parent_id is not None and parent_id in uppers:
            ref, parent_id = uppers[parent_id]
            chain[ref.level] = ref
        chains.append(chain)
    return GridIndex(grids, list(geometries), chains)


@dataclass
class _Cached:
    index: GridIndex
    stamp: tuple[Any, ...]
    generation: int
    checked_at: float
    stamp_cost: float


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()
_generation = 0
# Keys in Session.info: the session has written areas it has not committed yet; the session's own index.
_UNCOMMITTED = "gridgov.areas.uncommitted"
_PRIVATE = "gridgov.areas.index"


def invalidate(db: Session | None = None) -> None:
    """Marks cached grid indexes stale (call after writing areas); with `db`, also notes its uncommitted writes."""
    global _generation
    _generation += 1
    if db is not None:
        db.info[_UNCOMMITTED] = True
        db.info.pop(_PRIVATE, None)


def _stamp(db: Session) -> tuple[tuple[Any, ...], float]:
    started = time.perf_counter()
    row = db.execute(
        select(func.count(Area.id), func.sum(Area.id), func.max(Area.id), func.max(Area.updated_at)).where(
            Area.level != AreaLevel.building
        )
    ).one()
    return tuple(row), time.perf_counter() - started


def get_index(*, db: Session) -> GridIndex:
    """Returns the grid index of the database behind `db`, rebuilt when areas have changed since it was built.

    A session that has written areas it has not committed, or that runs inside a transaction opened outside it
    (bound to a Connection, as test fixtures do), gets an index of its own, so that what it sees never leaks
    into the index other sessions share.
    """
    if db.info.get(_UNCOMMITTED) or not isinstance(db.get_bind(), Engine):
        stamp, _ = _stamp(db)
        private: tuple[GridIndex, tuple[Any, ...]] | None = db.info.get(_PRIVATE)
        if private is None or private[1] != stamp:
            private = (build_index(db=db), stamp)
            db.info[_PRIVATE] = private
        return private[0]

    key = db.get_bind().engine.url.render_as_string(hide_password=False)
    cached = _cache.get(key)
    now = time.monotonic()
    if cached is not None and cached.generation == _generation:
        if now - cached.checked_at < STAMP_INTERVAL_S:
            return cached.index
        stamp, cost = _stamp(db)
        if stamp == cached.stamp:
            cached.checked_at, cached.stamp_cost = now, cost
            return cached.index
    with _cache_lock:
        generation = _generation
        stamp, cost = _stamp(db)
        cached = _cache.get(key)
        if cached is not None and cached.generation == generation and cached.stamp == stamp:
            return cached.index  # another thread has just rebuilt it
        index = build_index(db=db)
        _cache[key] = _Cached(index, stamp, generation, time.monotonic(), cost)
    return index


def locate_point(*, db: Session, lng: float, lat: float, crs: Crs | str = Crs.wgs84) -> Located:
    """Returns the grid (and community, street, district) of a point given in `crs`."""
    wgs_lng, wgs_lat = to_wgs84(lng, lat, crs)
    return get_index(db=db).locate(float(wgs_lng), float(wgs_lat))


def resolve(*, db: Session, lng: float, lat: float, crs: Crs | str = Crs.wgs84) -> LocateResult:
    """Returns the API answer for a point given in `crs`: status, the four areas, and the nearest grid if outside."""
    crs = Crs(crs)
    located = locate_point(db=db, lng=lng, lat=lat, crs=crs)

    def ref(area: AreaRef | None) -> schemas.AreaRef | None:
        return None if area is None else schemas.AreaRef.model_validate(area)

    return LocateResult(
        status=located.status,
        input=Coordinates(lng=lng, lat=lat, crs=crs),
        wgs84=Coordinates(lng=round(located.lng, 8), lat=round(located.lat, 8)),
        grid=ref(located.grid),
        community=ref(located.community),
        street=ref(located.street),
        district=ref(located.district),
        nearest=ref(located.nearest),
        distance_m=None if located.distance_m is None else round(located.distance_m, 1),
    )


def parse_coordinates(
    lng: str | float | None, lat: str | float | None, crs: str | None = None, where: str = "query"
) -> tuple[float, float, Crs]:
    """Returns (lng, lat, crs) checked for presence, numbers, ranges and swapped order; raises InputError."""
    issues: list[Issue] = []
    values: dict[str, float] = {}
    for name, raw in (("lng", lng), ("lat", lat)):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            issues.append(Issue(where, "missing: give the longitude and latitude in decimal degrees", name))
            continue
        try:
            value = float(raw)
        except ValueError:
            issues.append(Issue(where, f"not a number: {raw!r} (decimal degrees expected, e.g. 113.68)", name))
            continue
        if not math.isfinite(value):
            issues.append(Issue(where, f"not a finite number: {raw!r}", name))
            continue
        values[name] = value
    try:
        parsed_crs = Crs((crs or "wgs84").strip().lower())
    except ValueError:
        parsed_crs = Crs.wgs84
        choices = ", ".join(c.value for c in Crs)
        issues.append(Issue(where, f"unknown coordinate system {crs!r}: use one of {choices}", "crs"))
    if len(values) == 2:
        x, y = values["lng"], values["lat"]
        if abs(y) > 90 and abs(x) <= 90:
            issues.append(
                Issue(
                    where,
                    f"lat={_fmt(y)} is out of range [-90, 90] while lng={_fmt(x)} would be a valid latitude: "
                    f"lng and lat look swapped (did you mean lng={_fmt(y)}&lat={_fmt(x)}?)",
                    "lat",
                )
            )
        else:
            if abs(x) > 180:
                issues.append(Issue(where, f"lng={_fmt(x)} is out of range [-180, 180]", "lng"))
            if abs(y) > 90:
                issues.append(Issue(where, f"lat={_fmt(y)} is out of range [-90, 90]", "lat"))
    if issues:
        raise InputError(issues, "invalid coordinates")
    return values["lng"], values["lat"], parsed_crs


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else repr(value)


def _note_area_writes(session: Session, _context: Any) -> None:
    if any(isinstance(obj, Area) for obj in _chain(session.new, session.dirty, session.deleted)):
        invalidate(session)


def _note_commit(session: Session) -> None:
    session.info.pop(_PRIVATE, None)
    if session.info.pop(_UNCOMMITTED, False):
        invalidate()


def _note_rollback(session: Session, *_args: Any) -> None:
    session.info.pop(_PRIVATE, None)
    session.info.pop(_UNCOMMITTED, None)


def _chain(*groups: Iterable[object]) -> Iterable[object]:
    for group in groups:
        yield from group


# NOTE: any flush that writes areas, through whatever service, makes cached indexes stale and gives the session an
# index of its own until it commits (then every index is rebuilt) or rolls back.
event.listen(Session, "after_flush", _note_area_writes)
event.listen(Session, "after_commit", _note_commit)
event.listen(Session, "after_rollback", _note_rollback)


def point_in_area(*, db: Session, area_id: int, max_grids: int = 500) -> tuple[float, float] | None:
    """Returns a WGS84 point inside the area that lies in one of its grids (to place a report that names only the
    area): its representative point, else the first of its grids' representative points that falls in a grid of
    it; None when the area has no boundary or no such grid.
    """
    row = db.execute(select(Area.geometry, Area.level, Area.path).where(Area.id == area_id)).first()
    if row is None or row.geometry is None or row.geometry.is_empty:
        return None
    index = get_index(db=db)
    candidates: Iterable[BaseGeometry | None] = [row.geometry]
    if row.level in (AreaLevel.street, AreaLevel.community):
        # NOTE: where the grids do not tile the area at its representative point, one of its grids' points does.
        grids = select(Area.geometry).where(
            Area.level == AreaLevel.grid, Area.path.startswith(row.path, autoescape=True)
        )
        candidates = [row.geometry, *db.scalars(grids.order_by(Area.code).limit(max_grids))]
    for shape in candidates:
        if shape is None or shape.is_empty:
            continue
        point = shape.representative_point()
        located = index.locate(point.x, point.y)
        if located.status == "inside" and (located.path.startswith(row.path) or row.path.startswith(located.path)):
            return point.x, point.y
    return None
