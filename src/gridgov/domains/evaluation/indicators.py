"""Indicators as data (评价指标): parse and check a definition, evaluate it on a row of base counts, score it.

A formula is arithmetic over base count names (counts.BASE_COUNTS): numbers, + - * / (also written × ÷ −),
parentheses and unary minus, nothing else. It is parsed with Python's `ast` and walked, never evaluated as
code. A definition is refused when it is saved — not when a ranking is computed — with the reason: a formula
that does not parse, an unknown count name, a division by something that may be 0 while `when_zero` is not
given, a negative weight, an unknown direction, a `sample` that is not a count, a ladder that is not sorted.

The shipped GB/T 30428.4-style set is indicators.yaml beside this module; `ensure_defaults` copies it into the
table when the table is empty, and until then it is what rankings use. See docs/evaluation.md.
"""

from __future__ import annotations

import ast
import difflib
import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gridgov.core.errors import Conflict, InputError, Issue, NotFoundError
from gridgov.core.sheets import SafeDumper, SafeLoader, assign, read_yaml
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.schemas import Actor, AuditRecord
from gridgov.domains.evaluation.counts import BASE_COUNTS
from gridgov.domains.evaluation.enums import Dimension, Direction, EvaluationObject
from gridgov.domains.evaluation.models import Indicator

SHIPPED_FILE = "indicators.yaml"
MAX_FORMULA_CHARS = 500
MAX_INTEGER = 2**31 - 1  # min_sample and position are 32-bit integer columns
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
UNITS: dict[str, str] = {  # how a value is shown
    "%": "a ratio (0–1), shown as a percentage",
    "count": "a number of cases",
    "per10k": "per 10,000 residents",
    "hours": "hours",
}
FIELDS = (
    "code",
    "name",
    "name_en",
    "objects",
    "formula",
    "direction",
    "weight",
    "sample",
    "min_sample",
    "when_zero",
    "unit",
    "score",
    "description",
    "position",
    "is_active",
)
REQUIRED = ("code", "name", "name_en", "objects", "formula")
NULLABLE = frozenset({"sample", "when_zero", "description"})
SCORE_KINDS = ("linear", "ladder", "none")
# The evaluation object whose indicators a ranking by each dimension uses (GB/T 30428.4: 区域, 部门, 岗位).
OBJECT_OF: dict[Dimension, EvaluationObject] = {
    Dimension.district: EvaluationObject.area,
    Dimension.street: EvaluationObject.area,
    Dimension.community: EvaluationObject.area,
    Dimension.grid: EvaluationObject.area,
    Dimension.unit: EvaluationObject.department,
    Dimension.person: EvaluationObject.post,
}
_OPERATOR_SIGNS = str.maketrans({"×": "*", "÷": "/", "−": "-", "（": "(", "）": ")"})


# --- formulas ---------------------------------------------------------------------------------------------------

# A compiled formula is a small tree of tuples: ("num", value) | ("count", name) | ("neg", node) |
# ("op", "+"|"-"|"*"|"/", left, right). Walking it is all evaluation does.
Node = tuple[Any, ...]


class _ZeroDenominator(Exception):
    """A division met a denominator of 0 (the indicator then takes `when_zero`)."""


@dataclass(frozen=True)
class Formula:
    """A checked formula: its tree, the counts it reads and the denominators that may be 0."""

    text: str
    tree: Node
    counts: tuple[str, ...]
    risky_denominators: tuple[str, ...]  # as written, e.g. "due" or "(closed + rework)"

    def evaluate(self, row: Mapping[str, float]) -> float:
        """Returns the formula's value on `row` (missing counts are 0); raises _ZeroDenominator on x / 0."""
        return _walk(self.tree, row)


_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _walk(node: Node, row: Mapping[str, float]) -> float:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "count":
        return float(row.get(node[1], 0) or 0)
    if kind == "neg":
        return -_walk(node[1], row)
    left, right = _walk(node[2], row), _walk(node[3], row)
    sign = node[1]
    if sign == "+":
        return left + right
    if sign == "-":
        return left - right
    if sign == "*":
        return left * right
    if right == 0:
        raise _ZeroDenominator
    return left / right


