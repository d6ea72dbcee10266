"""Hotspots (高频事项) in the system: refreshed from the cases of the last days, listed within the user's streets,
turned into one supervised case or dismissed. The algorithm itself is `triage.hotspots` (pure).

A refresh reads the cases reported in the window (every channel but `discovered`, merged reports included: a
merged report is one more supporter; rejected reports left out), clusters them, and reconciles the result with
the stored rows: a cluster sharing at least `MATCH_OPEN` of its members (Jaccard) with a stored open hotspot
updates that row, so a hotspot keeps its id across refreshes; open rows no longer found are deleted; escalated and
dismissed rows are kept, and a cluster whose members were mostly (`MATCH_DECIDED`) in one of them is not stored
again. The store locks the open rows it reads and changes only rows still open, so a hotspot decided while a
refresh runs is never overwritten or deleted (and so never comes back open).

A user sees a hotspot when any of its members is a case the user may see (`case.view`), and then only those
members' ids and locations (`HotspotView`); the title is shown only when the member it was taken from is one of
them, the keywords otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, Select, cast, delete, exists, false, func, literal, select, text, update
from sqlalchemy.orm import Session

from gridgov.config import get_settings
from gridgov.core.errors import Conflict, Invalid, NotFoundError
from gridgov.core.geo import distance_m
from gridgov.core.permissions import Scope, can, restrict, scope_of
from gridgov.domains.areas import locate as locate_service
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor, AuditRecord
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Action, CaseStage, Channel
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog.models import MatterType
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.schemas import CaseSubmit
from gridgov.domains.triage import hotspots
from gridgov.domains.triage.enums import HotspotStatus
from gridgov.domains.triage.models import Hotspot

log = logging.getLogger(__name__)

MATCH_OPEN = 0.3  # Jaccard of members at which a new cluster is the same hotspot as a stored open one
MATCH_DECIDED = 0.5  # share of a new cluster's members already in a decided hotspot at which it is not stored again
MAX_ID = 2**31 - 1
MAX_WINDOW_DAYS = 90  # the longest window a refresh on request may cluster
# NOTE: PostgreSQL advisory-lock key of the refresh ("hotspots" in ASCII, as one bigint): concurrent refreshes
# in several processes store one after the other, each matching the rows the previous one wrote.
LOCK_KEY = 0x686F7473706F7473 & 0x7FFFFFFFFFFFFFFF


@dataclass
class RefreshSummary:
    """What one refresh did."""

    window_start: dt.datetime
    window_end: dt.datetime
    cases: int = 0
    found: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    already_decided: int = 0
    seconds: float = 0.0
    hotspot_ids: list[int] = field(default_factory=list)


@dataclass
class Snapshot:
    """The cases of one window as algorithm input, with what the store needs to know about each."""

    start: dt.datetime
    end: dt.datetime
    messages: list[hotspots.Message]
    street_of: dict[int, int | None]
    matter_of: dict[int, int]
    merged: set[int]


# --- refresh ------------------------------------------------------------------------------------------------


def window(*, now: dt.datetime, window_days: float | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Returns the refresh window ending at `now` (default length: hotspot_window_days)."""
    days = window_days if window_days is not None else get_settings().hotspot_window_days
    if days <= 0:
        raise Invalid("the window must be at least a moment long (window_days > 0)", field="window_days")
    return now - dt.timedelta(days=days), now


def area_placed_ids(*, db: Session, start: dt.datetime, end: dt.datetime) -> set[int]:
    """Returns the hotline cases of the window placed at an area's representative point (no coordinates given)."""
    stmt = (
        select(CaseEvent.case_id, CaseEvent.data)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            Case.channel == Channel.hotline,
            Case.reported_at >= start,
            Case.reported_at <= end,
            CaseEvent.action == Action.note,
        )
    )
    placed = set()
    for case_id, data in db.execute(stmt):
        hotline = (data or {}).get("hotline") or {}
        if hotline.get("located_by") == "area":
            placed.add(case_id)
    return placed


def case_text(title: str, description: str | None) -> str:
    """Returns the text a case is compared by: its title and description, the title left out when the description
    starts with it (titles are often the description's first words)."""
    title, description = title.strip(), (description or "").strip()
    head = title.rstrip("…。，,.：: ")
    if not description or description == title:
        return title
    if head and description.startswith(head):
        return description
    return f"{title.rstrip('。')}。{description}"


