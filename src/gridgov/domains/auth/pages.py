"""Console pages of accounts: log in, log out, change password, the language switch, the audit log (auditors)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from gridgov.core import i18n
from gridgov.core.auth import (
    SESSION_COOKIE,
    After,
    AuthTransactions,
    client_address,
    cookie_secure,
    get_auth_transactions,
)
from gridgov.core.db import WriteSession
from gridgov.core.errors import InputError
from gridgov.core.pages import FormCsrf, PageUser, error_messages, require_page, safe_next
from gridgov.core.templating import N_, render
from gridgov.domains.auth import service
from gridgov.domains.auth.api import set_session_cookie
from gridgov.domains.auth.enums import AuditAction, AuditOutcome
from gridgov.domains.auth.schemas import AuditRecord

router = APIRouter(include_in_schema=False)
OpenTransactions = Annotated[AuthTransactions, Depends(get_auth_transactions)]
LANG_COOKIE_AGE = 365 * 24 * 3600

# The login form's double-submit CSRF token (core.pages.FormCsrf) stops login CSRF: logging the victim into the
# attacker's account. SameSite=Lax on the session cookie does not cover this: the login request has no session.
LOGIN_CSRF = FormCsrf(cookie="gridgov_login_csrf", path="/login", max_age=3600)


def _login_form(
    request: Request,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    csrf_refused: bool = False,
    status_code: int = 200,
) -> Response:
    """Renders the login form with a login CSRF token, set in its cookie too (the current one, when valid)."""
    token = LOGIN_CSRF.token(request)
    context = {
        "next": next_path,
        "error": error,
        "csrf_refused": csrf_refused,
        "username": username,
        "login_csrf": token,
    }
    return LOGIN_CSRF.issue(request, render(request, "auth/login.html", context, status_code=status_code), token)


@router.get("/login")
def get_login(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the usual parameter name
    """Renders the login form (and sets its CSRF cookie)."""
    return _login_form(request, next_path=safe_next(next))


@router.post("/login")
def post_login(
    request: Request,
    open_tx: OpenTransactions,
    username: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form()] = "/inbox",  # noqa: A002
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Logs in with the form's username and password: sets the session cookie and goes to `next`."""
    if not LOGIN_CSRF.matches(request, csrf_token):
        reason = "missing login CSRF token" if not csrf_token else "login CSRF token does not match its cookie"
        with open_tx(True) as db:
            service.add_audit(
                db=db,
                record=AuditRecord.of(
                    None,
                    AuditAction.csrf,
                    outcome=AuditOutcome.denied,
                    actor_name=username.strip()[:100] or "anonymous",
                    source_address=client_address(request),
                    detail={"reason": reason, "method": "POST", "path": "/login"},
                ),
            )
        # NOTE: the password is not even checked, so a forged login neither logs in nor counts as a failure.
        return _login_form(
            request, next_path=safe_next(next), username=username, error=reason, csrf_refused=True, status_code=403
        )
    failure: service.LoginFailed | None = None
    # NOTE: committed even when the login fails, like the API's: the failure counter must outlive the refusal.
    with open_tx(True) as db:
        try:
            user = service.authenticate(
                db=db, username=username, password=password, source_address=client_address(request)
            )
        except service.LoginFailed as exc:
            failure = exc
        else:
            _session, cookie = service.create_session(
                db=db, user=user, source_address=client_address(request), user_agent=request.headers.get("user-agent")
            )
    if failure is not None:
        return _login_form(
            request, next_path=safe_next(next), username=username, error=failure.message, status_code=401
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    LOGIN_CSRF.clear(request, response)
    set_session_cookie(response, request, cookie)
    return response


@router.post("/logout")
def post_logout(request: Request, principal: PageUser, db: WriteSession) -> Response:
    """Ends the browser session (CSRF-checked form) and returns to the login page."""
    if principal.session_id is not None:
        service.revoke_session(
            db=db, session_id=principal.session_id, actor=principal.actor, source_address=principal.source_address
        )
    response = RedirectResponse("/login", status_code=303)
    response.headers["HX-Redirect"] = "/login"
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request))
    return response


# --- the user's own password ---------------------------------------------------------------------------------


def _password_form(
    request: Request, principal: Any, *, errors: list[str] | None = None, changed: bool = False, status_code: int = 200
) -> Response:
    context = {"errors": errors or [], "changed": changed}
    return render(request, "auth/password.html", context, principal=principal, status_code=status_code)


@router.get("/account/password")
def get_password(request: Request, principal: PageUser, changed: bool = False) -> Response:
    """Renders the form to change one's own password (current password, new password twice)."""
    return _password_form(request, principal, changed=changed)


