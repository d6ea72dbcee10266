"""`gridgov staff`: the staffing report (XLSX too), visit coverage, an area's staff, registering staff on the server,
and applying the personnel filings whose date has come.

Exit status: 0 on success; 1 when the input cannot be used (nothing written), with the reason.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridgov.domains.auth.schemas import Actor

NAME = "staff"
app = typer.Typer(
    help="Grid staff: staffing ratio (社区工作者配备), visit coverage, assignments, personnel filings (报备).",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(error: Exception) -> typer.Exit:
    """Prints why a command was refused to stderr; returns exit 1."""
    from gridgov.core.errors import DomainError

    text = error.message if isinstance(error, DomainError) else str(error)
    for line in text.splitlines():
        err_console.print(line, markup=False)
    return typer.Exit(1)


def _cli_actor() -> Actor:
    """The operator on the server, as the audit log names them."""
    import getpass

    from gridgov.domains.auth.enums import Role

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(name=f"cli:{who}", role=Role.system)


def _scope(db: object, area: str | None) -> str | None:
    from gridgov.core.errors import NotFoundError
    from gridgov.domains.staff import service

    try:
        path, _ = service.scope_area(db=db, actor=_cli_actor(), code=area)  # type: ignore[arg-type]
    except NotFoundError as error:
        raise _fail(error) from None
    return path


@app.command("staffing")
def staffing_command(
    level: Annotated[str, typer.Option(help="community or street")] = "community",
    area: Annotated[str | None, typer.Option(help="only this area's subtree (an area code)")] = None,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="also write the report to this XLSX file")] = None,
    standard: Annotated[
        float | None, typer.Option(help="workers per 10,000 residents (default GRIDGOV_STAFFING_STANDARD_PER_10K)")
    ] = None,
) -> None:
    """Prints community workers per 10,000 residents per community or street, the under-staffed first."""
    from gridgov.core.db import transaction
    from gridgov.core.errors import DomainError
    from gridgov.domains.staff import staffing

    if standard is not None and standard <= 0:
        raise _fail(ValueError("--standard: a number of workers above 0"))
    try:
        with transaction(write=False) as db:
            report = staffing.report(db=db, level=level, scope_path=_scope(db, area), standard=standard)
    except DomainError as error:
        raise _fail(error) from None
    table = Table(
        title=f"community workers per 10,000 residents (社区工作者配备), standard {report.standard:g}, {report.on}",
        title_justify="left",
    )
    for column in ("code", "name", "workers", "residents", "per 10,000", "short by"):
        table.add_column(column, justify="left" if column in ("code", "name") else "right")
    for row in report.rows:
        table.add_row(
            row.area.code,
            row.area.name,
            str(row.staff),
            "—" if row.population is None else f"{row.population:,}",
            "—" if row.per_10k is None else f"{row.per_10k:.1f}",
            str(row.short_by) if row.below_standard else "",
        )
    console.print(table)
    console.print(
        f"{len(report.below)} of {len(report.rows)} {level} areas under-staffed, {report.short_total} workers short",
        markup=False,
    )
    if xlsx is not None:
        try:
            staffing.write_xlsx(report, xlsx)
        except OSError as exc:
            raise _fail(ValueError(f"{xlsx}: cannot write: {exc.strerror or exc}")) from None
        console.print(f"wrote {xlsx}", markup=False)


@app.command("coverage")
def coverage_command(
    period: Annotated[
        str | None, typer.Option(help="2026-11, 2026-Q4, 2026 or 2026-11-01..2026-11-15 (default: this month)")
    ] = None,
    level: Annotated[str, typer.Option(help="grid, community or street")] = "grid",
    area: Annotated[str | None, typer.Option(help="only this area's subtree (an area code)")] = None,
) -> None:
    """Prints household visit coverage (走访覆盖率) per area over a period, from the visits and their cases only."""
    from gridgov.config import get_settings
    from gridgov.core.db import transaction
    from gridgov.core.errors import DomainError
    from gridgov.domains.evaluation.periods import Period
    from gridgov.domains.staff import coverage, service

    try:
        with transaction(write=False) as db:
            chosen = Period.parse(period or service.today().strftime("%Y-%m"), get_settings().tz)
            found = coverage.coverage(db=db, period=chosen, level=level, scope_path=_scope(db, area))
    except DomainError as error:
        raise _fail(error) from None
    table = Table(title=f"household visit coverage (走访覆盖率), {found.period.label}", title_justify="left")
    for column in ("code", "name", "households", "visited", "coverage", "visits", "workers", "findings", "cases"):
        table.add_column(column, justify="left" if column in ("code", "name") else "right")
    for row in [*found.rows, found.total]:
        table.add_row(
            "total" if row is found.total else row.code,
            row.name,
            "—" if row.households is None else f"{row.households:,}",
            str(row.households_visited),
            "—" if row.coverage is None else f"{row.coverage:.1%}",
            str(row.visits),
            str(len(row.workers)),
            str(row.findings),
            f"{row.cases} ({row.cases_closed} closed)",
        )
    console.print(table)


@app.command("list")
def list_command(
    area: Annotated[str, typer.Option(help="the street, community or grid (an area code)")],
    history: Annotated[bool, typer.Option("--history", help="ended assignments too")] = False,
    below: Annotated[bool, typer.Option("--below", help="the areas below too")] = False,
) -> None:
    """Prints the posts held in an area today (or its whole history)."""
    from gridgov.core.db import transaction
    from gridgov.core.errors import DomainError
    from gridgov.domains.staff import service
    from gridgov.domains.staff.enums import EMPLOYMENT_LABELS_ZH, POST_LABELS_ZH

    try:
        with transaction(write=False) as db:
            place = service.get_area(db=db, code=area)
            rows, total = service.list_assignments(
                db=db, actor=_cli_actor(), area=place, subtree=below, history=history, limit=None
            )
            lines = [
                (
                    str(r.id),
                    r.area.code,
                    r.member.name,
                    f"{POST_LABELS_ZH[r.post]} {r.post}",
                    EMPLOYMENT_LABELS_ZH[r.employment],
                    r.starts_on.isoformat(),
                    r.ends_on.isoformat() if r.ends_on else "",
                    "✓" if service.is_counted(r) else "",
                )
                for r in rows
            ]
    except DomainError as error:
        raise _fail(error) from None
    table = Table(title=f"staff of {place.code} {place.name} ({total})", title_justify="left")
    for column in ("id", "area", "name", "post", "", "from", "until", "counted"):
        table.add_column(column)
    for line in lines:
        table.add_row(*line)
    console.print(table)


@app.command("assign")
def assign_command(
    area: Annotated[str, typer.Option(help="the street, community or grid (an area code)")],
    post: Annotated[str, typer.Option(help="grid_leader, grid_worker, community_secretary, community_worker ...")],
    user: Annotated[str | None, typer.Option(help="the person's username, when they have a login")] = None,
    name: Annotated[str | None, typer.Option(help="a person without login: their name")] = None,
    phone: Annotated[str | None, typer.Option(help="their work phone")] = None,
    part_time: Annotated[bool, typer.Option("--part-time", help="part-time (兼职); default full-time")] = False,
    starts: Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD (default today)")] = None,
) -> None:
    """Registers a post held today (or from --from) on the server, for a first load of the register; audited.
    Later changes of community and grid staff go through filings (报备) in the console or the API."""
    from gridgov.core.db import transaction
    from gridgov.core.errors import DomainError
    from gridgov.domains.staff import service
    from gridgov.domains.staff.enums import Employment, Post

    try:
        chosen_post = Post(post)
    except ValueError:
        raise _fail(ValueError(f"--post: one of {', '.join(p.value for p in Post)}")) from None
    try:
        first = dt.date.fromisoformat(starts) if starts else None
    except ValueError:
        raise _fail(ValueError(f"--from: not a date: {starts!r} (YYYY-MM-DD)")) from None
    if (user is None) == (name is None):
        raise _fail(ValueError("name the person with --user USERNAME or --name NAME (one of them)"))
    try:
        with transaction() as db:
            row = service.assign(
                db=db,
                actor=_cli_actor(),
                area=service.get_area(db=db, code=area),
                post=chosen_post,
                employment=Employment.part_time if part_time else Employment.full_time,
                starts_on=first,
                user=service.get_user(db=db, username=user) if user else None,
                name=name,
                work_phone=phone,
                source_address="cli",
            )
            text = f"assignment {row.id}: {row.member.name}, {row.post} in {area} from {row.starts_on}"
    except DomainError as error:
        raise _fail(error) from None
    console.print(text, markup=False)


@app.command("apply-due")
def apply_due_command() -> None:
    """Applies the approved personnel filings whose effective date has come (what the daily job does)."""
    from gridgov.core.db import get_engine
    from gridgov.domains.staff import jobs

    done = jobs.apply_due_filings(engine=get_engine())
    console.print(f"{done['applied']} applied, {done['failed']} could not take effect", markup=False)
