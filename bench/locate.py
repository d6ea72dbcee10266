"""Point → grid lookup: gridgov's bulk lookup vs. a bare shapely STRtree query on the same polygons, same run.

1. The Jinshui demo district (loaded into a temporary SQLite database, index from `get_index`): 1,000,000 random
   points through `GridIndex.locate_many` vs. `shapely.points` + `STRtree.query(predicate="intersects")`.
2. Single-point `GridIndex.locate`: p50 / p99.
3. A megacity: 50,000 synthetic grids (Voronoi cells in 1,000 communities), the same comparison.

Prints both rates and the ratio gridgov/bare (≥ 1 means gridgov is faster; the target is ≥ 0.8).
Run: `make bench` or `.venv/bin/python bench/locate.py [--points N] [--quick]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import numpy as np
import shapely

from gridgov import migrations
from gridgov.core.db import create_db_engine, transaction
from gridgov.demo import service as demo_service
from gridgov.domains.areas import locate
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.locate import AreaRef, GridIndex


def best_of(runs: int, func: Callable[[], object]) -> tuple[float, object]:
    """Returns the best wall time of `runs` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - started)
    return best, result


def compare(title: str, index: GridIndex, n_points: int, seed: int) -> float:
    """Times bulk lookup against the bare STRtree query over the index's own polygons; returns the ratio."""
    rng = np.random.default_rng(seed)
    min_x, min_y, max_x, max_y = shapely.total_bounds(index.geometries)
    xs, ys = rng.uniform(min_x, max_x, n_points), rng.uniform(min_y, max_y, n_points)
    bare_tree = shapely.STRtree(index.geometries)

    ours_s, positions = best_of(3, lambda: index.locate_many(xs, ys))
    bare_s, (inputs, hits) = best_of(3, lambda: bare_tree.query(shapely.points(xs, ys), predicate="intersects"))

    expected = np.full(n_points, -1)
    order = np.lexsort((hits, inputs))
    first = np.r_[True, inputs[order][1:] != inputs[order][:-1]]
    expected[inputs[order][first]] = hits[order][first]
    assert np.array_equal(expected, positions), "bulk lookup disagrees with the bare query"

    ratio = bare_s / ours_s
    inside = int((positions >= 0).sum())
    print(f"\n{title}: {len(index):,} grids, {n_points:,} points ({inside / n_points:.0%} inside a grid)")
    print(f"  gridgov locate_many     {n_points / ours_s / 1e6:7.2f} M points/s  ({ours_s:.3f} s)")
    print(f"  bare STRtree query      {n_points / bare_s / 1e6:7.2f} M points/s  ({bare_s:.3f} s)")
    print(f"  ratio gridgov/bare      {ratio:7.2f}   (target >= 0.8)")
    return ratio


def single_point_latency(index: GridIndex, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    min_x, min_y, max_x, max_y = shapely.total_bounds(index.geometries)
    xs, ys = rng.uniform(min_x, max_x, n), rng.uniform(min_y, max_y, n)
    times = np.empty(n)
    for i in range(n):
        started = time.perf_counter()
        index.locate(xs[i], ys[i])
        times[i] = time.perf_counter() - started
    p50, p99 = np.percentile(times, [50, 99]) * 1e6
    print(
        f"  single locate           p50 {p50:6.1f} µs   p99 {p99:6.1f} µs   ({n:,} points, incl. nearest when outside)"
    )


def demo_index() -> GridIndex:
    url = f"sqlite:///{tempfile.mkdtemp(prefix='gridgov-bench-')}/bench.db"
    migrations.upgrade(url)
    engine = create_db_engine(url)
    started = time.perf_counter()
    with transaction(engine) as db:
        demo_service.load(db=db)
    print(f"demo district loaded in {time.perf_counter() - started:.1f} s")
    with transaction(engine, write=False) as db:
        locate.invalidate()
        started = time.perf_counter()
        index = locate.get_index(db=db)
        print(f"grid index built in {time.perf_counter() - started:.2f} s")
    engine.dispose()
    return index


def megacity_index(n_communities: int, grids_per_community: int, seed: int) -> GridIndex:
    """Builds an index over Voronoi grids in a lattice of communities (about 1 km²; no database involved)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_communities)))
    dlng, dlat = 0.011, 0.009
    grids, geometries, uppers = [], [], []
    district = AreaRef(1, "110105", "megacity", AreaLevel.district)
    for c in range(n_communities):
        i, j = divmod(c, side)
        box = shapely.box(116 + i * dlng, 39.6 + j * dlat, 116 + (i + 1) * dlng, 39.6 + (j + 1) * dlat)
        seeds = shapely.multipoints(rng.uniform(0, 1, (grids_per_community, 2)) * [dlng, dlat] + box.bounds[:2])
        cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box))
        community = AreaRef(10 + c, f"110105{i:03d}{j:03d}", f"社区{c}", AreaLevel.community)
        for k, cell in enumerate(shapely.intersection(cells, box)):
            grids.append(AreaRef(100_000 + len(grids), f"{community.code}{k + 1:03d}", f"网格{k}", AreaLevel.grid))
            geometries.append(cell)
            uppers.append({AreaLevel.community: community, AreaLevel.street: None, AreaLevel.district: district})
    started = time.perf_counter()
    index = GridIndex(grids, geometries, uppers)
    print(f"\nmegacity index of {len(index):,} grids built in {time.perf_counter() - started:.2f} s")
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000, help="points per bulk comparison")
    parser.add_argument("--quick", action="store_true", help="100,000 points and 5,000 megacity grids")
    args = parser.parse_args()
    points = 100_000 if args.quick else args.points
    communities = 100 if args.quick else 1_000

    index = demo_index()
    demo_ratio = compare("Jinshui demo district", index, points, seed=1)
    single_point_latency(index, 20_000, seed=2)
    big = megacity_index(communities, 50, seed=3)
    big_ratio = compare("megacity", big, points, seed=4)
    single_point_latency(big, 20_000, seed=5)
    print(f"\nlocate ratio (gridgov/bare): demo {demo_ratio:.2f}, megacity {big_ratio:.2f}")


if __name__ == "__main__":
    main()
