import csv
import json
import math
import re
from collections import defaultdict
from importlib import resources

import numpy as np
import pytest
import shapely
from shapely.geometry import box, shape

from gridgov.core.geo import Crs, area_m2, distance_m, geometry_to_wgs84
from gridgov.demo import build
from gridgov.demo.generate import (
    GRID_HOUSEHOLDS,
    _reading_order,
    generate_areas,
    load_district,
    load_streets,
)
from gridgov.domains.areas.enums import AreaLevel

CODE_LENGTH = {
    AreaLevel.district: 6,
    AreaLevel.street: 9,
    AreaLevel.community: 12,
    AreaLevel.grid: 15,
    AreaLevel.building: 18,
}


@pytest.fixture(scope="module")
def tree(areas):
    """code → (level, geometry, properties), and parent code → child codes."""
    nodes, children = {}, defaultdict(list)
    for level in AreaLevel:
        for feature in areas.features(level):
            properties = feature["properties"]
            nodes[properties["code"]] = (level, shape(feature["geometry"]), properties)
            if properties["parent"]:
                children[properties["parent"]].append(properties["code"])
    return nodes, children


def test_streets_are_jinshuis_17_offices_with_real_names_and_codes(areas):
    streets = {f["properties"]["code"]: f["properties"]["name"] for f in areas.features(AreaLevel.street)}
    assert len(streets) == 17
    assert streets["410105001"] == "经八路街道"
    assert streets["410105019"] == "丰庆路街道"
    # 龙子湖 and 祭城路 (014, 015) and the 56x codes are administered by Zhengdong New District.
    assert not {"410105014", "410105015", "410105560"} & set(streets)
    assert all(f["properties"]["parent"] == "410105" for f in areas.features(AreaLevel.street))


def test_counts_follow_the_issue(areas, tree):
    nodes, children = tree
    per_street = [len(children[f["properties"]["code"]]) for f in areas.features(AreaLevel.street)]
    assert min(per_street) >= 8 and max(per_street) <= 15
    households = [f["properties"]["households"] for f in areas.features(AreaLevel.grid)]
    assert min(households) >= GRID_HOUSEHOLDS[0] and max(households) <= GRID_HOUSEHOLDS[1]
    per_grid = [len(children[f["properties"]["code"]]) for f in areas.features(AreaLevel.grid)]
    assert min(per_grid) >= 5 and max(per_grid) <= 15
    district = areas.features(AreaLevel.district)[0]["properties"]
    assert 1_500_000 <= district["population"] <= 1_700_000
    assert 2.4 <= district["population"] / district["households"] <= 2.8


def test_parents_sum_their_childrens_population_and_households(tree):
    nodes, children = tree
    for code, kids in children.items():
        _, _, properties = nodes[code]
        for figure in ("population", "households"):
            assert properties[figure] == sum(nodes[kid][2][figure] for kid in kids), (code, figure)


def test_codes_extend_the_parent_code_and_are_numbered_from_001(tree):
    nodes, children = tree
    for code, (level, _, properties) in nodes.items():
        assert re.fullmatch(rf"\d{{{CODE_LENGTH[level]}}}", code), code
        if properties["parent"]:
            assert code.startswith(properties["parent"])
    for parent, kids in children.items():
        if nodes[parent][0] is AreaLevel.district:
            continue  # street codes are the real statistical ones, not a sequence
        assert sorted(kid[-3:] for kid in kids) == [f"{n:03d}" for n in range(1, len(kids) + 1)], parent


def test_names_are_chinese_and_unique(areas):
    communities = [f["properties"]["name"] for f in areas.features(AreaLevel.community)]
    assert len(set(communities)) == len(communities)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2}社区", name) for name in communities)
    grid = areas.features(AreaLevel.grid)[0]["properties"]
    assert grid["name"].endswith("第1网格") and grid["code"].endswith("001")


def test_geometries_are_valid_single_polygons_and_buildings_points(tree):
    nodes, _ = tree
    for code, (level, geometry, _) in nodes.items():
        expected = "Point" if level is AreaLevel.building else "Polygon"
        assert geometry.geom_type == expected, code
        assert geometry.is_valid, (code, shapely.is_valid_reason(geometry))


def _m2(geometry) -> float:
    # Planar area scaled to square metres at Jinshui's latitude: geodesic area is unreliable for slivers.
    return float(shapely.area(geometry)) * 111_320.0 * math.cos(math.radians(34.8)) * 110_574.0


