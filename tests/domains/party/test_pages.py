"""The party pages: each shows the user's area only, forms write through the audited commands, others get 403."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.party import dual, service
from gridgov.domains.party.models import Activity, ServiceRecord
from gridgov.domains.party.schemas import ActivityCreate, MemberCreate, RegistrationCreate
from tests.domains.auth.test_api import login
from tests.domains.party.world import E_N, W_N, W_S, PartyWorld

OP = service.OPERATOR


def as_user(client: TestClient, username: str) -> str:
    client.cookies.clear()
    return login(client, username)


def fill(world: PartyWorld) -> dict[str, int]:
    """Members, a registration and activities in three communities."""
    ids = {}
    for name, org in (("北党员", "W-N-G1"), ("南党员", "W-S-G1"), ("东党员", "E-N")):
        data = MemberCreate(name=name, org=org, joined_on="2001-07-01", in_service=True, employer="某单位")
        ids[name] = service.create_member(db=world.db, actor=OP, data=data).id
    dual.create_registration(
        db=world.db,
        actor=OP,
        data=RegistrationCreate(
            kind="member", member_id=ids["北党员"], community=W_N, pledges=[{"category": "policy", "item": "理论宣讲"}]
        ),
    )
    for community, title in ((W_N, "北社区清扫"), (W_S, "南社区义诊"), (E_N, "东社区宣讲")):
        data = ActivityCreate(
            community=community, title=title, held_on="2026-11-20", category="other", organiser="党委"
        )
        ids[title] = dual.create_activity(db=world.db, actor=OP, data=data).id
    return ids


def test_the_pages_show_the_secretarys_community_only(client: TestClient, world: PartyWorld):
    ids = fill(world)
    as_user(client, "secretary")
    tree = client.get("/party")
    assert tree.status_code == 200
    assert 'id="org-W-N"' in tree.text and 'id="org-W-N-G1-B1-H1"' in tree.text
    assert "经八南社区党支部" not in tree.text and "经八路街道党工委" not in tree.text
    assert 'href="/party"' in tree.text  # the menu link
    members = client.get("/party/members").text
    assert "北党员" in members and "南党员" not in members and "东党员" not in members
    registrations = client.get("/party/registrations").text
    assert "理论宣讲" in registrations and "北党员" in registrations
    activities = client.get("/party/activities", params={"period": "2026-11"}).text
    assert "北社区清扫" in activities and "南社区义诊" not in activities and "东社区宣讲" not in activities
    assert client.get(f"/party/activities/{ids['南社区义诊']}").status_code == 404
    summary = client.get("/party/summary", params={"period": "2026-11"}).text
    assert f'id="community-{W_N}"' in summary and f'id="community-{W_S}"' not in summary


def test_a_street_user_sees_the_whole_street(client: TestClient, world: PartyWorld):
    fill(world)
    as_user(client, "street")
    tree = client.get("/party").text
    assert "经八路街道党工委" in tree and "经八南社区党支部" in tree and "花园路街道党工委" not in tree
    members = client.get("/party/members").text
    assert "北党员" in members and "南党员" in members and "东党员" not in members


def test_the_pages_are_refused_to_roles_without_party_view(client: TestClient, world: PartyWorld):
    as_user(client, "gridworker")
    response = client.get("/party")
    assert response.status_code == 403
    assert 'href="/party"' not in client.get("/inbox").text
    client.cookies.clear()
    assert client.get("/party/members", follow_redirects=False).status_code == 303  # to the login page


def test_a_leader_reads_but_gets_no_forms(client: TestClient, world: PartyWorld):
    fill(world)
    as_user(client, "leader")
    page = client.get("/party/activities", params={"period": "2026-11"})
    assert page.status_code == 200 and 'id="new-activity"' not in page.text
    assert client.post("/party/activities", data={"csrf_token": "x"}).status_code == 403


def test_a_secretary_adds_an_activity_and_records_and_verifies_hours_in_the_console(
    client: TestClient, world: PartyWorld
):
    ids = fill(world)
    csrf = as_user(client, "secretary")
    form = {
        "csrf_token": csrf,
        "community": W_N,
        "title": "敬老院慰问",
        "held_on": "2026-11-24",
        "category": "elderly_children",
    }
    refused = client.post("/party/activities", data=form)  # no organiser
    assert refused.status_code == 422 and "organiser" in refused.text and 'value="敬老院慰问"' in refused.text
    outside = client.post("/party/activities", data={**form, "organiser": "党委", "community": W_S})
    assert outside.status_code == 422 and "lies outside your area" in outside.text

    created = client.post("/party/activities", data={**form, "organiser": "社区党委"}, follow_redirects=False)
    assert created.status_code == 303
    activity_id = int(re.search(r"/party/activities/(\d+)$", created.headers["location"]).group(1))
    page = client.get(f"/party/activities/{activity_id}")
    assert 'id="new-record"' in page.text and f'value="member:{ids["北党员"]}"' in page.text
    assert f'value="member:{ids["南党员"]}"' not in page.text  # not the secretary's member

    bad = client.post(
        f"/party/activities/{activity_id}/records",
        data={"csrf_token": csrf, "who": f"member:{ids['北党员']}", "hours": "-1"},
    )
    assert bad.status_code == 422 and "hours must be more than 0" in bad.text
    done = client.post(
        f"/party/activities/{activity_id}/records",
        data={"csrf_token": csrf, "who": f"member:{ids['北党员']}", "hours": "2.5"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    row = world.db.scalars(select(ServiceRecord).where(ServiceRecord.activity_id == activity_id)).one()
    assert (row.minutes, row.verified_at) == (150, None)
    verified = client.post(f"/party/service-records/{row.id}/verify", data={"csrf_token": csrf}, follow_redirects=False)
    assert verified.status_code == 303
    again = client.post(f"/party/service-records/{row.id}/verify", data={"csrf_token": csrf})
    assert again.status_code == 409 and "was verified on" in again.text
    assert world.db.get(Activity, activity_id).title == "敬老院慰问"
    actions = world.db.scalars(select(AuditEntry.action).where(AuditEntry.actor_name == "secretary 用户")).all()
    assert {"party.activity.create", "party.service.record", "party.service.verify"} <= set(actions)
    summary = client.get("/party/summary", params={"period": "2026-11"}).text
    assert "100.0%" in summary  # the one registered member served: 报到率 1/1
