import copy

import numpy as np
import pytest
import shapely
from shapely.geometry import mapping, shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.core.errors import InputError, NotFoundError
from gridgov.core.geo import Crs, area_m2, from_wgs84
from gridgov.domains.areas import service
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from tests.domains.areas.synthetic import DISTRICT, collection, feature, grid_boxes, rect, tree_collections

GRID = "410105001001001"  # north-west grid of the north-west community
COMMUNITY = "410105001001"


def grids() -> dict:
    return tree_collections()[AreaLevel.grid]


def find(fc: dict, code: str) -> dict:
    return next(f for f in fc["features"] if f["properties"]["code"] == code)


def import_grids(db: Session, fc: dict, **kwargs) -> service.ImportReport:
    return service.import_geojson(db=db, collection=fc, level=AreaLevel.grid, source="grids.geojson", **kwargs)


def rejected(db: Session, fc: dict, **kwargs) -> InputError:
    with pytest.raises(InputError) as caught:
        import_grids(db, fc, **kwargs)
    return caught.value


def count(db: Session, level: AreaLevel) -> int:
    return db.scalar(select(func.count(Area.id)).where(Area.level == level))


# --- a good import ---------------------------------------------------------------------------------------------------


def test_import_builds_the_tree_with_paths_bboxes_and_geodesic_areas(db, tree):
    assert {level: len(report.created) for level, report in tree.items()} == {
        AreaLevel.district: 1,
        AreaLevel.street: 2,
        AreaLevel.community: 4,
        AreaLevel.grid: 16,
    }
    grid = service.get(db=db, code=GRID)
    assert grid.level is AreaLevel.grid
    assert grid.path == "/410105/410105001/410105001001/410105001001001/"
    assert grid.parent.code == COMMUNITY
    assert grid.population == 600
    assert (grid.min_lng, grid.min_lat, grid.max_lng, grid.max_lat) == pytest.approx(grid.geometry.bounds)
    assert grid.area_m2 == pytest.approx(area_m2(grid.geometry), abs=0.01)
    assert grid.area_m2 == pytest.approx(250 * 250, rel=0.01)  # the synthetic lattice is 250 m a side
    district = service.get(db=db, code=DISTRICT)
    assert district.parent_id is None and district.path == "/410105/"
    assert district.area_m2 == pytest.approx(16 * grid.area_m2, rel=1e-3)


def test_import_stores_extra_properties_as_attributes_and_orients_rings(db, communities):
    fc = grids()
    f = find(fc, GRID)
    f["properties"].update({"责任人": "张三", "land_use": "residential"})
    f["geometry"]["coordinates"][0].reverse()  # clockwise shell
    import_grids(db, fc)
    grid = service.get(db=db, code=GRID)
    assert grid.attributes == {"责任人": "张三", "land_use": "residential"}
    assert grid.geometry.exterior.is_ccw  # RFC 7946 right-hand rule


def test_a_single_feature_and_building_points_are_accepted(db, tree):
    x0, y0, _, _ = grid_boxes(COMMUNITY)[GRID]
    point = shapely.Point(shape(rect(x0 + 10, y0 + 10, x0 + 20, y0 + 20)).centroid)
    building = feature(GRID + "00001", "1号楼", GRID, mapping(point))
    report = service.import_geojson(db=db, collection=building, level="building", source="b.geojson")
    assert report.created == [GRID + "00001"]
    assert service.get(db=db, code=GRID + "00001").area_m2 == 0


# --- each validation error names the feature, the code and the field -------------------------------------------------


def test_invalid_geometry_is_rejected_and_fix_repairs_it(db, communities):
    fc = grids()
    ring = find(fc, GRID)["geometry"]["coordinates"][0]
    # A bow-tie: swap two corners so the ring crosses itself.
    ring[1], ring[2] = ring[2], ring[1]
    error = rejected(db, copy.deepcopy(fc))
    [issue] = error.issues
    assert issue.where == f"grids.geojson feature 0 (code {GRID})"
    assert issue.field == "geometry"
    assert "Self-intersection" in issue.message and "--fix" in issue.message
    assert count(db, AreaLevel.grid) == 0

    report = import_grids(db, fc, fix=True, overlap_tolerance_m2=1e9)
    assert report.repaired == [GRID]
    repaired = service.get(db=db, code=GRID).geometry
    assert repaired.is_valid and repaired.geom_type == "MultiPolygon"