def _walk_columns(node: Node, columns: Mapping[str, np.ndarray], size: int, zero: np.ndarray) -> Any:
    """Evaluates a tree on whole columns of counts at once; marks in `zero` the rows meeting a zero denominator."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "count":
        found = columns.get(node[1])
        return found if found is not None else np.zeros(size)
    if kind == "neg":
        return -_walk_columns(node[1], columns, size, zero)
    left = _walk_columns(node[2], columns, size, zero)
    right = _walk_columns(node[3], columns, size, zero)
    sign = node[1]
    if sign == "+":
        return left + right
    if sign == "-":
        return left - right
    if sign == "*":
        return left * right
    if np.ndim(right) == 0:  # a constant denominator: checked to be non-zero when saved
        return left / right
    is_zero = right == 0
    zero |= is_zero
    return left / np.where(is_zero, 1.0, right)


def _compile(node: ast.AST, issues: list[str], counts: list[str], risky: list[str], source: str = "") -> Node:
    """Turns an ast node into the tuple tree, noting unknown names, forbidden syntax and risky denominators."""
    if isinstance(node, ast.Expression):
        return _compile(node.body, issues, counts, risky, source)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        try:
            value = float(node.value)
        except OverflowError:  # an integer literal of hundreds of digits
            value = math.inf
        if not math.isfinite(value):  # 1e999 is read as infinity
            written = ast.get_source_segment(source, node) or ast.unparse(node)
            issues.append(f"the number `{written[:20]}{'…' if len(written) > 20 else ''}` is too large")
            return ("num", 1.0)  # refused anyway; 1 raises no "divides by 0" besides
        return ("num", value)
    if isinstance(node, ast.Name):
        if node.id not in BASE_COUNTS:
            near = difflib.get_close_matches(node.id, list(BASE_COUNTS), n=1)
            hint = f" (did you mean `{near[0]}`?)" if near else ""
            issues.append(f"unknown count `{node.id}`{hint}; known counts: {', '.join(BASE_COUNTS)}")
        elif node.id not in counts:
            counts.append(node.id)
        return ("count", node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return ("neg", _compile(node.operand, issues, counts, risky, source))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        sign = _BINARY[type(node.op)]
        left = _compile(node.left, issues, counts, risky, source)
        right = _compile(node.right, issues, counts, risky, source)
        if sign == "/":
            shown = ast.unparse(node.right)
            if _is_constant(right):
                if _constant_value(right) == 0:
                    issues.append(f"divides by `{shown}`, which is always 0")
            elif shown not in risky:
                risky.append(shown)
        return ("op", sign, left, right)
    shown = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__
    issues.append(
        f"`{shown}` is not allowed: a formula holds only count names, numbers, + - * /, parentheses and unary minus"
    )
    return ("num", 0.0)


def _is_constant(node: Node) -> bool:
    if node[0] == "num":
        return True
    if node[0] == "count":
        return False
    if node[0] == "neg":
        return _is_constant(node[1])
    return _is_constant(node[2]) and _is_constant(node[3])


def _constant_value(node: Node) -> float | None:
    try:
        return _walk(node, {})
    except _ZeroDenominator:
        return None


def parse_formula(text: str) -> tuple[Formula | None, list[str]]:
    """Parses and checks a formula; returns it (None when refused) and the reasons it was refused."""
    if not isinstance(text, str) or not text.strip():
        return None, ["the formula is empty: write arithmetic over base counts, e.g. `closed_on_time / due`"]
    if len(text) > MAX_FORMULA_CHARS:
        return None, [f"the formula is longer than {MAX_FORMULA_CHARS} characters"]
    source = text.translate(_OPERATOR_SIGNS).strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        column = f" at character {exc.offset}" if exc.offset else ""
        return None, [f"the formula does not parse{column}: {exc.msg}"]
    except (RecursionError, MemoryError, ValueError):
        return None, ["the formula does not parse: it is nested too deeply"]
    issues: list[str] = []
    counts: list[str] = []
    risky: list[str] = []
    try:
        compiled = _compile(tree, issues, counts, risky, source)
    except RecursionError:
        return None, ["the formula does not parse: it is nested too deeply"]
    if not issues and not counts:
        issues.append("the formula uses no base count: it would be the same for everyone")
    if issues:
        return None, issues
    return Formula(text=text, tree=compiled, counts=tuple(counts), risky_denominators=tuple(risky)), []


@functools.lru_cache(maxsize=512)
def _cached_formula(text: str) -> Formula:
    formula, issues = parse_formula(text)
    if formula is None:
        raise ValueError(f"stored formula {text!r} is invalid: {'; '.join(issues)}")
    return formula


# --- definitions ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorDef:
    """A checked indicator definition: what rankings, bulletins and campaigns compute (see models.Indicator)."""

    code: str
    name: str  # 中文名
    name_en: str
    objects: tuple[EvaluationObject, ...]
    formula: str
    direction: Direction = Direction.higher
    weight: float = 0.0
    sample: str | None = None
    min_sample: int = 0
    when_zero: float | None = None
    unit: str = "%"
    score: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None
    position: int = 0
    is_active: bool = True

    @property
    def compiled(self) -> Formula:
        return _cached_formula(self.formula)

    @property
    def score_kind(self) -> str:
        """linear, ladder or none (an empty score: linear for a ratio, none otherwise)."""
        kind = self.score.get("kind") if self.score else None
        return str(kind) if kind else ("linear" if self.unit == "%" else "none")

    @property
    def scored(self) -> bool:
        """Tells whether the indicator counts in the composite (a weight above 0 and a score)."""
        return self.weight > 0 and self.score_kind != "none"

    def evaluate(self, row: Mapping[str, float]) -> float | None:
        """Returns the value on one row of counts; `when_zero` (None: not rated) when a denominator is 0."""
        return evaluate(self, row)

    def score_of(self, value: float | None) -> float | None:
        """Returns the 0–100 points of a value (None: no value, or no score)."""
        return score(self, value)

    def as_dict(self) -> dict[str, Any]:
        """Returns the definition as the YAML file and the API write it."""
        return {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "objects": [str(o) for o in self.objects],
            "formula": self.formula,
            "direction": str(self.direction),
            "weight": self.weight,
            "sample": self.sample,
            "min_sample": self.min_sample,
            "when_zero": self.when_zero,
            "unit": self.unit,
            "score": dict(self.score),
            "description": self.description,
            "position": self.position,
            "is_active": self.is_active,
        }


def evaluate(indicator: IndicatorDef, row: Mapping[str, float]) -> float | None:
    """Returns the indicator's value on one row of counts; `when_zero` (None: not rated) on a zero denominator."""
    try:
        value = indicator.compiled.evaluate(row)
    except _ZeroDenominator:
        return indicator.when_zero
    return value if math.isfinite(value) else None


