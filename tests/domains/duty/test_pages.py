"""The duty console pages: on duty now (and its block), the roster calendar with editing and rotation, the
handover log, the notification log — each scoped to the logged-in user."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from gridgov.domains.areas.models import Area
from gridgov.domains.duty import service
from gridgov.domains.duty.models import DutyHandover, DutyRoster
from tests.domains.duty.conftest import OPERATOR, local
from tests.domains.duty.test_files import workbook
from tests.web.conftest import console, fast_hashing, login  # noqa: F401 - the console's users and login

D = dt.date


@pytest.fixture
def rostered(console, frozen):  # noqa: F811
    """West with the three shifts; 'street' leads its night and early shifts of 1 December, 'leader' joins early."""
    db = console.db
    west = db.scalars(select(Area).where(Area.code == "410105001")).one()
    service.ensure_default_shifts(db=db, centre=west, pattern="three", actor=OPERATOR)
    for shift, staff in (("night", []), ("early", ["leader"])):
        entry = service.RosterInput(day=D(2026, 12, 1), shift=shift, leader="street", staff=staff)
        service.set_rosters(db=db, centre=west, entries=[entry], actor=OPERATOR)
    db.flush()
    return console


def test_on_duty_now_page_and_block(client, rostered):
    login(client, "street")
    page = client.get("/duty")
    assert page.status_code == 200
    assert "经八路街道城运中心" in page.text and "street 测试" in page.text and "leader 测试" in page.text
    assert 'id="gaps"' in page.text and "2026-12-01 16:00" in page.text  # nobody from 16:00 on
    assert 'href="/duty"' in page.text  # in the menu
    block = client.get("/duty/block", params={"centre": "410105001"})
    assert block.status_code == 200 and "<html" not in block.text and 'id="duty-410105001"' in block.text


def test_the_roster_calendar_and_its_edits(client, rostered):
    token = login(client, "street")
    page = client.get("/duty/roster", params={"centre": "410105001", "month": "2026-12"})
    assert page.status_code == 200
    day = re.search(r'<tr id="day-2026-12-01".*?</tr>', page.text, re.S).group(0)
    assert day.count("street 测试") == 2 and "leader 测试" in day
    assert "/duty/roster/410105001/2026-12-02/early" in page.text  # the manager's edit links
    form = client.get("/duty/roster/410105001/2026-12-02/early")
    assert form.status_code == 200 and 'name="leader"' in form.text

    refused = client.post("/duty/roster/410105001/2026-12-02/early", data={"csrf_token": token, "staff": ["street"]})
    assert refused.status_code == 422 and "has no duty leader" in refused.text
    saved = client.post(
        "/duty/roster/410105001/2026-12-02/early",
        data={"csrf_token": token, "leader": "street", "staff": ["leader"], "note": "节前加强"},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/duty/roster?centre=410105001&month=2026-12"
    west = rostered.db.scalars(select(Area).where(Area.code == "410105001")).one()
    row = service.get_roster(db=rostered.db, centre=west, day=D(2026, 12, 2), shift="early")
    assert row.note == "节前加强" and row.leader.username == "street"


def test_generating_a_month_from_the_page(client, rostered):
    token = login(client, "street")
    refused = client.post(
        "/duty/roster/generate",
        data={"csrf_token": token, "centre": "410105001", "month": "2027-01", "teams": "street\ngridworker"},
    )
    assert refused.status_code == 422 and "gridworker" in refused.text
    made = client.post(
        "/duty/roster/generate",
        data={"csrf_token": token, "centre": "410105001", "month": "2027-01", "teams": "street, leader"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    count = rostered.db.scalar(select(func.count(DutyRoster.id)).where(DutyRoster.duty_date >= D(2027, 1, 1)))
    assert count == 31 * 3


def test_handover_written_and_acknowledged_in_the_console(client, rostered, frozen):
    frozen[0] = local(2026, 12, 1, 7, 50)
    token = login(client, "street")
    page = client.get("/duty/handovers", params={"centre": "410105001"})
    assert page.status_code == 200 and 'id="write"' in page.text
    night = rostered.db.scalars(select(DutyRoster).order_by(DutyRoster.starts_at)).first()
    written = client.post(
        "/duty/handovers",
        data={"csrf_token": token, "roster_id": str(night.id), "open_matters": "井盖缺失待修", "case_numbers": ""},
        follow_redirects=False,
    )
    assert written.status_code == 303
    # the early shift's leader is 'street' too: it takes the handover over
    page = client.get("/duty/handovers")
    assert 'id="acknowledge"' in page.text and "井盖缺失待修" in page.text
    handover = rostered.db.scalars(select(DutyHandover)).one()
    done = client.post(
        f"/duty/handovers/{handover.id}/acknowledge", data={"csrf_token": token, "note": "已接"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert rostered.db.scalars(select(DutyHandover)).one().acknowledgement_note == "已接"


def test_pages_are_scoped_per_user(client, rostered):
    login(client, "eaststreet")
    assert client.get("/duty/roster", params={"centre": "410105001"}).status_code == 404
    assert client.get("/duty/handovers", params={"centre": "410105001"}).status_code == 404
    assert client.get("/duty/notifications", params={"centre": "410105001"}).status_code == 404
    assert client.get("/duty/roster/410105001/2026-12-02/early").status_code == 404
    own = client.get("/duty/roster")
    assert own.status_code == 200 and "花园路街道城运中心" in own.text and "经八路街道城运中心" not in own.text
    client.cookies.clear()
    login(client, "gridworker")
    page = client.get("/duty")
    assert page.status_code == 200 and "street 测试" in page.text  # who is on duty at its street: yes
    assert 'id="gaps"' not in page.text  # no centre within a grid
    assert client.get("/duty/roster/410105001/2026-12-02/early").status_code == 403  # no editing
    client.cookies.clear()
    login(client, "handler")
    assert client.get("/duty").status_code == 403


def test_the_notification_log_page(client, rostered):
    login(client, "street")
    page = client.get("/duty/notifications", params={"centre": "410105001", "status": "failed"})
    assert page.status_code == 200 and 'id="notices"' not in page.text


def test_importing_a_workbook_from_the_roster_page(client, rostered):
    token = login(client, "street")
    bad = workbook([["2026-12-03", "early", None, "street", None]])
    refused = client.post(
        "/duty/roster/import",
        data={"csrf_token": token, "centre": "410105001"},
        files={"file": ("bad.xlsx", bad, "application/octet-stream")},
    )
    assert refused.status_code == 422 and "bad.xlsx sheet 值班表 row 2" in refused.text
    good = workbook([["2026-12-03", "early", "street", "leader", "节日加班"]])
    done = client.post(
        "/duty/roster/import",
        data={"csrf_token": token, "centre": "410105001"},
        files={"file": ("good.xlsx", good, "application/octet-stream")},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/duty/roster?centre=410105001&month=2026-12"
    assert rostered.db.scalar(select(func.count(DutyRoster.id)).where(DutyRoster.note == "节日加班")) == 1
