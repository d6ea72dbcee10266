"""Personnel change filings (人员变动报备): request → approve (never by the requester) → applied on the effective
date; a refused or withdrawn filing changes nothing; every step is in the filing's history and the audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from gridgov.domains.auth.models import AuditEntry
from gridgov.domains.staff import filings, service
from gridgov.domains.staff.enums import Employment, FilingStatus, Post
from gridgov.domains.staff.jobs import JOB_ACTOR
from gridgov.domains.staff.models import Assignment, Filing, StaffMember
from tests.domains.cases.conftest import T0
from tests.domains.staff.conftest import EG1, G1, G2, G3, TODAY, WN, Staff

FILINGS = "/api/v1/staff/filings"


def _assignments(staff: Staff) -> list[tuple]:
    rows = staff.db.scalars(select(Assignment).order_by(Assignment.id)).all()
    return [(r.member_id, r.area_id, r.post, r.employment, r.starts_on, r.ends_on) for r in rows]


def test_an_onboarding_is_requested_approved_and_takes_effect_on_its_date(api, staff: Staff, now):
    headers = staff.headers
    body = {
        "kind": "onboard",
        "to_area": G1,
        "post": "grid_worker",
        "person_name": "新网格员",
        "work_phone": "0371-6000 1234",
        "effective_on": "2026-12-01",
        "reason": "补足网格员",
    }
    asked = api.post(FILINGS, json=body, headers=headers["sec_wn"])
    assert asked.status_code == 201, asked.text
    filing = asked.json()
    assert (filing["status"], filing["person_name"], filing["to_area"]["code"]) == ("requested", "新网格员", G1)
    assert [e["action"] for e in filing["events"]] == ["requested"]
    assert filing["may_decide"] is False  # the secretary may not approve

    inbox = api.get(FILINGS, params={"to_decide": True}, headers=headers["street_w"]).json()
    assert [f["id"] for f in inbox["items"]] == [filing["id"]] and inbox["items"][0]["may_decide"] is True
    assert api.get(FILINGS, params={"to_decide": True}, headers=headers["street_e"]).json()["items"] == []

    approved = api.post(f"{FILINGS}/{filing['id']}/approve", json={"note": "同意"}, headers=headers["street_w"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["decision_note"] == "同意"
    # Approved, not yet in effect: the register has not changed, and the job leaves it until its date.
    assert staff.db.scalar(select(func.count()).select_from(StaffMember).where(StaffMember.name == "新网格员")) == 0
    assert filings.apply_due(db=staff.db, actor=JOB_ACTOR) == []

    now[0] = T0 + dt.timedelta(days=6)  # 2026-12-01 in Shanghai
    [applied] = filings.apply_due(db=staff.db, actor=JOB_ACTOR)
    assert applied.status == FilingStatus.applied
    new = staff.db.get(Assignment, applied.new_assignment_id)
    assert (new.member.name, new.member.work_phone, new.area.code, new.post, new.starts_on) == (
        "新网格员",
        "0371-6000 1234",
        G1,
        Post.grid_worker,
        dt.date(2026, 12, 1),
    )
    assert applied.member_id == new.member_id
    history = api.get(f"{FILINGS}/{filing['id']}", headers=headers["sec_wn"]).json()["events"]
    assert [(e["action"], e["actor_name"]) for e in history] == [
        ("requested", "sec_wn 测试"),
        ("approved", "street_w 测试"),
        ("applied", JOB_ACTOR.name),
    ]
    audited = staff.db.scalars(
        select(AuditEntry.action).where(AuditEntry.target_type == "staff_filing").order_by(AuditEntry.id)
    ).all()
    assert audited == ["filing.request", "filing.approve", "filing.apply"]
    assert filings.apply_due(db=staff.db, actor=JOB_ACTOR) == []  # idempotent


def test_a_filing_is_never_decided_by_its_requester(api, staff: Staff):
    worker = staff.hold(staff.person("周七"), G2, Post.grid_worker)
    headers = staff.headers
    body = {"kind": "leave", "assignment_id": worker.id, "effective_on": "2026-11-20", "reason": "辞职"}
    filing = api.post(FILINGS, json=body, headers=headers["street_w"]).json()  # a dispatcher files too
    own = api.post(f"{FILINGS}/{filing['id']}/approve", json={}, headers=headers["street_w"])
    assert own.status_code == 403 and own.json()["code"] == "own_filing"
    assert "someone else" in own.json()["message"]
    own_refusal = api.post(f"{FILINGS}/{filing['id']}/refuse", json={"note": "x"}, headers=headers["street_w"])
    assert own_refusal.status_code == 403 and own_refusal.json()["code"] == "own_filing"
    assert staff.db.get(Filing, filing["id"]).status == FilingStatus.requested
    attempts = staff.db.execute(
        select(AuditEntry.action, AuditEntry.outcome, AuditEntry.actor_name).where(
            AuditEntry.target_type == "staff_filing"
        )
    ).all()
    assert sorted(attempts) == [
        ("filing.approve", "denied", "street_w 测试"),  # the attempts are audited, the filing is unchanged
        ("filing.refuse", "denied", "street_w 测试"),
        ("filing.request", "ok", "street_w 测试"),
    ]
    assert api.get(f"{FILINGS}/{filing['id']}", headers=headers["street_w"]).json()["may_decide"] is False
    inbox = api.get(FILINGS, params={"to_decide": True}, headers=headers["street_w"]).json()
    assert inbox["items"] == []  # not in the requester's own inbox

    # Another approver of the street decides; the date has passed, so it is applied at approval.
    other = api.post(f"{FILINGS}/{filing['id']}/approve", json={}, headers=headers["street_w2"])
    assert other.status_code == 200 and other.json()["status"] == "applied"
    assert worker.ends_on == dt.date(2026, 11, 20) and "辞职" in worker.end_reason
    again = api.post(f"{FILINGS}/{filing['id']}/approve", json={}, headers=headers["district"])
    assert again.status_code == 409 and again.json()["code"] == "filing_decided"
    late_refusal = api.post(f"{FILINGS}/{filing['id']}/refuse", json={"note": "晚了"}, headers=headers["district"])
    assert late_refusal.status_code == 409


def test_a_refused_or_withdrawn_filing_changes_nothing(api, staff: Staff, now):
    worker = staff.hold(staff.person("吴八"), G1, Post.grid_worker)
    before = _assignments(staff)
    headers = staff.headers
    body = {
        "kind": "transfer",
        "assignment_id": worker.id,
        "to_area": G2,
        "effective_on": "2026-11-25",
        "reason": "调整",
    }
    filing = api.post(FILINGS, json=body, headers=headers["sec_wn"]).json()
    no_reason = api.post(f"{FILINGS}/{filing['id']}/refuse", json={}, headers=headers["street_w"])
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "note"
    refused = api.post(f"{FILINGS}/{filing['id']}/refuse", json={"note": "人员不足"}, headers=headers["street_w"])
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    now[0] = T0 + dt.timedelta(days=30)
    assert filings.apply_due(db=staff.db, actor=JOB_ACTOR) == []
    assert _assignments(staff) == before
    assert [e["action"] for e in refused.json()["events"]] == ["requested", "refused"]

    # The assignment is free again: a new filing, withdrawn by its requester, changes nothing either.
    body["effective_on"] = "2026-12-30"
    second = api.post(FILINGS, json=body, headers=headers["sec_wn"]).json()
    busy = api.post(FILINGS, json=body, headers=headers["sec_wn"])
    assert busy.status_code == 409 and busy.json()["code"] == "filing_pending"
    assert api.post(f"{FILINGS}/{second['id']}/withdraw", json={}, headers=headers["street_w"]).status_code == 403
    withdrawn = api.post(f"{FILINGS}/{second['id']}/withdraw", json={"note": "另行安排"}, headers=headers["sec_wn"])
    assert withdrawn.json()["status"] == "withdrawn"
    assert api.post(f"{FILINGS}/{second['id']}/approve", json={}, headers=headers["street_w"]).status_code == 409
    assert _assignments(staff) == before


def test_a_transfer_and_a_change_of_post_end_one_assignment_and_start_another(staff: Staff):
    db = staff.db
    member = staff.person("郑九")
    worker = staff.hold(member, G1, Post.grid_worker, Employment.part_time)
    secretary, street = staff.actor("sec_wn"), staff.actor("street_w")
    changed = filings.request(
        db=db,
        actor=secretary,
        data=filings.FilingCreate(
            kind="change_post", assignment_id=worker.id, employment="full_time", effective_on=TODAY, reason="转专职"
        ),
    )
    filings.approve(db=db, actor=street, filing=changed)
    assert changed.status == FilingStatus.applied and worker.ends_on == TODAY
    full_time = db.get(Assignment, changed.new_assignment_id)
    assert (full_time.area.code, full_time.post, full_time.employment) == (G1, Post.grid_worker, Employment.full_time)

    moved = filings.request(
        db=db,
        actor=secretary,
        data=filings.FilingCreate(
            kind="transfer", assignment_id=full_time.id, to_area=G3, effective_on=TODAY, reason="调往第3网格"
        ),
    )
    filings.approve(db=db, actor=street, filing=moved)
    current = service.current_assignments(db=db, member_ids=[member.id])
    assert [(a.area.code, a.post, a.employment) for a in current] == [(G3, Post.grid_worker, Employment.full_time)]
    history, _ = service.list_assignments(db=db, actor=staff.actor("leader"), member_id=member.id, history=True)
    assert len(history) == 3


def test_a_filing_that_no_longer_fits_the_register_fails_with_its_reason(staff: Staff, now):
    db = staff.db
    worker = staff.hold(staff.person("钱十"), G1, Post.grid_worker)
    secretary, street = staff.actor("sec_wn"), staff.actor("street_w")
    filing = filings.request(
        db=db,
        actor=secretary,
        data=filings.FilingCreate(kind="leave", assignment_id=worker.id, effective_on=dt.date(2026, 12, 5), reason="x"),
    )
    filings.approve(db=db, actor=street, filing=filing)
    # Meanwhile the operator ended the post another way.
    service.finish_assignment(db=db, actor=JOB_ACTOR, assignment=worker, ends_on=dt.date(2026, 12, 1), reason="y")
    now[0] = T0 + dt.timedelta(days=10)
    [failed] = filings.apply_due(db=db, actor=JOB_ACTOR)
    assert failed.status == FilingStatus.failed
    assert failed.events[-1].action == "failed" and "has ended already" in failed.events[-1].note
    assert worker.ends_on == dt.date(2026, 12, 1)


def test_filings_are_checked_and_kept_within_the_requesters_area(api, staff: Staff):
    headers = staff.headers
    west = staff.hold(staff.person("孙一"), G1, Post.grid_worker)
    east = staff.hold(staff.person("李二"), EG1, Post.grid_worker)
    leave = {"kind": "leave", "effective_on": "2026-12-01", "reason": "离职"}
    outside = api.post(FILINGS, json={**leave, "assignment_id": west.id}, headers=headers["sec_en"])
    assert outside.status_code == 422 and outside.json()["field"] == "assignment_id"
    onboard = {
        "kind": "onboard",
        "post": "grid_worker",
        "person_name": "甲",
        "effective_on": "2026-12-01",
        "reason": "r",
    }
    assert api.post(FILINGS, json={**onboard, "to_area": G1}, headers=headers["sec_en"]).status_code == 403
    street_post = api.post(
        FILINGS, json={**onboard, "to_area": "410105001", "post": "grid_leader"}, headers=headers["street_w"]
    )
    assert street_post.status_code == 422 and street_post.json()["code"] == "not_filed_level"
    wrong_level = api.post(FILINGS, json={**onboard, "to_area": WN}, headers=headers["sec_wn"])
    assert wrong_level.status_code == 422 and wrong_level.json()["code"] == "post_not_at_level"
    two_people = api.post(FILINGS, json={**onboard, "to_area": G1, "username": "gw_wn"}, headers=headers["sec_wn"])
    assert two_people.status_code == 422 and two_people.json()["field"] == "person_name"
    far = api.post(FILINGS, json={**onboard, "to_area": G1, "effective_on": "2028-01-01"}, headers=headers["sec_wn"])
    assert far.status_code == 422 and far.json()["field"] == "effective_on"
    mixed = api.post(FILINGS, json={**leave, "assignment_id": west.id, "person_name": "x"}, headers=headers["sec_wn"])
    assert mixed.status_code == 422  # a leave names the person through its assignment
    assert api.post(FILINGS, json={**leave, "assignment_id": west.id}, headers=headers["gw_wn"]).status_code == 403
    assert staff.db.scalar(select(func.count()).select_from(Filing)) == 0  # nothing was filed

    # A transfer across streets: filed by the west community, decided only by a centre above both streets.
    moved = {**leave, "kind": "transfer", "assignment_id": west.id, "to_area": EG1}
    across = api.post(FILINGS, json=moved, headers=headers["sec_wn"])
    assert across.status_code == 201, across.text
    across_id = across.json()["id"]
    for street in ("street_w", "street_e"):  # each sees it (one of its places is theirs), neither decides it
        assert api.get(f"{FILINGS}/{across_id}", headers=headers[street]).json()["may_decide"] is False
        refused = api.post(f"{FILINGS}/{across_id}/approve", json={}, headers=headers[street])
        assert refused.status_code == 403 and refused.json()["code"] == "out_of_area"
    decided = api.post(f"{FILINGS}/{across_id}/approve", json={}, headers=headers["district"])
    assert decided.json()["status"] == "approved"

    filing_id = api.post(FILINGS, json={**leave, "assignment_id": east.id}, headers=headers["sec_en"]).json()["id"]
    assert api.get(f"{FILINGS}/{filing_id}", headers=headers["street_w"]).status_code == 404
    assert api.post(f"{FILINGS}/{filing_id}/approve", json={}, headers=headers["street_w"]).status_code == 404
    west_list = [f["id"] for f in api.get(FILINGS, headers=headers["sec_wn"]).json()["items"]]
    assert west_list == [across_id]