def collect(*, db: Session, start: dt.datetime, end: dt.datetime) -> Snapshot:
    """Returns the cases reported in [start, end] as messages (text = title + description)."""
    stmt = select(
        Case.id,
        Case.title,
        Case.description,
        Case.reported_at,
        Case.lng,
        Case.lat,
        Case.stage,
        Case.matter_type_id,
        Case.street_id,
    ).where(
        Case.reported_at >= start,
        Case.reported_at <= end,
        Case.channel != Channel.discovered,
        Case.stage != CaseStage.rejected,
    )
    unplaced = area_placed_ids(db=db, start=start, end=end)
    snapshot = Snapshot(start=start, end=end, messages=[], street_of={}, matter_of={}, merged=set())
    for row in db.execute(stmt.order_by(Case.id)):
        # NOTE: a hotline case without coordinates sits at its area's representative point; treated as
        # unlocated, it joins the largest place of its cluster instead of making a place of its own.
        located = row.id not in unplaced
        snapshot.messages.append(
            hotspots.Message(
                id=row.id,
                text=case_text(row.title, row.description),
                at=row.reported_at,
                lng=row.lng if located else None,
                lat=row.lat if located else None,
                matter=str(row.matter_type_id),
            )
        )
        snapshot.street_of[row.id] = row.street_id
        snapshot.matter_of[row.id] = row.matter_type_id
        if row.stage == CaseStage.merged:
            snapshot.merged.add(row.id)
    return snapshot


def find(snapshot: Snapshot, options: hotspots.HotspotOptions | None = None) -> list[hotspots.Hotspot]:
    """Returns the hotspots among the snapshot's cases (no database access: may run outside a transaction)."""
    options = options or hotspots.HotspotOptions.from_settings(get_settings())
    return hotspots.find_hotspots(snapshot.messages, start=snapshot.start, end=snapshot.end, options=options)


def _most_common(values: Sequence[int | None]) -> int | None:
    counted = Counter(v for v in values if v is not None)
    return counted.most_common(1)[0][0] if counted else None


def _index(rows: Sequence[Hotspot]) -> dict[int, list[int]]:
    """Returns, for each member case id, the positions of the rows holding it."""
    index: dict[int, list[int]] = {}
    for position, row in enumerate(rows):
        for case_id in set(row.member_case_ids):
            index.setdefault(case_id, []).append(position)
    return index


def _overlaps(members: set[int], index: dict[int, list[int]]) -> Counter[int]:
    """Returns how many of `members` each indexed row shares."""
    return Counter(position for case_id in members for position in index.get(case_id, ()))


