"""Duplicate suggestions: the score, the text model, candidates at intake and for a queued case, and merging.

Everything runs on the synthetic world of the case tests (16 grids of 250 m; the default point (120, 880) lies in
grid 410105001001001 of community 410105001001) with texts written here, so no test depends on the demo corpus.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.domains.areas import locate
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import CaseStage, Channel
from gridgov.domains.cases.models import Case
from gridgov.domains.intake import service as intake
from gridgov.domains.intake.schemas import CaseSubmit
from gridgov.domains.triage import duplicates
from gridgov.domains.triage.duplicates import Place, TextModel
from tests.domains.cases.conftest import T0
from tests.domains.cases.test_api import CITIZEN, STREET_DISPATCHER
from tests.domains.cases.test_flow import ctx, photo
from tests.domains.cases.world import World, point

R, T = 50.0, 72.0
GARBAGE = "花园小区东门垃圾桶旁边堆了一大堆生活垃圾，好几天没人清运，臭气熏天"
GARBAGE_AGAIN = "花园小区东门的垃圾桶旁边一大堆生活垃圾没人清运，很臭"
GARBAGE_ELSEWHERE = "路边绿化带里有人扔了几袋建筑垃圾"
NOISE = "楼上邻居天天晚上装修，电钻声吵得老人孩子睡不着"
VENDOR = "人行道上有人摆摊卖水果，行人只能走机动车道"


def submit(
    world: World,
    db: Session,
    text: str,
    *,
    matter: str = "SJ0102",
    at: tuple[float, float] | None = None,
    area_code: str | None = None,
    minutes: float = 0,
    channel: Channel = Channel.patrol,
) -> intake.IntakeResult:
    """Submits a report of `text` (its first 20 characters as title) at a point, or naming only an area."""
    lng, lat = (None, None) if area_code else (at or point())
    report = CaseSubmit(
        channel=channel,
        matter_type=matter,
        title=text[:20],
        description=text,
        lng=lng,
        lat=lat,
        area_code=area_code,
    )
    actor = {Channel.snapshot: world.citizen, Channel.hotline: world.district_dispatcher}.get(
        channel, world.grid_worker
    )
    return intake.submit(db=db, report=report, ctx=ctx(actor, minutes))


def numbers(result: intake.IntakeResult) -> list[str]:
    return [d.number for d in result.duplicates]


# --- the score ------------------------------------------------------------------------------------------------


def test_score_weighs_text_proximity_recency_and_matter_type():
    # 0.4·0.5 + 0.2·(1 − 10/50) + 0.1·(1 − 36/72) + 0.3
    value = duplicates.score(
        text_similarity=0.5, distance_m=10, hours_apart=36, same_matter=True, radius_m=R, window_hours=T
    )
    assert value == pytest.approx(0.2 + 0.16 + 0.05 + 0.3)
    identical_here_now = duplicates.score(
        text_similarity=1, distance_m=0, hours_apart=0, same_matter=True, radius_m=R, window_hours=T
    )
    assert identical_here_now == 1.0
    other_type = duplicates.score(
        text_similarity=0.5, distance_m=10, hours_apart=36, same_matter=False, radius_m=R, window_hours=T
    )
    assert other_type == pytest.approx(value - 0.3)


def test_beyond_the_radius_or_window_or_without_a_shared_area_is_never_a_candidate():
    def of(**kwargs) -> float:
        pair = {"text_similarity": 1.0, "distance_m": 0.0, "hours_apart": 0.0, "same_matter": True}
        return duplicates.score(**{**pair, **kwargs}, radius_m=R, window_hours=T)

    assert of(distance_m=50.1) == of(hours_apart=72.5) == of(hours_apart=-73) == 0.0
    assert of(distance_m=None) == 0.0  # no coordinates and no shared area
    # Without coordinates, the shared area stands for the distance: a grid as R/2, a community as 3R/4.
    assert of(distance_m=None, place=Place.grid) == of(distance_m=25.0)
    assert of(distance_m=None, place=Place.community) == of(distance_m=37.5)
    assert of(hours_apart=-10) == of(hours_apart=10)  # either may be the earlier


# --- text similarity ------------------------------------------------------------------------------------------


REFERENCE = [GARBAGE_ELSEWHERE, NOISE, VENDOR, "小区门口的井盖松了", "路灯不亮了好几天", "垃圾桶满了没人清理"]


def test_text_model_scores_rewordings_of_one_problem_above_other_problems():
    model = TextModel.fit(REFERENCE)
    same = duplicates.similarity(model.vector(GARBAGE), model.vector(GARBAGE_AGAIN))
    other_garbage = duplicates.similarity(model.vector(GARBAGE), model.vector(GARBAGE_ELSEWHERE))
    unrelated = duplicates.similarity(model.vector(GARBAGE), model.vector(NOISE))
    assert duplicates.similarity(model.vector(GARBAGE), model.vector(GARBAGE)) == 1.0
    assert same > 0.5 > other_garbage > unrelated
    assert unrelated < 0.1


def test_a_term_the_reference_never_saw_weighs_most():
    model = TextModel.fit(REFERENCE)
    assert model.char_idf["垃"] < model.unseen_idf  # seen in two reference texts
    vector = model.vector("垃圾 翠竹")  # 垃圾: in two reference texts; 翠竹: in none
    assert vector.chars["翠竹"] > vector.chars["垃圾"] > 0


def test_without_a_reference_corpus_the_texts_compared_are_the_corpus(monkeypatch):
    monkeypatch.setattr(duplicates, "_reference", [None])
    assert duplicates.reference_model() is None
    assert duplicates.text_similarity(GARBAGE, GARBAGE) == 1.0
    assert duplicates.text_similarity(GARBAGE, GARBAGE_AGAIN) > 0.4 > duplicates.text_similarity(GARBAGE, NOISE)


def test_a_hotline_title_repeating_the_description_is_not_counted_twice():
    # (cleaned: NFKC turns the full-width comma into ",")
    assert duplicates.compose_text("小区门口垃圾没人清运", "小区门口垃圾没人清运，已经三天了") == (
        "小区门口垃圾没人清运,已经三天了"
    )
    assert duplicates.compose_text("长文本的开头…", "长文本的开头和后面") == "长文本的开头和后面"
    assert duplicates.compose_text("路边垃圾", "一堆生活垃圾") == "路边垃圾 一堆生活垃圾"


# --- candidates at intake -------------------------------------------------------------------------------------


def test_a_second_report_of_one_problem_is_suggested_even_under_another_matter_type(world, db):
    first = submit(world, db, GARBAGE).case
    again = submit(world, db, GARBAGE_AGAIN, at=point(135, 880), minutes=60)  # 15 m away, an hour later
    [hint] = again.duplicates
    assert hint.case_id == first.id and hint.score >= get_settings().duplicate_min_score
    assert hint.distance_m == pytest.approx(15, abs=0.5)
    # A citizen who picked 占道经营 for the same pile: the text carries it.
    misfiled = submit(world, db, GARBAGE_AGAIN, matter="SJ0501", at=point(125, 885), minutes=90)
    assert first.number in numbers(misfiled)
    found = duplicates.suggest_for_case(db=db, case=misfiled.case)
    mine = next(c for c in found if c.case.id == first.id)
    assert not mine.same_matter and mine.text_similarity > 0.5 and mine.place == Place.distance
    assert mine.score == pytest.approx(
        duplicates.score(
            text_similarity=mine.text_similarity,
            distance_m=mine.distance_m,
            hours_apart=1.5,
            same_matter=False,
            radius_m=R,
            window_hours=T,
        ),
        abs=1e-3,
    )


def test_far_old_finished_and_unrelated_reports_are_not_suggested(world, db):
    first = submit(world, db, GARBAGE)
    assert first.duplicates == []
    far = submit(world, db, GARBAGE_AGAIN, at=point(200, 880), minutes=30)  # 80 m away
    assert first.case.number not in numbers(far)
    later = submit(world, db, GARBAGE_AGAIN, at=point(121, 880), minutes=73 * 60)  # beyond the 72 h window
    assert first.case.number not in numbers(later)
    # Another problem at the same spot, the same hour: another matter type and nothing in common in the text.
    noise = submit(world, db, NOISE, matter="ZZ0101", minutes=10)
    assert noise.duplicates == []
    # The same matter type at the edge of the radius a day later: only a similar text would make it a duplicate.
    edge = point(120, 880 + 45)
    assert first.case.number not in numbers(submit(world, db, GARBAGE_ELSEWHERE, at=edge, minutes=30 * 60))
    assert first.case.number in numbers(submit(world, db, GARBAGE_AGAIN, at=edge, minutes=30 * 60 + 1))


def test_closed_rejected_and_merged_cases_are_not_candidates(world, db):
    spot = point(300, 300)  # in the south-west community, away from the other reports
    closed = submit(world, db, GARBAGE, at=spot).case
    case_service.sign(db=db, case=closed, ctx=ctx(world.sanitation, 5))
    case_service.finish(db=db, case=closed, ctx=ctx(world.sanitation, 30), result="已清运", evidence=[photo(db)])
    case_service.verify(db=db, case=closed, ctx=ctx(world.grid_worker, 40), ok=True)
    rejected = submit(world, db, GARBAGE, at=spot, channel=Channel.snapshot, minutes=1).case
    case_service.reject(db=db, case=rejected, ctx=ctx(world.street_dispatcher, 2), reason_code="not_a_problem")
    parent = submit(world, db, GARBAGE, at=spot, channel=Channel.snapshot, minutes=3).case
    child = submit(world, db, GARBAGE, at=spot, channel=Channel.snapshot, minutes=4).case
    case_service.merge(db=db, case=child, parent=parent, ctx=ctx(world.street_dispatcher, 5))
    assert [c.stage for c in (closed, rejected, child)] == [CaseStage.closed, CaseStage.rejected, CaseStage.merged]

    latest = submit(world, db, GARBAGE_AGAIN, at=spot, minutes=50)
    assert numbers(latest) == [parent.number]


def test_the_best_candidates_come_first_and_at_most_the_limit(world, db):
    spots = [point(120 + 5 * i, 880) for i in range(7)]
    made = [submit(world, db, GARBAGE, at=spot, minutes=i).case for i, spot in enumerate(spots)]
    newest = submit(world, db, GARBAGE, minutes=10)
    assert len(newest.duplicates) == 5
    scores = [d.score for d in newest.duplicates]
    assert scores == sorted(scores, reverse=True)
    assert newest.duplicates[0].case_id == made[0].id  # the same spot: the nearest wins


# --- reports without coordinates (hotline) ------------------------------------------------------------------------


def test_a_report_placed_by_its_grid_pairs_with_reports_of_that_grid(world, db):
    located = submit(world, db, GARBAGE, at=point(200, 800)).case  # grid 001, 150 m from its centre
    by_grid = submit(world, db, GARBAGE_AGAIN, area_code="410105001001001", minutes=30)
    assert by_grid.case.grid_id == located.grid_id
    [hint] = by_grid.duplicates
    assert hint.case_id == located.id and hint.distance_m is None
    [candidate] = duplicates.suggest_for_case(db=db, case=by_grid.case)
    assert candidate.place == Place.grid and candidate.case.id == located.id
    # A located report 250 m away in the same grid finds the grid-placed one, not the other located one.
    corner = submit(world, db, GARBAGE_AGAIN, at=point(20, 990), minutes=40)
    assert numbers(corner) == [by_grid.case.number]


def test_a_hotline_order_placed_at_an_area_point_is_recognised_by_its_coordinates(world, db):
    community = world.area("410105001001")
    lng, lat = locate.point_in_area(db=db, area_id=community.id)  # what the hotline sends for an area code
    located = submit(world, db, GARBAGE, at=point(400, 600)).case  # grid 004 of the same community
    hotline = submit(world, db, GARBAGE_AGAIN, at=(lng, lat), channel=Channel.hotline, minutes=20)
    [hint] = hotline.duplicates
    assert hint.case_id == located.id and hint.distance_m is None
    [candidate] = duplicates.suggest_for_case(db=db, case=hotline.case)
    assert candidate.place == Place.community
    where = duplicates.placed_by_area(db=db, cases=[hotline.case, located])
    assert not where[hotline.case.id].located and where[hotline.case.id].grid_id is None
    assert where[located.id].located


def test_reports_without_coordinates_in_other_communities_or_placed_by_street_are_not_paired(world, db):
    submit(world, db, GARBAGE, area_code="410105001001")  # community north-west
    other_community = submit(world, db, GARBAGE, area_code="410105001002", minutes=5)
    assert other_community.duplicates == []
    by_street = submit(world, db, GARBAGE, area_code="410105001", minutes=10)  # too coarse to compare
    assert by_street.duplicates == []


# --- for a queued case, and merging -----------------------------------------------------------------------------


def test_a_queued_case_finds_earlier_and_later_reports_but_not_itself_or_its_merged_children(world, db):
    spot = point(120, 120)
    earlier = submit(world, db, GARBAGE, at=spot, channel=Channel.snapshot).case
    queued = submit(world, db, GARBAGE_AGAIN, at=spot, channel=Channel.snapshot, minutes=60).case
    later = submit(world, db, GARBAGE_AGAIN, at=spot, channel=Channel.snapshot, minutes=120).case
    assert {c.case.id for c in duplicates.suggest_for_case(db=db, case=queued)} == {earlier.id, later.id}
    case_service.merge(db=db, case=later, parent=queued, ctx=ctx(world.street_dispatcher, 130))
    assert [c.case.id for c in duplicates.suggest_for_case(db=db, case=queued)] == [earlier.id]
    assert all(c.hours_apart <= T for c in duplicates.suggest_for_case(db=db, case=earlier))


def test_intake_answers_with_scores_and_a_suggestion_merges_into_its_parent(api, db):
    def create(headers, text: str, at: tuple[float, float]) -> dict:
        lng, lat = at
        body = {"channel": "snapshot", "matter_type": "SJ0102", "title": text[:20], "description": text}
        response = api.post("/api/v1/cases", json={**body, "lng": lng, "lat": lat}, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    first = create(CITIZEN, GARBAGE, point())
    assert first["duplicates"] == []
    second = create(CITIZEN, GARBAGE_AGAIN, point(130, 880))
    [hint] = second["duplicates"]
    assert hint["case_id"] == first["case"]["id"]
    assert set(hint) >= {"score", "text_similarity", "distance_m", "number", "title", "reported_at"}
    assert hint["score"] >= get_settings().duplicate_min_score and 0 < hint["text_similarity"] <= 1
    assert hint["distance_m"] == pytest.approx(10, abs=0.5)

    child_id, parent_id = second["case"]["id"], hint["case_id"]
    merged = api.post(f"/api/v1/cases/{child_id}/merge", json={"parent_id": parent_id}, headers=STREET_DISPATCHER)
    assert merged.status_code == 200, merged.text
    assert merged.json()["stage"] == "merged" and merged.json()["parent_id"] == parent_id
    parent = db.get(Case, parent_id)
    assert [c.id for c in case_service.reporters_to_notify(db=db, case=parent)] == [parent_id, child_id]
    # Once merged, the child is no candidate any more; the parent still is.
    third = create(CITIZEN, GARBAGE_AGAIN, point(125, 880))
    assert [d["case_id"] for d in third["duplicates"]] == [parent_id]


def test_the_window_is_measured_from_the_new_report(world, db):
    first = submit(world, db, GARBAGE).case
    assert first.reported_at == T0
    at = T0 + dt.timedelta(hours=T) - dt.timedelta(minutes=1)
    lng, lat = point()
    found = duplicates.suggest(
        db=db,
        matter_type_id=first.matter_type_id,
        text=GARBAGE,
        lng=lng,
        lat=lat,
        grid_id=first.grid_id,
        community_id=first.community_id,
        at=at,
    )
    assert [c.case.id for c in found] == [first.id] and found[0].hours_apart == pytest.approx(T, abs=0.02)
