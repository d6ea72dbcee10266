"""The console in a real browser (Playwright driving Debian's Chromium) against a served demo deployment.

One server for the module: a fresh migrated SQLite database with the Jinshui demo and its users loaded
(`gridgov demo load`), served by `python -m gridgov.cli serve` on a free loopback port. The tests skip when
/usr/bin/chromium or Playwright is missing (CI installs both). Screenshots of the main pages go to
$GRIDGOV_SCREENSHOTS (docs/img when refreshing the docs) or a temporary folder.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.domains.snapshot.conftest import tiny_png
from tests.web.live import CLI, IMG, chromium, migrated_env, serve

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "jinshui-demo-2026"
STREET, GRID = "410105003", "410105003005001"


@dataclass
class Deployment:
    url: str
    case_id: int  # garbage in the grid worker's grid, waiting in the dispatch queue
    case_number: str
    far_case_id: int  # a case in another street


def _points(database_url: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Returns a point inside the grid worker's grid and one inside a grid of another street."""
    from sqlalchemy import select

    from gridgov.core.db import create_db_engine, transaction
    from gridgov.domains import load_models
    from gridgov.domains.areas.enums import AreaLevel
    from gridgov.domains.areas.models import Area

    load_models()
    engine = create_db_engine(database_url)
    try:
        with transaction(engine, write=False) as db:
            home = db.scalars(select(Area).where(Area.code == GRID)).one()
            far = db.scalars(
                select(Area).where(Area.level == AreaLevel.grid, ~Area.code.startswith(STREET)).order_by(Area.code)
            ).first()
            assert far is not None
            return _inside(home.geometry), _inside(far.geometry)
    finally:
        engine.dispose()


def _inside(geometry: object) -> tuple[float, float]:
    point = geometry.representative_point()  # type: ignore[attr-defined]
    return point.x, point.y


