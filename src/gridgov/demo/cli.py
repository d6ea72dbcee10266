"""`gridgov demo`: the Jinshui demo district."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from gridgov.core.db import transaction
from gridgov.core.errors import InputError
from gridgov.demo import service
from gridgov.domains.areas.enums import LEVEL_LABELS_ZH

NAME = "demo"
app = typer.Typer(help="The Jinshui demo district (金水区).", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


@app.command("load")
def load(
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing (and succeed) when any area exists already."),
) -> None:
    """Loads the Jinshui demo district: area tree, units, matter types and the three lists, in one transaction."""
    started = time.perf_counter()
    try:
        with transaction() as db:
            if if_empty and service.has_areas(db=db):
                console.print("areas already exist: demo not loaded (--if-empty)")
                return
            report = service.load(db=db)
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
    console.print(table)
    console.print(
        f"population {report.population:,} in {report.households:,} households (illustrative); took {elapsed:.1f} s"
    )
