"""Staff assignments (任职记录): history is kept, a grid's current staff and a person's grids, and who may change
what directly (street posts) or only through a filing (community and grid posts)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gridgov.core.errors import Conflict, Forbidden, Invalid
from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.auth.schemas import SYSTEM_ACTOR
from gridgov.domains.staff import service
from gridgov.domains.staff.enums import Employment, Post
from gridgov.domains.staff.models import Assignment
from tests.domains.staff.conftest import EN, G1, G2, TODAY, WN, Staff, W


def test_ending_an_assignment_keeps_it_as_history_and_the_grids_current_staff_follow(staff: Staff):
    db = staff.db
    zhang = staff.person("张三")
    first = staff.hold(zhang, G1, Post.grid_worker, starts_on=dt.date(2024, 3, 1))
    staff.hold(staff.person("李四"), G1, Post.grid_worker, Employment.part_time)
    service.finish_assignment(
        db=db, actor=SYSTEM_ACTOR, assignment=first, ends_on=dt.date(2026, 6, 1), reason="调往第2网格"
    )
    second = staff.hold(zhang, G2, Post.grid_worker, starts_on=dt.date(2026, 6, 1))

    assert db.scalar(select(Assignment.ends_on).where(Assignment.id == first.id)) == dt.date(2026, 6, 1)
    assert first.end_reason == "调往第2网格" and first.ended_at is not None
    # Nothing was deleted or overwritten: both rows are there, with their own dates.
    rows = db.scalars(select(Assignment).where(Assignment.member_id == zhang.id).order_by(Assignment.id)).all()
    assert [(r.area.code, r.starts_on, r.ends_on) for r in rows] == [
        (G1, dt.date(2024, 3, 1), dt.date(2026, 6, 1)),
        (G2, dt.date(2026, 6, 1), None),
    ]

    leader = staff.actor("leader")
    g1_today = service.area_staff(db=db, actor=leader, area=staff.area(G1))
    assert [a.member.name for a in g1_today.assignments] == ["李四"]
    g1_before = service.area_staff(db=db, actor=leader, area=staff.area(G1), on=dt.date(2026, 5, 31))
    assert sorted(a.member.name for a in g1_before.assignments) == ["张三", "李四"]
    # A worker's grids: today one, over time two.
    current, _ = service.list_assignments(db=db, actor=leader, member_id=zhang.id)
    assert [a.id for a in current] == [second.id]
    history, total = service.list_assignments(db=db, actor=leader, member_id=zhang.id, history=True)
    assert total == 2 and {a.id for a in history} == {first.id, second.id}

    with pytest.raises(Conflict, match="already ended"):
        service.finish_assignment(db=db, actor=SYSTEM_ACTOR, assignment=first, ends_on=TODAY, reason="again")
    with pytest.raises(Invalid, match="before the start"):
        service.finish_assignment(db=db, actor=SYSTEM_ACTOR, assignment=second, ends_on=dt.date(2026, 1, 1), reason="x")
    audited = db.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "staff_assignment")).all()
    assert audited.count("staff.assign") == 3 and audited.count("staff.assignment_end") == 1


def test_posts_are_held_at_their_level_and_not_twice(staff: Staff):
    wang = staff.person("王五")
    with pytest.raises(Invalid, match="grid_worker is held at 三级网格") as refused:
        staff.hold(wang, WN, Post.grid_worker)
    assert refused.value.details["field"] == "post"
    with pytest.raises(Invalid, match="district"):
        staff.hold(wang, "410105", Post.grid_leader)
    staff.hold(wang, G1, Post.grid_leader)
    with pytest.raises(Conflict) as twice:
        staff.hold(wang, G1, Post.grid_leader, starts_on=TODAY)
    assert twice.value.code == "already_assigned"
    assert staff.hold(wang, G2, Post.grid_leader).grid_level == 3  # another grid: fine


def test_users_change_street_posts_directly_and_community_and_grid_posts_only_by_filing(api, staff: Staff):
    street = staff.headers["street_w"]
    body = {"area": W, "post": "grid_leader", "name": "街道网格长甲", "work_phone": "0371-6000 0000"}
    created = api.post("/api/v1/staff/assignments", json=body, headers=street)
    assert created.status_code == 201, created.text
    read = created.json()
    assert (read["grid_level"], read["post"], read["counted"], read["member"]["work_phone"]) == (
        1,
        "grid_leader",
        False,  # a street post is not a community worker
        "0371-6000 0000",
    )
    filed = api.post("/api/v1/staff/assignments", json={**body, "area": G1, "post": "grid_worker"}, headers=street)
    assert filed.status_code == 409 and filed.json()["code"] == "filing_required"
    assert "/api/v1/staff/filings" in filed.json()["message"]
    other_street = api.post("/api/v1/staff/assignments", json={**body, "area": "410105002"}, headers=street)
    assert other_street.status_code == 403 and other_street.json()["code"] == "out_of_area"
    bad_phone = api.post("/api/v1/staff/assignments", json={**body, "work_phone": "call me"}, headers=street)
    assert bad_phone.status_code == 422 and bad_phone.json()["field"] == "work_phone"
    secretary = api.post("/api/v1/staff/assignments", json=body, headers=staff.headers["sec_wn"])
    assert secretary.status_code == 403 and secretary.json()["code"] == "out_of_area"  # the street is above WN
    worker = api.post("/api/v1/staff/assignments", json=body, headers=staff.headers["gw_wn"])
    assert worker.status_code == 403  # no staff.manage

    ended = api.post(f"/api/v1/staff/assignments/{read['id']}/end", json={"reason": "换届"}, headers=street)
    assert ended.status_code == 200 and ended.json()["ends_on"] == TODAY.isoformat()
    again = api.post(f"/api/v1/staff/assignments/{read['id']}/end", json={"reason": "x"}, headers=street)
    assert again.status_code == 409 and again.json()["code"] == "assignment_ended"

    grid_post = staff.hold(staff.person("赵六"), G1, Post.grid_worker)
    refused = api.post(f"/api/v1/staff/assignments/{grid_post.id}/end", json={"reason": "离职"}, headers=street)
    assert refused.status_code == 409 and refused.json()["code"] == "filing_required"
    assert grid_post.ends_on is None


def test_a_person_is_seen_with_their_grids_and_their_record_corrected_in_their_area(api, staff: Staff):
    zhao = staff.person("赵六")
    staff.hold(zhao, G1, Post.grid_worker)
    staff.hold(zhao, G2, Post.grid_leader, starts_on=dt.date(2023, 1, 1))
    detail = api.get(f"/api/v1/staff/members/{zhao.id}", headers=staff.headers["sec_wn"])
    assert detail.status_code == 200
    assert sorted(a["area"]["code"] for a in detail.json()["assignments"]) == [G1, G2]
    assert api.get(f"/api/v1/staff/members/{zhao.id}", headers=staff.headers["sec_en"]).status_code == 404
    fixed = api.patch(
        f"/api/v1/staff/members/{zhao.id}", json={"work_phone": "13800000000"}, headers=staff.headers["sec_wn"]
    )
    assert fixed.status_code == 200 and fixed.json()["work_phone"] == "13800000000"
    cleared = api.patch(f"/api/v1/staff/members/{zhao.id}", json={"work_phone": ""}, headers=staff.headers["sec_wn"])
    assert cleared.json()["work_phone"] is None
    outside = api.patch(f"/api/v1/staff/members/{zhao.id}", json={"name": "x"}, headers=staff.headers["sec_en"])
    assert outside.status_code == 404
    user_record = staff.person(user="gw_wn")
    staff.hold(user_record, G1, Post.grid_worker)
    renamed = api.patch(
        f"/api/v1/staff/members/{user_record.id}", json={"name": "别名"}, headers=staff.headers["sec_wn"]
    )
    assert renamed.status_code == 422 and renamed.json()["code"] == "name_of_user"
    area = api.get(f"/api/v1/staff/areas/{G1}", headers=staff.headers["sec_wn"]).json()
    assert sorted(a["member"]["name"] for a in area["assignments"]) == ["gw_wn 测试", "赵六"]


def test_a_street_post_needs_a_street(staff: Staff):
    with pytest.raises(Forbidden):
        service.assign(
            db=staff.db,
            actor=staff.actor("street_e"),
            area=staff.area(W),
            post=Post.grid_leader,
            name="甲",
        )
    with pytest.raises(Conflict, match="filing"):
        service.assign(
            db=staff.db, actor=staff.actor("district"), area=staff.area(EN), post=Post.community_worker, name="乙"
        )
