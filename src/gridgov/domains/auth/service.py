"""Users, passwords and lockout, browser sessions, API tokens, and the audit log (write and search).

Nothing here commits. Two functions record a failure before raising — `authenticate` and `change_password`
count the failed attempt and audit it — so their caller must commit the transaction even when they raise
(the login and password routes do), otherwise the lockout would never engage.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from gridgov.config import get_settings
from gridgov.core import clock, security
from gridgov.core.errors import Conflict, DomainError, InputError, Issue, NotFoundError
from gridgov.core.permissions import ACTION_TOKEN_SCOPES, PERMISSIONS
from gridgov.domains.areas.enums import LEVEL_ORDER, AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth.enums import AuditAction, AuditOutcome, Role, TokenKind, TokenScope
from gridgov.domains.auth.models import ApiToken, AuditEntry, User, WebSession
from gridgov.domains.auth.schemas import Actor, AuditRecord, UserCreate
from gridgov.domains.catalog.models import Unit

LOCKOUT_THRESHOLD = 5  # consecutive failed logins before the account locks
LOCKOUT_BASE = dt.timedelta(minutes=15)  # the first lock; each further failure doubles it
LOCKOUT_MAX = dt.timedelta(hours=24)
SESSION_IDLE = dt.timedelta(hours=2)  # a browser session ends after this long without a request
SESSION_LIFETIME = dt.timedelta(hours=12)  # ... and this long after login whatever happens
SESSION_TOUCH_EVERY = dt.timedelta(minutes=1)  # last_seen_at is written at most this often
TOKEN_USE_AUDIT_EVERY = dt.timedelta(minutes=1)  # token use is audited (and last_used_at set) at most this often
PERSONAL_TOKEN_DAYS = 90
TOKEN_MARK = "ggv"
GENERIC_LOGIN_FAILURE = "wrong username or password"

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
ACTION_RE = re.compile(r"^[a-z][a-z_]*(\.[a-z_]+)+$")

# Which area levels a role's scope may be; None in the set = no scope (the whole deployment) is allowed.
ROLE_SCOPE_LEVELS: dict[Role, frozenset[AreaLevel | None]] = {
    Role.district_leader: frozenset({None, AreaLevel.district}),
    Role.district_dispatcher: frozenset({None, AreaLevel.district}),
    Role.street_dispatcher: frozenset({AreaLevel.street}),
    Role.community_secretary: frozenset({AreaLevel.community}),
    Role.grid_worker: frozenset({AreaLevel.community, AreaLevel.grid}),
    Role.unit_handler: frozenset({None, AreaLevel.district, AreaLevel.street, AreaLevel.community}),
    Role.auditor: frozenset({None, AreaLevel.district}),
    Role.admin: frozenset({None, AreaLevel.district}),
    Role.citizen: frozenset({None}),
    Role.system: frozenset({None, AreaLevel.district}),
}
ROLES_WITHOUT_UNIT = frozenset({Role.citizen, Role.system})
ROLES_WITHOUT_PASSWORD = frozenset({Role.system})  # machine accounts authenticate with service tokens only


class LoginFailed(DomainError):
    """A login or password check was refused (401); the attempt has been counted and audited in the session."""

    status = 401
    code = "invalid_credentials"


class SessionInvalid(DomainError):
    """The browser session is unknown, revoked, idle too long or past its lifetime (401)."""

    status = 401
    code = "session_expired"


class TokenInvalid(DomainError):
    """The API token is unknown, malformed, revoked, expired, or its user is disabled (401)."""

    status = 401
    code = "invalid_token"


# --- audit log --------------------------------------------------------------------------------------------------


def add_audit(*, db: Session, record: AuditRecord) -> AuditEntry:
    """Adds one audit entry to the caller's transaction (append-only: it is never changed afterwards)."""
    if not ACTION_RE.match(record.action):
        raise ValueError(f"audit action {record.action!r} must look like 'domain.verb'")
    entry = AuditEntry(
        occurred_at=record.occurred_at or clock.now(),
        actor_user_id=record.actor_user_id,
        actor_name=(record.actor_name or "anonymous")[:100],
        actor_role=record.actor_role,
        action=record.action,
        target_type=record.target_type,
        target_id=None if record.target_id is None else str(record.target_id)[:64],
        purpose=record.purpose[:200] if record.purpose else None,
        source_address=record.source_address[:64] if record.source_address else None,
        outcome=record.outcome,
        detail=dict(record.detail),
    )
    db.add(entry)
    return entry


