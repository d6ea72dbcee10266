"""Deterministic generator of the demo district's inner partition: streets, communities, grids and buildings.

Everything here is a pure function of the packaged files (`data/district.geojson`, `data/streets.csv`) and
a seed: no clock, no global random state, so two runs give byte-identical output. Only the outline and the
street names and codes are real; every inner boundary, name below street level, population, household
count and building is illustrative.

How the partition is drawn, level by level (district → 17 streets → 8–15 communities → grids):

1. Sample points inside the parent polygon, denser towards the old city (an illustrative density field),
   so streets, communities and grids come out smaller where people live closer together.
2. Cluster them with seeded k-means (k = number of children) and take the Voronoi cells of the centres.
3. Clip the cells to the parent (GEOS overlay in double precision: siblings share their edges, overlaps
   and spill-over stay below a square millimetre); a cell cut into several pieces by a bend of the parent
   keeps its largest piece and gives the others to the neighbour it shares the longest border with, so
   every child is one contiguous polygon and the children tile the parent.
4. Number communities and grids in rows from north to south, west to east within a row (DOMAIN.md §2.6).
   Street codes are given to the street cells from the old city outwards (nearest to the density centre
   first), so the old central offices (经八路, 人民路, 杜岭 ...) sit where the city is densest.

Households are chosen before geometry: each grid gets 300–500 households, communities and streets are the
sums, and populations are households × an illustrative household size of about 2.6.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Point, Polygon, mapping, shape

from gridgov.domains.areas.enums import AreaLevel

SEED = 410105
PRECISION = 1e-7  # degrees (~1 cm): the outline's stored precision, and building points are rounded to it
TARGET_POPULATION = 1_600_000  # Jinshui's order of magnitude; illustrative
HOUSEHOLD_SIZE = 2.6  # mean residents per household; illustrative
GRID_HOUSEHOLDS = (300, 500)  # inclusive range of households per grid (DESIGN.md glossary)
COMMUNITIES_PER_STREET = (8, 15)
GRIDS_PER_COMMUNITY_TARGET = 7
MIN_GRIDS_PER_COMMUNITY = 3
BUILDINGS_PER_GRID = (5, 9)  # inclusive
BUILDING_INSET_M = 15.0  # buildings are placed at least this far inside their grid where the grid allows
# Illustrative density peak: around 紫荆山 / 人民路 in the south-west, where Jinshui's old city is densest.
DENSITY_CENTRE = (113.669, 34.766)
DENSITY_SCALE_M = 4_000.0
DENSITY_FLOOR = 0.15

# Illustrative two-character community names are drawn from these syllables (A + B + 社区).
_NAME_FIRST = "文金丰和锦康宏瑞安祥兴华新明福嘉怡景泰润春正永惠盛德丽翠青振"
_NAME_SECOND = "苑园庭源林城桥河湖秀泉岗坊里庄院楠荷亭府湾"

# Random streams, one per purpose, so that changing one step does not reshuffle the others.
_STREAM_STREETS, _STREAM_COUNTS, _STREAM_COMMUNITIES, _STREAM_GRIDS, _STREAM_BUILDINGS, _STREAM_NAMES = range(6)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class StreetSpec:
    """A street office from `data/streets.csv`: real code and name, illustrative population weight."""

    code: str
    name: str
    weight: float


@dataclass
class DemoAreas:
    """The generated area tree: one GeoJSON FeatureCollection per level, parents before children."""

    collections: dict[AreaLevel, dict[str, Any]] = field(default_factory=dict)

    def features(self, level: AreaLevel) -> list[dict[str, Any]]:
        """Returns the features of one level."""
        return self.collections[level]["features"]

    def counts(self) -> dict[AreaLevel, int]:
        """Returns the number of areas per level."""
        return {level: len(collection["features"]) for level, collection in self.collections.items()}


def load_district() -> tuple[str, str, Polygon]:
    """Returns the code, name and WGS84 outline of the demo district from the packaged file."""
    text = resources.files("gridgov.demo").joinpath("data/district.geojson").read_text(encoding="utf-8")
    feature = json.loads(text)["features"][0]
    geometry = shapely.set_precision(shape(feature["geometry"]), PRECISION)
    return str(feature["properties"]["code"]), str(feature["properties"]["name"]), geometry


def load_streets() -> list[StreetSpec]:
    """Returns the demo district's street offices from the packaged `streets.csv`, ordered by code."""
    text = resources.files("gridgov.demo").joinpath("data/streets.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return sorted((StreetSpec(r["code"], r["name"], float(r["weight"])) for r in rows), key=lambda s: s.code)


def generate_areas(seed: int = SEED) -> DemoAreas:
    """Generates the whole demo area tree, deterministically from the packaged files and `seed`."""
    district_code, district_name, outline = load_district()
    streets = load_streets()
    frame = _Frame(outline)
    grid_counts = _grid_counts_per_street(streets)
    names = _community_names(sum(_communities_for(n) for n in grid_counts), _rng(seed, _STREAM_NAMES))

    street_cells = _partition(outline, len(streets), _rng(seed, _STREAM_STREETS), frame)
    # Street codes go from the old city outwards: the lower-coded offices (经八路, 人民路, 杜岭 ...) are the old
    # central ones, so they land where the city is densest. Closer to Jinshui than a plain reading order,
    # still not the real layout.
    street_cells = [street_cells[i] for i in _order_by_distance(street_cells, frame)]
    street_features, community_features, grid_features, building_features = [], [], [], []
    for street, cell, street_grids in zip(streets, street_cells, grid_counts, strict=True):
        code = int(street.code)
        n_communities = _communities_for(street_grids)
        per_community = _split_total(
            street_grids,
            _rng(seed, _STREAM_COUNTS, code).uniform(0.75, 1.25, n_communities),
            minimum=MIN_GRIDS_PER_COMMUNITY,
        )
        community_cells = _partition(cell, n_communities, _rng(seed, _STREAM_COMMUNITIES, code), frame)
        street_totals = np.zeros(2, dtype=np.int64)
        for index, (community_cell, community_grids) in enumerate(zip(community_cells, per_community, strict=True)):
            community_code = f"{street.code}{index + 1:03d}"
            community_name = f"{names.pop(0)}社区"
            rng = _rng(seed, _STREAM_GRIDS, int(community_code))
            grid_cells = _partition(community_cell, community_grids, rng, frame)
            households = rng.integers(GRID_HOUSEHOLDS[0], GRID_HOUSEHOLDS[1] + 1, community_grids)
            sizes = rng.uniform(HOUSEHOLD_SIZE - 0.15, HOUSEHOLD_SIZE + 0.15, community_grids)
            population = np.rint(households * sizes).astype(np.int64)
            for grid_index, grid_cell in enumerate(grid_cells):
                grid_code = f"{community_code}{grid_index + 1:03d}"
                grid_name = f"{community_name}第{grid_index + 1}网格"
                grid_features.append(
                    _feature(
                        grid_cell, grid_code, grid_name, community_code, population[grid_index], households[grid_index]
                    )
                )
                building_features.extend(
                    _buildings(
                        grid_cell,
                        grid_code,
                        grid_name,
                        int(population[grid_index]),
                        int(households[grid_index]),
                        _rng(seed, _STREAM_BUILDINGS, int(grid_code)),
                        frame,
                    )
                )
            totals = np.array([population.sum(), households.sum()])
            street_totals += totals
            community_features.append(
                _feature(community_cell, community_code, community_name, street.code, totals[0], totals[1])
            )
        street_features.append(
            _feature(cell, street.code, street.name, district_code, street_totals[0], street_totals[1])
        )

    total_population = sum(f["properties"]["population"] for f in street_features)
    total_households = sum(f["properties"]["households"] for f in street_features)
    district_feature = _feature(outline, district_code, district_name, None, total_population, total_households)
    return DemoAreas(
        {
            AreaLevel.district: _collection([district_feature]),
            AreaLevel.street: _collection(street_features),
            AreaLevel.community: _collection(community_features),
            AreaLevel.grid: _collection(grid_features),
            AreaLevel.building: _collection(building_features),
        }
    )


# --- counts -------------------------------------------------------------------------------------------------


def _grid_counts_per_street(streets: Sequence[StreetSpec]) -> list[int]:
    """Returns how many grids each street gets so that the district reaches TARGET_POPULATION."""
    mean_households = (GRID_HOUSEHOLDS[0] + GRID_HOUSEHOLDS[1]) / 2
    total = round(TARGET_POPULATION / (HOUSEHOLD_SIZE * mean_households))
    return _split_total(total, np.array([street.weight for street in streets]), minimum=1)


def _communities_for(grids: int) -> int:
    """Returns the number of communities of a street with `grids` grids (8–15)."""
    low, high = COMMUNITIES_PER_STREET
    return int(min(high, max(low, round(grids / GRIDS_PER_COMMUNITY_TARGET))))


def _split_total(total: int, weights: FloatArray, minimum: int) -> list[int]:
    """Splits `total` into integers proportional to `weights` (largest remainder), each at least `minimum`."""
    n = len(weights)
    if total < minimum * n:
        raise ValueError(f"cannot split {total} into {n} parts of at least {minimum}")
    spare = total - minimum * n
    shares = spare * np.asarray(weights, dtype=float) / float(np.sum(weights))
    parts = np.floor(shares).astype(np.int64)
    # Stable sort on the negated remainder: ties go to the earlier part, deterministically.
    for index in np.argsort(-(shares - parts), kind="stable")[: spare - int(parts.sum())]:
        parts[index] += 1
    return [int(part) + minimum for part in parts]


def _community_names(count: int, rng: np.random.Generator) -> list[str]:
    """Returns `count` distinct illustrative two-character names in a seeded order."""
    first, second = dict.fromkeys(_NAME_FIRST), dict.fromkeys(_NAME_SECOND)
    names = [a + b for a in first for b in second if a != b]
    if count > len(names):
        raise ValueError(f"only {len(names)} community names available, {count} needed")
    return [names[i] for i in rng.permutation(len(names))[:count]]


# --- geometry -----------------------------------------------------------------------------------------------


class _Frame:
    """A local equirectangular frame in metres around the district, for distances, k-means and Voronoi."""

    def __init__(self, outline: Polygon) -> None:
        min_x, min_y, max_x, max_y = outline.bounds
        self.origin = np.array([(min_x + max_x) / 2, (min_y + max_y) / 2])
        self.scale = np.array([111_320.0 * math.cos(math.radians(self.origin[1])), 110_574.0])

    def to_metres(self, xy: FloatArray) -> FloatArray:
        """Converts (n, 2) degrees to (n, 2) metres."""
        return (np.asarray(xy, dtype=float) - self.origin) * self.scale

    def to_degrees(self, xy: FloatArray) -> FloatArray:
        """Converts (n, 2) metres to (n, 2) degrees."""
        return np.asarray(xy, dtype=float) / self.scale + self.origin

    def density(self, xy: FloatArray) -> FloatArray:
        """Returns the illustrative relative population density (DENSITY_FLOOR..1+floor) at degree points."""
        centre = self.to_metres(np.array([DENSITY_CENTRE]))[0]
        distance = np.hypot(*(self.to_metres(xy) - centre).T)
        return DENSITY_FLOOR + np.exp(-distance / DENSITY_SCALE_M)


def _rng(seed: int, *key: int) -> np.random.Generator:
    """Returns an independent random generator for `key` (a purpose and, optionally, an area code)."""
    return np.random.default_rng([seed, *key])


def _sample(
    polygon: Polygon, count: int, rng: np.random.Generator, weight_of: Callable[[FloatArray], FloatArray]
) -> FloatArray:
    """Returns `count` random points inside `polygon`, drawn with a density proportional to `weight_of(points)`."""
    min_x, min_y, max_x, max_y = polygon.bounds
    shapely.prepare(polygon)
    found: list[FloatArray] = []
    have = 0
    for _ in range(200):
        batch = rng.uniform((min_x, min_y), (max_x, max_y), (max(4 * count, 256), 2))
        keep = shapely.contains_xy(polygon, batch[:, 0], batch[:, 1])
        weight = weight_of(batch)
        # Relative to the batch's densest point, so sparse outskirts do not need thousands of draws.
        keep &= rng.uniform(0.0, 1.0, len(batch)) * weight.max() < weight
        found.append(batch[keep])
        have += int(keep.sum())
        if have >= count:
            break
    points = np.concatenate(found)
    if len(points) < count:
        raise ValueError("could not sample enough points inside a polygon (is it degenerate?)")
    return points[:count]


def _kmeans(points: FloatArray, k: int, rng: np.random.Generator, iterations: int = 40) -> FloatArray:
    """Returns k cluster centres of `points` (k-means++ seeding, then Lloyd iterations)."""
    centres = np.empty((k, 2))
    centres[0] = points[rng.integers(len(points))]
    nearest = np.sum((points - centres[0]) ** 2, axis=1)
    for j in range(1, k):
        centres[j] = points[rng.choice(len(points), p=nearest / nearest.sum())]
        nearest = np.minimum(nearest, np.sum((points - centres[j]) ** 2, axis=1))
    for _ in range(iterations):
        labels = np.argmin(np.sum((points[:, None, :] - centres[None, :, :]) ** 2, axis=2), axis=1)
        counts = np.bincount(labels, minlength=k)
        sums = np.stack([np.bincount(labels, weights=points[:, axis], minlength=k) for axis in (0, 1)], axis=1)
        # A centre that lost all its points stays where it is.
        updated = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres)
        # Converged once no centre moves by more than a metre (the frame is in metres).
        moved = float(np.abs(updated - centres).max())
        centres = updated
        if moved < 1.0:
            break
    return centres


