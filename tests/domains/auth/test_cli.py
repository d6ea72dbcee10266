"""`gridgov users ...` and `gridgov demo users` end to end, on a fresh database of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from gridgov.cli import app
from gridgov.core.db import transaction
from gridgov.demo.users import DEMO_PASSWORD, DEMO_USERS
from gridgov.domains.auth import service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.models import ApiToken, AuditEntry, User
from gridgov.domains.people.privacy import generate_key
from tests.domains.auth.world import PASSWORD, load_world

runner = CliRunner()


@pytest.fixture
def fresh(cli_env: str) -> str:
    """A migrated database holding the synthetic areas, units and one user per role."""
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    with transaction() as db:
        load_world(db, with_cases=False)
    return cli_env


def _user(username: str) -> User | None:
    with transaction(write=False) as db:
        return db.scalar(select(User).where(User.username == username))


def test_create_asks_for_the_password_twice_and_the_user_can_log_in(fresh):
    result = runner.invoke(
        app,
        [
            "users",
            "create",
            "wang.wu",
            "--role",
            "grid_worker",
            "--unit",
            "410105002001-JWH",
            "--scope",
            "410105002001003",
            "--name",
            "王五",
        ],
        input="wang-wu-secret\nwang-wu-secret\n",
    )
    assert result.exit_code == 0, result.output
    assert "user wang.wu created: grid_worker (网格员), unit 410105002001-JWH" in result.output
    with transaction() as db:
        user = service.authenticate(db=db, username="wang.wu", password="wang-wu-secret")
        assert (user.display_name, user.scope_area.code) == ("王五", "410105002001003")
        entry = db.scalar(
            select(AuditEntry).where(AuditEntry.action == "user.create", AuditEntry.target_id == str(user.id))
        )
        assert entry.actor_name.startswith("cli:") and entry.source_address == "cli"


def test_create_with_differing_passwords_writes_nothing(fresh):
    result = runner.invoke(
        app, ["users", "create", "zhao", "--role", "admin", "--unit", "CENTRE"], input="first-password\nsecond-pass\n"
    )
    assert result.exit_code == 1 and "the two passwords differ" in result.output
    assert _user("zhao") is None


def test_create_explains_a_refused_user(fresh):
    result = runner.invoke(
        app, ["users", "create", "zhao", "--role", "street_dispatcher", "--unit", "CENTRE", "--password", "1234567890"]
    )
    assert result.exit_code == 1
    assert "user 'zhao' not created (2 problems)" in result.output
    assert "user 'zhao', scope: a street_dispatcher's scope must be a street area" in result.output
    assert "user 'zhao', password: password must not be all digits" in result.output
    assert _user("zhao") is None


def test_list_shows_active_users_and_with_all_the_disabled_ones(fresh):
    assert runner.invoke(app, ["users", "disable", "citizen"]).exit_code == 0
    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    assert "9 users" in listed.output and "gridworker" in listed.output and "citizen" not in listed.output
    everyone = runner.invoke(app, ["users", "list", "--all"])
    assert "10 users" in everyone.output and "disabled" in everyone.output
    handlers = runner.invoke(app, ["users", "list", "--role", "unit_handler"])
    assert "2 users" in handlers.output


def test_disable_unknown_user_fails_cleanly(fresh):
    result = runner.invoke(app, ["users", "disable", "nobody"])
    assert result.exit_code == 1 and "user 'nobody' not found" in result.output


def test_disable_ends_logins(fresh):
    assert runner.invoke(app, ["users", "disable", "street"]).exit_code == 0
    with transaction() as db, pytest.raises(service.LoginFailed, match="disabled"):
        service.authenticate(db=db, username="street", password=PASSWORD)


def test_token_is_printed_once_and_works(fresh):
    result = runner.invoke(
        app,
        [
            "users",
            "token",
            "dispatcher",
            "--name",
            "iot gateway",
            "--scope",
            "cases:write",
            "--scope",
            "cases:read",
            "--service",
        ],
    )
    assert result.exit_code == 0, result.output
    text = result.stdout.strip().splitlines()[-1]
    assert text.startswith("ggv_")
    assert "service token 'iot gateway'" in result.stderr and "never expires" in result.stderr
    with transaction() as db:
        token = service.verify_token(db=db, token=text)
        assert token.scopes == ["cases:read", "cases:write"] and token.expires_at is None
        assert db.scalar(select(ApiToken.hash).where(ApiToken.id == token.id)) != text


def test_token_refuses_a_scope_the_role_lacks(fresh):
    result = runner.invoke(app, ["users", "token", "gridworker", "--name", "x", "--scope", "admin"])
    assert result.exit_code == 1 and "scope admin grants nothing to a grid_worker" in result.output


def test_password_reset_and_unlock(fresh):
    with transaction() as db:
        for _ in range(5):
            try:
                service.authenticate(db=db, username="street", password="wrong-wrong")
            except service.LoginFailed:
                pass
    assert _user("street").locked_until is not None
    assert runner.invoke(app, ["users", "unlock", "street"]).exit_code == 0
    assert _user("street").locked_until is None
    weak = runner.invoke(app, ["users", "password", "street", "--password", "short"])
    assert weak.exit_code == 1 and "at least 10 characters" in weak.output
    reset = runner.invoke(app, ["users", "password", "street"], input="another-secret\nanother-secret\n")
    assert reset.exit_code == 0, reset.output
    with transaction() as db:
        assert service.authenticate(db=db, username="street", password="another-secret").username == "street"


def test_demo_load_creates_one_user_per_role_and_demo_users_prints_them(cli_env):
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    users_before_areas = runner.invoke(app, ["demo", "users"])
    assert users_before_areas.exit_code == 1 and "load the demo district first" in users_before_areas.output

    loaded = runner.invoke(app, ["demo", "load"])
    assert loaded.exit_code == 0, loaded.output
    assert f"password {DEMO_PASSWORD}" in loaded.output
    printed = runner.invoke(app, ["demo", "users"])
    assert printed.exit_code == 0, printed.output
    assert "0 created now, 9 existed already" in printed.output
    for demo in DEMO_USERS:
        assert demo.username in printed.output
    with transaction() as db:
        assert {u.role for u in db.scalars(select(User))} == set(Role) - {Role.system}
        for demo in DEMO_USERS:
            user = service.authenticate(db=db, username=demo.username, password=DEMO_PASSWORD)
            actor = service.actor_of(user)
            assert (user.unit.code if user.unit else None) == demo.unit
            assert actor.scope_path == (user.scope_area.path if demo.scope else None)
        gridworker = service.get_user_by_username(db=db, username="gridworker")
        assert gridworker.scope_area.name == "锦湖社区第1网格"


def test_demo_users_are_refused_in_production(cli_env, monkeypatch):
    monkeypatch.setenv("GRIDGOV_ENV", "production")
    monkeypatch.setenv("GRIDGOV_SECRET_KEY", "a-long-random-production-secret-value")
    monkeypatch.setenv("GRIDGOV_PERSONAL_DATA_KEYS", f"k1:{generate_key()}")
    monkeypatch.setenv("GRIDGOV_PERSONAL_DATA_INDEX_KEY", generate_key())
    from gridgov.config import get_settings

    get_settings.cache_clear()
    result = runner.invoke(app, ["demo", "users"])
    assert result.exit_code == 1 and "never created in production" in " ".join(result.output.split())


def test_a_machine_account_gets_no_password_and_a_service_token(fresh):
    created = runner.invoke(app, ["users", "create", "iot-gateway", "--role", "system", "--name", "物联网关"])
    assert created.exit_code == 0, created.output
    assert _user("iot-gateway").password_hash is None
    issued = runner.invoke(
        app, ["users", "token", "iot-gateway", "--name", "sensors", "--scope", "cases:write", "--service"]
    )
    assert issued.exit_code == 0, issued.output
    with transaction() as db:
        assert service.verify_token(db=db, token=issued.stdout.strip()).kind == "service"


def test_the_demo_readme_lists_every_demo_login():
    readme = (Path(__file__).resolve().parents[3] / "src" / "gridgov" / "demo" / "README.md").read_text(
        encoding="utf-8"
    )
    assert f"**`{DEMO_PASSWORD}`**" in readme
    for demo in DEMO_USERS:
        assert f"| `{demo.username}` | {demo.role} " in readme
