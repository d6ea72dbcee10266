"""`gridgov demo`: the Jinshui demo district."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from gridgov.config import get_settings
from gridgov.core.db import transaction
from gridgov.core.errors import InputError
from gridgov.demo import service
from gridgov.demo.users import DEMO_PASSWORD, DemoUser, create_demo_users
from gridgov.domains.areas.enums import LEVEL_LABELS_ZH
from gridgov.domains.auth.enums import ROLE_LABELS_ZH, Role

NAME = "demo"
app = typer.Typer(help="The Jinshui demo district (金水区).", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


@app.command("load")
def load(
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing (and succeed) when any area exists already."),
) -> None:
    """Loads the Jinshui demo district: areas, catalogue and lists, IoT devices and cameras, in one transaction."""
    started = time.perf_counter()
    try:
        with transaction() as db:
            if if_empty and service.has_areas(db=db):
                console.print("areas already exist: demo not loaded (--if-empty)")
                return
            report = service.load(db=db)
            logins = create_demo_users(db=db) if get_settings().env != "production" else []
    except InputError as error:
        for line in str(error).splitlines():
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    elapsed = time.perf_counter() - started

    console.print("demo district loaded: 金水区 (410105)")
    table = Table()
    table.add_column("what")
    table.add_column("count", justify="right")
    for level, count in report.areas.items():
        table.add_row(f"{level.value} ({LEVEL_LABELS_ZH[level]})", f"{count:,}")
    table.add_row("units", f"{report.units:,}")
    table.add_row("matter types", f"{report.matter_types:,}")
    table.add_row("responsibility rules", f"{report.responsibilities:,}")
    table.add_row("grid access entries", f"{report.grid_access:,}")
    table.add_row("power items", f"{report.powers:,}")
    table.add_row("12345 category crosswalk", f"{report.crosswalks:,}")
    for what, count in {**report.iot, **report.video, **report.triage}.items():
        table.add_row(what.replace("_", " "), f"{count:,}")
    console.print(table)
    console.print(
        f"population {report.population:,} in {report.households:,} households (illustrative); took {elapsed:.1f} s"
    )
    if logins:
        _print_users(logins)


def _print_users(users: list[tuple[DemoUser, bool]]) -> None:
    table = Table(title=f"demo logins, password {DEMO_PASSWORD} for all", title_justify="left")
    for column in ("username", "role", "scope", "unit"):
        table.add_column(column, no_wrap=column == "username")
    for user, _created in users:
        scope = user.scope or ("" if user.role == Role.citizen else "(whole district)")
        table.add_row(user.username, f"{user.role} {ROLE_LABELS_ZH[user.role]}", scope, user.unit or "")
    console.print(table)
    fresh = sum(created for _, created in users)
    console.print(
        f"{fresh} created now, {len(users) - fresh} existed already" if fresh < len(users) else "all created now"
    )


@app.command("users")
def users() -> None:
    """Creates the demo users (one per role) that are missing, and prints their logins."""
    if get_settings().env == "production":
        err_console.print("refused: demo users have a published password and are never created in production")
        raise typer.Exit(1)
    try:
        with transaction() as db:
            created = create_demo_users(db=db)
    except InputError as error:
        for line in str(error).splitlines():
            err_console.print(line, markup=False, highlight=False, soft_wrap=True)
        err_console.print("load the demo district first: gridgov demo load")
        raise typer.Exit(1) from None
    _print_users(created)
