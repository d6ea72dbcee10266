"""The party organisation tree, members, partner organisations and the households 党员中心户 look after.

Every change to the tree — one organisation through the API or a whole file — goes through one planner
(`apply_orgs`) that checks the merged result (file or body plus database) before writing anything: codes, levels (a
child exactly one level below its parent, only a 街道党工委 without one), cycles, areas (known, of the right
level, inside the parent's areas) and the caller's area scope. A refused change raises InputError naming each bad
row and field, and writes nothing.

Scope: a user sees an organisation when its `area_path` lies in the user's area (a community secretary sees their
community's organisation and everything below it; a street user their street's tree), and a member when the
member's organisation is visible or the member is registered (双报到) with a community in the user's area. The
command line acts as OPERATOR, the server's operator, who is not limited by area.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, true
from sqlalchemy.orm import Session, selectinload

from gridgov.config import get_settings
from gridgov.core import clock, permissions
from gridgov.core.errors import Conflict, InputError, Invalid, Issue, NotFoundError
from gridgov.core.permissions import Scope
from gridgov.domains.areas.enums import LEVEL_LABELS_ZH, AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.catalog.models import Unit
from gridgov.domains.party.enums import (
    LEVEL_AREAS,
    LEVEL_KINDS,
    ORG_KIND_LABELS_ZH,
    ORG_LEVEL_LABELS_ZH,
    OrgLevel,
)
from gridgov.domains.party.models import (
    HouseholdLink,
    PartnerOrg,
    PartyMember,
    PartyOrg,
    Registration,
)
from gridgov.domains.party.schemas import (
    AreaRef,
    HouseholdCare,
    MemberCreate,
    MemberRead,
    MemberUpdate,
    OrgIn,
    OrgNode,
    OrgRead,
    OrgRef,
    OrgUpdate,
    PartnerOrgIn,
    PartnerOrgRead,
    PartnerRef,
    PartyTreeDocument,
    TreeImportReport,
)
from gridgov.domains.people.models import Household, Resident

OPERATOR = Actor(name="gridgov party (command line)", role=Role.system)
MAX_LINKED_HOUSEHOLDS = 10  # 党员中心户 look after 5-10 households nearby
MEMBER_ORG_LEVELS = frozenset({OrgLevel.street, OrgLevel.community, OrgLevel.grid, OrgLevel.building})
MAX_ID = 2**31 - 1


# --- scope -----------------------------------------------------------------------------------------------------


def scope_path(actor: Actor, action: str) -> str | None:
    """Returns the area path `action` is limited to for `actor` (None: everywhere); 403 when the role lacks it."""
    if actor.role == Role.system:
        return None  # the operator (command line, demo)
    scope = permissions.require(actor, action)
    return actor.scope_path if scope is Scope.area else None


def within(path: str | None, scope: str | None) -> bool:
    """Tells whether a row with area path `path` lies in the scope `scope` (None: everywhere)."""
    return scope is None or (path is not None and path.startswith(scope))


def in_scope(column: Any, scope: str | None) -> ColumnElement[bool]:
    """SQL condition: `column` (an area path) lies in `scope` (None: everywhere; a NULL path: nowhere scoped)."""
    if scope is None:
        return true()
    return column.startswith(scope, autoescape=True)


def is_id(value: int) -> bool:
    """Tells whether `value` can be a row id: a larger number would overflow the database's integer (a 500)."""
    return 0 < value <= MAX_ID


def today() -> dt.date:
    """Returns today's local date in the district's time zone."""
    return clock.now().astimezone(get_settings().tz).date()


def audit(
    db: Session,
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: str | int,
    source_address: str | None = None,
    **detail: Any,
) -> None:
    """Writes a party register change to the audit log, in the caller's transaction."""
    auth_service.write_audit(
        db=db,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        source_address=source_address,
        detail=detail,
    )


# --- organisations: reading --------------------------------------------------------------------------------------


def visible_orgs(actor: Actor, action: str = "party.view") -> ColumnElement[bool]:
    """SQL condition: the organisation lies in the actor's scope for `action`."""
    return in_scope(PartyOrg.area_path, scope_path(actor, action))


def list_orgs(*, db: Session, actor: Actor, level: OrgLevel | None = None, under: str | None = None) -> list[PartyOrg]:
    """Returns the organisations the actor may see, in tree order (by path); `under`: a subtree by its root code."""
    stmt = select(PartyOrg).where(visible_orgs(actor)).options(selectinload(PartyOrg.areas))
    if level is not None:
        stmt = stmt.where(PartyOrg.level == level)
    if under is not None:
        root = get_org(db=db, actor=actor, code=under)
        stmt = stmt.where(PartyOrg.path.startswith(root.path, autoescape=True))
    return list(db.scalars(stmt.order_by(PartyOrg.path)))


def get_org(*, db: Session, actor: Actor, code: str, action: str = "party.view") -> PartyOrg:
    """Returns the organisation `code` if the actor may see it (for `action`); 404 otherwise, like a missing one."""
    found = db.scalars(
        select(PartyOrg).where(PartyOrg.code == code, visible_orgs(actor, action)).options(selectinload(PartyOrg.areas))
    ).first()
    if found is None:
        raise NotFoundError(f"party organisation {code!r} not found")
    return found


