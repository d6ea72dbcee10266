import re
from collections import Counter

import pytest

from gridgov.demo.catalog import STREET_UNITS, build_catalog, generate_units, load_static_catalog
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.catalog.enums import MatterKind, Stage, TimeUnit, UnitKind, Urgency
from gridgov.domains.catalog.schemas import CatalogDocument, parse_limit

CODE_PATTERN = {
    MatterKind.component: r"BJ0[1-6]\d{2}",
    MatterKind.event: r"SJ0[1-6]\d{2}",
    MatterKind.social: r"ZZ\d{4}",
    MatterKind.hotline: r"RX\d{4}",
}


@pytest.fixture(scope="module")
def static():
    return load_static_catalog()


@pytest.fixture(scope="module")
def document(areas):
    return build_catalog(areas)


def _matter(document: CatalogDocument, name: str):
    return next(m for m in document.matter_types if m.name == name)


def test_static_catalogue_is_a_valid_catalog_document(static):
    assert isinstance(static, CatalogDocument)
    # A round trip through the file model keeps everything: no unknown keys, no coercion surprises.
    assert CatalogDocument.model_validate(static.model_dump()) == static


def test_at_least_80_matter_types_covering_all_12_classes_and_both_other_taxonomies(static):
    matters = static.matter_types
    assert len(matters) >= 80
    assert len({m.code for m in matters}) == len(matters)
    classes = {(m.kind, m.major_code) for m in matters}
    for prefix, kind in (("BJ", MatterKind.component), ("SJ", MatterKind.event)):
        assert {(kind, f"{prefix}0{n}") for n in range(1, 7)} <= classes
    kinds = Counter(m.kind for m in matters)
    assert kinds[MatterKind.social] >= 9 and kinds[MatterKind.hotline] >= 5
    assert {"咨询", "求助", "投诉", "举报", "建议"} <= {m.name for m in matters if m.kind is MatterKind.hotline}


def test_matter_types_follow_the_code_scheme_and_carry_conditions_and_keywords(static):
    for matter in static.matter_types:
        assert re.fullmatch(CODE_PATTERN[matter.kind], matter.code), matter.code
        assert matter.code == matter.major_code + matter.minor_code
        assert matter.register_condition and matter.close_condition, matter.code
        assert len(matter.keywords) >= 2, matter.code
        normal = matter.time_limits[Urgency.normal]
        assert set(normal) == set(Stage), matter.code
        assert matter.default_urgency in matter.time_limits, matter.code


@pytest.mark.parametrize(
    ("name", "handle"),
    [
        ("暴露垃圾", "4wh"),
        ("建筑垃圾", "4wh"),
        ("道路不洁", "2wh"),
        ("积存渣土", "2wd"),
        ("水域不洁", "15wd"),
        ("绿地脏乱", "4wh"),
        ("道路积水", "4wh"),
        ("私搭乱建", "4wh"),
        ("违法建设拆除", "20wd"),
        ("咨询", "3wd"),
        ("求助", "3wd"),
        ("投诉", "13wd"),
        ("举报", "13wd"),
        ("建议", "13wd"),
    ],
)
def test_time_limits_from_domain_section_2_3(static, name, handle):
    assert _matter(static, name).time_limits[Urgency.normal][Stage.handle] == handle


@pytest.mark.parametrize("name", ["路面塌陷", "供水管道破裂", "燃气泄漏", "上水井盖", "燃气井盖"])
def test_dangerous_matters_have_natural_hour_emergency_limits(static, name):
    limits = _matter(static, name).time_limits[Urgency.emergency]
    assert all(parse_limit(limit)[1] is TimeUnit.natural_hours for limit in limits.values())


def test_every_matter_type_has_one_responsibility_rule_and_one_grid_access_row(static):
    codes = [m.code for m in static.matter_types]
    assert sorted(r.matter for r in static.responsibilities) == sorted(codes)
    assert sorted(a.matter for a in static.grid_access) == sorted(codes)
    assert all(r.legal_basis for r in static.responsibilities)


def test_grid_access_admits_only_light_matters(static):
    matters = {m.code: m for m in static.matter_types}
    admitted = {matters[a.matter].name for a in static.grid_access if a.admitted}
    assert {"暴露垃圾", "乱堆物堆料", "非法小广告", "邻里纠纷"} <= admitted
    assert not {"违法建设拆除", "燃气泄漏", "路面塌陷", "燃气井盖"} & admitted
    assert not [name for name in admitted if next(m for m in matters.values() if m.name == name).department_only]


def test_department_only_matters_go_to_departments(static):
    matters = {m.code: m for m in static.matter_types}
    assert matters["SJ0112"].name == "违法建设拆除" and matters["SJ0112"].department_only
    assert _matter(static, "燃气泄漏").department_only
    for rule in static.responsibilities:
        if matters[rule.matter].department_only:
            assert rule.level is not AreaLevel.community and "community_affairs" not in rule.co_functions


def test_named_handlers_and_district_units(static):
    units = {u.code: u for u in static.units}
    district = [u for u in units.values() if u.kind in (UnitKind.district_bureau, UnitKind.district_centre)]
    assert len(district) >= 20
    assert {u.function for u in units.values() if u.kind is UnitKind.enterprise} >= {
        "water_supply",
        "gas",
        "power",
        "heating",
        "telecom",
    }
    gas_cover = next(r for r in static.responsibilities if r.matter == _matter(static, "燃气井盖").code)
    assert units[gas_cover.unit].function == "gas"
    garbage = next(r for r in static.responsibilities if r.matter == _matter(static, "暴露垃圾").code)
    assert (garbage.level, garbage.function) == (AreaLevel.street, "sanitation")
    for rule in static.responsibilities:
        assert rule.unit is None or rule.unit in units
        assert all(code in units for code in rule.co_units)
    for power in static.powers:
        assert power.unit in units and power.matters


def test_generated_units_give_every_street_and_community_the_functions_rules_resolve(areas, document):
    units = generate_units(areas)
    streets = [f["properties"]["code"] for f in areas.features(AreaLevel.street)]
    communities = [f["properties"]["code"] for f in areas.features(AreaLevel.community)]
    assert len(units) == len(streets) * len(STREET_UNITS) + len(communities)
    functions_by_area = {}
    for unit in units:
        functions_by_area.setdefault(unit.area, set()).add(unit.function)
    needed = {(r.level, r.function) for r in document.responsibilities if r.function}
    needed |= {(None, f) for r in document.responsibilities for f in r.co_functions}
    for level, function in needed:
        if level is AreaLevel.street:
            assert all(function in functions_by_area[code] for code in streets), function
        elif level is AreaLevel.community:
            assert all(function in functions_by_area[code] for code in communities), function
        elif level is None:
            assert any(function == u.function for u in document.units), function
    assert {u.kind for u in units if u.level is AreaLevel.street} == {
        UnitKind.street_office,
        UnitKind.street_centre,
        UnitKind.street_team,
    }
    assert len({u.code for u in document.units}) == len(document.units)
