"""Tables of the auth domain: users, browser sessions, API tokens and the append-only audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.core.db import Base
from gridgov.core.models import PortableJSON, TimestampMixin, UTCDateTime
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.enums import AuditOutcome, Role, TerminalStatus, TokenKind
from gridgov.domains.catalog.models import Unit


def _enum(cls: type) -> Enum:
    return Enum(cls, native_enum=False, length=24)


class User(TimestampMixin, Base):
    """A person (or a machine account) who uses gridgov: a role, a unit, and an area scope they may see.

    `scope_area_id` is the root of the subtree the user works in; NULL means the whole deployment, which only
    district-level roles, the administrator and the auditor may have. Users are disabled, never deleted, so
    the audit log and case events keep pointing at them.
    """

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(_enum(Role), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    scope_area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # NULL: cannot log in (token-only account)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # consecutive, reset by a successful login
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    unit: Mapped[Unit | None] = relationship()
    scope_area: Mapped[Area | None] = relationship()


class WebSession(Base):
    """A logged-in browser: the cookie holds a random value, the table only its SHA-256 (a leak gives no logins).

    A session ends when revoked (logout, password change, user disabled), after a period without requests, or
    at `expires_at` whatever happens.
    """

    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie value
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    source_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token for the REST API, personal or for a machine; stored as a keyed hash, shown only once.

    `prefix` is the public first part of the token, used to find the row; the rest is checked against `hash`.
    """

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[TokenKind] = mapped_column(_enum(TokenKind))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # minute precision (rate-limited)

    user: Mapped[User] = relationship()


class AuditEntry(Base):
    """One line of the audit log (审计日志): who did or tried what, to which target, when, from where, and why.

    Rows are never updated or deleted (database triggers refuse it). `actor_name` is a copy taken at the time,
    so the entry stays readable whatever happens to the user later; a failed login by an unknown username has
    no `actor_user_id` and that username as `actor_name`.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    actor_name: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[Role | None] = mapped_column(_enum(Role))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(200))
    source_address: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[AuditOutcome] = mapped_column(_enum(AuditOutcome))
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)


class Terminal(Base):
    """A grid worker's phone (终端), bound to one worker: patrol reports from any other device are refused.

    A phone that a worker uses for the first time is recorded as `pending`; an administrator (or the street
    centre) binds it, and revokes it when the phone is lost or replaced. `device_id` is the id the phone sends
    (the mobile pages keep a random one in a cookie; an app sends its own).
    """

    __tablename__ = "terminal"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    label: Mapped[str | None] = mapped_column(String(100))  # "华为 Mate 60 (张三)"
    status: Mapped[TerminalStatus] = mapped_column(_enum(TerminalStatus), index=True)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    bound_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    bound_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="RESTRICT"))
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(foreign_keys=[user_id])