def evaluate_columns(indicator: IndicatorDef, columns: Mapping[str, np.ndarray], size: int) -> np.ndarray:
    """Returns the indicator's values on `size` rows given as columns of counts (name → array), NaN for no value;
    the same values as `evaluate` row by row, computed at once for big tables (50,000 grids)."""
    zero = np.zeros(size, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        values = np.array(np.broadcast_to(_walk_columns(indicator.compiled.tree, columns, size, zero), size), float)
    values[zero] = np.nan if indicator.when_zero is None else indicator.when_zero
    values[~np.isfinite(values)] = np.nan
    return values


def score_columns(indicator: IndicatorDef, values: np.ndarray) -> np.ndarray:
    """Returns the points of values (NaN in, NaN out), as `score` does one by one."""
    kind = indicator.score_kind
    if kind == "linear":
        points = 100.0 * (1.0 - values) if indicator.direction is Direction.lower else 100.0 * values
        return np.clip(points, 0.0, 100.0)
    if kind == "ladder":
        points = np.full(values.shape, float(indicator.score.get("else", 0.0)))
        for bound, step_points in reversed(indicator.score["steps"]):
            points = np.where(values < bound, float(step_points), points)
        points[np.isnan(values)] = np.nan
        return points
    return np.full(values.shape, np.nan)


def score(indicator: IndicatorDef, value: float | None) -> float | None:
    """Returns the 0–100 points of `value`: linear for ratios (100·v, or 100·(1−v) when lower is better), or the
    points of the first ladder step whose bound the value is below (else the ladder's `else`)."""
    if value is None:
        return None
    kind = indicator.score_kind
    if kind == "linear":
        points = 100.0 * (1.0 - value) if indicator.direction is Direction.lower else 100.0 * value
        return min(100.0, max(0.0, points))
    if kind == "ladder":
        for bound, points in indicator.score["steps"]:
            if value < bound:
                return float(points)
        return float(indicator.score.get("else", 0.0))
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_score(raw: Any, *, unit: str, weight: float, issue: Any) -> dict[str, Any]:
    """Checks a score rule; returns it normalised ({} for the default)."""
    if raw is None or raw == {}:
        if weight > 0 and unit != "%":
            issue("score", f"a weighted indicator in {unit} needs a ladder score (linear scoring is for ratios)")
        return {}
    if not isinstance(raw, Mapping):
        issue("score", "must be a mapping: {kind: linear} or {kind: ladder, steps: [[bound, points], ...], else: 0}")
        return {}
    kind = raw.get("kind")
    if kind not in SCORE_KINDS:
        issue("score", f"unknown score kind {kind!r}; use one of {', '.join(SCORE_KINDS)}")
        return {}
    unknown = sorted(set(raw) - {"kind", "steps", "else"})
    if unknown:
        issue("score", f"unknown key(s) {', '.join(unknown)}; a score has kind, steps and else")
    if kind == "linear":
        if unit != "%":
            issue("score", f"linear scoring is for ratios (unit %); values in {unit} need a ladder score")
        return {"kind": "linear"}
    if kind == "none":
        if weight > 0:
            issue("score", "a weighted indicator needs a score (linear or ladder); set weight 0 to show it only")
        return {"kind": "none"}
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        issue("score", "a ladder needs steps: a list of [upper bound, points], bounds ascending")
        return {}
    clean: list[list[float]] = []
    for number, step in enumerate(steps, start=1):
        if not (isinstance(step, list | tuple) and len(step) == 2 and all(_number(v) for v in step)):
            issue("score", f"ladder step {number} must be [upper bound, points], two numbers; got {step!r}")
            return {}
        bound, points = float(step[0]), float(step[1])
        if not 0 <= points <= 100:
            issue("score", f"ladder step {number} gives {points:g} points; points are 0 to 100")
        if clean and bound <= clean[-1][0]:
            issue(
                "score",
                f"the ladder is not sorted: step {number} bound {bound:g} is not above step {number - 1} bound "
                f"{clean[-1][0]:g} (list the steps by ascending upper bound)",
            )
        clean.append([bound, points])
    otherwise = raw.get("else", 0)
    if not _number(otherwise) or not 0 <= otherwise <= 100:
        issue("score", f"the ladder's else must be points from 0 to 100; got {otherwise!r}")
        otherwise = 0
    return {"kind": "ladder", "steps": clean, "else": float(otherwise)}


def check(data: Mapping[str, Any], *, where: str, when_zero_given: bool | None = None) -> IndicatorDef:
    """Checks one definition (a YAML row or an API body); returns it, or raises InputError with every reason.

    `when_zero_given` says whether `when_zero` was written (None: whether the key is in `data`); a division by
    something that may be 0 needs it, even as null (= not rated).
    """
    issues: list[Issue] = []

    def issue(name: str | None, message: str) -> None:
        issues.append(Issue(where, message, name))

    unknown = sorted(set(data) - set(FIELDS))
    for name in unknown:
        near = difflib.get_close_matches(name, FIELDS, n=1)
        hint = f" (did you mean `{near[0]}`?)" if near else ""
        issue(name, f"unknown field{hint}; known fields: {', '.join(FIELDS)}")
    for name in REQUIRED:
        if data.get(name) in (None, "", []):
            issue(name, "is required")

    code = data.get("code")
    if code not in (None, "") and (not isinstance(code, str) or not CODE_PATTERN.fullmatch(code)):
        issue("code", f"{code!r} is not a code: lower-case letters, digits and _, starting with a letter, ≤ 64")
    for name, limit in (("name", 100), ("name_en", 200)):
        value = data.get(name)
        if value not in (None, "") and (not isinstance(value, str) or len(value) > limit):
            issue(name, f"must be text of at most {limit} characters")

    objects: list[EvaluationObject] = []
    raw_objects = data.get("objects")
    if isinstance(raw_objects, str):
        raw_objects = [raw_objects]
    if raw_objects not in (None, "", []):
        if not isinstance(raw_objects, list):
            issue("objects", "must be a list of area, department, post")
        else:
            for item in raw_objects:
                if not isinstance(item, str) or item not in EvaluationObject.__members__:
                    issue("objects", f"unknown object {item!r}; use area (区域), department (部门) or post (岗位)")
                elif EvaluationObject(item) not in objects:
                    objects.append(EvaluationObject(item))

    direction_raw = data.get("direction", "higher")
    direction = Direction.higher
    if not isinstance(direction_raw, str) or direction_raw not in Direction.__members__:
        issue("direction", f"unknown direction {direction_raw!r}; use higher (higher is better) or lower")
    else:
        direction = Direction(direction_raw)

    weight = data.get("weight", 0.0)
    if weight is None:
        weight = 0.0
    if not _number(weight):
        issue("weight", f"must be a number; got {weight!r}")
        weight = 0.0
    elif weight < 0:
        issue("weight", f"is {weight:g}; a weight is 0 (shown, not scored) or more")
        weight = 0.0

    unit = data.get("unit", "%") or "%"
    if not isinstance(unit, str) or unit not in UNITS:
        issue("unit", f"unknown unit {unit!r}; use one of {', '.join(UNITS)}")
        unit = "%"

    sample = data.get("sample")
    if sample in ("",):
        sample = None
    if sample is not None and (not isinstance(sample, str) or sample not in BASE_COUNTS):
        near = difflib.get_close_matches(str(sample), list(BASE_COUNTS), n=1)
        hint = f" (did you mean `{near[0]}`?)" if near else ""
        issue("sample", f"`{sample}` is not a count{hint}; known counts: {', '.join(BASE_COUNTS)}")
    min_sample = data.get("min_sample", 0)
    if min_sample is None:
        min_sample = 0
    if not isinstance(min_sample, int) or isinstance(min_sample, bool) or min_sample < 0:
        issue("min_sample", f"must be a whole number ≥ 0; got {min_sample!r}")
        min_sample = 0
    elif min_sample > MAX_INTEGER:
        issue("min_sample", f"must be at most {MAX_INTEGER}; got {min_sample}")
        min_sample = 0
    elif min_sample > 0 and sample is None:
        issue("sample", f"min_sample is {min_sample} but no sample count is named (e.g. sample: due)")

    when_zero = data.get("when_zero")
    if when_zero is not None and not _number(when_zero):
        issue("when_zero", f"must be a number or null (not rated); got {when_zero!r}")
        when_zero = None
    given = ("when_zero" in data) if when_zero_given is None else when_zero_given

    formula_text = data.get("formula")
    if formula_text not in (None, ""):
        if not isinstance(formula_text, str):
            issue("formula", f"must be text; got {formula_text!r}")
        else:
            formula, problems = parse_formula(formula_text)
            for problem in problems:
                issue("formula", problem)
            if formula is not None and not given:
                for denominator in formula.risky_denominators:
                    issue(
                        "when_zero",
                        f"divides by `{denominator}`, which may be 0: set when_zero "
                        "(the value then, or null for 'not rated')",
                    )

    score_rule = _check_score(data.get("score"), unit=unit, weight=float(weight), issue=issue)

    description = data.get("description")
    if description is not None and not isinstance(description, str):
        issue("description", "must be text")
    position = data.get("position", 0)
    if position is None:
        position = 0
    if not isinstance(position, int) or isinstance(position, bool) or abs(position) > MAX_INTEGER:
        issue("position", f"must be a whole number from -{MAX_INTEGER} to {MAX_INTEGER}; got {position!r}")
        position = 0
    is_active = data.get("is_active", True)
    if not isinstance(is_active, bool):
        issue("is_active", f"must be true or false; got {is_active!r}")
        is_active = True

    if issues:
        raise InputError(issues, summary=f"indicator {code or '?'} refused")
    return IndicatorDef(
        code=str(code),
        name=str(data["name"]),
        name_en=str(data["name_en"]),
        objects=tuple(objects),
        formula=str(formula_text),
        direction=direction,
        weight=float(weight),
        sample=sample,
        min_sample=int(min_sample),
        when_zero=None if when_zero is None else float(when_zero),
        unit=str(unit),
        score=score_rule,
        description=description,
        position=int(position),
        is_active=is_active,
    )


def from_row(row: Indicator) -> IndicatorDef:
    """Returns the definition stored in a table row (checked when it was saved)."""
    return IndicatorDef(
        code=row.code,
        name=row.name,
        name_en=row.name_en,
        objects=tuple(EvaluationObject(o) for o in row.objects or ()),
        formula=row.formula,
        direction=Direction(row.direction),
        weight=float(row.weight or 0.0),
        sample=row.sample,
        min_sample=int(row.min_sample or 0),
        when_zero=row.when_zero,
        unit=row.unit or "%",
        score=dict(row.score or {}),
        description=row.description,
        position=int(row.position or 0),
        is_active=bool(row.is_active),
    )


def format_value(indicator: IndicatorDef, value: float | None, *, digits: int = 2) -> str:
    """Returns a value as people read it: "95.87%", "12.5 h", "4.20 /万人", "3" ("—" for no value)."""
    if value is None:
        return "—"
    if indicator.unit == "%":
        return f"{value * 100:.{digits}f}%"
    if indicator.unit == "hours":
        return f"{value:.1f} h"
    if indicator.unit == "per10k":
        return f"{value:.{digits}f} /万人"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.{digits}f}"


