"""Scope isolation: every list and lookup of the register is limited to the caller's area; roles without
staff.view are refused."""

from __future__ import annotations

from gridgov.domains.staff.enums import Post
from tests.domains.staff.conftest import EG1, EN, G1, Staff


def test_each_user_sees_the_staff_of_their_own_area_only(api, staff: Staff):
    west, east = staff.person("孙一"), staff.person("李二")
    staff.hold(west, G1, Post.grid_worker)
    staff.hold(east, EG1, Post.grid_worker)
    staff.hold(staff.person("街道网格长"), "410105001", Post.grid_leader)

    def names(who: str, **params) -> list[str]:
        response = api.get("/api/v1/staff/assignments", params=params, headers=staff.headers[who])
        assert response.status_code == 200, response.text
        return sorted(a["member"]["name"] for a in response.json()["items"])

    assert names("sec_wn") == ["孙一"]
    assert names("sec_en") == ["李二"]
    assert names("street_w") == ["孙一", "街道网格长"]
    assert names("leader") == ["孙一", "李二", "街道网格长"]
    assert names("leader", area=EN) == ["李二"]
    assert api.get("/api/v1/staff/assignments", params={"area": G1}, headers=staff.headers["sec_en"]).status_code == 404

    members = api.get("/api/v1/staff/members", headers=staff.headers["sec_en"]).json()
    assert [m["name"] for m in members["items"]] == ["李二"] and members["total"] == 1
    assert api.get("/api/v1/staff/members", params={"q": "孙"}, headers=staff.headers["leader"]).json()["total"] == 1
    assert api.get(f"/api/v1/staff/members/{west.id}", headers=staff.headers["sec_en"]).status_code == 404
    assert api.get(f"/api/v1/staff/areas/{G1}", headers=staff.headers["sec_en"]).status_code == 404
    # 李二, and the gw_en account not yet in the register
    assert api.get(f"/api/v1/staff/areas/{EG1}", headers=staff.headers["sec_en"]).json()["community_workers"] == 2
    assert api.get("/api/v1/staff/members/99999999999", headers=staff.headers["leader"]).status_code == 422

    for path in ("/api/v1/staff/assignments", "/api/v1/staff/members", "/api/v1/staff/filings"):
        assert api.get(path, headers=staff.headers["gw_wn"]).status_code == 403
        assert api.get(path, headers=staff.headers["admin"]).status_code == 403