def _partition(parent: Polygon, k: int, rng: np.random.Generator, frame: _Frame) -> list[Polygon]:
    """Splits `parent` into `k` contiguous polygons that tile it, numbered north→south, west→east."""
    if k == 1:
        return [parent]
    points = frame.to_metres(_sample(parent, max(600, 90 * k), rng, lambda xy: frame.density(xy) ** 2))
    centres = _kmeans(points, k, rng)
    min_x, min_y = points.min(axis=0) - 10_000.0
    max_x, max_y = points.max(axis=0) + 10_000.0
    voronoi = shapely.voronoi_polygons(
        shapely.multipoints(centres), extend_to=shapely.box(min_x, min_y, max_x, max_y), ordered=True
    )
    cells = shapely.transform(np.asarray(shapely.get_parts(voronoi)), frame.to_degrees)
    clipped = shapely.intersection(cells, parent)
    pieces = _merge_fragments(list(clipped))
    return [pieces[i] for i in _reading_order(pieces)]


def _merge_fragments(cells: list[shapely.Geometry]) -> list[Polygon]:
    """Keeps each cell's largest polygon and hands every smaller piece to the neighbour it borders most."""
    for _ in range(10):
        mains: list[Polygon] = []
        orphans: list[Polygon] = []
        for cell in cells:
            parts = sorted(
                (p for p in shapely.get_parts(cell) if p.geom_type == "Polygon" and not p.is_empty),
                key=lambda p: p.area,
                reverse=True,
            )
            if not parts:
                raise ValueError("a partition cell came out empty")
            mains.append(parts[0])
            orphans.extend(parts[1:])
        if not orphans:
            return mains
        merged: list[shapely.Geometry] = list(mains)
        boundaries = shapely.boundary(np.array(mains, dtype=object))
        for orphan in orphans:
            shared = shapely.length(shapely.intersection(boundaries, orphan.boundary, grid_size=PRECISION))
            if shared.max() > 0:
                target = int(np.argmax(shared))
            else:
                target = int(np.argmin(shapely.distance(np.array(mains, dtype=object), orphan)))
            merged[target] = shapely.union(merged[target], orphan)
        cells = merged
    raise ValueError("could not make every partition cell contiguous")