def write_audit(
    *,
    db: Session,
    actor: Actor | None,
    action: str,
    target_type: str | None = None,
    target_id: str | int | None = None,
    purpose: str | None = None,
    source_address: str | None = None,
    outcome: AuditOutcome = AuditOutcome.ok,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Audits `action` by `actor` on a target (a personal-data read, an export ...) in the caller's transaction."""
    record = AuditRecord.of(
        actor,
        action,
        outcome=outcome,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        purpose=purpose,
        source_address=source_address,
        detail=detail or {},
    )
    return add_audit(db=db, record=record)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to look for in the audit log; every field is optional and they combine with AND."""

    actor: str | None = None  # a username/actor name, or a user id
    action: str | None = None  # an exact action, or a prefix ending in "." ("auth." = every auth action)
    target: str | None = None  # "case:123", or a type alone ("case")
    outcome: AuditOutcome | None = None
    start: dt.datetime | None = None  # inclusive
    end: dt.datetime | None = None  # exclusive
    text: str | None = None  # case-insensitive, in actor, action, target, purpose, source and detail


def search_audit(
    *, db: Session, where: AuditFilter = AuditFilter(), offset: int = 0, limit: int = 50
) -> tuple[list[AuditEntry], int]:
    """Returns one page of audit entries matching `where`, newest first, and the total count."""
    conditions: list[Any] = []
    if where.actor:
        actor = where.actor.strip()
        by_name = [func.lower(AuditEntry.actor_name) == actor.lower()]
        user_id = db.scalar(select(User.id).where(User.username == actor.lower()))
        if user_id is not None:
            by_name.append(AuditEntry.actor_user_id == user_id)
        if actor.isdigit():
            by_name.append(AuditEntry.actor_user_id == int(actor))
        conditions.append(or_(*by_name))
    if where.action:
        action = where.action.strip()
        if action.endswith("."):
            conditions.append(AuditEntry.action.startswith(action, autoescape=True))
        else:
            conditions.append(AuditEntry.action == action)
    if where.target:
        target_type, _, target_id = where.target.strip().partition(":")
        conditions.append(AuditEntry.target_type == target_type)
        if target_id:
            conditions.append(AuditEntry.target_id == target_id)
    if where.outcome:
        conditions.append(AuditEntry.outcome == where.outcome)
    if where.start:
        conditions.append(AuditEntry.occurred_at >= where.start)
    if where.end:
        conditions.append(AuditEntry.occurred_at < where.end)
    if where.text:
        needle = where.text.strip().lower()
        columns = (
            AuditEntry.actor_name,
            AuditEntry.action,
            AuditEntry.target_id,
            AuditEntry.purpose,
            AuditEntry.source_address,
            cast(AuditEntry.detail, String),
        )
        conditions.append(or_(*(func.lower(c).contains(needle, autoescape=True) for c in columns)))
    total = db.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    stmt = (
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(db.scalars(stmt)), total


# --- users ------------------------------------------------------------------------------------------------------


def get_user(*, db: Session, user_id: int) -> User:
    """Returns the user with `user_id` (unit and scope area loaded); raises NotFoundError."""
    user = db.scalar(select(User).where(User.id == user_id).options(joinedload(User.unit), joinedload(User.scope_area)))
    if user is None:
        raise NotFoundError(f"user {user_id} not found")
    return user


def get_user_by_username(*, db: Session, username: str) -> User:
    """Returns the user called `username` (any letter case); raises NotFoundError."""
    user = db.scalar(
        select(User)
        .where(User.username == normalise_username(username))
        .options(joinedload(User.unit), joinedload(User.scope_area))
    )
    if user is None:
        raise NotFoundError(f"user {username!r} not found")
    return user


def normalise_username(username: str) -> str:
    """Returns the stored form of a username: trimmed and lower-case."""
    return username.strip().lower()


def actor_of(user: User) -> Actor:
    """Returns the Actor services check rules against: role, unit and the path of the user's scope area."""
    return Actor(
        name=user.display_name,
        role=user.role,
        user_id=user.id,
        unit_id=user.unit_id,
        scope_path=user.scope_area.path if user.scope_area is not None else None,
    )


def create_user(
    *, db: Session, data: UserCreate, actor: Actor | None = None, source_address: str | None = None
) -> User:
    """Creates a user after checking username, unit, role against scope, and password; raises InputError."""
    where = f"user {data.username!r}"
    issues: list[Issue] = []
    username = normalise_username(data.username)
    if not USERNAME_RE.match(username):
        issues.append(
            Issue(where, "2-64 characters: letters, digits and . _ @ - (starting with a letter or digit)", "username")
        )
    elif db.scalar(select(User.id).where(User.username == username)) is not None:
        issues.append(Issue(where, "this username is taken", "username"))

    unit = None
    if data.unit:
        unit = db.scalar(select(Unit).where(Unit.code == data.unit.strip()).options(joinedload(Unit.area)))
        if unit is None:
            issues.append(Issue(where, f"no unit with code {data.unit!r}", "unit"))
        elif not unit.is_active:
            issues.append(Issue(where, f"unit {data.unit!r} is not active", "unit"))
    elif data.role not in ROLES_WITHOUT_UNIT:
        issues.append(Issue(where, f"a {data.role} must belong to a unit: give its unit code", "unit"))
    if data.role == Role.citizen and data.unit:
        issues.append(Issue(where, "a citizen belongs to no unit", "unit"))

    area = None
    if data.scope:
        area = db.scalar(select(Area).where(Area.code == data.scope.strip()))
        if area is None:
            issues.append(Issue(where, f"no area with code {data.scope!r}", "scope"))
    allowed = ROLE_SCOPE_LEVELS[data.role]
    level = area.level if area is not None else None
    if (area is not None or not data.scope) and level not in allowed:
        issues.append(Issue(where, _scope_rule(data.role, level), "scope"))
    if unit is not None and unit.area is not None and area is not None:
        if not (area.path.startswith(unit.area.path) or unit.area.path.startswith(area.path)):
            issues.append(
                Issue(
                    where,
                    f"the scope {area.code} ({area.name}) is outside unit {unit.code}'s area {unit.area.code} "
                    f"({unit.area.name}) and not above it",
                    "scope",
                )
            )

    if data.password:
        if data.role in ROLES_WITHOUT_PASSWORD:
            issues.append(Issue(where, f"a {data.role} account logs in with service tokens only", "password"))
        issues += [
            Issue(where, f"password {p}", "password")
            for p in security.password_problems(data.password, username=username)
        ]
    if issues:
        raise InputError(issues, f"user {data.username!r} not created")

    now = clock.now()
    user = User(
        username=username,
        display_name=data.display_name.strip(),
        role=data.role,
        unit=unit,
        scope_area=area,
        password_hash=security.hash_password(data.password) if data.password else None,
        password_changed_at=now if data.password else None,
        is_active=True,
        failed_logins=0,
    )
    db.add(user)
    db.flush()
    write_audit(
        db=db,
        actor=actor,
        action=AuditAction.user_create,
        target_type="user",
        target_id=user.id,
        source_address=source_address,
        detail={
            "username": username,
            "role": str(data.role),
            "unit": unit.code if unit else None,
            "scope": area.code if area else None,
        },
    )
    return user


def _scope_rule(role: Role, level: AreaLevel | None) -> str:
    allowed = ROLE_SCOPE_LEVELS[role]
    names = [str(lv) for lv in LEVEL_ORDER if lv in allowed]
    options = " or ".join(names)
    given = f"a {level} area" if level else "no scope (the whole deployment)"
    if None in allowed:
        return f"a {role}'s scope must be {options or 'empty'} or empty (the whole deployment), not {given}"
    return f"a {role}'s scope must be a {options} area, not {given}"


def list_users(
    *,
    db: Session,
    role: Role | None = None,
    active: bool | None = None,
    text: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[User], int]:
    """Returns one page of users (by username) and the total, filtered by role, activity and text."""
    conditions: list[Any] = []
    if role is not None:
        conditions.append(User.role == role)
    if active is not None:
        conditions.append(User.is_active == active)
    if text:
        needle = text.strip().lower()
        conditions.append(
            or_(
                User.username.contains(needle, autoescape=True),
                func.lower(User.display_name).contains(needle, autoescape=True),
            )
        )
    total = db.scalar(select(func.count()).select_from(User).where(*conditions)) or 0
    stmt = (
        select(User)
        .where(*conditions)
        .options(joinedload(User.unit), joinedload(User.scope_area))
        .order_by(User.username)
        .offset(offset)
        .limit(limit)
    )
    return list(db.scalars(stmt)), total


def disable_user(*, db: Session, user: User, actor: Actor | None = None, source_address: str | None = None) -> User:
    """Disables a user: no more logins, and every session and token of theirs is revoked at once."""
    if actor is not None and actor.user_id == user.id:
        raise Conflict("you cannot disable your own account; ask another administrator")
    now = clock.now()
    was_active = user.is_active
    user.is_active = False
    sessions = revoke_sessions(db=db, user_id=user.id, now=now)
    tokens = db.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    write_audit(
        db=db,
        actor=actor,
        action=AuditAction.user_disable,
        target_type="user",
        target_id=user.id,
        source_address=source_address,
        detail={"username": user.username, "was_active": was_active, "sessions": sessions, "tokens": tokens},
    )
    db.flush()
    return user


def set_password(
    *, db: Session, user: User, password: str, actor: Actor | None = None, source_address: str | None = None
) -> None:
    """Sets a user's password (an administrator's reset): clears any lock and ends the user's sessions."""
    _check_new_password(user, password)
    now = clock.now()
    user.password_hash = security.hash_password(password)
    user.password_changed_at = now
    user.failed_logins = 0
    user.locked_until = None
    revoke_sessions(db=db, user_id=user.id, now=now)
    write_audit(
        db=db,
        actor=actor,
        action=AuditAction.user_password_set,
        target_type="user",
        target_id=user.id,
        source_address=source_address,
        detail={"username": user.username},
    )
    db.flush()


def unlock_user(*, db: Session, user: User, actor: Actor | None = None, source_address: str | None = None) -> None:
    """Lifts a lockout and forgets the failed logins."""
    user.failed_logins = 0
    user.locked_until = None
    write_audit(
        db=db,
        actor=actor,
        action=AuditAction.user_unlock,
        target_type="user",
        target_id=user.id,
        source_address=source_address,
        detail={"username": user.username},
    )
    db.flush()


def change_password(
    *,
    db: Session,
    user: User,
    old_password: str,
    new_password: str,
    source_address: str | None = None,
    keep_session_id: str | None = None,
) -> None:
    """Changes the user's own password; the old one must be given. Ends the user's other sessions.

    A wrong old password counts as a failed login (it would otherwise be a way around the lockout): it is
    recorded in `db` before LoginFailed is raised, so the caller must commit.
    """
    now = clock.now()
    actor = actor_of(user)
    if user.locked_until is not None and user.locked_until > now:
        raise LoginFailed(_locked_message(user), code="account_locked")
    check = security.verify_password(user.password_hash, old_password)
    if not check.ok:
        _count_failure(user, now)
        write_audit(
            db=db,
            actor=actor,
            action=AuditAction.password_change,
            target_type="user",
            target_id=user.id,
            source_address=source_address,
            outcome=AuditOutcome.failed,
            detail={"reason": "wrong current password", "failed_logins": user.failed_logins},
        )
        db.flush()
        raise LoginFailed("the current password is wrong", code="wrong_password")
    _check_new_password(user, new_password)
    if new_password == old_password:
        raise InputError([Issue(f"user {user.username!r}", "must differ from the current one", "new_password")])
    user.password_hash = security.hash_password(new_password)
    user.password_changed_at = now
    user.failed_logins = 0
    revoke_sessions(db=db, user_id=user.id, now=now, keep=keep_session_id)
    write_audit(
        db=db,
        actor=actor,
        action=AuditAction.password_change,
        target_type="user",
        target_id=user.id,
        source_address=source_address,
    )
    db.flush()


def _check_new_password(user: User, password: str) -> None:
    if user.role in ROLES_WITHOUT_PASSWORD:
        raise InputError(
            [Issue(f"user {user.username!r}", f"a {user.role} account logs in with service tokens only", "password")]
        )
    problems = security.password_problems(password, username=user.username)
    if problems:
        raise InputError(
            [Issue(f"user {user.username!r}", f"password {p}", "password") for p in problems], "password refused"
        )


# --- login and lockout ------------------------------------------------------------------------------------------


def lock_duration(failed_logins: int) -> dt.timedelta:
    """Returns how long an account locks after `failed_logins` consecutive failures (15 min, doubling, ≤ 24 h)."""
    if failed_logins < LOCKOUT_THRESHOLD:
        return dt.timedelta(0)
    return min(LOCKOUT_BASE * 2 ** (failed_logins - LOCKOUT_THRESHOLD), LOCKOUT_MAX)


def _count_failure(user: User, now: dt.datetime) -> None:
    user.failed_logins += 1
    if user.failed_logins >= LOCKOUT_THRESHOLD:
        user.locked_until = now + lock_duration(user.failed_logins)


def _locked_message(user: User) -> str:
    assert user.locked_until is not None
    local = user.locked_until.astimezone(get_settings().tz)
    return (
        f"this account is locked after {user.failed_logins} failed logins; try again after "
        f"{local:%Y-%m-%d %H:%M} ({get_settings().timezone}) or ask an administrator to unlock it"
    )


def authenticate(*, db: Session, username: str, password: str, source_address: str | None = None) -> User:
    """Returns the user if the password is right and the account usable; otherwise raises LoginFailed.

    Unknown usernames and wrong passwords get the same message and take the same time. Each failure counts;
    after 5 in a row the account locks for 15 minutes, and each further failure doubles the lock (up to 24 h).
    While locked no password is accepted and attempts do not count; only a caller who knows the password is
    told about the lock. Every attempt is audited; failures are recorded in `db` before raising.
    """
    now = clock.now()
    name = normalise_username(username)
    user = db.scalar(select(User).where(User.username == name).options(joinedload(User.scope_area)))
    if user is None:
        security.verify_password(None, password)
        add_audit(
            db=db,
            record=AuditRecord(
                action=AuditAction.login,
                outcome=AuditOutcome.failed,
                actor_name=name[:100] or "anonymous",
                source_address=source_address,
                detail={"reason": "unknown username"},
            ),
        )
        db.flush()
        raise LoginFailed(GENERIC_LOGIN_FAILURE)

    def audit(outcome: AuditOutcome, **detail: Any) -> None:
        write_audit(
            db=db,
            actor=actor_of(user),
            action=AuditAction.login,
            target_type="user",
            target_id=user.id,
            source_address=source_address,
            outcome=outcome,
            detail=detail,
        )
        db.flush()

    check = security.verify_password(user.password_hash, password)
    if user.locked_until is not None and user.locked_until > now:
        audit(AuditOutcome.denied, reason="account locked", locked_until=user.locked_until.isoformat())
        if check.ok:
            raise LoginFailed(_locked_message(user), code="account_locked")
        raise LoginFailed(GENERIC_LOGIN_FAILURE)
    if not check.ok:
        _count_failure(user, now)
        locked = user.locked_until.isoformat() if user.locked_until and user.locked_until > now else None
        audit(AuditOutcome.failed, reason="wrong password", failed_logins=user.failed_logins, locked_until=locked)
        raise LoginFailed(GENERIC_LOGIN_FAILURE)
    if not user.is_active:
        audit(AuditOutcome.denied, reason="account disabled")
        raise LoginFailed("this account is disabled; ask an administrator", code="account_disabled")
    if check.new_hash:
        user.password_hash = check.new_hash  # NOTE: re-hashed with the current argon2 parameters
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit(AuditOutcome.ok)
    return user


# --- browser sessions -------------------------------------------------------------------------------------------


def create_session(
    *, db: Session, user: User, source_address: str | None = None, user_agent: str | None = None
) -> tuple[WebSession, str]:
    """Opens a browser session for `user`; returns it and the cookie value (which is stored only as a hash)."""
    now = clock.now()
    cookie = security.random_token()
    session = WebSession(
        id=security.sha256_hex(cookie),
        user_id=user.id,
        csrf_token=security.random_token(24),
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_LIFETIME,
        source_address=source_address[:64] if source_address else None,
        user_agent=user_agent[:200] if user_agent else None,
    )
    db.add(session)
    db.flush()
    return session, cookie


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """A valid browser session with its user, and whether its last-seen time is due to be written."""

    session: WebSession
    user: User
    touch_due: bool


def find_session(*, db: Session, cookie: str) -> SessionCheck:
    """Returns the live session behind a cookie value, or raises SessionInvalid (read-only)."""
    now = clock.now()
    row = db.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.id == security.sha256_hex(cookie))
        .options(joinedload(User.scope_area))
    ).one_or_none()
    if row is None:
        raise SessionInvalid("session expired, log in again")
    session, user = row
    if (
        session.revoked_at is not None
        or now >= session.expires_at
        or now - session.last_seen_at >= SESSION_IDLE
        or not user.is_active
    ):
        raise SessionInvalid("session expired, log in again")
    return SessionCheck(session=session, user=user, touch_due=now - session.last_seen_at >= SESSION_TOUCH_EVERY)