def org_reads(*, db: Session, orgs: Sequence[PartyOrg]) -> list[OrgRead]:
    """Returns the read models of `orgs`, with parent codes and member counts (two queries for the lot)."""
    ids = [o.id for o in orgs]
    parents = {o.parent_id for o in orgs if o.parent_id is not None}
    parent_codes = (
        dict(db.execute(select(PartyOrg.id, PartyOrg.code).where(PartyOrg.id.in_(parents))).all()) if parents else {}
    )
    counts: dict[int, int] = {}
    if ids:
        stmt = (
            select(PartyMember.org_id, func.count())
            .where(PartyMember.org_id.in_(ids), PartyMember.left_on.is_(None))
            .group_by(PartyMember.org_id)
        )
        counts = {row[0]: row[1] for row in db.execute(stmt).all()}
    return [
        OrgRead(
            id=o.id,
            code=o.code,
            name=o.name,
            level=o.level,
            kind=o.kind,
            parent=parent_codes.get(o.parent_id) if o.parent_id else None,
            areas=[AreaRef(code=a.code, name=a.name, level=a.level) for a in o.areas],
            secretary=o.secretary,
            household_id=o.household_id,
            members=counts.get(o.id, 0),
        )
        for o in orgs
    ]


def get_tree(*, db: Session, actor: Actor) -> list[OrgNode]:
    """Returns the visible organisations as trees: each visible organisation whose parent is not visible is a root."""
    orgs = list_orgs(db=db, actor=actor)
    nodes = {o.id: OrgNode(**read.model_dump()) for o, read in zip(orgs, org_reads(db=db, orgs=orgs), strict=True)}
    roots: list[OrgNode] = []
    for org in orgs:  # ordered by path: a parent comes before its children
        node = nodes[org.id]
        parent = nodes.get(org.parent_id) if org.parent_id else None
        (parent.children if parent is not None else roots).append(node)
    return roots


def export_tree(*, db: Session, actor: Actor) -> PartyTreeDocument:
    """Returns the organisations the actor may see as a tree file (the layout `import_rows` reads back)."""
    orgs = list_orgs(db=db, actor=actor)
    reads = org_reads(db=db, orgs=orgs)
    return PartyTreeDocument(
        orgs=[
            OrgIn(
                code=r.code,
                name=r.name,
                level=r.level,
                kind=r.kind,
                parent=r.parent,
                areas=[a.code for a in r.areas],
                secretary=r.secretary,
                household_id=r.household_id,
            )
            for r in reads
        ]
    )


# --- organisations: the planner ----------------------------------------------------------------------------------


@dataclass
class _Node:
    """An organisation as it will be after the change: from the database, overridden by a file row or a body."""

    code: str
    name: str
    level: OrgLevel
    kind: Any
    parent: str | None
    areas: list[Area]
    secretary: str | None
    household_id: int | None
    row: PartyOrg | None = None
    where: str | None = None  # the file row or body that sets it (None: unchanged, from the database)
    area_path: str | None = None
    path: str = ""


@dataclass
class _Plan:
    nodes: dict[str, _Node] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    def add(self, node: _Node, message: str, column: str | None = None) -> None:
        self.issues.append(Issue(node.where or node.code, message, column))


def _level_name(level: OrgLevel) -> str:
    return f"{level.value} ({ORG_LEVEL_LABELS_ZH[level]})"


def _common_path(paths: Iterable[str]) -> str | None:
    """Returns the path of the deepest area containing all the areas with `paths` ("/a/b/" and "/a/c/" → "/a/")."""
    split = [[part for part in p.split("/") if part] for p in paths]
    if not split:
        return None
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/" + "".join(f"{c}/" for c in common) if common else None


def _load_nodes(db: Session) -> dict[str, _Node]:
    orgs = list(db.scalars(select(PartyOrg).options(selectinload(PartyOrg.areas))))
    codes = {o.id: o.code for o in orgs}
    return {
        o.code: _Node(
            code=o.code,
            name=o.name,
            level=o.level,
            kind=o.kind,
            parent=codes.get(o.parent_id) if o.parent_id else None,
            areas=list(o.areas),
            secretary=o.secretary,
            household_id=o.household_id,
            row=o,
            area_path=o.area_path,
            path=o.path,
        )
        for o in orgs
    }


def _cycle_of(plan: _Plan, node: _Node) -> list[str] | None:
    """Returns the codes of the loop when `node`'s parents lead back to it ("A → B → A"), else None."""
    seen: list[str] = [node.code]
    current = node
    while current.parent is not None and current.parent in plan.nodes:
        if current.parent == node.code:
            return [*seen, node.code]
        if current.parent in seen:
            return None  # a loop further up, reported on its own members
        seen.append(current.parent)
        current = plan.nodes[current.parent]
    return None