class Api:
    """A logged-in JSON API session (cookie + CSRF header), to set the scene quickly."""

    def __init__(self, url: str, username: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        me = self.call("POST", "/api/v1/auth/login", {"username": username, "password": PASSWORD})
        self.csrf = me["csrf_token"]

    def call(self, method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
        headers = {"Content-Type": "application/json"}
        if getattr(self, "csrf", None):
            headers["X-CSRF-Token"] = self.csrf
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            headers=headers,
            method=method,
        )
        with self.opener.open(request, timeout=30) as response:
            return json.loads(response.read() or b"null")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    where = tmp_path_factory.mktemp("console")
    env = migrated_env(where, "console")
    database_url = env["GRIDGOV_DATABASE_URL"]
    subprocess.run([*CLI, "demo", "load"], env=env, check=True, capture_output=True, timeout=300)
    with serve(env, where) as url:
        (home, far) = _points(database_url)
        dispatcher = Api(url, "dispatcher")

        def report(title: str, at: tuple[float, float]) -> dict[str, object]:
            body = {
                "channel": "hotline",
                "matter_type": "SJ0102",
                "title": title,
                "description": "市民来电反映",
                "lng": at[0],
                "lat": at[1],
                # A low-confidence classification keeps the case in the queue for a person to dispatch.
                "classification": {"label": "SJ0102", "confidence": 0.3},
            }
            return dispatcher.call("POST", "/api/v1/cases", body)["case"]  # type: ignore[return-value]

        case = report("小区门口垃圾堆积", home)
        far_case = report("另一街道的垃圾", far)
        assert case["stage"] == "registered", case
        yield Deployment(url, int(case["id"]), str(case["number"]), int(far_case["id"]))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


def log_in(browser: object, url: str, username: str, **context: object) -> object:
    """Returns a new page logged in as `username` (on its inbox)."""
    page = browser.new_context(locale="zh-CN", **context).new_page()  # type: ignore[attr-defined]
    page.goto(url + "/inbox")
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(url + "/inbox")
    return page


def test_each_role_sees_its_inbox(browser: object, deployment: Deployment) -> None:
    expected = {
        "dispatcher": {"to_register", "to_dispatch", "to_verify", "to_approve", "overdue", "warnings"},
        "handler": {"to_sign", "to_handle", "overdue", "warnings"},
        "gridworker": {"to_sign", "to_handle", "to_verify", "overdue", "warnings"},
        "leader": {"to_approve", "overdue", "warnings"},
    }
    IMG.mkdir(parents=True, exist_ok=True)
    for username, keys in expected.items():
        page = log_in(browser, deployment.url, username)
        shown = set(page.eval_on_selector_all("[data-section]", "els => els.map(e => e.dataset.section)"))
        assert shown == keys, username
        assert page.locator("h1").inner_text() == "我的待办"
        if username == "dispatcher":
            assert deployment.case_number in page.locator("#section-to_dispatch").inner_text()
            page.screenshot(path=str(IMG / "console-inbox.png"), full_page=True)
        page.context.close()
    phone = log_in(browser, deployment.url, "handler", viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.screenshot(path=str(IMG / "console-inbox-phone.png"), full_page=True)
    phone.context.close()


def test_a_case_goes_from_dispatch_to_closed(browser: object, deployment: Deployment) -> None:
    url, case_id = deployment.url, deployment.case_id
    # The dispatcher dispatches it from the queue to a candidate unit: the street's sanitation team.
    page = log_in(browser, url, "dispatcher")
    page.goto(url + "/queue")
    page.check(f"input[name=case][value='{case_id}']")
    page.select_option(f"select[name=unit_{case_id}]", f"{STREET}-HWS")
    page.screenshot(path=str(IMG / "console-queue.png"), full_page=True)
    page.click("#queue fieldset button[type=submit]")
    page.wait_for_selector("#bulk-results li.ok")
    page.context.close()

    # The handler signs it, then finishes it with a result.
    page = log_in(browser, url, "handler")
    page.goto(f"{url}/cases/{case_id}")
    page.click("#action-sign button[type=submit]")
    page.wait_for_selector("#action-finish")
    page.fill("#action-finish textarea[name=result]", "已清运完毕")
    # The demo's garbage matter type requires a photo of the result (evidence).
    page.set_input_files(
        "#action-finish input[name=photo]", files=[{"name": "after.png", "mimeType": "image/png", "buffer": tiny_png()}]
    )
    page.click("#action-finish button[type=submit]")
    page.wait_for_selector("#case-stage:has-text('已处置')")
    page.context.close()

    # The grid worker verifies it on site: closed, with the whole history on the timeline.
    page = log_in(browser, url, "gridworker")
    page.goto(f"{url}/cases/{case_id}")
    assert page.locator("#action-sign").count() == 0
    page.fill("#action-verify input[name=note]", "现场核查已清理")
    page.click("#action-verify button[type=submit]")
    page.wait_for_selector("#case-stage:has-text('已结案')")
    steps = page.eval_on_selector_all("#timeline li", "els => els.map(e => e.dataset.action)")
    assert steps == ["report", "register", "dispatch", "sign", "finish", "verify"]
    assert page.locator(".photos img").count() == 1
    assert page.locator("#actions .empty").count() == 1 or page.locator("#action-verify").count() == 0
    page.screenshot(path=str(IMG / "console-case.png"), full_page=True)
    page.context.close()


def test_a_case_outside_the_area_is_not_found(browser: object, deployment: Deployment) -> None:
    page = log_in(browser, deployment.url, "gridworker")
    response = page.goto(f"{deployment.url}/cases/{deployment.far_case_id}")
    assert response is not None and response.status == 404
    assert "案件不存在" in page.locator("h1").inner_text()
    page.context.close()
    # The district dispatcher, whose scope is the whole district, sees it.
    page = log_in(browser, deployment.url, "dispatcher")
    assert page.goto(f"{deployment.url}/cases/{deployment.far_case_id}").status == 200
    page.context.close()
