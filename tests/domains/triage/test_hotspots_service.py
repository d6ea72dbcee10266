"""Hotspots in the system: refreshed from cases (ids stable, stale ones deleted, dismissed ones respected),
escalated into one supervised discovered case, and the job on a database of its own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy import text as sql
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gridgov import migrations
from gridgov.config import Settings
from gridgov.core.db import create_db_engine, transaction
from gridgov.core.errors import Conflict, NotFoundError
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor, UserCreate
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import CaseStage, Channel
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.service import Context
from gridgov.domains.hotline import service as hotline_service
from gridgov.domains.hotline.schemas import HotlineOrder
from gridgov.domains.triage import jobs
from gridgov.domains.triage import service as triage_service
from gridgov.domains.triage.enums import HotspotStatus
from gridgov.domains.triage.models import Hotspot
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import STREET_E, STREET_W, World, load_world
from tests.domains.triage import hotspot_cases
from tests.domains.triage.hotspot_cases import EAST, GARBAGE, NOISE, WEST

NOW = T0 + dt.timedelta(days=10)


def report(db: Session, world: World, texts: tuple[str, ...], matter: str, where, days: float, **extra) -> list[Case]:
    return hotspot_cases.report(db, world, texts, matter, where, end=NOW, days=days, **extra)


@pytest.fixture
def history(db: Session, world: World) -> dict[str, list[Case]]:
    return hotspot_cases.two_streets(db, world, NOW)


def person(db: Session, world: World, role: Role, unit: str, scope: str | None) -> Actor:
    """Returns the actor of a new user (hotspot decisions name a real user)."""
    data = UserCreate(username=f"{role}-{unit}".lower(), display_name=f"{role} 测试", role=role, unit=unit, scope=scope)
    return auth_service.actor_of(auth_service.create_user(db=db, data=data))


def _stored(db: Session) -> dict[frozenset[int], Hotspot]:
    return {frozenset(h.member_case_ids): h for h in db.scalars(select(Hotspot))}


def test_a_refresh_stores_one_hotspot_per_problem_and_keeps_ids_across_refreshes(db, world, history) -> None:
    summary = triage_service.refresh(db=db, now=NOW)
    assert (summary.cases, summary.found, summary.created, summary.updated, summary.deleted) == (17, 2, 2, 0, 0)
    stored = _stored(db)
    garbage = stored[frozenset(c.id for c in history["garbage"])]
    stalls = stored[frozenset(c.id for c in history["stalls"])]
    assert garbage.status == HotspotStatus.open and garbage.size == 6
    assert garbage.street_id == world.area(STREET_W).id and stalls.street_id == world.area(STREET_E).id
    assert garbage.matter_type_id == history["garbage"][0].matter_type_id
    assert stalls.matter_type_id == history["stalls"][0].matter_type_id
    assert garbage.title in {c.description.rstrip("，。") for c in history["garbage"]}  # the title is not repeated
    assert "清运" in garbage.keywords and garbage.lng is not None and len(garbage.locations) == 6
    assert garbage.window_end == NOW and garbage.window_start == NOW - dt.timedelta(days=30)
    ids = {garbage.id, stalls.id}

    # Two more reports of the garbage, an hour later: the same rows, updated.
    more = report(db, world, GARBAGE[6:], "SJ0102", WEST, days=1)
    again = triage_service.refresh(db=db, now=NOW + dt.timedelta(hours=1))
    assert (again.created, again.updated, again.deleted) == (0, 2, 0)
    assert set(again.hotspot_ids) == ids
    db.refresh(garbage)
    assert garbage.size == 8 and set(garbage.member_case_ids) >= {c.id for c in more}
    assert garbage.refreshed_at == NOW + dt.timedelta(hours=1)


def test_a_case_is_compared_by_its_title_and_description_once() -> None:
    assert triage_service.case_text("井盖丢了", "经三路口的井盖丢了，很危险") == "井盖丢了。经三路口的井盖丢了，很危险"
    assert triage_service.case_text("经三路口的井盖丢了", "经三路口的井盖丢了，很危险") == "经三路口的井盖丢了，很危险"
    assert triage_service.case_text("经三路口的井盖…", "经三路口的井盖丢了") == "经三路口的井盖丢了"
    assert triage_service.case_text("井盖丢了", "") == "井盖丢了"


def test_open_hotspots_no_longer_found_are_deleted(db, world, history) -> None:
    triage_service.refresh(db=db, now=NOW)
    later = triage_service.refresh(db=db, now=NOW + dt.timedelta(days=40))  # the window has moved past them
    assert (later.cases, later.found, later.deleted) == (0, 0, 2)
    assert db.scalars(select(Hotspot)).all() == []


def test_dismissed_hotspots_are_kept_and_not_found_again(db, world, history) -> None:
    triage_service.refresh(db=db, now=NOW)
    garbage = _stored(db)[frozenset(c.id for c in history["garbage"])]
    dispatcher = person(db, world, Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W)
    triage_service.dismiss(db=db, hotspot=garbage, ctx=Context.of(dispatcher, now=NOW), note="已处理")
    assert garbage.details["decision"]["note"] == "已处理" and garbage.decided_by_user_id == dispatcher.user_id
    summary = triage_service.refresh(db=db, now=NOW + dt.timedelta(hours=1))
    assert (summary.found, summary.already_decided, summary.created, summary.deleted) == (2, 1, 0, 0)
    rows = db.scalars(select(Hotspot)).all()
    assert sorted((r.id == garbage.id, r.status) for r in rows) == [(False, "open"), (True, "dismissed")]
    with pytest.raises(Conflict, match="already dismissed"):
        triage_service.dismiss(db=db, hotspot=garbage, ctx=Context.of(dispatcher, now=NOW))


def test_a_dismissed_problem_that_more_than_doubles_comes_back(db, world, history) -> None:
    triage_service.refresh(db=db, now=NOW)
    garbage = _stored(db)[frozenset(c.id for c in history["garbage"])]
    leader = person(db, world, Role.district_leader, "CENTRE", None)
    triage_service.dismiss(db=db, hotspot=garbage, ctx=Context.of(leader, now=NOW))
    wave = report(db, world, GARBAGE + GARBAGE[:1], "SJ0102", WEST, days=1)  # 9 new reports beside the 6 dismissed
    summary = triage_service.refresh(db=db, now=NOW + dt.timedelta(hours=12))
    assert summary.created == 1
    back = next(h for h in db.scalars(select(Hotspot)) if h.status == "open" and h.id != garbage.id and h.size > 6)
    assert len(set(back.member_case_ids) & {c.id for c in wave}) >= 8


def test_merged_reports_count_as_supporters_and_rejected_ones_do_not(db, world, history) -> None:
    # Citizens' snapshots wait for verification, where they can be merged or rejected.
    queued = report(db, world, GARBAGE[:3], "SJ0102", WEST, days=2, channel=Channel.snapshot)
    dispatcher = Context.of(world.street_dispatcher, now=NOW)
    first, second, third = queued
    case_service.merge(db=db, case=second, parent=first, ctx=dispatcher, note="同一问题")
    case_service.reject(db=db, case=third, ctx=dispatcher, reason_code="duplicate", note="重复")
    db.flush()
    assert (second.stage, third.stage) == (CaseStage.merged, CaseStage.rejected)
    triage_service.refresh(db=db, now=NOW)
    garbage = next(h for h in db.scalars(select(Hotspot)) if first.id in h.member_case_ids)
    assert second.id in garbage.member_case_ids and third.id not in garbage.member_case_ids
    assert garbage.size == 8 and garbage.details["merged"] == 1


def test_hotline_reports_without_coordinates_join_as_unlocated(db, world, history) -> None:
    dispatcher = Context.of(world.district_dispatcher, now=NOW - dt.timedelta(days=2))
    for n, text in enumerate(GARBAGE[:3]):
        order = HotlineOrder(order_id=f"12345-{n}", matter_type="SJ0102", content=text, area_code=STREET_W)
        hotline_service.submit_order(db=db, order=order, ctx=dispatcher)
    db.flush()
    snapshot = triage_service.collect(db=db, start=NOW - dt.timedelta(days=30), end=NOW)
    hotline = [m for m in snapshot.messages if m.lng is None]
    assert len(hotline) == 3  # placed at the street's point by intake, but not located for hotspots
    triage_service.refresh(db=db, now=NOW)
    garbage = next(h for h in db.scalars(select(Hotspot)) if history["garbage"][0].id in h.member_case_ids)
    assert garbage.size == 9 and len(garbage.locations) == 6 and garbage.details["located"] == 6


def test_escalating_makes_one_supervised_discovered_case(db, world, history) -> None:
    triage_service.refresh(db=db, now=NOW)
    garbage = _stored(db)[frozenset(c.id for c in history["garbage"])]
    dispatcher = person(db, world, Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W)
    ctx = Context.of(dispatcher, now=NOW)
    case = triage_service.escalate(db=db, hotspot=garbage, ctx=ctx, note="一周内彻底解决")
    assert case.channel == Channel.discovered and case.is_supervised
    assert case.title == f"高频事项：{garbage.title}"[:200]
    assert case.matter_type_id == garbage.matter_type_id and case.street_id == garbage.street_id
    assert all(c.number in case.description for c in history["garbage"])
    assert "6 件相似案件" in case.description and "清运" in case.description
    timeline = case_service.timeline(db=db, case=case)
    assert [e.action for e in timeline][-1] == "supervise" and timeline[-1].note == "一周内彻底解决"
    assert (garbage.status, garbage.case_id, garbage.decided_by_user_id) == ("escalated", case.id, dispatcher.user_id)
    with pytest.raises(Conflict, match="already escalated"):
        triage_service.escalate(db=db, hotspot=garbage, ctx=ctx)
    assert db.scalars(select(Case).where(Case.channel == Channel.discovered)).all() == [case]
    # The discovered case itself is no member of a later refresh, and the escalated hotspot is not found again.
    summary = triage_service.refresh(db=db, now=NOW + dt.timedelta(hours=1))
    assert (summary.cases, summary.already_decided, summary.created) == (17, 1, 0)


def test_a_hotspot_without_coordinates_becomes_a_case_in_its_street(db, world, history) -> None:
    triage_service.refresh(db=db, now=NOW)
    stalls = _stored(db)[frozenset(c.id for c in history["stalls"])]
    stalls.lng = stalls.lat = None  # as when every member came without coordinates
    leader = person(db, world, Role.district_leader, "CENTRE", None)
    case = triage_service.escalate(db=db, hotspot=stalls, ctx=Context.of(leader, now=NOW))
    assert case.street_id == world.area(STREET_E).id and case.is_supervised


def test_a_centre_outside_every_grid_gives_way_to_the_nearest_member(db, world, history) -> None:
    triage_service.refresh(db=db, now=NOW)
    garbage = _stored(db)[frozenset(c.id for c in history["garbage"])]
    inside = garbage.lng, garbage.lat
    garbage.lng, garbage.lat = inside[0] - 0.02, inside[1]  # 2 km west: outside the synthetic district
    leader = person(db, world, Role.district_leader, "CENTRE", None)
    case = triage_service.escalate(db=db, hotspot=garbage, ctx=Context.of(leader, now=NOW))
    assert [case.lng, case.lat] == min(garbage.locations, key=lambda p: p[0])  # the westernmost member


# --- the job --------------------------------------------------------------------------------------------------


def test_the_job_refreshes_in_its_own_transactions_and_is_idempotent(fresh_database_url: str) -> None:
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    try:
        with transaction(engine) as db:
            world = load_world(db)
            report(db, world, GARBAGE, "SJ0102", WEST, days=5)
            report(db, world, NOISE, "SJ0601", EAST, days=4)
        first = jobs.refresh_hotspots(engine=engine, now=NOW)
        assert first is not None and (first.found, first.created) == (1, 1)
        # Moments later (another worker's turn): skipped; later on: the same row, updated.
        assert jobs.refresh_hotspots(engine=engine, now=NOW + dt.timedelta(minutes=1)) is None
        second = jobs.refresh_hotspots(engine=engine, now=NOW + dt.timedelta(minutes=15))
        assert second is not None and (second.created, second.updated) == (0, 1)
        assert second.hotspot_ids == first.hotspot_ids
        with transaction(engine, write=False) as db:
            assert db.scalar(select(Hotspot.size)) == 8
    finally:
        engine.dispose()


# --- a refresh and a decision at the same time ----------------------------------------------------------------


@pytest.fixture
def committed(fresh_database_url: str) -> Iterator[tuple[Engine, dict[str, int], Actor]]:
    """A database of its own with the two problems refreshed and committed: (engine, hotspot ids, a dispatcher)."""
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    try:
        with transaction(engine) as db:
            world = load_world(db)
            history = hotspot_cases.two_streets(db, world, NOW)
            dispatcher = person(db, world, Role.district_dispatcher, "CENTRE", None)
        assert jobs.refresh_hotspots(engine=engine, now=NOW) is not None
        with transaction(engine, write=False) as db:
            stored = _stored(db)
            ids = {key: stored[frozenset(c.id for c in history[key])].id for key in ("garbage", "stalls")}
        yield engine, ids, dispatcher
    finally:
        engine.dispose()


def _decided(engine: Engine) -> dict[int, tuple[Any, ...]]:
    """Returns every decided hotspot as it stands: status, members, title, details, case, refreshed_at."""
    with transaction(engine, write=False) as db:
        rows = db.scalars(select(Hotspot).where(Hotspot.status != HotspotStatus.open))
        return {
            r.id: (r.status, r.member_case_ids, r.title, r.details, r.case_id, r.refreshed_at, r.decided_by_user_id)
            for r in rows
        }


def _open_members(engine: Engine) -> set[int]:
    with transaction(engine, write=False) as db:
        return {
            i
            for h in db.scalars(select(Hotspot).where(Hotspot.status == HotspotStatus.open))
            for i in h.member_case_ids
        }


def test_a_hotspot_decided_between_the_read_and_the_store_of_a_refresh_survives_unchanged(committed) -> None:
    engine, ids, dispatcher = committed
    later = NOW + dt.timedelta(hours=1)
    with transaction(engine, write=False) as db:
        snapshot = triage_service.collect(db=db, start=later - dt.timedelta(days=30), end=later)
    found = triage_service.find(snapshot)
    assert len(found) == 2
    # Meanwhile (the refresh clusters outside any transaction) both hotspots are decided.
    with transaction(engine) as db:
        ctx = Context.of(dispatcher, now=later)
        case = triage_service.escalate(db=db, hotspot=triage_service.get(db=db, hotspot_id=ids["garbage"]), ctx=ctx)
        triage_service.dismiss(db=db, hotspot=triage_service.get(db=db, hotspot_id=ids["stalls"]), ctx=ctx, note="否")
        case_number = case.number
    before = _decided(engine)
    assert set(before) == set(ids.values())
    with transaction(engine) as db:
        summary = triage_service.store(db=db, snapshot=snapshot, found=found, now=later)
    assert (summary.already_decided, summary.updated, summary.created, summary.deleted) == (2, 0, 0, 0)
    assert _decided(engine) == before and _open_members(engine) == set()
    # Nor does the next refresh bring them back open, and neither can be decided again.
    again = jobs.refresh_hotspots(engine=engine, now=later + dt.timedelta(hours=1), min_age_s=0)
    assert again is not None and (again.already_decided, again.created) == (2, 0)
    assert _decided(engine) == before and _open_members(engine) == set()
    with transaction(engine) as db, pytest.raises(Conflict, match=f"already escalated|{case_number}"):
        triage_service.escalate(db=db, hotspot=triage_service.get(db=db, hotspot_id=ids["garbage"]), ctx=ctx)


def _try_to_dismiss(engine: Engine, hotspot_id: int, actor: Actor, note: str) -> str:
    """Dismisses the hotspot in a transaction of its own that gives up on a lock after 0.3 s: 'dismissed',
    'blocked' (another transaction holds the row, or SQLite's writer lock) or 'gone'."""
    try:
        with transaction(engine) as db:
            if engine.dialect.name == "postgresql":
                db.execute(sql("SET LOCAL lock_timeout = '300ms'"))
            row = triage_service.get(db=db, hotspot_id=hotspot_id, for_update=True)
            triage_service.dismiss(db=db, hotspot=row, ctx=Context.of(actor, now=NOW), note=note)
        return "dismissed"
    except OperationalError:
        return "blocked"
    except NotFoundError:
        return "gone"


def test_no_decision_commits_while_a_refresh_stores(committed, monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision tried between the store's read of the open hotspots and its writes waits for the store: it can
    neither be overwritten (the updated garbage hotspot) nor deleted (the stalls, no longer found) by it."""
    engine, ids, dispatcher = committed
    url = engine.url.render_as_string(hide_password=False)
    impatient = create_db_engine(url, Settings(env="test", database_url=url, sqlite_busy_timeout_ms=300))
    later = NOW + dt.timedelta(hours=1)
    with transaction(engine, write=False) as db:
        snapshot = triage_service.collect(db=db, start=later - dt.timedelta(days=30), end=later)
    with transaction(engine, write=False) as db:
        members = set(triage_service.get(db=db, hotspot_id=ids["garbage"]).member_case_ids)
    # The stalls are no longer found: the store will delete their open hotspot and update the garbage one.
    garbage = next(h for h in triage_service.find(snapshot) if set(h.member_ids) == members)
    tried: dict[str, str] = {}
    index = triage_service._index

    def decide_meanwhile(rows: list[Hotspot]) -> dict[int, list[int]]:
        # NOTE: called by store() right after it read the open hotspots, before it writes anything.
        if not tried:
            for key in ("garbage", "stalls"):
                tried[key] = _try_to_dismiss(impatient, ids[key], dispatcher, f"{key} 忽略")
        return index(rows)

    monkeypatch.setattr(triage_service, "_index", decide_meanwhile)
    try:
        with transaction(engine) as db:
            summary = triage_service.store(db=db, snapshot=snapshot, found=[garbage], now=later)
        assert tried == {"garbage": "blocked", "stalls": "blocked"}
        assert (summary.updated, summary.deleted, summary.created) == (1, 1, 0)
        # Once the store has committed: the garbage hotspot (updated, still open) can be dismissed, the stalls one
        # is gone (it was open and no longer found).
        assert _try_to_dismiss(impatient, ids["garbage"], dispatcher, "忽略") == "dismissed"
        assert _try_to_dismiss(impatient, ids["stalls"], dispatcher, "忽略") == "gone"
    finally:
        impatient.dispose()
    before = _decided(engine)
    assert list(before) == [ids["garbage"]] and before[ids["garbage"]][3]["decision"]["note"] == "忽略"
    again = jobs.refresh_hotspots(engine=engine, now=later + dt.timedelta(hours=1), min_age_s=0)
    assert again is not None and again.already_decided == 1
    assert _decided(engine) == before
    assert not _open_members(engine) & set(before[ids["garbage"]][1])  # not re-created open


def test_the_store_writes_only_hotspots_that_are_still_open(db: Session, world, history, monkeypatch) -> None:
    """Its updates and deletes re-check `status = open`: even a decision it did not see (here written behind the
    session's back right after the store read the open rows) is neither overwritten nor deleted."""
    triage_service.refresh(db=db, now=NOW)
    stored = _stored(db)
    garbage, stalls = (stored[frozenset(c.id for c in history[key])] for key in ("garbage", "stalls"))
    later = NOW + dt.timedelta(hours=1)
    snapshot = triage_service.collect(db=db, start=later - dt.timedelta(days=30), end=later)
    found = [h for h in triage_service.find(snapshot) if set(h.member_ids) == set(garbage.member_case_ids)]
    decision = {"decision": {"status": "dismissed", "note": "behind the store's back"}}
    index = triage_service._index

    def decide_meanwhile(rows: list[Hotspot]) -> dict[int, list[int]]:
        if rows and all(r.status == HotspotStatus.open for r in rows):  # the open rows, as the store read them
            db.execute(
                update(Hotspot)
                .where(Hotspot.id.in_([garbage.id, stalls.id]))
                .values(status=HotspotStatus.dismissed, details=decision)
                .execution_options(synchronize_session=False)
            )
        return index(rows)

    monkeypatch.setattr(triage_service, "_index", decide_meanwhile)
    summary = triage_service.store(db=db, snapshot=snapshot, found=found, now=later)
    assert (summary.updated, summary.deleted, summary.created, summary.already_decided) == (0, 0, 0, 1)
    db.expire_all()
    for row in (garbage, stalls):
        db.refresh(row)
        assert (row.status, row.details, row.refreshed_at) == (HotspotStatus.dismissed, decision, NOW)
