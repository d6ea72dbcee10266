"""What the public may see of a case: its stage in plain words, the public notes of its log, and the reply.

One place decides this for every outside channel — the citizen status page (随手拍 tracking), Open311
`status_notes`/`notes[]`, and the 12345 hotline's status pull — so none of them can leak more than the others.
The public view never carries the reporter's identity or contact, internal notes, the names of staff, return
arguments between units, or SLA warnings; it carries what happened, when, and which unit (a public body) has it.
Texts are English message ids translated with the console catalogues (N_ marks them for extraction).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gridgov.core.i18n import gettext
from gridgov.core.templating import N_
from gridgov.domains.cases.enums import Action, CaseStage, Reasonableness, Satisfaction
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.catalog.models import Unit

# The stage as a reporter understands it.
STAGE_LABELS: dict[CaseStage, str] = {
    CaseStage.reported: N_("Received"),
    CaseStage.verifying: N_("Being verified on site"),
    CaseStage.registered: N_("Accepted, awaiting dispatch"),
    CaseStage.rejected: N_("Not accepted"),
    CaseStage.merged: N_("Merged with a report of the same problem"),
    CaseStage.dispatched: N_("Sent to the responsible unit"),
    CaseStage.signed: N_("Taken on by the responsible unit"),
    CaseStage.returned: N_("Being re-assigned"),
    CaseStage.handling: N_("Being handled"),
    CaseStage.handled: N_("Handled, being checked"),
    CaseStage.closed: N_("Closed"),
}

# Reasons an unreasonable request (不合理诉求) is ruled so, with the reply the reporter reads.
UNREASONABLE_REASONS: dict[str, tuple[str, str]] = {
    "beyond_public_duty": (
        N_("Beyond public duties (超出公共服务范围)"),
        N_(
            "Thank you for your report. The request concerns a private matter that no public body is responsible "
            "for; please seek help through a property manager, a mediator or the courts."
        ),
    ),
    "unlawful_demand": (
        N_("Demand against law or policy (诉求违反法律政策)"),
        N_("Thank you for your report. The request cannot be met under the laws and policies in force."),
    ),
    "repeated_without_new_facts": (
        N_("Repeated without new facts (重复诉求且无新情况)"),
        N_(
            "Thank you for your report. The same request has been answered before and no new facts were given; "
            "the earlier reply stands."
        ),
    ),
    "unrealistic": (
        N_("Unrealistic demand (诉求明显不切实际)"),
        N_("Thank you for your report. The request cannot reasonably be met; we have recorded your opinion."),
    ),
    "abusive": (
        N_("Abusive or malicious (恶意或辱骂)"),
        N_("The report was abusive or malicious and has been closed without further handling."),
    ),
}

# 不予立案 reasons (cases.service.REJECT_REASONS) as the reporter reads them.
REJECT_REPLIES: dict[str, str] = {
    "not_a_problem": N_("Not accepted: the problem was not found on site."),
    "out_of_scope": N_("Not accepted: the matter is outside what this platform handles."),
    "duplicate": N_("Not accepted: the same problem was already reported and is handled under that report."),
    "already_solved": N_("Not accepted: the problem had already been solved."),
    "invalid": N_("Not accepted: the report was invalid."),
}

SATISFACTION_LABELS: dict[Satisfaction, str] = {
    Satisfaction.satisfied: N_("satisfied"),
    Satisfaction.basically_satisfied: N_("basically satisfied"),
    Satisfaction.unsatisfied: N_("unsatisfied"),
}

# Actions whose event is shown to the public (the others are internal: notes, warnings, requests, returns).
_PUBLIC_ACTIONS = frozenset(
    {
        Action.report,
        Action.self_handle,
        Action.confirm,
        Action.register,
        Action.reject,
        Action.merge,
        Action.dispatch,
        Action.sign,
        Action.start,
        Action.finish,
        Action.verify,
        Action.rework,
        Action.decide_extension,
        Action.decide_suspension,
        Action.resume,
        Action.supervise,
        Action.rate,
        Action.reopen,
        Action.rule_reasonableness,
    }
)


@dataclass(frozen=True)
class PublicNote:
    """One public line of a case's history."""

    at: dt.datetime
    action: Action
    stage: CaseStage
    text: str


