"""What every console page router shares: the logged-in user (or a redirect to /login) and inline errors.

Pages authenticate with `core.auth` exactly like the API (session cookie, CSRF on every form post), but a
browser without a valid session is sent to the login page instead of getting a 401.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from gridgov.core import security
from gridgov.core.auth import (
    SESSION_COOKIE,
    AfterRequest,
    AuthRefused,
    AuthTransactions,
    after_request,
    authenticate_request,
    check_csrf,
    cookie_secure,
    get_auth_transactions,
)
from gridgov.core.errors import DomainError, InputError
from gridgov.core.permissions import PermissionDenied, pending_audit, require
from gridgov.domains.auth.schemas import AuditRecord, Principal

T = TypeVar("T")


class LoginRedirect(HTTPException):
    """A 303 to the login page (HTMX requests get HX-Redirect, since htmx does not follow a 303 itself)."""

    def __init__(self, request: Request, *, clear_cookie: bool = False) -> None:
        target = "/login?" + urlencode({"next": safe_next(str(request.url.path) + _query(request))})
        headers = {"Location": target, "HX-Redirect": target}
        if clear_cookie:
            headers["Set-Cookie"] = f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=lax"
        super().__init__(303, "log in first", headers=headers)


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""


def safe_next(value: str | None) -> str:
    """Returns `value` if it is a path on this site (no scheme, no //host), else /inbox: no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/inbox"
    return value


async def page_user(
    request: Request,
    after: Annotated[AfterRequest, Depends(after_request)],
    open_tx: Annotated[AuthTransactions, Depends(get_auth_transactions)],
) -> Principal:
    """Dependency of pages: the session's user (CSRF checked on posts); a 303 to /login without a session."""
    if not request.cookies.get(SESSION_COOKIE):
        raise LoginRedirect(request)
    try:
        principal = authenticate_request(request, after, open_tx)
    except AuthRefused as exc:
        if exc.status_code == 401:
            raise LoginRedirect(request, clear_cookie=True) from None
        raise
    if principal.via != "session":
        raise LoginRedirect(request)
    await check_csrf(request, principal)
    return principal


PageUser = Annotated[Principal, Depends(page_user)]


def is_htmx(request: Request) -> bool:
    """Returns True for a request htmx sent (it answers with a fragment, not a whole page)."""
    return request.headers.get("HX-Request") == "true"


def error_messages(exc: Exception) -> list[str]:
    """Returns the lines to show inline for a refused command (its message, or one per input issue)."""
    if isinstance(exc, InputError):
        return [str(issue) for issue in exc.issues] or [exc.summary]
    if isinstance(exc, ValidationError):
        return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    if isinstance(exc, DomainError):
        return [exc.message]
    return [str(exc)]


@contextmanager
def savepoint(db: Session) -> Iterator[None]:
    """Runs a command in a savepoint, so that a refused one leaves nothing behind while the page still renders."""
    with db.begin_nested():
        yield


def attempt(db: Session, after: AfterRequest | None, command: Callable[[], T]) -> tuple[T | None, list[str]]:
    """Runs `command` in a savepoint; returns (its result, []) or (None, the error lines) when it was refused.

    A refusal that carries an audit record (permission denied, out of scope) is queued for the audit log,
    which the API's error path does by itself but an inline error would otherwise swallow.
    """
    try:
        with savepoint(db):
            return command(), []
    except (DomainError, InputError, ValidationError, LookupError) as exc:
        record = pending_audit(exc)
        if record is not None and after is not None:
            after.audit(record)
        return None, error_messages(exc)


class PageForbidden(Exception):
    """A page the user's role may not open: answered with the 'not allowed' page (403), not a JSON error.

    A denial that carries an audit record is written by `after_request`, like the API's denials.
    """

    def __init__(self, principal: Principal, message: str | None = None, audit_record: AuditRecord | None = None):
        super().__init__(message or "not allowed")
        self.principal, self.message, self.audit_record = principal, message, audit_record


def require_page(principal: Principal, action: str) -> None:
    """Raises PageForbidden (audited) when the user's role lacks `action`."""
    try:
        require(principal.actor, action, source_address=principal.source_address, audit=lambda _db, _r: None)
    except PermissionDenied as exc:
        raise PageForbidden(principal, audit_record=exc.audit_record) from None


@dataclass(frozen=True)
class FormCsrf:
    """A double-submit CSRF token for forms posted without a session (the login form, the public forms).

    A random value lives in an HttpOnly, SameSite=Strict cookie scoped to the form's path, and the same value in a
    hidden field: a cross-site page can make a browser post the form but can neither read nor set the cookie, so it
    cannot supply a matching field.
    """

    cookie: str
    path: str
    max_age: int

    def token(self, request: Request) -> str:
        """Returns the token for a form: the browser's current one when valid (two open forms stay valid)."""
        current = request.cookies.get(self.cookie) or ""
        return current if _TOKEN_RE.match(current) else security.random_token()

    def issue(self, request: Request, response: Response, token: str) -> Response:
        """Sets the token's cookie on the response that renders the form; returns the response."""
        response.set_cookie(
            self.cookie,
            token,
            max_age=self.max_age,
            path=self.path,
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
        )
        return response

    def matches(self, request: Request, given: object) -> bool:
        """Tells whether the posted field matches the cookie."""
        return security.same_secret(given if isinstance(given, str) else None, request.cookies.get(self.cookie))

    def clear(self, request: Request, response: Response) -> None:
        """Removes the cookie (the form has done its work)."""
        response.delete_cookie(
            self.cookie, path=self.path, httponly=True, samesite="strict", secure=cookie_secure(request)
        )


_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,100}$")


# Fields and files a console or phone form may carry: a few photos, never thousands of parts.
MAX_FORM_FILES = 16
MAX_FORM_FIELDS = 100


async def _form(request: Request) -> FormData:
    return await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)


# A page's posted form (urlencoded or multipart), parsed with bounded parts.
PageForm = Annotated[FormData, Depends(_form)]