def test_child_outside_its_parent_beyond_tolerance_is_rejected(db, communities):
    x0, y0, x1, y1 = grid_boxes(COMMUNITY)[GRID]
    fc = grids()
    find(fc, GRID)["geometry"] = rect(x0 - 30, y0, x1, y1)  # 30 m west of the district edge
    [issue] = rejected(db, fc).issues
    assert issue.where == f"grids.geojson feature 0 (code {GRID})"
    assert "lies outside its parent 410105001001 by up to 30" in issue.message
    assert "tolerance 5 m" in issue.message

    find(fc, GRID)["geometry"] = rect(x0 - 2, y0, x1, y1)  # 2 m is within the default 5 m
    assert len(import_grids(db, fc).created) == 16


def test_long_straight_shared_edges_are_inside_their_parent(db):
    # A 40 km wide district split into 40 streets: each street's southern edge lies on the district's single
    # 40 km edge. Straight in degrees, they must stay inside with zero tolerance (no projection may bend them).
    def box(x0: float, x1: float) -> dict:
        return mapping(shapely.box(113.5 + x0, 34.6, 113.5 + x1, 34.8))

    service.import_geojson(db=db, collection=collection(feature("410105", "区", None, box(0, 0.4))), level="district")
    streets = collection(
        *(feature(f"410105{i + 1:03d}", f"S{i}", "410105", box(i / 100, (i + 1) / 100)) for i in range(40))
    )
    report = service.import_geojson(
        db=db, collection=streets, level="street", containment_tolerance_m=0, overlap_tolerance_m2=0
    )
    assert len(report.created) == 40


def test_updated_parent_must_still_contain_its_children(db, tree):
    before = service.get(db=db, code=COMMUNITY).geometry
    fc = tree_collections()[AreaLevel.community]
    find(fc, COMMUNITY)["geometry"] = rect(0, 600, 500, 1000)  # shrinks away from its two southern grids
    with pytest.raises(InputError) as caught:
        service.import_geojson(db=db, collection=fc, level="community", source="c.geojson")
    messages = sorted(issue.message for issue in caught.value.issues if issue.where.endswith(f"(code {COMMUNITY})"))
    assert len(messages) == 2
    assert messages[0].startswith("the new boundary leaves its existing child 410105001001003 (经八路北社区第3网格)")
    assert service.get(db=db, code=COMMUNITY).geometry.equals(before)


def test_overlapping_siblings_are_rejected_beyond_tolerance(db, communities):
    x0, y0, x1, y1 = grid_boxes(COMMUNITY)[GRID]
    fc = grids()
    find(fc, GRID)["geometry"] = rect(x0, y0, x1 + 10, y1)  # 10 m × 250 m into its east neighbour
    issues = rejected(db, fc).issues
    assert len(issues) == 1
    assert issues[0].where == "grids.geojson feature 1 (code 410105001001002)"
    assert "overlaps its sibling 410105001001001 (feature 0) by 25" in issues[0].message  # ≈ 2,500 m²

    find(fc, GRID)["geometry"] = rect(x0, y0, x1 + 0.05, y1)  # a 12.5 m² sliver is tolerated
    assert len(import_grids(db, fc).created) == 16


def test_overlap_with_an_existing_sibling_is_rejected(db, communities):
    fc = grids()
    fc["features"] = [f for f in fc["features"] if f["properties"]["code"] != GRID]
    import_grids(db, fc)
    x0, y0, x1, y1 = grid_boxes(COMMUNITY)[GRID]
    newcomer = collection(feature(GRID, "新网格", COMMUNITY, rect(x0, y0, x1 + 20, y1)))
    [issue] = rejected(db, newcomer).issues
    assert "overlaps its sibling 410105001001002 (existing)" in issue.message