def object_of(dimension: Dimension) -> EvaluationObject | None:
    """Returns the evaluation object ranked by `dimension` (areas, departments, posts), None for the others."""
    return OBJECT_OF.get(Dimension(dimension))


# --- the shipped set and the table ------------------------------------------------------------------------------


def _read_document(data: Any, *, source: str) -> list[tuple[IndicatorDef, bool]]:
    """Checks every row of an indicator document ({indicators: [...]}); raises InputError naming row and field.

    Returns each definition with whether its row gave a position (else it is placed by row number).
    """
    rows = data.get("indicators") if isinstance(data, Mapping) else data
    if isinstance(data, Mapping) and set(data) - {"indicators"}:
        extra = ", ".join(sorted(str(k) for k in set(data) - {"indicators"}))
        raise InputError([Issue(source, f"unknown top-level key(s) {extra}; the file holds `indicators:`")])
    if not isinstance(rows, list) or not rows:
        raise InputError([Issue(source, "no indicators: the file holds `indicators:`, a list of definitions")])
    issues: list[Issue] = []
    found: list[tuple[IndicatorDef, bool]] = []
    first_row: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        code = row.get("code") if isinstance(row, Mapping) else None
        where = f"{source} row {number}" + (f" ({code})" if code else "")
        if not isinstance(row, Mapping):
            issues.append(Issue(where, "must be a mapping of fields (code, name, formula ...)"))
            continue
        if isinstance(code, str) and code in first_row:
            issues.append(Issue(where, f"code {code} is already defined in row {first_row[code]}", "code"))
        elif isinstance(code, str):
            first_row[code] = number
        try:
            definition = check(row, where=where)
        except InputError as error:
            issues.extend(error.issues)
            continue
        positioned = row.get("position") is not None
        found.append((definition if positioned else _with(definition, position=number * 10), positioned))
    if issues:
        raise InputError(issues, summary=f"{source} refused, nothing imported")
    return found


