"""`gridgov video`: video-AI sources and their secrets, the camera register, algorithm mappings, precision."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gridgov.config import get_settings
from gridgov.core.db import transaction
from gridgov.core.errors import InputError, NotFoundError
from gridgov.core.geo import Crs
from gridgov.domains.video import files, service
from gridgov.domains.video.schemas import ImportReport, PrecisionBy, SourceRead

NAME = "video"
app = typer.Typer(
    help="Video AI (视频智能分析): algorithm platforms, cameras, algorithm mappings, precision.", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class _DryRun(Exception):
    """Raised inside the transaction of a --dry-run import so that nothing is committed."""


def _fail(error: Exception) -> NoReturn:
    for line in str(error).splitlines():  # an InputError: the summary, then one line per issue
        err_console.print(line, markup=False)
    raise typer.Exit(1)


def _print_secret(source: SourceRead, secret: str, verb: str) -> None:
    console.print(
        f"source {escape(source.code)} ({escape(source.name)}) {verb}; fold window {source.fold_window_s:g} s"
    )
    console.print("signing secret (shown only now; give it to the platform, keep it out of version control):")
    console.print(secret, markup=False)


@app.command("add-source")
def add_source(
    code: Annotated[str, typer.Argument(help="The code the platform sends in X-Video-Source.")],
    name: Annotated[str, typer.Option("--name", help="A readable name (vendor, platform).")],
    fold_window: Annotated[
        float,
        typer.Option(min=0, max=86400, help="Seconds: the same camera + algorithm within it fold into one alarm."),
    ] = service.DEFAULT_FOLD_WINDOW_S,
) -> None:
    """Adds an algorithm platform and prints its signing secret once."""
    try:
        with transaction() as db:
            source, secret = service.create_source(db=db, code=code, name=name, fold_window_s=fold_window)
            shown = SourceRead.model_validate(source)
    except InputError as error:
        _fail(error)
    _print_secret(shown, secret, "added")


@app.command("rotate-secret")
def rotate_secret(code: Annotated[str, typer.Argument(help="The source's code.")]) -> None:
    """Gives a source a new signing secret (the old one stops working at once) and prints it once."""
    try:
        with transaction() as db:
            source, secret = service.rotate_secret(db=db, code=code)
            shown = SourceRead.model_validate(source)
    except NotFoundError as error:
        _fail(error)
    _print_secret(shown, secret, "has a new secret")


@app.command("update-source")
def update_source(
    code: Annotated[str, typer.Argument(help="The source's code.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    fold_window: Annotated[float | None, typer.Option(min=0, max=86400, help="A new fold window in seconds.")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Allow or refuse (401) the source's calls.")
    ] = None,
) -> None:
    """Changes a source's name, fold window, or whether its calls are taken."""
    try:
        with transaction() as db:
            source = service.update_source(db=db, code=code, name=name, fold_window_s=fold_window, is_active=active)
            shown = SourceRead.model_validate(source)
    except (InputError, NotFoundError) as error:
        _fail(error)
    state = "active" if shown.is_active else "inactive"
    console.print(f"source {escape(shown.code)}: {escape(shown.name)}, fold window {shown.fold_window_s:g} s, {state}")


@app.command("sources")
def list_sources() -> None:
    """Lists the algorithm platforms (never their secrets)."""
    with transaction(write=False) as db:
        rows = [SourceRead.model_validate(s) for s in service.list_sources(db=db)]
    table = Table()
    for column in ("code", "name", "fold window (s)", "active"):
        table.add_column(column)
    for row in rows:
        table.add_row(escape(row.code), escape(row.name), f"{row.fold_window_s:g}", "yes" if row.is_active else "no")
    console.print(table)


def _print_report(report: ImportReport, what: str, dry_run: bool) -> None:
    prefix = "dry run, nothing written: " if dry_run else ""
    console.print(prefix + report.summary(what), markup=False)