def lock_refresh(db: Session) -> None:
    """Waits for the refresh lock of the transaction (PostgreSQL; SQLite already has one writer at a time)."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def store(
    *, db: Session, snapshot: Snapshot, found: list[hotspots.Hotspot], now: dt.datetime, started: float | None = None
) -> RefreshSummary:
    """Reconciles the found clusters with the stored hotspots: updates matches, adds new ones, drops stale open ones."""
    lock_refresh(db)
    summary = RefreshSummary(window_start=snapshot.start, window_end=snapshot.end, cases=len(snapshot.messages))
    summary.found = len(found)
    open_rows = lock_open(db)
    # NOTE: read after the open rows are locked: a hotspot decided while we waited for its lock is among these.
    decided = list(
        db.scalars(select(Hotspot).where(Hotspot.status != HotspotStatus.open, Hotspot.last_at >= snapshot.start))
    )
    # Pair new clusters with stored open rows, best overlap first, each row at most once (an index of members
    # keeps this linear in the number of members, not in clusters × rows).
    members = [{int(m) for m in h.member_ids} for h in found]
    open_sizes = [len(set(row.member_case_ids)) for row in open_rows]
    open_index = _index(open_rows)
    pairs = sorted(
        (
            (shared / (len(members[i]) + open_sizes[j] - shared), i, j)
            for i in range(len(found))
            for j, shared in _overlaps(members[i], open_index).items()
        ),
        reverse=True,
    )
    match: dict[int, Hotspot] = {}
    used: set[int] = set()
    for score, i, j in pairs:
        if score < MATCH_OPEN:
            break
        if i not in match and j not in used:
            match[i] = open_rows[j]
            used.add(j)
    decided_index = _index(decided)
    stored: list[Hotspot] = []
    for i, cluster in enumerate(found):
        row = match.get(i)
        overlaps = _overlaps(members[i], decided_index) if row is None else {}
        if any(shared / len(members[i]) >= MATCH_DECIDED for shared in overlaps.values()):
            summary.already_decided += 1
            continue
        values = _values(cluster, snapshot, now)
        if row is None:
            row = Hotspot(status=HotspotStatus.open, **values)
            db.add(row)
            summary.created += 1
        elif _update_open(db, row.id, values):
            summary.updated += 1
        else:
            summary.already_decided += 1  # decided meanwhile (cannot happen while the lock holds)
            continue
        stored.append(row)
    stale = [row.id for j, row in enumerate(open_rows) if j not in used]
    for begin in range(0, len(stale), 1000):
        # NOTE: only rows still open: a decided hotspot is kept whatever the clustering says.
        gone = db.execute(
            delete(Hotspot).where(Hotspot.id.in_(stale[begin : begin + 1000]), Hotspot.status == HotspotStatus.open),
            execution_options=FETCH,
        )
        summary.deleted += gone.rowcount  # type: ignore[attr-defined]
    db.flush()
    summary.hotspot_ids = [row.id for row in stored]
    if started is not None:
        summary.seconds = round(time.perf_counter() - started, 3)
    return summary


# NOTE: the session learns which rows the database changed (RETURNING), not which rows in memory match the
# condition: a row decided behind its back would otherwise be dropped from (or changed in) the session anyway.
FETCH = {"synchronize_session": "fetch"}


def lock_open(db: Session) -> list[Hotspot]:
    """Returns the open hotspots, read afresh and (PostgreSQL) locked until the transaction ends."""
    stmt = select(Hotspot).where(Hotspot.status == HotspotStatus.open).order_by(Hotspot.id)
    if db.get_bind().dialect.name == "postgresql":
        # NOTE: a dispatcher deciding one of them now waits for this store to commit; one who decided it first
        # (and committed while we waited for the row) makes PostgreSQL re-check `status = open` and leave it out.
        # SQLite needs nothing: the store's write transaction is the only writer until it commits.
        stmt = stmt.with_for_update(of=Hotspot)
    return list(db.scalars(stmt.execution_options(populate_existing=True)))


def _update_open(db: Session, hotspot_id: int, values: dict[str, Any]) -> bool:
    """Writes a refreshed cluster over a stored hotspot that is still open; False when it no longer is."""
    done = db.execute(
        update(Hotspot).where(Hotspot.id == hotspot_id, Hotspot.status == HotspotStatus.open).values(**values),
        execution_options=FETCH,
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def _values(cluster: hotspots.Hotspot, snapshot: Snapshot, now: dt.datetime) -> dict[str, Any]:
    """Returns the column values of a stored hotspot for a found cluster."""
    ids = [int(m) for m in cluster.member_ids]
    details: dict[str, Any] = dict(cluster.details)
    details["merged"] = sum(1 for i in ids if i in snapshot.merged)
    # Which member the title is and which member each location is, so a user who sees only some members is shown
    # only theirs (`view`); never shown as they are.
    details["title_case_id"] = int(cluster.title_id) if cluster.title_id is not None else None
    details["location_case_ids"] = [int(i) for i in cluster.location_ids]
    centre_lng, centre_lat = cluster.centre if cluster.centre else (None, None)
    return {
        "title": cluster.title[:200],
        "keywords": list(cluster.keywords),
        "size": cluster.size,
        "heat": cluster.heat,
        "first_at": cluster.first_at,
        "last_at": cluster.last_at,
        "member_case_ids": ids,
        "locations": [[round(lng, 7), round(lat, 7)] for lng, lat in cluster.locations],
        "lng": centre_lng,
        "lat": centre_lat,
        "matter_type_id": _most_common([snapshot.matter_of.get(i) for i in ids]),
        "street_id": _most_common([snapshot.street_of.get(i) for i in ids]),
        "details": details,
        "window_start": snapshot.start,
        "window_end": snapshot.end,
        "refreshed_at": now,
    }


def refresh(
    *,
    db: Session,
    now: dt.datetime,
    window_days: float | None = None,
    options: hotspots.HotspotOptions | None = None,
) -> RefreshSummary:
    """Finds the hotspots among the cases of the window ending at `now` and stores them (caller's transaction)."""
    started = time.perf_counter()
    start, end = window(now=now, window_days=window_days)
    snapshot = collect(db=db, start=start, end=end)
    found = find(snapshot, options)
    return store(db=db, snapshot=snapshot, found=found, now=now, started=started)


# --- queries ------------------------------------------------------------------------------------------------


def _visible(db: Session, stmt: Select[Any], actor: Actor) -> Select[Any]:
    """Limits a select over Hotspot to the hotspots with at least one member case the actor may see (case.view);
    a role without triage.view sees none."""
    if not can(actor, "triage.view"):
        return stmt.where(false())
    if actor.scope_path is None and scope_of(actor, "case.view") in (Scope.all, Scope.area):
        return stmt  # every case, so every hotspot
    if db.get_bind().dialect.name == "postgresql":
        elements = func.jsonb_array_elements_text(Hotspot.member_case_ids).table_valued("value")
        member_id: Any = cast(elements.c.value, Integer)
    else:
        elements = func.json_each(Hotspot.member_case_ids).table_valued("value")
        member_id = elements.c.value
    # The member ids of the outer query's hotspot (a table-valued function of its column), joined to the cases.
    seen = select(literal(1)).select_from(elements).join(Case, Case.id == member_id)
    return stmt.where(exists(restrict(seen, actor, "case.view")))


def list_hotspots(
    *,
    db: Session,
    actor: Actor,
    status: HotspotStatus | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Hotspot], int]:
    """Returns one page of the hotspots the actor may see (hottest first) and their total."""
    base = select(Hotspot)
    if status is not None:
        base = base.where(Hotspot.status == status)
    base = _visible(db, base, actor)
    total = db.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.scalars(base.order_by(Hotspot.heat.desc(), Hotspot.id).offset(offset).limit(limit))
    return list(rows), total


