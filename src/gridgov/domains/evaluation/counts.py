"""Base counts (基础计数) of evaluation: what is counted from the case event log, and the table they come in.

Every indicator is a formula over these names. `BASE_COUNTS` is the one definition: the engine computes
exactly these, and the user guide's table is generated from it (`markdown_table`).

Conventions: a period is [start, end); "in the period" means an event with start <= occurred_at < end; "before
end" means occurred_at < end, so a past period's counts never change when later events are recorded (the one
exception is noted on `rated`). Counts are of distinct cases unless the aggregate says events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gridgov.domains.evaluation.enums import Dimension
from gridgov.domains.evaluation.periods import Period

Aggregate = Literal["cases", "events", "hours", "attribute"]

_HANDLER = "the case's handling unit at the end of the period"
_ACTOR_UNIT = "the acting user's unit"
_REPORTER = "the reporter"


@dataclass(frozen=True)
class BaseCount:
    """One base count: its name in formulas, Chinese and English names, definition, and how it is aggregated.

    `aggregate`: "cases" counts distinct cases, "events" counts events, "hours" sums hours (a float),
    "attribute" is not from the log (residents, staff). `unit` and `person` say which unit and which user a
    count is attributed to in the unit and person dimensions (None: not attributed there).
    """

    name: str
    zh: str
    en: str
    description: str
    aggregate: Aggregate = "cases"
    unit: str | None = _HANDLER
    person: str | None = None


_COUNTS = (
    BaseCount("received", "受理数", "Received", "Cases reported in the period (the `report` event).", person=_REPORTER),
    BaseCount(
        "registered",
        "立案数",
        "Registered",
        "Cases registered in the period: their first `register` or `confirm` event, or `self_handle`.",
        unit=_ACTOR_UNIT,
        person="the registering user (dispatcher, or the grid worker who confirmed or self-handled)",
    ),
    BaseCount(
        "registered_on_time",
        "按时立案数",
        "Registered on time",
        "Of the registered, those registered at or before the register deadline in force (the deadline of the"
        " latest earlier event on the register clock; no register clock: on time).",
        unit=_ACTOR_UNIT,
        person="the registering user",
    ),
    BaseCount(
        "dispatched",
        "派遣数",
        "Dispatched",
        "Cases with a `dispatch` event in the period.",
        unit="the dispatched unit",
        person="the dispatcher (automatic dispatch: none)",
    ),
    BaseCount(
        "accurate_dispatch",
        "准确派遣数",
        "Accurately dispatched",
        "Of the dispatched, those none of whose dispatches in the period was followed by a `return` before end.",
        unit="the dispatched unit",
        person="the dispatcher",
    ),
    BaseCount(
        "due",
        "应结案数",
        "Due",
        "Cases whose handling deadline in force at the end of the period falls in the period: the deadline of the"
        " latest event before end on the handle clock (dispatch, extension, supervision, rework ...). A case"
        " returned before that deadline (and not dispatched again by end) has no deadline in force.",
    ),
    BaseCount("closed", "结案数", "Closed", "Of the due, those closed (stage closed, by a `verify`) at the end."),
    BaseCount(
        "closed_on_time",
        "按期结案数",
        "Closed on time",
        "Of the due and closed, those whose last `finish` before end was at or before the deadline.",
    ),
    BaseCount("closed_late", "超期结案数", "Closed late", "Of the due and closed, those not closed on time."),
    BaseCount("open_overdue", "超期未结数", "Overdue, not closed", "Of the due, those not closed at the end."),
    BaseCount(
        "rework",
        "返工数",
        "Reworked",
        "Cases with a `rework` (verification failed) or `reopen` (unsatisfied rating) event in the period.",
    ),
    BaseCount(
        "extended",
        "延期数",
        "Extended",
        "Cases with an approved extension (`decide_extension`, approved) in the period.",
    ),
    BaseCount(
        "returned",
        "回退数",
        "Returned",
        "Cases with a `return` event in the period.",
        unit="the returning unit",
        person="the returning user",
    ),
    BaseCount("overdue", "超期数", "Breached", "Cases with an `overdue` (SLA breach) event in the period."),
    BaseCount(
        "self_handled",
        "自行处置数",
        "Self-handled",
        "`self_handle` events (即时处置) in the period.",
        aggregate="events",
        unit=_ACTOR_UNIT,
        person="the grid worker",
    ),
    BaseCount(
        "reports",
        "上报数",
        "Patrol reports",
        "Cases reported through the patrol channel in the period.",
        unit=_ACTOR_UNIT,
        person=_REPORTER,
    ),
    BaseCount(
        "valid_reports",
        "有效上报数",
        "Valid patrol reports",
        "Of the patrol reports, those not rejected (`reject`) before end.",
        unit=_ACTOR_UNIT,
        person=_REPORTER,
    ),
    BaseCount(
        "verify_tasks",
        "核查数",
        "Verifications",
        "`verify` and `rework` events (核查, passed or failed) in the period.",
        aggregate="events",
        unit=_ACTOR_UNIT,
        person="the verifier",
    ),
    BaseCount(
        "verified_on_time",
        "按时核查数",
        "Verified on time",
        "Of the verifications, those at or before the verify deadline in force (the deadline of the latest"
        " earlier event on the verify clock; none: on time).",
        aggregate="events",
        unit=_ACTOR_UNIT,
        person="the verifier",
    ),
    BaseCount(
        "confirm_tasks",
        "核实数",
        "Confirmations",
        "`confirm` events and `reject` events from stage verifying (核实, found true or not) in the period.",
        aggregate="events",
        unit=_ACTOR_UNIT,
        person="the verifier",
    ),
    BaseCount(
        "confirmed_on_time",
        "按时核实数",
        "Confirmed on time",
        "Of the confirmations, those at or before the register deadline in force (none: on time).",
        aggregate="events",
        unit=_ACTOR_UNIT,
        person="the verifier",
    ),
    BaseCount(
        "rated",
        "评价数",
        "Rated",
        "`rate` events in the period, excluding cases ruled unreasonable (诉求合理性认定). The ruling is the case's"
        " current one: a later ruling removes a rating from past periods too.",
        aggregate="events",
    ),
    BaseCount(
        "satisfied",
        "满意数",
        "Satisfied",
        "Of the rated, those satisfied or basically satisfied.",
        aggregate="events",
    ),
    BaseCount("unsatisfied", "不满意数", "Unsatisfied", "Of the rated, those unsatisfied.", aggregate="events"),
    BaseCount(
        "handle_hours",
        "处置用时",
        "Handling hours",
        "Sum over the cases closed in the period (their last closure in it) of the hours from the latest"
        " `dispatch` or `reopen` before that closure to the latest `finish` before it (natural hours).",
        aggregate="hours",
    ),
    BaseCount(
        "handled",
        "处置完成数",
        "Handled",
        "Cases closed in the period that were dispatched (the cases summed in handle_hours).",
    ),
    BaseCount(
        "population",
        "人口",
        "Residents",
        "Residents of the area (Area.population); area dimensions only.",
        aggregate="attribute",
        unit=None,
    ),
    BaseCount(
        "staff",
        "社区工作者数",
        "Community workers",
        "Active users with role grid_worker or community_secretary whose scope is the area or an area below it;"
        " area dimensions only (the current roster, not the period's).",
        aggregate="attribute",
        unit=None,
    ),
)

BASE_COUNTS: dict[str, BaseCount] = {count.name: count for count in _COUNTS}
AREA_ATTRIBUTES = ("population", "staff")


@dataclass
class CountTable:
    """Base counts of one period by one dimension: `rows[key][count]` (missing names are 0).

    `rows` holds the keys with at least one count from the log in the period; area dimensions add population
    and staff to those rows. `population`, `staff` and `labels` cover every area of the level in scope (quiet
    ones too), so a ranking can list areas without cases.
    """

    dimension: Dimension
    period: Period
    rows: dict[str, dict[str, int | float]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    population: dict[str, int] = field(default_factory=dict)
    staff: dict[str, int] = field(default_factory=dict)
    engine: str = "sql"  # which engine computed it: "duckdb" or "sql"

    def get(self, key: str, count: str) -> int | float:
        """Returns the value of `count` for `key` (0 when absent); raises KeyError for an unknown count name."""
        if count not in BASE_COUNTS:
            raise KeyError(f"unknown base count {count!r}")
        row = self.rows.get(key)
        if row is not None and count in row:
            return row[count]
        if count == "population":
            return self.population.get(key, 0)
        if count == "staff":
            return self.staff.get(key, 0)
        return 0

    def keys(self) -> list[str]:
        """Returns every key with counts or (areas) with residents or staff, sorted."""
        return sorted(set(self.rows) | set(self.population) | set(self.staff))

    def label(self, key: str) -> str:
        """Returns the display name of `key` (the key itself when unnamed)."""
        return self.labels.get(key) or key


def markdown_table() -> str:
    """Returns the base counts as a Markdown table (name, 中文, English, aggregate, definition), for the docs."""
    lines = ["| Count | 中文 | English | Counts | Definition |", "|---|---|---|---|---|"]
    for count in BASE_COUNTS.values():
        lines.append(f"| `{count.name}` | {count.zh} | {count.en} | {count.aggregate} | {count.description} |")
    return "\n".join(lines)
