"""`gridgov demo`: the Jinshui demo district."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from gridgov.config import get_settings
from gridgov.core import clock
from gridgov.core.db import get_engine, mark_writer, session_factory, transaction, writer_turn
from gridgov.core.errors import DomainError, InputError
from gridgov.demo import history as demo_history
from gridgov.demo import service
from gridgov.demo.users import DEMO_PASSWORD, DemoUser, create_demo_users
from gridgov.domains.areas.enums import LEVEL_LABELS_ZH
from gridgov.domains.auth.enums import ROLE_LABELS_ZH, Role
from gridgov.domains.cases.models import Case

NAME = "demo"
app = typer.Typer(help="The Jinshui demo district (金水区).", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


@app.command("load")
def load(
    if_empty: bool = typer.Option(
        False,
        "--if-empty",
        help="Do nothing (and succeed) when any area exists already: neither the district nor the history is loaded.",
    ),
    history: int = typer.Option(
        0, "--history", min=0, help="Then generate this many days of case history (gridgov demo history); 0: none."
    ),
) -> None:
    """Loads the Jinshui demo district: areas, catalogue and lists, IoT devices and cameras, in one transaction."""
    started = time.perf_counter()
    try:
        with transaction() as db:
            if if_empty and service.has_areas(db=db):
                # NOTE: the history comes only with a load into an empty database. A second `make demo` must not
                # add another one, and a database someone set up (areas, perhaps no cases yet) is not filled with
                # generated cases behind their back: it gets a hint instead.
                console.print("areas already exist: demo not loaded (--if-empty)")
                if history:
                    _explain_skipped_history(cases=db.scalar(select(func.count(Case.id))) or 0, days=history)
                return
            report = service.load(db=db)
            logins = create_demo_users(db=db) if get_settings().env != "production" else []
            # NOTE: the registers name the demo users (staff, rosters): none without them (production)
            registers = service.load_registers(db=db) if logins else {}
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
    for what, count in {**report.iot, **report.video, **report.triage, **registers}.items():
        table.add_row(what.replace("_", " "), f"{count:,}")
    console.print(table)
    console.print(
        f"population {report.population:,} in {report.households:,} households (illustrative); took {elapsed:.1f} s"
    )
    if logins:
        _print_users(logins)
    if history:
        _generate_history(days=history, per_day=60, seed=demo_history.SEED, force=False)


def _explain_skipped_history(*, cases: int, days: int) -> None:
    """Says why `--history` did nothing after `--if-empty` found areas, and how to add a history by hand."""
    if cases:
        console.print(f"no history generated either: the database holds {cases:,} cases already", soft_wrap=True)
    else:
        console.print(
            "no history generated either (--if-empty); the database holds no cases: "
            f"add {days} days of history with: gridgov demo history --days {days}",
            soft_wrap=True,
        )


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


@app.command("history")
def history(
    days: int = typer.Option(90, "--days", min=1, help="Days of history, ending at --end."),
    per_day: int = typer.Option(60, "--per-day", min=1, help="Reports per day, on average (weekends fewer)."),
    seed: int = typer.Option(demo_history.SEED, "--seed", help="Random seed: the same seed gives the same history."),
    force: bool = typer.Option(False, "--force", help="Add a history even though cases exist already."),
    end: str | None = typer.Option(
        None, "--end", help="When the history ends (default: now): 2026-11-20T18:30 (district time) or with offset."
    ),
) -> None:
    """Generates days of case history in the demo district through the real services (one transaction a day)."""
    ends = None
    if end is not None:
        try:
            ends = dt.datetime.fromisoformat(end)
        except ValueError:
            err_console.print(f"--end: not a date and time: {end!r} (e.g. 2026-11-20T18:30)")
            raise typer.Exit(1) from None
        ends = ends if ends.tzinfo else ends.replace(tzinfo=get_settings().tz)
    _generate_history(days=days, per_day=per_day, seed=seed, force=force, end=ends)


PROGRESS_EVERY = 10  # simulated days between two progress lines
HISTORY_RATE = 40.0  # cases a second, for the estimate printed first (46/s measured on the quiet 2-core machine)


def _duration(seconds: float) -> str:
    """Formats a duration for a progress line: "45 s", "2 min 10 s"."""
    seconds = max(round(seconds), 0)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def progress_printer(
    *, total_days: int, every: int = PROGRESS_EVERY, timer: Callable[[], float] = time.perf_counter
) -> Callable[[dt.date, int], None]:
    """Returns the history's `on_day` callback: a line on the first simulated day and every `every` days after,
    with the cases so far, the time taken and an estimate of the time left."""
    started = timer()
    done = 0

    def on_day(day: dt.date, cases: int) -> None:
        nonlocal done
        done += 1
        if done != 1 and done % every:
            return
        elapsed = timer() - started
        left = elapsed / done * max(total_days - done, 0)
        console.print(
            f"  day {done}/{total_days} ({day:%Y-%m-%d}): {cases:,} cases so far, {_duration(elapsed)}, "
            f"about {_duration(left)} left",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    return on_day


def _generate_history(*, days: int, per_day: int, seed: int, force: bool, end: dt.datetime | None = None) -> None:
    engine = get_engine()
    tz = get_settings().tz
    # NOTE: the end is fixed here so that the progress lines know how many local days the run simulates.
    end = end or clock.now()
    total_days = (end.astimezone(tz).date() - (end - dt.timedelta(days=days)).astimezone(tz).date()).days + 1
    minutes = round(days * per_day / HISTORY_RATE / 60)
    console.print(
        f"generating {days} days of demo history, about {per_day} cases a day (seed {seed}): "
        f"{f'about {minutes} min' if minutes else 'under a minute'} on a quiet machine, one day committed at a time;"
        f" a line every {PROGRESS_EVERY} days ...",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    progress = progress_printer(total_days=total_days)

    with writer_turn(engine), session_factory(engine)() as db:
        mark_writer(db)
        try:
            report = demo_history.generate(
                db=db, days=days, per_day=per_day, seed=seed, end=end, force=force, commit=True, on_day=progress
            )
            db.commit()
        except (DomainError, InputError) as error:
            db.rollback()
            err_console.print(str(error), markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
    first, last = report.start.astimezone(tz), report.end.astimezone(tz)
    console.print(
        f"demo history: {report.cases:,} cases and {report.events:,} events from {first:%Y-%m-%d %H:%M} to"
        f" {last:%Y-%m-%d %H:%M}; {report.users_created:,} demo staff created",
        soft_wrap=True,
    )
    table = Table()
    table.add_column("what")
    table.add_column("cases", justify="right")
    for section, counts in (("channel", report.channels), ("stage", report.stages), ("outcome", report.outcomes)):
        for name, count in counts.items():
            table.add_row(f"{section}: {name}", f"{count:,}")
    console.print(table)
    console.print(f"took {report.seconds:.1f} s ({report.rate:.1f} cases/s)")
