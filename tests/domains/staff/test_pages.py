"""The staff pages on the console: an area's staff, the staffing report, the filings inbox with approve and
refuse (never one's own), coverage, and reporting a phone lost; each scoped to the user."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from gridgov.domains.auth.enums import TerminalStatus
from gridgov.domains.auth.models import Terminal
from gridgov.domains.staff.enums import FilingStatus, Post
from gridgov.domains.staff.models import Filing
from tests.domains.staff.conftest import EG1, EN, G1, WN, Staff
from tests.web.conftest import login


def test_the_area_page_lists_the_posts_and_the_areas_below(client: TestClient, staff: Staff):
    worker = staff.hold(staff.person("孙一"), G1, Post.grid_worker)
    staff.hold(staff.person("李二"), EG1, Post.grid_worker)
    login(client, "sec_wn")
    page = client.get("/staff")
    assert page.status_code == 200
    assert 'href="/staff"' in page.text  # the menu link
    assert f'id="area-{G1}"' in page.text and "李二" not in page.text
    posts = re.search(
        rf'id="area-{G1}">\s*<td[^>]*>.*?</td>\s*<td[^>]*>{G1}</td>\s*<td[^>]*>(\d+)</td>', page.text, re.S
    )
    assert posts and posts.group(1) == "1"
    grid = client.get(f"/staff?area={G1}")
    assert "孙一" in grid.text and f'href="/staff/filings/new?assignment={worker.id}"' in grid.text
    person = client.get(f"/staff/members/{worker.member_id}")
    assert person.status_code == 200 and f'id="assignment-{worker.id}"' in person.text
    assert client.get(f"/staff/members/{worker.member_id + 1}").status_code == 404  # 李二: another community
    outside = client.get(f"/staff?area={EN}")  # another community: the user's own area instead
    assert outside.status_code == 200 and "李二" not in outside.text and f'id="area-{G1}"' in outside.text
    staffing = client.get("/staff/staffing")
    assert staffing.status_code == 200 and f'id="staffing-{WN}" class="warning"' in staffing.text
    assert client.get("/staff/coverage?period=2026-11&level=grid").status_code == 200
    assert client.get("/staff/coverage?period=bad").status_code == 200  # the error is shown, the month is used


def test_a_filing_is_made_and_decided_on_the_pages_never_by_its_requester(client: TestClient, staff: Staff):
    worker = staff.hold(staff.person("孙一"), G1, Post.grid_worker)
    token = login(client, "sec_wn")
    form = client.get(f"/staff/filings/new?assignment={worker.id}")
    assert form.status_code == 200 and "孙一" in form.text
    data = {"csrf_token": token, "assignment_id": str(worker.id), "kind": "leave", "effective_on": "2026-11-25"}
    refused = client.post("/staff/filings", data={**data, "reason": ""})
    assert refused.status_code == 422 and 'id="form-errors"' in refused.text
    made = client.post("/staff/filings", data={**data, "reason": "辞职"}, follow_redirects=False)
    assert made.status_code == 303
    filing_id = int(made.headers["location"].rsplit("/", 1)[1])
    detail = client.get(f"/staff/filings/{filing_id}")
    assert 'id="own-filing"' in detail.text and 'id="decide"' not in detail.text
    assert client.post(f"/staff/filings/{filing_id}/approve", data={"csrf_token": token}).status_code == 403

    token = login(client, "street_w")
    inbox = client.get("/staff/filings")
    assert re.search(rf'id="to-decide".*?href="/staff/filings/{filing_id}"', inbox.text, re.S)
    done = client.post(f"/staff/filings/{filing_id}/approve", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert staff.db.get(Filing, filing_id).status == FilingStatus.applied and worker.ends_on is not None

    own = client.post(
        "/staff/filings",
        data={
            **data,
            "csrf_token": token,
            "kind": "onboard",
            "assignment_id": "",
            "to_area": G1,
            "post": "grid_worker",
            "person_name": "新人",
            "reason": "补员",
        },
        follow_redirects=False,
    )
    own_id = int(own.headers["location"].rsplit("/", 1)[1])
    self_approval = client.post(f"/staff/filings/{own_id}/approve", data={"csrf_token": token})
    assert self_approval.status_code == 422 and "someone else" in self_approval.text
    assert staff.db.get(Filing, own_id).status == FilingStatus.requested


def test_a_worker_reports_their_phone_lost_on_the_page_and_stays_logged_in(client: TestClient, staff: Staff):
    token = login(client, "gw_wn")
    assert client.get("/staff").status_code == 403  # no staff.view
    page = client.get("/staff/phones")
    assert page.status_code == 200 and "phone-of-gw_wn" in page.text and 'href="/staff"' not in page.text
    phone = staff.db.scalars(select(Terminal).where(Terminal.device_id == "phone-of-gw_wn")).one()
    no_reason = client.post(f"/staff/phones/{phone.id}/lost", data={"csrf_token": token, "reason": ""})
    assert no_reason.status_code == 422 and phone.status == TerminalStatus.active
    done = client.post(
        f"/staff/phones/{phone.id}/lost", data={"csrf_token": token, "reason": "手机被盗"}, follow_redirects=False
    )
    assert done.status_code == 303 and phone.status == TerminalStatus.revoked
    after = client.get("/staff/phones")  # the reporter's own session is kept
    assert after.status_code == 200 and "手机被盗" in after.text