def get(*, db: Session, hotspot_id: int, actor: Actor | None = None, for_update: bool = False) -> Hotspot:
    """Returns the hotspot (one the actor may see, when given), or raises NotFoundError."""
    if not 0 < hotspot_id <= MAX_ID:
        raise NotFoundError(f"hotspot {hotspot_id} not found")
    stmt = select(Hotspot).where(Hotspot.id == hotspot_id)
    if actor is not None:
        stmt = _visible(db, stmt, actor)
    if for_update and db.get_bind().dialect.name == "postgresql":
        # NOTE: two dispatchers deciding the same hotspot at once: the second waits, then sees it decided (409).
        stmt = stmt.with_for_update(of=Hotspot)
    row = db.scalars(stmt).one_or_none()
    if row is None:
        raise NotFoundError(f"hotspot {hotspot_id} not found")
    return row


def visible_cases(*, db: Session, actor: Actor, case_ids: Iterable[int]) -> dict[int, Case]:
    """Returns the cases among `case_ids` the actor may see (case.view within scope), by id."""
    ids = sorted({i for i in case_ids if 0 < i <= MAX_ID})
    found: dict[int, Case] = {}
    for begin in range(0, len(ids), 1000):
        stmt = restrict(select(Case).where(Case.id.in_(ids[begin : begin + 1000])), actor, "case.view")
        found.update((case.id, case) for case in db.scalars(stmt))
    return found


def member_cases(*, db: Session, hotspot: Hotspot, actor: Actor) -> list[Case]:
    """Returns the hotspot's member cases the actor may see, oldest first."""
    found = visible_cases(db=db, actor=actor, case_ids=hotspot.member_case_ids)
    return sorted(found.values(), key=lambda case: (case.reported_at, case.id))


@dataclass
class HotspotView:
    """A hotspot as one user may see it: only the members (ids, locations, cases) within the user's scope.

    Size, heat, span, centre and keywords stay the hotspot's own; the title is shown only when the member it was
    taken from is visible (its keywords otherwise), as it quotes that member's text.
    """

    hotspot: Hotspot
    title: str
    member_case_ids: list[int]
    locations: list[list[float]]
    hidden_members: int
    details: dict[str, Any]
    members: list[Case]  # the visible member cases, oldest first

    def as_fields(self) -> dict[str, Any]:
        """Returns the fields that differ from the stored row's (for the API schemas)."""
        return {
            "title": self.title,
            "member_case_ids": self.member_case_ids,
            "locations": self.locations,
            "hidden_members": self.hidden_members,
            "details": self.details,
        }


def keywords_title(hotspot: Hotspot) -> str:
    """Returns the title shown in place of one quoting a member the user may not see: the keywords."""
    return "、".join(hotspot.keywords) or f"高频事项 {hotspot.id}"


