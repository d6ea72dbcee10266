import datetime as dt

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from gridgov import migrations
from gridgov.core.db import create_db_engine, session_factory, transaction
from gridgov.core.errors import InputError
from gridgov.core.geo import Crs, from_wgs84
from gridgov.domains.areas import locate, service
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.locate import AreaRef, GridIndex
from tests.domains.areas.synthetic import collection, feature, grid_code_at, lnglat, load_tree, rect


def test_points_inside_grids_resolve_to_grid_community_street_and_district(db, tree):
    index = locate.get_index(db=db)
    assert len(index) == 16
    for x in range(125, 1000, 250):
        for y in range(125, 1000, 250):
            located = index.locate(*lnglat(x, y))
            code = grid_code_at(x, y)
            assert located.status == "inside"
            assert located.grid.code == code
            assert located.community.code == code[:12]
            assert located.street.code == code[:9]
            assert located.district.code == "410105"
    located = index.locate(*lnglat(125, 875))
    assert (located.street.name, located.community.name, located.grid.name) == (
        "经八路街道",
        "经八路北社区",
        "经八路北社区第1网格",
    )


@pytest.mark.parametrize(
    ("x", "y", "expected", "why"),
    [
        (250, 875, "410105001001001", "edge between two grids of one community"),
        (250, 750, "410105001001001", "corner of four grids"),
        (125, 500, "410105001001003", "edge between two communities"),
        (500, 125, "410105001002004", "edge between two streets"),
        (500, 500, "410105001001004", "centre, where all four communities meet"),
        (0, 1000, "410105001001001", "outer corner of the district"),
    ],
)
def test_points_on_shared_boundaries_go_to_the_smallest_code(db, tree, x, y, expected, why):
    index = locate.get_index(db=db)
    lng, lat = lnglat(x, y)
    assert index.locate(lng, lat).grid.code == expected, why
    assert index.codes_of(index.locate_many([lng], [lat]))[0] == expected, why


def test_points_outside_every_grid_name_the_nearest_and_its_distance(db, tree):
    index = locate.get_index(db=db)
    located = index.locate(*lnglat(1100, 600))  # 100 m east of the district
    assert located.status == "outside"
    assert located.grid is None and located.community is None
    assert located.nearest.code == "410105002001004"
    assert located.distance_m == pytest.approx(100, abs=1)
    south_west = index.locate(*lnglat(-300, -400))  # diagonal: nearest is the corner grid, 500 m away
    assert south_west.nearest.code == "410105001002003"
    assert south_west.distance_m == pytest.approx(500, abs=3)


def test_an_empty_index_says_so(db):
    index = locate.get_index(db=db)
    assert len(index) == 0
    assert index.locate(113.7, 34.78).status == "empty"
    assert index.locate_many([113.7], [34.78]).tolist() == [-1]


def test_bulk_lookup_equals_single_lookups(db, tree):
    index = locate.get_index(db=db)
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.uniform(-100, 1100, 6000), np.repeat(np.arange(-125, 1126, 125), 11)])
    ys = np.concatenate([rng.uniform(-100, 1100, 6000), np.tile(np.arange(-125, 1126, 125), 11)])
    lngs, lats = lnglat(xs, ys)
    bulk = index.locate_many(lngs, lats)
    single = [index.locate(float(x), float(y)) for x, y in zip(lngs, lats, strict=True)]
    expected = [s.grid.code if s.status == "inside" else None for s in single]
    assert index.codes_of(bulk).tolist() == expected
    assert (bulk == -1).sum() > 1000 and (bulk >= 0).sum() > 4000
    assert (index._raster.owner >= 0).mean() > 0.3  # most points were answered by the raster, not the tree
    inside = bulk >= 0
    assert index.ids_of(bulk)[~inside].tolist() == [-1] * int((~inside).sum())
    communities = index.codes_of(bulk, AreaLevel.community)
    assert all(c == g[:12] for c, g in zip(communities[inside], index.codes_of(bulk)[inside], strict=True))
    assert index.codes_of(bulk, AreaLevel.district)[~inside].tolist() == [None] * int((~inside).sum())


def test_bulk_lookup_converts_gcj02_and_skips_non_finite(db, tree):
    index = locate.get_index(db=db)
    lngs, lats = lnglat(np.array([125.0, 875.0, 2000.0]), np.array([125.0, 875.0, 0.0]))
    g_lng, g_lat = from_wgs84(lngs, lats, Crs.gcj02)
    codes = index.codes_of(index.locate_many(g_lng, g_lat, crs="gcj02")).tolist()
    assert codes == [grid_code_at(125, 125), grid_code_at(875, 875), None]
    assert index.locate_many([np.nan, lngs[0]], [lats[0], np.inf]).tolist() == [-1, -1]


