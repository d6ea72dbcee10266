"""JSON API of accounts: login and logout, the caller, password, API tokens, users and terminals (admin), audit log
(auditor)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from gridgov.core import clock
from gridgov.core.auth import (
    SESSION_COOKIE,
    AuthTransactions,
    CurrentUser,
    client_address,
    cookie_secure,
    get_auth_transactions,
    require_permission,
)
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import DomainError, Forbidden, NotFoundError
from gridgov.core.permissions import PERMISSIONS, can
from gridgov.domains.auth import service, terminals
from gridgov.domains.auth.enums import AuditAction, AuditOutcome, Role, TerminalStatus, TokenKind
from gridgov.domains.auth.models import Terminal, User, WebSession
from gridgov.domains.auth.schemas import (
    AuditEntryRead,
    AuditPage,
    LoginRequest,
    Me,
    PasswordChange,
    Principal,
    TerminalBind,
    TerminalRead,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserPage,
    UserRead,
)

router = APIRouter(tags=["auth"])

OpenTransactions = Annotated[AuthTransactions, Depends(get_auth_transactions)]
UserManager = Annotated[Principal, Depends(require_permission("user.manage"))]
Auditor = Annotated[Principal, Depends(require_permission("audit.view"))]


def read_user(user: User) -> UserRead:
    """Returns the read model of a user, with unit and scope names."""
    data = UserRead.model_validate(user)
    if user.unit is not None:
        data.unit_code, data.unit_name = user.unit.code, user.unit.name
    if user.scope_area is not None:
        data.scope_code, data.scope_name = user.scope_area.code, user.scope_area.name
    data.is_locked = user.locked_until is not None and user.locked_until > clock.now()
    return data


def _me(user: User, principal: Principal | None, *, csrf_token: str | None, expires_at: dt.datetime | None) -> Me:
    return Me(
        user=read_user(user),
        via=principal.via if principal else "session",
        csrf_token=csrf_token,
        session_expires_at=expires_at,
        token_scopes=sorted(principal.token_scopes) if principal and principal.token_scopes is not None else None,
        permissions={action: str(scope) for action, scope in PERMISSIONS.get(user.role, {}).items()},
    )


def set_session_cookie(response: Response, request: Request, cookie: str) -> None:
    """Sets the browser session cookie: httponly, SameSite=Lax, Secure (see cookie_secure), session lifetime."""
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(service.SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )


@router.post("/auth/login", response_model=Me)
def login(body: LoginRequest, request: Request, response: Response, open_tx: OpenTransactions) -> Me:
    """Logs in with username and password: sets the session cookie and returns the user and the CSRF token."""
    # NOTE: no login CSRF token here, unlike the console's form (domains/auth/pages.py): this endpoint takes JSON
    # only, and a cross-site page cannot send an application/json body without a CORS preflight, which this app
    # never grants; the session cookie it sets is SameSite=Lax besides.
    source = client_address(request)
    failure: service.LoginFailed | None = None
    # NOTE: the login owns its transaction, committed even when the login fails: the failure counter and the
    # audit entry must outlive the refusal, or the lockout would never engage.
    with open_tx(True) as db:
        try:
            user = service.authenticate(db=db, username=body.username, password=body.password, source_address=source)
        except service.LoginFailed as exc:
            failure = exc
        else:
            session, cookie = service.create_session(
                db=db, user=user, source_address=source, user_agent=request.headers.get("user-agent")
            )
            me = _me(user, None, csrf_token=session.csrf_token, expires_at=session.expires_at)
    if failure is not None:
        raise failure
    set_session_cookie(response, request, cookie)
    return me


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(principal: CurrentUser, db: WriteSession, request: Request, response: Response) -> None:
    """Ends the browser session and clears its cookie."""
    if principal.session_id is None:
        raise DomainError("logout ends a browser session; revoke an API token with DELETE /api/v1/auth/tokens/{id}")
    service.revoke_session(
        db=db, session_id=principal.session_id, actor=principal.actor, source_address=principal.source_address
    )
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request))


@router.get("/auth/me", response_model=Me)
def get_me(principal: CurrentUser, db: DbSession) -> Me:
    """Returns the caller, how they are authenticated, and their permissions (action → scope)."""
    user = service.get_user(db=db, user_id=principal.user_id)
    expires = None
    if principal.session_id is not None:
        session = db.get(WebSession, principal.session_id)
        expires = session.expires_at if session else None
    return _me(user, principal, csrf_token=principal.csrf_token, expires_at=expires)


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(body: PasswordChange, principal: CurrentUser, open_tx: OpenTransactions) -> None:
    """Changes the caller's password (the current one is required); ends their other browser sessions."""
    failure: service.LoginFailed | None = None
    with open_tx(True) as db:
        user = service.get_user(db=db, user_id=principal.user_id)
        try:
            service.change_password(
                db=db,
                user=user,
                old_password=body.old_password,
                new_password=body.new_password,
                source_address=principal.source_address,
                keep_session_id=principal.session_id,
            )
        except service.LoginFailed as exc:
            failure = exc  # NOTE: committed: a wrong current password counts towards the lockout
    if failure is not None:
        raise failure