def touch_session(*, db: Session, session_id: str) -> bool:
    """Records activity on a session (at most once a minute, whichever process gets there first)."""
    now = clock.now()
    result = db.execute(
        update(WebSession)
        .where(WebSession.id == session_id, WebSession.last_seen_at <= now - SESSION_TOUCH_EVERY)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def revoke_session(
    *, db: Session, session_id: str, actor: Actor | None = None, source_address: str | None = None
) -> None:
    """Ends one browser session (logout)."""
    session = db.get(WebSession, session_id)
    if session is None or session.revoked_at is not None:
        return
    session.revoked_at = clock.now()
    write_audit(
        db=db,
        actor=actor,
        action=AuditAction.logout,
        target_type="user",
        target_id=session.user_id,
        source_address=source_address,
    )
    db.flush()


def revoke_sessions(*, db: Session, user_id: int, now: dt.datetime | None = None, keep: str | None = None) -> int:
    """Ends every open session of a user (but `keep`); returns how many."""
    conditions = [WebSession.user_id == user_id, WebSession.revoked_at.is_(None)]
    if keep is not None:
        conditions.append(WebSession.id != keep)
    result = db.execute(
        update(WebSession)
        .where(*conditions)
        .values(revoked_at=now or clock.now())
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount


def purge_sessions(*, db: Session, older_than: dt.timedelta = dt.timedelta(days=30)) -> int:
    """Deletes session rows that ended more than `older_than` ago (they only fill the table); returns how many."""
    cutoff = clock.now() - older_than
    rows = db.scalars(
        select(WebSession).where(or_(WebSession.expires_at < cutoff, WebSession.revoked_at < cutoff))
    ).all()
    for row in rows:
        db.delete(row)
    db.flush()
    return len(rows)


# --- API tokens -------------------------------------------------------------------------------------------------


def create_token(
    *,
    db: Session,
    user: User,
    name: str,
    scopes: list[TokenScope] | list[str],
    kind: TokenKind = TokenKind.personal,
    expires_days: int | None = None,
    actor: Actor | None = None,
    source_address: str | None = None,
) -> tuple[ApiToken, str]:
    """Creates an API token for `user`; returns it and the token text, which is shown once and stored hashed.

    Personal tokens expire after 90 days unless `expires_days` says otherwise; service tokens only when
    `expires_days` is given. A scope must grant the user's role something.
    """
    where = f"token {name!r} of {user.username!r}"
    issues: list[Issue] = []
    name = name.strip()
    if not name or len(name) > 100:
        issues.append(Issue(where, "a name of 1-100 characters is required", "name"))
    elif db.scalar(
        select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.name == name, ApiToken.revoked_at.is_(None))
    ):
        issues.append(Issue(where, "the user already has a live token of this name; revoke it or pick another", "name"))
    wanted: list[TokenScope] = []
    for scope in scopes:
        try:
            wanted.append(TokenScope(scope))
        except ValueError:
            issues.append(Issue(where, f"unknown scope {scope!r}; one of {', '.join(TokenScope)}", "scopes"))
    if not scopes:
        issues.append(Issue(where, "give at least one scope", "scopes"))
    role_actions = PERMISSIONS.get(user.role, {})
    for scope in wanted:
        if not any(ACTION_TOKEN_SCOPES[a] == scope for a in role_actions):
            issues.append(Issue(where, f"scope {scope} grants nothing to a {user.role}", "scopes"))
    if expires_days is not None and not 1 <= expires_days <= 3650:
        issues.append(Issue(where, "expiry must be 1-3650 days", "expires_days"))
    if not user.is_active:
        issues.append(Issue(where, "the user is disabled", "user"))
    if issues:
        raise InputError(issues, f"token {name!r} not created")

    now = clock.now()
    days = expires_days if expires_days is not None else (PERSONAL_TOKEN_DAYS if kind == TokenKind.personal else None)
    prefix = security.random_token(8).replace("-", "x").replace("_", "y")[:10]
    text = f"{TOKEN_MARK}_{prefix}_{security.random_token(32)}"
    token = ApiToken(
        user_id=user.id,
        name=name,
        kind=kind,
        prefix=prefix,
        hash=security.token_hash(text, get_settings().secret_key),
        scopes=sorted({str(s) for s in wanted}),
        created_at=now,
        expires_at=now + dt.timedelta(days=days) if days else None,
    )
    db.add(token)
    db.flush()
    write_audit(
        db=db,
        actor=actor or actor_of(user),
        action=AuditAction.token_create,
        target_type="api_token",
        target_id=token.id,
        source_address=source_address,
        detail={"user": user.username, "name": name, "kind": str(kind), "scopes": token.scopes, "prefix": prefix},
    )
    return token, text


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """A valid API token with its user, and whether its use is due to be recorded (and audited)."""

    token: ApiToken
    user: User
    use_due: bool


def find_token(*, db: Session, token: str) -> TokenCheck:
    """Returns the live token matching the text `token`, or raises TokenInvalid (read-only)."""
    now = clock.now()
    mark, _, rest = token.strip().partition("_")
    prefix, _, secret = rest.partition("_")
    if mark != TOKEN_MARK or not prefix or not secret:
        raise TokenInvalid("malformed API token: expected ggv_<prefix>_<secret>", reason="malformed")
    row = db.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.prefix == prefix)
        .options(joinedload(User.scope_area))
    ).one_or_none()
    if row is None or not security.same_secret(
        security.token_hash(token.strip(), get_settings().secret_key), row[0].hash
    ):
        raise TokenInvalid("unknown API token", reason="unknown", prefix=prefix)
    api_token, user = row
    if api_token.revoked_at is not None:
        raise TokenInvalid("this API token has been revoked", reason="revoked", token_id=api_token.id)
    if api_token.expires_at is not None and now >= api_token.expires_at:
        raise TokenInvalid("this API token has expired", reason="expired", token_id=api_token.id)
    if not user.is_active:
        raise TokenInvalid("the user of this API token is disabled", reason="user disabled", token_id=api_token.id)
    due = api_token.last_used_at is None or now - api_token.last_used_at >= TOKEN_USE_AUDIT_EVERY
    return TokenCheck(token=api_token, user=user, use_due=due)


