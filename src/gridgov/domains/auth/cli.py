"""`gridgov users`: create, list, disable and reset users; issue API tokens; publish the permission table."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridgov.core import clock
from gridgov.core.db import transaction
from gridgov.core.errors import DomainError, InputError, NotFoundError
from gridgov.core.permissions import ACTIONS, PERMISSIONS, permissions_markdown
from gridgov.domains.auth import service
from gridgov.domains.auth.enums import ROLE_LABELS_ZH, Role, TokenKind, TokenScope
from gridgov.domains.auth.schemas import Actor, UserCreate

NAME = "users"
app = typer.Typer(help="User accounts, API tokens and the permission table.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)
SOURCE = "cli"


def _cli_actor() -> Actor:
    """The audit log's actor for commands run on the server itself (the operating-system user)."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(name=f"cli:{who}", role=Role.system)


def _fail(error: Exception) -> typer.Exit:
    text = str(error) if isinstance(error, InputError | NotFoundError) else getattr(error, "message", str(error))
    for line in text.splitlines():
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _read_password(username: str) -> str:
    first = typer.prompt(f"password for {username}", hide_input=True)
    second = typer.prompt("repeat it", hide_input=True)
    if first != second:
        err_console.print("the two passwords differ; nothing written")
        raise typer.Exit(1)
    return first


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Login name: letters, digits and . _ @ -")],
    role: Annotated[Role, typer.Option(help="What the user does.", case_sensitive=False)],
    unit: Annotated[str | None, typer.Option(help="Code of the user's unit (not for citizens).")] = None,
    scope: Annotated[str | None, typer.Option(help="Code of the area they work in; omit = whole deployment.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: the username).")] = None,
    password: Annotated[
        str | None, typer.Option(help="Initial password (default: asked twice, hidden). Avoid: shell history.")
    ] = None,
    no_password: Annotated[bool, typer.Option("--no-password", help="A token-only account (machines).")] = False,
) -> None:
    """Creates a user with a role, a unit and an area scope."""
    if password is None and not no_password and role != Role.system:
        password = _read_password(username)
    data = UserCreate(
        username=username,
        display_name=name or username,
        role=role,
        unit=unit,
        scope=scope,
        password=None if no_password else password,
    )
    try:
        with transaction() as db:
            user = service.create_user(db=db, data=data, actor=_cli_actor(), source_address=SOURCE)
            summary = f"user {user.username} created: {user.role} ({ROLE_LABELS_ZH[user.role]})"
            if user.unit is not None:
                summary += f", unit {user.unit.code} {user.unit.name}"
            summary += f", scope {user.scope_area.code} {user.scope_area.name}" if user.scope_area else ", no scope"
    except (InputError, DomainError) as error:
        raise _fail(error) from None
    console.print(summary, markup=False)


@app.command("list")
def list_users(
    role: Annotated[Role | None, typer.Option(help="Only this role.", case_sensitive=False)] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Include disabled users.")] = False,
) -> None:
    """Lists users: role, unit, scope, state and last login."""
    with transaction(write=False) as db:
        users, total = service.list_users(db=db, role=role, active=None if all_users else True, limit=10_000)
        table = Table(title=f"{total} user{'s' if total != 1 else ''}", title_justify="left")
        # NOTE: usernames are never cut short (they are what an operator types next); other columns fold.
        table.add_column("username", no_wrap=True, min_width=max((len(u.username) for u in users), default=8))
        for column in ("name", "role", "unit", "scope", "state", "last login"):
            table.add_column(column, overflow="fold")
        for user in users:
            state = "active" if user.is_active else "disabled"
            if user.locked_until is not None and user.locked_until > clock.now():
                state = f"locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
            table.add_row(
                user.username,
                user.display_name,
                str(user.role),
                user.unit.code if user.unit else "",
                user.scope_area.code if user.scope_area else "(all)",
                state,
                f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never",
            )
    console.print(table)


@app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="The user to disable.")]) -> None:
    """Disables a user: no more logins; their sessions and tokens are revoked."""
    try:
        with transaction() as db:
            user = service.get_user_by_username(db=db, username=username)
            service.disable_user(db=db, user=user, actor=_cli_actor(), source_address=SOURCE)
    except (NotFoundError, DomainError) as error:
        raise _fail(error) from None
    console.print(f"user {user.username} disabled; sessions and tokens revoked")


@app.command("password")
def password(
    username: Annotated[str, typer.Argument(help="The user whose password to set.")],
    new: Annotated[str | None, typer.Option("--password", help="The new password (default: asked, hidden).")] = None,
) -> None:
    """Sets a user's password (a reset): lifts any lock and ends their browser sessions."""
    new = new if new is not None else _read_password(username)
    try:
        with transaction() as db:
            user = service.get_user_by_username(db=db, username=username)
            service.set_password(db=db, user=user, password=new, actor=_cli_actor(), source_address=SOURCE)
    except (InputError, NotFoundError, DomainError) as error:
        raise _fail(error) from None
    console.print(f"password of {user.username} set; their browser sessions were ended")


@app.command("unlock")
def unlock(username: Annotated[str, typer.Argument(help="The locked user.")]) -> None:
    """Lifts a lockout after repeated failed logins."""
    try:
        with transaction() as db:
            user = service.get_user_by_username(db=db, username=username)
            service.unlock_user(db=db, user=user, actor=_cli_actor(), source_address=SOURCE)
    except NotFoundError as error:
        raise _fail(error) from None
    console.print(f"user {user.username} unlocked")


@app.command("token")
def token(
    username: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for (unique among the user's live tokens).")],
    scope: Annotated[
        list[TokenScope], typer.Option("--scope", help="A scope; repeat for several.", case_sensitive=False)
    ],
    service_token: Annotated[
        bool, typer.Option("--service", help="A service token (a machine's; no expiry by default).")
    ] = False,
    expires_days: Annotated[
        int | None, typer.Option(help="Days until it expires (personal default 90; service: never).")
    ] = None,
) -> None:
    """Issues an API token and prints it ONCE: store it now, it cannot be shown again."""
    try:
        with transaction() as db:
            user = service.get_user_by_username(db=db, username=username)
            row, text = service.create_token(
                db=db,
                user=user,
                name=name,
                scopes=list(scope),
                kind=TokenKind.service if service_token else TokenKind.personal,
                expires_days=expires_days,
                actor=_cli_actor(),
                source_address=SOURCE,
            )
            expires = f"expires {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else "never expires"
            summary = (
                f"{row.kind} token {row.name!r} (id {row.id}) for {user.username}: {', '.join(row.scopes)}; {expires}"
            )
    except (InputError, NotFoundError, DomainError) as error:
        raise _fail(error) from None
    err_console.print(summary, markup=False)
    err_console.print("the token (shown once; send it as 'Authorization: Bearer <token>'):")
    typer.echo(text)


@app.command("permissions")
def permissions(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the Markdown reference (docs/permissions.md).")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of printing.", dir_okay=False)] = None,
) -> None:
    """Prints the permission table (role × action → scope)."""
    if markdown or out is not None:
        text = permissions_markdown()
        if out is not None:
            out.write_text(text, encoding="utf-8")
            console.print(f"wrote {out}")
        else:
            typer.echo(text, nl=False)
        return
    table = Table(title="permissions (role × action → scope)", title_justify="left")
    table.add_column("action")
    for role in PERMISSIONS:
        table.add_column(str(role))
    for action in ACTIONS:
        table.add_row(action, *(str(PERMISSIONS[role].get(action, "")) for role in PERMISSIONS))
    console.print(table)
