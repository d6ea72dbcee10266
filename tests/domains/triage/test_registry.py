"""Model versions in the database and classification at intake: add, activate, classify, route by confidence,
reclassify from the suggestions (API and queue page)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gridgov.cli import app as cli_app
from gridgov.config import get_settings
from gridgov.core.errors import Conflict, Invalid
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import AuditEntry, User
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.catalog.models import MatterType
from gridgov.domains.triage import duplicates, registry
from gridgov.domains.triage.model import train
from gridgov.domains.triage.models import TriageModel
from tests.domains.cases.test_api import (
    DISTRICT_DISPATCHER,
    GRID_WORKER,
    GRID_WORKER_E,
    STREET_DISPATCHER,
    STREET_DISPATCHER_E,
    Who,
    report,
)
from tests.domains.cases.world import point
from tests.domains.triage.tiny import ADMIN, THEMES, set_min_confidence, texts_and_labels, tiny_model


@pytest.fixture
def model_bytes() -> bytes:
    return tiny_model()


@pytest.fixture
def active(db: Session, world: Any, model_bytes: bytes) -> TriageModel:
    row = registry.add_model(db=db, data=model_bytes, actor=ADMIN, note="test")
    return registry.activate(db=db, version=row.version, actor=ADMIN)


def unclassified(title: str, description: str = "", **extra: Any) -> dict[str, Any]:
    body = report(**extra)
    body.pop("matter_type")
    return {**body, "title": title, "description": description}


# --- versions ---------------------------------------------------------------------------------------------------


def test_a_model_is_stored_as_the_next_version_and_one_version_is_active(db, world, model_bytes):
    first = registry.add_model(db=db, data=model_bytes, actor=ADMIN)
    assert (first.version, first.is_active, first.label_target) == (1, False, "matter_type")
    assert first.meta["labels"] == sorted(THEMES) and first.meta["unresolved_labels"] == []
    with pytest.raises(Conflict, match="already stored as version 1"):
        registry.add_model(db=db, data=model_bytes, actor=ADMIN)
    texts, labels = texts_and_labels(seed=8)
    second = registry.add_model(db=db, data=train(texts, labels, search=False).to_bytes(), actor=ADMIN)
    registry.activate(db=db, version=first.version, actor=ADMIN)
    registry.activate(db=db, version=second.version, actor=ADMIN)
    assert [(r.version, r.is_active) for r in registry.list_models(db=db)] == [(2, True), (1, False)]
    assert registry.active_model(db=db).version == 2
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.action.like("triage.%"))).all()
    assert actions.count("triage.model_add") == 2 and actions.count("triage.model_activate") == 2


def test_labels_resolve_by_code_name_or_crosswalk_and_a_model_of_unknown_labels_is_refused(db, world):
    mapped = registry.resolve_labels(db=db, labels=["SJ0102", "占道经营", "火星垃圾"])
    assert mapped.codes == {"SJ0102": "SJ0102", "占道经营": "SJ0501"} and mapped.unresolved == ["火星垃圾"]
    texts, labels = texts_and_labels()
    foreign = train(texts, [f"类别{label}" for label in labels], search=False).to_bytes()
    with pytest.raises(Invalid, match="none of the model's 4 labels"):
        registry.add_model(db=db, data=foreign, actor=ADMIN)


def test_a_file_that_is_not_a_model_is_refused_before_it_is_stored(db, world):
    with pytest.raises(Exception, match="not a gridgov"):
        registry.add_model(db=db, data=b"PK\x03\x04 a zip, not a model", actor=ADMIN)
    assert db.scalars(select(TriageModel)).all() == []


def test_a_version_that_cannot_be_loaded_is_not_activated_and_never_stops_intake(api, db, active, caplog, monkeypatch):
    registry.forget()  # this process has not loaded it yet
    active.sha256 = "0" * 64
    db.flush()
    assert registry.active_model(db=db) is None and "cannot be loaded" in caplog.text
    # A report of the catch-all type goes in unclassified instead of being refused.
    monkeypatch.setattr(get_settings(), "snapshot_other_matter_type", "SJ0601")
    kept = api.post("/api/v1/cases", json=report("SJ0601", title="一堆垃圾"), headers=GRID_WORKER)
    assert kept.status_code == 201, kept.text
    assert db.get(Case, kept.json()["case"]["id"]).classification is None
    active.is_active = False
    db.flush()
    with pytest.raises(Conflict, match="do not match its sha256"):
        registry.activate(db=db, version=active.version, actor=ADMIN)


def test_a_retired_matter_type_is_never_given_to_a_case(api, db, active, monkeypatch):
    set_min_confidence(monkeypatch, 0.5)
    retired = db.scalars(select(MatterType).where(MatterType.code == "SJ0102")).one()
    retired.is_active = False
    db.flush()
    found = registry.classify(db=db, text="小区门口一堆垃圾发臭")
    assert found is None or "SJ0102" not in [s["code"] for s in found.suggestions]


# --- classification at intake -----------------------------------------------------------------------------------


def test_a_report_without_a_matter_type_takes_the_models_label_and_a_sure_one_goes_out(api, active, db, monkeypatch):
    set_min_confidence(monkeypatch, 0.5)
    body = unclassified("小区门口一堆垃圾发臭，好几天了")
    response = api.post("/api/v1/cases", json=body, headers=GRID_WORKER)
    assert response.status_code == 201, response.text
    case = db.get(Case, response.json()["case"]["id"])
    assert case.matter_type.code == "SJ0102"
    assert case.classification["model"] == "v1" and case.classification["confidence"] >= 0.5
    assert [s["code"] for s in case.classification["suggestions"]][0] == "SJ0102"
    assert "垃圾" in "".join(case.classification["words"])
    assert case.stage == "dispatched"  # confident: out to the street's sanitation team without a dispatcher


def test_an_unsure_classification_waits_in_the_queue_with_three_suggestions(api, active, db, monkeypatch):
    set_min_confidence(monkeypatch, 0.99)
    response = api.post("/api/v1/cases", json=unclassified("小区门口一堆垃圾"), headers=GRID_WORKER)
    case = db.get(Case, response.json()["case"]["id"])
    assert case.stage == "registered" and case.classification["confidence"] < 0.99
    assert len(case.classification["suggestions"]) == 3
    assert case.dispatch_candidates  # the centre sees who would handle it


def test_without_an_active_model_a_report_must_name_its_matter_type(api, world, db):
    response = api.post("/api/v1/cases", json=unclassified("一堆垃圾"), headers=GRID_WORKER)
    assert response.status_code == 422
    assert "no triage model is active" in response.text


def test_a_reporters_own_matter_type_is_kept(api, active, db):
    response = api.post("/api/v1/cases", json=report("SJ0501", title="一堆垃圾"), headers=GRID_WORKER)
    case = db.get(Case, response.json()["case"]["id"])
    assert case.matter_type.code == "SJ0501" and case.classification is None


def test_a_retried_unclassified_report_returns_the_same_case(api, active, db):
    body = unclassified("路边一堆垃圾没人清理")
    headers = {**GRID_WORKER, "Idempotency-Key": "retry-unclassified-1"}
    first = api.post("/api/v1/cases", json=body, headers=headers)
    again = api.post("/api/v1/cases", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["case"]["id"] == first.json()["case"]["id"]


# --- reclassify (改类) ------------------------------------------------------------------------------------------


def _queued(api: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch, title: str = "小区门口一堆垃圾") -> Case:
    set_min_confidence(monkeypatch, 0.999)
    response = api.post("/api/v1/cases", json=unclassified(title), headers=GRID_WORKER)
    return db.get(Case, response.json()["case"]["id"])


def test_the_dispatcher_reclassifies_to_a_suggestion_and_the_plan_follows(api, active, db, monkeypatch):
    case = _queued(api, db, monkeypatch)
    second = case.classification["suggestions"][1]["code"]
    response = api.post(
        f"/api/v1/cases/{case.id}/reclassify",
        json={"matter_type": second, "note": "看照片是这个"},
        headers=STREET_DISPATCHER,
    )
    assert response.status_code == 200, response.text
    db.refresh(case)
    assert case.matter_type.code == second and case.classification["reviewed"] is True
    event = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "reclassify")).one()
    assert event.data == {"from": "SJ0102", "to": second, "suggestion_rank": 2}
    assert event.from_stage == event.to_stage == "registered"
    again = api.post(f"/api/v1/cases/{case.id}/reclassify", json={"matter_type": second}, headers=STREET_DISPATCHER)
    assert again.status_code == 422 and "already of matter type" in again.text
    refused = api.post(f"/api/v1/cases/{case.id}/reclassify", json={"matter_type": "SJ0102"}, headers=GRID_WORKER)
    assert refused.status_code == 403


def test_a_dispatched_case_is_not_reclassified(api, active, db):
    case = api.post("/api/v1/cases", json=unclassified("一堆垃圾发臭"), headers=GRID_WORKER).json()["case"]
    assert case["stage"] == "dispatched"
    response = api.post(
        f"/api/v1/cases/{case['id']}/reclassify", json={"matter_type": "SJ0501"}, headers=DISTRICT_DISPATCHER
    )
    assert response.status_code == 409 and "not allowed in stage 'dispatched'" in response.text


# --- CLI --------------------------------------------------------------------------------------------------------


def test_the_cli_adds_activates_and_lists_versions(cli_env, tmp_path, model_bytes):
    from gridgov.migrations import upgrade

    upgrade(cli_env)
    runner = CliRunner()
    path = tmp_path / "m.model"
    path.write_bytes(model_bytes)
    added = runner.invoke(cli_app, ["triage", "add", str(path), "--note", "first"])
    # An empty catalogue: no label resolves, and nothing is stored.
    assert added.exit_code == 1 and "none of the model's 4 labels" in added.output
    listed = runner.invoke(cli_app, ["triage", "models"])
    assert listed.exit_code == 0 and "no model stored" in listed.output
    missing = runner.invoke(cli_app, ["triage", "activate", "7"])
    assert missing.exit_code == 1 and "no triage model version 7" in missing.output


# --- API --------------------------------------------------------------------------------------------------------

ADMIN_USER = Who("modeladmin", Role.admin, "CENTRE", None, "系统管理员")


def test_the_api_lists_activates_classifies_and_deactivates_but_takes_no_model_file(api, db, model_bytes):
    ADMIN_USER.enrol(db, scopes=("admin",))
    octet = {"Content-Type": "application/octet-stream"}
    # A model file is code (a pickle): only the server's operator adds one, with `gridgov triage add`.
    upload = api.post("/api/v1/triage/models", content=model_bytes, headers={**ADMIN_USER, **octet})
    assert upload.status_code == 405
    registry.add_model(db=db, data=model_bytes, actor=ADMIN, note="first")
    assert api.post("/api/v1/triage/models/1/activate", headers=STREET_DISPATCHER).status_code == 403
    activated = api.post("/api/v1/triage/models/1/activate", headers=ADMIN_USER)
    assert activated.status_code == 200, activated.text
    assert activated.json()["version"] == 1 and activated.json()["labels"] == 4 and activated.json()["note"] == "first"
    listed = api.get("/api/v1/triage/models", headers=STREET_DISPATCHER)
    assert [(m["version"], m["active"]) for m in listed.json()] == [(1, True)]
    assert api.get("/api/v1/triage/models", headers=GRID_WORKER).status_code == 403

    found = api.post("/api/v1/triage/classify", json={"text": "花园路有人摆摊占道经营"}, headers=STREET_DISPATCHER)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["suggestions"][0]["code"] == "SJ0501" and body["suggestions"][0]["name"] == "占道经营"
    assert body["model_version"] == 1 and len(body["suggestions"]) == 3 and body["words"]

    assert api.delete("/api/v1/triage/models/active", headers=ADMIN_USER).status_code == 204
    gone = api.post("/api/v1/triage/classify", json={"text": "摆摊"}, headers=STREET_DISPATCHER)
    assert gone.status_code == 404


def test_a_duplicate_in_another_street_is_never_revealed(api, world, db):
    text = {"title": "路口一堆垃圾", "description": "路口东侧一堆生活垃圾发臭，好几天了"}
    east = api.post("/api/v1/cases", json=report("SJ0102", at=point(510, 880), **text), headers=GRID_WORKER_E)
    assert east.status_code == 201, east.text
    west = api.post("/api/v1/cases", json=report("SJ0102", at=point(495, 880), **text), headers=GRID_WORKER)
    assert west.status_code == 201 and west.json()["duplicates"] == []  # 15 m away, but the east street's
    case = db.get(Case, west.json()["case"]["id"])
    found = duplicates.suggest_for_case(db=db, case=case)
    assert [c.case.id for c in found] == [east.json()["case"]["id"]]  # the score finds it; the scope hides it

    def seen_by(who: Who) -> int:
        actor = auth_service.actor_of(db.get(User, who.user_id))
        return len(duplicates.visible_to(db=db, actor=actor, candidates=found))

    assert (seen_by(DISTRICT_DISPATCHER), seen_by(STREET_DISPATCHER), seen_by(STREET_DISPATCHER_E)) == (1, 0, 1)


def test_an_external_classification_is_checked_before_it_is_kept(api, world, db):
    bad = {"label": "SJ0102", "confidence": 0.5, "suggestions": [{"label": "SJ0102", "probability": "high"}]}
    refused = api.post("/api/v1/cases", json=report(classification=bad), headers=GRID_WORKER)
    assert refused.status_code == 422 and "probability" in refused.text


def test_a_unit_model_suggests_units_and_never_chooses_the_matter_type(api, db, world, monkeypatch):
    units = {"SJ0102": "410105001-HWS", "SJ0501": "410105001-CGZD", "BJ0101": "WATER", "ZZ0101": "410105001001-JWH"}
    texts, labels = texts_and_labels()
    row = registry.add_model(db=db, data=train(texts, [units[x] for x in labels], search=False).to_bytes(), actor=ADMIN)
    registry.activate(db=db, version=row.version, actor=ADMIN)
    assert row.label_target == "unit"
    refused = api.post("/api/v1/cases", json=unclassified("一堆垃圾"), headers=GRID_WORKER)
    assert refused.status_code == 422 and "suggests handling units, not matter types" in refused.text
    monkeypatch.setattr(get_settings(), "snapshot_other_matter_type", "SJ0601")
    kept = api.post("/api/v1/cases", json=report("SJ0601", title="小区门口一堆垃圾"), headers=GRID_WORKER)
    case = db.get(Case, kept.json()["case"]["id"])
    assert case.matter_type.code == "SJ0601" and case.classification["target"] == "unit"
    assert case.classification["suggestions"][0]["code"] == "410105001-HWS"