def _compute_paths(plan: _Plan) -> None:
    """Sets `path` and `area_path` of every node (parents first); nodes in a cycle keep what they had."""
    done: set[str] = set()

    def visit(node: _Node, stack: set[str]) -> None:
        if node.code in done or node.code in stack:
            return
        parent = plan.nodes.get(node.parent) if node.parent else None
        if parent is not None:
            visit(parent, stack | {node.code})
        own = _common_path(a.path for a in node.areas)
        node.area_path = own if node.areas else (parent.area_path if parent is not None else None)
        node.path = (parent.path if parent is not None else "/") + f"{node.code}/"
        done.add(node.code)

    for node in plan.nodes.values():
        visit(node, set())


def _check_household(db: Session, plan: _Plan, node: _Node, column: str = "household_id") -> None:
    if node.household_id is None:
        return
    if node.level != OrgLevel.household:
        plan.add(node, "only a 党员中心户 (level household) names its own household", column)
        return
    path = household_path(db=db, household_id=node.household_id)
    if path is False:
        plan.add(node, f"household {node.household_id} does not exist in the people register", column)
    elif node.areas and not any(str(path).startswith(a.path) for a in node.areas):
        plan.add(node, f"household {node.household_id} is not in the building(s) this 党员中心户 covers", column)
    elif not node.areas and node.area_path and not str(path).startswith(node.area_path):
        plan.add(node, f"household {node.household_id} lies outside this 党员中心户's area ({node.area_path})", column)


def apply_orgs(
    *,
    db: Session,
    actor: Actor,
    rows: Sequence[tuple[str, OrgIn]],
    source: str,
    creating_only: bool = False,
    action: str = "party.org.import",
    source_address: str | None = None,
) -> TreeImportReport:
    """Checks `rows` (where, organisation) merged with the database, then creates or updates them; writes nothing
    and raises InputError naming every bad row and field when any check fails."""
    scope = scope_path(actor, "party.manage")
    plan = _Plan(nodes=_load_nodes(db))
    before = {code: node.path for code, node in plan.nodes.items()}
    before_area_paths = {code: node.area_path for code, node in plan.nodes.items()}
    area_codes = {code for _, row in rows for code in row.areas}
    areas = {a.code: a for a in db.scalars(select(Area).where(Area.code.in_(area_codes)))} if area_codes else {}

    touched: list[_Node] = []
    seen_rows: dict[str, str] = {}
    for where, row in rows:
        if row.code in seen_rows:
            plan.issues.append(Issue(where, f"code {row.code!r} appears twice (also {seen_rows[row.code]})", "code"))
            continue
        seen_rows[row.code] = where
        existing = plan.nodes.get(row.code)
        if existing is not None and creating_only:
            raise Conflict(f"party organisation {row.code!r} already exists", code="org_exists")
        if existing is not None and existing.row is not None and not within(existing.row.area_path, scope):
            # NOTE: answered like any refused row, without saying what the organisation is.
            plan.issues.append(Issue(where, f"organisation {row.code!r} lies outside your area", "code"))
            continue
        kind = row.kind or LEVEL_KINDS[row.level][0]
        node = _Node(
            code=row.code,
            name=row.name,
            level=row.level,
            kind=kind,
            parent=row.parent,
            areas=[],
            secretary=row.secretary,
            household_id=row.household_id,
            row=existing.row if existing else None,
            where=where,
        )
        if kind not in LEVEL_KINDS[row.level]:
            allowed = ", ".join(f"{k.value} ({ORG_KIND_LABELS_ZH[k]})" for k in LEVEL_KINDS[row.level])
            plan.add(node, f"a {_level_name(row.level)} is a {allowed}, not {kind.value}", "kind")
        for code in row.areas:
            area = areas.get(code)
            if area is None:
                plan.add(node, f"unknown area {code!r}", "areas")
            elif area.level not in LEVEL_AREAS[row.level]:
                wanted = " or ".join(f"{lv.value} ({LEVEL_LABELS_ZH[lv]})" for lv in LEVEL_AREAS[row.level])
                message = (
                    f"area {code} ({area.name}) is a {area.level.value}; a {_level_name(row.level)} covers a {wanted}"
                )
                plan.add(node, message, "areas")
            else:
                node.areas.append(area)
        plan.nodes[row.code] = node
        touched.append(node)

    touched_codes = {n.code for n in touched}
    in_cycle: set[str] = set()
    for node in touched:
        cycle = _cycle_of(plan, node)
        if cycle is not None:
            plan.add(node, f"the parents make a cycle: {' → '.join(cycle)}", "parent")
            in_cycle.update(cycle)
    _compute_paths(plan)

    for node in touched:
        if node.code in in_cycle:
            continue
        expected = node.level.parent_level
        if node.parent is None:
            if expected is not None:
                plan.add(node, f"a {_level_name(node.level)} needs a parent: a {_level_name(expected)}", "parent")
            continue
        parent = plan.nodes.get(node.parent)
        visible_parent = parent is not None and (
            parent.where is not None
            or within(parent.area_path, scope)
            or (scope is not None and parent.area_path is not None and scope.startswith(parent.area_path))
        )
        if parent is None or not visible_parent:
            plan.add(node, f"unknown parent {node.parent!r} (not in the file nor in the register)", "parent")
            continue
        if expected is None:
            plan.add(node, f"a {_level_name(node.level)} is a root: it has no parent", "parent")
        elif parent.level != expected:
            message = (
                f"parent {parent.code} is a {_level_name(parent.level)}; a {_level_name(node.level)} sits directly "
                f"under a {_level_name(expected)}"
            )
            plan.add(node, message, "parent")

    # Children kept from the database must still fit under an organisation the change touches.
    for child in plan.nodes.values():
        if child.where is not None or child.parent not in touched_codes:
            continue
        parent = plan.nodes[child.parent]
        if parent.code in in_cycle:
            continue
        if child.level.parent_level != parent.level:
            plan.add(
                parent, f"its child {child.code} is a {_level_name(child.level)}, which cannot sit under it", "level"
            )

    for node in plan.nodes.values():
        if node.code in in_cycle or (node.where is None and node.parent not in touched_codes):
            continue
        parent = plan.nodes.get(node.parent) if node.parent else None
        if parent is None:
            continue
        for area in node.areas:
            if parent.areas:
                inside = any(area.path.startswith(p.path) for p in parent.areas)
                cover = ", ".join(p.code for p in parent.areas)
            else:
                inside = parent.area_path is None or area.path.startswith(parent.area_path)
                cover = parent.area_path or ""
            if not inside and node.where is not None:
                message = f"area {area.code} ({area.name}) lies outside the areas of its parent {parent.code} ({cover})"
                plan.add(node, message, "areas")
            elif not inside:
                message = (
                    f"its child {node.code} covers area {area.code} ({area.name}), outside the areas given ({cover})"
                )
                plan.add(parent, message, "areas")

    for node in touched:
        if node.code in in_cycle:
            continue
        _check_household(db, plan, node)
        if not within(node.area_path, scope):
            where_to = node.area_path or "no area"
            plan.add(
                node, f"the organisation would lie outside your area ({where_to}); give it areas in your area", "areas"
            )

    if plan.issues:
        raise InputError(plan.issues, f"{source}: nothing written")

    report = TreeImportReport()
    for node in sorted(touched, key=lambda n: n.level.depth):
        parent = plan.nodes.get(node.parent) if node.parent else None
        parent_id = parent.row.id if parent is not None and parent.row is not None else None
        values: dict[str, Any] = {
            "name": node.name,
            "level": node.level,
            "kind": node.kind,
            "parent_id": parent_id,
            "secretary": node.secretary,
            "household_id": node.household_id,
        }
        if node.row is None:
            node.row = PartyOrg(code=node.code, path=node.path, area_path=node.area_path, **values)
            node.row.areas = list(node.areas)
            db.add(node.row)
            db.flush()
            report.created.append(node.code)
            continue
        changed = False
        for name, value in values.items():
            if getattr(node.row, name) != value:
                setattr(node.row, name, value)
                changed = True
        if [a.id for a in node.row.areas] != [a.id for a in sorted(node.areas, key=lambda a: a.code)]:
            node.row.areas = sorted(node.areas, key=lambda a: a.code)
            changed = True
        if changed or before.get(node.code) != node.path or before_area_paths.get(node.code) != node.area_path:
            report.updated.append(node.code)
        else:
            report.unchanged.append(node.code)
    for node in plan.nodes.values():
        if node.row is None:
            continue
        if node.row.path != node.path:
            node.row.path = node.path
        if node.row.area_path != node.area_path:
            node.row.area_path = node.area_path
    db.flush()
    if report.created or report.updated:
        target = touched[0].code if len(touched) == 1 else source
        audit(
            db,
            actor,
            action,
            target_type="party_org",
            target_id=target,
            source_address=source_address,
            source=source,
            created=report.created,
            updated=report.updated,
        )
    return report


