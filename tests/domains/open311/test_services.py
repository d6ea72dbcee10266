"""Open311 discovery, service list and service definitions, in JSON (schema-valid) and XML (well-formed)."""

from __future__ import annotations

from sqlalchemy import select

from gridgov.domains.catalog.models import MatterType
from tests.domains.open311.conftest import BASE, check_errors, parse_xml

WORLD_CODES = ["BJ0101", "SJ0102", "SJ0501", "SJ0601", "ZZ0101"]


def test_discovery_names_the_spec_endpoint_and_formats(client, world):
    body = client.get(f"{BASE}/discovery.json").json()
    assert set(body) == {"changeset", "contact", "key_service", "endpoints"}
    assert "gridgov users token" in body["key_service"] and "cases:write" in body["key_service"]
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2/"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert endpoint["type"] == "test"

    root = parse_xml(client.get(f"{BASE}/discovery.xml"), "discovery")
    assert root.findtext("endpoints/endpoint/specification") == "http://wiki.open311.org/GeoReport_v2"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]
    assert root.findtext("changeset") == body["changeset"]


def test_service_list_is_every_active_matter_type_grouped_by_major_class(open311, world, db):
    services = open311.get("services.json", "services")
    assert [s["service_code"] for s in services] == WORLD_CODES
    by_code = {s["service_code"]: s for s in services}
    assert by_code["SJ0102"] == {
        "service_code": "SJ0102",
        "service_name": "暴露垃圾",
        "description": None,  # the world's catalogue has no 立案条件
        "metadata": True,
        "type": "realtime",
        "keywords": "垃圾",
        "group": "市容环境",
    }
    assert by_code["BJ0101"]["group"] == "公用设施" and by_code["BJ0101"]["keywords"] is None

    matter = db.scalars(select(MatterType).where(MatterType.code == "SJ0501")).one()
    matter.register_condition = "占用道路摆摊设点经营，影响通行"
    retired = db.scalars(select(MatterType).where(MatterType.code == "SJ0601")).one()
    retired.is_active = False
    db.flush()
    services = open311.get("services.json", "services")
    assert [s["service_code"] for s in services] == ["BJ0101", "SJ0102", "SJ0501", "ZZ0101"]
    assert services[2]["description"] == "占用道路摆摊设点经营，影响通行"


def test_service_list_in_xml(client, world):
    root = parse_xml(client.get(f"{BASE}/services.xml"), "services")
    services = root.findall("service")
    assert [s.findtext("service_code") for s in services] == WORLD_CODES
    first = services[0]
    assert [child.tag for child in first] == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert first.findtext("metadata") == "true" and first.findtext("description") == ""  # null: empty element


def test_every_service_has_the_urgency_attribute_and_components_a_component_number(open311, world):
    event = open311.get("services/SJ0102.json", "service-definition")
    assert event["service_code"] == "SJ0102"
    (urgency,) = event["attributes"]
    assert urgency["code"] == "urgency" and urgency["datatype"] == "singlevaluelist"
    assert urgency["variable"] is True and urgency["required"] is False and urgency["order"] == 1
    assert [v["key"] for v in urgency["values"]] == ["normal", "urgent", "emergency"]
    assert urgency["values"][1]["name"] == "紧急 (urgent)"

    component = open311.get("services/BJ0101.json", "service-definition")
    assert [a["code"] for a in component["attributes"]] == ["urgency", "component_id"]
    component_id = component["attributes"][1]
    assert component_id["datatype"] == "string" and "values" not in component_id
    assert "部件编号" in component_id["description"]


def test_service_definition_in_xml(client, world):
    root = parse_xml(client.get(f"{BASE}/services/BJ0101.xml"), "service_definition")
    assert root.findtext("service_code") == "BJ0101"
    attributes = root.findall("attributes/attribute")
    assert [a.findtext("code") for a in attributes] == ["urgency", "component_id"]
    assert [v.findtext("key") for v in attributes[0].findall("values/value")] == ["normal", "urgent", "emergency"]
    assert attributes[0].findtext("required") == "false" and attributes[0].findtext("order") == "1"
    assert attributes[1].find("values") is None


def test_unknown_or_inactive_service_is_404_in_the_requested_format(client, world, db):
    (description,) = check_errors(client.get(f"{BASE}/services/XX9999.json"), 404)
    assert "service_code 'XX9999' not found" in description
    check_errors(client.get(f"{BASE}/services/XX9999.xml"), 404)
    db.scalars(select(MatterType).where(MatterType.code == "SJ0601")).one().is_active = False
    db.flush()
    check_errors(client.get(f"{BASE}/services/SJ0601.json"), 404)


def test_unknown_format_or_resource_is_404_in_the_spec_format(client, world):
    assert "use .json or .xml" in check_errors(client.get(f"{BASE}/services.yaml"), 404)[0]
    assert "use .json or .xml" in check_errors(client.get(f"{BASE}/requests.html"), 404)[0]
    check_errors(client.get(f"{BASE}/services"), 404)
    check_errors(client.get(f"{BASE}/nothing/here.xml"), 404)  # XML, by the suffix
    check_errors(client.post(f"{BASE}/services.json"), 404)


def test_jurisdiction_id_is_optional_and_another_one_is_404(open311, client, world):
    assert open311.get("services.json", "services", jurisdiction_id="JINSHUI.zhengzhou.gov.cn")
    assert open311.get("services.json", "services", jurisdiction_id="")  # empty = absent
    for path in ("services.json", "services/SJ0102.json", "requests.json", "services.xml"):
        (description,) = check_errors(client.get(f"{BASE}/{path}", params={"jurisdiction_id": "sfgov.org"}), 404)
        assert "jurisdiction_id 'sfgov.org' not found" in description
        assert "jinshui.zhengzhou.gov.cn" in description
