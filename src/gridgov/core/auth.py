"""Who is calling: the `CurrentActor` dependency of every route that acts on cases.

Until user accounts land (the users issue), development and test deployments identify the caller by
headers — X-Gridgov-Role (required), X-Gridgov-User (id), X-Gridgov-Unit (unit code), X-Gridgov-Name — and a
production deployment refuses every such request. Services never see headers: they receive an `Actor`.

User accounts (`CurrentUser` = `get_current_user`): a browser session cookie or an API token, CSRF checked on
every state-changing request of a browser session; `require_permission(action)` and `require_scope(scope)`
guard routes. See docs/users.md.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import permissions, security
from gridgov.core.db import DbSession, transaction
from gridgov.core.permissions import ACTION_TOKEN_SCOPES, ACTIONS, pending_audit
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import AuditAction, AuditOutcome, Role, TokenScope
from gridgov.domains.auth.schemas import Actor, AuditRecord, Principal
from gridgov.domains.catalog.models import Unit


def get_actor(request: Request, db: DbSession) -> Actor:
    """Returns the acting user described by the development identity headers (401 when absent or invalid)."""
    if request.app.state.settings.env == "production":
        raise HTTPException(401, "authentication is required (identity headers are refused in production)")
    role_text = request.headers.get("x-gridgov-role")
    if not role_text:
        raise HTTPException(401, "missing X-Gridgov-Role header")
    try:
        role = Role(role_text)
    except ValueError:
        raise HTTPException(401, f"unknown role {role_text!r}; one of {', '.join(Role)}") from None
    user_text = request.headers.get("x-gridgov-user")
    if user_text is not None and not user_text.isdigit():
        raise HTTPException(401, "X-Gridgov-User must be a numeric user id")
    unit_id = None
    if unit_code := request.headers.get("x-gridgov-unit"):
        unit_id = db.scalar(select(Unit.id).where(Unit.code == unit_code))
        if unit_id is None:
            raise HTTPException(401, f"unknown unit {unit_code!r} in X-Gridgov-Unit")
    user_id = int(user_text) if user_text else None
    name = _header_text(request.headers.get("x-gridgov-name")) or f"{role}{'#' + str(user_id) if user_id else ''}"
    return Actor(name=name[:100], role=role, user_id=user_id, unit_id=unit_id)


def _header_text(value: str | None) -> str | None:
    """Returns a header's text: percent-encoded or raw UTF-8 (which the server decodes as Latin-1) is repaired."""
    if not value:
        return value
    # NOTE: HTTP headers are Latin-1; a Chinese name arrives either percent-encoded or as UTF-8 bytes read as
    # Latin-1 (mojibake). Either would otherwise land in the append-only event log unreadable.
    value = unquote(value)
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


CurrentActor = Annotated[Actor, Depends(get_actor)]


# --- users, sessions and tokens (the users issue) ---------------------------------------------------------------
#
# `get_current_user` authenticates a request by its session cookie or its `Authorization: Bearer` token. It
# reads in a short transaction of its own before the route runs, and writes afterwards: the session's last-seen
# time, the token's use, and the audit entries of refusals (whose request transaction was rolled back). Those
# writes wait for the request's own transaction to end, because on SQLite a second writer inside the same
# request would wait on the first one forever.

SESSION_COOKIE = "gridgov_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

log = logging.getLogger(__name__)

AuthTransactions = Callable[[bool], AbstractContextManager[Session]]


def get_auth_transactions(request: Request) -> AuthTransactions:
    """Returns how authentication opens its own short transactions: `open(write)` (tests join the test's own)."""
    engine = request.app.state.engine
    return lambda write: transaction(engine, write=write)


class AuthRefused(HTTPException):
    """A 401 or 403 from authentication; `audit_record` is written after the request's transaction ends."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        audit_record: AuditRecord | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if status_code == 401:
            headers = {"WWW-Authenticate": 'Bearer realm="gridgov"', **(headers or {})}
        super().__init__(status_code, detail, headers=headers)
        self.audit_record = audit_record


class AfterRequest:
    """Writes that must outlive the request's own transaction, done once it has ended (best effort, logged)."""

    def __init__(self) -> None:
        self.tasks: list[Callable[[Session], object]] = []

    def add(self, task: Callable[[Session], object]) -> None:
        """Queues `task(db)` to run in a write transaction after the request's transaction."""
        self.tasks.append(task)

    def audit(self, record: AuditRecord) -> None:
        """Queues an audit entry."""
        self.tasks.append(lambda db: auth_service.add_audit(db=db, record=record))


def after_request(
    request: Request, open_tx: Annotated[AuthTransactions, Depends(get_auth_transactions)]
) -> Iterator[AfterRequest]:
    """Dependency: a queue of writes run after the request's transaction, with the audit of any refusal."""
    queue = AfterRequest()
    try:
        yield queue
    except Exception as exc:
        record = pending_audit(exc)
        if record is not None:
            if record.source_address is None:
                record = dataclasses.replace(record, source_address=client_address(request))
            queue.audit(record)
        raise
    finally:
        if queue.tasks:
            try:
                with open_tx(True) as db:
                    for task in queue.tasks:
                        task(db)
            except Exception:
                log.exception("could not write %d after-request task(s) (audit, session touch)", len(queue.tasks))