def _reading_order(polygons: Sequence[Polygon]) -> list[int]:
    """Returns indexes of `polygons` in rows from north to south, west to east within a row (DOMAIN §2.6)."""
    centroids = shapely.get_coordinates(shapely.centroid(np.array(polygons, dtype=object)))
    min_x, min_y, max_x, max_y = shapely.total_bounds(np.array(polygons, dtype=object))
    # Rows roughly as tall as the children are wide: √(n · height / width) rows, measured in metres.
    width = (max_x - min_x) * math.cos(math.radians((min_y + max_y) / 2))
    rows = max(1, round(math.sqrt(len(polygons) * (max_y - min_y) / max(width, 1e-12))))
    band = (max_y - min_y) / rows or 1.0
    row = np.clip(np.floor((max_y - centroids[:, 1]) / band), 0, rows - 1)
    return sorted(range(len(polygons)), key=lambda i: (row[i], centroids[i, 0]))


def _order_by_distance(polygons: Sequence[Polygon], frame: _Frame) -> list[int]:
    """Returns indexes of `polygons` by distance of their centroid from the density centre, nearest first."""
    centroids = shapely.get_coordinates(shapely.centroid(np.array(polygons, dtype=object)))
    centre = frame.to_metres(np.array([DENSITY_CENTRE]))[0]
    distance = np.hypot(*(frame.to_metres(centroids) - centre).T)
    return sorted(range(len(polygons)), key=lambda i: (distance[i], centroids[i, 0]))


