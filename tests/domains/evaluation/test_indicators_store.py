"""Indicators in the database: the shipped set, adding and changing one (checked whole, audited), and YAML
import (all-or-nothing, errors naming row and field) and export."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.core.errors import Conflict, InputError, NotFoundError
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.evaluation import indicators
from gridgov.domains.evaluation.enums import EvaluationObject
from gridgov.domains.evaluation.models import Indicator

ADMIN = Actor(name="管理员", role=Role.admin, user_id=None)
SHIPPED = len(indicators.shipped())


def stored(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Indicator))


def row(db: Session, code: str) -> Indicator:
    return db.scalars(select(Indicator).where(Indicator.code == code)).one()


def audits(db: Session, action: str) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


NEW = {
    "code": "return_share",
    "name": "回退占比",
    "name_en": "Return share",
    "objects": ["area"],
    "formula": "returned / dispatched",
    "direction": "lower",
    "weight": 0,
    "sample": "dispatched",
    "min_sample": 5,
    "when_zero": None,
}


def test_the_shipped_set_is_used_until_stored_and_ensure_defaults_stores_it_once(db):
    assert stored(db) == 0
    listed = indicators.list_definitions(db=db)
    assert [d.code for d in listed] == [d.code for d in sorted(indicators.shipped(), key=lambda d: d.position)]
    assert stored(db) == 0  # listing writes nothing
    assert indicators.ensure_defaults(db=db) == SHIPPED
    assert indicators.ensure_defaults(db=db) == 0
    assert stored(db) == SHIPPED
    assert indicators.list_definitions(db=db) == listed  # the same definitions, from the table
    area = indicators.list_definitions(db=db, obj=EvaluationObject.area, active_only=True)
    assert {d.code for d in area if d.scored} == {
        "closure_rate",
        "on_time_closure_rate",
        "rework_rate",
        "satisfaction_rate",
    }


def test_add_an_indicator(db):
    created = indicators.create(db=db, data=NEW, actor=ADMIN)
    assert stored(db) == SHIPPED + 1  # the shipped set first, then the new one, last
    assert created.position > max(d.position for d in indicators.shipped())
    assert indicators.from_row(created).evaluate({"returned": 1, "dispatched": 4}) == 0.25
    [entry] = audits(db, "indicator.create")
    assert entry.target_id == "return_share" and entry.detail["after"]["formula"] == "returned / dispatched"
    with pytest.raises(Conflict, match="indicator return_share already exists"):
        indicators.create(db=db, data=NEW, actor=ADMIN)


def test_adding_refuses_a_division_without_when_zero_and_writes_nothing(db):
    data = {k: v for k, v in NEW.items() if k != "when_zero"}
    with pytest.raises(InputError) as caught:
        indicators.create(db=db, data=data, actor=ADMIN)
    assert [(i.where, i.field, i.message) for i in caught.value.issues] == [
        (
            "indicator return_share",
            "when_zero",
            "divides by `dispatched`, which may be 0: set when_zero (the value then, or null for 'not rated')",
        )
    ]
    assert stored(db) == 0


def test_change_a_weight_and_the_change_is_audited(db):
    indicators.update(db=db, code="satisfaction_rate", changes={"weight": 10}, actor=ADMIN)
    assert row(db, "satisfaction_rate").weight == 10.0
    [entry] = audits(db, "indicator.update")
    assert entry.target_id == "satisfaction_rate"
    assert entry.detail["changed"] == {"weight": {"before": 20.0, "after": 10.0}}
    indicators.update(db=db, code="satisfaction_rate", changes={"weight": 10}, actor=ADMIN)
    assert len(audits(db, "indicator.update")) == 1  # nothing changed: nothing audited


def test_a_change_is_checked_whole(db):
    with pytest.raises(InputError) as caught:
        indicators.update(db=db, code="closure_rate", changes={"formula": "closed / clsoed"}, actor=ADMIN)
    [issue] = caught.value.issues
    assert (issue.where, issue.field) == ("indicator closure_rate", "formula")
    assert issue.message.startswith("unknown count `clsoed` (did you mean `closed`?)")
    # a new division needs when_zero in the same change; the stored one does not carry over
    with pytest.raises(InputError, match="divides by `received`, which may be 0"):
        indicators.update(db=db, code="closure_rate", changes={"formula": "closed / received"}, actor=ADMIN)
    indicators.update(db=db, code="closure_rate", changes={"formula": "closed / received", "when_zero": 0}, actor=ADMIN)
    assert row(db, "closure_rate").when_zero == 0.0
    # other fields keep the stored when_zero
    indicators.update(db=db, code="closure_rate", changes={"min_sample": 3}, actor=ADMIN)
    with pytest.raises(InputError, match="weight: is -1"):
        indicators.update(db=db, code="closure_rate", changes={"weight": -1}, actor=ADMIN)
    with pytest.raises(InputError, match="weight: cannot be null"):
        indicators.update(db=db, code="closure_rate", changes={"weight": None}, actor=ADMIN)
    indicators.update(db=db, code="closure_rate", changes={"description": None}, actor=ADMIN)
    assert row(db, "closure_rate").description is None
    with pytest.raises(InputError, match="the code of an indicator cannot change"):
        indicators.update(db=db, code="closure_rate", changes={"code": "other"}, actor=ADMIN)
    with pytest.raises(NotFoundError, match="no indicator 'nope'"):
        indicators.update(db=db, code="nope", changes={"weight": 1}, actor=ADMIN)


# --- YAML import and export ------------------------------------------------------------------------------------


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"indicators": rows}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_import_adds_and_changes_by_code_and_keeps_the_others(db, tmp_path):
    closure = next(d for d in indicators.shipped() if d.code == "closure_rate").as_dict()
    del closure["position"]
    path = write(tmp_path / "district.yaml", [{**closure, "weight": 25}, NEW])
    report = indicators.import_indicators(db=db, path=path, actor=ADMIN)
    assert (report.created, report.updated, report.unchanged) == (["return_share"], ["closure_rate"], [])
    assert stored(db) == SHIPPED + 1
    assert row(db, "closure_rate").weight == 25.0
    assert row(db, "closure_rate").position == 10  # no position in the file: it keeps its place
    assert row(db, "on_time_closure_rate").weight == 40.0  # not named: kept
    [entry] = audits(db, "indicator.import")
    assert entry.detail == {"created": ["return_share"], "updated": ["closure_rate"], "unchanged": 0}
    again = indicators.import_indicators(db=db, path=path, actor=ADMIN)
    assert (again.created, again.updated, again.unchanged) == ([], [], ["closure_rate", "return_share"])


def test_import_is_all_or_nothing_and_names_every_bad_row_and_field(db, tmp_path):
    indicators.ensure_defaults(db=db)
    closure = next(d for d in indicators.shipped() if d.code == "closure_rate").as_dict()
    rows = [
        {**closure, "weight": 5},  # fine, but must not be written
        {**NEW, "formula": "returned / dispatchd"},
        {**NEW, "code": "second", "weight": -2, "direction": "sideways"},
        {**NEW, "code": "third", "sample": "people", "unit": "hours", "score": {"kind": "linear"}, "weight": 1},
        {**NEW, "code": "fourth", "score": {"kind": "ladder", "steps": [[5, 10], [2, 20]]}, "unit": "count"},
        {**NEW, "code": "return_share"},  # the same code again
        "not a mapping",
    ]
    path = write(tmp_path / "bad.yaml", rows)
    with pytest.raises(InputError) as caught:
        indicators.import_indicators(db=db, path=path, actor=ADMIN)
    error = caught.value
    assert error.summary == "bad.yaml refused, nothing imported"
    found = [(i.where, i.field) for i in error.issues]
    assert found == [
        ("bad.yaml row 2 (return_share)", "formula"),
        ("bad.yaml row 3 (second)", "direction"),
        ("bad.yaml row 3 (second)", "weight"),
        ("bad.yaml row 4 (third)", "sample"),
        ("bad.yaml row 4 (third)", "score"),
        ("bad.yaml row 5 (fourth)", "score"),
        ("bad.yaml row 6 (return_share)", "code"),
        ("bad.yaml row 7", None),
    ]
    messages = [i.message for i in error.issues]
    assert messages[0].startswith("unknown count `dispatchd` (did you mean `dispatched`?)")
    assert messages[5].startswith("the ladder is not sorted")
    assert messages[6] == "code return_share is already defined in row 2"
    assert "the ladder is not sorted" in str(error) and "bad.yaml row 3 (second), weight: is -2" in str(error)
    # nothing written: the first, valid row did not change the stored weight
    assert row(db, "closure_rate").weight == 30.0 and stored(db) == SHIPPED
    assert audits(db, "indicator.import") == []


def test_import_refuses_a_file_that_is_not_an_indicator_list(db, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("indicators:\n  - code: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        indicators.import_indicators(db=db, path=broken)
    assert caught.value.issues[0].where.startswith("broken.yaml line ")
    assert caught.value.issues[0].message.startswith("not valid YAML")
    other = tmp_path / "other.yaml"
    other.write_text("units: []\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown top-level key"):
        indicators.import_indicators(db=db, path=other)
    empty = tmp_path / "empty.yaml"
    empty.write_text("indicators: []\n", encoding="utf-8")
    with pytest.raises(InputError, match="no indicators"):
        indicators.import_indicators(db=db, path=empty)
    with pytest.raises(InputError, match="no such file"):
        indicators.import_indicators(db=db, path=tmp_path / "missing.yaml")
    assert stored(db) == 0


def test_import_refuses_lists_and_mappings_where_text_belongs(db, tmp_path):
    rows = [{**NEW, "direction": ["lower"], "unit": {"%": 1}, "sample": ["due"], "objects": [["area"]]}]
    with pytest.raises(InputError) as caught:
        indicators.import_indicators(db=db, path=write(tmp_path / "shapes.yaml", rows))
    assert {i.field for i in caught.value.issues} == {"direction", "unit", "sample", "objects"}
    assert stored(db) == 0


def test_export_then_import_changes_nothing(db, tmp_path):
    indicators.create(db=db, data=NEW, actor=ADMIN)
    path = tmp_path / "export.yaml"
    text = indicators.export_indicators(db=db, path=path)
    assert text.startswith("# gridgov evaluation indicators") and path.read_text(encoding="utf-8") == text
    assert "name: 按期结案率" in text  # Chinese kept readable
    report = indicators.import_indicators(db=db, path=path)
    assert report.created == [] and report.updated == [] and len(report.unchanged) == SHIPPED + 1


def test_the_shipped_file_round_trips(tmp_path):
    text = indicators.dump_definitions(indicators.shipped())
    path = tmp_path / "shipped.yaml"
    path.write_text(text, encoding="utf-8")
    assert [d for d, _ in indicators.load_file(path)] == list(indicators.shipped())
