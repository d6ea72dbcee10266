"""Shapes of the auth domain: the acting user, audit records, and the API bodies of users, tokens and the log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gridgov.domains.auth.enums import AuditOutcome, Role, TerminalStatus, TokenKind, TokenScope


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a user (with role, unit and area scope) or the system. Services check rules against it."""

    name: str
    role: Role
    user_id: int | None = None
    unit_id: int | None = None
    scope_path: str | None = None  # area subtree the actor may see; None = the whole deployment


SYSTEM_ACTOR = Actor(name="system", role=Role.system)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit entry before it is stored: what was attempted, by whom, on what, with which outcome."""

    action: str
    outcome: AuditOutcome = AuditOutcome.ok
    actor_user_id: int | None = None
    actor_name: str = "anonymous"
    actor_role: Role | None = None
    target_type: str | None = None
    target_id: str | None = None
    purpose: str | None = None
    source_address: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    occurred_at: dt.datetime | None = None  # None: the time it is written

    @classmethod
    def of(cls, actor: Actor | None, action: str, **values: Any) -> AuditRecord:
        """Returns a record of `action` by `actor` (None: anonymous)."""
        if actor is None:
            return cls(action=action, **values)
        return cls(action=action, actor_user_id=actor.user_id, actor_name=actor.name, actor_role=actor.role, **values)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request: the user as an Actor, and how they proved who they are."""

    actor: Actor
    username: str
    via: Literal["session", "token"]
    session_id: str | None = None  # the web session (its stored id), for logout
    csrf_token: str | None = None
    token_id: int | None = None
    token_scopes: frozenset[str] | None = None  # None: a browser session, limited by the role only
    source_address: str | None = None

    @property
    def user_id(self) -> int:
        assert self.actor.user_id is not None
        return self.actor.user_id


class AuthBase(BaseModel):
    """Base of read models: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


# Users: UserCreate is the body of POST /users; UserRead what every listing and /auth/me return.
class UserCreate(BaseModel):
    """A new user: role, unit (code) and area scope (code) decide what they may see and do."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=100)
    role: Role
    unit: str | None = Field(None, description="Code of the user's unit (required except for citizens).")
    scope: str | None = Field(None, description="Code of the area the user works in; empty = whole deployment.")
    password: str | None = Field(None, max_length=200, description="Initial password; empty = token-only account.")


class UserRead(AuthBase):
    """A user as administrators and the user themself see it (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: Role
    unit_id: int | None
    unit_code: str | None = None
    unit_name: str | None = None
    scope_area_id: int | None
    scope_code: str | None = None
    scope_name: str | None = None
    is_active: bool
    is_locked: bool = False
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None
    password_changed_at: dt.datetime | None
    created_at: dt.datetime


class UserPage(BaseModel):
    """One page of users."""

    items: list[UserRead]
    total: int
    offset: int
    limit: int


class LoginRequest(BaseModel):
    """Credentials of POST /auth/login."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class Me(BaseModel):
    """The caller: who they are, how they are authenticated, and what their role lets them do (action → scope)."""

    user: UserRead
    via: Literal["session", "token"]
    csrf_token: str | None = None
    session_expires_at: dt.datetime | None = None
    token_scopes: list[str] | None = None
    permissions: dict[str, str]


class PasswordChange(BaseModel):
    """Body of POST /auth/password: the current password proves it is the user, not someone at their desk."""

    model_config = ConfigDict(extra="forbid")

    old_password: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=1, max_length=1000)


# Tokens: TokenCreate is the request, TokenCreated the one answer that shows the secret, TokenRead the rest.
class TokenCreate(BaseModel):
    """A new personal API token."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[TokenScope] = Field(min_length=1)
    expires_days: int | None = Field(None, ge=1, le=3650, description="Days until it expires (default 90).")


class TokenRead(AuthBase):
    """An API token without its secret."""

    id: int
    name: str
    kind: TokenKind
    prefix: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class TokenCreated(TokenRead):
    """A token just created: `token` is shown this once and cannot be recovered."""

    token: str


class AuditEntryRead(AuthBase):
    """One line of the audit log."""

    id: int
    occurred_at: dt.datetime
    actor_user_id: int | None
    actor_name: str
    actor_role: Role | None
    action: str
    target_type: str | None
    target_id: str | None
    purpose: str | None
    source_address: str | None
    outcome: AuditOutcome
    detail: dict[str, Any]


class AuditPage(BaseModel):
    """One page of the audit log, newest first."""

    items: list[AuditEntryRead]
    total: int
    offset: int
    limit: int


class TerminalRead(AuthBase):
    """A grid worker's phone and where its binding stands."""

    id: int
    device_id: str
    user_id: int
    username: str | None = None
    label: str | None
    status: TerminalStatus
    requested_at: dt.datetime
    bound_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_seen_at: dt.datetime | None


class TerminalBind(BaseModel):
    """Registers and binds a phone for a grid worker in one step (the device id as the phone shows it)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    device_id: str = Field(min_length=8, max_length=64)
    label: str | None = Field(None, max_length=100)
