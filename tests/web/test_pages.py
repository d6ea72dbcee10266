"""Console pages through the TestClient: login redirects, inboxes per role, language, CSRF, actions, scope."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from gridgov.core import i18n
from gridgov.domains.cases.enums import CaseStage
from tests.web.conftest import Console, login, login_form_token


def sections(html: str) -> list[str]:
    return re.findall(r'data-section="([a-z_]+)"', html)


def test_pages_need_a_login(client: TestClient) -> None:
    for path in ("/inbox", "/cases", "/queue", "/cases/1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    assert (
        "/login?next=%2Fcases%3Fstage%3Dclosed"
        in client.get("/cases?stage=closed", follow_redirects=False).headers["location"]
    )
    assert client.get("/login").status_code == 200


def test_wrong_password_is_shown_on_the_form(client: TestClient, console: Console) -> None:
    token = login_form_token(client)
    response = client.post(
        "/login", data={"username": "street", "password": "nope", "next": "/inbox", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert "gridgov_session" not in response.cookies


def test_login_refuses_an_outside_next(client: TestClient, console: Console) -> None:
    response = client.post(
        "/login",
        data={
            "username": "street",
            "password": "console-test-password",
            "next": "//evil.example/x",
            "csrf_token": login_form_token(client),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/inbox"


def test_each_role_sees_its_inbox(client: TestClient, console: Console) -> None:
    expected = {
        "street": ["to_register", "to_dispatch", "to_verify", "to_approve", "overdue", "warnings"],
        "handler": ["to_sign", "to_handle", "overdue", "warnings"],
        "gridworker": ["to_sign", "to_handle", "to_verify", "overdue", "warnings"],
        "leader": ["to_approve", "overdue", "warnings"],
        "admin": [],
    }
    for username, keys in expected.items():
        client.cookies.clear()
        login(client, username)
        page = client.get("/inbox").text
        assert sections(page) == keys, username
    # The patrol report was dispatched automatically to the street's sanitation team: it waits to be signed.
    assert console.case.stage == CaseStage.dispatched
    client.cookies.clear()
    login(client, "handler")
    page = client.get("/inbox").text
    to_sign = page.split('data-section="to_sign"')[1].split("</section>")[0]
    assert console.case.number in to_sign
    assert "责任单位处置人员" in page  # the role label, in Chinese by default
    assert 'href="/queue"' not in page  # handlers have no dispatch queue in their menu


def test_language_switch_changes_labels(client: TestClient, console: Console) -> None:
    login(client, "street")
    assert "我的待办" in client.get("/inbox").text
    switched = client.get("/lang/en?next=/inbox", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/inbox"
    page = client.get("/inbox").text
    assert "My inbox" in page and "我的待办" not in page
    assert '<html lang="en">' in page
    assert "我的待办" in client.get("/inbox?lang=zh-CN").text


def test_a_form_post_without_csrf_token_is_refused(client: TestClient, console: Console) -> None:
    login(client, "handler")
    case = console.case
    response = client.post(
        f"/cases/{case.id}/actions/sign", data={"version": str(case.version)}, follow_redirects=False
    )
    assert response.status_code == 403
    console.db.refresh(case)
    assert case.stage == CaseStage.dispatched


def test_handler_signs_from_the_case_page(client: TestClient, console: Console) -> None:
    token = login(client, "handler")
    case = console.case
    page = client.get(f"/cases/{case.id}").text
    assert 'id="action-sign"' in page and 'id="action-return"' in page
    assert 'id="action-verify"' not in page  # the handler never verifies (巡办分离), so no such button
    response = client.post(
        f"/cases/{case.id}/actions/sign",
        data={"csrf_token": token, "version": str(case.version)},
        headers={"HX-Request": "true"},
        follow_redirects=False,
    )
    assert response.status_code == 200 and response.headers["HX-Redirect"] == f"/cases/{case.id}"
    console.db.refresh(case)
    assert case.stage == CaseStage.signed
    page = client.get(f"/cases/{case.id}").text
    assert 'id="action-start"' in page and 'id="action-sign"' not in page
    assert page.count("<li data-action=") == 4  # report, register, dispatch, sign


def test_a_refused_action_is_shown_inline(client: TestClient, console: Console) -> None:
    token = login(client, "handler")
    case = console.case
    response = client.post(
        f"/cases/{case.id}/actions/finish",
        data={"csrf_token": token, "version": str(case.version), "result": "cleared"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert response.text.lstrip().startswith("<form") and 'id="action-finish"' in response.text
    assert 'class="error"' in response.text and "not allowed in stage" in response.text
    stale = client.post(
        f"/cases/{case.id}/actions/sign",
        data={"csrf_token": token, "version": str(case.version - 1)},
        headers={"HX-Request": "true"},
    )
    assert stale.status_code == 422 and 'class="error"' in stale.text
    console.db.refresh(case)
    assert case.stage == CaseStage.dispatched


def test_a_case_outside_the_area_is_not_found(client: TestClient, console: Console) -> None:
    login(client, "eaststreet")
    response = client.get(f"/cases/{console.case.id}")
    assert response.status_code == 404
    assert "案件不存在" in response.text and console.case.title not in response.text
    assert console.case.number not in client.get("/cases").text


def test_case_list_filters(client: TestClient, console: Console) -> None:
    login(client, "street")
    assert console.case.number in client.get("/cases?stage=dispatched").text
    assert console.case.number not in client.get("/cases?stage=closed").text
    assert console.case.number in client.get("/cases?q=暴露").text
    bad = client.get("/cases?unit=NOPE")
    assert bad.status_code == 422 and "unknown unit" in bad.text


def test_queue_bulk_reject_with_reason(client: TestClient, console: Console) -> None:
    token = login(client, "street")
    case = console.case
    # The handler returns it, so it is back in the street centre's queue.
    from gridgov.domains.cases import service as case_service
    from gridgov.domains.cases.service import Context

    case_service.return_case(
        db=console.db, case=case, ctx=Context.of(console.users["handler"]), reason_code="dispatch_error", note="wrong"
    )
    console.db.flush()
    queue = client.get("/queue").text
    assert case.number in queue and f'name="unit_{case.id}"' in queue
    missing = client.post("/queue/bulk", data={"csrf_token": token, "op": "reject"}, headers={"HX-Request": "true"})
    assert missing.status_code == 422 and "tick at least one case" in missing.text
    done = client.post(
        "/queue/bulk",
        data={"csrf_token": token, "op": "reject", "case": str(case.id), "reason_code": "duplicate", "note": "dup"},
        headers={"HX-Request": "true"},
    )
    assert done.status_code == 200, done.text
    console.db.refresh(case)
    assert case.stage == CaseStage.rejected


def test_message_catalogues_are_complete() -> None:
    extracted = {m.id for m in i18n.extract_catalog() if m.id}
    with (i18n.I18N_DIR / "messages.pot").open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    assert extracted == template, "run the extraction again: messages.pot is out of date"
    for locale in i18n.LOCALES:
        with (i18n.I18N_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        assert {m.id for m in catalog if m.id} == extracted, locale
        if locale == "zh_CN":
            assert not [m.id for m in catalog if m.id and not m.string], "untranslated Chinese messages"
