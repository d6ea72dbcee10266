"""Reporting a phone lost (终端挂失): the worker themself, or a staff manager of the worker's area, revokes it at
once with the reason; the owner's browser sessions end too, so a finder holding a logged-in phone sees nothing.

The binding itself stays with auth.terminals (bind, revoke); this adds who may report a loss and the record of
it. A revoked phone is never bound again: the worker's new phone is bound by the administrator (终端绑定).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, joinedload

from gridgov.core import clock
from gridgov.core.errors import Conflict, Forbidden, Invalid, NotFoundError
from gridgov.core.permissions import scope_of
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth import terminals
from gridgov.domains.auth.enums import TerminalStatus
from gridgov.domains.auth.models import Terminal, User
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.staff import service
from gridgov.domains.staff.models import Assignment, StaffMember, TerminalLoss

MAX_ID = service.MAX_ID


def _managed_user_ids(actor: Actor) -> ColumnElement[bool]:
    """Returns the condition on User.id: the users whose scope area, or a current post, lies in the actor's area."""
    path = actor.scope_path or ""
    held = (
        select(StaffMember.user_id)
        .join(Assignment, Assignment.member_id == StaffMember.id)
        .where(
            StaffMember.user_id.is_not(None),
            service.current_condition(service.today()),
            Assignment.area_path.startswith(path, autoescape=True),
        )
    )
    scoped = (
        select(User.id).join(Area, Area.id == User.scope_area_id).where(Area.path.startswith(path, autoescape=True))
    )
    return or_(User.id.in_(held), User.id.in_(scoped))


def may_manage(actor: Actor) -> bool:
    """Tells whether the actor reports other workers' phones lost (staff.manage)."""
    return scope_of(actor, "staff.manage") is not None


def list_phones(*, db: Session, actor: Actor, include_revoked: bool = True) -> list[Terminal]:
    """Returns the actor's own phones and, for a staff manager, the phones of the workers of its area."""
    stmt = select(Terminal).join(User, User.id == Terminal.user_id).options(joinedload(Terminal.user))
    own = Terminal.user_id == (actor.user_id or 0)
    if not may_manage(actor):
        stmt = stmt.where(own)
    elif actor.scope_path:
        stmt = stmt.where(or_(own, _managed_user_ids(actor)))
    if not include_revoked:
        stmt = stmt.where(Terminal.status != TerminalStatus.revoked)
    return list(db.scalars(stmt.order_by(User.display_name, Terminal.requested_at.desc(), Terminal.id.desc())))


def get_phone(*, db: Session, actor: Actor, terminal_id: int) -> Terminal:
    """Returns a phone the actor may report lost (its own, or a worker's of its area); NotFoundError otherwise."""
    terminal = db.get(Terminal, terminal_id) if 0 < terminal_id <= MAX_ID else None
    if terminal is None:
        raise NotFoundError(f"terminal {terminal_id} not found")
    if terminal.user_id == actor.user_id:
        return terminal
    if may_manage(actor):
        if actor.scope_path is None:
            return terminal
        managed = db.scalar(select(User.id).where(User.id == terminal.user_id, _managed_user_ids(actor)))
        if managed is not None:
            return terminal
    raise NotFoundError(f"terminal {terminal_id} not found")


def report_lost(
    *,
    db: Session,
    actor: Actor,
    terminal: Terminal,
    reason: str,
    keep_session: str | None = None,
    source_address: str | None = None,
) -> TerminalLoss:
    """Revokes a lost phone at once with the reason, ends its owner's browser sessions (all but `keep_session`,
    the reporter's own current one), and records the loss; the revocation is audited."""
    if actor.user_id is None:
        raise Forbidden("a lost phone is reported by a signed-in user", code="loss_needs_user")
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise Invalid("say what happened to the phone (lost, stolen ...)", code="reason_required", field="reason")
    if terminal.status == TerminalStatus.revoked:
        when = f" on {terminal.revoked_at:%Y-%m-%d}" if terminal.revoked_at else ""
        raise Conflict(f"phone {terminal.device_id} was revoked already{when}", code="terminal_revoked")
    now = clock.now()
    terminals.revoke(
        db=db, actor=actor, terminal=terminal, source_address=source_address, why="lost", reason=reason[:1000]
    )
    keep = keep_session if terminal.user_id == actor.user_id else None
    ended = auth_service.revoke_sessions(db=db, user_id=terminal.user_id, now=now, keep=keep)
    loss = TerminalLoss(
        terminal_id=terminal.id,
        user_id=terminal.user_id,
        device_id=terminal.device_id,
        reason=reason[:1000],
        reported_at=now,
        reported_by_user_id=actor.user_id,
        reported_by_name=actor.name[:100],
        sessions_ended=ended,
    )
    db.add(loss)
    db.flush()
    return loss


def list_losses(*, db: Session, actor: Actor, limit: int = 50) -> list[TerminalLoss]:
    """Returns the lost reports of the phones the actor may see, newest first."""
    stmt = select(TerminalLoss).join(User, User.id == TerminalLoss.user_id).options(joinedload(TerminalLoss.user))
    own = TerminalLoss.user_id == (actor.user_id or 0)
    if may_manage(actor):
        if actor.scope_path:
            stmt = stmt.where(or_(own, _managed_user_ids(actor)))
    else:
        stmt = stmt.where(own)
    return list(db.scalars(stmt.order_by(TerminalLoss.reported_at.desc(), TerminalLoss.id.desc()).limit(limit)))
