"""`gridgov catalog`: import, export and validate the reference-data catalogue (YAML or XLSX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridgov.core.db import transaction
from gridgov.core.errors import InputError
from gridgov.domains.catalog import service
from gridgov.domains.catalog.schemas import CatalogReport

NAME = "catalog"
app = typer.Typer(
    help="Reference data: units, matter types, time limits and the responsibility, grid access and power lists.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

InFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .yaml, .yml or .xlsx file.")
]
OutFile = Annotated[Path, typer.Argument(dir_okay=False, help="A .yaml, .yml or .xlsx file to write.")]


def _fail(error: InputError) -> typer.Exit:
    for line in str(error).splitlines():  # the summary with the count, then one line per issue
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _print_report(report: CatalogReport, title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("section")
    for column in ("created", "updated", "unchanged", "deleted"):
        table.add_column(column, justify="right")
    for name, counts in report.sections().items():
        deleted = str(counts.deleted) if name == "time_limits" else ""
        table.add_row(name, str(counts.created), str(counts.updated), str(counts.unchanged), deleted)
    console.print(table)


@app.command("import")
def import_file(file: InFile) -> None:
    """Imports FILE into the catalogue: checks everything first, then upserts; writes nothing on any error."""
    try:
        document = service.load_file(file)
        with transaction() as db:
            report = service.import_document(db=db, document=document, source=file.name)
    except InputError as error:
        raise _fail(error) from None
    _print_report(report, f"imported {file.name}")


@app.command("validate")
def validate_file(file: InFile) -> None:
    """Checks FILE against itself and the database, and shows what an import would change; writes nothing."""
    try:
        document = service.load_file(file)
        with transaction(write=False) as db:
            savepoint = db.begin_nested()
            try:
                report = service.import_document(db=db, document=document, source=file.name)
            finally:
                savepoint.rollback()
    except InputError as error:
        raise _fail(error) from None
    _print_report(report, f"{file.name} is valid; an import would change")


@app.command("export")
def export_file(file: OutFile) -> None:
    """Writes the whole catalogue to FILE (YAML or XLSX by suffix), in the layout `import` reads back."""
    try:
        with transaction(write=False) as db:
            document = service.export_document(db=db)
        service.write_file(document, file)
    except InputError as error:
        raise _fail(error) from None
    counts = ", ".join(f"{len(getattr(document, s))} {s}" for s in ("units", "matter_types", "responsibilities"))
    counts += f", {len(document.grid_access)} grid_access, {len(document.powers)} powers"
    console.print(f"wrote {file}: {counts}", markup=False, highlight=False, soft_wrap=True)