def _with(definition: IndicatorDef, **changes: Any) -> IndicatorDef:
    return IndicatorDef(**{**definition.__dict__, **changes})


@functools.cache
def shipped() -> tuple[IndicatorDef, ...]:
    """Returns the shipped GB/T 30428.4-style set (indicators.yaml in this package)."""
    text = resources.files("gridgov.domains.evaluation").joinpath(SHIPPED_FILE).read_text(encoding="utf-8")
    return tuple(d for d, _ in _read_document(yaml.load(text, Loader=SafeLoader), source=SHIPPED_FILE))


def _table_rows(db: Session) -> list[Indicator]:
    return list(db.scalars(select(Indicator).order_by(Indicator.position, Indicator.code)))


def list_definitions(
    *, db: Session, obj: EvaluationObject | None = None, active_only: bool = False
) -> list[IndicatorDef]:
    """Returns the indicators (the shipped set while the table is empty), in display order, optionally only the
    active ones of one object."""
    rows = _table_rows(db)
    definitions = [from_row(r) for r in rows] if rows else list(shipped())
    return [
        d
        for d in sorted(definitions, key=lambda d: (d.position, d.code))
        if (obj is None or obj in d.objects) and (d.is_active or not active_only)
    ]


def _values(definition: IndicatorDef) -> dict[str, Any]:
    values = definition.as_dict()
    values["objects"] = list(values["objects"])
    values["direction"] = definition.direction
    return values


