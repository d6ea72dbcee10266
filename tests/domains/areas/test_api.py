import pytest

from gridgov.core.geo import Crs, from_wgs84
from tests.domains.areas.synthetic import lnglat

GRID = "410105001001001"


def test_tree_lists_streets_and_communities_with_grid_counts(client, tree):
    response = client.get("/api/v1/areas/tree")
    assert response.status_code == 200
    [district] = response.json()
    assert (district["code"], district["name"]) == ("410105", "金水区")
    assert district["counts"] == {"street": 2, "community": 4, "grid": 16}
    streets = district["children"]
    assert [s["name"] for s in streets] == ["经八路街道", "花园路街道"]
    assert streets[0]["children"][0]["counts"] == {"grid": 4}
    assert streets[0]["children"][0]["children"] == []


def test_tree_from_a_root_with_a_depth(client, tree):
    [street] = client.get("/api/v1/areas/tree", params={"root": "410105002", "depth": 0}).json()
    assert (street["code"], street["children"], street["counts"]) == ("410105002", [], {"community": 2})
    [community] = client.get("/api/v1/areas/tree", params={"root": "410105002001", "depth": 1}).json()
    assert len(community["children"]) == 4
    assert client.get("/api/v1/areas/tree", params={"root": "nope"}).status_code == 404
    assert client.get("/api/v1/areas/tree", params={"depth": 9}).status_code == 422


def test_one_area(client, tree):
    response = client.get(f"/api/v1/areas/{GRID}")
    assert response.status_code == 200
    area = response.json()
    assert area["level"] == "grid" and area["name"] == "经八路北社区第1网格"
    assert area["parent"]["code"] == "410105001001"
    assert [a["level"] for a in area["ancestors"]] == ["district", "street", "community"]
    assert area["geometry"]["type"] == "Polygon"
    assert area["area_m2"] == pytest.approx(62_500, rel=0.01)
    community = client.get("/api/v1/areas/410105001001", params={"geometry": "false"}).json()
    assert community["geometry"] is None
    assert [c["code"] for c in community["children"]] == [GRID[:-1] + str(n) for n in range(1, 5)]


def test_unknown_area_is_a_404(client, tree):
    response = client.get("/api/v1/areas/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "no area with code '999'"}


def test_geojson_of_a_level(client, tree):
    response = client.get("/api/v1/areas/geojson", params={"level": "grid"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 16
    assert body["features"][0]["properties"]["parent"] == "410105001001"
    within = client.get("/api/v1/areas/geojson", params={"level": "grid", "within": "410105002", "simplify": 5})
    assert len(within.json()["features"]) == 8
    streets = client.get("/api/v1/areas/geojson", params={"level": "street"}).json()
    assert [f["id"] for f in streets["features"]] == ["410105001", "410105002"]


def test_geojson_rejects_bad_parameters(client, tree):
    assert client.get("/api/v1/areas/geojson", params={"level": "planet"}).status_code == 422
    assert client.get("/api/v1/areas/geojson", params={"simplify": -1}).status_code == 422
    assert client.get("/api/v1/areas/geojson", params={"within": "nope"}).status_code == 404


def test_locate_inside(client, tree):
    lng, lat = lnglat(125, 875)
    response = client.get("/api/v1/locate", params={"lng": lng, "lat": lat})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "inside"
    assert body["grid"] == {"id": body["grid"]["id"], "code": GRID, "name": "经八路北社区第1网格", "level": "grid"}
    assert (body["community"]["code"], body["street"]["code"], body["district"]["code"]) == (
        "410105001001",
        "410105001",
        "410105",
    )
    assert body["input"] == {"lng": lng, "lat": lat, "crs": "wgs84"}
    assert body["nearest"] is None and body["distance_m"] is None


def test_locate_gcj02_input_and_outside(client, tree):
    lng, lat = lnglat(875, 125)
    g_lng, g_lat = (float(v) for v in from_wgs84(lng, lat, Crs.gcj02))
    body = client.get("/api/v1/locate", params={"lng": g_lng, "lat": g_lat, "crs": "gcj02"}).json()
    assert body["status"] == "inside" and body["grid"]["code"] == "410105002002004"
    assert body["wgs84"]["lng"] == pytest.approx(lng, abs=1e-7)

    lng, lat = lnglat(1100, 600)
    body = client.get("/api/v1/locate", params={"lng": lng, "lat": lat}).json()
    assert body["status"] == "outside" and body["grid"] is None
    assert body["nearest"]["code"] == "410105002001004"
    assert body["distance_m"] == pytest.approx(100, abs=1)


def test_locate_without_grids_is_empty(client):
    body = client.get("/api/v1/locate", params={"lng": 113.7, "lat": 34.78}).json()
    assert body["status"] == "empty"


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({"lat": "34.78"}, "lng", "missing"),
        ({"lng": "113.7"}, "lat", "missing"),
        ({"lng": "east", "lat": "34.78"}, "lng", "not a number: 'east'"),
        ({"lng": "34", "lat": "113"}, "lat", "look swapped"),
        ({"lng": "113.7", "lat": "95"}, "lat", "out of range [-90, 90]"),
        ({"lng": "113.7", "lat": "34.7", "crs": "utm"}, "crs", "unknown coordinate system"),
    ],
)
def test_locate_rejects_bad_coordinates_with_a_422(client, params, field, fragment):
    response = client.get("/api/v1/locate", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "invalid coordinates"
    assert any(issue["field"] == field and fragment in issue["message"] for issue in body["issues"]), body


def test_openapi_lists_the_area_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/areas/tree", "/api/v1/areas/geojson", "/api/v1/areas/{code}", "/api/v1/locate"):
        assert path in paths
        assert next(iter(paths[path].values()))["tags"] == ["areas"]
