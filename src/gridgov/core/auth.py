"""Who is calling: `CurrentUser` (= `get_current_user`) authenticates every API and page request.

A browser session cookie or an API token (`Authorization: Bearer`), CSRF checked on every state-changing
request of a browser session; `require_permission(action)` and `require_scope(scope)` guard routes. Services
never see requests: they receive the principal's `Actor`. See docs/users.md.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from gridgov.core import permissions, security
from gridgov.core.db import transaction
from gridgov.core.permissions import ACTION_TOKEN_SCOPES, ACTIONS, pending_audit
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import AuditAction, AuditOutcome, TokenScope
from gridgov.domains.auth.schemas import AuditRecord, Principal

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


def cookie_secure(request: Request) -> bool:
    """Tells whether cookies set on this request's response must be Secure (HTTPS only)."""
    # NOTE: the cookie is Secure everywhere except a development or test deployment reached over plain http
    # (a laptop, the test client); production must be served over HTTPS (uvicorn --proxy-headers behind a proxy).
    plain_local = request.app.state.settings.env in {"development", "test"} and request.url.scheme == "http"
    return not plain_local


def client_address(request: Request) -> str | None:
    """Returns the caller's address (behind a proxy: what uvicorn's --proxy-headers made of X-Forwarded-For)."""
    return request.client.host if request.client else None


def authenticate_request(
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


async def get_current_user(
    request: Request, principal: Annotated[Principal, Depends(authenticate_request)]
) -> Principal:
    """Returns the authenticated caller (session cookie or Bearer token); 401 otherwise, 403 without CSRF token."""
    await check_csrf(request, principal)
    return principal


async def csrf_protect(request: Request, principal: Annotated[Principal, Depends(authenticate_request)]) -> Principal:
    """Dependency for form posts: the caller, after checking the form's (or header's) CSRF token."""
    await check_csrf(request, principal)
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_user)]
After = Annotated[AfterRequest, Depends(after_request)]


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