@dataclass(frozen=True)
class PublicView:
    """Everything the public may know about a case."""

    number: str
    stage: CaseStage
    stage_label: str
    is_open: bool
    matter_type: str
    title: str
    reported_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None
    expected_at: dt.datetime | None  # the handling deadline in force, when one runs
    agency: str | None  # the responsible unit (a public body)
    reply: str | None  # the official answer: the handling result once closed, or the ruling's reply
    satisfaction: Satisfaction | None
    can_rate: bool
    notes: list[PublicNote]


def reply_of(case: Case, events: list[CaseEvent]) -> str | None:
    """Returns the official answer to the reporter, untranslated: a ruling's reply, else the result once closed."""
    for event in reversed(events):
        if event.action == Action.rule_reasonableness and event.data.get("reply"):
            return str(event.data["reply"])
    if case.stage == CaseStage.closed and case.result:
        return case.result
    if case.stage == CaseStage.rejected:
        for event in reversed(events):
            if event.action == Action.reject and event.reason_code in REJECT_REPLIES:
                return REJECT_REPLIES[event.reason_code]
    return None


def public_view(*, db: Session, case: Case, locale: str = "zh_CN") -> PublicView:
    """Returns the public view of `case` in `locale`."""
    return public_views(db=db, cases=[case], locale=locale)[0]


def public_views(*, db: Session, cases: Sequence[Case], locale: str = "zh_CN") -> list[PublicView]:
    """Returns the public views of `cases` in `locale`, reading their logs and units in two queries (lists)."""
    _ = gettext(locale).gettext
    ids = [case.id for case in cases]
    events: dict[int, list[CaseEvent]] = {case_id: [] for case_id in ids}
    if ids:
        stmt = select(CaseEvent).where(CaseEvent.case_id.in_(ids)).order_by(CaseEvent.case_id, CaseEvent.seq)
        for event in db.scalars(stmt):
            events[event.case_id].append(event)
    unit_codes = {e.data.get("unit") for log in events.values() for e in log if e.action == Action.dispatch} - {None}
    unit_ids = {case.handling_unit_id for case in cases} - {None}
    units: dict[str | int, str] = {}
    if unit_codes or unit_ids:
        for unit in db.scalars(select(Unit).where(or_(Unit.code.in_(unit_codes), Unit.id.in_(unit_ids)))):
            units[unit.code] = units[unit.id] = unit.name
    views = [_view(case, events[case.id], units, _) for case in cases]
    return _follow_parents(db=db, cases=cases, views=views, locale=locale)


# What a merged report's reporter sees of the case it joined: its progress, not what concerns its reporter.
_FOLLOWED_ACTIONS = frozenset(
    {
        Action.confirm,
        Action.register,
        Action.dispatch,
        Action.sign,
        Action.start,
        Action.finish,
        Action.verify,
        Action.rework,
        Action.return_,
    }
)


def _follow_parents(*, db: Session, cases: Sequence[Case], views: list[PublicView], locale: str) -> list[PublicView]:
    """Shows a merged report with the progress of the case it joined: its reporter gets the same result.

    The merged report keeps its own number, title and log; stage, unit, deadline, reply and the log after the merge
    come from the parent (followed through a parent that was itself merged later).
    """
    merged = {i: case.parent_id for i, case in enumerate(cases) if case.stage == CaseStage.merged and case.parent_id}
    if not merged:
        return views
    parents = {p.id: p for p in db.scalars(select(Case).where(Case.id.in_(set(merged.values()))))}
    ordered = [parents[pid] for pid in dict.fromkeys(merged.values()) if pid in parents]
    parent_views = dict(zip([p.id for p in ordered], public_views(db=db, cases=ordered, locale=locale), strict=True))
    for index, parent_id in merged.items():
        parent = parent_views.get(parent_id)
        if parent is None:
            continue
        own = views[index]
        ruled = parents[parent_id].reasonableness is not None
        merged_at = own.notes[-1].at if own.notes else own.updated_at
        views[index] = replace(
            own,
            stage=parent.stage,
            stage_label=parent.stage_label,
            is_open=parent.is_open,
            updated_at=max(own.updated_at, parent.updated_at),
            closed_at=parent.closed_at,
            expected_at=parent.expected_at,
            agency=parent.agency,
            # NOTE: the parent's result, never another reporter's rating or a ruling on their request.
            reply=parent.reply if parent.stage == CaseStage.closed and not ruled else None,
            can_rate=False,
            notes=own.notes + [n for n in parent.notes if n.at > merged_at and n.action in _FOLLOWED_ACTIONS],
        )
    return views


