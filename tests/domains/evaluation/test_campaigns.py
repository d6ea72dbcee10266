"""Special supervision campaigns (专项督查): validation, tagging by scope, tagging by hand, closing, the job.

The campaign of these tests: 暴露垃圾 (SJ0102) in the west street 410105001, reported from Monday 2026-11-23 00:00
to Saturday 2026-11-28 00:00 (Shanghai), with a closure-rate target.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov import migrations
from gridgov.core.db import create_db_engine, transaction
from gridgov.core.errors import Conflict, InputError, Invalid, NotFoundError
from gridgov.core.permissions import PermissionDenied
from gridgov.domains.areas import locate
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.enums import Channel
from gridgov.domains.evaluation import campaigns, jobs
from gridgov.domains.evaluation.enums import CampaignStatus
from gridgov.domains.evaluation.models import Campaign, CampaignCase
from gridgov.domains.evaluation.schemas import CampaignCreate, CampaignUpdate
from tests.domains.cases.world import STREET_W, World, load_world
from tests.domains.evaluation.campaign_world import EAST, local, manager, report, user

CODE = "zdjy-2026-11"


def data(**changes: Any) -> CampaignCreate:
    values: dict[str, Any] = {
        "code": CODE,
        "name": "暴露垃圾专项整治",
        "matter_type_codes": ["SJ0102"],
        "area_codes": [STREET_W],
        "starts_at": local(23, 0),
        "ends_at": local(28, 0),
        "targets": {"closure_rate": 0.9},
    }
    return CampaignCreate(**{**values, **changes})


@pytest.fixture
def boss(db: Session, world: World) -> Actor:
    """The district dispatcher (区值班长), a real user: campaigns name their author."""
    return manager(db, world)


@pytest.fixture
def clerk(db: Session, world: World) -> Actor:
    """The west street's dispatcher, a real user: sees the street's campaigns, may not manage them."""
    return user(db, world, "street_w", Role.street_dispatcher, f"{STREET_W}-CYZX", STREET_W)


def tagged(db: Session, campaign: Campaign) -> set[int]:
    return set(campaigns.case_ids(db=db, campaign=campaign))


# --- validation -------------------------------------------------------------------------------------------------


def test_a_campaign_with_unknown_codes_an_empty_period_or_a_bad_target_is_refused_naming_each(
    db, world: World, boss: Actor
):
    bad = data(
        matter_type_codes=["SJ0102", "XX9999"],
        area_codes=[STREET_W, "410199"],
        starts_at=local(28, 0),
        ends_at=local(23, 0),
        targets={"closure_rate": 95, "no_such_rate": 0.5},
    )
    with pytest.raises(InputError) as refused:
        campaigns.create(db=db, data=bad, actor=boss)
    issues = {(issue.field, issue.message) for issue in refused.value.issues}
    assert ("matter_type_codes", "unknown matter type 'XX9999'") in issues
    assert ("area_codes", "unknown area code '410199'") in issues
    assert ("targets", "unknown indicator code 'no_such_rate' in targets") in issues
    assert any(f == "ends_at" and "must be after starts_at" in m for f, m in issues)
    assert any(f == "targets" and "closure_rate is a rate" in m and "0.95" in m for f, m in issues)
    assert len(issues) == 5
    assert all(issue.where == f"campaign {CODE}" for issue in refused.value.issues)
    assert db.scalar(select(func.count()).select_from(Campaign)) == 0  # nothing written


def test_a_campaign_ending_when_it_starts_is_refused(db, world: World, boss: Actor):
    with pytest.raises(InputError, match="must be after starts_at"):
        campaigns.create(db=db, data=data(ends_at=local(23, 0)), actor=boss)


def test_a_taken_code_is_a_conflict_and_a_street_dispatcher_may_not_create(db, world: World, boss: Actor, clerk: Actor):
    campaigns.create(db=db, data=data(), actor=boss)
    with pytest.raises(Conflict, match="exists already"):
        campaigns.create(db=db, data=data(name="again"), actor=boss)
    with pytest.raises(PermissionDenied):
        campaigns.create(db=db, data=data(code="other"), actor=clerk)


def test_naive_times_are_district_time(db, world: World, boss: Actor):
    made = campaigns.create(
        db=db,
        data=data(starts_at=dt.datetime(2026, 11, 23), ends_at=dt.datetime(2026, 11, 28)),
        actor=boss,
    )
    assert made.starts_at == local(23, 0) and made.ends_at == local(28, 0)


# --- tagging by scope -------------------------------------------------------------------------------------------


def test_creation_tags_the_cases_in_scope_by_type_area_and_date(db, world: World, boss: Actor):
    inside = report(db, world, at=local(24, 9))
    first_moment = report(db, world, at=local(23, 0))
    other_type = report(db, world, at=local(24, 9), matter="SJ0501", title="占道经营")
    other_area = report(db, world, at=local(24, 9), where=EAST)
    before = report(db, world, at=local(22, 23, 59))
    at_end = report(db, world, at=local(28, 0))
    campaign = campaigns.create(db=db, data=data(), actor=boss)
    assert tagged(db, campaign) == {inside.id, first_moment.id}
    assert {other_type.id, other_area.id, before.id, at_end.id}.isdisjoint(tagged(db, campaign))
    rows = list(db.scalars(select(CampaignCase).where(CampaignCase.campaign_id == campaign.id)))
    assert all(row.tagged_by_user_id is None for row in rows)  # by the scope, not by hand


def test_tagging_is_idempotent_and_picks_up_new_cases(db, world: World, boss: Actor):
    report(db, world, at=local(24, 9))
    campaign = campaigns.create(db=db, data=data(), actor=boss)
    assert len(tagged(db, campaign)) == 1
    assert campaigns.tag_by_scope(db=db, campaign=campaign) == 0
    later = report(db, world, at=local(25, 10))
    assert campaigns.tag_by_scope(db=db, campaign=campaign) == 1
    assert campaigns.tag_by_scope(db=db, campaign=campaign) == 0
    assert later.id in tagged(db, campaign)
    assert db.scalar(select(func.count()).select_from(CampaignCase)) == 2


def test_no_matter_types_and_no_areas_mean_every_type_in_the_whole_district(db, world: World, boss: Actor):
    cases = [
        report(db, world, at=local(24, 9)),
        report(db, world, at=local(24, 9), matter="SJ0501", title="占道经营"),
        report(db, world, at=local(24, 9), where=EAST),
    ]
    campaign = campaigns.create(db=db, data=data(matter_type_codes=[], area_codes=[]), actor=boss)
    assert tagged(db, campaign) == {c.id for c in cases}


def test_a_scope_change_retags_and_keeps_the_cases_tagged_by_hand(db, world: World, boss: Actor):
    garbage = report(db, world, at=local(24, 9))
    stalls = report(db, world, at=local(24, 9), matter="SJ0501", title="占道经营")
    east = report(db, world, at=local(24, 9), where=EAST)
    campaign = campaigns.create(db=db, data=data(), actor=boss)
    assert campaigns.tag(db=db, campaign=campaign, case_id=east.id, actor=boss)
    campaigns.update(
        db=db,
        campaign=campaign,
        data=CampaignUpdate(matter_type_codes=["SJ0501"]),
        actor=boss,
    )
    assert tagged(db, campaign) == {stalls.id, east.id}  # garbage left the scope; the hand-tagged case stays
    assert garbage.id not in tagged(db, campaign)
    with pytest.raises(InputError, match="unknown matter type 'NOPE'"):
        campaigns.update(db=db, campaign=campaign, data=CampaignUpdate(matter_type_codes=["NOPE"]), actor=boss)
    assert campaign.matter_type_codes == ["SJ0501"]


def test_closing_stops_tagging_and_freezes_the_campaign(db, world: World, boss: Actor):
    report(db, world, at=local(24, 9))
    campaign = campaigns.create(db=db, data=data(), actor=boss)
    campaigns.close(db=db, campaign=campaign, actor=boss, now=local(26, 9))
    assert campaign.status == CampaignStatus.closed
    late = report(db, world, at=local(25, 10))
    assert campaigns.tag_by_scope(db=db, campaign=campaign) == 0
    assert late.id not in tagged(db, campaign)
    with pytest.raises(Conflict, match="closed"):
        campaigns.tag(db=db, campaign=campaign, case_id=late.id, actor=boss)
    with pytest.raises(Conflict, match="closed"):
        campaigns.update(db=db, campaign=campaign, data=CampaignUpdate(name="x"), actor=boss)
    with pytest.raises(Conflict, match="closed"):
        campaigns.close(db=db, campaign=campaign, actor=boss)


# --- tagging by hand --------------------------------------------------------------------------------------------


def test_tagging_by_hand_needs_campaign_manage_and_a_case_the_user_may_see(db, world: World, boss: Actor, clerk: Actor):
    east = report(db, world, at=local(24, 9), where=EAST)
    campaign = campaigns.create(db=db, data=data(), actor=boss)
    with pytest.raises(PermissionDenied):
        campaigns.tag(db=db, campaign=campaign, case_id=east.id, actor=clerk)
    # NOTE: a district dispatcher whose scope were the west street (no real account has such a scope).
    west_only = dataclasses.replace(boss, scope_path=world.area(STREET_W).path)
    with pytest.raises(NotFoundError, match=f"case {east.id} not found"):
        campaigns.tag(db=db, campaign=campaign, case_id=east.id, actor=west_only)
    with pytest.raises(NotFoundError):
        campaigns.tag(db=db, campaign=campaign, case_id=east.id + 1000, actor=boss)
    assert east.id not in tagged(db, campaign)

    assert campaigns.tag(db=db, campaign=campaign, case_id=east.id, actor=boss) is True
    assert campaigns.tag(db=db, campaign=campaign, case_id=east.id, actor=boss) is False
    row = db.get(CampaignCase, (campaign.id, east.id))
    assert row is not None and row.tagged_by_user_id == boss.user_id


def test_untagging_takes_out_a_hand_tagged_case_but_not_one_in_scope(db, world: World, boss: Actor, clerk: Actor):
    inside = report(db, world, at=local(24, 9))
    east = report(db, world, at=local(24, 9), where=EAST)
    campaign = campaigns.create(db=db, data=data(), actor=boss)
    campaigns.tag(db=db, campaign=campaign, case_id=east.id, actor=boss)
    with pytest.raises(Invalid, match="within the scope"):
        campaigns.untag(db=db, campaign=campaign, case_id=inside.id, actor=boss)
    with pytest.raises(PermissionDenied):
        campaigns.untag(db=db, campaign=campaign, case_id=east.id, actor=clerk)
    campaigns.untag(db=db, campaign=campaign, case_id=east.id, actor=boss)
    assert tagged(db, campaign) == {inside.id}
    with pytest.raises(NotFoundError, match="is not in campaign"):
        campaigns.untag(db=db, campaign=campaign, case_id=east.id, actor=boss)


# --- the job ----------------------------------------------------------------------------------------------------


def test_the_job_tags_new_cases_of_active_campaigns_only(fresh_database_url: str, settings):
    migrations.upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url, settings)
    locate.invalidate()
    try:
        with transaction(engine) as db:
            world = load_world(db)
            boss = manager(db, world)
            report(db, world, at=local(24, 9))
            campaigns.create(db=db, data=data(), actor=boss)
            campaigns.create(db=db, data=data(code="closed-one"), actor=boss)
            closed = campaigns.get_by_code(db=db, code="closed-one")
            campaigns.close(db=db, campaign=closed, actor=boss)
        with transaction(engine) as db:
            world = World(db=db)
            report(db, world, at=local(25, 10))
            report(db, world, at=local(25, 11), matter="SJ0501", title="占道经营")
            report(db, world, at=local(25, 11), channel=Channel.patrol, where=EAST)
        assert jobs.tag_campaigns(engine=engine) == {CODE: 1}
        assert jobs.tag_campaigns(engine=engine) == {CODE: 0}  # idempotent
        with transaction(engine, write=False) as db:
            ids = [campaigns.get_by_code(db=db, code=c).id for c in (CODE, "closed-one")]
            assert campaigns.case_counts(db=db, campaign_ids=ids) == {ids[0]: 2, ids[1]: 1}
    finally:
        locate.invalidate()
        engine.dispose()
