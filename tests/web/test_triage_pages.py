"""Triage on the console: the model's suggestions in the queue and on a case, one-click reclassify."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from gridgov.domains.cases.models import Case
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.schemas import CaseSubmit
from gridgov.domains.triage import registry
from tests.domains.cases.world import point
from tests.domains.triage.tiny import ADMIN, set_min_confidence, tiny_model
from tests.web.conftest import Console, login


def _unsure_case(console: Console, monkeypatch: pytest.MonkeyPatch) -> Case:
    row = registry.add_model(db=console.db, data=tiny_model(), actor=ADMIN)
    registry.activate(db=console.db, version=row.version, actor=ADMIN)
    set_min_confidence(monkeypatch, 0.999)
    lng, lat = point()
    report = CaseSubmit(channel="patrol", title="小区门口一堆垃圾", lng=lng, lat=lat)
    case = intake_service.submit(db=console.db, report=report, ctx=Context.of(console.users["gridworker"])).case
    console.db.flush()
    return case


def test_the_queue_shows_the_suggestions_and_one_click_reclassifies(
    client: TestClient,
    console: Console,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = _unsure_case(console, monkeypatch)
    assert case.stage == "registered"
    token = login(client, "street")
    page = client.get("/queue")
    assert page.status_code == 200
    buttons = re.findall(rf'name="quick" value="reclassify:{case.id}:(\w+)"', page.text)
    assert buttons == [s["code"] for s in case.classification["suggestions"][1:]]
    response = client.post("/queue/bulk", data={"csrf_token": token, "quick": f"reclassify:{case.id}:{buttons[0]}"})
    assert response.status_code == 200, response.text
    console.db.refresh(case)
    assert case.matter_type.code == buttons[0] and case.classification["reviewed"]
    bad = client.post("/queue/bulk", data={"csrf_token": token, "quick": f"reclassify:{case.id}:NOPE"})
    assert bad.status_code == 422 and "unknown matter type" in bad.text


def test_the_case_page_explains_the_classification(client: TestClient, console: Console, monkeypatch) -> None:
    case = _unsure_case(console, monkeypatch)
    login(client, "street")
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 200
    assert 'id="triage"' in page.text and "v1" in page.text
    assert f'action="/cases/{case.id}/actions/reclassify"' in page.text
    login(client, "gridworker")
    assert 'id="triage"' not in client.get(f"/cases/{case.id}").text  # a grid worker has no triage.view
