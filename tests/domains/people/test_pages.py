"""Console pages of the register: the list (masked, scoped), search by POST, the detail with the unmask form,
change forms, the import page with its error report, the export page, and the menu link."""

from __future__ import annotations

import datetime as dt
import html
import io
import re

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.people.models import ExportRequest
from tests.domains.people.conftest import BUILDING_B, PASSWORD
from tests.domains.people.helpers import WANG_ID, ZHANG_ID, ZHANG_PHONE, make_id, workbook, wrong_check_digit


def login(client: TestClient, username: str) -> str:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    data = {"username": username, "password": PASSWORD, "next": "/residents", "csrf_token": token}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    page = client.get("/residents")
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def test_the_list_is_masked_scoped_and_linked_from_the_menu(client, register):
    login(client, "gw_a")
    page = client.get("/residents")
    assert 'href="/residents"' in page.text  # the menu link
    assert "张三" in page.text and "李四" in page.text and "王五" not in page.text
    assert ZHANG_ID[:6] + "********" + ZHANG_ID[-4:] in page.text and ZHANG_ID not in page.text
    assert "138****8000" in page.text and ZHANG_PHONE not in page.text
    assert "严重精神障碍患者" not in page.text  # a core tag, hidden from the grid worker
    audit = register.db.scalars(select(AuditEntry).where(AuditEntry.action == "resident.list")).all()
    assert audit and audit[-1].actor_name == "gw_a 测试"


def test_a_leader_sees_names_masked(client, register):
    login(client, "leader")
    page = client.get("/residents?status=all")
    assert "张*" in page.text and "张三" not in page.text and 'name="name"' not in page.text


def test_search_by_post_keeps_the_number_out_of_the_url(client, register):
    csrf = login(client, "secretary")
    found = client.post("/residents/search", data={"csrf_token": csrf, "id_number": WANG_ID})
    assert found.status_code == 200 and "王五" in found.text and "张三" not in found.text
    assert WANG_ID not in str(found.url)
    refused = client.post("/residents/search", data={"csrf_token": csrf})
    assert refused.status_code == 422 and "exactly one" in refused.text


def test_the_detail_unmasks_only_with_a_purpose_and_shows_the_history(client, register):
    csrf = login(client, "gw_a")
    zhang = register.resident("张三")
    detail = client.get(f"/residents/{zhang.id}")
    assert detail.status_code == 200 and f'action="/residents/{zhang.id}/unmask"' in detail.text
    assert ZHANG_ID not in detail.text and 'id="events"' in detail.text
    empty = client.post(f"/residents/{zhang.id}/unmask", data={"csrf_token": csrf, "purpose": "看"})
    assert empty.status_code == 422 and ZHANG_ID not in empty.text
    shown = client.post(f"/residents/{zhang.id}/unmask", data={"csrf_token": csrf, "purpose": "入户核实联系方式"})
    assert shown.status_code == 200 and ZHANG_ID in shown.text and ZHANG_PHONE in shown.text
    assert "入户核实联系方式" in shown.text
    no_csrf = client.post(f"/residents/{zhang.id}/unmask", data={"purpose": "入户核实联系方式"})
    assert no_csrf.status_code == 403
    other = client.get(f"/residents/{register.resident('王五').id}")
    assert other.status_code == 404


def test_change_forms_record_events(client, register):
    csrf = login(client, "gw_b")
    wang = register.resident("王五")
    changed = client.post(
        f"/residents/{wang.id}/contact", data={"csrf_token": csrf, "phone": "13600002222"}, follow_redirects=False
    )
    assert changed.status_code == 303 and changed.headers["location"] == f"/residents/{wang.id}"
    page = client.get(f"/residents/{wang.id}")
    assert "139****5678 → 136****2222" in page.text
    bad = client.post(f"/residents/{wang.id}/move-out", data={"csrf_token": csrf})
    assert bad.status_code == 422 and "date" in bad.text
    moved = client.post(
        f"/residents/{wang.id}/move-out", data={"csrf_token": csrf, "occurred_on": "2026-11-01"}, follow_redirects=False
    )
    assert moved.status_code == 303
    household = client.get(f"/households/{wang.household_id}")
    assert household.status_code == 200 and 'id="move-in"' in household.text


def test_the_import_page_lists_row_errors_and_offers_them_as_xlsx(client, register):
    csrf = login(client, "secretary")
    rows = [
        (
            BUILDING_B,
            "8",
            "户主",
            "冯一",
            "",
            "",
            "",
            wrong_check_digit(make_id(dt.date(1970, 5, 5), 19)),
            "",
            "户籍",
            "",
        )
    ]
    files = {"file": ("people.xlsx", workbook(rows), "application/octet-stream")}
    page = client.post("/residents/import", data={"csrf_token": csrf}, files=files)
    assert page.status_code == 422 and "公民身份号码" in page.text and "check digit" in page.text
    errors = re.search(r'name="errors" value="([^"]*)"', page.text).group(1)
    report = client.post(
        "/residents/import/report", data={"csrf_token": csrf, "errors": html.unescape(errors), "source": "people.xlsx"}
    )
    assert report.status_code == 200
    sheet = load_workbook(io.BytesIO(report.content)).active
    assert [c.value for c in sheet[3]][:2] == [2, "公民身份号码"]
    assert client.get("/residents/import").status_code == 200
    login(client, "leader")
    assert client.get("/residents/import").status_code == 403


def test_the_export_page_asks_approves_and_downloads(client, register):
    csrf = login(client, "secretary")
    asked = client.post(
        "/residents/exports",
        data={"csrf_token": csrf, "status": "active", "purpose": "重阳节慰问名单核对"},
        follow_redirects=False,
    )
    assert asked.status_code == 303, asked.text
    export = register.db.scalars(select(ExportRequest)).one()
    page = client.get("/residents/exports")
    assert "重阳节慰问名单核对" in page.text and f"/residents/exports/{export.id}/approve" not in page.text
    leader_csrf = login(client, "leader")
    page = client.get("/residents/exports")
    assert f"/residents/exports/{export.id}/approve" in page.text
    approved = client.post(
        f"/residents/exports/{export.id}/approve", data={"csrf_token": leader_csrf}, follow_redirects=False
    )
    assert approved.status_code == 303
    login(client, "secretary")
    page = client.get("/residents/exports")
    assert f"/residents/exports/{export.id}/download" in page.text
    file = client.get(f"/residents/exports/{export.id}/download")
    assert file.status_code == 200
    sheet = load_workbook(io.BytesIO(file.content)).worksheets[0]
    assert "secretary 测试" in sheet["A1"].value
