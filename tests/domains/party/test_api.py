"""The party API: who may read and write what (roles, areas, token scopes), errors with fields, files, audit."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.party import files
from tests.domains.auth.test_api import login, token_for
from tests.domains.party.world import W_N, W_S, PartyWorld

API = "/api/v1/party"


def session(client: TestClient, username: str) -> dict[str, str]:
    """Logs `username` in on the client (cookie) and returns the CSRF header for its writes."""
    client.cookies.clear()
    return {"X-CSRF-Token": login(client, username)}


@pytest.mark.parametrize(
    ("username", "read", "write"),
    [
        ("leader", 200, 403),
        ("dispatcher", 200, 403),
        ("street", 200, 201),
        ("secretary", 200, 201),
        ("gridworker", 403, 403),
        ("handler", 403, 403),
        ("auditor", 403, 403),
        ("admin", 403, 403),
    ],
)
def test_roles_read_and_write_as_the_permission_table_says(
    client: TestClient, world: PartyWorld, username: str, read: int, write: int
):
    headers = session(client, username)
    assert client.get(f"{API}/tree").status_code == read
    assert client.get(f"{API}/members").status_code == read
    assert client.get(f"{API}/summary", params={"period": "2026-11"}).status_code == read
    body = {"code": "W-N-G4", "name": "第四网格党支部", "level": "grid", "parent": "W-N", "areas": [f"{W_N}004"]}
    response = client.post(f"{API}/orgs", json=body, headers=headers)
    assert response.status_code == write, response.text
    if write == 403:
        denied = world.db.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).all()
        assert any(e.action == "party.manage" and e.actor_name == f"{username} 用户" for e in denied)


def test_anonymous_callers_get_401(client: TestClient, world: PartyWorld):
    assert client.get(f"{API}/tree").status_code == 401
    assert client.post(f"{API}/orgs", json={}).status_code == 401


def test_a_secretary_sees_and_edits_only_their_community(client: TestClient, world: PartyWorld):
    headers = session(client, "secretary")
    tree = client.get(f"{API}/tree").json()
    assert [n["code"] for n in tree] == ["W-N"]
    assert [c["code"] for c in tree[0]["children"]] == ["W-N-G1", "W-N-G2"]
    assert tree[0]["children"][0]["areas"] == [
        {"code": f"{W_N}001", "name": "经八路北社区第1网格", "level": "grid"},
        {"code": f"{W_N}002", "name": "经八路北社区第2网格", "level": "grid"},
    ]
    assert client.get(f"{API}/orgs/W-S").status_code == 404
    assert client.get(f"{API}/orgs/W-DGW").status_code == 404
    assert client.patch(f"{API}/orgs/W-S", json={"name": "x"}, headers=headers).status_code == 404
    response = client.post(
        f"{API}/orgs",
        json={"code": "W-S-G3", "name": "越权", "level": "grid", "parent": "W-N", "areas": [f"{W_S}003"]},
        headers=headers,
    )
    assert response.status_code == 422
    assert {"where": "body", "field": "areas", "message": response.json()["issues"][0]["message"]} in response.json()[
        "issues"
    ]
    assert "outside the areas of its parent W-N" in response.json()["issues"][0]["message"]
    assert response.json()["detail"] == "new organisation: nothing written"


def test_writes_are_audited_with_the_callers_address(client: TestClient, world: PartyWorld):
    headers = session(client, "secretary")
    response = client.post(
        f"{API}/activities",
        json={
            "community": W_N,
            "title": "楼道清扫",
            "held_on": "2026-11-20",
            "category": "环境整治",
            "organiser": "社区党委",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    activity_id = response.json()["id"]
    assert response.json()["category"] == "environment"
    member = client.post(
        f"{API}/members", json={"name": "党员甲", "org": "W-N-G1", "joined_on": "2001-07-01"}, headers=headers
    ).json()
    recorded = client.post(
        f"{API}/activities/{activity_id}/records", json={"member_id": member["id"], "hours": 1.5}, headers=headers
    )
    assert recorded.status_code == 201 and recorded.json()["hours"] == 1.5 and recorded.json()["verified_by"] is None
    verified = client.post(f"{API}/service-records/{recorded.json()['id']}/verify", headers=headers)
    assert verified.json()["verified_by"] == "secretary 用户"
    entries = world.db.scalars(
        select(AuditEntry).where(AuditEntry.action.like("party.%")).order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in entries][-4:] == [
        "party.activity.create",
        "party.member.create",
        "party.service.record",
        "party.service.verify",
    ]
    assert {e.source_address for e in entries[-4:]} == {"testclient"}


def test_bad_input_is_answered_with_the_field(client: TestClient, world: PartyWorld):
    headers = session(client, "street")
    activity_id = client.post(
        f"{API}/activities",
        json={"community": W_N, "title": "活动", "held_on": "2026-11-20", "category": "policy", "organiser": "党委"},
        headers=headers,
    ).json()["id"]
    member_id = client.post(
        f"{API}/members", json={"name": "党员乙", "org": "W-N-G1", "joined_on": "2001-07-01"}, headers=headers
    ).json()["id"]
    response = client.post(
        f"{API}/activities/{activity_id}/records", json={"member_id": member_id, "hours": -2}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["issues"] == [
        {"where": "body", "field": "hours", "message": "hours must be more than 0, got -2"}
    ]
    response = client.post(
        f"{API}/registrations",
        json={"kind": "organisation", "partner_org": "X", "community": "nowhere"},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.json()["issues"] == [
        {"where": "body", "field": "community", "message": "unknown community 'nowhere'"}
    ]
    assert client.get(f"{API}/summary", params={"period": "2026-13"}).status_code == 422
    assert client.get(f"{API}/activities/999999").status_code == 404
    response = client.post(
        f"{API}/registrations", json={"kind": "member", "member_id": member_id, "community": W_N}, headers=headers
    )
    assert response.status_code == 422 and "not in service" in response.json()["issues"][0]["message"]


def test_a_read_only_token_cannot_write(client: TestClient, world: PartyWorld):
    token = token_for(client, "street", "registers:read")
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/tree", headers=auth).status_code == 200
    response = client.post(f"{API}/orgs", json={"code": "X", "name": "x", "level": "street"}, headers=auth)
    assert response.status_code == 403 and "registers:write" in response.text


def test_the_tree_is_imported_and_exported_through_the_api(client: TestClient, world: PartyWorld):
    headers = session(client, "street")
    bad = (
        "orgs:\n"
        "  - {code: W-N-G4, name: 第四网格党支部, level: grid, parent: W-N, areas: [410105001001004]}\n"
        "  - {code: W-N-G5, name: 跳级, level: grid, parent: W-DGW}\n"
        "  - {code: W-N-G6, name: 无层级, parent: W-N}\n"
    )
    response = client.post(f"{API}/tree/import", files={"file": ("tree.yaml", bad.encode())}, headers=headers)
    assert response.status_code == 422
    issues = response.json()["issues"]
    assert issues == [{"where": "tree.yaml orgs item 3 (code W-N-G6)", "field": "level", "message": "required"}]
    fixed = bad.replace("  - {code: W-N-G6, name: 无层级, parent: W-N}\n", "")
    response = client.post(f"{API}/tree/import", files={"file": ("tree.yaml", fixed.encode())}, headers=headers)
    assert response.status_code == 422
    assert [(i["where"], i["field"]) for i in response.json()["issues"]] == [
        ("tree.yaml orgs item 2 (code W-N-G5)", "parent")
    ]
    good = fixed.replace("  - {code: W-N-G5, name: 跳级, level: grid, parent: W-DGW}\n", "")
    response = client.post(f"{API}/tree/import", files={"file": ("tree.yaml", good.encode())}, headers=headers)
    assert response.status_code == 200 and response.json() == {"created": ["W-N-G4"], "updated": [], "unchanged": []}

    exported = client.get(f"{API}/tree/export", params={"format": "xlsx"})
    assert exported.status_code == 200 and exported.headers["content-disposition"].endswith('"party-tree.xlsx"')
    workbook = load_workbook(io.BytesIO(exported.content), read_only=True)
    assert workbook.sheetnames == ["orgs", "说明"]
    rows = files.rows_from_xlsx(exported.content, source="party-tree.xlsx")
    assert [o.code for _, o in rows] == [
        "W-DGW",
        "W-N",
        "W-N-G1",
        "W-N-G1-B1",
        "W-N-G1-B1-H1",
        "W-N-G2",
        "W-N-G4",
        "W-S",
        "W-S-G1",
    ]
    assert rows[2][0] == "party-tree.xlsx sheet 'orgs' row 4 (code W-N-G1)"
    yaml_text = client.get(f"{API}/tree/export").text
    assert "code: W-N-G4" in yaml_text and "E-DGW" not in yaml_text


def test_summary_and_lists_through_the_api(client: TestClient, world: PartyWorld):
    headers = session(client, "street")
    assert (
        client.put(
            f"{API}/partner-orgs/SWJ", json={"code": "SWJ", "name": "区税务局机关党支部"}, headers=headers
        ).status_code
        == 201
    )
    assert (
        client.put(
            f"{API}/partner-orgs/SWJ", json={"code": "SWJ", "name": "区税务局党支部"}, headers=headers
        ).status_code
        == 200
    )
    registered = client.post(
        f"{API}/registrations",
        json={
            "kind": "organisation",
            "partner_org": "SWJ",
            "community": W_N,
            "registered_on": "2026-11-02",
            "pledges": [{"category": "政策宣讲", "item": "税收政策进社区"}],
        },
        headers=headers,
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["pledges"] == [{"category": "policy", "item": "税收政策进社区"}]
    activity_id = client.post(
        f"{API}/activities",
        json={
            "community": W_N,
            "title": "宣讲",
            "held_on": "2026-11-03",
            "category": "policy",
            "organiser": "区税务局",
        },
        headers=headers,
    ).json()["id"]
    client.post(
        f"{API}/activities/{activity_id}/records",
        json={"partner_org": "SWJ", "hours": 2, "verified": True},
        headers=headers,
    )
    summary = client.get(f"{API}/summary", params={"period": "2026-11", "community": W_N}).json()
    assert summary["communities"][0]["hours"] == 2.0 and summary["communities"][0]["reporting_orgs"] == 1
    assert summary["partner_orgs"] == [
        {"code": "SWJ", "name": "区税务局党支部", "hours": 2.0, "activities": 1, "communities": 1}
    ]
    page = client.get(f"{API}/registrations", params={"community": W_N}).json()
    assert page["total"] == 1 and page["items"][0]["partner_org"]["code"] == "SWJ"
    page = client.get(f"{API}/activities", params={"period": "2026-11"}).json()
    assert page["total"] == 1 and page["items"][0]["verified_hours"] == 2.0
    session(client, "street_e")
    assert client.get(f"{API}/registrations").json()["total"] == 0
    assert client.get(f"{API}/activities/{activity_id}").status_code == 404