def create_org(*, db: Session, actor: Actor, data: OrgIn, source_address: str | None = None) -> PartyOrg:
    """Creates one organisation (checked like a file row); 409 when the code exists."""
    apply_orgs(
        db=db,
        actor=actor,
        rows=[("body", data)],
        source="new organisation",
        creating_only=True,
        action="party.org.create",
        source_address=source_address,
    )
    return get_org(db=db, actor=actor, code=data.code, action="party.manage")


def update_org(*, db: Session, actor: Actor, code: str, data: OrgUpdate, source_address: str | None = None) -> PartyOrg:
    """Changes an organisation's name, kind, parent, areas, secretary or household; the result is checked whole."""
    org = get_org(db=db, actor=actor, code=code, action="party.manage")
    given = data.model_fields_set
    parent_code = db.scalar(select(PartyOrg.code).where(PartyOrg.id == org.parent_id)) if org.parent_id else None
    merged = OrgIn(
        code=org.code,
        name=data.name if "name" in given and data.name else org.name,
        level=org.level,
        kind=data.kind if "kind" in given and data.kind else org.kind,
        parent=data.parent if "parent" in given else parent_code,
        areas=data.areas if "areas" in given and data.areas is not None else [a.code for a in org.areas],
        secretary=data.secretary if "secretary" in given else org.secretary,
        household_id=data.household_id if "household_id" in given else org.household_id,
    )
    apply_orgs(
        db=db,
        actor=actor,
        rows=[("body", merged)],
        source=f"organisation {code}",
        action="party.org.update",
        source_address=source_address,
    )
    db.refresh(org)
    return org


