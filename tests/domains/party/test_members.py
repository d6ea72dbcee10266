"""Members (党员) and the households 党员中心户 look after: rules, links listed per household, area scope."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gridgov.core.errors import Conflict, InputError, Invalid, NotFoundError
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.party import service
from gridgov.domains.party.enums import MemberStatus
from gridgov.domains.party.models import HouseholdLink, PartyMember
from gridgov.domains.party.schemas import MemberCreate, MemberUpdate, OrgIn, OrgUpdate, PartnerOrgIn
from gridgov.domains.people.models import Household, Resident
from tests.domains.party.world import PartyWorld

OP = service.OPERATOR


def member(**values: object) -> MemberCreate:
    return MemberCreate.model_validate({"name": "张建国", "joined_on": "2001-07-01", **values})


def fields(error: pytest.ExceptionInfo[InputError]) -> dict[str | None, str]:
    return {i.field: i.message for i in error.value.issues}


def test_a_member_is_added_to_an_organisation_of_the_users_area(world: PartyWorld):
    secretary = world.actor("secretary")
    row = service.create_member(
        db=world.db,
        actor=secretary,
        data=member(org="W-N-G1", status="probationary", in_service=True, employer="某某科技公司"),
    )
    read = service.member_read(row)
    assert (read.org.code, read.status, read.in_service, read.employer) == (
        "W-N-G1",
        MemberStatus.probationary,
        True,
        "某某科技公司",
    )
    assert service.org_reads(db=world.db, orgs=[service.get_org(db=world.db, actor=OP, code="W-N-G1")])[0].members == 1
    with pytest.raises(InputError) as error:
        service.create_member(db=world.db, actor=secretary, data=member(org="W-S-G1"))
    assert fields(error) == {"org": "organisation W-S-G1 lies outside your area"}


def test_member_rules_are_checked_with_the_field_named(world: PartyWorld, clock):
    with pytest.raises(InputError) as error:
        service.create_member(
            db=world.db, actor=OP, data=member(org="W-N-G1-B1-H1", in_service=True, joined_on="2030-01-01")
        )
    assert fields(error) == {
        "org": "W-N-G1-B1-H1 is a 党员中心户; a membership is held by a branch or group",
        "employer": "an in-service member (在职党员) needs the employer",
        "joined_on": "the joining date 2030-01-01 is in the future",
    }
    with pytest.raises(InputError) as error:
        service.create_member(db=world.db, actor=OP, data=member(org="NOPE"))
    assert fields(error) == {"org": "unknown party organisation 'NOPE'"}
    with pytest.raises(InputError) as error:
        service.create_member(db=world.db, actor=OP, data=member())
    assert fields(error) == {"org": "a member belongs to a party organisation: give org (or partner_org)"}


def test_a_partner_organisations_member_is_added_by_a_scoped_user_only_with_a_registration(world: PartyWorld):
    service.save_partner_org(db=world.db, actor=OP, data=PartnerOrgIn(code="SWJ", name="区税务局机关党支部"))
    with pytest.raises(Invalid, match="added with their registration"):
        service.create_member(
            db=world.db,
            actor=world.actor("secretary"),
            data=member(partner_org="SWJ", in_service=True, employer="区税务局"),
        )
    row = service.create_member(
        db=world.db, actor=OP, data=member(partner_org="SWJ", in_service=True, employer="区税务局")
    )
    assert row.partner_org.code == "SWJ" and row.org_id is None
    with pytest.raises(InputError) as error:
        service.create_member(db=world.db, actor=OP, data=member(partner_org="SWJ", employer="区税务局"))
    assert fields(error) == {"in_service": "a member of a unit's party organisation is in service (在职)"}


def test_a_member_links_to_a_resident_in_the_users_area_only_by_id(world: PartyWorld):
    resident_b1 = Resident(
        household_id=world.households["B1"][0], relation="head", name="居民甲", residence_type="registered"
    )
    resident_e = Resident(
        household_id=world.households["B6"][0], relation="head", name="居民乙", residence_type="registered"
    )
    world.db.add_all([resident_b1, resident_e])
    world.db.flush()
    secretary = world.actor("secretary")
    row = service.create_member(db=world.db, actor=secretary, data=member(org="W-N-G1", resident_id=resident_b1.id))
    assert row.resident_id == resident_b1.id
    with pytest.raises(InputError) as error:
        service.create_member(db=world.db, actor=OP, data=member(org="W-N-G1", resident_id=resident_b1.id))
    assert fields(error) == {"resident_id": f"resident {resident_b1.id} is already member {row.id}"}
    # Outside the secretary's community, or no such resident: the same answer, so ids cannot be probed.
    for resident_id in (resident_e.id, 999_999):
        with pytest.raises(InputError) as error:
            service.create_member(db=world.db, actor=secretary, data=member(org="W-N-G1", resident_id=resident_id))
        assert fields(error) == {"resident_id": f"resident {resident_id} not found in your area"}


def test_members_are_seen_within_the_users_area(world: PartyWorld):
    for name, org in (("甲", "W-N-G1"), ("乙", "W-N-G2"), ("丙", "W-S-G1"), ("丁", "E-N")):
        service.create_member(db=world.db, actor=OP, data=member(name=name, org=org))

    def names(user: str, **filters: object) -> list[str]:
        rows, total = service.list_members(db=world.db, actor=world.actor(user), **filters)
        assert total == len(rows)
        return [m.name for m in rows]

    assert names("leader") == ["丁", "丙", "乙", "甲"]  # by name (code point order)
    assert names("street") == ["丙", "乙", "甲"]
    assert names("secretary") == ["乙", "甲"]
    assert names("secretary_s") == ["丙"]
    assert names("street", org="W-N") == ["乙", "甲"]
    assert names("street", name="丙") == ["丙"]
    other = world.db.scalars(select(PartyMember).where(PartyMember.name == "丁")).one()
    with pytest.raises(NotFoundError):
        service.get_member(db=world.db, actor=world.actor("secretary"), member_id=other.id)


def test_a_member_moves_and_leaves_within_the_users_area(world: PartyWorld):
    secretary = world.actor("secretary")
    row = service.create_member(db=world.db, actor=secretary, data=member(org="W-N-G1"))
    service.update_member(db=world.db, actor=secretary, member_id=row.id, data=MemberUpdate(org="W-N-G2"))
    assert row.org.code == "W-N-G2"
    with pytest.raises(InputError) as error:
        service.update_member(db=world.db, actor=secretary, member_id=row.id, data=MemberUpdate(org="W-S-G1"))
    assert fields(error) == {"org": "organisation W-S-G1 lies outside your area"}
    with pytest.raises(InputError) as error:
        service.update_member(
            db=world.db, actor=secretary, member_id=row.id, data=MemberUpdate(left_on=dt.date(1999, 1, 1))
        )
    assert "left_on" in fields(error)
    service.update_member(db=world.db, actor=secretary, member_id=row.id, data=MemberUpdate(left_on="2026-11-01"))
    rows, _ = service.list_members(db=world.db, actor=secretary)
    assert rows == []  # left members are listed only on request
    rows, _ = service.list_members(db=world.db, actor=secretary, include_left=True)
    assert [m.id for m in rows] == [row.id]
    actions = world.db.scalars(
        select(AuditEntry.action).where(AuditEntry.target_type == "party_member", AuditEntry.target_id == str(row.id))
    ).all()
    assert actions == ["party.member.create", "party.member.update", "party.member.update"]


def test_a_party_household_is_formed_by_members_of_its_branch(world: PartyWorld):
    row = service.create_member(db=world.db, actor=OP, data=member(org="W-N-G1", household_org="W-N-G1-B1-H1"))
    assert row.household_org.code == "W-N-G1-B1-H1"
    with pytest.raises(InputError) as error:
        service.create_member(db=world.db, actor=OP, data=member(org="W-N-G2", household_org="W-N-G1-B1-H1"))
    assert fields(error) == {"household_org": "党员中心户 W-N-G1-B1-H1 is not under the member's organisation W-N-G2"}
    with pytest.raises(InputError) as error:
        service.create_member(db=world.db, actor=OP, data=member(org="W-N-G1", household_org="W-N-G1-B1"))
    assert fields(error) == {"household_org": "W-N-G1-B1 is not a 党员中心户 (level household)"}


def test_a_party_household_looks_after_households_nearby_listed_per_household(world: PartyWorld):
    street = world.actor("street")
    b1, b2, b3, b4 = (world.households[b] for b in ("B1", "B2", "B3", "B4"))
    service.update_org(db=world.db, actor=street, code="W-N-G1-B1-H1", data=OrgUpdate(household_id=b1[0]))
    links = service.link_households(db=world.db, actor=street, code="W-N-G1-B1-H1", household_ids=[b1[1], b1[2], b2[0]])
    assert [link.household_id for link in links] == sorted([b1[1], b1[2], b2[0]])
    # Linking again is harmless; the list is what the 党员中心户 looks after.
    again = service.link_households(db=world.db, actor=street, code="W-N-G1-B1-H1", household_ids=[b2[0]])
    assert len(again) == 3

    care = service.household_care(db=world.db, actor=street, household_id=b2[0])
    assert care.looked_after_by.code == "W-N-G1-B1-H1" and care.forms is None
    own = service.household_care(db=world.db, actor=street, household_id=b1[0])
    assert own.forms.code == "W-N-G1-B1-H1" and own.looked_after_by is None
    assert service.households_cared(db=world.db, actor=street, household_ids=[b1[1], b3[0]]) == {
        b1[1]: care.looked_after_by
    }
    # Outside the area of the one asking, nothing is shown.
    assert (
        service.household_care(db=world.db, actor=world.actor("street_e"), household_id=b2[0]).looked_after_by is None
    )

    with pytest.raises(InputError) as error:
        service.link_households(
            db=world.db, actor=street, code="W-N-G1-B1-H1", household_ids=[b4[0], 999_999, b1[0], b3[0], b3[0]]
        )
    messages = [i.message for i in error.value.issues]
    assert (
        f"household {b4[0]} lives outside 410105001001001, the area of W-N-G1-B1-H1: link households nearby" in messages
    )
    assert "household 999999 does not exist" in messages
    assert f"household {b1[0]} is the 党员中心户's own household" in messages
    assert f"household {b3[0]} is listed twice" in messages
    # B3 is in grid W001002, not the 党员中心户's grid W001001 — refused as well.
    assert any(f"household {b3[0]} lives outside 410105001001001" in m for m in messages)
    assert len(service.list_household_links(db=world.db, actor=street, code="W-N-G1-B1-H1")) == 3


def test_a_household_is_looked_after_by_one_party_household_and_at_most_ten_each(world: PartyWorld):
    street = world.actor("street")
    service.create_org(
        db=world.db,
        actor=street,
        data=OrgIn(code="W-N-G1-B1-H2", name="第二中心户", level="household", parent="W-N-G1-B1"),
    )
    b1 = world.households["B1"]
    service.link_households(db=world.db, actor=street, code="W-N-G1-B1-H1", household_ids=[b1[1]])
    with pytest.raises(InputError) as error:
        service.link_households(db=world.db, actor=street, code="W-N-G1-B1-H2", household_ids=[b1[1]])
    assert error.value.issues[0].message == f"household {b1[1]} is already looked after by W-N-G1-B1-H1"

    building = world.area(f"{world.area('410105001001001').code}00001")
    extra = []
    for n in range(10):
        extra.append(Household(building_id=building.id, area_path=building.path, room=f"9{n:02d}"))
    world.db.add_all(extra)
    world.db.flush()
    with pytest.raises(InputError) as error:
        service.link_households(db=world.db, actor=street, code="W-N-G1-B1-H1", household_ids=[h.id for h in extra])
    assert error.value.issues[-1].message == (
        "a 党员中心户 looks after at most 10 households; W-N-G1-B1-H1 has 1 and 10 would be added"
    )
    with pytest.raises(Invalid, match="only a 党员中心户 looks after households"):
        service.link_households(db=world.db, actor=street, code="W-N-G1", household_ids=[b1[2]])

    service.unlink_household(db=world.db, actor=street, code="W-N-G1-B1-H1", household_id=b1[1])
    assert world.db.scalar(select(HouseholdLink.id).where(HouseholdLink.household_id == b1[1])) is None
    with pytest.raises(NotFoundError):
        service.unlink_household(db=world.db, actor=street, code="W-N-G1-B1-H1", household_id=b1[1])
    # A secretary of another community cannot touch it.
    with pytest.raises(NotFoundError):
        service.link_households(
            db=world.db, actor=world.actor("secretary_s"), code="W-N-G1-B1-H1", household_ids=[b1[2]]
        )


def test_an_organisation_names_its_own_household_only_as_a_party_household_in_its_building(world: PartyWorld):
    with pytest.raises(InputError) as error:
        service.update_org(
            db=world.db, actor=OP, code="W-N-G1-B1-H1", data=OrgUpdate(household_id=world.households["B2"][0])
        )
    assert "is not in the building(s) this 党员中心户 covers" in error.value.issues[0].message
    with pytest.raises(InputError) as error:
        service.update_org(db=world.db, actor=OP, code="W-N-G1", data=OrgUpdate(household_id=world.households["B1"][0]))
    assert error.value.issues[0].message == "only a 党员中心户 (level household) names its own household"
    with pytest.raises(Conflict):
        service.create_org(db=world.db, actor=OP, data=OrgIn(code="W-N", name="x", level="community", parent="W-DGW"))
