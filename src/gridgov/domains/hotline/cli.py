"""`gridgov hotline`: import 12345 work-order exports (XLSX or CSV) as cases.

Exit status: 0 when every row was imported or was already present; 1 when the file could not be used (nothing
written) or when any row was refused (the good rows are imported all the same; see the table or --report).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridgov.core.db import transaction
from gridgov.core.errors import DomainError, InputError, NotFoundError
from gridgov.core.geo import Crs
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases.service import Context
from gridgov.domains.hotline import files
from gridgov.domains.hotline import service as hotline_service
from gridgov.domains.hotline.schemas import ImportSummary

NAME = "hotline"
app = typer.Typer(
    help="The 12345 hotline channel: import work-order exports (工单导出) as cases.", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

CLI_ACTOR = Actor(name="12345 import (command line)", role=Role.system)
SHOWN_ERRORS = 30


def _fail(message: str) -> typer.Exit:
    for line in message.splitlines():
        err_console.print(line, markup=False)
    return typer.Exit(1)


def _actor(username: str | None) -> Actor:
    if username is None:
        return CLI_ACTOR
    with transaction(write=False) as db:
        return auth_service.actor_of(auth_service.get_user_by_username(db=db, username=username))


def write_report(summary: ImportSummary, path: Path) -> None:
    """Writes the row errors as CSV (UTF-8 with BOM, so Excel shows the Chinese): row, column, order_id, message."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "column", "order_id", "message"])
        for error in summary.errors:
            writer.writerow([error.row, error.column or "", error.order_id or "", error.message])


def _print(summary: ImportSummary, seconds: float) -> None:
    title = f"{'dry run of' if summary.dry_run else 'imported'} {summary.source}"
    table = Table(title=title, title_justify="left")
    table.add_column("rows read", justify="right")
    table.add_column("created", justify="right")
    table.add_column("already present", justify="right")
    table.add_column("errors", justify="right")
    table.add_row(str(summary.rows), str(summary.created), str(summary.existing), str(summary.failed))
    console.print(table)
    rate = summary.rows / seconds if seconds > 0 else 0.0
    console.print(f"took {seconds:.1f} s ({rate:,.0f} rows/s)", markup=False)
    if summary.ignored_columns:
        console.print(f"columns not used: {', '.join(summary.ignored_columns)}", markup=False)
    if not summary.errors:
        return
    errors = Table(title="refused rows (nothing of them was written)", title_justify="left")
    for column in ("row", "column", "order id", "message"):
        errors.add_column(column, justify="right" if column == "row" else "left")
    for error in summary.errors[:SHOWN_ERRORS]:
        errors.add_row(str(error.row), error.column or "", error.order_id or "", error.message)
    console.print(errors)
    if len(summary.errors) > SHOWN_ERRORS:
        console.print(f"... and {len(summary.errors) - SHOWN_ERRORS} more (write them all with --report)")


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(help="A hotline export: .xlsx, or .csv in UTF-8 (with or without BOM) or GBK.")
    ],
    sheet: Annotated[str | None, typer.Option(help="Sheet of an .xlsx file (default: the first).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row and count; write nothing.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write the refused rows to this CSV file (row, column, order_id, message).")
    ] = None,
    crs: Annotated[Crs, typer.Option(help="Coordinates of the file, unless a 坐标系 column says.")] = Crs.wgs84,
    user: Annotated[
        str | None,
        typer.Option(help="Record this dispatcher as the reporter (default: the system, as an integration)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction (SQLite writers take turns).")] = 500,
) -> None:
    """Imports FILE: good rows become cases, bad rows are reported and skipped; re-importing makes no duplicates.

    Exits 1 when any row was refused, or when the file cannot be used (then nothing is written).
    """
    started = time.perf_counter()
    try:
        table = files.read_path(file, sheet=sheet)
        actor = _actor(user)
        hotline_service.check_actor(actor)
        summary = hotline_service.new_summary(table, dry_run=dry_run)
        if dry_run:
            with transaction() as db:
                summary = hotline_service.import_table(db=db, table=table, ctx=Context.of(actor), dry_run=True, crs=crs)
        else:
            # NOTE: one transaction per chunk: SQLite has one writer at a time, and the web console's requests
            # should not wait for a whole file; rows already committed count as "already present" on a re-run.
            for start in range(0, len(table.rows), batch_size):
                with transaction() as db:
                    rows = table.rows[start : start + batch_size]
                    hotline_service.import_rows(
                        db=db, table=table, rows=rows, ctx=Context.of(actor), summary=summary, crs=crs
                    )
    except InputError as error:
        raise _fail(str(error)) from None
    except NotFoundError as error:
        raise _fail(str(error)) from None
    except DomainError as error:
        raise _fail(error.message) from None
    _print(summary, time.perf_counter() - started)
    if report is not None:
        write_report(summary, report)
        console.print(f"wrote {len(summary.errors)} error(s) to {report}", markup=False)
    if summary.failed:
        raise typer.Exit(1)