def ensure_defaults(*, db: Session) -> int:
    """Inserts the shipped set when the indicator table is empty; returns how many were inserted."""
    if db.scalar(select(func.count()).select_from(Indicator)):
        return 0
    for definition in shipped():
        db.add(Indicator(**_values(definition)))
    db.flush()
    return len(shipped())


def get(*, db: Session, code: str) -> Indicator:
    """Returns the stored indicator `code` (after ensure_defaults); 404 when there is none."""
    row = db.scalars(select(Indicator).where(Indicator.code == code)).one_or_none()
    if row is None:
        raise NotFoundError(f"no indicator {code!r}")
    return row


def _audit(db: Session, actor: Actor | None, action: str, code: str, detail: dict[str, Any]) -> None:
    if actor is None:
        return
    record = AuditRecord.of(actor, action, target_type="evaluation_indicator", target_id=code, detail=detail)
    auth_service.add_audit(db=db, record=record)


def create(*, db: Session, data: Mapping[str, Any], actor: Actor | None = None) -> Indicator:
    """Adds an indicator after checking it (InputError with the reasons); 409 when the code exists."""
    definition = check(data, where=f"indicator {data.get('code') or '?'}")
    ensure_defaults(db=db)
    if db.scalar(select(Indicator.id).where(Indicator.code == definition.code)) is not None:
        raise Conflict(f"indicator {definition.code} already exists; change it with PUT", code="indicator_exists")
    values = _values(definition)
    if "position" not in data:
        last = db.scalar(select(func.max(Indicator.position))) or 0
        values["position"] = last + 10
    row = Indicator(**values)
    db.add(row)
    db.flush()
    _audit(db, actor, "indicator.create", definition.code, {"after": definition.as_dict()})
    return row