def client_address(request: Request) -> str | None:
    """Returns the caller's address (behind a proxy: what uvicorn's --proxy-headers made of X-Forwarded-For)."""
    return request.client.host if request.client else None


def _authenticate(
    request: Request,
    after: Annotated[AfterRequest, Depends(after_request)],
    open_tx: Annotated[AuthTransactions, Depends(get_auth_transactions)],
) -> Principal:
    source = client_address(request)
    authorization = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthRefused(401, "use the header 'Authorization: Bearer <token>' with an API token")
        try:
            with open_tx(False) as db:
                check = auth_service.find_token(db=db, token=token)
                actor = auth_service.actor_of(check.user)
        except auth_service.TokenInvalid as exc:
            record = AuditRecord(
                action=AuditAction.token_refused,
                outcome=AuditOutcome.denied,
                target_type="api_token",
                target_id=str(exc.details.get("token_id")) if exc.details.get("token_id") else None,
                source_address=source,
                detail={
                    "reason": exc.details.get("reason"),
                    "prefix": exc.details.get("prefix"),
                    "path": request.url.path,
                },
            )
            raise AuthRefused(401, exc.message, audit_record=record) from None
        token_id = check.token.id
        if check.use_due:
            after.add(
                lambda db: auth_service.record_token_use(
                    db=db, token_id=token_id, source_address=source, path=request.url.path
                )
            )
        return Principal(
            actor=actor,
            username=check.user.username,
            via="token",
            token_id=token_id,
            token_scopes=frozenset(check.token.scopes),
            source_address=source,
        )
    if cookie:
        try:
            with open_tx(False) as db:
                found = auth_service.find_session(db=db, cookie=cookie)
                actor = auth_service.actor_of(found.user)
        except auth_service.SessionInvalid as exc:
            clear = f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=lax"
            raise AuthRefused(401, exc.message, headers={"Set-Cookie": clear}) from None
        session_id = found.session.id
        if found.touch_due:
            after.add(lambda db: auth_service.touch_session(db=db, session_id=session_id))
        return Principal(
            actor=actor,
            username=found.user.username,
            via="session",
            session_id=session_id,
            csrf_token=found.session.csrf_token,
            source_address=source,
        )
    raise AuthRefused(401, "authentication required: log in, or send 'Authorization: Bearer <token>'")


async def check_csrf(request: Request, principal: Principal) -> None:
    """Refuses (403, audited) a state-changing request of a browser session without its CSRF token."""
    if principal.via != "session" or request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if security.same_secret(given, principal.csrf_token):
        return
    reason = "missing CSRF token" if not given else "CSRF token does not match the session"
    record = AuditRecord.of(
        principal.actor,
        AuditAction.csrf,
        outcome=AuditOutcome.denied,
        source_address=principal.source_address,
        detail={"reason": reason, "method": request.method, "path": request.url.path},
    )
    message = (
        f"{reason}: send the session's token in the {CSRF_HEADER} header or the {CSRF_FIELD} form field"
        if not given
        else f"{reason}; reload the page and try again"
    )
    raise AuthRefused(403, message, audit_record=record)


async def get_current_user(request: Request, principal: Annotated[Principal, Depends(_authenticate)]) -> Principal:
    """Returns the authenticated caller (session cookie or Bearer token); 401 otherwise, 403 without CSRF token."""
    await check_csrf(request, principal)
    return principal


async def csrf_protect(request: Request, principal: Annotated[Principal, Depends(_authenticate)]) -> Principal:
    """Dependency for form posts: the caller, after checking the form's (or header's) CSRF token."""
    await check_csrf(request, principal)
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def require_scope(scope: TokenScope | str) -> Callable[..., Awaitable[Principal]]:
    """Returns a dependency refusing (403, audited) a token that lacks `scope`; browser sessions pass."""
    wanted = TokenScope(scope)

    async def dependency(request: Request, principal: CurrentUser) -> Principal:
        if principal.token_scopes is None or wanted in principal.token_scopes or str(wanted) in principal.token_scopes:
            return principal
        record = AuditRecord.of(
            principal.actor,
            AuditAction.token_refused,
            outcome=AuditOutcome.denied,
            target_type="api_token",
            target_id=str(principal.token_id),
            source_address=principal.source_address,
            detail={"reason": "missing scope", "needed": str(wanted), "path": request.url.path},
        )
        have = ", ".join(sorted(principal.token_scopes)) or "none"
        raise AuthRefused(403, f"this API token lacks the scope '{wanted}' (it has: {have})", audit_record=record)

    return dependency


def require_permission(action: str) -> Callable[..., Awaitable[Principal]]:
    """Returns a dependency: the caller, if their role grants `action` and their token has its scope (403 else)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown permission action {action!r}")
    scope_check = require_scope(ACTION_TOKEN_SCOPES[action])

    async def dependency(request: Request, principal: CurrentUser) -> Principal:
        await scope_check(request, principal)
        permissions.require(principal.actor, action, source_address=principal.source_address)
        return principal

    return dependency
