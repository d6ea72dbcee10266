"""Defects found in the second review of the party register (issue 8): ids and paging values too large for the
database's integer answered with a 500 instead of a clear 422 or 404."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gridgov.core.errors import NotFoundError
from gridgov.domains.party import dual, service
from gridgov.domains.party.schemas import ServiceRecordCreate
from tests.domains.party.test_api import API, session
from tests.domains.party.test_pages import as_user
from tests.domains.party.world import PartyWorld

HUGE = 10**20


def test_huge_ids_and_offsets_in_the_api_are_refused_with_422(client: TestClient, world: PartyWorld):
    headers = session(client, "secretary")
    reads = [
        f"{API}/members/{HUGE}",
        f"{API}/registrations/{HUGE}",
        f"{API}/activities/{HUGE}",
        f"{API}/activities/{HUGE}/records",
        f"{API}/households/{HUGE}",
    ]
    for path in reads:
        assert client.get(path).status_code == 422, path
    for path, params in (
        (f"{API}/members", {"offset": HUGE}),
        (f"{API}/registrations", {"offset": HUGE}),
        (f"{API}/registrations", {"member_id": HUGE}),
        (f"{API}/activities", {"offset": HUGE}),
    ):
        assert client.get(path, params=params).status_code == 422, (path, params)
    writes = [
        ("post", f"{API}/service-records/{HUGE}/verify"),
        ("delete", f"{API}/service-records/{HUGE}"),
        ("delete", f"{API}/activities/{HUGE}"),
        ("delete", f"{API}/orgs/W-N-G1-B1-H1/households/{HUGE}"),
    ]
    for method, path in writes:
        assert client.request(method, path, headers=headers).status_code == 422, path
    linked = client.post(f"{API}/orgs/W-N-G1-B1-H1/households", json={"household_ids": [HUGE]}, headers=headers)
    assert linked.status_code == 422, linked.text


def test_the_services_answer_a_huge_id_like_a_missing_one(world: PartyWorld):
    actor = world.actor("secretary")
    for call in (
        lambda: service.get_member(db=world.db, actor=actor, member_id=HUGE),
        lambda: dual.get_registration(db=world.db, actor=actor, registration_id=HUGE),
        lambda: dual.get_activity(db=world.db, actor=actor, activity_id=HUGE),
        lambda: dual.verify_record(db=world.db, actor=actor, record_id=HUGE),
        lambda: dual.create_record(
            db=world.db, actor=actor, activity_id=HUGE, data=ServiceRecordCreate(member_id=1, hours=1.0)
        ),
        lambda: service.unlink_household(db=world.db, actor=actor, code="W-N-G1-B1-H1", household_id=HUGE),
    ):
        with pytest.raises(NotFoundError):
            call()
    care = service.household_care(db=world.db, actor=actor, household_id=HUGE)
    assert care.looked_after_by is None and care.forms is None
    with pytest.raises(Exception) as refused:
        service.link_households(db=world.db, actor=actor, code="W-N-G1-B1-H1", household_ids=[HUGE])
    assert "does not exist" in str(getattr(refused.value, "issues", refused.value))


def test_a_huge_offset_in_a_page_is_clamped(client: TestClient, world: PartyWorld):
    as_user(client, "secretary")
    for path in ("/party/members", "/party/registrations", "/party/activities"):
        response = client.get(path, params={"offset": str(HUGE)})
        assert response.status_code == 200, path
    assert client.get(f"/party/activities/{HUGE}").status_code in (404, 422)