def update(*, db: Session, code: str, changes: Mapping[str, Any], actor: Actor | None = None) -> Indicator:
    """Changes some fields of an indicator; the whole result is checked again (InputError with the reasons).

    A new formula that divides by something that may be 0 needs `when_zero` in the same change.
    """
    ensure_defaults(db=db)
    row = get(db=db, code=code)
    where = f"indicator {code}"
    issues = []
    if changes.get("code", code) != code:
        issues.append(Issue(where, "the code of an indicator cannot change", "code"))
    issues += [
        Issue(where, "cannot be null (only sample, when_zero and description can)", name)
        for name, value in changes.items()
        if value is None and name not in NULLABLE
    ]
    if issues:
        raise InputError(issues, summary=f"indicator {code} refused")
    before = from_row(row)
    merged = {**before.as_dict(), **changes}
    formula_changed = "formula" in changes and changes["formula"] != before.formula
    definition = check(merged, where=where, when_zero_given="when_zero" in changes or not formula_changed)
    changed = assign(row, {k: v for k, v in _values(definition).items() if k != "code"})
    if changed:
        db.flush()
        after = definition.as_dict()
        diff = {k: {"before": v, "after": after[k]} for k, v in before.as_dict().items() if after[k] != v}
        _audit(db, actor, "indicator.update", code, {"changed": diff})
    return row


