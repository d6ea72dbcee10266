"""`gridgov duty`: shifts and rosters of the operation centres (值班), who is on duty, gaps, duty contacts, and the
notification job.

Exit status: 0 on success; 1 when the input is refused (nothing written), with every problem listed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from gridgov.config import get_settings
from gridgov.core.clock import now as clock_now
from gridgov.core.db import get_engine, transaction
from gridgov.core.errors import DomainError, InputError, NotFoundError
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.duty import files, jobs, notifiers, rotation, service

NAME = "duty"
app = typer.Typer(
    help="Duty rosters of the operation centres (值班): shifts, rosters, who is on duty, handovers, notifications.",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
CLI_ACTOR = Actor(name="gridgov duty (command line)", role=Role.system)


def _fail(error: Exception | str) -> NoReturn:
    """Prints a refused command's problems to stderr and exits 1 (nothing was written)."""
    text = error.message if isinstance(error, DomainError) else str(error)
    for line in text.splitlines():
        err_console.print(line, markup=False)
    raise typer.Exit(1)


def _local(value: dt.datetime | None) -> str:
    return value.astimezone(service.district_tz()).strftime("%Y-%m-%d %H:%M") if value else ""


def _instant(text: str | None) -> dt.datetime:
    if not text:
        return clock_now()
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(f"not a time: {text!r} (use 2026-12-01T09:00 or 2026-12-01T09:00+08:00)")
    return value if value.tzinfo else value.replace(tzinfo=service.district_tz())


@app.command("centres")
def centres_command() -> None:
    """List the operation centres (the district's and each street's) and their shifts."""
    with transaction(write=False) as db:
        table = Table("code", "centre", "level", "shifts")
        for centre in service.list_centres(db=db, actor=None):
            shifts = service.list_shifts(db=db, centre=centre)
            listed = ", ".join(
                f"{s.code} {s.name} {service.format_span(s.start_minute, s.duration_minutes)}"
                + ("" if s.is_active else " (off)")
                for s in shifts
            )
            table.add_row(centre.code, service.centre_name(centre), str(centre.level), listed or "—")
    console.print(table)


@app.command("shifts")
def shifts_command(
    centre: Annotated[str, typer.Argument(help="area code of the centre (district or street)")],
    defaults: Annotated[
        str | None,
        typer.Option("--defaults", help="add a default set the centre lacks: three (早/中/夜) or day (24 h)"),
    ] = None,
) -> None:
    """List a centre's shifts (adding a default set first with --defaults)."""
    try:
        with transaction() as db:
            area = service.get_centre(db=db, code=centre, actor=None)
            if defaults:
                service.ensure_default_shifts(db=db, centre=area, pattern=defaults, actor=CLI_ACTOR)
            shifts = service.list_shifts(db=db, centre=area)
            rows = [
                (
                    s.code,
                    s.name,
                    service.format_span(s.start_minute, s.duration_minutes),
                    "yes" if s.is_active else "no",
                )
                for s in shifts
            ]
    except (InputError, DomainError, NotFoundError) as error:
        _fail(error)
    table = Table("code", "name", "time", "active", title=f"shifts of {centre}")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command("shift")
def shift_command(
    centre: Annotated[str, typer.Argument(help="area code of the centre")],
    code: Annotated[str, typer.Argument(help="shift code (early, night, day ...)")],
    name: Annotated[str, typer.Argument(help="shift name (早班)")],
    time: Annotated[str, typer.Argument(help="HH:MM-HH:MM; 20:00-08:00 runs past midnight, 08:00-08:00 is 24 h")],
    position: Annotated[int | None, typer.Option(help="order among shifts starting at the same time")] = None,
    inactive: Annotated[bool, typer.Option("--inactive", help="take the shift out of use")] = False,
) -> None:
    """Create or update one shift of a centre."""
    try:
        with transaction() as db:
            area = service.get_centre(db=db, code=centre, actor=None)
            shift = service.set_shift(
                db=db,
                centre=area,
                code=code,
                name=name,
                span=time,
                position=position,
                is_active=not inactive,
                actor=CLI_ACTOR,
            )
            text = f"{shift.code} {shift.name} {service.format_span(shift.start_minute, shift.duration_minutes)}"
    except (InputError, DomainError, NotFoundError) as error:
        _fail(error)
    console.print(f"shift saved: {text}", markup=False)