@router.get("/auth/tokens", response_model=list[TokenRead])
def list_tokens(principal: CurrentUser, db: DbSession) -> list[TokenRead]:
    """Lists the caller's API tokens (never their secrets)."""
    return [TokenRead.model_validate(t) for t in service.list_tokens(db=db, user_id=principal.user_id)]


@router.post("/auth/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, principal: CurrentUser, db: WriteSession) -> TokenCreated:
    """Creates a personal API token for the caller; the token is in this answer only."""
    if principal.via != "session":
        # NOTE: a token minting tokens would outlive its own revocation; tokens come from a person at a browser.
        raise Forbidden("create API tokens from a browser session (or `gridgov users token`), not with a token")
    user = service.get_user(db=db, user_id=principal.user_id)
    token, text = service.create_token(
        db=db,
        user=user,
        name=body.name,
        scopes=list(body.scopes),
        kind=TokenKind.personal,
        expires_days=body.expires_days,
        actor=principal.actor,
        source_address=principal.source_address,
    )
    return TokenCreated.model_validate({**TokenRead.model_validate(token).model_dump(), "token": text})


@router.delete("/auth/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: int, principal: CurrentUser, db: WriteSession) -> None:
    """Revokes one of the caller's tokens (an administrator may revoke anyone's)."""
    token = service.get_token(db=db, token_id=token_id)
    if token.user_id != principal.user_id and not can(principal.actor, "user.manage"):
        raise NotFoundError(f"token {token_id} not found")
    service.revoke_token(db=db, token=token, actor=principal.actor, source_address=principal.source_address)


@router.get("/users", response_model=UserPage)
def list_users(
    principal: UserManager,
    db: DbSession,
    role: Role | None = None,
    active: bool | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> UserPage:
    """Lists users by username, filtered by role, activity and text (administrators)."""
    users, total = service.list_users(db=db, role=role, active=active, text=q, offset=offset, limit=limit)
    return UserPage(items=[read_user(u) for u in users], total=total, offset=offset, limit=limit)


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, principal: UserManager, db: WriteSession) -> UserRead:
    """Creates a user with a role, unit and area scope (administrators)."""
    user = service.create_user(db=db, data=body, actor=principal.actor, source_address=principal.source_address)
    return read_user(service.get_user(db=db, user_id=user.id))


@router.post("/users/{user_id}/disable", response_model=UserRead)
def disable_user(user_id: int, principal: UserManager, db: WriteSession) -> UserRead:
    """Disables a user and revokes their sessions and tokens (administrators)."""
    user = service.get_user(db=db, user_id=user_id)
    service.disable_user(db=db, user=user, actor=principal.actor, source_address=principal.source_address)
    return read_user(user)


@router.get("/audit", response_model=AuditPage)
def search_audit(
    principal: Auditor,
    db: WriteSession,
    request: Request,
    actor: Annotated[str | None, Query(max_length=100, description="Username, actor name or user id.")] = None,
    action: Annotated[str | None, Query(max_length=64, description="An action, or a prefix ending in '.'")] = None,
    target: Annotated[str | None, Query(max_length=100, description="'case:123', or a type alone: 'case'.")] = None,
    outcome: AuditOutcome | None = None,
    start: Annotated[dt.datetime | None, Query(alias="from", description="From this time (inclusive).")] = None,
    end: Annotated[dt.datetime | None, Query(alias="to", description="Until this time (exclusive).")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Text anywhere in the entry.")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    """Searches the audit log, newest first (auditors); the search itself is audited."""
    # NOTE: a time without a zone (?from=2026-11-25T08:00) is read in the district's own time zone.
    tz = request.app.state.settings.tz
    where = service.AuditFilter(
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        start=start if start is None or start.tzinfo else start.replace(tzinfo=tz),
        end=end if end is None or end.tzinfo else end.replace(tzinfo=tz),
        text=q,
    )
    entries, total = service.search_audit(db=db, where=where, offset=offset, limit=limit)
    service.write_audit(
        db=db,
        actor=principal.actor,
        action=AuditAction.audit_search,
        source_address=principal.source_address,
        detail={k: v for k, v in {"actor": actor, "action": action, "target": target, "q": q}.items() if v},
    )
    return AuditPage(items=[AuditEntryRead.model_validate(e) for e in entries], total=total, offset=offset, limit=limit)


TerminalManager = Annotated[Principal, Depends(require_permission("terminal.manage"))]


def read_terminal(terminal: Terminal) -> TerminalRead:
    return TerminalRead.model_validate(terminal).model_copy(update={"username": terminal.user.username})


@router.get("/terminals", response_model=list[TerminalRead])
def list_terminals(
    principal: TerminalManager,
    db: DbSession,
    status_filter: Annotated[TerminalStatus | None, Query(alias="status")] = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
) -> list[TerminalRead]:
    """Lists grid workers' phones, pending ones first to bind (administrators)."""
    user_id = service.get_user_by_username(db=db, username=username).id if username else None
    found = terminals.list_terminals(db=db, status=status_filter, user_id=user_id)
    return [read_terminal(t) for t in found]


@router.post("/terminals", response_model=TerminalRead, status_code=status.HTTP_201_CREATED)
def bind_new_terminal(body: TerminalBind, principal: TerminalManager, db: WriteSession) -> TerminalRead:
    """Registers a phone by its device id for a grid worker and binds it (administrators)."""
    user = service.get_user_by_username(db=db, username=body.username)
    terminal = terminals.bind(
        db=db,
        actor=principal.actor,
        user=user,
        device_id=body.device_id,
        label=body.label,
        source_address=principal.source_address,
    )
    return read_terminal(terminal)


@router.post("/terminals/{terminal_id}/bind", response_model=TerminalRead)
def bind_terminal(terminal_id: int, principal: TerminalManager, db: WriteSession) -> TerminalRead:
    """Binds a pending phone to the worker who used it (administrators); their previous phone is revoked."""
    terminal = terminals.get_terminal(db=db, terminal_id=terminal_id)
    terminals.bind(db=db, actor=principal.actor, terminal=terminal, source_address=principal.source_address)
    return read_terminal(terminal)


@router.post("/terminals/{terminal_id}/revoke", response_model=TerminalRead)
def revoke_terminal(terminal_id: int, principal: TerminalManager, db: WriteSession) -> TerminalRead:
    """Revokes a phone (lost, replaced): reports from it are refused from now on (administrators)."""
    terminal = terminals.get_terminal(db=db, terminal_id=terminal_id)
    terminals.revoke(db=db, actor=principal.actor, terminal=terminal, source_address=principal.source_address)
    return read_terminal(terminal)
