"""Rankings on hand-made count tables: composite, the minimum-sample rule, ties, the change against the previous
period, posts and departments, and a period without data."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from gridgov.core.errors import Invalid
from gridgov.domains.evaluation import indicators
from gridgov.domains.evaluation.counts import CountTable
from gridgov.domains.evaluation.enums import Dimension, EvaluationObject
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.evaluation.service import object_for, rank_table

SH = ZoneInfo("Asia/Shanghai")
NOV = Period.parse("2026-11", SH)
OCT = Period.parse("2026-10", SH)
AREA = EvaluationObject.area

# S1 and S5 tie; S2 is perfect but has only 2 ratings (satisfaction shown, not scored); S3 has 9 cases due (below
# the minimum of 10: listed, not ranked, although its satisfaction scores); S4 is quiet (residents only).
S1 = {"due": 20, "closed": 19, "closed_on_time": 18, "rework": 1, "rated": 10, "satisfied": 9}
NOVEMBER = {
    "S1": S1,
    "S2": {"due": 10, "closed": 10, "closed_on_time": 10, "rework": 0, "rated": 2, "satisfied": 0},
    "S3": {"due": 9, "closed": 9, "closed_on_time": 9, "rated": 6, "satisfied": 6},
    "S5": dict(S1),
    "S6": {"due": 40, "closed": 30, "closed_on_time": 20, "rework": 3},
}
LABELS = {"S1": "一街道", "S2": "二街道", "S3": "三街道", "S4": "四街道", "S5": "五街道", "S6": "六街道"}
POPULATION = {"S1": 50000, "S2": 40000, "S3": 30000, "S4": 20000, "S5": 50000, "S6": 60000}


def table(rows: dict[str, dict[str, int]], period: Period = NOV, dimension: Dimension = Dimension.street):
    return CountTable(
        dimension=dimension,
        period=period,
        rows={k: dict(v) for k, v in rows.items()},
        labels=dict(LABELS),
        population=dict(POPULATION),
    )


def by_key(ranking):
    return {row.key: row for row in ranking.rows}


def test_values_scores_and_the_composite():
    ranking = rank_table(table(NOVEMBER), indicators.shipped(), obj=AREA)
    assert [d.code for d in ranking.indicators][:4] == [
        "closure_rate",
        "on_time_closure_rate",
        "rework_rate",
        "satisfaction_rate",
    ]
    assert all(AREA in d.objects for d in ranking.indicators)
    s1 = by_key(ranking)["S1"]
    assert s1.label == "一街道"
    assert s1.values["closure_rate"] == pytest.approx(0.95)
    assert s1.values["on_time_closure_rate"] == pytest.approx(0.90)
    assert s1.values["rework_rate"] == pytest.approx(1 / 19)
    assert s1.values["satisfaction_rate"] == pytest.approx(0.9)
    assert s1.values["cases_per_10k"] == 0.0  # no receptions in the row: 0 per 10,000 residents
    assert s1.scores["closure_rate"] == pytest.approx(95.0)
    assert s1.scores["rework_rate"] == pytest.approx(100 * (1 - 1 / 19))
    assert s1.scores["cases_per_10k"] is None  # shown, not scored
    # Σ weight·score / Σ weight = (30·95 + 40·90 + 10·94.7368 + 20·90) / 100
    assert s1.composite == pytest.approx((30 * 95 + 40 * 90 + 10 * 100 * (1 - 1 / 19) + 20 * 90) / 100)
    assert s1.sample == 20 and s1.min_sample == 10 and s1.ranked
    assert s1.counts["due"] == 20 and s1.counts["population"] == 50000


def test_an_indicator_below_its_own_minimum_is_shown_not_scored():
    s2 = by_key(rank_table(table(NOVEMBER), indicators.shipped(), obj=AREA))["S2"]
    assert s2.values["satisfaction_rate"] == 0.0  # 0 of 2 satisfied: shown
    assert s2.scores["satisfaction_rate"] is None and s2.short == ["satisfaction_rate"]
    assert s2.composite == pytest.approx(100.0)  # (30·100 + 40·100 + 10·100) / 80: the weights that scored
    assert s2.rank == 1


def test_the_minimum_sample_rule_lists_a_key_without_ranking_it():
    ranking = rank_table(table(NOVEMBER), indicators.shipped(), obj=AREA)
    s3 = by_key(ranking)["S3"]
    assert s3.values["on_time_closure_rate"] == 1.0  # its values are listed
    assert s3.sample == 9 and s3.min_sample == 10
    assert s3.ranked is False and s3.rank is None
    assert s3.composite == pytest.approx(100.0)  # only its satisfaction (6 ratings) scored: still not ranked
    assert set(s3.short) == {"closure_rate", "on_time_closure_rate", "rework_rate", "extension_rate", "overdue_rate"}
    quiet = by_key(ranking)["S4"]  # residents only: listed, no composite
    assert quiet.composite is None and quiet.rank is None and not quiet.ranked and quiet.sample == 0
    assert quiet.values["closure_rate"] is None and quiet.values["cases_per_10k"] == 0.0


def test_ties_share_a_rank_and_the_order_is_ranked_first():
    ranking = rank_table(table(NOVEMBER), indicators.shipped(), obj=AREA)
    assert [(r.key, r.rank) for r in ranking.rows] == [
        ("S2", 1),
        ("S1", 2),  # 一街道 before 五街道 at the same composite: by label
        ("S5", 2),
        ("S6", 4),
        ("S3", None),  # not ranked: with a composite first, then without
        ("S4", None),
    ]
    assert [r.key for r in ranking.ranked] == ["S2", "S1", "S5", "S6"]
    assert [r.key for r in ranking.not_ranked] == ["S3", "S4"]


def test_float_noise_is_a_tie():
    # (30·55 + 40·55 + 10·100) / 80 and (30·75 + 40·40 + 10·100) / 80 are both 60.625, but not as floats
    rows = {"S1": {"due": 20, "closed": 11, "closed_on_time": 11}, "S2": {"due": 20, "closed": 15, "closed_on_time": 8}}
    ranking = rank_table(table(rows), indicators.shipped(), obj=AREA)
    first, second = ranking.rows[:2]
    assert first.composite != second.composite and first.composite == pytest.approx(second.composite)
    assert (first.rank, second.rank) == (1, 1)


def test_the_change_against_the_previous_period():
    october = {
        "S1": {"due": 10, "closed": 10, "closed_on_time": 5},  # (30·100 + 40·50 + 10·100) / 80 = 75, rank 2
        "S6": {"due": 10, "closed": 10, "closed_on_time": 10},  # 100, rank 1
        "S3": {"due": 3, "closed": 3, "closed_on_time": 3},  # not ranked
    }
    ranking = rank_table(table(NOVEMBER), indicators.shipped(), previous=table(october, OCT), obj=AREA)
    assert ranking.previous_period == OCT
    rows = by_key(ranking)
    s1, s6 = rows["S1"], rows["S6"]
    assert s1.previous_composite == pytest.approx(75.0) and s1.previous_rank == 2
    assert s1.change == pytest.approx(s1.composite - 75.0) and s1.rank_change == 0
    assert s6.composite == pytest.approx((30 * 75 + 40 * 50 + 10 * 90) / 80)
    assert s6.previous_composite == pytest.approx(100.0) and s6.change == pytest.approx(s6.composite - 100.0)
    assert (s6.previous_rank, s6.rank, s6.rank_change) == (1, 4, -3)  # fell three places
    assert rows["S2"].previous_composite is None and rows["S2"].change is None and rows["S2"].rank_change is None
    assert rows["S3"].previous_rank is None and rows["S3"].rank_change is None


def test_a_period_without_data_gives_an_empty_ranking():
    empty = rank_table(table({}), indicators.shipped(), obj=AREA)
    assert empty.rows == [] and empty.is_empty
    residents_only = CountTable(
        dimension=Dimension.street, period=NOV, rows={"S4": {"population": 20000, "staff": 3}}, population=POPULATION
    )
    assert rank_table(residents_only, indicators.shipped(), obj=AREA).rows == []
    # nothing before either: no change, no error
    ranking = rank_table(table(NOVEMBER), indicators.shipped(), previous=table({}, OCT), obj=AREA)
    assert all(r.previous_composite is None and r.change is None for r in ranking.rows)


def test_posts_are_scored_on_what_each_person_does():
    rows = {
        "101": {"reports": 12, "valid_reports": 11},  # a grid worker
        "102": {"reports": 5, "valid_reports": 5},  # too few reports: listed, not ranked
        "201": {"registered": 30, "registered_on_time": 29, "dispatched": 30, "accurate_dispatch": 27},  # dispatcher
    }
    names = {"101": "网格员甲", "102": "网格员乙", "201": "派遣员"}
    people = CountTable(dimension=Dimension.person, period=NOV, rows=rows, labels=names)
    ranking = rank_table(people, indicators.shipped(), obj=EvaluationObject.post)
    assert {d.code for d in ranking.indicators} == {
        "valid_report_rate",
        "verified_on_time_rate",
        "confirmed_on_time_rate",
        "post_registered_on_time_rate",
        "post_accurate_dispatch_rate",
    }
    found = by_key(ranking)
    worker, dispatcher = found["101"], found["201"]
    assert worker.composite == pytest.approx(100 * 11 / 12) and worker.sample == 12
    assert dispatcher.composite == pytest.approx((10 * 100 * 29 / 30 + 10 * 90) / 20)
    assert dispatcher.sample == 30 and dispatcher.values["valid_report_rate"] is None
    assert (dispatcher.rank, worker.rank) == (1, 2)
    assert found["102"].ranked is False and found["102"].sample == 5 and found["102"].composite is None
    assert found["102"].values["valid_report_rate"] == 1.0 and found["102"].short == ["valid_report_rate"]


def test_departments_use_their_own_set():
    units = CountTable(
        dimension=Dimension.unit,
        period=NOV,
        rows={"HWS": {"due": 12, "closed": 12, "closed_on_time": 12, "dispatched": 15, "returned": 3}},
    )
    ranking = rank_table(units, indicators.shipped(), obj=EvaluationObject.department)
    assert "dept_return_rate" in {d.code for d in ranking.indicators}
    assert "closure_rate" not in {d.code for d in ranking.indicators}
    row = ranking.rows[0]
    # 结案 15·100 + 按期 35·100 + 返工 10·100 + 回退 15·80 + 延期 5·100, over the weights that scored (80)
    assert row.composite == pytest.approx((15 * 100 + 35 * 100 + 10 * 100 + 15 * 80 + 5 * 100) / 80)
    assert row.rank == 1


def test_an_inactive_indicator_is_left_out():
    shipped = list(indicators.shipped())
    changed = [
        indicators.check({**d.as_dict(), "is_active": False}, where="x") if d.code == "satisfaction_rate" else d
        for d in shipped
    ]
    ranking = rank_table(table(NOVEMBER), changed, obj=AREA)
    assert "satisfaction_rate" not in by_key(ranking)["S1"].values
    assert by_key(ranking)["S1"].composite == pytest.approx((30 * 95 + 40 * 90 + 10 * 100 * (1 - 1 / 19)) / 80)


def test_dimensions_that_are_not_ranked():
    assert object_for(Dimension.community) is AREA
    with pytest.raises(Invalid, match="dimension channel is not ranked: rankings are by district, street"):
        object_for(Dimension.channel)