@app.command("generate")
def generate_command(
    centre: Annotated[str, typer.Argument(help="area code of the centre")],
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    team: Annotated[list[str], typer.Option("--team", help="a team's usernames, comma-separated; repeat per team")],
    leaders: Annotated[str | None, typer.Option(help="daily rota of duty leaders, comma-separated")] = None,
    shift: Annotated[
        list[str] | None, typer.Option("--shift", help="shift code taking part (default: all active)")
    ] = None,
    anchor: Annotated[str | None, typer.Option(help="day 0 of the rotation, YYYY-MM-DD (default: the 1st)")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="replace rows already on the roster")] = False,
) -> None:
    """Write a month's roster from a rotation: teams take the shifts in turn (四班三倒 with 4 teams and 3 shifts)."""
    try:
        day0 = dt.date.fromisoformat(anchor) if anchor else None
    except ValueError:
        _fail(f"not a date: {anchor!r}")
    rules = rotation.Rotation(
        teams=[service.split_names(t) for t in team],
        leaders=service.split_names(leaders),
        shifts=shift or None,
        anchor=day0,
    )
    try:
        with transaction() as db:
            area = service.get_centre(db=db, code=centre, actor=None)
            rows = rotation.generate_month(
                db=db, centre=area, month=month, rotation=rules, actor=CLI_ACTOR, replace=replace
            )
            count = len(rows)
    except (InputError, DomainError, NotFoundError) as error:
        _fail(error)
    console.print(f"{count} roster row(s) written for {centre} {month}", markup=False)


@app.command("import")
def import_command(
    centre: Annotated[str, typer.Argument(help="area code of the centre")],
    path: Annotated[Path, typer.Argument(help="roster workbook (.xlsx), as `gridgov duty export` writes it")],
) -> None:
    """Import a roster workbook for a centre: all or nothing, every problem listed with its row."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        _fail(f"{path}: cannot read: {exc.strerror or exc}")
    try:
        with transaction() as db:
            area = service.get_centre(db=db, code=centre, actor=None)
            report = files.import_roster(db=db, centre=area, data=data, filename=path.name, actor=CLI_ACTOR)
    except (InputError, DomainError, NotFoundError) as error:
        _fail(error)
    span = f", {report.dates[0]} – {report.dates[-1]}" if report.dates else ""
    console.print(f"imported {path.name}: {report.shifts} shift(s), {report.rows} roster row(s){span}", markup=False)


@app.command("export")
def export_command(
    centre: Annotated[str, typer.Argument(help="area code of the centre")],
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    out: Annotated[Path, typer.Option("--out", help="the workbook to write")],
) -> None:
    """Export a centre's roster of a month as a workbook (值班表 and 班次 sheets)."""
    try:
        with transaction(write=False) as db:
            area = service.get_centre(db=db, code=centre, actor=None)
            first, following = service.month_bounds(month)
            data = files.export_roster(db=db, centre=area, start=first, end=following)
    except (InputError, DomainError, NotFoundError) as error:
        _fail(error)
    out.write_bytes(data)
    console.print(f"wrote {out}", markup=False)


