"""The citizen snapshot pages (随手拍) in a real browser at a phone viewport (390×844), against a served world.

One server for the module: a fresh migrated SQLite database holding the synthetic world of the case tests
(tests/domains/cases/world.py: a 1×1 km district, two streets, 16 grids), served by `python -m gridgov.cli serve`
on a free loopback port. A citizen reports with the map pick and a photo, gets the tracking code, follows it; the
test then drives the case to closure with the case services (as staff would) and the citizen rates it. Every
page must load without a console error. Screenshots go to $GRIDGOV_SCREENSHOTS or a temporary folder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.domains.cases.world import World, load_world, point
from tests.domains.snapshot.conftest import Clock, tiny_png
from tests.domains.snapshot.test_api import drive_to_closed
from tests.web.live import IMG, chromium, migrated_env, serve

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}
CITIZEN_PHONE = "13700001111"


@dataclass
class Site:
    url: str
    database_url: str


def _load_world(database_url: str) -> None:
    from gridgov.core.db import create_db_engine, transaction
    from gridgov.domains import load_models

    load_models()
    engine = create_db_engine(database_url)
    try:
        with transaction(engine) as db:
            load_world(db)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    where = tmp_path_factory.mktemp("snapshot")
    # The world's catalogue: its own codes for the citizen list and for 'other'.
    env = migrated_env(
        where,
        "snapshot",
        GRIDGOV_EMBEDDED_JOBS="false",
        GRIDGOV_SNAPSHOT_MATTER_TYPES="SJ0102,SJ0501,BJ0101",
        GRIDGOV_SNAPSHOT_OTHER_MATTER_TYPE="SJ0601",
    )
    _load_world(env["GRIDGOV_DATABASE_URL"])
    with serve(env, where) as url:
        yield Site(url, env["GRIDGOV_DATABASE_URL"])


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


class Phone:
    """A phone-sized page that records console errors and uncaught exceptions."""

    def __init__(self, browser: object, **context: object) -> None:
        self.context = browser.new_context(**{**PHONE, **context})  # type: ignore[attr-defined]
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def close(self) -> None:
        self.context.close()


def _open_form(phone: Phone, url: str) -> object:
    page = phone.page
    page.goto(url + "/s")
    page.wait_for_selector("#map path.leaflet-interactive")  # the street boundaries are drawn
    return page


def _drive(database_url: str, code: str) -> None:
    """Staff handle the case: confirm on site, dispatch, sign, start, finish, verify (the case services)."""
    from sqlalchemy import select

    from gridgov.core.db import create_db_engine, transaction
    from gridgov.domains.areas import locate
    from gridgov.domains.cases.models import Case

    locate.invalidate()
    engine = create_db_engine(database_url)
    try:
        with transaction(engine) as db:
            case = db.scalars(select(Case).where(Case.tracking_code == code)).one()
            drive_to_closed(World(db), db, case, Clock(dt.datetime.now(dt.UTC)), step_minutes=0.01)
    finally:
        engine.dispose()


def test_a_citizen_reports_with_the_map_and_a_photo_and_follows_the_code(browser: object, site: Site) -> None:
    IMG.mkdir(parents=True, exist_ok=True)
    phone = Phone(browser)
    page = _open_form(phone, site.url)
    assert page.locator("h1").inner_text() == "反映问题"
    assert page.locator("[data-gps]").is_visible()

    # Pick the point on the map: north-west of the centre, inside the western street.
    box = page.locator("#map").bounding_box()
    assert box is not None and box["width"] <= 390
    page.locator("#map").click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.3})
    page.wait_for_selector("[data-location-text].set")
    lng, lat = float(page.input_value("input[name=lng]")), float(page.input_value("input[name=lat]"))
    west, north = point(0, 500), point(500, 1000)
    assert west[0] < lng < north[0] and west[1] < lat < north[1], (lng, lat)
    assert page.input_value("input[name=crs]") == "wgs84"
    assert page.locator("[data-location-error]").is_hidden()  # inside the boundaries: no warning

    page.select_option("select[name=matter_type]", "SJ0102")
    page.fill("textarea[name=description]", "公交站旁有一堆生活垃圾")
    page.fill("input[name=phone]", CITIZEN_PHONE)
    page.set_input_files(
        "input[data-photos][multiple]", files=[{"name": "rubbish.png", "mimeType": "image/png", "buffer": tiny_png()}]
    )
    page.wait_for_selector(".previews img")
    assert page.locator(".previews img").count() == 1
    page.screenshot(path=str(IMG / "snapshot-form-phone.png"), full_page=True)

    page.click("[data-submit]")
    page.wait_for_selector("#tracking-code")
    code = page.locator("#tracking-code").inner_text().strip()
    assert len(code) == 10 and code.isalnum()
    page.screenshot(path=str(IMG / "snapshot-done-phone.png"), full_page=True)

    page.click("#status-link")
    page.wait_for_selector("#status-stage")
    assert page.locator("#status-stage").inner_text() == "现场核实中"
    assert page.locator("#status-code").inner_text() == code
    assert CITIZEN_PHONE not in page.content()
    page.screenshot(path=str(IMG / "snapshot-status-phone.png"), full_page=True)
    assert phone.errors == []

    # Staff handle it; the citizen sees it closed with the reply and rates it.
    _drive(site.database_url, code)
    page.reload()
    assert page.locator("#status-stage").inner_text() == "已结案"
    assert "垃圾已清运" in page.locator("#status-reply").inner_text()
    page.check("#rating input[value=satisfied]")
    page.click("#rating button[type=submit]")
    page.wait_for_selector("#rated")
    assert "满意" in page.locator("#status-rating").inner_text()
    page.screenshot(path=str(IMG / "snapshot-rated-phone.png"), full_page=True)
    assert phone.errors == []
    phone.close()


def test_the_form_refuses_to_send_without_a_location(browser: object, site: Site) -> None:
    phone = Phone(browser)
    page = _open_form(phone, site.url)
    page.select_option("select[name=matter_type]", "SJ0601")
    page.fill("textarea[name=description]", "路灯不亮")
    page.click("[data-submit]")
    error = page.locator("[data-location-error]")
    error.wait_for(state="visible")
    assert "请选择位置" in error.inner_text()
    assert page.url == site.url + "/s"  # nothing was sent
    assert phone.errors == []
    phone.close()


def test_the_idempotency_key_survives_a_lost_answer(browser: object, site: Site) -> None:
    phone = Phone(browser)
    page = _open_form(phone, site.url)
    sent_key = page.input_value("input[name=idempotency_key]")

    def fill_in() -> None:
        box = page.locator("#map").bounding_box()
        assert box is not None
        page.locator("#map").click(position={"x": box["width"] * 0.7, "y": box["height"] * 0.7})
        page.select_option("select[name=matter_type]", "SJ0501")
        page.fill("textarea[name=description]", "人行道上有流动摊贩")

    fill_in()
    # The network drops the report: the answer never comes.
    page.route(site.url + "/s", lambda route: route.abort() if route.request.method == "POST" else route.continue_())
    page.click("[data-submit]")
    page.wait_for_timeout(500)
    page.unroute(site.url + "/s")
    # Opening the form again, the script restores the key of the report sent, so a resend makes no second case.
    page = _open_form(phone, site.url)
    assert page.input_value("input[name=idempotency_key]") == sent_key
    fill_in()
    page.click("[data-submit]")
    page.wait_for_selector("#tracking-code")
    # Once the success page has been seen, a new form keeps the server's new key.
    page = _open_form(phone, site.url)
    assert page.input_value("input[name=idempotency_key]") not in ("", sent_key)
    phone.close()


def test_the_phone_position_fills_the_location(browser: object, site: Site) -> None:
    lng, lat = point(700, 300)  # the eastern street
    phone = Phone(browser, geolocation={"longitude": lng, "latitude": lat}, permissions=["geolocation"])
    page = _open_form(phone, site.url)
    page.click("[data-gps]")
    page.wait_for_selector("[data-location-text].set")
    assert abs(float(page.input_value("input[name=lng]")) - lng) < 1e-6
    assert abs(float(page.input_value("input[name=lat]")) - lat) < 1e-6
    assert page.locator("#map path.leaflet-interactive").count() >= 2
    assert phone.errors == []
    phone.close()


def test_an_unknown_code_shows_a_friendly_page(browser: object, site: Site) -> None:
    phone = Phone(browser)
    page = phone.page
    page.goto(site.url + "/s/track")
    page.fill("input[name=code]", "ABCDEF0123")
    page.click("form button[type=submit]")
    page.wait_for_selector("h1")
    assert page.url.endswith("/s/track/ABCDEF0123")
    assert "未找到" in page.locator("h1").inner_text()
    phone.close()