def delete_org(*, db: Session, actor: Actor, code: str, source_address: str | None = None) -> None:
    """Deletes an organisation without children, members or looked-after households (409 otherwise)."""
    org = get_org(db=db, actor=actor, code=code, action="party.manage")
    children = db.scalar(select(func.count()).where(PartyOrg.parent_id == org.id)) or 0
    members = (
        db.scalar(select(func.count()).where(or_(PartyMember.org_id == org.id, PartyMember.household_org_id == org.id)))
        or 0
    )
    links = db.scalar(select(func.count()).where(HouseholdLink.org_id == org.id)) or 0
    if children or members or links:
        held = [
            f"{n} {what}"
            for n, what in ((children, "child organisations"), (members, "members"), (links, "households"))
            if n
        ]
        raise Conflict(f"organisation {code} still has {', '.join(held)}: move or remove them first", code="org_in_use")
    db.delete(org)
    db.flush()
    audit(db, actor, "party.org.delete", target_type="party_org", target_id=code, source_address=source_address)


def import_document(
    *, db: Session, document: PartyTreeDocument, actor: Actor = OPERATOR, source: str = "document"
) -> TreeImportReport:
    """Imports a tree document (in memory, e.g. built by the demo): rows are named "orgs item N"."""
    rows = [(f"{source} orgs item {n} (code {o.code})", o) for n, o in enumerate(document.orgs, start=1)]
    return apply_orgs(db=db, actor=actor, rows=rows, source=source)


# --- partner organisations ---------------------------------------------------------------------------------------


def list_partner_orgs(*, db: Session, active_only: bool = False) -> list[PartnerOrg]:
    """Returns the partner organisations (no personal data: every party.view user may list them)."""
    stmt = select(PartnerOrg).options(selectinload(PartnerOrg.unit)).order_by(PartnerOrg.code)
    if active_only:
        stmt = stmt.where(PartnerOrg.is_active)
    return list(db.scalars(stmt))


def get_partner_org(*, db: Session, code: str) -> PartnerOrg:
    """Returns the partner organisation `code`, or raises NotFoundError."""
    found = db.scalars(select(PartnerOrg).where(PartnerOrg.code == code)).first()
    if found is None:
        raise NotFoundError(f"partner organisation {code!r} not found")
    return found


def partner_read(org: PartnerOrg) -> PartnerOrgRead:
    """Returns the read model of a partner organisation."""
    return PartnerOrgRead(
        id=org.id,
        code=org.code,
        name=org.name,
        unit=org.unit.code if org.unit is not None else None,
        secretary=org.secretary,
        is_active=org.is_active,
    )


def _unit_id(db: Session, code: str | None) -> int | None:
    if code is None:
        return None
    unit_id = db.scalar(select(Unit.id).where(Unit.code == code))
    if unit_id is None:
        raise InputError([Issue("body", f"unknown unit {code!r} (not in the catalogue)", "unit")], "not saved")
    return unit_id


def save_partner_org(
    *, db: Session, actor: Actor, data: PartnerOrgIn, source_address: str | None = None
) -> tuple[PartnerOrg, bool]:
    """Creates or replaces the partner organisation `data.code`; returns it and whether it was created."""
    scope_path(actor, "party.manage")
    unit_id = _unit_id(db, data.unit)
    row = db.scalars(select(PartnerOrg).where(PartnerOrg.code == data.code)).first()
    created = row is None
    if row is None:
        row = PartnerOrg(code=data.code)
        db.add(row)
    row.name, row.unit_id, row.secretary, row.is_active = data.name, unit_id, data.secretary, data.is_active
    db.flush()
    db.refresh(row)
    action = "party.partner_org.create" if created else "party.partner_org.update"
    audit(db, actor, action, target_type="party_partner_org", target_id=data.code, source_address=source_address)
    return row, created


# --- members -----------------------------------------------------------------------------------------------------


def visible_members(actor: Actor, action: str = "party.view") -> ColumnElement[bool]:
    """SQL condition: the member's organisation is in the actor's scope, or the member is registered (双报到, at
    any time) with a community in it."""
    scope = scope_path(actor, action)
    if scope is None:
        return true()
    in_org = PartyMember.org_id.in_(select(PartyOrg.id).where(in_scope(PartyOrg.area_path, scope)))
    registered = exists().where(Registration.member_id == PartyMember.id, in_scope(Registration.area_path, scope))
    return or_(in_org, registered)


def _member_options(stmt: Select[Any]) -> Select[Any]:
    return stmt.options(
        selectinload(PartyMember.org), selectinload(PartyMember.partner_org), selectinload(PartyMember.household_org)
    )