@app.command("import-cameras")
def import_cameras(
    file: Annotated[Path, typer.Argument(help="An .xlsx, .csv, .geojson or .json camera register.")],
    crs: Annotated[Crs, typer.Option(help="Coordinates of the file: wgs84, gcj02 (AMap) or bd09 (Baidu).")] = Crs.wgs84,
    sheet: Annotated[str | None, typer.Option(help="Sheet of an .xlsx file (default: the first).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Check everything and report, but write nothing.")] = False,
) -> None:
    """Imports cameras, all or nothing: each is located on a grid; every problem is listed with its row."""
    try:
        records = files.read_cameras(file, sheet=sheet)
        with transaction() as db:
            report = service.import_cameras(db=db, records=records, crs=crs, source=file.name)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except InputError as error:
        _fail(error)
    _print_report(report, "cameras", dry_run)


@app.command("cameras")
def list_cameras(limit: Annotated[int, typer.Option(min=1, help="How many to show.")] = 50) -> None:
    """Lists the registered cameras by code."""
    with transaction(write=False) as db:
        cameras, total = service.list_cameras(db=db, actor=None, limit=limit)
        rows = [
            (c.code, c.name, c.area_path, f"{c.lng:.6f}, {c.lat:.6f}", "yes" if c.is_active else "no") for c in cameras
        ]
    table = Table(title=f"{total} camera(s)", title_justify="left")
    for column in ("code", "name", "grid path", "lng, lat (WGS84)", "active"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(value) for value in row))
    console.print(table)


@app.command("import-algorithms")
def import_algorithms(
    file: Annotated[Path, typer.Argument(help="A .yaml/.yml or .xlsx file with an 'algorithms' list or sheet.")],
    dry_run: Annotated[bool, typer.Option(help="Check everything and report, but write nothing.")] = False,
) -> None:
    """Imports algorithm → matter type mappings, all or nothing, with every problem listed by item or row."""
    try:
        records = files.read_algorithms(file)
        with transaction() as db:
            report = service.import_algorithms(db=db, records=records, source=file.name)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except InputError as error:
        _fail(error)
    _print_report(report, "algorithm mappings", dry_run)


@app.command("algorithms")
def list_algorithms() -> None:
    """Lists the algorithm mappings: source (* = every source), code, name, matter type, minimum confidence."""
    with transaction(write=False) as db:
        sources = {s.id: s.code for s in service.list_sources(db=db)}
        rows = [
            (
                sources.get(m.source_id, "*") if m.source_id else "*",
                m.algorithm_code,
                m.name,
                f"{m.matter_type.code} {m.matter_type.name}",
                f"{m.min_confidence:g}",
                "yes" if m.is_active else "no",
            )
            for m in service.list_algorithms(db=db)
        ]
    table = Table()
    for column in ("source", "algorithm", "name", "matter type", "min confidence", "active"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(value) for value in row))
    console.print(table)


def _when(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        err_console.print(f"{option}: expected a date or time such as 2026-11-01 or 2026-11-01T08:00", markup=False)
        raise typer.Exit(1) from None
    return value if value.tzinfo else value.replace(tzinfo=get_settings().tz)


@app.command("precision")
def precision(
    since: Annotated[str | None, typer.Option(help="Alarms first seen from (date or time, local).")] = None,
    until: Annotated[str | None, typer.Option(help="Alarms first seen before (date or time, local).")] = None,
    by: Annotated[str, typer.Option(help="Group by 'algorithm' or 'camera'.")] = "algorithm",
) -> None:
    """Reports precision = TP / (TP + FP) per algorithm or camera, worst first, with the sample size."""
    if by not in ("algorithm", "camera"):
        err_console.print("--by: use 'algorithm' or 'camera'", markup=False)
        raise typer.Exit(1)
    group: PrecisionBy = "algorithm" if by == "algorithm" else "camera"
    with transaction(write=False) as db:
        report = service.precision(
            db=db, actor=None, by=group, since=_when(since, "--since"), until=_when(until, "--until")
        )
    table = Table(title=f"video-AI precision by {group}, worst first", title_justify="left")
    for column in ("code", "name", "alarms", "events", "TP", "FP", "precision", "sample", "below threshold"):
        table.add_column(column, justify="left" if column in ("code", "name") else "right")
    for row in report.rows:
        shown = f"{row.precision:.1%}" if row.precision is not None else "—"
        table.add_row(
            escape(row.key),
            escape(row.name),
            str(row.alarms),
            str(row.events),
            str(row.true_positives),
            str(row.false_positives),
            shown,
            str(row.with_feedback),
            str(row.below_threshold),
        )
    console.print(table)
    console.print(report.formula, markup=False)
