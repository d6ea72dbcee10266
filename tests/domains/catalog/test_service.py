"""Catalogue import (checks, upsert, all-or-nothing), export round trips and the look-ups other domains use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from gridgov.core.errors import InputError, Issue, NotFoundError
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.catalog import service
from gridgov.domains.catalog.enums import MatterKind, Stage, TimeUnit, UnitKind, Urgency
from gridgov.domains.catalog.models import (
    GridAccessEntry,
    MatterType,
    PowerItem,
    ResponsibilityRule,
    TimeLimit,
    Unit,
    power_item_matter,
)
from gridgov.domains.catalog.schemas import CatalogDocument, SectionCount
from tests.domains.catalog.helpers import write_both

CATALOG_TABLES = (Unit, MatterType, TimeLimit, ResponsibilityRule, GridAccessEntry, PowerItem)


def _import(db: Session, data: dict[str, Any], source: str = "cat.yaml") -> Any:
    return service.import_document(db=db, document=CatalogDocument.model_validate(data), source=source)


def _counts(db: Session) -> dict[str, int]:
    return {model.__tablename__: db.scalar(select(func.count()).select_from(model)) for model in CATALOG_TABLES}


def _matter(db: Session, code: str) -> MatterType:
    return service.get_matter_type(db=db, code=code)


def _wipe_catalog(db: Session) -> None:
    db.execute(delete(power_item_matter))
    for model in (PowerItem, GridAccessEntry, ResponsibilityRule, TimeLimit, MatterType):
        db.execute(delete(model))
    db.execute(update(Unit).values(parent_id=None))
    db.execute(delete(Unit))
    db.expire_all()


# --- import and upsert ------------------------------------------------------------------------------------------


def test_import_creates_everything_and_reports_counts(db, areas, sample):
    report = _import(db, sample)
    assert report.units == SectionCount(created=7)
    assert report.matter_types == SectionCount(created=3)
    assert report.time_limits == SectionCount(created=9)
    assert report.responsibilities == SectionCount(created=4)
    assert report.grid_access == SectionCount(created=4)
    assert report.powers == SectionCount(created=1)

    team = service.get_unit(db=db, code="JB8-CGZD")
    assert team.parent.code == "JB8-BSC" and team.area.code == "410105001"
    assert team.kind == UnitKind.street_team and team.level == AreaLevel.street
    power = service.list_powers(db=db)[0]
    assert power.unit.code == "JS-CGJ" and [m.code for m in power.matter_types] == ["E0501"]
    rules = service.responsibility_rules_for(db=db, matter_type_id=_matter(db, "E0102").id)
    assert [(r.area.code if r.area else None, r.level, r.unit.code if r.unit else r.unit_function) for r in rules] == [
        (None, AreaLevel.district, "JS-HWZX"),
        ("410105001", AreaLevel.community, "community"),
    ]
    assert rules[0].co_unit_codes == ["JS-CGJ"]


def test_reimporting_the_same_file_changes_nothing(db, areas, sample):
    _import(db, sample)
    report = _import(db, sample)
    for name, counts in report.sections().items():
        assert counts.created == counts.updated == counts.deleted == 0, name
    assert report.units.unchanged == 7 and report.time_limits.unchanged == 9


def test_upsert_updates_by_code_and_key_and_replaces_time_limits(db, areas, sample):
    _import(db, sample)
    second = {
        "units": [
            {**sample["units"][3], "name": "经八路城管执法中队", "parent": "JS-CGJ"},
            {**sample["units"][2], "parent": None},
        ],
        "matter_types": [
            {**sample["matter_types"][1], "time_limits": {"normal": {"handle": "6wh"}, "emergency": {"handle": "1h"}}}
        ],
        "responsibilities": [{"matter": "E0102", "level": "district", "unit": "JS-CGJ"}],
        "grid_access": [{"matter": "E0501", "admitted": True}],
        "powers": [{**sample["powers"][0], "matters": ["E0501", "E0102"]}],
    }
    report = _import(db, second)
    assert report.units == SectionCount(updated=2)
    assert report.matter_types == SectionCount(unchanged=1)
    # normal.handle changed, normal.verify and urgent.handle dropped, emergency.handle added
    assert report.time_limits == SectionCount(created=1, updated=1, deleted=2)
    assert report.responsibilities == SectionCount(updated=1)
    assert report.grid_access == SectionCount(updated=1)
    assert report.powers == SectionCount(updated=1)

    db.expire_all()
    team = service.get_unit(db=db, code="JB8-CGZD")
    assert team.name == "经八路城管执法中队" and team.parent.code == "JS-CGJ"
    assert service.get_unit(db=db, code="JS-HWZX").parent is None
    assert service.get_unit(db=db, code="JB8-SQ").name == "经八路社区居委会"  # not in the file: untouched
    limits = {(t.urgency, t.stage): (t.amount, t.unit) for t in _matter(db, "E0102").time_limits}
    assert limits == {
        (Urgency.normal, Stage.handle): (6.0, TimeUnit.working_hours),
        (Urgency.emergency, Stage.handle): (1.0, TimeUnit.natural_hours),
    }
    assert len(_matter(db, "C0105").time_limits) == 5  # other matter types keep theirs
    rule = service.applicable_rule(db=db, matter_type_id=_matter(db, "E0102").id, area=None)
    assert rule.unit.code == "JS-CGJ" and rule.co_unit_codes == []
    assert _counts(db)["responsibility_rule"] == 4
    assert sorted(m.code for m in service.list_powers(db=db)[0].matter_types) == ["E0102", "E0501"]


def test_units_and_matters_already_stored_may_be_referenced(db, areas, sample):
    _import(db, {"units": sample["units"], "matter_types": sample["matter_types"]})
    report = _import(
        db,
        {
            "units": [
                {
                    "code": "JB8-HWS",
                    "name": "经八路环卫所",
                    "kind": "street_team",
                    "level": "street",
                    "function": "sanitation",
                    "parent": "JB8-BSC",
                    "area": "410105001",
                }
            ],  # fmt: skip
            "responsibilities": [{"matter": "E0102", "area": "410105001", "level": "street", "function": "sanitation"}],
            "powers": sample["powers"],
        },
    )
    assert report.units.created == 1 and report.responsibilities.created == 1 and report.powers.created == 1
    assert service.get_unit(db=db, code="JB8-HWS").parent.code == "JB8-BSC"


def test_a_bad_row_writes_nothing(db, areas, sample):
    sample["powers"].append({"code": "X-1", "unit": "NOBODY", "title": "无", "category": "其他"})
    with pytest.raises(InputError) as caught:
        _import(db, sample)
    assert caught.value.issues == [
        Issue("cat.yaml powers item 2 (code X-1)", "unit 'NOBODY' is neither in the file nor in the database", "unit")
    ]
    assert "nothing written" in caught.value.summary
    assert set(_counts(db).values()) == {0}


def test_a_rejected_update_leaves_the_stored_catalogue_as_it_was(db, areas, sample):
    _import(db, sample)
    before = service.export_document(db=db)
    sample["units"][0]["name"] = "改名"
    sample["matter_types"][1]["time_limits"] = {}
    sample["grid_access"].append({"matter": "C0105", "admitted": True})
    with pytest.raises(InputError):
        _import(db, sample)
    db.expire_all()
    assert service.export_document(db=db) == before


# --- every check, located in YAML and XLSX ----------------------------------------------------------------------


def _set(path: str, value: Any) -> Any:
    """Returns a change setting `section.index.key` of the sample to `value` (None deletes the key)."""
    section, index, key = path.split(".")

    def change(data: dict[str, Any]) -> None:
        if value is None:
            data[section][int(index)].pop(key, None)
        else:
            data[section][int(index)][key] = value

    return change


def _append(section: str, item: dict[str, Any]) -> Any:
    return lambda data: data[section].append(item)


CHECKS = [
    pytest.param(_set("units.5.parent", "NOPE"), "units", 5, "parent", "parent unit 'NOPE' is neither", id="parent"),
    pytest.param(
        _set("units.4.parent", "JB8-CGZD"), "units", 3, "parent", "loops: JB8-CGZD → JB8-BSC → JB8-CGZD", id="cycle"
    ),
    pytest.param(
        _set("units.1.parent", "JB8-SQ"), "units", 1, "parent", "below level district of unit JS-CGJ", id="parent-below"
    ),
    pytest.param(_set("units.1.area", "999999"), "units", 1, "area", "'999999' is not in the area table", id="area"),
    pytest.param(
        _set("units.3.area", "410105001001"), "units", 3, "area", "is a community, but the unit is at", id="area-level"
    ),
    pytest.param(
        _set("units.5.level", "street"), "units", 5, "level", "a community unit sits at level community", id="kind"
    ),
    pytest.param(
        _append("units", {"code": "GAS", "name": "燃气", "kind": "enterprise", "level": "district"}),
        "units",
        7,
        "code",
        "duplicate code 'GAS' (first at",
        id="duplicate-unit",
    ),
    pytest.param(
        lambda d: d["matter_types"].append(dict(d["matter_types"][2], time_limits={})),
        "matter_types",
        3,
        "code",
        "duplicate code 'E0501'",
        id="duplicate-matter",
    ),
    pytest.param(
        _set("responsibilities.3.matter", "E9999"), "responsibilities", 3, "matter", "'E9999' is neither", id="matter"
    ),
    pytest.param(
        _set("responsibilities.2.area", "410105009"), "responsibilities", 2, "area", "not in the area", id="rule-area"
    ),
    pytest.param(_set("responsibilities.0.function", "gas"), "responsibilities", 0, "unit", "not both", id="both"),
    pytest.param(
        _set("responsibilities.3.function", None), "responsibilities", 3, "unit", "give a handling unit", id="neither"
    ),
    pytest.param(
        _set("responsibilities.0.unit", "WATER"), "responsibilities", 0, "unit", "'WATER' is neither", id="rule-unit"
    ),
    pytest.param(
        _set("responsibilities.1.level", "street"),
        "responsibilities",
        1,
        "level",
        "unit JS-HWZX is at level district, but the rule is at level street",
        id="unit-level",
    ),
    pytest.param(
        _set("responsibilities.3.level", "community"),
        "responsibilities",
        3,
        "function",
        "no unit has function 'urban_management' at level community",
        id="function-level",
    ),
    pytest.param(
        _set("responsibilities.1.co_units", ["JS-CGJ", "X"]), "responsibilities", 1, "co_units", "'X'", id="co-unit"
    ),
    pytest.param(
        _set("responsibilities.3.co_functions", ["police"]),
        "responsibilities",
        3,
        "co_functions",
        "no unit has function 'police'",
        id="co-function",
    ),
    pytest.param(
        _append(
            "responsibilities", {"matter": "C0105", "area": "410105001", "level": "community", "function": "community"}
        ),
        "responsibilities",
        4,
        "level",
        "C0105 is department_only: it cannot be handed to level community",
        id="department-only-rule",
    ),
    pytest.param(
        _set("responsibilities.0.co_units", ["JB8-SQ"]),
        "responsibilities",
        0,
        "co_units",
        "co-unit JB8-SQ is at level community",
        id="department-only-co-unit",
    ),
    pytest.param(
        _append("responsibilities", {"matter": "E0102", "area": "410105001", "level": "district", "unit": "JS-CGJ"}),
        "responsibilities",
        4,
        "area",
        "duplicate matter type and area scope",
        id="duplicate-rule",
    ),
    pytest.param(
        _append("grid_access", {"matter": "C0105", "area": "410105002", "admitted": "yes"}),
        "grid_access",
        4,
        "admitted",
        "C0105 is department_only and cannot be admitted to grids",
        id="admitted-department-only",
    ),
    pytest.param(_set("grid_access.2.matter", "E0999"), "grid_access", 2, "matter", "'E0999' is neither", id="access"),
    pytest.param(_set("grid_access.1.area", "1"), "grid_access", 1, "area", "'1' is not in the area", id="access-area"),
    pytest.param(
        _append("grid_access", {"matter": "E0501", "admitted": True}),
        "grid_access",
        4,
        "area",
        "duplicate matter type and area scope",
        id="duplicate-access",
    ),
    pytest.param(_set("powers.0.unit", "JS-XX"), "powers", 0, "unit", "'JS-XX' is neither", id="power-unit"),
    pytest.param(
        _set("powers.0.matters", ["E0501", "E7777"]), "powers", 0, "matters", "'E7777' is neither", id="power-matter"
    ),
]


def _yaml_where(data: dict[str, Any], section: str, index: int) -> str:
    item = data[section][index]
    if "code" in item:
        return f"cat.yaml {section} item {index + 1} (code {item['code']})"
    scope = f"area {item['area']}" if item.get("area") else "everywhere"
    return f"cat.yaml {section} item {index + 1} (matter {item['matter']}, {scope})"


@pytest.mark.parametrize("fmt", ["yaml", "xlsx"])
@pytest.mark.parametrize(("change", "section", "index", "field", "message"), CHECKS)
def test_each_check_names_where_and_writes_nothing(
    db, areas, sample, tmp_path, fmt, change, section, index, field, message
):
    change(sample)
    path = write_both(sample, tmp_path)[fmt]
    with pytest.raises(InputError) as caught:
        document = service.load_file(path)
        service.import_document(db=db, document=document, source=path.name)
    where = _yaml_where(sample, section, index) if fmt == "yaml" else f"cat.xlsx sheet {section} row {index + 2}"
    found = [i for i in caught.value.issues if i.where == where and i.field == field]
    assert found, caught.value.issues
    assert message in found[0].message
    assert set(_counts(db).values()) == {0}


def test_validate_document_raises_without_writing(db, areas, sample):
    sample["units"][1]["area"] = "999"
    with pytest.raises(InputError):
        service.validate_document(db=db, document=CatalogDocument.model_validate(sample), source="x")
    del sample["units"][1]["area"]
    service.validate_document(db=db, document=CatalogDocument.model_validate(sample), source="x")
    assert set(_counts(db).values()) == {0}


def test_changes_are_checked_against_stored_rows_the_file_leaves_alone(db, areas, sample):
    _import(db, sample)
    matter = {**sample["matter_types"][1], "department_only": True}  # E0102: stored community rule, admitted
    unit = {**sample["units"][2], "level": "street", "kind": "street_team"}  # JS-HWZX: named by a district rule
    with pytest.raises(InputError) as caught:
        _import(db, {"units": [unit], "matter_types": [matter]})
    issues = {(i.where, i.message.split(";")[0]) for i in caught.value.issues}
    assert issues == {
        ("cat.yaml matter_types item 1 (code E0102)",
         "department_only, but the stored responsibility rule (area 410105001) hands it to level community"),
        ("cat.yaml matter_types item 1 (code E0102)", "department_only, but the stored grid access list admits it "
         "(everywhere)"),
        ("cat.yaml units item 1 (code JS-HWZX)", "level street, but the stored responsibility rule for matter E0102 "
         "(everywhere) names this unit at level district"),
    }  # fmt: skip
    # Changing the offending rows in the same file makes it acceptable.
    rule = {"matter": "E0102", "area": "410105001", "level": "street", "function": "urban_management"}
    access = [{"matter": "E0102", "admitted": False}, {"matter": "E0102", "area": "410105001001", "admitted": False}]
    fixed = {"matter_types": [matter], "responsibilities": [rule], "grid_access": access}
    assert _import(db, fixed).matter_types.updated == 1


def test_a_cycle_through_stored_units_is_caught(db, areas, sample):
    _import(db, sample)
    with pytest.raises(InputError) as caught:
        _import(db, {"units": [{**sample["units"][4], "parent": "JB8-CGZD"}]})
    (issue,) = caught.value.issues
    assert issue.where == "cat.yaml units item 1 (code JB8-BSC)" and "loops" in issue.message


# --- export round trips -----------------------------------------------------------------------------------------


def test_export_matches_the_imported_content(db, areas, sample):
    _import(db, sample)
    exported = service.export_document(db=db)
    assert [u.code for u in exported.units] == ["GAS", "JS-CGJ", "JS-CYZX", "JS-HWZX", "JB8-BSC", "JB8-CGZD", "JB8-SQ"]
    by_code = {u.code: u for u in exported.units}
    original = CatalogDocument.model_validate(sample)
    assert all(by_code[u.code] == u for u in original.units)
    assert exported.matter_types == original.matter_types
    assert exported.responsibilities == original.responsibilities
    assert exported.grid_access == original.grid_access
    assert exported.powers == original.powers


@pytest.mark.parametrize("suffix", [".yaml", ".xlsx"])
def test_export_import_round_trips_exactly(db, areas, sample, tmp_path, suffix):
    _import(db, sample)
    first = service.export_document(db=db)
    path = tmp_path / f"export{suffix}"
    service.write_file(first, path)
    _wipe_catalog(db)
    assert set(_counts(db).values()) == {0}
    report = service.import_document(db=db, document=service.load_file(path), source=path.name)
    assert report.units.created == 7 and report.time_limits.created == 9
    assert service.export_document(db=db) == first
    # and the file itself reads back identical
    assert service.load_file(path) == first
    assert Path(path).stat().st_size > 0


# --- look-ups ---------------------------------------------------------------------------------------------------


def test_time_limits_fall_back_to_normal_per_stage(db, areas, sample):
    _import(db, sample)
    gas = _matter(db, "C0105").id
    assert service.time_limits_for(db=db, matter_type_id=gas, urgency=Urgency.normal) == {
        Stage.register: (1.0, TimeUnit.working_hours),
        Stage.dispatch: (1.0, TimeUnit.working_hours),
        Stage.handle: (4.0, TimeUnit.working_hours),
        Stage.verify: (2.0, TimeUnit.working_hours),
    }
    emergency = service.time_limits_for(db=db, matter_type_id=gas, urgency=Urgency.emergency)
    assert emergency[Stage.handle] == (2.0, TimeUnit.natural_hours)
    assert emergency[Stage.register] == (1.0, TimeUnit.working_hours)
    # no urgent rows at all: every stage is the normal one
    urgent = service.time_limits_for(db=db, matter_type_id=gas, urgency=Urgency.urgent)
    assert urgent == service.time_limits_for(db=db, matter_type_id=gas, urgency=Urgency.normal)
    vending = _matter(db, "E0501").id
    assert service.time_limits_for(db=db, matter_type_id=vending, urgency=Urgency.urgent) == {
        Stage.handle: (0.5, TimeUnit.working_days)
    }


def test_grid_admission_takes_the_most_specific_scope(db, areas, sample):
    _import(db, sample)
    rubbish, vending, gas = (_matter(db, code).id for code in ("E0102", "E0501", "C0105"))

    def admitted(matter_type_id: int, code: str | None) -> bool:
        return service.is_grid_admitted(db=db, matter_type_id=matter_type_id, area=areas[code] if code else None)

    assert admitted(rubbish, None) is True
    assert admitted(rubbish, "410105002001001") is True  # only the district-wide entry applies
    assert admitted(rubbish, "410105001001001") is False  # the community's entry beats the district-wide one
    assert admitted(rubbish, "410105001") is True
    assert admitted(vending, None) is False
    assert admitted(vending, "410105001001001") is True  # street entry beats the district-wide one
    assert admitted(vending, "410105002001001") is False
    assert admitted(gas, "410105001001001") is False  # department_only, and no entry at all
    _import(db, {"matter_types": [{**sample["matter_types"][1], "code": "E0103", "name": "积存渣土"}]})
    assert admitted(_matter(db, "E0103").id, "410105001001001") is False  # default: not admitted
    with pytest.raises(NotFoundError):
        service.is_grid_admitted(db=db, matter_type_id=999999)


def test_applicable_rule_takes_the_most_specific_scope(db, areas, sample):
    _import(db, sample)
    rubbish = _matter(db, "E0102").id
    inside = service.applicable_rule(db=db, matter_type_id=rubbish, area=areas["410105001001001"])
    assert (inside.area.code, inside.level, inside.unit_function) == ("410105001", AreaLevel.community, "community")
    outside = service.applicable_rule(db=db, matter_type_id=rubbish, area=areas["410105002001001"])
    assert outside.area is None and outside.unit.code == "JS-HWZX"
    assert service.applicable_rule(db=db, matter_type_id=rubbish, area=None).unit.code == "JS-HWZX"
    _import(db, {"matter_types": [{**sample["matter_types"][1], "code": "E0103", "name": "积存渣土"}]})
    assert service.applicable_rule(db=db, matter_type_id=_matter(db, "E0103").id, area=areas["410105"]) is None


def test_list_and_get_helpers(db, areas, sample):
    _import(db, sample)
    _import(db, {"units": [{**sample["units"][6], "is_active": False}]})
    assert [u.code for u in service.list_units(db=db)] == [
        "JS-CGJ",
        "JS-CYZX",
        "JS-HWZX",
        "JB8-BSC",
        "JB8-CGZD",
        "JB8-SQ",
    ]
    assert [u.code for u in service.list_units(db=db, active=None)][0] == "GAS"
    assert [u.code for u in service.list_units(db=db, level=AreaLevel.street)] == ["JB8-BSC", "JB8-CGZD"]
    found = service.list_units(db=db, function="urban_management", area_code="410105001")
    assert [u.code for u in found] == ["JB8-CGZD"]
    assert [u.code for u in service.list_units(db=db, parent_code="JB8-BSC")] == ["JB8-CGZD", "JB8-SQ"]
    assert [u.code for u in service.list_units(db=db, q="城管")] == ["JB8-CGZD"]
    assert [u.code for u in service.list_units(db=db, q="cgj")] == ["JS-CGJ"]
    assert [u.code for u in service.list_units(db=db, kind=UnitKind.community)] == ["JB8-SQ"]

    assert [m.code for m in service.list_matter_types(db=db)] == ["C0105", "E0102", "E0501"]
    assert [m.code for m in service.list_matter_types(db=db, kind=MatterKind.event)] == ["E0102", "E0501"]
    assert [m.code for m in service.list_matter_types(db=db, major_code="05")] == ["E0501"]
    assert [m.code for m in service.list_matter_types(db=db, q="摆摊")] == ["E0501"]  # keyword
    assert [m.code for m in service.list_matter_types(db=db, q="rubbish")] == ["E0102"]  # English name
    with pytest.raises(NotFoundError):
        service.get_matter_type(db=db, code="nope")
    with pytest.raises(NotFoundError):
        service.get_unit(db=db, code="nope")

    entries = service.grid_access_for(db=db, matter_type_id=_matter(db, "E0501").id)
    assert [(e.area.code if e.area else None, e.admitted) for e in entries] == [(None, False), ("410105001", True)]
    assert [p.code for p in service.list_powers(db=db, matter_type_id=_matter(db, "E0501").id)] == ["CGJ-CF-001"]
    assert service.list_powers(db=db, matter_type_id=_matter(db, "E0102").id) == []
    assert service.scope_codes(areas["410105001001"]) == ["410105", "410105001", "410105001001"]
