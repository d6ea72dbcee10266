"""Users, lockout and backoff, sessions, tokens and the audit log, at the service level (both databases)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gridgov.core.db import Base
from gridgov.core.errors import Conflict, InputError
from gridgov.domains.auth import service
from gridgov.domains.auth.enums import AuditOutcome, Role, TokenKind, TokenScope
from gridgov.domains.auth.models import AuditEntry, User, WebSession
from gridgov.domains.auth.schemas import UserCreate
from gridgov.domains.auth.service import AuditFilter
from tests.domains.auth.conftest import FakeClock
from tests.domains.auth.world import PASSWORD, AuthWorld

W_CYZX, W_JWH = "410105001-CYZX", "410105001001-JWH"


def _create(db: Session, **values) -> User:
    data = {"username": "new.user", "display_name": "新用户", "password": "long-enough-1", **values}
    return service.create_user(db=db, data=UserCreate(**data))


def _issues(excinfo: pytest.ExceptionInfo[InputError]) -> list[tuple[str | None, str]]:
    return [(issue.field, issue.message) for issue in excinfo.value.issues]


# --- users ------------------------------------------------------------------------------------------------------


def test_create_user_stores_role_unit_scope_and_an_argon2_hash(db: Session, world: AuthWorld):
    user = _create(db, username="  Wang.Wu ", role=Role.street_dispatcher, unit="410105002-CYZX", scope="410105002")
    assert user.username == "wang.wu"
    assert (user.unit.code, user.scope_area.code) == ("410105002-CYZX", "410105002")
    assert user.password_hash.startswith("$argon2id$") and "long-enough-1" not in user.password_hash
    assert service.actor_of(user).scope_path == world.area("410105002").path
    entry = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "user.create", AuditEntry.target_id == str(user.id))
    ).one()
    assert entry.detail == {
        "username": "wang.wu",
        "role": "street_dispatcher",
        "unit": "410105002-CYZX",
        "scope": "410105002",
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"role": Role.street_dispatcher, "unit": "410105001-CYZX", "scope": "410105001001"},
            ("scope", "a street area"),
        ),
        ({"role": Role.street_dispatcher, "unit": "410105001-CYZX"}, ("scope", "not no scope (the whole deployment)")),
        (
            {"role": Role.grid_worker, "unit": "410105001001-JWH", "scope": "410105001"},
            ("scope", "a community or grid"),
        ),
        (
            {"role": Role.community_secretary, "unit": "410105001001-JWH", "scope": "410105001001001"},
            ("scope", "community"),
        ),
        ({"role": Role.district_dispatcher, "unit": "CENTRE", "scope": "410105001"}, ("scope", "or empty")),
        ({"role": Role.grid_worker, "unit": W_JWH, "scope": "410105002001001"}, ("scope", "outside unit")),
        ({"role": Role.grid_worker, "scope": "410105001001001"}, ("unit", "must belong to a unit")),
        ({"role": Role.unit_handler, "unit": "NOPE"}, ("unit", "no unit with code 'NOPE'")),
        ({"role": Role.unit_handler, "unit": "CENTRE", "scope": "999"}, ("scope", "no area with code '999'")),
        ({"role": Role.citizen, "unit": "CENTRE"}, ("unit", "a citizen belongs to no unit")),
        ({"role": Role.admin, "unit": "CENTRE", "username": "x"}, ("username", "2-64 characters")),
        ({"role": Role.admin, "unit": "CENTRE", "username": "张三"}, ("username", "2-64 characters")),
        ({"role": Role.admin, "unit": "CENTRE", "username": "LEADER"}, ("username", "this username is taken")),
        ({"role": Role.admin, "unit": "CENTRE", "password": "1234567890"}, ("password", "must not be all digits")),
        ({"role": Role.system, "password": "long-enough-1"}, ("password", "service tokens only")),
    ],
)
def test_create_user_refuses_bad_input_with_a_clear_issue(db: Session, world: AuthWorld, values, expected):
    before = db.scalar(select(func.count()).select_from(User))
    with pytest.raises(InputError) as caught:
        _create(db, **values)
    field, fragment = expected
    assert any(f == field and fragment in m for f, m in _issues(caught)), _issues(caught)
    assert db.scalar(select(func.count()).select_from(User)) == before


def test_a_system_account_has_no_password_and_cannot_log_in(db: Session, world: AuthWorld):
    user = _create(db, username="iot-gateway", role=Role.system, password=None)
    assert user.password_hash is None and user.unit_id is None
    with pytest.raises(service.LoginFailed, match="wrong username or password"):
        service.authenticate(db=db, username="iot-gateway", password="anything-at-all")


def test_list_users_filters_and_pages(db: Session, world: AuthWorld):
    users, total = service.list_users(db=db, role=Role.unit_handler)
    assert total == 2 and [u.username for u in users] == ["handler", "handler_e"]
    users, total = service.list_users(db=db, text="GRID", limit=5)
    assert [u.username for u in users] == ["gridworker"]
    users, total = service.list_users(db=db, offset=2, limit=3)
    assert total == len(world.users) and len(users) == 3


def test_disable_user_refuses_logins_and_revokes_sessions_and_tokens(db: Session, world: AuthWorld):
    user = world.users["street"]
    session, cookie = service.create_session(db=db, user=user)
    token, raw = service.create_token(db=db, user=user, name="script", scopes=["cases:read"])
    service.disable_user(db=db, user=user, actor=world.actor("admin"))
    assert not user.is_active
    with pytest.raises(service.SessionInvalid):
        service.find_session(db=db, cookie=cookie)
    with pytest.raises(service.TokenInvalid, match="revoked"):
        service.find_token(db=db, token=raw)
    with pytest.raises(service.LoginFailed, match="disabled"):
        service.authenticate(db=db, username="street", password=PASSWORD)
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "user.disable")).one()
    assert entry.actor_user_id == world.users["admin"].id and entry.detail["sessions"] == 1


def test_an_administrator_cannot_disable_themself(db: Session, world: AuthWorld):
    with pytest.raises(Conflict):
        service.disable_user(db=db, user=world.users["admin"], actor=world.actor("admin"))


# --- login, lockout and backoff ---------------------------------------------------------------------------------


def _login_entries(db: Session) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login").order_by(AuditEntry.id)))


def test_authenticate_returns_the_user_and_audits_the_login(db: Session, world: AuthWorld, clock: FakeClock):
    user = service.authenticate(db=db, username=" GridWorker ", password=PASSWORD, source_address="10.1.2.3")
    assert user.id == world.users["gridworker"].id
    assert user.last_login_at == clock.now and user.failed_logins == 0
    [entry] = _login_entries(db)
    assert (entry.outcome, entry.actor_user_id, entry.source_address) == (AuditOutcome.ok, user.id, "10.1.2.3")
    assert entry.actor_name == "gridworker 用户" and entry.actor_role == Role.grid_worker


def test_unknown_user_and_wrong_password_get_the_same_answer(db: Session, world: AuthWorld):
    with pytest.raises(service.LoginFailed) as unknown:
        service.authenticate(db=db, username="nobody", password=PASSWORD)
    with pytest.raises(service.LoginFailed) as wrong:
        service.authenticate(db=db, username="gridworker", password="not-the-password")
    assert unknown.value.message == wrong.value.message == "wrong username or password"
    assert unknown.value.code == wrong.value.code == "invalid_credentials"
    first, second = _login_entries(db)
    assert (first.actor_user_id, first.actor_name, first.detail["reason"]) == (None, "nobody", "unknown username")
    assert (second.outcome, second.detail["reason"], second.detail["failed_logins"]) == (
        AuditOutcome.failed,
        "wrong password",
        1,
    )


def test_five_failures_lock_the_account_and_the_lock_doubles(db: Session, world: AuthWorld, clock: FakeClock):
    user = world.users["gridworker"]
    for _ in range(4):
        with pytest.raises(service.LoginFailed):
            service.authenticate(db=db, username="gridworker", password="wrong-password")
    assert user.locked_until is None and user.failed_logins == 4
    with pytest.raises(service.LoginFailed):
        service.authenticate(db=db, username="gridworker", password="wrong-password")
    assert user.locked_until == clock.now + dt.timedelta(minutes=15)

    # While locked, even the right password is refused; only its holder learns about the lock.
    clock.advance(minutes=14)
    with pytest.raises(service.LoginFailed) as locked:
        service.authenticate(db=db, username="gridworker", password=PASSWORD)
    assert locked.value.code == "account_locked" and "locked after 5 failed logins" in locked.value.message
    assert "2026-11-25 09:15 (Asia/Shanghai)" in locked.value.message
    with pytest.raises(service.LoginFailed) as guessed:
        service.authenticate(db=db, username="gridworker", password="another-guess")
    assert guessed.value.message == "wrong username or password"
    assert user.failed_logins == 5  # attempts during the lock do not count

    # After the lock, one more failure locks for twice as long, then four times ...
    clock.advance(minutes=2)
    with pytest.raises(service.LoginFailed):
        service.authenticate(db=db, username="gridworker", password="wrong-password")
    assert user.locked_until == clock.now + dt.timedelta(minutes=30)
    clock.advance(minutes=31)
    with pytest.raises(service.LoginFailed):
        service.authenticate(db=db, username="gridworker", password="wrong-password")
    assert user.locked_until == clock.now + dt.timedelta(minutes=60)

    # ... and a success after the lock resets everything.
    clock.advance(minutes=61)
    assert service.authenticate(db=db, username="gridworker", password=PASSWORD) is user
    assert user.failed_logins == 0 and user.locked_until is None
    outcomes = [e.outcome for e in _login_entries(db)]
    assert outcomes.count(AuditOutcome.failed) == 7 and outcomes.count(AuditOutcome.denied) == 2
    assert outcomes[-1] == AuditOutcome.ok


def test_lock_duration_is_capped_at_a_day():
    assert service.lock_duration(4) == dt.timedelta(0)
    assert service.lock_duration(5) == dt.timedelta(minutes=15)
    assert service.lock_duration(8) == dt.timedelta(hours=2)
    assert service.lock_duration(40) == dt.timedelta(hours=24)


def test_unlock_lifts_the_lock(db: Session, world: AuthWorld):
    user = world.users["street"]
    for _ in range(5):
        with pytest.raises(service.LoginFailed):
            service.authenticate(db=db, username="street", password="wrong-password")
    service.unlock_user(db=db, user=user, actor=world.actor("admin"))
    assert service.authenticate(db=db, username="street", password=PASSWORD) is user


def test_set_password_resets_a_locked_account_and_ends_sessions(db: Session, world: AuthWorld):
    user = world.users["street"]
    _, cookie = service.create_session(db=db, user=user)
    for _ in range(5):
        with pytest.raises(service.LoginFailed):
            service.authenticate(db=db, username="street", password="wrong-password")
    with pytest.raises(InputError, match="at least 10 characters"):
        service.set_password(db=db, user=user, password="short")
    service.set_password(db=db, user=user, password="brand-new-secret", actor=world.actor("admin"))
    with pytest.raises(service.SessionInvalid):
        service.find_session(db=db, cookie=cookie)
    assert service.authenticate(db=db, username="street", password="brand-new-secret") is user


def test_a_login_rehashes_a_password_stored_with_outdated_parameters(db: Session, world: AuthWorld):
    from argon2 import PasswordHasher

    from gridgov.core import security

    user = world.users["leader"]
    old_hash = user.password_hash
    security.set_password_hasher(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    service.authenticate(db=db, username="leader", password=PASSWORD)
    assert user.password_hash != old_hash and "$m=16,t=2,p=1$" in user.password_hash


def test_change_password_needs_the_old_one_and_counts_wrong_guesses(db: Session, world: AuthWorld):
    user = world.users["secretary"]
    keep, keep_cookie = service.create_session(db=db, user=user)
    _, other_cookie = service.create_session(db=db, user=user)
    with pytest.raises(service.LoginFailed, match="current password is wrong"):
        service.change_password(db=db, user=user, old_password="guess-guess", new_password="new-secret-22")
    assert user.failed_logins == 1
    with pytest.raises(InputError, match="must not be the username"):
        service.change_password(db=db, user=user, old_password=PASSWORD, new_password="secretary")
    with pytest.raises(InputError, match="must differ from the current one"):
        service.change_password(db=db, user=user, old_password=PASSWORD, new_password=PASSWORD)
    service.change_password(
        db=db, user=user, old_password=PASSWORD, new_password="new-secret-22", keep_session_id=keep.id
    )
    assert service.find_session(db=db, cookie=keep_cookie).user is user
    with pytest.raises(service.SessionInvalid):
        service.find_session(db=db, cookie=other_cookie)
    assert service.authenticate(db=db, username="secretary", password="new-secret-22") is user
    outcomes = [e.outcome for e in db.scalars(select(AuditEntry).where(AuditEntry.action == "auth.password_change"))]
    assert sorted(outcomes) == sorted([AuditOutcome.failed, AuditOutcome.ok])


# --- sessions ---------------------------------------------------------------------------------------------------


def test_a_session_is_stored_as_a_hash_and_found_by_its_cookie(db: Session, world: AuthWorld):
    session, cookie = service.create_session(db=db, user=world.users["street"], source_address="10.0.0.1")
    assert session.id != cookie and len(session.id) == 64 and len(cookie) >= 43
    assert db.scalar(select(func.count()).select_from(WebSession).where(WebSession.id == cookie)) == 0
    found = service.find_session(db=db, cookie=cookie)
    assert found.user.username == "street" and found.session.csrf_token == session.csrf_token
    assert not found.touch_due
    with pytest.raises(service.SessionInvalid, match="session expired, log in again"):
        service.find_session(db=db, cookie=cookie + "x")


def test_a_session_expires_when_idle(db: Session, world: AuthWorld, clock: FakeClock):
    _, cookie = service.create_session(db=db, user=world.users["street"])
    clock.advance(hours=1, minutes=59)
    assert service.find_session(db=db, cookie=cookie).touch_due
    clock.advance(minutes=1)
    with pytest.raises(service.SessionInvalid):
        service.find_session(db=db, cookie=cookie)


def test_activity_keeps_a_session_alive_until_its_lifetime_ends(db: Session, world: AuthWorld, clock: FakeClock):
    session, cookie = service.create_session(db=db, user=world.users["street"])
    for _ in range(11):
        clock.advance(hours=1)
        found = service.find_session(db=db, cookie=cookie)
        assert service.touch_session(db=db, session_id=found.session.id)
        assert not service.touch_session(db=db, session_id=found.session.id)  # at most once a minute
        db.expire_all()
    clock.advance(minutes=59)
    service.find_session(db=db, cookie=cookie)
    clock.advance(minutes=1)  # 12 hours after login
    with pytest.raises(service.SessionInvalid):
        service.find_session(db=db, cookie=cookie)


def test_a_revoked_session_is_refused(db: Session, world: AuthWorld):
    session, cookie = service.create_session(db=db, user=world.users["street"])
    service.revoke_session(db=db, session_id=session.id, actor=world.actor("street"))
    with pytest.raises(service.SessionInvalid):
        service.find_session(db=db, cookie=cookie)
    assert db.scalars(select(AuditEntry.action).where(AuditEntry.action == "auth.logout")).all() == ["auth.logout"]


def test_purge_sessions_deletes_long_ended_ones(db: Session, world: AuthWorld, clock: FakeClock):
    old, _ = service.create_session(db=db, user=world.users["street"])
    clock.advance(days=40)
    fresh, _ = service.create_session(db=db, user=world.users["street"])
    assert service.purge_sessions(db=db) == 1
    assert db.get(WebSession, fresh.id) is not None


# --- API tokens -------------------------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_stored_only_as_a_keyed_hash(db: Session, world: AuthWorld, clock: FakeClock):
    token, raw = service.create_token(
        db=db, user=world.users["street"], name="nightly report", scopes=[TokenScope.cases_read, "cases:write"]
    )
    assert raw.startswith(f"ggv_{token.prefix}_") and len(raw) > 50
    assert token.scopes == ["cases:read", "cases:write"] and token.kind == TokenKind.personal
    assert token.expires_at == clock.now + dt.timedelta(days=90)
    db.flush()
    secret = raw.split("_", 2)[2]
    for table in Base.metadata.sorted_tables:
        for row in db.execute(select(table)):
            assert not any(secret in str(value) for value in row), f"the raw token is stored in {table.name}"
    assert service.verify_token(db=db, token=raw).id == token.id


def test_token_scopes_must_be_known_and_granted_to_the_role(db: Session, world: AuthWorld):
    with pytest.raises(InputError) as caught:
        service.create_token(db=db, user=world.users["gridworker"], name="x", scopes=["audit:read", "cases:fly"])
    messages = [m for _, m in _issues(caught)]
    assert (
        "unknown scope 'cases:fly'; one of cases:read, cases:write, residents:read, residents:write, registers:read,"
        " registers:write, exports, audit:read, admin" in messages
    )
    assert "scope audit:read grants nothing to a grid_worker" in messages
    service.create_token(db=db, user=world.users["gridworker"], name="x", scopes=["cases:read"])
    with pytest.raises(InputError, match="already has a live token of this name"):
        service.create_token(db=db, user=world.users["gridworker"], name="x", scopes=["cases:read"])


def test_a_service_token_never_expires_unless_told(db: Session, world: AuthWorld):
    token, _ = service.create_token(
        db=db, user=world.users["dispatcher"], name="iot", scopes=["cases:write"], kind=TokenKind.service
    )
    assert token.expires_at is None
    token, _ = service.create_token(
        db=db,
        user=world.users["dispatcher"],
        name="iot2",
        scopes=["cases:write"],
        kind=TokenKind.service,
        expires_days=7,
    )
    assert token.expires_at is not None


def test_tokens_expire_and_can_be_revoked(db: Session, world: AuthWorld, clock: FakeClock):
    token, raw = service.create_token(
        db=db, user=world.users["street"], name="t", scopes=["cases:read"], expires_days=1
    )
    clock.advance(hours=23)
    service.find_token(db=db, token=raw)
    clock.advance(hours=1)
    with pytest.raises(service.TokenInvalid, match="expired"):
        service.find_token(db=db, token=raw)
    other, raw2 = service.create_token(db=db, user=world.users["street"], name="u", scopes=["cases:read"])
    service.revoke_token(db=db, token=other, actor=world.actor("street"))
    with pytest.raises(service.TokenInvalid, match="revoked"):
        service.find_token(db=db, token=raw2)


@pytest.mark.parametrize("text", ["", "ggv_", "ggv_abc", "abc_def_ghi", "ggv_nope_secret"])
def test_malformed_or_unknown_tokens_are_refused(db: Session, world: AuthWorld, text: str):
    with pytest.raises(service.TokenInvalid):
        service.find_token(db=db, token=text)


def test_a_right_prefix_with_a_wrong_secret_is_refused(db: Session, world: AuthWorld):
    token, raw = service.create_token(db=db, user=world.users["street"], name="t", scopes=["cases:read"])
    with pytest.raises(service.TokenInvalid, match="unknown API token"):
        service.find_token(db=db, token=raw[:-2] + ("AA" if not raw.endswith("AA") else "BB"))


def test_token_use_is_audited_at_most_once_a_minute(db: Session, world: AuthWorld, clock: FakeClock):
    token, raw = service.create_token(db=db, user=world.users["street"], name="t", scopes=["cases:read"])
    for _ in range(3):
        service.verify_token(db=db, token=raw, source_address="10.9.9.9")
        clock.advance(seconds=20)
    clock.advance(seconds=1)
    service.verify_token(db=db, token=raw)
    uses = db.scalars(select(AuditEntry).where(AuditEntry.action == "token.use").order_by(AuditEntry.id)).all()
    assert len(uses) == 2
    assert (uses[0].target_id, uses[0].source_address, uses[0].detail["prefix"]) == (
        str(token.id),
        "10.9.9.9",
        token.prefix,
    )
    db.refresh(token)
    assert token.last_used_at == clock.now


# --- audit log --------------------------------------------------------------------------------------------------


def test_the_audit_log_refuses_update_and_delete(db: Session, world: AuthWorld):
    entry = service.write_audit(
        db=db, actor=world.actor("street"), action="resident.unmask", target_type="resident", target_id=1
    )
    db.flush()
    for statement in (
        update(AuditEntry).where(AuditEntry.id == entry.id).values(actor_name="someone else"),
        delete(AuditEntry).where(AuditEntry.id == entry.id),
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
            db.execute(statement)
    assert db.scalar(select(AuditEntry.actor_name).where(AuditEntry.id == entry.id)) == "street 用户"


def test_the_audit_log_refuses_truncate_on_postgresql(db: Session, world: AuthWorld):
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text("TRUNCATE audit_entry"))


def test_audit_actions_must_look_like_domain_verb(db: Session):
    with pytest.raises(ValueError, match="domain.verb"):
        service.write_audit(db=db, actor=None, action="Login")


@pytest.fixture
def log(db: Session, world: AuthWorld, clock: FakeClock) -> dict[str, AuditEntry]:
    """A few audit entries an hour apart (besides the user.create entries of the world)."""
    entries = {}
    for key, (user, action, target, purpose, detail) in {
        "unmask": ("secretary", "resident.unmask", ("resident", "7"), "入户走访核对", {"field": "phone"}),
        "export": ("street", "export.request", ("export", "3"), "月度通报", {"rows": 120}),
        "view": ("street", "case.view", ("case", "12"), None, {"reason": "outside the user's scope"}),
        "view2": ("handler", "case.view", ("case", "120"), None, {}),
    }.items():
        clock.advance(hours=1)
        entries[key] = service.write_audit(
            db=db,
            actor=world.actor(user),
            action=action,
            target_type=target[0],
            target_id=target[1],
            purpose=purpose,
            source_address="10.0.0.8",
            outcome=AuditOutcome.denied if key == "view" else AuditOutcome.ok,
            detail=detail,
        )
    db.flush()
    return entries


def _search(db: Session, **where) -> list[str]:
    entries, total = service.search_audit(db=db, where=AuditFilter(**where))
    assert total == len(entries)
    return [f"{e.action} {e.target_type}:{e.target_id}" for e in entries]


def test_audit_search_filters(db: Session, world: AuthWorld, log, clock: FakeClock):
    street_id = world.users["street"].id
    assert _search(db, actor="street", action="case.view") == ["case.view case:12"]
    assert _search(db, actor=str(street_id)) == ["case.view case:12", "export.request export:3"]
    assert _search(db, actor="Street 用户") == ["case.view case:12", "export.request export:3"]
    assert _search(db, target="case:12") == ["case.view case:12"]
    assert _search(db, target="case") == ["case.view case:120", "case.view case:12"]
    assert _search(db, action="export.") == ["export.request export:3"]
    assert _search(db, outcome=AuditOutcome.denied) == ["case.view case:12"]
    assert _search(db, text="走访") == ["resident.unmask resident:7"]
    assert _search(db, text="OUTSIDE THE USER") == ["case.view case:12"]
    start = log["export"].occurred_at
    assert _search(db, start=start, end=start + dt.timedelta(hours=2)) == [
        "case.view case:12",
        "export.request export:3",
    ]
    assert _search(db, action="case.view", actor="nobody") == []


def test_audit_search_pages_newest_first(db: Session, world: AuthWorld, log):
    entries, total = service.search_audit(db=db, offset=0, limit=2)
    assert total == len(world.users) + 4
    assert [e.action for e in entries] == ["case.view", "case.view"]
    assert entries[0].occurred_at >= entries[1].occurred_at
    rest, _ = service.search_audit(db=db, offset=2, limit=100)
    assert len(rest) == total - 2