@app.command("now")
def now_command(
    centre: Annotated[str | None, typer.Option(help="area code (default: every centre keeping a roster)")] = None,
    at: Annotated[str | None, typer.Option(help="a time (local unless an offset is given); default: now")] = None,
) -> None:
    """Show who is on duty now (or at --at)."""
    instant = _instant(at)
    try:
        with transaction(write=False) as db:
            centres = (
                [service.get_centre(db=db, code=centre, actor=None)]
                if centre
                else service.keeping_roster(db=db, centres=service.list_centres(db=db, actor=None))
            )
            groups = service.on_duty(db=db, centres=centres, at=instant)
    except (InputError, DomainError, NotFoundError) as error:
        _fail(error)
    table = Table("centre", "duty leader", "staff", "until", title=f"on duty at {_local(instant)}")
    for group in groups:
        leaders = "、".join(f"{p.name}{f' {p.mobile}' if p.mobile else ''}" for p in group.leaders)
        staff = "、".join(p.name for p in group.people if not p.is_leader)
        table.add_row(
            service.centre_name(group.centre),
            leaders or "[red]nobody on duty[/red]",
            staff,
            _local(group.next_change_at),
        )
    console.print(table)


@app.command("gaps")
def gaps_command(
    centre: Annotated[str, typer.Argument(help="area code of the centre")],
    start: Annotated[str | None, typer.Option("--from", help="start (local time; default: now)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="end (default: 7 days after the start)")] = None,
) -> None:
    """List the periods with nobody on duty at a centre; exit 2 when there is any."""
    first = _instant(start)
    last = _instant(end) if end else first + dt.timedelta(days=7)
    try:
        with transaction(write=False) as db:
            area = service.get_centre(db=db, code=centre, actor=None)
            gaps = service.coverage_gaps(db=db, centre=area, start=first, end=last)
    except (InputError, DomainError, NotFoundError) as error:
        _fail(error)
    if not gaps:
        console.print(f"no gaps between {_local(first)} and {_local(last)}", markup=False)
        return
    for gap in gaps:
        console.print(f"gap: {_local(gap.starts_at)} – {_local(gap.ends_at)} ({gap.hours:.1f} h)", markup=False)
    raise typer.Exit(2)


@app.command("contact")
def contact_command(
    username: Annotated[str, typer.Argument(help="the staff member's username")],
    email: Annotated[str | None, typer.Option(help="work e-mail address for duty notices")] = None,
    mobile: Annotated[str | None, typer.Option(help="duty mobile (值班电话), @-mentioned by group robots")] = None,
) -> None:
    """Set where a member of the duty staff is notified (empty values clear them)."""
    try:
        with transaction() as db:
            user = service.get_user(db=db, username=username)
            service.set_contact(db=db, user=user, email=email, mobile=mobile, actor=CLI_ACTOR)
    except (InputError, DomainError, NotFoundError) as error:
        _fail(error)
    console.print(f"duty contact of {username} saved", markup=False)


@app.command("notifiers")
def notifiers_command() -> None:
    """List the notifiers available (built in and plugins) and which GRIDGOV_DUTY_NOTIFIERS enables."""
    settings = get_settings()
    chosen, unknown = notifiers.enabled(settings)
    table = Table("notifier", "enabled", "what")
    for slug, notifier in notifiers.registry().items():
        table.add_row(slug, "yes" if notifier in chosen else "no", notifier.description)
    console.print(table)
    for hook in settings.duty_webhooks:
        console.print(
            f"webhook {hook.name}: {hook.format} {notifiers.redact(hook.url)} "
            f"centres {', '.join(hook.centres) or 'all'}",
            markup=False,
        )
    if unknown:
        _fail(f"GRIDGOV_DUTY_NOTIFIERS names unknown notifiers: {', '.join(unknown)}")


@app.command("notify")
def notify_command() -> None:
    """Run the notification job once: make the notices of new urgent and overdue cases, send what is due."""
    report = jobs.run_notifications(engine=get_engine())
    console.print(
        f"{report.scan.notices} notice(s) from {report.scan.events} event(s); {report.delivered} delivered, "
        f"{report.retrying} to retry, {report.failed} failed",
        markup=False,
    )