def list_members(
    *,
    db: Session,
    actor: Actor,
    org: str | None = None,
    name: str | None = None,
    in_service: bool | None = None,
    include_left: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[PartyMember], int]:
    """Returns a page of the members the actor may see (by name), and how many match; `org`: its whole subtree."""
    conditions: list[ColumnElement[bool]] = [visible_members(actor)]
    if org is not None:
        root = get_org(db=db, actor=actor, code=org)
        subtree = select(PartyOrg.id).where(PartyOrg.path.startswith(root.path, autoescape=True))
        conditions.append(PartyMember.org_id.in_(subtree))
    if name:
        conditions.append(PartyMember.name.contains(name.strip(), autoescape=True))
    if in_service is not None:
        conditions.append(PartyMember.in_service.is_(in_service))
    if not include_left:
        conditions.append(PartyMember.left_on.is_(None))
    total = db.scalar(select(func.count()).select_from(PartyMember).where(*conditions)) or 0
    stmt = select(PartyMember).where(*conditions).order_by(PartyMember.name, PartyMember.id)
    return list(db.scalars(_member_options(stmt).offset(offset).limit(limit))), total


def get_member(*, db: Session, actor: Actor, member_id: int, action: str = "party.view") -> PartyMember:
    """Returns the member if the actor may see it (for `action`); 404 otherwise, like a missing one."""
    stmt = select(PartyMember).where(PartyMember.id == member_id, visible_members(actor, action))
    found = db.scalars(_member_options(stmt)).first() if is_id(member_id) else None
    if found is None:
        raise NotFoundError(f"party member {member_id} not found")
    return found


def member_read(member: PartyMember) -> MemberRead:
    """Returns the read model of a member."""
    return MemberRead(
        id=member.id,
        name=member.name,
        org=OrgRef.model_validate(member.org) if member.org is not None else None,
        partner_org=PartnerRef.model_validate(member.partner_org) if member.partner_org is not None else None,
        joined_on=member.joined_on,
        status=member.status,
        in_service=member.in_service,
        employer=member.employer,
        household_org=OrgRef.model_validate(member.household_org) if member.household_org is not None else None,
        resident_id=member.resident_id,
        left_on=member.left_on,
    )


def _member_org(db: Session, actor: Actor, code: str, issues: list[Issue], column: str = "org") -> PartyOrg | None:
    org = db.scalars(select(PartyOrg).where(PartyOrg.code == code)).first()
    scope = scope_path(actor, "party.manage")
    if org is None:
        issues.append(Issue("body", f"unknown party organisation {code!r}", column))
        return None
    if not within(org.area_path, scope):
        issues.append(Issue("body", f"organisation {code} lies outside your area", column))
        return None
    return org


def _check_member(
    db: Session,
    actor: Actor,
    member: PartyMember,
    *,
    org: str | None,
    partner_org: str | None,
    household_org: str | None,
    org_given: bool,
    household_given: bool,
) -> None:
    """Resolves the codes of a member's organisations onto `member` and checks the whole; InputError naming fields."""
    issues: list[Issue] = []
    if org_given:
        if org is not None and partner_org is not None:
            issues.append(Issue("body", "give the organisation (org) or the partner organisation, not both", "org"))
        elif org is not None:
            found = _member_org(db, actor, org, issues)
            if found is not None and found.level not in MEMBER_ORG_LEVELS:
                issues.append(Issue("body", f"{org} is a 党员中心户; a membership is held by a branch or group", "org"))
            elif found is not None:
                member.org, member.org_id, member.partner_org, member.partner_org_id = found, found.id, None, None
        elif partner_org is not None:
            found_partner = db.scalars(select(PartnerOrg).where(PartnerOrg.code == partner_org)).first()
            if found_partner is None:
                issues.append(Issue("body", f"unknown partner organisation {partner_org!r}", "partner_org"))
            else:
                member.partner_org, member.partner_org_id, member.org, member.org_id = (
                    found_partner,
                    found_partner.id,
                    None,
                    None,
                )
        else:
            issues.append(Issue("body", "a member belongs to a party organisation: give org (or partner_org)", "org"))
    if household_given:
        if household_org is None:
            member.household_org, member.household_org_id = None, None
        else:
            found = _member_org(db, actor, household_org, issues, "household_org")
            if found is not None and found.level != OrgLevel.household:
                issues.append(Issue("body", f"{household_org} is not a 党员中心户 (level household)", "household_org"))
            elif found is not None:
                member.household_org, member.household_org_id = found, found.id
    if member.household_org is not None:
        if member.org is None:
            issues.append(Issue("body", "a member of a partner organisation forms no 党员中心户 here", "household_org"))
        elif not member.household_org.path.startswith(member.org.path):
            message = f"党员中心户 {member.household_org.code} is not under the member's organisation {member.org.code}"
            issues.append(Issue("body", message, "household_org"))
    if member.partner_org_id is not None and not member.in_service:
        issues.append(Issue("body", "a member of a unit's party organisation is in service (在职)", "in_service"))
    if member.in_service and not member.employer:
        issues.append(Issue("body", "an in-service member (在职党员) needs the employer", "employer"))
    now = today()
    if member.joined_on > now:
        issues.append(Issue("body", f"the joining date {member.joined_on} is in the future", "joined_on"))
    if member.left_on is not None and (member.left_on < member.joined_on or member.left_on > now):
        issues.append(Issue("body", f"left_on {member.left_on} must lie between joined_on and today", "left_on"))
    if member.resident_id is not None:
        _check_resident(db, actor, member, issues)
    if issues:
        raise InputError(issues, "member not saved")