def test_duplicate_codes_unknown_parents_and_wrong_levels_are_each_named(db, communities):
    fc = grids()
    features = fc["features"]
    features[3]["properties"]["code"] = features[2]["properties"]["code"]  # duplicate
    features[5]["properties"]["parent"] = "410105009009"  # unknown
    features[6]["properties"]["parent"] = "410105001"  # a street, not a community
    features[7]["properties"]["level"] = "community"  # says it is something else
    error = rejected(db, fc)
    by_where = {issue.where: issue for issue in error.issues}
    assert by_where["grids.geojson feature 3 (code 410105001001003)"].message.startswith(
        "duplicate code 410105001001003 (also feature 2)"
    )
    unknown = by_where["grids.geojson feature 5 (code 410105001002002)"]
    assert unknown.field == "parent" and "unknown parent 410105009009" in unknown.message
    wrong = by_where["grids.geojson feature 6 (code 410105001002003)"]
    assert "wrong level: parent 410105001 is a street; a grid's parent must be a community" in wrong.message
    assert "wrong level" in by_where["grids.geojson feature 7 (code 410105001002004)"].message
    assert error.summary == "grids.geojson: nothing imported"
    assert count(db, AreaLevel.grid) == 0


def test_a_code_that_exists_at_another_level_is_a_wrong_level(db, tree):
    x0, y0, x1, y1 = grid_boxes(COMMUNITY)[GRID]
    fc = collection(feature("410105002", "Not a grid", COMMUNITY, rect(x0, y0, x1, y1)))
    messages = [issue.message for issue in rejected(db, fc, overlap_tolerance_m2=1e9).issues]
    assert any("code 410105002 already exists as a street, not a grid" in m for m in messages)


def test_a_district_with_a_parent_and_missing_fields_are_reported(db):
    fc = collection(
        feature(DISTRICT, "金水区", "410100", rect(0, 0, 1000, 1000)),
        {"type": "Feature", "properties": {"code": "410106"}, "geometry": None},
    )
    with pytest.raises(InputError) as caught:
        service.import_geojson(db=db, collection=fc, level="district", source="d.geojson")
    issues = [(i.where, i.field, i.message) for i in caught.value.issues]
    has_parent = "wrong level: a district has no parent (got 410100)"
    assert ("d.geojson feature 0 (code 410105)", "parent", has_parent) in issues
    assert ("d.geojson feature 1 (code 410106)", "name", "name missing") in issues
    assert ("d.geojson feature 1 (code 410106)", "geometry", "geometry missing") in issues


def test_swapped_or_projected_coordinates_and_bad_numbers_are_explained(db, communities):
    fc = grids()
    swapped = find(fc, GRID)["geometry"]["coordinates"][0]
    find(fc, GRID)["geometry"]["coordinates"][0] = [[lat, lng] for lng, lat in swapped]
    fc["features"][1]["geometry"]["coordinates"][0] = [[12_650_000 + i, 4_130_000 + i % 2] for i in range(4)] + [
        [12_650_000, 4_130_000]
    ]
    fc["features"][2]["properties"]["population"] = "many"
    issues = rejected(db, fc).issues
    assert "GeoJSON puts longitude first" in issues[0].message
    assert "projected coordinates" in issues[1].message
    assert issues[2].field == "population" and "'many'" in issues[2].message


def test_statistical_codes_must_extend_their_parent(db, communities):
    fc = grids()
    find(fc, GRID)["properties"]["code"] = "410105002001001"  # another street's prefix
    fc["features"][1]["properties"]["code"] = "G-2"  # not statistical under a statistical community
    issues = rejected(db, fc).issues
    assert "needs a 15-digit code starting with 410105001001" in issues[0].message
    assert issues[1].where == "grids.geojson feature 1 (code G-2)" and issues[1].field == "code"


def test_non_statistical_codes_are_free_below_a_non_statistical_parent(db):
    service.import_geojson(
        db=db, collection=collection(feature("JS", "Demo district", None, rect(0, 0, 1000, 1000))), level="district"
    )
    report = service.import_geojson(
        db=db, collection=collection(feature("JS-east", "East", "JS", rect(500, 0, 1000, 1000))), level="street"
    )
    assert report.created == ["JS-east"]
    assert service.get(db=db, code="JS-east").path == "/JS/JS-east/"


def test_not_a_feature_collection_is_rejected(db):
    with pytest.raises(InputError) as caught:
        service.import_geojson(db=db, collection={"type": "Topology"}, level="grid", source="x.json")
    assert caught.value.issues[0].message == "not a GeoJSON FeatureCollection (type is 'Topology')"
    fc = {"type": "FeatureCollection", "crs": {"properties": {"name": "EPSG:3857"}}, "features": []}
    with pytest.raises(InputError) as caught:
        service.import_geojson(db=db, collection=fc, level="grid", source="x.json")
    assert "EPSG:3857" in caught.value.issues[0].message


