"""The grid worker's phone pages (/m), the leader's assignment form (/assign) and the terminal list (/terminals)."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from gridgov.domains.auth.enums import Role, TerminalStatus
from gridgov.domains.auth.models import Terminal
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.enums import CaseStage, Channel
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.service import Context
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.models import HouseholdVisit
from gridgov.domains.intake.pages import DEVICE_COOKIE
from gridgov.domains.intake.schemas import CaseSubmit
from tests.domains.cases.world import point
from tests.web.conftest import login


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 60, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


def bind_this_phone(app, console, client: TestClient) -> str:
    """The worker's first report asks for binding; the administrator binds the phone from the console."""
    form = client.get("/m/report").text
    lng, lat = point()
    data = {
        "csrf_token": field(form, "csrf_token"),
        "idempotency_key": field(form, "idempotency_key"),
        "matter_type": "SJ0102",
        "description": "路边暴露垃圾一堆",
        "lng": str(lng),
        "lat": str(lat),
    }
    refused = client.post("/m/report", data=data)
    device_id = client.cookies[DEVICE_COOKIE]
    assert refused.status_code == 422 and device_id in refused.text  # the worker reads the id to the admin
    terminal = console.db.scalars(select(Terminal).where(Terminal.device_id == device_id)).one()
    assert terminal.status == TerminalStatus.pending

    with TestClient(app) as admin:
        token = login(admin, "admin")
        listing = admin.get("/terminals")
        assert device_id in listing.text and "待绑定" in listing.text
        done = admin.post(f"/terminals/{terminal.id}/bind", data={"csrf_token": token}, follow_redirects=False)
        assert done.status_code == 303
    console.db.refresh(terminal)
    assert terminal.status == TerminalStatus.active
    return device_id


def test_a_worker_reports_from_a_newly_bound_phone_and_self_handles(app, console, client):
    login(client, "gridworker")
    home = client.get("/m")
    assert home.status_code == 200 and client.cookies.get(DEVICE_COOKIE)
    assert 'id="binding-notice"' in home.text
    bind_this_phone(app, console, client)
    assert 'id="binding-notice"' not in client.get("/m").text

    form = client.get("/m/report").text
    lng, lat = point()
    data = {
        "csrf_token": field(form, "csrf_token"),
        "idempotency_key": field(form, "idempotency_key"),
        "matter_type": "SJ0102",
        "description": "路边暴露垃圾一堆",
        "lng": str(lng),
        "lat": str(lat),
        "crs": "wgs84",
        "self_handled": "on",
        "result": "已清理",
    }
    files = [("photo", ("before.png", png(), "image/png")), ("after_photo", ("after.png", png(), "image/png"))]
    done = client.post("/m/report", data=data, files=files)
    assert done.status_code == 200, done.text
    number = re.search(r'id="case-number">([^<]+)<', done.text).group(1)
    case = console.db.scalars(select(Case).where(Case.number == number)).one()
    assert case.channel == Channel.patrol and case.stage == CaseStage.handled and case.result == "已清理"
    assert sorted(a.kind for a in case.attachments) == ["after", "report"]
    # A resend of the same form (lost answer) returns the same case.
    again = client.post("/m/report", data=data, files=files)
    assert number in again.text
    assert console.db.scalar(select(Case.id).where(Case.id > case.id)) is None


def test_a_report_with_a_problem_shows_the_reason_and_keeps_the_text(app, console, client):
    login(client, "gridworker")
    bind_this_phone(app, console, client)
    form = client.get("/m/report").text
    data = {"csrf_token": field(form, "csrf_token"), "matter_type": "SJ0102", "description": "描述保留"}
    refused = client.post("/m/report", data=data)
    assert refused.status_code == 422 and "missing location" in refused.text and "描述保留" in refused.text


def test_the_worker_confirms_a_citizen_report_on_site_from_the_task_list(app, console, client):
    lng, lat = point()
    public = Actor(name="public", role=Role.citizen)
    report = CaseSubmit(channel="snapshot", matter_type="SJ0102", title="垃圾", lng=lng, lat=lat)
    case = intake_service.submit(db=console.db, report=report, ctx=Context.of(public)).case
    assert case.stage == CaseStage.verifying
    login(client, "gridworker")
    bind_this_phone(app, console, client)  # decisions, like reports, come from the bound phone
    tasks = client.get("/m/tasks")
    assert f"/m/tasks/{case.id}" in tasks.text
    page = client.get(f"/m/tasks/{case.id}")
    token = field(page.text, "csrf_token")
    missing = client.post(f"/m/tasks/{case.id}", data={"csrf_token": token})
    assert missing.status_code == 422 and "choose whether" in missing.text
    elsewhere = client.post(f"/m/tasks/{console.case.id}", data={"csrf_token": token, "decision": "pass"})
    assert elsewhere.status_code == 422 and console.case.title not in elsewhere.text  # not a task: nothing shown
    assert client.get(f"/m/tasks/{console.case.id}").status_code == 404
    done = client.post(f"/m/tasks/{case.id}", data={"csrf_token": token, "decision": "true"}, follow_redirects=False)
    assert done.status_code == 303 and case.number in done.headers["location"]
    console.db.refresh(case)
    assert case.stage in (CaseStage.registered, CaseStage.dispatched)


def test_a_visit_with_a_finding_becomes_a_case(app, console, client):
    login(client, "gridworker")
    bind_this_phone(app, console, client)
    page = client.get("/m/visits").text
    lng, lat = point()
    data = {
        "csrf_token": field(page, "csrf_token"),
        "idempotency_key": field(page, "idempotency_key"),
        "household_ref": "5号楼1单元302",
        "purpose": "关爱走访",
        "finding": "楼道灯不亮",
        "matter_type": "SJ0102",
        "lng": str(lng),
        "lat": str(lat),
    }
    done = client.post("/m/visits", data=data, follow_redirects=False)
    assert done.status_code == 303, done.text
    visit = console.db.scalars(select(HouseholdVisit)).one()
    assert visit.household_ref == "5号楼1单元302" and len(visit.case_ids) == 1
    assert "5号楼1单元302" in client.get("/m/visits").text


def test_a_leader_assigns_a_case_from_the_console(console, client):
    token = login(client, "leader")
    assert "/assign" in client.get("/inbox").text
    form = client.get("/assign").text
    data = {
        "csrf_token": token,
        "idempotency_key": field(form, "idempotency_key"),
        "matter_type": "SJ0501",
        "title": "整治夜市占道",
        "description": "本周内完成",
        "area_code": "410105001",
        "unit": "CGJ",
        "due_at": "2030-01-05T18:00",
    }
    done = client.post("/assign", data=data, follow_redirects=False)
    assert done.status_code == 303, done.text
    case = console.db.get(Case, int(done.headers["location"].rsplit("/", 1)[1]))
    assert case.channel == Channel.assignment and case.is_supervised and case.handling_unit.code == "CGJ"
    assert case.handle_due_at.isoformat().startswith("2030-01-05T10:00")  # 18:00 in Shanghai


def test_other_roles_get_the_not_allowed_page(console, client):
    login(client, "street")
    refused = client.get("/m")
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert client.get("/terminals").status_code == 403
    login(client, "gridworker")
    assert client.get("/assign").status_code == 403
