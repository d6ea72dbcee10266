"""Grid workers' terminals (终端绑定): a phone is bound to one worker, and patrol reports come only from it.

A phone reporting for the first time is recorded as pending and refused with its device id, so the worker can
tell the administrator which phone to bind; a lost or replaced phone is revoked and refused from then on.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import clock
from gridgov.core.auth import AfterRequest
from gridgov.core.errors import Conflict, DomainError, Invalid, NotFoundError
from gridgov.domains.auth.enums import AuditAction, Role, TerminalStatus
from gridgov.domains.auth.models import Terminal, User
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.auth.service import write_audit

DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# The roles whose reports must come from a bound terminal.
BOUND_ROLES = frozenset({Role.grid_worker})
_SEEN_PRECISION = dt.timedelta(minutes=5)  # last_seen_at is written at most this often (no write per report)


class TerminalRefused(DomainError):
    """The report came from no terminal, or from one not bound to the reporter (403)."""

    status = 403
    code = "terminal_not_bound"


def check_device_id(device_id: str) -> str:
    """Returns the device id stripped, or raises Invalid when it is not 8-64 letters, digits or ._:-."""
    device_id = (device_id or "").strip()
    if not DEVICE_ID_RE.match(device_id):
        raise Invalid(
            "a device id is 8-64 characters: letters, digits and . _ : -", code="bad_device_id", field="device_id"
        )
    return device_id


def require_bound(
    *,
    db: Session,
    actor: Actor,
    device_id: str | None,
    after: AfterRequest | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Refuses (403) a report by a grid worker from a terminal not bound to them; a new phone becomes pending.

    The pending record is written through `after` (after the refused request's rollback), so the administrator
    finds the phone to bind. Roles that report from the console (dispatchers, leaders) are not bound.
    """
    if actor.role not in BOUND_ROLES or actor.user_id is None:
        return
    now = now or clock.now()
    if not device_id:
        raise TerminalRefused(
            "reports by grid workers must come from their bound phone: the request carries no device id "
            "(header X-Device-Id)",
            code="terminal_missing",
        )
    device_id = check_device_id(device_id)
    terminal = db.scalars(select(Terminal).where(Terminal.device_id == device_id)).first()
    if terminal is None:
        if after is not None:
            user_id = actor.user_id
            after.add(lambda tx: record_pending(db=tx, user_id=user_id, device_id=device_id, now=now))
        raise TerminalRefused(
            f"this phone (device {device_id}) is not bound to you yet: ask your administrator to bind it",
            device_id=device_id,
            status_of_terminal=str(TerminalStatus.pending),
        )
    if terminal.user_id != actor.user_id:
        raise TerminalRefused(
            f"this phone (device {device_id}) is bound to another worker; use your own phone or have it re-bound",
            device_id=device_id,
        )
    if terminal.status != TerminalStatus.active:
        message = (
            f"this phone (device {device_id}) was revoked on {terminal.revoked_at:%Y-%m-%d}; it may not report"
            if terminal.status == TerminalStatus.revoked and terminal.revoked_at
            else f"this phone (device {device_id}) is waiting to be bound by your administrator"
        )
        raise TerminalRefused(message, device_id=device_id, status_of_terminal=str(terminal.status))
    if terminal.last_seen_at is None or now - terminal.last_seen_at >= _SEEN_PRECISION:
        terminal.last_seen_at = now


def record_pending(*, db: Session, user_id: int, device_id: str, now: dt.datetime) -> Terminal:
    """Records a phone seen for the first time as pending for `user_id` (idempotent)."""
    found = db.scalars(select(Terminal).where(Terminal.device_id == device_id)).first()
    if found is None:
        found = Terminal(device_id=device_id, user_id=user_id, status=TerminalStatus.pending, requested_at=now)
        db.add(found)
        db.flush()
    return found


def list_terminals(*, db: Session, status: TerminalStatus | None = None, user_id: int | None = None) -> list[Terminal]:
    """Returns terminals, newest request first, optionally of one status or one worker."""
    stmt = select(Terminal).order_by(Terminal.requested_at.desc(), Terminal.id.desc())
    if status is not None:
        stmt = stmt.where(Terminal.status == status)
    if user_id is not None:
        stmt = stmt.where(Terminal.user_id == user_id)
    return list(db.scalars(stmt))