# --- all or nothing, coordinates, upsert ------------------------------------------------------------------------------


def test_an_import_with_one_bad_feature_writes_nothing(db, tree):
    fc = grids()
    for f in fc["features"]:
        f["properties"]["name"] += " (renamed)"
    fc["features"][-1]["properties"]["name"] = ""
    rejected(db, fc)
    assert db.scalar(select(func.count(Area.id)).where(Area.name.like("%(renamed)"))) == 0
    assert service.get(db=db, code=GRID).name == "经八路北社区第1网格"


# NOTE: GCJ-02 is inverted by iteration (sub-millimetre); the public BD-09 formulas undo each other only to ~10 cm.
@pytest.mark.parametrize(("crs", "tolerance"), [(Crs.gcj02, 1e-8), (Crs.bd09, 2e-6)])
def test_gcj02_and_bd09_boundaries_are_stored_in_wgs84(db, communities, crs, tolerance):
    original = grids()
    shifted = copy.deepcopy(original)
    for f in shifted["features"]:
        ring = np.array(f["geometry"]["coordinates"][0])
        lng, lat = from_wgs84(ring[:, 0], ring[:, 1], crs)
        f["geometry"]["coordinates"][0] = np.column_stack([lng, lat]).tolist()
    assert shape(find(shifted, GRID)["geometry"]).distance(shape(find(original, GRID)["geometry"])) > 0.001
    import_grids(db, shifted, crs=crs)
    stored = service.get(db=db, code=GRID).geometry
    assert stored.hausdorff_distance(shape(find(original, GRID)["geometry"])) < tolerance


def test_reimport_upserts_by_code(db, tree):
    before = service.get(db=db, code=GRID)
    first_id, created_at = before.id, before.created_at
    report = import_grids(db, grids())
    assert report.unchanged == sorted(report.unchanged) and len(report.unchanged) == 16
    assert report.created == report.updated == []

    fc = grids()
    find(fc, GRID)["properties"].update(name="新名字", population=777)
    report = import_grids(db, fc)
    assert report.updated == [GRID] and len(report.unchanged) == 15
    after = service.get(db=db, code=GRID)
    assert (after.id, after.created_at, after.name, after.population) == (first_id, created_at, "新名字", 777)


def test_moving_an_area_rewrites_the_paths_below_it(db, tree):
    twin = collection(feature("XX", "Twin district", None, rect(0, 0, 1000, 1000)))
    service.import_geojson(db=db, collection=twin, level="district", overlap_tolerance_m2=1e9)
    streets = tree_collections()[AreaLevel.street]
    find(streets, "410105001")["properties"]["parent"] = "XX"
    report = service.import_geojson(db=db, collection=streets, level="street")
    assert report.updated == ["410105001"]
    assert service.get(db=db, code=GRID).path == "/XX/410105001/410105001001/410105001001001/"


# --- attributes from XLSX/CSV ---------------------------------------------------------------------------------------


def test_import_attributes_sets_figures_and_extra_columns(db, tree):
    rows = [
        {"编码": GRID, "人口": 1234, "户数": "456", "网格员": "李四"},
        {"编码": "410105001001002", "名称": "二号网格", "人口": None, "户数": None, "网格员": None},
    ]
    report = service.import_attributes(db=db, rows=rows, source="grids.xlsx sheet 'Sheet1'")
    assert report.updated == [GRID, "410105001001002"]
    grid = service.get(db=db, code=GRID)
    assert (grid.population, grid.households, grid.attributes) == (1234, 456, {"网格员": "李四"})
    second = service.get(db=db, code="410105001001002")
    assert (second.name, second.population) == ("二号网格", 600)  # blank cells keep what was there


def test_import_attributes_names_row_and_column_and_writes_nothing(db, tree):
    rows = [
        {"code": GRID, "population": 10},
        {"code": "999", "population": 5},
        {"code": "410105001001002", "population": "lots"},
        {"code": None, "population": 1},
    ]
    with pytest.raises(InputError) as caught:
        service.import_attributes(db=db, rows=rows, source="pop.csv")
    issues = [(i.where, i.field, i.message) for i in caught.value.issues]
    assert issues == [
        ("pop.csv row 3 (code 999)", "code", "unknown area code 999: import its boundary first"),
        ("pop.csv row 4 (code 410105001001002)", "population", "population must be a whole number ≥ 0, got 'lots'"),
        ("pop.csv row 5", "code", "code missing"),
    ]
    assert service.get(db=db, code=GRID).population == 600