def _check_resident(db: Session, actor: Actor, member: PartyMember, issues: list[Issue]) -> None:
    assert member.resident_id is not None
    path = resident_path(db=db, resident_id=member.resident_id)
    scope = scope_path(actor, "party.manage")
    if path is False or not within(str(path), scope):
        # NOTE: one message for a missing resident and one outside the caller's area: ids are not probed.
        issues.append(Issue("body", f"resident {member.resident_id} not found in your area", "resident_id"))
        return
    taken = db.scalar(
        select(PartyMember.id).where(PartyMember.resident_id == member.resident_id, PartyMember.id != member.id)
    )
    if taken is not None:
        issues.append(Issue("body", f"resident {member.resident_id} is already member {taken}", "resident_id"))


def create_member(
    *, db: Session, actor: Actor, data: MemberCreate, source_address: str | None = None, via_registration: bool = False
) -> PartyMember:
    """Adds a member to an organisation in the actor's area (a partner organisation's member only through their
    registration, `via_registration`, unless the actor is unrestricted)."""
    scope = scope_path(actor, "party.manage")
    if data.partner_org is not None and scope is not None and not via_registration:
        message = (
            "a member of a unit's party organisation is added with their registration at your community: "
            "POST /api/v1/party/registrations with kind member and the new member"
        )
        raise Invalid(message, code="register_partner_member", field="partner_org")
    member = PartyMember(
        name=data.name,
        joined_on=data.joined_on,
        status=data.status,
        in_service=data.in_service,
        employer=data.employer,
        resident_id=data.resident_id,
    )
    _check_member(
        db,
        actor,
        member,
        org=data.org,
        partner_org=data.partner_org,
        household_org=data.household_org,
        org_given=True,
        household_given=data.household_org is not None,
    )
    db.add(member)
    db.flush()
    audit(
        db, actor, "party.member.create", target_type="party_member", target_id=member.id, source_address=source_address
    )
    return member


def update_member(
    *, db: Session, actor: Actor, member_id: int, data: MemberUpdate, source_address: str | None = None
) -> PartyMember:
    """Changes a member the actor may manage; a move to another organisation must stay in the actor's area."""
    member = get_member(db=db, actor=actor, member_id=member_id, action="party.manage")
    given = data.model_fields_set
    changed = sorted(given)
    for name in ("name", "joined_on", "status", "in_service"):
        value = getattr(data, name)
        if name in given and value is not None:
            setattr(member, name, value)
    for name in ("employer", "resident_id", "left_on"):
        if name in given:
            setattr(member, name, getattr(data, name))
    if "org" in given and data.org is None:
        raise InputError([Issue("body", "a member belongs to a party organisation: org cannot be empty", "org")])
    _check_member(
        db,
        actor,
        member,
        org=data.org,
        partner_org=None,
        household_org=data.household_org,
        org_given="org" in given,
        household_given="household_org" in given,
    )
    db.flush()
    audit(
        db,
        actor,
        "party.member.update",
        target_type="party_member",
        target_id=member.id,
        source_address=source_address,
        fields=changed,
    )
    return member


# --- 党员中心户 and the households they look after ---------------------------------------------------------------


def household_path(*, db: Session, household_id: int) -> str | bool:
    """Returns the area path of a household's building, or False when there is no such household."""
    if not 0 < household_id < 2**31:
        return False
    path = db.scalar(select(Household.area_path).where(Household.id == household_id))
    return False if path is None else path


def resident_path(*, db: Session, resident_id: int) -> str | bool:
    """Returns the area path of a resident's household building, or False when there is no such resident."""
    if not 0 < resident_id < 2**31:
        return False
    path = db.scalar(
        select(Household.area_path)
        .join(Resident, Resident.household_id == Household.id)
        .where(Resident.id == resident_id)
    )
    return False if path is None else path


def _neighbourhood(db: Session, org: PartyOrg) -> str | None:
    """Returns the path a 党员中心户's households must lie in: the grid containing its area (its own area when it
    covers none deeper), else its area path."""
    path = org.area_path
    if path is None:
        return None
    parts = [p for p in path.split("/") if p]
    codes = ["/" + "".join(f"{c}/" for c in parts[: i + 1]) for i in range(len(parts))]
    grid = db.scalar(select(Area.path).where(Area.path.in_(codes), Area.level == AreaLevel.grid))
    return grid or path


def list_household_links(*, db: Session, actor: Actor, code: str) -> list[HouseholdLink]:
    """Returns the households a visible 党员中心户 looks after."""
    org = get_org(db=db, actor=actor, code=code)
    stmt = select(HouseholdLink).where(HouseholdLink.org_id == org.id).order_by(HouseholdLink.household_id)
    return list(db.scalars(stmt.options(selectinload(HouseholdLink.org))))