def test_raster_matches_the_tree_on_irregular_overlapping_polygons():
    rng = np.random.default_rng(3)
    seeds = shapely.multipoints(rng.uniform(0, 1, (400, 2)) * [0.05, 0.04] + [113.6, 34.7])
    cells = list(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=shapely.box(113.6, 34.7, 113.65, 34.74))))
    cells = [shapely.intersection(c, shapely.box(113.6, 34.7, 113.65, 34.74)) for c in cells]
    cells += [shapely.Point(113.62, 34.72).buffer(0.004), shapely.box(113.64, 34.73, 113.66, 34.75)]  # overlaps
    refs = [AreaRef(i, f"G{i:04d}", f"grid {i}", AreaLevel.grid) for i in range(len(cells))]
    index = GridIndex(refs, cells, [dict.fromkeys(locate.UPPER_LEVELS) for _ in cells])
    xs = np.concatenate([rng.uniform(113.59, 113.67, 30000), shapely.get_coordinates(np.array(cells))[:, 0]])
    ys = np.concatenate([rng.uniform(34.69, 34.76, 30000), shapely.get_coordinates(np.array(cells))[:, 1]])
    bulk = index.locate_many(xs, ys)
    hits = index._tree.query(shapely.points(xs, ys), predicate="intersects")
    expected = np.full(xs.size, -1)
    for i, position in zip(*hits, strict=True):
        expected[i] = position if expected[i] == -1 else min(expected[i], position)
    assert np.array_equal(bulk, expected)
    assert index._raster is not None and (index._raster.owner >= 0).mean() > 0.3


def test_index_is_rebuilt_after_an_import(db, tree):
    first = locate.get_index(db=db)
    assert locate.get_index(db=db) is first
    fc = collection(feature("410105001001001", "改名网格", "410105001001", rect(0, 750, 250, 1000)))
    service.import_geojson(db=db, collection=fc, level="grid")
    second = locate.get_index(db=db)
    assert second is not first
    assert second.locate(*lnglat(100, 900)).grid.name == "改名网格"


def test_index_sees_changes_committed_by_another_process(fresh_database_url, monkeypatch):
    monkeypatch.setattr(locate, "STAMP_INTERVAL_S", 0.0)  # look at the stamp on every call
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    other = create_db_engine(fresh_database_url)
    try:
        with transaction(engine) as db:
            load_tree(db)
        with transaction(engine) as db:
            before = locate.get_index(db=db)
            assert before.locate(*lnglat(100, 900)).grid.name == "经八路北社区第1网格"
        # Another process renames a grid with plain SQL: no flush event here, only the stamp can tell.
        with other.begin() as connection:
            connection.execute(
                text("update area set name = :name, updated_at = :at where code = :code"),
                {"name": "别处改名", "at": dt.datetime(2030, 1, 1, tzinfo=dt.UTC), "code": "410105001001001"},
            )
        with transaction(engine) as db:
            after = locate.get_index(db=db)
            assert after is not before
            assert after.locate(*lnglat(100, 900)).grid.name == "别处改名"
    finally:
        engine.dispose()
        other.dispose()


def test_locate_point_converts_the_input_crs(db, tree):
    lng, lat = lnglat(875, 125)
    b_lng, b_lat = from_wgs84(lng, lat, Crs.bd09)
    located = locate.locate_point(db=db, lng=float(b_lng), lat=float(b_lat), crs="bd09")
    assert located.grid.code == grid_code_at(875, 125)
    assert located.lng == pytest.approx(lng, abs=1e-6)


@pytest.mark.parametrize(
    ("lng", "lat", "crs", "field", "fragment"),
    [
        (None, "34.78", None, "lng", "missing"),
        ("abc", "34.78", None, "lng", "not a number: 'abc'"),
        ("nan", "34.78", None, "lng", "not a finite number"),
        ("34", "113", None, "lat", "lng and lat look swapped (did you mean lng=113&lat=34?)"),
        ("200", "34", None, "lng", "lng=200 is out of range [-180, 180]"),
        ("113", "34", "mars", "crs", "unknown coordinate system 'mars': use one of wgs84, gcj02, bd09"),
    ],
)
def test_parse_coordinates_explains_bad_input(lng, lat, crs, field, fragment):
    with pytest.raises(InputError) as caught:
        locate.parse_coordinates(lng, lat, crs)
    [issue] = caught.value.issues
    assert issue.field == field and fragment in issue.message


def test_parse_coordinates_accepts_numbers_and_crs_names():
    assert locate.parse_coordinates(" 113.68 ", "34.78", "GCJ02") == (113.68, 34.78, Crs.gcj02)


def test_uncommitted_area_writes_never_leak_into_the_shared_index(fresh_database_url, monkeypatch):
    monkeypatch.setattr(locate, "STAMP_INTERVAL_S", 3600.0)  # only this process's own invalidation can tell
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    factory = session_factory(engine)
    try:
        with factory() as writer, factory() as reader:
            writer.begin()
            load_tree(writer)
            assert len(locate.get_index(db=writer)) == 16  # the writer sees its own grids
            with reader.begin():
                assert len(locate.get_index(db=reader)) == 0  # nobody else does
            writer.rollback()
            with reader.begin():
                assert len(locate.get_index(db=reader)) == 0
            with writer.begin():
                load_tree(writer)
            with reader.begin():
                assert len(locate.get_index(db=reader)) == 16  # committed: rebuilt for everyone
    finally:
        engine.dispose()