def _view(case: Case, events: list[CaseEvent], units: dict[str | int, str], _: Callable[[str], str]) -> PublicView:
    notes = [
        PublicNote(at=e.occurred_at, action=e.action, stage=e.to_stage, text=text)
        for e in events
        if e.action in _PUBLIC_ACTIONS and (text := _note_text(e, units, _))
    ]
    reply = reply_of(case, events)
    return PublicView(
        number=case.number,
        stage=case.stage,
        stage_label=_(STAGE_LABELS[case.stage]),
        is_open=case.is_open,
        matter_type=case.matter_type.name,
        title=case.title,
        reported_at=case.reported_at,
        updated_at=case.updated_at,
        closed_at=case.closed_at,
        expected_at=case.handle_due_at if case.is_open else None,
        agency=units.get(case.handling_unit_id) if case.handling_unit_id else None,
        reply=_(reply) if reply else None,
        satisfaction=case.satisfaction,
        can_rate=case.stage == CaseStage.closed and case.satisfaction is None,
        notes=notes,
    )


def _note_text(event: CaseEvent, units: dict[str | int, str], tr: Callable[[str], str]) -> str | None:
    data = event.data or {}
    match event.action:
        case Action.report:
            return tr(N_("Report received"))
        case Action.self_handle:
            return tr(N_("Handled on the spot by the grid worker"))
        case Action.confirm:
            return tr(N_("Confirmed on site"))
        case Action.register:
            return tr(N_("Accepted (registered as a case)"))
        case Action.reject:
            return tr(N_("Not accepted"))
        case Action.merge:
            return tr(N_("Merged with case %(number)s, a report of the same problem")) % {"number": data.get("parent")}
        case Action.dispatch:
            unit = units.get(data.get("unit"))
            return tr(N_("Sent to %(unit)s")) % {"unit": unit} if unit else tr(N_("Sent to the responsible unit"))
        case Action.sign:
            return tr(N_("The responsible unit has taken on the case"))
        case Action.start:
            return tr(N_("Handling has started"))
        case Action.finish:
            return tr(N_("The responsible unit reports the problem handled; it is being checked"))
        case Action.verify:
            return tr(N_("Checked on site and closed"))
        case Action.rework:
            return tr(N_("The check found the problem not solved; it is being handled again"))
        case Action.decide_extension:
            return tr(N_("The time limit has been extended")) if data.get("approved") else None
        case Action.decide_suspension:
            return tr(N_("Put on hold until conditions allow (挂账)")) if data.get("approved") else None
        case Action.resume:
            return tr(N_("Handling has resumed"))
        case Action.supervise:
            return tr(N_("The operation centre is supervising the case (督办)"))
        case Action.rate:
            label = SATISFACTION_LABELS.get(Satisfaction(data["satisfaction"])) if data.get("satisfaction") else None
            return tr(N_("Rated by the reporter: %(rating)s")) % {"rating": tr(label)} if label else None
        case Action.reopen:
            return tr(N_("Reopened for handling again"))
        case Action.rule_reasonableness:
            if data.get("ruling") == Reasonableness.unreasonable:
                return tr(N_("Ruled an unreasonable request"))
            return None
    return None
