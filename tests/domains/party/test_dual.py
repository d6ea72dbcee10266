"""双报到, volunteer activities and service records: the rules, and the totals of a period computed by hand.

The clock stands at 2026-11-25 09:00 in Zhengzhou; the period is 2026-11.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from gridgov.config import get_settings
from gridgov.core.errors import Conflict, InputError, NotFoundError
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.party import dual, service
from gridgov.domains.party.enums import RegistrantKind, RegistrationStatus, ServiceCategory
from gridgov.domains.party.models import ServiceRecord
from gridgov.domains.party.schemas import (
    ActivityCreate,
    MemberCreate,
    PartnerOrgIn,
    PledgeIn,
    RegistrationCreate,
    RegistrationEnd,
    ServiceRecordCreate,
)
from tests.domains.party.world import E_N, W_N, W_S, PartyWorld

OP = service.OPERATOR
NOV = Period.parse("2026-11", get_settings().tz)


def fields(error: pytest.ExceptionInfo[InputError]) -> dict[str | None, str]:
    return {i.field: i.message for i in error.value.issues}


def new_member(world: PartyWorld, name: str, org: str, *, in_service: bool = True) -> int:
    data = MemberCreate(
        name=name,
        org=org,
        joined_on=dt.date(2005, 7, 1),
        in_service=in_service,
        employer="某单位" if in_service else None,
    )
    return service.create_member(db=world.db, actor=OP, data=data).id


def register(world: PartyWorld, actor: str | None = "street", **values: object) -> int:
    body = RegistrationCreate.model_validate(values)
    who = world.actor(actor) if actor else OP
    return dual.create_registration(db=world.db, actor=who, data=body).id


def activity(world: PartyWorld, community: str, held_on: str, title: str = "环境整治", actor: str = "street") -> int:
    body = ActivityCreate(community=community, title=title, held_on=held_on, category="环境整治", organiser="社区党委")
    return dual.create_activity(db=world.db, actor=world.actor(actor), data=body).id


def record(world: PartyWorld, activity_id: int, hours: float, *, verified: bool = True, actor: str = "street", **who):
    body = ServiceRecordCreate(hours=hours, verified=verified, **who)
    return dual.create_record(db=world.db, actor=world.actor(actor), activity_id=activity_id, data=body)


@dataclass
class Scenario:
    m1: int
    m2: int
    m3: int
    m5: int
    m6: int
    a1: int
    a2: int
    b1: int
    m3_record: int
    m1_registration: int


@pytest.fixture
def scenario(world: PartyWorld) -> Scenario:
    for code, name in (("SWJ", "区税务局机关党支部"), ("YY", "区人民医院党委")):
        service.save_partner_org(db=world.db, actor=OP, data=PartnerOrgIn(code=code, name=name))
    m1 = new_member(world, "党员一", "W-N-G1")
    m3 = new_member(world, "党员三", "W-N-G2", in_service=False)
    m5 = new_member(world, "党员五", "W-S-G1")
    r1 = register(
        world,
        kind="member",
        member_id=m1,
        community=W_N,
        registered_on="2026-10-01",
        pledges=[{"category": "policy", "item": "政策宣讲"}],
    )
    r2 = dual.create_registration(
        db=world.db,
        actor=world.actor("secretary"),
        data=RegistrationCreate(
            kind=RegistrantKind.member,
            community=W_N,
            registered_on=dt.date(2026, 11, 10),
            member=MemberCreate(
                name="党员二", partner_org="SWJ", joined_on="2012-07-01", in_service=True, employer="区税务局"
            ),
        ),
    )
    r6 = dual.create_registration(
        db=world.db,
        actor=world.actor("secretary"),
        data=RegistrationCreate(
            kind=RegistrantKind.member,
            community=W_N,
            registered_on=dt.date(2026, 11, 1),
            member=MemberCreate(
                name="党员六", partner_org="YY", joined_on="2015-07-01", in_service=True, employer="区人民医院"
            ),
            pledges=[PledgeIn(category=ServiceCategory.professional, item="义诊")],
        ),
    )
    r5 = register(world, kind="member", member_id=m5, community=W_S, registered_on="2026-09-01")
    dual.end_registration(
        db=world.db, actor=world.actor("street"), registration_id=r5, data=RegistrationEnd(ended_on="2026-10-15")
    )
    register(
        world,
        kind="organisation",
        partner_org="SWJ",
        community=W_N,
        registered_on="2026-06-01",
        pledges=[{"category": "环境整治", "item": "每月一次楼院清扫"}, {"category": "policy", "item": "税收政策宣讲"}],
    )
    register(
        world,
        kind="organisation",
        partner_org="YY",
        community=W_N,
        registered_on="2026-06-01",
        pledges=[{"category": "professional", "item": "健康讲座"}],
    )
    register(world, kind="organisation", partner_org="YY", community=W_S, registered_on="2026-06-01")

    a1, a2, a3 = (
        activity(world, W_N, "2026-11-05"),
        activity(world, W_N, "2026-11-20"),
        activity(world, W_N, "2026-10-28"),
    )
    b1 = activity(world, W_S, "2026-11-11")
    m2, m6 = r2.member_id, r6.member_id
    record(world, a1, 2.0, member_id=m1)
    record(world, a1, 1.5, member_id=m2)
    record(world, a1, 3, partner_org="SWJ")
    record(world, a2, 1.0, member_id=m1)
    m3_record = record(world, a2, 2.5, member_id=m3, verified=False).id
    record(world, a3, 4.0, member_id=m1)
    record(world, b1, 1.0, member_id=m5)
    record(world, b1, 2.0, partner_org="YY", verified=False)
    return Scenario(m1=m1, m2=m2, m3=m3, m5=m5, m6=m6, a1=a1, a2=a2, b1=b1, m3_record=m3_record, m1_registration=r1)


def test_the_totals_of_a_period_match_the_hand_count(world: PartyWorld, scenario: Scenario):
    s = scenario
    totals = dual.summarize(db=world.db, actor=world.actor("street"), period=NOV)
    assert (totals.first_day, totals.last_day) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    north, south = totals.communities
    # 经八北: a1 and a2 in November (a3 is October); verified 2 + 1.5 + 3 + 1 = 7.5 h, m3's 2.5 h unverified.
    assert north.model_dump() == {
        "code": W_N,
        "name": "经八路北社区",
        "activities": 2,
        "records": 5,
        "hours": 7.5,
        "unverified_hours": 2.5,
        "volunteers": 2,  # m1, m2
        "registered_members": 3,  # m1, m2, m6
        "reporting_members": 2,  # m1, m2 served there; m6 did not
        "reporting_rate": 0.6667,
        "registered_orgs": 2,  # SWJ, YY
        "reporting_orgs": 1,  # SWJ
        "pledges": 5,  # m1 1, m6 1, SWJ 2, YY 1
    }
    # 经八南: m5's registration ended in October; YY's 2 h are unverified.
    assert south.model_dump() == {
        "code": W_S,
        "name": "经八路南社区",
        "activities": 1,
        "records": 2,
        "hours": 1.0,
        "unverified_hours": 2.0,
        "volunteers": 1,
        "registered_members": 0,
        "reporting_members": 0,
        "reporting_rate": None,
        "registered_orgs": 1,
        "reporting_orgs": 0,
        "pledges": 0,
    }
    assert [(m.id, m.hours, m.activities) for m in totals.members] == [(s.m1, 3.0, 2), (s.m2, 1.5, 1), (s.m5, 1.0, 1)]
    assert [(p.code, p.hours, p.activities, p.communities) for p in totals.partner_orgs] == [
        ("SWJ", 3.0, 1, 1),
        ("YY", 0.0, 0, 2),
    ]
    october = dual.summarize(
        db=world.db, actor=world.actor("street"), period=Period.parse("2026-10", get_settings().tz)
    )
    north_oct = next(c for c in october.communities if c.code == W_N)
    assert (north_oct.activities, north_oct.hours, north_oct.registered_members, north_oct.reporting_members) == (
        1,
        4.0,
        1,
        1,
    )


def test_verifying_a_record_brings_its_hours_into_the_totals(world: PartyWorld, scenario: Scenario):
    dual.verify_record(db=world.db, actor=world.actor("secretary"), record_id=scenario.m3_record)
    north = dual.summarize(db=world.db, actor=world.actor("street"), period=NOV, community=W_N).communities[0]
    assert (north.hours, north.unverified_hours, north.volunteers) == (10.0, 0.0, 3)
    assert north.reporting_members == 2  # m3 served, but is not registered with the community (not 双报到)
    with pytest.raises(Conflict, match="was verified on 2026-11-25"):
        dual.verify_record(db=world.db, actor=world.actor("street"), record_id=scenario.m3_record)
    row = world.db.get(ServiceRecord, scenario.m3_record)
    assert row.verified_by_user_id == world.users["secretary"].id


def test_the_totals_stay_within_the_users_area(world: PartyWorld, scenario: Scenario):
    s = scenario
    mine = dual.summarize(db=world.db, actor=world.actor("secretary"), period=NOV)
    assert [c.code for c in mine.communities] == [W_N]
    assert [m.id for m in mine.members] == [s.m1, s.m2]  # m5 served in 经八南
    assert [(p.code, p.communities) for p in mine.partner_orgs] == [("SWJ", 1), ("YY", 1)]
    other = dual.summarize(db=world.db, actor=world.actor("street_e"), period=NOV)
    assert other.members == [] and other.partner_orgs == []
    # Every community of the street is listed, a quiet one with zeros.
    assert [(c.code, c.activities, c.hours, c.reporting_rate) for c in other.communities] == [
        (E_N, 0, 0.0, None),
        ("410105002002", 0, 0.0, None),
    ]


def test_ending_a_registration_keeps_it_in_the_period_but_drops_its_pledges(world: PartyWorld, scenario: Scenario):
    ended = dual.end_registration(
        db=world.db,
        actor=world.actor("secretary"),
        registration_id=scenario.m1_registration,
        data=RegistrationEnd(ended_on="2026-11-20", note="搬离本社区"),
    )
    assert (ended.status, ended.ended_on) == (RegistrationStatus.ended, dt.date(2026, 11, 20))
    north = dual.summarize(db=world.db, actor=world.actor("street"), period=NOV, community=W_N).communities[0]
    assert (north.registered_members, north.reporting_members, north.pledges) == (3, 2, 4)
    with pytest.raises(Conflict, match="ended on 2026-11-20"):
        dual.end_registration(
            db=world.db,
            actor=world.actor("secretary"),
            registration_id=scenario.m1_registration,
            data=RegistrationEnd(),
        )
    # Now the member may register with another community.
    register(world, kind="member", member_id=scenario.m1, community=W_S)


def test_registration_rules(world: PartyWorld, scenario: Scenario):
    s = scenario
    with pytest.raises(InputError) as error:
        register(world, kind="member", member_id=s.m3, community=W_N)
    assert fields(error) == {
        "member_id": f"member {s.m3} is not in service: 双报到 is for in-service members (在职党员)"
    }
    with pytest.raises(Conflict, match="is registered with 经八路北社区 since 2026-10-01"):
        register(world, kind="member", member_id=s.m1, community=W_S)
    with pytest.raises(Conflict, match="区税务局机关党支部 is already registered with 经八路北社区"):
        register(world, kind="organisation", partner_org="SWJ", community=W_N)
    with pytest.raises(InputError) as error:
        register(world, kind="organisation", partner_org="SWJ", community="999")
    assert fields(error) == {"community": "unknown community '999'"}
    with pytest.raises(InputError) as error:
        register(world, kind="organisation", partner_org="SWJ", community=f"{W_N}001")
    assert fields(error) == {"community": f"{W_N}001 (经八路北社区第1网格) is a grid, not a community"}
    with pytest.raises(InputError) as error:
        register(world, actor="secretary", kind="organisation", partner_org="SWJ", community=W_S)
    assert fields(error) == {"community": f"community {W_S} (经八路南社区) lies outside your area"}
    with pytest.raises(InputError) as error:
        register(world, kind="organisation", partner_org="NOPE", community=W_S)
    assert fields(error) == {"partner_org": "unknown partner organisation 'NOPE'"}
    with pytest.raises(InputError) as error:
        register(world, kind="member", community=W_S)
    assert fields(error) == {"member_id": "give the member: member_id, or member for a new one"}
    with pytest.raises(InputError) as error:
        register(world, kind="organisation", partner_org="YY", community=E_N, registered_on="2026-12-01", actor=None)
    assert fields(error) == {"registered_on": "registered_on 2026-12-01 is in the future"}
    with pytest.raises(InputError) as error:
        register(
            world,
            kind="organisation",
            partner_org="YY",
            community=E_N,
            actor=None,
            pledges=[{"category": "policy", "item": "宣讲"}, {"category": "policy", "item": "宣讲"}],
        )
    assert fields(error) == {"pledges": "the pledge '宣讲' is listed twice"}


def test_a_member_of_another_scope_is_refused_clearly(world: PartyWorld, scenario: Scenario):
    m4 = new_member(world, "党员四", "E-N")
    with pytest.raises(InputError) as error:
        register(world, actor="secretary", kind="member", member_id=m4, community=W_N)
    assert fields(error)["member_id"].startswith(f"party member {m4} belongs to a party organisation outside your area")
    with pytest.raises(InputError) as error:
        register(world, actor="secretary", kind="member", member_id=999_999, community=W_N)
    assert fields(error) == {"member_id": "party member 999999 does not exist"}
    with pytest.raises(InputError) as error:
        record(world, scenario.a2, 1.0, member_id=m4, actor="secretary")
    assert fields(error)["member_id"].startswith(f"party member {m4} is outside your area")
    # m5 (经八南) is not the 经八北 secretary's member either.
    with pytest.raises(InputError):
        record(world, scenario.a2, 1.0, member_id=scenario.m5, actor="secretary")


def test_service_record_rules(world: PartyWorld, scenario: Scenario):
    s = scenario
    for hours, message in (
        (-1, "hours must be more than 0, got -1"),
        (0, "hours must be more than 0, got 0"),
        (25, "at most 24 hours in one record, got 25"),
    ):
        with pytest.raises(InputError) as error:
            record(world, s.a2, hours, member_id=s.m2)
        assert fields(error) == {"hours": message}
    future = activity(world, W_N, "2026-12-05", title="元旦联欢")
    with pytest.raises(InputError) as error:
        record(world, future, 1.0, member_id=s.m2)
    assert fields(error) == {
        "activity_id": f"activity {future} is on 2026-12-05, in the future: record service after it took place"
    }
    with pytest.raises(Conflict, match=f"activity {s.a1} already has a service record"):
        record(world, s.a1, 1.0, member_id=s.m1)
    with pytest.raises(InputError) as error:
        record(world, s.a1, 1.0)
    assert fields(error) == {"member_id": "give the member_id or the partner_org who served, one of them"}
    with pytest.raises(NotFoundError):  # an activity of another community is not the secretary's
        record(world, s.b1, 1.0, member_id=s.m1, actor="secretary")
    kept = record(world, s.a2, 0.75, member_id=s.m2)
    assert round(kept.minutes) == 45 and dual.record_reads(db=world.db, rows=[kept])[0].hours == 0.75


def test_activities_are_listed_per_area_and_deleted_only_without_records(world: PartyWorld, scenario: Scenario):
    rows, total = dual.list_activities(db=world.db, actor=world.actor("secretary"), period=NOV)
    assert total == 2 and [r.id for r in rows] == [scenario.a2, scenario.a1]
    reads = dual.activity_reads(db=world.db, rows=rows)
    assert [(r.records, r.hours, r.verified_hours) for r in reads] == [(2, 3.5, 1.0), (3, 6.5, 6.5)]
    with pytest.raises(Conflict, match="has 2 service records"):
        dual.delete_activity(db=world.db, actor=world.actor("secretary"), activity_id=scenario.a2)
    with pytest.raises(NotFoundError):
        dual.get_activity(db=world.db, actor=world.actor("secretary"), activity_id=scenario.b1)
    spare = activity(world, W_N, "2026-11-24", title="多余")
    dual.delete_activity(db=world.db, actor=world.actor("secretary"), activity_id=spare)
    with pytest.raises(InputError) as error:
        activity(world, W_S, "2026-11-24", actor="secretary")
    assert fields(error) == {"community": f"community {W_S} (经八路南社区) lies outside your area"}


def test_registrations_are_listed_per_area_and_audited(world: PartyWorld, scenario: Scenario):
    rows, total = dual.list_registrations(db=world.db, actor=world.actor("secretary"))
    assert total == 5 and {r.community.code for r in rows} == {W_N}
    read = dual.registration_read(next(r for r in rows if r.partner_org and r.partner_org.code == "SWJ"))
    assert [(p.category, p.item) for p in read.pledges] == [
        (ServiceCategory.environment, "每月一次楼院清扫"),
        (ServiceCategory.policy, "税收政策宣讲"),
    ]
    rows, total = dual.list_registrations(db=world.db, actor=world.actor("street"), status=RegistrationStatus.ended)
    assert total == 1 and rows[0].member_id == scenario.m5
    dual.replace_pledges(
        db=world.db,
        actor=world.actor("secretary"),
        registration_id=read.id,
        pledges=[PledgeIn(category="safety", item="夜间巡逻")],
    )
    again = dual.get_registration(db=world.db, actor=world.actor("secretary"), registration_id=read.id)
    assert [(p.category, p.item) for p in again.pledges] == [(ServiceCategory.safety, "夜间巡逻")]
    actions = world.db.scalars(select(AuditEntry.action).where(AuditEntry.action.like("party.%"))).all()
    assert actions.count("party.registration.create") == 7
    assert actions.count("party.service.record") == 8 and "party.registration.pledges" in actions
    # The secretary's new partner-organisation members are visible to them through their registrations.
    visible = {m.id for m in service.list_members(db=world.db, actor=world.actor("secretary"))[0]}
    assert {scenario.m1, scenario.m2, scenario.m6} <= visible