@router.post("/account/password")
def post_password(
    request: Request,
    principal: PageUser,
    open_tx: OpenTransactions,
    current_password: Annotated[str, Form(max_length=1000)] = "",
    new_password: Annotated[str, Form(max_length=1000)] = "",
    new_password_again: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Changes the user's password like POST /api/v1/auth/password; refusals are shown in the form."""
    if new_password != new_password_again:
        return _password_form(request, principal, errors=["the two new passwords differ"], status_code=422)
    failure: service.LoginFailed | None = None
    try:
        with open_tx(True) as db:
            user = service.get_user(db=db, user_id=principal.user_id)
            try:
                service.change_password(
                    db=db,
                    user=user,
                    old_password=current_password,
                    new_password=new_password,
                    source_address=principal.source_address,
                    keep_session_id=principal.session_id,
                )
            except service.LoginFailed as exc:
                failure = exc  # NOTE: committed: a wrong current password counts towards the lockout
    except InputError as exc:
        # Raised out of the transaction, so a refused new password (policy) leaves nothing behind.
        return _password_form(request, principal, errors=error_messages(exc), status_code=422)
    if failure is not None:
        return _password_form(request, principal, errors=[failure.message], status_code=422)
    return RedirectResponse("/account/password?changed=true", status_code=303)


@router.get("/lang/{locale}")
def switch_language(locale: str, next: str | None = None) -> Response:  # noqa: A002
    """Remembers the chosen language in the `lang` cookie and goes back to `next`."""
    chosen = i18n.normalize_locale(locale) or i18n.DEFAULT_LOCALE
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(i18n.LANG_COOKIE, chosen, max_age=LANG_COOKIE_AGE, path="/", samesite="lax")
    return response


# --- the audit log (auditors) -------------------------------------------------------------------------------------

AUDIT_PAGE_SIZE = 50
OUTCOME_LABELS: dict[AuditOutcome, str] = {
    AuditOutcome.ok: N_("Succeeded"),
    AuditOutcome.failed: N_("Failed"),
    AuditOutcome.denied: N_("Denied"),
}
AUDIT_FIELDS = ("actor", "action", "target", "outcome", "from", "to", "q")


def _audit_day(value: str, what: str, tz: dt.tzinfo) -> dt.datetime:
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tz)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_audit_filter(params: Any, tz: dt.tzinfo) -> tuple[service.AuditFilter, dict[str, str], list[str]]:
    """Returns the audit filter of the page's query string, the form's values and the errors in it.

    Dates are whole days in the district's time zone, both inclusive (the API's `to` is an exclusive instant).
    """
    values = {k: (params.get(k) or "").strip()[:100] for k in AUDIT_FIELDS}
    errors: list[str] = []
    start = end = None
    outcome = None
    try:
        if values["from"]:
            start = _audit_day(values["from"], "from", tz)
        if values["to"]:
            end = _audit_day(values["to"], "to", tz) + dt.timedelta(days=1)
        if values["outcome"]:
            outcome = AuditOutcome(values["outcome"])
    except ValueError as exc:
        errors.append(str(exc))
    where = service.AuditFilter(
        actor=values["actor"] or None,
        action=values["action"][:64] or None,
        target=values["target"] or None,
        outcome=outcome,
        start=start,
        end=end,
        text=values["q"] or None,
    )
    return where, values, errors


def _page_link(values: dict[str, str], offset: int) -> str:
    params = [(k, v) for k, v in values.items() if v]
    if offset:
        params.append(("offset", str(offset)))
    return "/audit" + (f"?{urlencode(params)}" if params else "")


@router.get("/audit")
def get_audit(request: Request, db: WriteSession, principal: PageUser, after: After, offset: int = 0) -> Response:
    """Renders the audit log, newest first, filtered like GET /api/v1/audit (auditors); the reading is audited."""
    require_page(principal, "audit.view")
    offset = max(offset, 0)
    where, values, errors = parse_audit_filter(request.query_params, request.app.state.settings.tz)
    entries: list[Any] = []
    total = 0
    if not errors:
        entries, total = service.search_audit(db=db, where=where, offset=offset, limit=AUDIT_PAGE_SIZE)
        # Audited exactly like the API's search: who looked, and for what.
        searched = {"actor": where.actor, "action": where.action, "target": where.target, "q": where.text}
        service.write_audit(
            db=db,
            actor=principal.actor,
            action=AuditAction.audit_search,
            source_address=principal.source_address,
            detail={k: v for k, v in searched.items() if v},
        )
    context = {
        "entries": [(e, json.dumps(e.detail, ensure_ascii=False, sort_keys=True) if e.detail else "") for e in entries],
        "total": total,
        "offset": offset,
        "limit": AUDIT_PAGE_SIZE,
        "values": values,
        "errors": errors,
        "outcomes": OUTCOME_LABELS,
        "previous_link": _page_link(values, max(offset - AUDIT_PAGE_SIZE, 0)) if offset else None,
        "next_link": _page_link(values, offset + AUDIT_PAGE_SIZE) if total > offset + AUDIT_PAGE_SIZE else None,
    }
    return render(request, "auth/audit.html", context, principal=principal, status_code=422 if errors else 200)