def test_import_attributes_needs_a_code_column(db):
    with pytest.raises(InputError) as caught:
        service.import_attributes(db=db, rows=[{"name": "x"}], source="a.csv")
    assert "no code column" in caught.value.issues[0].message


# --- reading and export ---------------------------------------------------------------------------------------------


def test_tree_lists_down_to_communities_and_counts_grids(db, tree):
    [district] = service.get_tree(db=db)
    assert district.counts == {AreaLevel.street: 2, AreaLevel.community: 4, AreaLevel.grid: 16}
    assert [street.code for street in district.children] == ["410105001", "410105002"]
    community = district.children[0].children[0]
    assert (community.code, community.children, community.counts) == (COMMUNITY, [], {AreaLevel.grid: 4})

    [street] = service.get_tree(db=db, root_code="410105002", depth=0)
    assert (street.code, street.children, street.counts) == ("410105002", [], {AreaLevel.community: 2})
    [community] = service.get_tree(db=db, root_code=COMMUNITY)
    assert [grid.code for grid in community.children] == [GRID[:-1] + str(n) for n in range(1, 5)]


def test_describe_and_not_found(db, tree):
    area = service.describe(db=db, code=GRID)
    assert [a.code for a in area.ancestors] == [DISTRICT, "410105001", COMMUNITY]
    assert area.parent.code == COMMUNITY and area.children == []
    assert area.geometry["type"] == "Polygon"
    with pytest.raises(NotFoundError):
        service.get(db=db, code="nope")


def test_export_round_trips(db, tree):
    for level in (AreaLevel.district, AreaLevel.street, AreaLevel.community, AreaLevel.grid):
        exported = service.export_geojson(db=db, level=level)
        originals = {f["properties"]["code"]: f for f in tree_collections()[level]["features"]}
        assert [f["id"] for f in exported["features"]] == sorted(originals)
        for f in exported["features"]:
            original = originals[f["id"]]
            for key in ("name", "parent", "population"):
                assert f["properties"].get(key) == original["properties"].get(key)
            assert shape(f["geometry"]).hausdorff_distance(shape(original["geometry"])) < 1e-7
        report = service.import_geojson(db=db, collection=exported, level=level, source="exported.geojson")
        assert len(report.unchanged) == len(originals), report.summary()


def test_export_within_and_simplified(db, communities):
    fc = grids()
    for f in fc["features"]:
        # Densify every edge with collinear vertices, which simplification must remove again.
        f["geometry"] = mapping(shapely.segmentize(shape(f["geometry"]), 0.0002))
    import_grids(db, fc)
    within = service.export_geojson(db=db, level="grid", within_code=COMMUNITY)
    assert [f["id"] for f in within["features"]] == [GRID[:-1] + str(n) for n in range(1, 5)]
    assert len(within["features"][0]["geometry"]["coordinates"][0]) > 20

    simplified = service.export_geojson(db=db, level="grid", simplify_m=1, within_code=COMMUNITY)
    shapes = [shape(f["geometry"]) for f in simplified["features"]]
    assert [len(s.exterior.coords) for s in shapes] == [5, 5, 5, 5]
    assert all(s.is_valid for s in shapes)
    assert shapes[0].intersection(shapes[1]).area < 1e-12  # neighbours still meet edge to edge
    with pytest.raises(NotFoundError):
        service.export_geojson(db=db, level="grid", within_code="nope")


def test_codes_with_quotes_and_like_wildcards_are_stored_and_found(db):
    fc = collection(feature("D'1%_x", "odd", None, rect(0, 0, 100, 100)))
    assert service.import_geojson(db=db, collection=fc, level="district").created == ["D'1%_x"]
    assert service.import_geojson(db=db, collection=fc, level="district").unchanged == ["D'1%_x"]
    fc = collection(feature("S'1%", "odd street", "D'1%_x", rect(0, 0, 50, 100)))
    assert service.import_geojson(db=db, collection=fc, level="street").created == ["S'1%"]
    assert service.describe(db=db, code="S'1%").ancestors[0].code == "D'1%_x"
    assert len(service.export_geojson(db=db, level="street", within_code="D'1%_x")["features"]) == 1