def get_terminal(*, db: Session, terminal_id: int) -> Terminal:
    """Returns the terminal with `terminal_id`, or raises NotFoundError."""
    terminal = db.get(Terminal, terminal_id)
    if terminal is None:
        raise NotFoundError(f"terminal {terminal_id} not found")
    return terminal


def bind(
    *,
    db: Session,
    actor: Actor,
    terminal: Terminal | None = None,
    user: User | None = None,
    device_id: str | None = None,
    label: str | None = None,
    source_address: str | None = None,
) -> Terminal:
    """Binds a pending terminal, or registers `device_id` for `user` and binds it at once; audited.

    A worker keeps one active terminal: binding a new phone revokes the previous one.
    """
    now = clock.now()
    if terminal is None:
        if user is None or device_id is None:
            raise Invalid("give a pending terminal, or a user and a device id", code="bad_request")
        device_id = check_device_id(device_id)
        terminal = db.scalars(select(Terminal).where(Terminal.device_id == device_id)).first()
        if terminal is None:
            terminal = Terminal(device_id=device_id, user_id=user.id, status=TerminalStatus.pending, requested_at=now)
            db.add(terminal)
        elif terminal.user_id != user.id:
            raise Conflict(
                f"device {device_id} is already recorded for another worker; revoke it there first",
                code="terminal_taken",
            )
    if terminal.status == TerminalStatus.revoked:
        raise Conflict(
            f"terminal {terminal.device_id} was revoked; a revoked phone is not bound again", code="terminal_revoked"
        )
    owner = db.get(User, terminal.user_id)
    if owner is None or owner.role not in BOUND_ROLES:
        raise Invalid("only grid workers' phones are bound", code="not_a_grid_worker")
    if terminal.status != TerminalStatus.active:
        for previous in db.scalars(
            select(Terminal).where(
                Terminal.user_id == terminal.user_id,
                Terminal.status == TerminalStatus.active,
                Terminal.id != terminal.id,
            )
        ):
            _revoke(db=db, terminal=previous, actor=actor, now=now, source_address=source_address, why="replaced")
        terminal.status, terminal.bound_at, terminal.bound_by = TerminalStatus.active, now, actor.user_id
    if label is not None:
        terminal.label = label.strip()[:100] or None
    db.flush()
    write_audit(
        db=db,
        actor=actor,
        action=AuditAction.terminal_bind,
        target_type="terminal",
        target_id=terminal.id,
        source_address=source_address,
        detail={"device_id": terminal.device_id, "user_id": terminal.user_id},
    )
    return terminal


def revoke(
    *,
    db: Session,
    actor: Actor,
    terminal: Terminal,
    source_address: str | None = None,
    why: str = "revoked",
    reason: str | None = None,
) -> Terminal:
    """Revokes a terminal (lost, replaced): reports from it are refused from now on; audited with `why` ("lost"
    for a phone reported lost) and the reason given."""
    if terminal.status != TerminalStatus.revoked:
        _revoke(
            db=db,
            terminal=terminal,
            actor=actor,
            now=clock.now(),
            source_address=source_address,
            why=why,
            reason=reason,
        )
        db.flush()
    return terminal


def _revoke(
    *,
    db: Session,
    terminal: Terminal,
    actor: Actor,
    now: dt.datetime,
    source_address: str | None,
    why: str,
    reason: str | None = None,
) -> None:
    terminal.status, terminal.revoked_at, terminal.revoked_by = TerminalStatus.revoked, now, actor.user_id
    detail: dict[str, object] = {"device_id": terminal.device_id, "user_id": terminal.user_id, "why": why}
    if reason:
        detail["reason"] = reason
    write_audit(
        db=db,
        actor=actor,
        action=AuditAction.terminal_revoke,
        target_type="terminal",
        target_id=terminal.id,
        source_address=source_address,
        detail=detail,
    )