@dataclass
class ImportReport:
    """What an indicator import did."""

    source: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def load_file(path: Path) -> list[tuple[IndicatorDef, bool]]:
    """Reads and checks an indicator YAML file; raises InputError naming the row and field of every problem.

    Returns each definition with whether its row gave a position.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError([Issue(str(path), "no such file")], summary="indicators not imported")
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise InputError([Issue(path.name, "use a .yaml or .yml file")], summary="indicators not imported")
    data = read_yaml(path, loader=SafeLoader, summary="indicators not imported")
    return _read_document(data, source=path.name)


def import_definitions(
    *, db: Session, definitions: Iterable[tuple[IndicatorDef, bool]], source: str, actor: Actor | None = None
) -> ImportReport:
    """Upserts checked definitions by code (indicators not named are kept); the shipped set first if empty.

    A definition without a position of its own keeps the stored one (a new one goes last).
    """
    ensure_defaults(db=db)
    report = ImportReport(source=source)
    existing = {row.code: row for row in _table_rows(db)}
    last = max((row.position for row in existing.values()), default=0)
    for definition, positioned in definitions:
        row = existing.get(definition.code)
        values = _values(definition)
        if not positioned:
            if row is not None:
                values["position"] = row.position
            else:
                last += 10
                values["position"] = last
        if row is None:
            db.add(Indicator(**values))
            report.created.append(definition.code)
        elif assign(row, {k: v for k, v in values.items() if k != "code"}):
            report.updated.append(definition.code)
        else:
            report.unchanged.append(definition.code)
    db.flush()
    _audit(
        db,
        actor,
        "indicator.import",
        source,
        {"created": report.created, "updated": report.updated, "unchanged": len(report.unchanged)},
    )
    return report


def import_indicators(*, db: Session, path: Path, actor: Actor | None = None) -> ImportReport:
    """Imports an indicator YAML file all-or-nothing: every row is checked before anything is written."""
    definitions = load_file(path)
    return import_definitions(db=db, definitions=definitions, source=Path(path).name, actor=actor)


HEADER = """\
# gridgov evaluation indicators (评价指标). Edit and re-import with `gridgov report indicators --import FILE`.
# formula: arithmetic over base counts (+ - * / and parentheses); a division needs when_zero (a value, or null:
# not rated). direction: higher | lower (is better). weight: share of the composite score (0: shown, not scored).
# sample/min_sample: below min_sample of the sample count a key is listed but not ranked. unit: % (a ratio 0-1),
# count, per10k, hours. score: {kind: linear} for ratios, or {kind: ladder, steps: [[below, points], ...], else: 0}.
"""


def dump_definitions(definitions: Sequence[IndicatorDef]) -> str:
    """Returns the YAML text of definitions (the format import_indicators reads)."""
    rows = [d.as_dict() for d in definitions]
    body = yaml.dump({"indicators": rows}, Dumper=SafeDumper, allow_unicode=True, sort_keys=False, width=110)
    return HEADER + body


def export_indicators(*, db: Session, path: Path | None = None) -> str:
    """Returns (and writes to `path` when given) the indicators as YAML, every one, active or not."""
    text = dump_definitions(list_definitions(db=db))
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text
