"""The read-only catalogue API."""

from __future__ import annotations

import pytest

from gridgov.domains.catalog import service
from gridgov.domains.catalog.schemas import CatalogDocument


@pytest.fixture
def catalog(db, areas, sample):
    service.import_document(db=db, document=CatalogDocument.model_validate(sample), source="cat.yaml")
    db.flush()


def test_list_units_with_filters(client, catalog):
    response = client.get("/api/v1/catalog/units")
    assert response.status_code == 200
    units = response.json()
    assert [u["code"] for u in units] == ["GAS", "JS-CGJ", "JS-CYZX", "JS-HWZX", "JB8-BSC", "JB8-CGZD", "JB8-SQ"]
    team = next(u for u in units if u["code"] == "JB8-CGZD")
    assert team == {
        "code": "JB8-CGZD",
        "name": "经八路街道城管中队",
        "kind": "street_team",
        "level": "street",
        "function": "urban_management",
        "parent": "JB8-BSC",
        "area": "410105001",
        "phone": None,
        "is_active": True,
    }
    street = client.get("/api/v1/catalog/units", params={"level": "street", "function": "urban_management"}).json()
    assert [u["code"] for u in street] == ["JB8-CGZD"]
    assert [u["code"] for u in client.get("/api/v1/catalog/units", params={"area": "410105001001"}).json()] == [
        "JB8-SQ"
    ]
    assert [u["code"] for u in client.get("/api/v1/catalog/units", params={"q": "环卫"}).json()] == ["JS-HWZX"]
    assert client.get("/api/v1/catalog/units", params={"level": "province"}).status_code == 422


def test_get_unit_with_children_and_powers(client, catalog):
    body = client.get("/api/v1/catalog/units/JS-CGJ").json()
    assert body["parent"] == "JS-CYZX" and body["parent_name"] == "金水区城运中心" and body["area_name"] == "金水区"
    assert body["children"] == []
    assert body["powers"] == [
        {
            "code": "CGJ-CF-001",
            "unit": "JS-CGJ",
            "unit_name": "金水区城市管理局",
            "title": "对占道经营的行政处罚",
            "category": "行政处罚",
            "legal_basis": "《城市市容和环境卫生管理条例》第三十六条",
            "matters": ["E0501"],
        }
    ]
    office = client.get("/api/v1/catalog/units/JB8-BSC").json()
    assert [child["code"] for child in office["children"]] == ["JB8-CGZD", "JB8-SQ"]
    missing = client.get("/api/v1/catalog/units/NOPE")
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


def test_list_matter_types_with_filters(client, catalog):
    everything = client.get("/api/v1/catalog/matter-types").json()
    assert [m["code"] for m in everything] == ["C0105", "E0102", "E0501"]
    assert everything[0]["department_only"] is True and everything[0]["keywords"] == ["井盖", "燃气"]
    assert "time_limits" not in everything[0]
    events = client.get("/api/v1/catalog/matter-types", params={"kind": "event", "major_code": "01"}).json()
    assert [m["code"] for m in events] == ["E0102"]
    assert [m["code"] for m in client.get("/api/v1/catalog/matter-types", params={"q": "摆摊"}).json()] == ["E0501"]


def test_get_matter_type_with_limits_rules_access_and_powers(client, catalog):
    body = client.get("/api/v1/catalog/matter-types/E0501").json()
    assert body["default_urgency"] == "urgent" and body["evidence_required"] is False
    assert body["time_limits"] == [
        {"urgency": "normal", "stage": "handle", "amount": 0.5, "unit": "working_days", "limit": "0.5wd"}
    ]
    assert body["responsibilities"] == [
        {
            "matter": "E0501",
            "matter_name": "占道经营",
            "area": None,
            "area_name": None,
            "level": "street",
            "unit": None,
            "unit_name": None,
            "function": "urban_management",
            "co_units": [],
            "co_functions": ["community"],
            "legal_basis": "《城市市容和环境卫生管理条例》第十四条",
        }
    ]
    assert [(a["area"], a["area_name"], a["admitted"]) for a in body["grid_access"]] == [
        (None, None, False),
        ("410105001", "经八路街道", True),
    ]
    assert [p["code"] for p in body["powers"]] == ["CGJ-CF-001"]
    gas = client.get("/api/v1/catalog/matter-types/C0105").json()
    assert [(t["urgency"], t["stage"], t["limit"]) for t in gas["time_limits"]] == [
        ("normal", "register", "1wh"),
        ("normal", "dispatch", "1wh"),
        ("normal", "handle", "4wh"),
        ("normal", "verify", "2wh"),
        ("emergency", "handle", "2h"),
    ]
    assert client.get("/api/v1/catalog/matter-types/X").status_code == 404


def test_list_responsibilities(client, catalog):
    everything = client.get("/api/v1/catalog/responsibilities").json()
    assert [(r["matter"], r["area"]) for r in everything] == [
        ("C0105", None),
        ("E0102", None),
        ("E0102", "410105001"),
        ("E0501", None),
    ]
    rubbish = client.get("/api/v1/catalog/responsibilities", params={"matter": "E0102"}).json()
    assert [(r["unit"], r["function"], r["co_units"]) for r in rubbish] == [
        ("JS-HWZX", None, ["JS-CGJ"]),
        (None, "community", []),
    ]
    by_unit = client.get("/api/v1/catalog/responsibilities", params={"unit": "GAS"}).json()
    assert [r["matter"] for r in by_unit] == ["C0105"] and by_unit[0]["unit_name"] == "郑州华润燃气"
    assert client.get("/api/v1/catalog/responsibilities", params={"matter": "NOPE"}).status_code == 404


def test_catalog_routes_are_tagged_and_read_only(app):
    paths = {path: ops for path, ops in app.openapi()["paths"].items() if path.startswith("/api/v1/catalog")}
    assert sorted(paths) == [
        "/api/v1/catalog/matter-types",
        "/api/v1/catalog/matter-types/{code}",
        "/api/v1/catalog/responsibilities",
        "/api/v1/catalog/units",
        "/api/v1/catalog/units/{code}",
    ]
    assert all(list(ops) == ["get"] and ops["get"]["tags"] == ["catalog"] for ops in paths.values())