def link_households(
    *, db: Session, actor: Actor, code: str, household_ids: Sequence[int], source_address: str | None = None
) -> list[HouseholdLink]:
    """Links households to a 党员中心户 in the actor's area: each must exist, lie in its grid, and not be looked
    after by another one; at most MAX_LINKED_HOUSEHOLDS each. Returns all its links."""
    org = get_org(db=db, actor=actor, code=code, action="party.manage")
    if org.level != OrgLevel.household:
        raise Invalid(f"{code} is a {_level_name(org.level)}; only a 党员中心户 looks after households", field="code")
    issues: list[Issue] = []
    neighbourhood = _neighbourhood(db, org)
    existing = {link.household_id for link in list_household_links(db=db, actor=actor, code=code)}
    taken = dict(
        db.execute(
            select(HouseholdLink.household_id, PartyOrg.code)
            .join(PartyOrg, PartyOrg.id == HouseholdLink.org_id)
            .where(
                HouseholdLink.household_id.in_([h for h in household_ids if is_id(h)]), HouseholdLink.org_id != org.id
            )
        ).all()
    )
    new: list[int] = []
    seen: set[int] = set()
    for index, household_id in enumerate(household_ids):
        where = f"household_ids[{index}]"
        if household_id in seen:
            issues.append(Issue(where, f"household {household_id} is listed twice", "household_ids"))
            continue
        seen.add(household_id)
        if household_id in existing:
            continue
        path = household_path(db=db, household_id=household_id)
        if path is False:
            issues.append(Issue(where, f"household {household_id} does not exist", "household_ids"))
        elif household_id == org.household_id:
            issues.append(Issue(where, f"household {household_id} is the 党员中心户's own household", "household_ids"))
        elif neighbourhood is not None and not str(path).startswith(neighbourhood):
            area_code = neighbourhood.rstrip("/").rsplit("/", 1)[-1]
            message = f"household {household_id} lives outside {area_code}, the area of {code}: link households nearby"
            issues.append(Issue(where, message, "household_ids"))
        elif household_id in taken:
            issues.append(
                Issue(
                    where, f"household {household_id} is already looked after by {taken[household_id]}", "household_ids"
                )
            )
        else:
            new.append(household_id)
    if len(existing) + len(new) > MAX_LINKED_HOUSEHOLDS:
        message = (
            f"a 党员中心户 looks after at most {MAX_LINKED_HOUSEHOLDS} households; {code} has {len(existing)} "
            f"and {len(new)} would be added"
        )
        issues.append(Issue("household_ids", message, "household_ids"))
    if issues:
        raise InputError(issues, "no household linked")
    now = clock.now()
    for household_id in new:
        db.add(HouseholdLink(org_id=org.id, household_id=household_id, linked_at=now, linked_by_user_id=actor.user_id))
    db.flush()
    if new:
        audit(
            db,
            actor,
            "party.household.link",
            target_type="party_org",
            target_id=code,
            source_address=source_address,
            household_ids=new,
        )
    return list_household_links(db=db, actor=actor, code=code)


def unlink_household(
    *, db: Session, actor: Actor, code: str, household_id: int, source_address: str | None = None
) -> None:
    """Removes a household from a 党员中心户's list (404 when it is not on it)."""
    org = get_org(db=db, actor=actor, code=code, action="party.manage")
    link = (
        db.scalars(
            select(HouseholdLink).where(HouseholdLink.org_id == org.id, HouseholdLink.household_id == household_id)
        ).first()
        if is_id(household_id)
        else None
    )
    if link is None:
        raise NotFoundError(f"household {household_id} is not looked after by {code}")
    db.delete(link)
    db.flush()
    audit(
        db,
        actor,
        "party.household.unlink",
        target_type="party_org",
        target_id=code,
        source_address=source_address,
        household_ids=[household_id],
    )


def household_care(*, db: Session, actor: Actor, household_id: int) -> HouseholdCare:
    """Returns which visible 党员中心户 looks after a household, and which one it forms itself (if any)."""
    visible = visible_orgs(actor)
    if not is_id(household_id):
        return HouseholdCare(household_id=household_id, looked_after_by=None, forms=None)
    carer = db.scalars(
        select(PartyOrg)
        .join(HouseholdLink, HouseholdLink.org_id == PartyOrg.id)
        .where(HouseholdLink.household_id == household_id, visible)
    ).first()
    forms = db.scalars(select(PartyOrg).where(PartyOrg.household_id == household_id, visible)).first()
    return HouseholdCare(
        household_id=household_id,
        looked_after_by=OrgRef.model_validate(carer) if carer is not None else None,
        forms=OrgRef.model_validate(forms) if forms is not None else None,
    )


def households_cared(*, db: Session, actor: Actor, household_ids: Sequence[int]) -> dict[int, OrgRef]:
    """Returns, for each of `household_ids` looked after by a visible 党员中心户, that 党员中心户 (one query)."""
    if not household_ids:
        return {}
    rows = db.execute(
        select(HouseholdLink.household_id, PartyOrg)
        .join(PartyOrg, PartyOrg.id == HouseholdLink.org_id)
        .where(HouseholdLink.household_id.in_(list(household_ids)), visible_orgs(actor))
    ).all()
    return {household_id: OrgRef.model_validate(org) for household_id, org in rows}
