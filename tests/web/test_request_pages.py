"""Console pages added to the case page and the account: extension/suspension requests, co-units, password."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from gridgov.core import clock
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import CaseStage
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog.models import Unit
from tests.domains.cases.world import STREET_W
from tests.web.conftest import PASSWORD, Console, login, login_form_token

HTMX = {"HX-Request": "true"}


def post_action(client: TestClient, console: Console, token: str, action: str, **fields: str) -> object:
    case = console.case
    console.db.refresh(case)
    data = {"csrf_token": token, "version": str(case.version), **fields}
    return client.post(f"/cases/{case.id}/actions/{action}", data=data, headers=HTMX, follow_redirects=False)


def relogin(client: TestClient, username: str) -> str:
    client.cookies.clear()
    return login(client, username)


def test_handler_requests_an_extension_and_a_dispatcher_decides(client: TestClient, console: Console) -> None:
    case = console.case
    token = login(client, "handler")
    page = client.get(f"/cases/{case.id}").text
    assert 'id="action-request_extension"' in page and 'name="amount"' in page
    assert 'id="action-request_suspension"' not in page  # only once signed (挂账 needs the case in hand)
    bad = post_action(client, console, token, "request_extension", amount="-1", reason="more time")
    assert bad.status_code == 422 and 'id="action-request_extension"' in bad.text
    assert "positive amount" in bad.text
    missing = post_action(client, console, token, "request_extension", amount="8")
    assert missing.status_code == 422 and "reason: required" in missing.text
    done = post_action(client, console, token, "request_extension", amount="8", reason="等待设备")
    assert done.status_code == 200 and done.headers["HX-Redirect"] == f"/cases/{case.id}"
    console.db.refresh(case)
    assert case.pending_request and case.pending_request["kind"] == "extension"
    assert case.pending_request["amount"] == 8
    page = client.get(f"/cases/{case.id}").text
    assert 'id="pending-request"' in page and "延期 8" in page
    assert 'id="action-request_extension"' not in page  # one pending request at a time

    token = relogin(client, "street")
    page = client.get(f"/cases/{case.id}").text
    assert 'id="action-decide_extension"' in page and 'id="action-decide_suspension"' not in page
    decided = post_action(client, console, token, "decide_extension", approve="true", note="同意")
    assert decided.status_code == 200, decided.text
    console.db.refresh(case)
    assert not case.pending_request
    assert 'id="action-decide_extension"' not in client.get(f"/cases/{case.id}").text


def test_handler_requests_a_suspension_in_local_time(client: TestClient, console: Console) -> None:
    case = console.case
    token = login(client, "handler")
    assert post_action(client, console, token, "sign").status_code == 200
    past = post_action(client, console, token, "request_suspension", until="2000-01-01T08:00", reason="冬季")
    assert past.status_code == 422 and "must end in the future" in past.text
    garbled = post_action(client, console, token, "request_suspension", until="next spring", reason="冬季")
    assert garbled.status_code == 422 and "is not a date and time" in garbled.text
    day = (clock.now() + dt.timedelta(days=30)).date()
    done = post_action(client, console, token, "request_suspension", until=f"{day}T09:30", reason="冬季无法施工")
    assert done.status_code == 200, done.text
    console.db.refresh(case)
    # 09:30 in the district (Asia/Shanghai, UTC+8) is 01:30 UTC.
    until = dt.datetime.fromisoformat(case.pending_request["until"])
    assert until.astimezone(dt.UTC) == dt.datetime.combine(day, dt.time(1, 30), dt.UTC)
    page = client.get(f"/cases/{case.id}").text
    assert f"挂账至 {day} 09:30" in page

    token = relogin(client, "street")
    page = client.get(f"/cases/{case.id}").text
    assert 'id="action-decide_suspension"' in page and 'id="action-decide_extension"' not in page
    assert post_action(client, console, token, "decide_suspension", approve="true").status_code == 200
    console.db.refresh(case)
    assert case.is_suspended and not case.pending_request


def test_dispatch_with_a_co_unit_from_the_case_page(client: TestClient, console: Console) -> None:
    case = console.case
    case_service.return_case(
        db=console.db, case=case, ctx=Context.of(console.users["handler"]), reason_code="dispatch_error", note="x"
    )
    console.db.flush()
    token = login(client, "street")
    assert 'name="co_units"' in client.get(f"/cases/{case.id}").text
    unknown = post_action(client, console, token, "dispatch", unit=f"{STREET_W}-HWS", co_units="NOPE")
    assert unknown.status_code == 422 and "unknown unit &#39;NOPE&#39;" in unknown.text
    console.db.refresh(case)
    assert case.stage == CaseStage.returned
    done = post_action(client, console, token, "dispatch", unit=f"{STREET_W}-HWS", co_units=f"{STREET_W}-CGZD，CGJ")
    assert done.status_code == 200, done.text
    console.db.refresh(case)
    co_units = console.db.scalars(select(Unit.code).where(Unit.id.in_(case.co_unit_ids))).all()
    assert case.stage == CaseStage.dispatched and set(co_units) == {"CGJ", f"{STREET_W}-CGZD"}


def password_change(client: TestClient, token: str, current: str, new: str, again: str | None = None) -> object:
    data = {"csrf_token": token, "current_password": current, "new_password": new, "new_password_again": again or new}
    return client.post("/account/password", data=data, follow_redirects=False)


def test_password_change_page(client: TestClient, console: Console) -> None:
    token = login(client, "handler")
    assert 'href="/account/password"' in client.get("/inbox").text
    assert "当前密码" in client.get("/account/password").text
    no_csrf = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "x" * 12, "new_password_again": "x" * 12},
    )
    assert no_csrf.status_code == 403
    wrong = password_change(client, token, "not-my-password", "a-new-long-password")
    assert wrong.status_code == 422 and 'id="password-errors"' in wrong.text
    assert "the current password is wrong" in wrong.text
    weak = password_change(client, token, PASSWORD, "12345678901234")
    assert weak.status_code == 422 and "must not be all digits" in weak.text
    differ = password_change(client, token, PASSWORD, "a-new-long-password", "another-long-password")
    assert differ.status_code == 422 and "the two new passwords differ" in differ.text

    done = password_change(client, token, PASSWORD, "a-new-long-password")
    assert done.status_code == 303 and done.headers["location"] == "/account/password?changed=true"
    assert 'id="password-changed"' in client.get(done.headers["location"]).text  # this session is kept

    client.cookies.clear()
    old = {"username": "handler", "password": PASSWORD, "next": "/inbox", "csrf_token": login_form_token(client)}
    assert client.post("/login", data=old, follow_redirects=False).status_code == 401
    new = {**old, "password": "a-new-long-password", "csrf_token": login_form_token(client)}
    response = client.post("/login", data=new, follow_redirects=False)
    assert response.status_code == 303
    assert re.search(r'name="csrf-token" content="[^"]+"', client.get("/inbox").text)
