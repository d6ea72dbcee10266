"""The public API of citizen reports end to end: report → tracking → handling → closed → rating reopens."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.core.geo import from_wgs84
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import CaseStage, Channel, Reasonableness, Satisfaction
from gridgov.domains.cases.models import Case, CaseContact, MediaFile
from gridgov.domains.cases.service import Context
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import STREET_W, World, point
from tests.domains.snapshot.conftest import PHONE, Clock, tiny_png


def body(**changes: object) -> dict[str, object]:
    lng, lat = point()
    return {
        "matter_type": "SJ0102",
        "description": "公交站旁边有一堆生活垃圾，已经两天了",
        "lng": lng,
        "lat": lat,
        "phone": PHONE,
        **changes,
    }


def upload(client: TestClient, data: bytes, name: str = "photo.png", kind: str = "image/png"):
    return client.post("/api/v1/public/media", files={"file": (name, data, kind)})


def report(client: TestClient, key: str | None = None, **changes: object) -> dict[str, object]:
    headers = {"Idempotency-Key": key} if key else {}
    response = client.post("/api/v1/public/snapshots", json=body(**changes), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def drive_to_closed(world: World, db: Session, case: Case, at: Clock, step_minutes: float = 10) -> None:
    """Confirm on site → (auto-)dispatch → sign → start → finish with a photo → verify: closed."""
    ctx = lambda actor: Context.of(actor, now=at.advance(minutes=step_minutes))  # noqa: E731
    case_service.confirm(db=db, case=case, ctx=ctx(world.grid_worker), note="内部备注：摊主态度恶劣")
    if case.stage == CaseStage.registered:
        unit = world.unit(f"{STREET_W}-HWS")
        case_service.dispatch(db=db, case=case, unit=unit, co_units=[], ctx=ctx(world.street_dispatcher))
    assert case.stage == CaseStage.dispatched
    case_service.sign(db=db, case=case, ctx=ctx(world.sanitation))
    case_service.start(db=db, case=case, ctx=ctx(world.sanitation))
    evidence = db.scalars(select(MediaFile.sha256)).first()
    result = "垃圾已清运，现场已清扫"
    case_service.finish(db=db, case=case, ctx=ctx(world.sanitation), result=result, evidence=[evidence])
    case_service.verify(db=db, case=case, ctx=ctx(world.grid_worker), ok=True, note="核查通过")
    assert case.stage == CaseStage.closed
    db.flush()


def test_a_citizen_report_goes_round_the_loop_and_an_unsatisfied_rating_reopens_it(public, db, world, at):
    photo = upload(public, tiny_png())
    assert photo.status_code == 201, photo.text
    sha = photo.json()["sha256"]

    created = report(public, photos=[sha])
    code = created["tracking_code"]
    assert created["created"] is True
    assert created["status_url"].endswith(f"/s/track/{code}")
    assert created["api_url"].endswith(f"/api/v1/public/cases/{code}")

    case = db.scalars(select(Case).where(Case.tracking_code == code)).one()
    assert case.channel == Channel.snapshot and case.stage == CaseStage.verifying
    assert case.reporter_user_id is None and case.reporter_role == "citizen"
    assert case.idempotency_key is None
    assert case.title == "公交站旁边有一堆生活垃圾，已经两天了"
    assert [a.sha256 for a in case.attachments] == [sha]
    assert db.get(MediaFile, sha).filename is None  # a citizen's file name is not kept
    assert db.scalars(select(CaseContact.phone).where(CaseContact.case_id == case.id)).one() == PHONE

    status = public.get(f"/api/v1/public/cases/{code.lower()}").json()  # codes are read case-insensitively
    assert status["stage"] == "verifying" and status["stage_label"] == "现场核实中"
    assert [s["state"] for s in status["steps"]] == ["done", "current", "todo", "todo", "todo"]
    assert status["can_rate"] is False and status["reply"] is None
    assert [n["action"] for n in status["notes"]] == ["report"]

    early = public.post(f"/api/v1/public/cases/{code}/rating", json={"satisfaction": "satisfied"})
    assert early.status_code == 409 and early.json()["code"] == "not_closed"

    drive_to_closed(world, db, case, at)
    status = public.get(f"/api/v1/public/cases/{code}").json()
    assert status["stage"] == "closed" and status["is_open"] is False
    assert status["reply"] == "垃圾已清运，现场已清扫"
    assert status["agency"] == f"{STREET_W}环卫所"
    assert status["can_rate"] is True and status["expected_at"] is None
    assert all(s["state"] == "done" for s in status["steps"])
    assert [n["action"] for n in status["notes"]] == [
        "report",
        "confirm",
        "dispatch",
        "sign",
        "start",
        "finish",
        "verify",
    ]

    at.advance(hours=2)
    rated = public.post(
        f"/api/v1/public/cases/{code}/rating", json={"satisfaction": "unsatisfied", "comment": "还有残留"}
    )
    assert rated.status_code == 200, rated.text
    # The case is handled again and its reporter will rate the new result; the rating stays in the log.
    assert rated.json()["stage"] == "handling" and rated.json()["satisfaction"] is None
    assert case.stage == CaseStage.handling and case.rework_count == 1
    assert [n["action"] for n in rated.json()["notes"]][-2:] == ["rate", "reopen"]

    again = public.post(f"/api/v1/public/cases/{code}/rating", json={"satisfaction": "satisfied"})
    assert again.status_code == 409 and again.json()["code"] == "not_closed"
    assert case.satisfaction is None


def test_a_satisfied_rating_keeps_the_case_closed(public, db, world, at):
    code = report(public)["tracking_code"]
    case = db.scalars(select(Case).where(Case.tracking_code == code)).one()
    upload(public, tiny_png())
    drive_to_closed(world, db, case, at)
    rated = public.post(f"/api/v1/public/cases/{code}/rating", json={"satisfaction": "basically_satisfied"})
    assert rated.status_code == 200
    assert rated.json()["stage"] == "closed" and rated.json()["can_rate"] is False
    assert case.satisfaction == Satisfaction.basically_satisfied


def test_the_phone_never_appears_in_a_public_answer(public, db, world, at):
    code = report(public, phone="139-1234-5678")["tracking_code"]
    case = db.scalars(select(Case).where(Case.tracking_code == code)).one()
    assert case.contact.phone == PHONE  # normalised
    upload(public, tiny_png())
    drive_to_closed(world, db, case, at)
    answers = [
        public.get(f"/api/v1/public/cases/{code}"),
        public.get(f"/s/track/{code}"),
        public.post(f"/api/v1/public/cases/{code}/rating", json={"satisfaction": "satisfied"}),
        public.get(f"/s/track/{code}?lang=en"),
        public.get(f"/api/v1/public/cases/{code}?lang=en"),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        for secret in (PHONE, "139-1234-5678", "5678", "网格员甲", "环卫所处置员", "内部备注"):
            assert secret not in answer.text, (secret, answer.request.url)


def test_the_same_key_returns_the_same_code_and_a_different_report_under_it_is_refused(public, db):
    first = report(public, key="retry-key-0001")
    again = public.post("/api/v1/public/snapshots", json=body(), headers={"Idempotency-Key": "retry-key-0001"})
    assert again.status_code == 200, again.text
    assert again.json()["tracking_code"] == first["tracking_code"] and again.json()["created"] is False

    before = db.scalar(select(func.count()).select_from(Case))
    for changed in ({"description": "另一处的问题"}, {"matter_type": "SJ0501"}, {"lng": point(300, 880)[0]}):
        refused = public.post(
            "/api/v1/public/snapshots", json=body(**changed), headers={"Idempotency-Key": "retry-key-0001"}
        )
        assert refused.status_code == 409, changed
        assert refused.json()["code"] == "idempotency_key_reused"
        assert "different report" in refused.json()["message"]
    assert db.scalar(select(func.count()).select_from(Case)) == before
    stored = db.scalars(select(Case).where(Case.tracking_code == first["tracking_code"])).one()
    assert stored.idempotency_key == "snapshot:retry-key-0001"
    # The same point given in GCJ-02 (as a map app would) is the same report.
    x, y = from_wgs84(*point(), "gcj02")
    same = public.post(
        "/api/v1/public/snapshots",
        json=body(lng=float(x), lat=float(y), crs="gcj02"),
        headers={"Idempotency-Key": "retry-key-0001"},
    )
    assert same.status_code == 200 and same.json()["tracking_code"] == first["tracking_code"]


def test_a_key_of_another_channel_is_never_a_citizens(public, db, world, at):
    from gridgov.domains.intake import service as intake
    from gridgov.domains.intake.schemas import CaseSubmit

    lng, lat = point()
    worker_report = CaseSubmit(channel="patrol", matter_type="SJ0102", title="t", description="d", lng=lng, lat=lat)
    intake.submit(db=db, report=worker_report, ctx=Context.of(world.grid_worker), idempotency_key="snapshot:stolen-1")
    refused = public.post("/api/v1/public/snapshots", json=body(), headers={"Idempotency-Key": "stolen-1"})
    assert refused.status_code == 409 and refused.json()["code"] == "idempotency_key_reused"


def test_matter_types_are_grouped_with_other_last(public):
    groups = public.get("/api/v1/public/matter-types").json()
    assert [(g["name"], [c["code"] for c in g["choices"]]) for g in groups] == [
        ("市容环境", ["SJ0102"]),
        ("街面秩序", ["SJ0501"]),
        ("公用设施", ["BJ0101"]),
        ("其他事件", ["SJ0601"]),
    ]
    # A matter type outside the citizen list (the social ZZ0101) is refused.
    refused = public.post("/api/v1/public/snapshots", json=body(matter_type="ZZ0101"))
    assert refused.status_code == 422 and refused.json()["code"] == "unknown_matter_type"


def test_bad_reports_are_refused_and_write_nothing(public, db):
    before = db.scalar(select(func.count()).select_from(Case))
    outside = public.post("/api/v1/public/snapshots", json=body(lng=113.5, lat=34.5))
    assert outside.status_code == 422 and outside.json()["code"] == "outside_district"
    for broken, field in (
        ({"description": ""}, "description"),
        ({"description": "<b>x</b>"}, "description"),
        ({"lng": None}, "lng"),
        ({"phone": "call me"}, "phone"),
        ({"photos": ["not-a-hash"]}, "photos"),
        ({"crs": "utm"}, "crs"),
    ):
        response = public.post("/api/v1/public/snapshots", json=body(**broken))
        assert response.status_code == 422, broken
        assert field in json.dumps(response.json()["detail"]), response.text
    missing = {k: v for k, v in body().items() if k not in ("lng", "lat")}
    assert public.post("/api/v1/public/snapshots", json=missing).status_code == 422
    unknown = public.post("/api/v1/public/snapshots", json=body(photos=["a" * 64]))
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_attachment"
    # A photo uploaded by staff (a patrol's evidence) is not made public by naming its hash.
    staff = MediaFile(sha256="b" * 64, content_type="image/png", size=10, uploaded_by=7, created_at=T0)
    db.add(staff)
    db.flush()
    private = public.post("/api/v1/public/snapshots", json=body(photos=[staff.sha256]))
    assert private.status_code == 422 and private.json()["code"] == "unknown_attachment"
    bad_key = public.post("/api/v1/public/snapshots", json=body(), headers={"Idempotency-Key": "short"})
    assert bad_key.status_code == 422 and bad_key.json()["code"] == "invalid_idempotency_key"
    assert db.scalar(select(func.count()).select_from(Case)) == before


def test_uploads_must_be_photos_within_the_size_limit(public, db, public_settings):
    pdf = upload(public, b"%PDF-1.4\n...", name="scan.pdf", kind="application/pdf")
    assert pdf.status_code == 422 and pdf.json()["code"] == "not_a_photo"
    renamed = upload(public, b"MZ\x90\x00 an executable", name="photo.jpg", kind="image/jpeg")
    assert renamed.status_code == 422 and renamed.json()["code"] == "not_a_photo"
    big = upload(public, b"\x89PNG\r\n\x1a\n" + b"\x00" * public_settings.max_upload_bytes)
    assert big.status_code == 413 and big.json()["code"] == "too_large"
    assert db.scalar(select(func.count()).select_from(MediaFile)) == 0


def test_an_unknown_code_is_not_found(public):
    assert public.get("/api/v1/public/cases/0000000000").status_code == 404
    assert public.get("/api/v1/public/cases/not a code").status_code == 404
    rating = public.post("/api/v1/public/cases/0000000000/rating", json={"satisfaction": "satisfied"})
    assert rating.status_code == 404


def test_an_unreasonable_report_shows_the_ruling_reply(public, db, world, at):
    code = report(public, description="要求把邻居家的狗送走")["tracking_code"]
    case = db.scalars(select(Case).where(Case.tracking_code == code)).one()
    case_service.rule_reasonableness(
        db=db,
        case=case,
        ctx=Context.of(world.street_dispatcher, now=at.advance(minutes=30)),
        ruling=Reasonableness.unreasonable,
        reason_code="beyond_public_duty",
        note="内部：诉求人情绪激动",
    )
    db.flush()
    status = public.get(f"/api/v1/public/cases/{code}").json()
    assert status["reply"].startswith("感谢您的反映")
    assert "情绪激动" not in json.dumps(status, ensure_ascii=False)  # the internal note stays internal
    english = public.get(f"/api/v1/public/cases/{code}?lang=en").json()
    assert english["reply"].startswith("Thank you for your report. The request concerns a private matter")
    page = public.get(f"/s/track/{code}")
    assert "感谢您的反映" in page.text and "情绪激动" not in page.text


def test_a_merged_report_follows_the_case_it_joined_to_its_result(public, db, world, at):
    first = report(public, key="merge-first")["tracking_code"]
    second = report(public, key="merge-second", description="公交站边上垃圾堆了好几天没人管")["tracking_code"]
    parent = db.scalars(select(Case).where(Case.tracking_code == first)).one()
    child = db.scalars(select(Case).where(Case.tracking_code == second)).one()
    case_service.merge(db=db, case=child, parent=parent, ctx=Context.of(world.street_dispatcher, now=at.advance()))
    upload(public, tiny_png())
    drive_to_closed(world, db, parent, at)

    status = public.get(f"/api/v1/public/cases/{second}").json()
    assert status["number"] == child.number and status["stage"] == "closed"
    assert status["reply"] == "垃圾已清运，现场已清扫" and status["agency"] == f"{STREET_W}环卫所"
    assert [n["action"] for n in status["notes"]] == [
        "report",
        "merge",
        "confirm",
        "dispatch",
        "sign",
        "start",
        "finish",
        "verify",
    ]
    assert status["can_rate"] is False  # the rating is the parent reporter's; the merged reporter sees the result


def test_a_merged_reporter_never_sees_the_parent_reporters_rating(public, db, world, at):
    first = report(public, key="rated-first")["tracking_code"]
    second = report(public, key="rated-second", description="公交站边上垃圾堆了好几天没人管")["tracking_code"]
    parent = db.scalars(select(Case).where(Case.tracking_code == first)).one()
    child = db.scalars(select(Case).where(Case.tracking_code == second)).one()
    case_service.merge(db=db, case=child, parent=parent, ctx=Context.of(world.street_dispatcher, now=at.advance()))
    upload(public, tiny_png())
    drive_to_closed(world, db, parent, at)
    at.advance(hours=1)
    rated = public.post(f"/api/v1/public/cases/{first}/rating", json={"satisfaction": "unsatisfied", "comment": "差"})
    assert rated.status_code == 200
    status = public.get(f"/api/v1/public/cases/{second}").json()
    actions = [n["action"] for n in status["notes"]]
    assert "rate" not in actions and "reopen" not in actions
    assert status["stage"] == "handling"  # the problem is being handled again; the child's reporter sees that
