"""Device types and alarm rules as data: import checks against the catalogue and registry, upsert, export."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from gridgov.core.errors import InputError
from gridgov.domains.iot import files, registry
from gridgov.domains.iot.models import AlarmRule, Device, DeviceType
from gridgov.domains.iot.schemas import DeviceIn
from tests.domains.cases.world import point
from tests.domains.iot.test_files import config


def _import(db, data: dict[str, Any], source: str = "iot.yaml"):
    return registry.import_config(db=db, document=files.parse_config(data, source=source), source=source)


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def _rejected(db, data: dict[str, Any]) -> dict[tuple[str, str | None], str]:
    """Imports `data` expecting a rejection; returns {(where, field): message} and checks nothing was written."""
    before = (_count(db, DeviceType), _count(db, AlarmRule))
    with pytest.raises(InputError) as caught:
        _import(db, data, source="bad.yaml")
    assert caught.value.summary == "bad.yaml: config rejected, nothing written"
    assert (_count(db, DeviceType), _count(db, AlarmRule)) == before
    return {(issue.where, issue.field): issue.message for issue in caught.value.issues}


def _device(db, code: str = "JG-1", type_code: str = "manhole_tilt") -> Device:
    lng, lat = point()
    device, _ = registry.save_device(db=db, device=DeviceIn(code=code, type=type_code, owner="WATER", lng=lng, lat=lat))
    return device


def test_import_creates_then_reimport_changes_nothing_and_export_round_trips(db, world):
    report = _import(db, config())
    assert (report.device_types.created, report.rules.created) == (2, 4)
    tilt = db.scalars(select(AlarmRule).where(AlarmRule.code == "tilt")).one()
    assert tilt.matter_type is not None and tilt.matter_type.code == "BJ0101"
    assert tilt.device_type_id == db.scalars(select(DeviceType.id).where(DeviceType.code == "manhole_tilt")).one()

    again = _import(db, config())
    assert (again.device_types.unchanged, again.rules.unchanged) == (2, 4)

    exported = registry.export_config(db=db)
    parsed = files.parse_config(config(), source="x")
    assert exported.device_types == parsed.device_types
    # Rules come out by target then code: manhole_tilt's offline, tilt, then water_level's ponding, rise.
    assert exported.rules == [parsed.rules[i] for i in (3, 0, 1, 2)]

    changed = config()
    changed["rules"][0]["threshold"] = 20
    changed["device_types"][1]["name"] = "积水监测"
    report = _import(db, changed)
    assert (report.device_types.updated, report.rules.updated, report.rules.unchanged) == (1, 1, 3)
    assert db.scalars(select(AlarmRule.threshold).where(AlarmRule.code == "tilt")).one() == 20


def test_every_rule_kind_needs_its_own_measures(db, world):
    data = config()
    data["rules"] = [
        {"code": "a", "name": "a", "device_type": "manhole_tilt", "kind": "threshold", "property": "tilt"},
        {"code": "b", "name": "b", "device_type": "water_level", "kind": "duration", "property": "waterLevel",
         "operator": ">", "threshold": 20},
        {"code": "c", "name": "c", "device_type": "water_level", "kind": "rate", "operator": ">", "threshold": 1},
        {"code": "d", "name": "d", "device_type": "manhole_tilt", "kind": "offline", "property": "tilt"},
    ]  # fmt: skip
    issues = _rejected(db, data)
    assert issues == {
        ("bad.yaml rules item 1 (code a, type manhole_tilt)", "operator"): "required by a threshold rule",
        ("bad.yaml rules item 1 (code a, type manhole_tilt)", "threshold"): "required by a threshold rule",
        ("bad.yaml rules item 2 (code b, type water_level)", "duration_s"): "required by a duration rule",
        ("bad.yaml rules item 3 (code c, type water_level)", "property"): "required by a rate rule",
        ("bad.yaml rules item 3 (code c, type water_level)", "rate_per_min"): "required by a rate rule",
        ("bad.yaml rules item 3 (code c, type water_level)", "operator"): "not used by a rate rule; leave it empty",
        ("bad.yaml rules item 3 (code c, type water_level)", "threshold"): "not used by a rate rule; leave it empty",
        ("bad.yaml rules item 4 (code d, type manhole_tilt)", "offline_after_s"): "required by a offline rule",
        ("bad.yaml rules item 4 (code d, type manhole_tilt)", "property"): "not used by a offline rule; leave it empty",
    }


def test_references_and_consistency_are_checked_against_the_file_and_the_database(db, world):
    data = config()
    data["rules"][0]["property"] = "angle"
    data["rules"][1]["matter_type"] = "XX9999"
    data["rules"][2]["device_type"] = "radar"
    data["rules"][3]["device"] = "JG-404"
    data["rules"].append({**data["rules"][0], "property": "tilt", "clear_threshold": 30})
    issues = _rejected(db, data)
    assert issues == {
        ("bad.yaml rules item 1 (code tilt, type manhole_tilt)", "property"): (
            "'angle' is not a property of the device type (it has tilt, battery)"
        ),
        ("bad.yaml rules item 2 (code ponding, type water_level)", "matter_type"): (
            "matter type 'XX9999' is not in the catalogue"
        ),
        ("bad.yaml rules item 3 (code rise, type radar)", "device_type"): (
            "device type 'radar' is neither in the file nor in the database"
        ),
        ("bad.yaml rules item 4 (code offline, device JG-404)", "device_type"): (
            "give either device_type (a rule of the type) or device (an override for one device), not both"
        ),
        ("bad.yaml rules item 5 (code tilt, type manhole_tilt)", "code"): (
            "a second rule 'tilt' for the same target (first at bad.yaml rules item 1 (code tilt, type manhole_tilt))"
        ),
        ("bad.yaml rules item 5 (code tilt, type manhole_tilt)", "clear_threshold"): (
            "must not be above the threshold 15 of a rising (>) rule"
        ),
    }


def test_a_per_device_override_replaces_the_type_rule_of_its_code(db, world):
    _import(db, config())
    device = _device(db)
    other = _device(db, "JG-2")
    override = {
        "code": "tilt",
        "name": "井盖倾斜（主干道，更灵敏）",
        "device": "JG-1",
        "kind": "threshold",
        "property": "tilt",
        "operator": ">",
        "threshold": 8,
        "matter_type": "BJ0101",
    }
    switch_off = {"code": "offline", "name": "不判离线", "device": "JG-1", "kind": "offline", "offline_after_s": 1,
                  "is_active": "no"}  # fmt: skip
    report = _import(db, {"rules": [override, switch_off]})
    assert report.rules.created == 2
    rules = {rule.code: rule for rule in registry.rules_for(db=db, device=device)}
    assert set(rules) == {"tilt"} and rules["tilt"].threshold == 8 and rules["tilt"].device_id == device.id
    assert {r.code: r.threshold for r in registry.rules_for(db=db, device=other)} == {"tilt": 15, "offline": None}

    exported = registry.export_config(db=db)
    assert [(r.code, r.device_type, r.device) for r in exported.rules][-2:] == [
        ("offline", None, "JG-1"),
        ("tilt", None, "JG-1"),
    ]
    reads = registry.rule_reads(db=db, rules=registry.list_rules(db=db, device="JG-1"))
    assert [(r.code, r.device, r.is_active) for r in reads] == [("offline", "JG-1", False), ("tilt", "JG-1", True)]

    bad = _rejected(db, {"rules": [{**override, "device": "JG-9"}, {**override, "property": "waterLevel"}]})
    assert bad[("bad.yaml rules item 1 (code tilt, device JG-9)", "device")].startswith("device 'JG-9' is not in")
    assert "'waterLevel' is not a property" in bad[("bad.yaml rules item 2 (code tilt, device JG-1)", "property")]


def test_a_type_may_not_drop_a_property_its_stored_rules_use(db, world):
    _import(db, config())
    data = {"device_types": [{"code": "manhole_tilt", "name": "井盖", "properties": {"battery": "%"}}]}
    issues = _rejected(db, data)
    assert issues == {
        ("bad.yaml device_types item 1 (code manhole_tilt)", "properties"): (
            "drops property 'tilt', which the stored rule 'tilt' of type manhole_tilt uses"
        )
    }
    # Rewriting the rule in the same file makes the change consistent.
    data["rules"] = [{"code": "tilt", "name": "电量", "device_type": "manhole_tilt", "kind": "threshold",
                      "property": "battery", "operator": "<", "threshold": 20}]  # fmt: skip
    report = _import(db, data)
    assert (report.device_types.updated, report.rules.updated) == (1, 1)


def test_the_demo_config_file_is_valid_against_the_demo_catalogue_codes():
    document = registry.load_config(__import__("pathlib").Path(__file__).parents[3] / "src/gridgov/demo/data/iot.yaml")
    assert {t.code for t in document.device_types} >= {
        "smoke_detector",
        "manhole_tilt",
        "water_level",
        "gas_detector",
        "hydrant_pressure",
        "bin_fill",
        "street_light",
        "noise_monitor",
        "dust_monitor",
    }
    offline = {r.device_type for r in document.rules if r.kind.value == "offline"}
    assert offline == {t.code for t in document.device_types}  # every type has an offline rule
