"""`gridgov party`: import, check and export the party organisation tree (YAML or XLSX), and the period totals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridgov.config import get_settings
from gridgov.core.db import transaction
from gridgov.core.errors import DomainError, InputError
from gridgov.domains.evaluation.periods import Period
from gridgov.domains.party import dual, files, service
from gridgov.domains.party.schemas import TreeImportReport

NAME = "party"
app = typer.Typer(
    help="Party building (党建): the organisation tree 街道党工委 → 社区党组织 → 网格党支部 → 楼院党小组 → 党员中心户.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

InFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .yaml, .yml or .xlsx file.")
]
OutFile = Annotated[Path, typer.Argument(dir_okay=False, help="A .yaml, .yml or .xlsx file to write.")]


def _fail(error: InputError | DomainError) -> typer.Exit:
    text = str(error) if isinstance(error, InputError) else error.message
    for line in text.splitlines():  # the summary with the count, then one line per issue
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _print_report(report: TreeImportReport, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("created", "updated", "unchanged"):
        table.add_column(column, justify="right")
    table.add_row(str(len(report.created)), str(len(report.updated)), str(len(report.unchanged)))
    console.print(table)


@app.command("import")
def import_file(file: InFile) -> None:
    """Imports FILE into the tree: checks every row first (levels, parents, cycles, areas), then creates or updates
    organisations by code; writes nothing on any error. Organisations missing from the file are kept."""
    try:
        rows = files.read_tree(file)
        with transaction() as db:
            report = service.apply_orgs(db=db, actor=service.OPERATOR, rows=rows, source=file.name)
    except (InputError, DomainError) as error:
        raise _fail(error) from None
    _print_report(report, f"imported {file.name}")


@app.command("validate")
def validate_file(file: InFile) -> None:
    """Checks FILE against itself and the database and shows what an import would change; writes nothing."""
    try:
        rows = files.read_tree(file)
        with transaction(write=False) as db:
            savepoint = db.begin_nested()
            try:
                report = service.apply_orgs(db=db, actor=service.OPERATOR, rows=rows, source=file.name)
            finally:
                savepoint.rollback()
    except (InputError, DomainError) as error:
        raise _fail(error) from None
    _print_report(report, f"{file.name} is valid; an import would change")


@app.command("export")
def export_file(file: OutFile) -> None:
    """Writes the whole tree to FILE (YAML or XLSX by suffix), in the layout `import` reads back."""
    try:
        with transaction(write=False) as db:
            document = service.export_tree(db=db, actor=service.OPERATOR)
        files.write_tree(document, file)
    except (InputError, DomainError) as error:
        raise _fail(error) from None
    console.print(f"wrote {file}: {len(document.orgs)} organisations", markup=False, highlight=False, soft_wrap=True)


@app.command("summary")
def summary(
    period: Annotated[str, typer.Argument(help="2026-11, 2026-Q4, 2026, 2026-11-25 or 2026-11-01..2026-11-15")],
    community: Annotated[str | None, typer.Option(help="Only this community (its code).")] = None,
) -> None:
    """Prints the period's volunteer service per community: activities, verified hours, 双报到 and 报到率."""
    try:
        found = Period.parse(period, get_settings().tz)
        with transaction(write=False) as db:
            totals = dual.summarize(db=db, actor=service.OPERATOR, period=found, community=community)
    except (InputError, DomainError) as error:
        raise _fail(error) from None
    table = Table(title=f"party service {totals.first_day} – {totals.last_day}", title_justify="left")
    for column in ("community", "activities", "hours", "unverified", "registered", "reporting", "报到率", "orgs"):
        table.add_column(column, justify="left" if column == "community" else "right")
    for row in totals.communities:
        rate = f"{row.reporting_rate:.0%}" if row.reporting_rate is not None else "—"
        table.add_row(
            f"{row.code} {row.name}",
            str(row.activities),
            f"{row.hours:g}",
            f"{row.unverified_hours:g}",
            str(row.registered_members),
            str(row.reporting_members),
            rate,
            f"{row.reporting_orgs}/{row.registered_orgs}",
        )
    console.print(table)
