"""The grid worker's phone pages in a real browser at a phone viewport, on the snapshot tests' served world.

The worker logs in, opens /m (the phone gets its device id), the administrator binds that phone, and the
worker reports a problem with the map pick and a photo, then opens the task list. No console errors allowed.
"""

from __future__ import annotations

import pytest

from tests.web.live import IMG
from tests.web.test_snapshot_browser import Phone, Site, browser, site  # noqa: F401 - shared fixtures

PASSWORD = "worker-browser-password"


def _enrol_worker(database_url: str) -> None:
    from sqlalchemy import select

    from gridgov.core.db import create_db_engine, transaction
    from gridgov.domains.auth import service as auth_service
    from gridgov.domains.auth.enums import Role
    from gridgov.domains.auth.models import User
    from gridgov.domains.auth.schemas import SYSTEM_ACTOR, UserCreate
    from tests.domains.cases.world import COMMUNITY_W_N

    engine = create_db_engine(database_url)
    try:
        with transaction(engine) as db:
            if db.scalar(select(User.id).where(User.username == "phoneworker")) is None:
                data = UserCreate(
                    username="phoneworker",
                    display_name="网格员小王",
                    role=Role.grid_worker,
                    unit=f"{COMMUNITY_W_N}-JWH",
                    scope=COMMUNITY_W_N,
                    password=PASSWORD,
                )
                auth_service.create_user(db=db, data=data, actor=SYSTEM_ACTOR)
    finally:
        engine.dispose()


def _bind(database_url: str, device_id: str) -> None:
    from gridgov.core.db import create_db_engine, transaction
    from gridgov.domains.auth import service as auth_service
    from gridgov.domains.auth import terminals
    from gridgov.domains.auth.schemas import SYSTEM_ACTOR

    engine = create_db_engine(database_url)
    try:
        with transaction(engine) as db:
            user = auth_service.get_user_by_username(db=db, username="phoneworker")
            terminals.bind(db=db, actor=SYSTEM_ACTOR, user=user, device_id=device_id)
    finally:
        engine.dispose()


@pytest.fixture
def worker_site(site: Site) -> Site:  # noqa: F811 - the imported fixture
    _enrol_worker(site.database_url)
    return site


def test_a_grid_worker_reports_from_the_phone_with_the_map_and_a_photo(browser: object, worker_site: Site) -> None:  # noqa: F811
    from tests.domains.snapshot.conftest import tiny_png

    IMG.mkdir(parents=True, exist_ok=True)
    phone = Phone(browser)
    page = phone.page
    try:
        page.goto(worker_site.url + "/login?next=/m")
        page.fill("input[name=username]", "phoneworker")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#go-report")
        assert page.locator("#binding-notice").is_visible()
        device_id = page.locator("#device-id").inner_text().strip()
        assert device_id in page.locator("#binding-notice").inner_text()
        _bind(worker_site.database_url, device_id)

        page.goto(worker_site.url + "/m/report")
        page.wait_for_selector("#map path.leaflet-interactive")
        box = page.locator("#map").bounding_box()
        assert box is not None and box["width"] <= 390
        page.locator("#map").click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.3})
        page.wait_for_selector("[data-location-text].set")
        page.select_option("select[name=matter_type]", "SJ0102")
        page.fill("textarea[name=description]", "小区门口暴露垃圾")
        page.set_input_files(
            "input[data-photos][multiple]", files=[{"name": "a.png", "mimeType": "image/png", "buffer": tiny_png()}]
        )
        page.wait_for_selector(".previews img")
        page.screenshot(path=str(IMG / "worker-report-phone.png"), full_page=True)
        page.click("[data-submit]")
        page.wait_for_selector("#case-number")
        assert page.locator("#case-number").inner_text().startswith("410105-")

        page.goto(worker_site.url + "/m/tasks")
        page.wait_for_selector("h1")
        assert page.locator("h1").inner_text() == "核实核查任务"
        assert phone.errors == []
    finally:
        phone.close()