def test_children_tile_their_parent_without_overlaps_or_spill(tree):
    nodes, children = tree
    worst_overlap = worst_outside = worst_gap = 0.0
    for parent, kids in children.items():
        parent_level, parent_geometry, _ = nodes[parent]
        geometries = np.array([nodes[kid][1] for kid in kids], dtype=object)
        if parent_level is AreaLevel.grid:
            assert shapely.contains(parent_geometry, geometries).all(), parent
            continue
        tree_ = shapely.STRtree(geometries)
        a, b = tree_.query(geometries, predicate="intersects")
        pairs = a < b
        overlaps = shapely.intersection(geometries[a[pairs]], geometries[b[pairs]])
        worst_overlap = max(worst_overlap, max((_m2(g) for g in overlaps), default=0.0))
        worst_outside = max(worst_outside, max(_m2(g) for g in shapely.difference(geometries, parent_geometry)))
        worst_gap = max(worst_gap, _m2(parent_geometry.difference(shapely.union_all(geometries))))
    # The areas importer accepts 25 m² of overlap and 5 m of spill; the generator stays far below a square metre.
    assert worst_overlap < 1.0
    assert worst_outside < 1.0
    assert worst_gap < 1.0


def test_grids_are_numbered_north_to_south_then_west_to_east():
    # A 3 × 3 block of squares, given in scrambled order.
    squares = [box(x, y, x + 1, y + 1) for y in (2, 0, 1) for x in (1, 2, 0)]
    order = _reading_order(squares)
    corners = [(squares[i].bounds[0], squares[i].bounds[1]) for i in order]
    assert corners == [(0, 2), (1, 2), (2, 2), (0, 1), (1, 1), (2, 1), (0, 0), (1, 0), (2, 0)]


def test_generated_areas_are_numbered_from_north_west_to_south_east(tree):
    nodes, children = tree
    for parent, kids in children.items():
        level = nodes[parent][0]
        if level not in (AreaLevel.street, AreaLevel.community):
            continue
        first, last = (nodes[code][1].centroid for code in (min(kids), max(kids)))
        # Number 1 is in the northernmost row and the last number in the southernmost; with one row, west → east.
        assert first.y > last.y or first.x < last.x, parent


def test_two_runs_give_identical_output_and_the_seed_matters(areas):
    again = generate_areas()
    dump = {level.value: collection for level, collection in areas.collections.items()}
    assert json.dumps(dump, sort_keys=True) == json.dumps(
        {level.value: collection for level, collection in again.collections.items()}, sort_keys=True
    )
    other = generate_areas(seed=1)
    assert other.features(AreaLevel.street)[0]["geometry"] != areas.features(AreaLevel.street)[0]["geometry"]


def test_packaged_outline_is_wgs84_and_streets_csv_has_17_rows():
    code, name, outline = load_district()
    assert (code, name) == ("410105", "金水区")
    assert outline.is_valid and 200e6 < area_m2(outline) < 260e6
    # The GCJ-02 point the issue names, converted to WGS84, lies inside the packaged outline.
    assert outline.contains(shapely.Point(113.6655 - 0.0054, 34.7965 + 0.0011))
    streets = load_streets()
    assert len(streets) == 17 and all(s.weight > 0 for s in streets)
    packaged = resources.files("gridgov.demo").joinpath("data")
    assert all(packaged.joinpath(name).is_file() for name in ("district.geojson", "streets.csv", "catalog.yaml"))


def test_build_reproduces_the_packaged_files_from_the_shared_data(shared_data, tmp_path):
    written = build.build(shared_data, tmp_path)
    assert {path.name for path in written} == {"district.geojson", "streets.csv"}
    for path in written:
        packaged = build.DATA_DIR / path.name
        assert path.read_bytes() == packaged.read_bytes(), path.name
    # The conversion moved the outline from GCJ-02 by the few hundred metres the offset amounts to here.
    source = json.loads((shared_data / "jinshui" / "district_410105_gcj02.geojson").read_text(encoding="utf-8"))
    gcj = shape(source["features"][0]["geometry"]).representative_point()
    converted = json.loads(written[0].read_text(encoding="utf-8"))
    assert converted["features"][0]["properties"]["code"] == "410105"
    shift = distance_m(gcj.x, gcj.y, *geometry_to_wgs84(gcj, Crs.gcj02).coords[0])
    assert 300 < shift < 800
    with written[1].open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["code"] for row in rows][:3] == ["410105001", "410105002", "410105003"]
    assert "410105014" not in {row["code"] for row in rows}