def view(hotspot: Hotspot, visible: dict[int, Case]) -> HotspotView:
    """Returns the hotspot as seen by a user who may see the cases in `visible` (by id)."""
    ids = [i for i in hotspot.member_case_ids if i in visible]
    hidden = len(hotspot.member_case_ids) - len(ids)
    details = dict(hotspot.details or {})
    location_ids = details.pop("location_case_ids", None)
    title_id = details.get("title_case_id")
    if hidden == 0:
        locations = [list(p) for p in hotspot.locations]
    elif isinstance(location_ids, list) and len(location_ids) == len(hotspot.locations):
        locations = [list(p) for i, p in zip(location_ids, hotspot.locations, strict=True) if i in visible]
    else:
        locations = []  # NOTE: stored before locations named their members: none can be shown as the user's own
    if title_id in visible or (title_id is None and hidden == 0):
        title = hotspot.title
    else:
        title = keywords_title(hotspot)
        details.pop("title_case_id", None)
    members = sorted((visible[i] for i in ids), key=lambda case: (case.reported_at, case.id))
    return HotspotView(
        hotspot=hotspot,
        title=title,
        member_case_ids=ids,
        locations=locations,
        hidden_members=hidden,
        details=details,
        members=members,
    )


def views(*, db: Session, actor: Actor, rows: Sequence[Hotspot]) -> list[HotspotView]:
    """Returns the hotspots as the actor may see them (members within the actor's case.view scope only)."""
    visible = visible_cases(db=db, actor=actor, case_ids=[i for row in rows for i in row.member_case_ids])
    return [view(row, visible) for row in rows]


