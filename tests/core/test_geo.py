"""WGS84 ↔ GCJ-02 ↔ BD-09 against published reference pairs, and round trips across China.

Reference pairs, each checked by hand against our implementation before being written down:
- googollee/eviltransform, python/test.py: WGS84 → GCJ-02 for Shanghai, Shenzhen and Beijing (its test asserts six
  decimals; its BD-09 pairs are NOT used here: they differ from the public BD-09 formula by 10–41 m, apparently
  taken from Baidu's own service, so they cannot check a formula implementation).
- wandergis/coordtransform, test/app.js: the conversions of (116.404, 39.915) printed in its "result" comment.
  Its gcj02towgs84 is the one-step approximation (lng·2 − gcj), so for that direction we check that our iterative
  inverse is the exact inverse and within 2 m of theirs.
"""

import numpy as np
import pytest
import shapely

from gridgov.core import geo

# (wgs_lng, wgs_lat, gcj_lng, gcj_lat), from eviltransform's python/test.py (stored there as lat, lng).
EVILTRANSFORM_WGS_GCJ = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),  # Shanghai
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),  # Shenzhen
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),  # Beijing
]
# coordtransform's test/app.js: every conversion applied to (116.404, 39.915).
COORDTRANSFORM_INPUT = (116.404, 39.915)
COORDTRANSFORM = {
    "bd09_to_gcj02": (116.39762729119315, 39.90865673957631),
    "gcj02_to_bd09": (116.41036949371029, 39.92133699351021),
    "wgs84_to_gcj02": (116.41024449916938, 39.91640428150164),
    "gcj02_to_wgs84_one_step": (116.39775550083061, 39.91359571849836),
}


def as_floats(pair):
    return float(pair[0]), float(pair[1])


@pytest.mark.parametrize(("w_lng", "w_lat", "g_lng", "g_lat"), EVILTRANSFORM_WGS_GCJ)
def test_wgs84_to_gcj02_matches_eviltransform(w_lng, w_lat, g_lng, g_lat):
    assert as_floats(geo.wgs84_to_gcj02(w_lng, w_lat)) == pytest.approx((g_lng, g_lat), abs=1e-7)
    back = as_floats(geo.gcj02_to_wgs84(g_lng, g_lat))
    assert geo.distance_m(*back, w_lng, w_lat) < 0.01


def test_forward_formulas_match_coordtransform():
    x, y = COORDTRANSFORM_INPUT
    assert as_floats(geo.gcj02_to_bd09(x, y)) == pytest.approx(COORDTRANSFORM["gcj02_to_bd09"], abs=1e-9)
    assert as_floats(geo.wgs84_to_gcj02(x, y)) == pytest.approx(COORDTRANSFORM["wgs84_to_gcj02"], abs=1e-9)


def test_gcj02_to_wgs84_is_the_exact_inverse_unlike_the_one_step_approximation():
    x, y = COORDTRANSFORM_INPUT
    ours = as_floats(geo.gcj02_to_wgs84(x, y))
    assert as_floats(geo.wgs84_to_gcj02(*ours)) == pytest.approx((x, y), abs=1e-9)
    approximate = COORDTRANSFORM["gcj02_to_wgs84_one_step"]
    assert 0.01 < geo.distance_m(*ours, *approximate) < 2


def test_bd09_to_gcj02_refines_coordtransforms_closed_form_to_the_exact_inverse():
    x, y = COORDTRANSFORM_INPUT
    ours = as_floats(geo.bd09_to_gcj02(x, y))
    assert as_floats(geo.gcj02_to_bd09(*ours)) == pytest.approx((x, y), abs=1e-9)
    assert geo.distance_m(*ours, *COORDTRANSFORM["bd09_to_gcj02"]) < 0.5  # the closed form is off by centimetres


def test_bd09_round_trip_is_millimetre_exact():
    lng, lat = random_points_in_china(3000, seed=3)
    back = geo.bd09_to_wgs84(*geo.wgs84_to_bd09(lng, lat))
    errors = [geo.distance_m(a, b, c, d) for a, b, c, d in zip(lng, lat, *back, strict=True)]
    assert max(errors) < 0.001


def random_points_in_china(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(73.7, 134.8, n), rng.uniform(18.2, 53.4, n)


@pytest.mark.parametrize("crs", [geo.Crs.gcj02, geo.Crs.bd09])
def test_round_trips_stay_below_a_metre_across_china(crs):
    lng, lat = random_points_in_china(3000)
    shifted = geo.from_wgs84(lng, lat, crs)
    moved = [geo.distance_m(a, b, c, d) for a, b, c, d in zip(lng, lat, *shifted, strict=True)]
    assert min(moved) > 10 and np.median(moved) > 100  # the shift is real: typically hundreds of metres
    back = geo.to_wgs84(*shifted, crs)
    errors = [geo.distance_m(a, b, c, d) for a, b, c, d in zip(lng, lat, *back, strict=True)]
    assert max(errors) < 1.0


def test_gcj02_round_trip_is_millimetre_exact():
    lng, lat = random_points_in_china(3000, seed=2)
    back = geo.gcj02_to_wgs84(*geo.wgs84_to_gcj02(lng, lat))
    errors = [geo.distance_m(a, b, c, d) for a, b, c, d in zip(lng, lat, *back, strict=True)]
    assert max(errors) < 0.001


@pytest.mark.parametrize(
    ("lng", "lat"),
    [(2.3522, 48.8566), (-74.006, 40.7128), (151.2093, -33.8688), (139.6917, 56.5), (60.0, 30.0)],
)
def test_points_outside_china_are_unchanged(lng, lat):
    for crs in geo.Crs:
        assert as_floats(geo.to_wgs84(lng, lat, crs)) == (lng, lat)
        assert as_floats(geo.from_wgs84(lng, lat, crs)) == (lng, lat)


def test_geometry_conversion_moves_every_vertex():
    polygon = shapely.box(113.68, 34.77, 113.69, 34.78)
    converted = geo.geometry_to_wgs84(polygon, geo.Crs.gcj02)
    expected = np.column_stack(geo.gcj02_to_wgs84(*shapely.get_coordinates(polygon).T))
    assert np.allclose(shapely.get_coordinates(converted), expected, atol=1e-12)
    assert geo.geometry_to_wgs84(polygon, "wgs84") is polygon


def test_area_and_distance_helpers():
    # A 0.01° square at the equator: about 1.113 km by 1.106 km on the WGS84 ellipsoid.
    assert geo.area_m2(shapely.box(0, 0, 0.01, 0.01)) == pytest.approx(1_113_195 * 1_105.74 / 1000, rel=1e-3)
    assert geo.area_m2(shapely.Point(0, 0)) == 0
    assert geo.distance_m(0, 0, 0, 1) == pytest.approx(110_574, rel=1e-4)