def record_token_use(*, db: Session, token_id: int, source_address: str | None = None, path: str | None = None) -> bool:
    """Sets last_used_at and audits the use, at most once a minute per token (across processes); True if written."""
    now = clock.now()
    result = db.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - TOKEN_USE_AUDIT_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    token = db.get(ApiToken, token_id)
    assert token is not None
    db.refresh(token)
    user = get_user(db=db, user_id=token.user_id)
    write_audit(
        db=db,
        actor=actor_of(user),
        action=AuditAction.token_use,
        target_type="api_token",
        target_id=token_id,
        source_address=source_address,
        detail={"name": token.name, "prefix": token.prefix, "path": path},
    )
    db.flush()
    return True


def verify_token(*, db: Session, token: str, source_address: str | None = None) -> ApiToken:
    """Returns the live token for `token` and records its use (rate-limited); raises TokenInvalid."""
    check = find_token(db=db, token=token)
    if check.use_due:
        record_token_use(db=db, token_id=check.token.id, source_address=source_address)
    return check.token


def list_tokens(*, db: Session, user_id: int) -> list[ApiToken]:
    """Returns a user's tokens, live ones first, newest first."""
    stmt = (
        select(ApiToken)
        .where(ApiToken.user_id == user_id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list(db.scalars(stmt))


def get_token(*, db: Session, token_id: int) -> ApiToken:
    """Returns the token with `token_id`; raises NotFoundError."""
    token = db.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError(f"token {token_id} not found")
    return token


def revoke_token(
    *, db: Session, token: ApiToken, actor: Actor | None = None, source_address: str | None = None
) -> ApiToken:
    """Revokes a token at once (revoking twice is harmless)."""
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        write_audit(
            db=db,
            actor=actor,
            action=AuditAction.token_revoke,
            target_type="api_token",
            target_id=token.id,
            source_address=source_address,
            detail={"name": token.name, "prefix": token.prefix, "user_id": token.user_id},
        )
        db.flush()
    return token