def _buildings(
    grid: Polygon,
    grid_code: str,
    grid_name: str,
    population: int,
    households: int,
    rng: np.random.Generator,
    frame: _Frame,
) -> list[dict[str, Any]]:
    """Returns building points inside `grid`, sharing out its households and population."""
    count = int(rng.integers(BUILDINGS_PER_GRID[0], BUILDINGS_PER_GRID[1] + 1))
    inset = grid.buffer(-BUILDING_INSET_M / frame.scale[0])
    if inset.is_empty or inset.area < grid.area * 0.05:
        inset = grid.buffer(-grid.minimum_clearance / 4) if grid.minimum_clearance > 0 else grid
    points = _sample(inset, count, rng, lambda xy: np.ones(len(xy)))
    points = np.round(points, 7)
    # Not every snapped point is guaranteed to fall in a sliver-thin grid; fall back on a point that is.
    inside = shapely.contains_xy(grid, points[:, 0], points[:, 1])
    if not inside.all():
        anchor = grid.representative_point()
        points[~inside] = (anchor.x, anchor.y)
    weights = rng.uniform(0.5, 1.5, count)
    household_parts = _split_total(households, weights, minimum=1)
    population_parts = _split_total(population, weights, minimum=1)
    # Numbered in the same reading order as areas: north→south, west→east.
    order = sorted(range(count), key=lambda i: (-points[i, 1], points[i, 0]))
    features = []
    for seq, i in enumerate(order, start=1):
        code = f"{grid_code}{seq:03d}"
        features.append(
            _feature(
                Point(points[i]), code, f"{grid_name}{seq}号楼院", grid_code, population_parts[i], household_parts[i]
            )
        )
    return features


def _feature(
    geometry: shapely.Geometry, code: str, name: str, parent: str | None, population: int, households: int
) -> dict[str, Any]:
    """Returns one GeoJSON feature with the properties the areas importer reads."""
    return {
        "type": "Feature",
        "properties": {
            "code": code,
            "name": name,
            "parent": parent,
            "population": int(population),
            "households": int(households),
        },
        "geometry": mapping(geometry),
    }


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}
