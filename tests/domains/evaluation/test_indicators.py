"""Indicator definitions: every refusal of a formula or field with its message, values on hand-made rows of
counts, scores (linear, lower-is-better, ladder), and the shipped set."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from gridgov.core.errors import InputError
from gridgov.domains.evaluation import indicators
from gridgov.domains.evaluation.counts import BASE_COUNTS
from gridgov.domains.evaluation.enums import Dimension, Direction, EvaluationObject
from gridgov.domains.evaluation.indicators import IndicatorDef, check, format_value, parse_formula

ZERO_MESSAGE = "divides by `due`, which may be 0: set when_zero (the value then, or null for 'not rated')"


def definition(**fields: Any) -> dict[str, Any]:
    """A valid area indicator (on-time closure rate) with `fields` changed."""
    base: dict[str, Any] = {
        "code": "on_time",
        "name": "按期结案率",
        "name_en": "On-time closure rate",
        "objects": ["area"],
        "formula": "closed_on_time / due",
        "direction": "higher",
        "weight": 40,
        "sample": "due",
        "min_sample": 10,
        "when_zero": None,
        "unit": "%",
        "score": {"kind": "linear"},
    }
    base.update(fields)
    return base


def refusals(**fields: Any) -> list[tuple[str | None, str]]:
    """Returns the (field, message) pairs a definition is refused with (fails when it is accepted)."""
    data = definition(**fields)
    with pytest.raises(InputError) as caught:
        check(data, where="indicator on_time")
    assert all(issue.where == "indicator on_time" for issue in caught.value.issues)
    return [(issue.field, issue.message) for issue in caught.value.issues]


def only(**fields: Any) -> str:
    """Returns the one message a definition is refused with."""
    found = refusals(**fields)
    assert len(found) == 1, found
    return found[0][1]


# --- formulas: refused when saved, with the reason ---------------------------------------------------------------


def test_a_valid_definition_is_accepted_and_normalised():
    found = check(definition(weight=40), where="x")
    assert found.code == "on_time" and found.objects == (EvaluationObject.area,)
    assert found.direction is Direction.higher and found.weight == 40.0 and found.when_zero is None
    assert found.compiled.counts == ("closed_on_time", "due")
    assert found.compiled.risky_denominators == ("due",)


def test_a_formula_that_does_not_parse_is_refused_with_where():
    assert refusals(formula="closed_on_time / ") == [("formula", "the formula does not parse: invalid syntax")]
    assert only(formula="closed due") == "the formula does not parse at character 8: invalid syntax"
    assert only(formula="(closed + due") == "the formula does not parse at character 1: '(' was never closed"
    assert only(formula="   ") == "the formula is empty: write arithmetic over base counts, e.g. `closed_on_time / due`"


def test_an_unknown_count_is_refused_listing_the_known_ones():
    message = only(formula="clsoed / due")
    assert message.startswith("unknown count `clsoed` (did you mean `closed`?); known counts: received, registered")
    assert all(name in message for name in BASE_COUNTS)


@pytest.mark.parametrize(
    ("formula", "shown"),
    [
        ("__import__('os').system('true')", "__import__('os').system('true')"),
        ("closed ** 2 / 1", "closed ** 2"),
        ("closed % 2", "closed % 2"),
        ("closed // 2", "closed // 2"),
        ("due if closed else 1", "due if closed else 1"),
        ("closed < due", "closed < due"),
        ("'closed'", "'closed'"),
        ("True + closed", "True"),
        ("max(closed, due)", "max(closed, due)"),
        ("closed.real", "closed.real"),
        ("+closed", "+closed"),
    ],
)
def test_anything_but_arithmetic_is_refused(formula, shown):
    assert only(formula=formula) == (
        f"`{shown}` is not allowed: a formula holds only count names, numbers, + - * /, parentheses and unary minus"
    )


def test_a_division_by_a_possibly_zero_count_needs_when_zero():
    data = definition()
    del data["when_zero"]
    with pytest.raises(InputError) as caught:
        check(data, where="indicator on_time")
    [issue] = caught.value.issues
    assert (issue.where, issue.field, issue.message) == ("indicator on_time", "when_zero", ZERO_MESSAGE)
    # written, even as null (= not rated), it is accepted; a constant denominator needs nothing
    assert check(definition(when_zero=None), where="x").when_zero is None
    data = definition(formula="closed_on_time / 2")
    del data["when_zero"]
    assert check(data, where="x").compiled.risky_denominators == ()


def test_every_risky_denominator_is_named():
    data = definition(formula="closed / (due - rework) + rework / closed")
    del data["when_zero"]
    with pytest.raises(InputError) as caught:
        check(data, where="x")
    messages = [i.message for i in caught.value.issues]
    assert messages == [
        "divides by `due - rework`, which may be 0: set when_zero (the value then, or null for 'not rated')",
        "divides by `closed`, which may be 0: set when_zero (the value then, or null for 'not rated')",
    ]


def test_a_constant_zero_denominator_is_refused_outright():
    assert only(formula="closed / (2 - 2)") == "divides by `2 - 2`, which is always 0"


def test_a_formula_without_any_count_is_refused():
    assert only(formula="1 + 2") == "the formula uses no base count: it would be the same for everyone"


def test_the_written_operator_signs_and_unary_minus_are_accepted():
    found = check(definition(formula="（closed_on_time × 100） ÷ due − -1"), where="x")
    assert found.evaluate({"closed_on_time": 9, "due": 10}) == pytest.approx(91.0)


def test_a_negative_weight_an_unknown_direction_and_a_sample_that_is_no_count_are_refused():
    assert refusals(weight=-5) == [("weight", "is -5; a weight is 0 (shown, not scored) or more")]
    assert refusals(direction="up") == [("direction", "unknown direction 'up'; use higher (higher is better) or lower")]
    message = only(sample="cases")
    assert message.startswith("`cases` is not a count; known counts: received,")
    assert only(sample="dve").startswith("`dve` is not a count (did you mean `due`?)")
    assert only(weight="heavy") == "must be a number; got 'heavy'"


def test_a_ladder_must_be_sorted():
    unsorted = {"kind": "ladder", "steps": [[1, 100], [5, 75], [3, 90]], "else": 0}
    assert refusals(unit="count", score=unsorted) == [
        (
            "score",
            "the ladder is not sorted: step 3 bound 3 is not above step 2 bound 5 "
            "(list the steps by ascending upper bound)",
        )
    ]
    assert only(unit="count", score={"kind": "ladder", "steps": [[1, 100], [1, 90]]}).startswith(
        "the ladder is not sorted: step 2 bound 1"
    )
    assert only(unit="count", score={"kind": "ladder", "steps": [[1, 120]]}) == (
        "ladder step 1 gives 120 points; points are 0 to 100"
    )
    assert only(unit="count", score={"kind": "ladder", "steps": [[1]]}) == (
        "ladder step 1 must be [upper bound, points], two numbers; got [1]"
    )
    assert only(unit="count", score={"kind": "ladder"}) == (
        "a ladder needs steps: a list of [upper bound, points], bounds ascending"
    )


def test_values_in_other_units_need_a_ladder_to_be_scored():
    assert only(unit="hours", score={"kind": "linear"}) == (
        "linear scoring is for ratios (unit %); values in hours need a ladder score"
    )
    assert only(unit="hours", score={}) == (
        "a weighted indicator in hours needs a ladder score (linear scoring is for ratios)"
    )
    assert only(score={"kind": "none"}) == (
        "a weighted indicator needs a score (linear or ladder); set weight 0 to show it only"
    )
    assert check(definition(unit="hours", score={}, weight=0), where="x").score_kind == "none"
    assert only(score={"kind": "curve"}) == "unknown score kind 'curve'; use one of linear, ladder, none"


def test_other_fields_are_checked_and_all_reasons_come_at_once():
    found = refusals(
        code="Bad Code", objects=["area", "city"], unit="‰", min_sample=-1, wieght=3, formula="closed / nope"
    )
    fields = [f for f, _ in found]
    assert fields == ["wieght", "code", "objects", "unit", "min_sample", "formula"]
    assert found[0][1].startswith("unknown field (did you mean `weight`?); known fields: code, name")
    assert found[2][1] == "unknown object 'city'; use area (区域), department (部门) or post (岗位)"
    assert found[3][1] == "unknown unit '‰'; use one of %, count, per10k, hours"
    assert found[4][1] == "must be a whole number ≥ 0; got -1"
    assert refusals(sample=None) == [("sample", "min_sample is 10 but no sample count is named (e.g. sample: due)")]
    assert {f for f, _ in refusals(name="", objects=[], formula=None)} == {"name", "objects", "formula"}


def test_numbers_a_float_cannot_hold_are_refused_not_a_crash():
    assert only(formula="closed / " + "9" * 400) == "the number `" + "9" * 20 + "…` is too large"
    assert only(formula="1e999 * closed") == "the number `1e999` is too large"
    assert only(formula="closed / 1e999") == "the number `1e999` is too large"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"direction": ["higher"]}, "direction"),
        ({"unit": ["%"]}, "unit"),
        ({"unit": {"a": 1}}, "unit"),
        ({"sample": ["due"]}, "sample"),
        ({"sample": {"due": 1}}, "sample"),
        ({"objects": [["area"]]}, "objects"),
        ({"objects": [{"area": 1}]}, "objects"),
        ({"objects": {"area": 1}}, "objects"),
        ({"min_sample": 10**12}, "min_sample"),
        ({"position": -(10**12)}, "position"),
        ({"code": "on_time\n"}, "code"),
    ],
)
def test_values_of_the_wrong_shape_are_refused_not_a_crash(fields, field):
    # NOTE: a YAML file can hold lists and mappings anywhere; the table holds 32-bit integers
    assert field in {f for f, _ in refusals(**fields)}


def test_parse_formula_never_evaluates_code(tmp_path):
    marker = tmp_path / "pwned"
    formula, issues = parse_formula(f"__import__('pathlib').Path({str(marker)!r}).touch()")
    assert formula is None and issues
    assert not marker.exists()
    deep = "(" * 5000 + "closed" + ")" * 5000
    formula, issues = parse_formula(deep)
    assert formula is None and issues[0].startswith(("the formula is longer", "the formula does not parse"))


# --- values on rows of counts ------------------------------------------------------------------------------------


def shipped(code: str) -> IndicatorDef:
    return next(d for d in indicators.shipped() if d.code == code)


def test_values_on_hand_made_rows():
    # 金水区, 2019-04-08..14: 应结案 1,935, 结案 1,912, 按期 1,855, 返工 18, 延期 0 (DOMAIN.md §2.4)
    jinshui = {"due": 1935, "closed": 1912, "closed_on_time": 1855, "rework": 18, "extended": 0}
    assert shipped("closure_rate").evaluate(jinshui) == pytest.approx(0.98811, abs=1e-5)
    assert shipped("on_time_closure_rate").evaluate(jinshui) == pytest.approx(0.95866, abs=1e-5)
    assert shipped("rework_rate").evaluate(jinshui) == pytest.approx(18 / 1912)
    assert shipped("extension_rate").evaluate(jinshui) == 0.0
    row = {"due": 20, "closed_late": 2, "open_overdue": 3, "received": 30, "population": 12000}
    assert shipped("overdue_rate").evaluate(row) == pytest.approx(0.25)
    assert shipped("cases_per_10k").evaluate(row) == pytest.approx(25.0)
    assert shipped("staffing_per_10k").evaluate({"staff": 21, "population": 12000}) == pytest.approx(17.5)
    assert shipped("avg_handle_hours").evaluate({"handle_hours": 45.5, "handled": 7}) == pytest.approx(6.5)
    assert shipped("open_overdue").evaluate(row) == 3.0


def test_a_zero_denominator_gives_when_zero_and_missing_counts_are_zero():
    assert shipped("closure_rate").evaluate({"closed": 0}) is None  # not rated
    assert shipped("cases_per_10k").evaluate({"received": 5}) is None  # no population figure
    one = check(definition(formula="closed / due + rework / closed", when_zero=1.0), where="x")
    assert one.evaluate({"due": 4, "closed": 0}) == 1.0  # any zero denominator decides
    assert one.evaluate({"due": 4, "closed": 2, "rework": 1}) == pytest.approx(1.0)
    assert check(definition(formula="-(due - closed) / due"), where="x").evaluate({"due": 4, "closed": 3}) == -0.25


# --- scores ----------------------------------------------------------------------------------------------------


def test_linear_scores_for_higher_and_lower_is_better():
    assert shipped("on_time_closure_rate").score_of(0.9587) == pytest.approx(95.87)
    assert shipped("rework_rate").score_of(0.0053) == pytest.approx(99.47)
    assert shipped("rework_rate").direction is Direction.lower
    assert shipped("closure_rate").score_of(1.2) == 100.0  # clamped to 0–100
    assert shipped("rework_rate").score_of(1.5) == 0.0
    assert shipped("closure_rate").score_of(None) is None


def test_ladder_scores():
    ladder = shipped("registered_count")  # 立案数分值 per grid: 0→100, <3→90, <5→75, <7→60, <9→40, else 0
    assert [ladder.score_of(v) for v in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 30)] == [
        100.0,
        90.0,
        90.0,
        75.0,
        75.0,
        60.0,
        60.0,
        40.0,
        40.0,
        0.0,
        0.0,
    ]
    staffing = shipped("staffing_per_10k")  # the standard (18) and above: 100
    assert [staffing.score_of(v) for v in (5.0, 10.0, 17.9, 18.0, 25.0)] == [0.0, 40.0, 80.0, 100.0, 100.0]
    hours = shipped("dept_avg_handle_hours")
    assert [hours.score_of(v) for v in (3.5, 6.5, 30, 100)] == [100.0, 90.0, 60.0, 0.0]
    assert shipped("cases_per_10k").score_of(25.0) is None  # shown, not scored


def test_format_value():
    assert format_value(shipped("on_time_closure_rate"), 0.958656) == "95.87%"
    assert format_value(shipped("avg_handle_hours"), 6.54) == "6.5 h"
    assert format_value(shipped("cases_per_10k"), 25.0) == "25.00 /万人"
    assert format_value(shipped("open_overdue"), 3.0) == "3"
    assert format_value(shipped("closure_rate"), None) == "—"


# --- the shipped set -----------------------------------------------------------------------------------------------


def test_the_shipped_set_is_valid_and_each_object_weighs_100():
    found = indicators.shipped()
    codes = [d.code for d in found]
    assert len(codes) == len(set(codes))
    weights: dict[EvaluationObject, float] = defaultdict(float)
    for d in found:
        assert d.compiled is not None and d.name and d.name_en and d.objects
        if d.scored:
            assert len(d.objects) == 1, f"{d.code}: a scored indicator is for one object (its own weights)"
        for obj in d.objects:
            weights[obj] += d.weight
    assert weights == {EvaluationObject.area: 100, EvaluationObject.department: 100, EvaluationObject.post: 100}
    area = {d.name: d.weight for d in found if EvaluationObject.area in d.objects and d.scored}
    assert area == {"结案率": 30, "按期结案率": 40, "返工率": 10, "满意率": 20}


def test_the_shipped_set_covers_the_standard_indicators():
    formulas = {d.name: d.formula for d in indicators.shipped()}
    assert formulas["立案率"] == "registered / received"
    assert formulas["派遣率"] == "dispatched / registered"
    assert formulas["准确派遣率"] == "accurate_dispatch / dispatched"
    assert formulas["按时立案率"] == "registered_on_time / registered"
    assert formulas["结案率"] == "closed / due"
    assert formulas["按期结案率"] == "closed_on_time / due"
    assert formulas["返工率"] == "rework / closed"
    assert formulas["延期率"] == "extended / due"
    assert formulas["回退率"] == "returned / dispatched"
    assert formulas["超期率"] == "(closed_late + open_overdue) / due"
    assert formulas["超期未结数"] == "open_overdue"
    assert formulas["自行处置率"] == "self_handled / registered"
    assert formulas["满意率"] == "satisfied / rated"
    assert formulas["平均处置用时"] == "handle_hours / handled"
    assert formulas["万人案件数"] == "received / population * 10000"
    assert formulas["有效上报率"] == "valid_reports / reports"
    assert formulas["按时核查率"] == "verified_on_time / verify_tasks"
    assert formulas["按时核实率"] == "confirmed_on_time / confirm_tasks"
    assert formulas["社区工作者配备率"] == "staff / population * 10000"


def test_the_object_of_each_dimension():
    assert indicators.object_of(Dimension.street) is EvaluationObject.area
    assert indicators.object_of(Dimension.grid) is EvaluationObject.area
    assert indicators.object_of(Dimension.unit) is EvaluationObject.department
    assert indicators.object_of(Dimension.person) is EvaluationObject.post
    assert indicators.object_of(Dimension.channel) is None


def test_whole_columns_give_the_values_and_scores_of_row_by_row():
    rng = random.Random(7)
    names = sorted(BASE_COUNTS)
    rows = [{name: rng.choice((0, 0, 1, 2, 3, 7, 12, 40, 600)) for name in names} for _ in range(400)]
    columns = {name: np.array([row[name] for row in rows], float) for name in names}
    custom = check(definition(formula="(closed - -rework) / (due - closed) * 2 + 1 / 4", when_zero=0.5), where="x")
    for d in (*indicators.shipped(), custom):
        values = indicators.evaluate_columns(d, columns, len(rows))
        points = indicators.score_columns(d, values)
        for i, row in enumerate(rows):
            one = d.evaluate(row)
            assert (one is None and np.isnan(values[i])) or one == pytest.approx(values[i]), (d.code, row)
            point = d.score_of(one) if d.score_kind != "none" else None
            assert (point is None and np.isnan(points[i])) or point == pytest.approx(points[i]), (d.code, row)
