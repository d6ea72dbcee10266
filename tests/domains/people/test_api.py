"""The JSON API of the register: masked and scoped reads (audited), search by POST, unmask with a purpose, changes,
upload import with its row error report, and the export workflow."""

from __future__ import annotations

import datetime as dt
import io

from openpyxl import load_workbook
from sqlalchemy import select

from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import AuditOutcome
from gridgov.domains.auth.models import AuditEntry
from tests.domains.people.conftest import BUILDING_A2, BUILDING_B
from tests.domains.people.helpers import (
    WANG_ID,
    WANG_PHONE,
    ZHANG_ID,
    ZHANG_PHONE,
    make_id,
    workbook,
    wrong_check_digit,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_lists_are_masked_scoped_and_audited(client, register):
    response = client.get(
        "/api/v1/people/residents", params={"purpose": "网格走访准备"}, headers=register.headers["gw_a"]
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 2 and {r["name"] for r in page["items"]} == {"张三", "李四"}
    zhang = next(r for r in page["items"] if r["name"] == "张三")
    assert zhang["id_number"] == ZHANG_ID[:6] + "********" + ZHANG_ID[-4:] and zhang["phone"] == "138****8000"
    assert ZHANG_ID not in response.text and ZHANG_PHONE not in response.text
    leader = client.get("/api/v1/people/residents", params={"status": "all"}, headers=register.headers["leader"]).json()
    assert leader["total"] == 5 and {r["name"] for r in leader["items"]} >= {"张*", "王*"}
    entry = register.db.scalars(
        select(AuditEntry).where(AuditEntry.action == "resident.list").order_by(AuditEntry.id)
    ).first()
    assert entry.purpose == "网格走访准备" and entry.detail["resident_ids"] == sorted(r["id"] for r in page["items"])


def test_search_is_a_post_and_needs_exactly_one_value(client, register):
    headers = register.headers["secretary"]
    found = client.post("/api/v1/people/residents/search", json={"id_number": WANG_ID}, headers=headers)
    assert found.status_code == 200 and [r["name"] for r in found.json()] == ["王五"]
    by_phone = client.post("/api/v1/people/residents/search", json={"phone": WANG_PHONE}, headers=headers)
    assert [r["name"] for r in by_phone.json()] == ["王五"]
    assert client.post("/api/v1/people/residents/search", json={}, headers=headers).status_code == 422
    both = {"id_number": WANG_ID, "phone": WANG_PHONE}
    assert client.post("/api/v1/people/residents/search", json=both, headers=headers).status_code == 422
    assert client.get("/api/v1/people/residents/search", headers=headers).status_code in (404, 405, 422)


def test_detail_outside_the_area_is_404_and_the_attempt_audited(client, register):
    wang = register.resident("王五")
    response = client.get(f"/api/v1/people/residents/{wang.id}", headers=register.headers["gw_a"])
    assert response.status_code == 404
    denied = register.db.scalars(select(AuditEntry).where(AuditEntry.outcome == AuditOutcome.denied)).all()
    assert [(d.target_type, d.target_id) for d in denied] == [("resident", str(wang.id))]
    own = client.get(f"/api/v1/people/residents/{wang.id}", headers=register.headers["gw_b"])
    assert own.status_code == 200 and own.json()["events"][0]["kind"] == "registered" and own.json()["may_unmask"]


def test_unmask_needs_a_purpose_and_the_permission(client, register):
    zhang = register.resident("张三")
    url = f"/api/v1/people/residents/{zhang.id}/unmask"
    assert client.post(url, json={}, headers=register.headers["gw_a"]).status_code == 422
    short = client.post(url, json={"purpose": "看看"}, headers=register.headers["gw_a"])
    assert short.status_code == 422 and short.json()["field"] == "purpose"
    assert client.post(url, json={"purpose": "领导要求核实"}, headers=register.headers["leader"]).status_code == 403
    shown = client.post(url, json={"purpose": "回访案件需联系本人"}, headers=register.headers["gw_a"])
    assert shown.status_code == 200 and shown.json()["id_number"] == ZHANG_ID and shown.json()["phone"] == ZHANG_PHONE
    entries = register.db.scalars(select(AuditEntry).where(AuditEntry.action == "resident.unmask")).all()
    assert [(e.outcome, e.purpose) for e in entries if e.outcome == AuditOutcome.ok] == [
        (AuditOutcome.ok, "回访案件需联系本人")
    ]


def test_changes_through_the_api(client, register):
    headers = register.headers["gw_b"]
    wang = register.resident("王五")
    moved = client.post(f"/api/v1/people/residents/{wang.id}/contact", json={"phone": "13600001111"}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["event"]["changes"] == {"phone": ["139****5678", "136****1111"]}
    tagged = client.post(f"/api/v1/people/residents/{wang.id}/tags", json={"tag": "volunteer"}, headers=headers)
    assert tagged.status_code == 201 and tagged.json()["event"]["kind"] == "tag_added"
    untagged = client.delete(f"/api/v1/people/residents/{wang.id}/tags/volunteer", headers=headers)
    assert untagged.status_code == 200 and untagged.json()["event"]["kind"] == "tag_removed"
    core = client.post(f"/api/v1/people/residents/{wang.id}/tags", json={"tag": "drug_user"}, headers=headers)
    assert core.status_code == 403
    out = client.post(
        f"/api/v1/people/residents/{wang.id}/move-out", json={"occurred_on": "2026-11-01"}, headers=headers
    )
    assert out.status_code == 200 and out.json()["event"]["changes"] == {"status": ["active", "moved_out"]}
    again = client.post(
        f"/api/v1/people/residents/{wang.id}/death", json={"occurred_on": "2026-11-02"}, headers=headers
    )
    assert again.status_code == 409
    leader = client.post(
        f"/api/v1/people/residents/{wang.id}/move-out",
        json={"occurred_on": "2026-11-01"},
        headers=register.headers["leader"],
    )
    assert leader.status_code == 403


def test_households_move_in_and_births(client, register):
    headers = register.headers["secretary"]
    created = client.post(
        "/api/v1/people/households", json={"building": BUILDING_A2, "room": "5单元502"}, headers=headers
    )
    assert created.status_code == 201, created.text
    household_id = created.json()["id"]
    person = {
        "name": "周九",
        "relation": "head",
        "residence_type": "floating",
        "id_number": make_id(dt.date(1991, 9, 9), 13),
        "phone": "13511112222",
        "tags": ["volunteer"],
    }
    moved = client.post(f"/api/v1/people/households/{household_id}/move-in", json=person, headers=headers)
    assert moved.status_code == 201, moved.text
    assert moved.json()["event"]["kind"] == "move_in" and moved.json()["event"]["changes"]["phone"] == [
        None,
        "135****2222",
    ]
    bad = {**person, "id_number": wrong_check_digit(make_id(dt.date(1991, 9, 9), 15))}
    refused = client.post(f"/api/v1/people/households/{household_id}/move-in", json=bad, headers=headers)
    assert refused.status_code == 422 and refused.json()["issues"][0]["field"] == "id_number"
    born = client.post(
        f"/api/v1/people/households/{household_id}/births",
        json={"name": "周小宝", "gender": "male", "birth_date": "2026-10-10"},
        headers=headers,
    )
    assert born.status_code == 201 and born.json()["event"]["kind"] == "birth"
    detail = client.get(f"/api/v1/people/households/{household_id}", headers=headers).json()
    assert [r["name"] for r in detail["residents"]] == ["周九", "周小宝"] and detail["active_residents"] == 2
    assert [e["kind"] for e in detail["events"]][:2] == ["household_created", "move_in"]
    listed = client.get("/api/v1/people/households", params={"building": BUILDING_A2}, headers=headers).json()
    assert listed["total"] == 1


def test_import_upload_answers_the_row_errors_as_json_or_xlsx(client, register):
    headers = register.headers["secretary"]
    rows = [
        (
            BUILDING_B,
            "9单元909",
            "户主",
            "吴十",
            "",
            "",
            "",
            wrong_check_digit(make_id(dt.date(1980, 1, 1), 17)),
            "",
            "户籍",
            "",
        )
    ]
    files = {"file": ("people.xlsx", workbook(rows), XLSX)}
    refused = client.post("/api/v1/people/import", files=files, headers=headers)
    assert refused.status_code == 422
    body = refused.json()
    assert body["report"]["errors"] == [
        {"row": 2, "column": "公民身份号码", "message": body["report"]["errors"][0]["message"]}
    ]
    assert "check digit" in body["report"]["errors"][0]["message"] and body["issues"][0]["field"] == "公民身份号码"
    as_xlsx = client.post("/api/v1/people/import", params={"report": "xlsx"}, files=files, headers=headers)
    assert as_xlsx.status_code == 422 and as_xlsx.headers["content-type"] == XLSX
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert [c.value for c in sheet[3]][:2] == [2, "公民身份号码"]
    good = [(BUILDING_B, "9单元909", "户主", "吴十", "", "", "", make_id(dt.date(1980, 1, 1), 17), "", "户籍", "")]
    imported = client.post("/api/v1/people/import", files={"file": ("ok.xlsx", workbook(good), XLSX)}, headers=headers)
    assert imported.status_code == 200 and imported.json()["residents_created"] == 1
    template = client.get("/api/v1/people/import/template", headers=headers)
    assert template.status_code == 200 and template.headers["content-type"] == XLSX
    assert client.post("/api/v1/people/import", files=files, headers=register.headers["leader"]).status_code == 403


def test_the_export_workflow_through_the_api(client, register):
    secretary, leader = register.headers["secretary"], register.headers["leader"]
    asked = client.post(
        "/api/v1/people/exports",
        json={"filters": {"tag": "empty_nest_elderly"}, "purpose": "重阳节慰问名单", "include_personal": True},
        headers=secretary,
    )
    assert asked.status_code == 201, asked.text
    export = asked.json()
    assert (export["status"], export["row_count"], export["include_personal"]) == ("pending", 1, True)
    url = f"/api/v1/people/exports/{export['id']}"
    assert client.get(f"{url}/download", headers=secretary).status_code == 409
    assert client.post(f"{url}/decision", json={"approve": True}, headers=secretary).status_code == 403
    assert [e["id"] for e in client.get("/api/v1/people/exports", headers=leader).json()] == [export["id"]]
    decided = client.post(f"{url}/decision", json={"approve": True, "note": "同意"}, headers=leader)
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    file = client.get(f"{url}/download", headers=secretary)
    assert file.status_code == 200 and file.headers["content-type"] == XLSX
    assert file.headers["cache-control"] == "no-store"
    sheet = load_workbook(io.BytesIO(file.content)).worksheets[0]
    assert "secretary 测试" in sheet["A1"].value and f"#{export['id']}" in sheet.oddHeader.center.text
    assert [row[5] for row in sheet.iter_rows(min_row=4, values_only=True)] == ["张三"]
    assert client.get(url, headers=secretary).json()["download_count"] == 1
    assert client.get(f"{url}/download", headers=leader).status_code == 403  # the approver does not download it


def test_a_token_without_the_residents_scope_is_refused(client, register):
    user = auth_service.get_user_by_username(db=register.db, username="gw_a")
    _row, token = auth_service.create_token(db=register.db, user=user, name="cases only", scopes=["cases:read"])
    response = client.get("/api/v1/people/residents", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and "residents:read" in response.text