def streets(*, db: Session, ids: Sequence[int | None]) -> dict[int, Area]:
    """Returns the areas of the given ids (for naming hotspots' streets)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {a.id: a for a in db.scalars(select(Area).where(Area.id.in_(wanted)))}


def matter_types(*, db: Session, ids: Sequence[int | None]) -> dict[int, MatterType]:
    """Returns the matter types of the given ids (for naming hotspots' matter types)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {m.id: m for m in db.scalars(select(MatterType).where(MatterType.id.in_(wanted)))}


# --- decisions ----------------------------------------------------------------------------------------------


def _require_open(hotspot: Hotspot) -> None:
    if hotspot.status != HotspotStatus.open:
        raise Conflict(
            f"hotspot {hotspot.id} is already {hotspot.status}; only an open hotspot can be decided",
            code="hotspot_decided",
            status=str(hotspot.status),
        )


def _local(value: dt.datetime, tz: dt.tzinfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def case_description(seen: HotspotView, *, tz: dt.tzinfo, limit: int = 4000) -> str:
    """Returns the description of the case a hotspot becomes: count, span, keywords and the numbers of the member
    cases the deciding user may see (the others only counted)."""
    hotspot = seen.hotspot
    numbers = [case.number for case in seen.members]
    span = f"{_local(hotspot.first_at, tz)} 至 {_local(hotspot.last_at, tz)}"
    head = (
        f"系统发现高频事项：{span} 共 {hotspot.size} 件相似案件（热度 {hotspot.heat:g}）。"
        f"关键词：{'、'.join(hotspot.keywords) or '无'}。成员案件："
    )
    # NOTE: the case is seen by everyone who may see its place: it names only the members its maker may see.
    other = f"另有 {seen.hidden_members} 件不在决定人的辖区内。" if seen.hidden_members else ""
    listed: list[str] = []
    for number in numbers:
        rest = len(numbers) - len(listed) - 1
        tail = f" 等 {rest + 1} 件" if rest else ""
        if len(head) + len("、".join([*listed, number])) + len(tail) + len(other) + 8 > limit:
            return head + "、".join(listed) + f" 等 {len(numbers) - len(listed)} 件。" + other
        listed.append(number)
    return head + ("、".join(listed) or "无") + "。" + other


def _case_point(*, db: Session, hotspot: Hotspot) -> tuple[float, float]:
    """Returns where the case of a located hotspot goes: its centre, or, should the centre fall outside every grid
    (members around a bend of the district's border), the member location nearest to it."""
    assert hotspot.lng is not None and hotspot.lat is not None
    if locate_service.get_index(db=db).locate(hotspot.lng, hotspot.lat).status == "inside" or not hotspot.locations:
        return hotspot.lng, hotspot.lat
    lng, lat = min(hotspot.locations, key=lambda p: distance_m(p[0], p[1], hotspot.lng, hotspot.lat))
    return lng, lat


def on_behalf(ctx: Context) -> Context:
    """Returns the system context that reports a hotspot's case for the user of `ctx` (channel `discovered` is the
    system's and the district centre's: a street dispatcher may escalate a hotspot, not report on that channel)."""
    actor = Actor(name=f"高频事项 escalated by {ctx.actor.name}"[:100], role=Role.system)
    return Context(actor=actor, now=ctx.now, calendar=ctx.calendar)


def escalate(*, db: Session, hotspot: Hotspot, ctx: Context, note: str | None = None) -> Case:
    """Turns an open hotspot into ONE supervised case (channel `discovered`); 409 when it is no longer open.

    The case is reported by the system on the user's behalf and then supervised (督办) by the user, so the case's
    log names who decided. Its title and description quote only what the user may see.
    """
    _require_open(hotspot)
    matter = db.get(MatterType, hotspot.matter_type_id) if hotspot.matter_type_id else None
    if matter is None:
        raise Invalid(f"hotspot {hotspot.id} has no matter type to report under", code="hotspot_without_matter")
    location: dict[str, Any]
    if hotspot.lng is not None and hotspot.lat is not None:
        location = dict(zip(("lng", "lat"), _case_point(db=db, hotspot=hotspot), strict=True))
    else:
        street = db.get(Area, hotspot.street_id) if hotspot.street_id else None
        if street is None:
            raise Invalid(f"hotspot {hotspot.id} has neither a centre nor a street to place the case", code="no_place")
        location = {"area_code": street.code}
    seen = views(db=db, actor=ctx.actor, rows=[hotspot])[0]
    title = f"高频事项：{seen.title}"
    report = CaseSubmit(
        channel=Channel.discovered,
        matter_type=matter.code,
        title=title if len(title) <= 200 else title[:199] + "…",
        description=case_description(seen, tz=ctx.calendar.tz),
        **location,
    )
    # NOTE: one key per hotspot: two dispatchers escalating it at the same moment make one case (the second
    # gets 409 from intake's idempotency check, or from the status check once the first has committed).
    result = intake_service.submit(db=db, report=report, ctx=on_behalf(ctx), idempotency_key=f"hotspot-{hotspot.id}")
    case = result.case
    if not result.created:
        raise Conflict(f"hotspot {hotspot.id} was already turned into case {case.number}", code="hotspot_decided")
    note = (note or "").strip() or f"高频事项督办：{hotspot.size} 件相似案件"
    case_service.supervise(db=db, case=case, ctx=ctx, note=note)
    _decide(hotspot, HotspotStatus.escalated, ctx, note)
    hotspot.case_id = case.id
    _audit(db, ctx.actor, "hotspot.escalate", hotspot, {"case": case.number, "case_id": case.id, "note": note})
    db.flush()
    return case


def dismiss(*, db: Session, hotspot: Hotspot, ctx: Context, note: str | None = None) -> Hotspot:
    """Marks an open hotspot as not a real one (忽略); later refreshes do not bring it back. 409 when decided."""
    _require_open(hotspot)
    note = (note or "").strip() or None
    _decide(hotspot, HotspotStatus.dismissed, ctx, note)
    _audit(db, ctx.actor, "hotspot.dismiss", hotspot, {"note": note})
    db.flush()
    return hotspot


def _audit(db: Session, actor: Actor, action: str, hotspot: Hotspot, detail: dict[str, Any]) -> None:
    record = AuditRecord.of(
        actor,
        action,
        target_type="triage_hotspot",
        target_id=str(hotspot.id),
        detail={"title": hotspot.title, "size": hotspot.size, **detail},
    )
    auth_service.add_audit(db=db, record=record)


# Area levels a role's scope may have for its holders to act for the whole district.
DISTRICT_LEVELS = frozenset({None, AreaLevel.district})


def district_wide(actor: Actor) -> bool:
    """Tells whether the actor decides hotspots for the whole district: a role with hotspot.decide whose scope is
    always the district or everything (district dispatcher, district leader), not a street's."""
    levels = auth_service.ROLE_SCOPE_LEVELS.get(actor.role)
    return can(actor, "hotspot.decide") and levels is not None and levels <= DISTRICT_LEVELS


def _decide(hotspot: Hotspot, status: HotspotStatus, ctx: Context, note: str | None) -> None:
    hotspot.status = status
    hotspot.decided_by_user_id = ctx.actor.user_id
    hotspot.details = {
        **(hotspot.details or {}),
        "decision": {"status": str(status), "by": ctx.actor.name, "at": ctx.now.isoformat(), "note": note},
    }
