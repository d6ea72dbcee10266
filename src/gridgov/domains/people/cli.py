"""`gridgov people`: import residents, manage the 9+X tags, and the personal-data keys (`gridgov keys`).

Exit status: 0 when the import was written (or, with --dry-run, would be) without a refused row; 1 when the file
was refused (nothing written) or, in the partial mode, when any row was skipped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridgov.core import sheets
from gridgov.core.db import get_engine, transaction
from gridgov.core.errors import DomainError, InputError, NotFoundError
from gridgov.domains.auth import service as auth_service
from gridgov.domains.people import imports as import_service
from gridgov.domains.people import privacy
from gridgov.domains.people import tags as tag_service
from gridgov.domains.people.enums import SENSITIVITY_ZH, Sensitivity
from gridgov.domains.people.schemas import ImportSummary
from gridgov.domains.people.service import Context

NAME = "people"
app = typer.Typer(help="The resident register (人口信息): import, tags, personal-data keys.", no_args_is_help=True)
tags_app = typer.Typer(help="The social-governance groups (9+X) residents are tagged with.", no_args_is_help=True)
keys_app = typer.Typer(
    help="The keys of the personal data: generate, rotate (re-encrypt), check.", no_args_is_help=True
)
app.add_typer(tags_app, name="tags")
# NOTE: keys_app is mounted at the top level, as `gridgov keys` (gridgov/cli.py)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
SOURCE = "cli"
SHOWN_ERRORS = 40


def _fail(error: Exception) -> typer.Exit:
    text = str(error) if isinstance(error, InputError | NotFoundError) else getattr(error, "message", str(error))
    for line in text.splitlines():
        err_console.print(line, markup=False)
    return typer.Exit(1)


def _print_summary(summary: ImportSummary, seconds: float) -> None:
    title = f"{'dry run of' if summary.dry_run else 'imported'} {summary.source}"
    table = Table(title=title, title_justify="left")
    for column in ("rows", "households new", "households existing", "residents", "tags", "skipped rows"):
        table.add_column(column, justify="right")
    table.add_row(
        str(summary.rows),
        str(summary.households_created),
        str(summary.households_reused),
        str(summary.residents_created),
        str(summary.tags_added),
        str(summary.skipped_rows),
    )
    console.print(table)
    console.print(f"took {seconds:.1f} s", markup=False)


def _print_errors(summary: ImportSummary, *, refused: bool) -> None:
    title = (
        "the file was refused, nothing written; fix these rows and import it again"
        if refused
        else "skipped rows (--skip-bad): nothing of them was written"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("row", justify="right")
    table.add_column("column")
    table.add_column("problem")
    for error in summary.errors[:SHOWN_ERRORS]:
        table.add_row(str(error.row or ""), error.column or "", error.message)
    err_console.print(table)
    if len(summary.errors) > SHOWN_ERRORS:
        err_console.print(f"... and {len(summary.errors) - SHOWN_ERRORS} more (see --report)", markup=False)


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="Residents: .xlsx or .csv (UTF-8 or GBK) with Chinese headers.")],
    as_user: Annotated[
        str, typer.Option("--as", help="The user importing: the buildings must lie in their area (resident.manage).")
    ],
    sheet: Annotated[str | None, typer.Option(help="Sheet of an .xlsx (default: the first).")] = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Write the good rows and skip the bad (default: all or nothing).")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count, write nothing.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write the row error report to this .xlsx (when there are errors).")
    ] = None,
) -> None:
    """Imports residents and households from a file; refuses it whole, with a row error report, on any bad row."""
    started = time.perf_counter()
    try:
        data = sheets.read_file(file, summary=f"{file.name}: not read")
        with transaction() as db:
            user = auth_service.get_user_by_username(db=db, username=as_user)
            ctx = Context(actor=auth_service.actor_of(user), source="cli", source_address=SOURCE)
            summary = import_service.import_file(
                db=db, ctx=ctx, data=data, filename=file.name, sheet=sheet, skip_bad=skip_bad, dry_run=dry_run
            )
    except import_service.ImportRejected as rejected:
        _print_errors(rejected.report, refused=True)
        if report is not None:
            report.write_bytes(import_service.error_report(rejected.report))
            err_console.print(f"error report written to {report}", markup=False)
        raise typer.Exit(1) from None
    except (InputError, NotFoundError, DomainError) as error:
        raise _fail(error) from None
    _print_summary(summary, time.perf_counter() - started)
    if summary.errors:
        _print_errors(summary, refused=False)
        if report is not None:
            report.write_bytes(import_service.error_report(summary))
            err_console.print(f"error report written to {report}", markup=False)
        raise typer.Exit(1)


@app.command("template")
def template(out: Annotated[Path, typer.Argument(help="Where to write the empty import workbook (.xlsx).")]) -> None:
    """Writes an empty import workbook with the Chinese headers and a sheet explaining the columns."""
    out.write_bytes(import_service.template())
    console.print(f"template written to {out}", markup=False)


@tags_app.command("list")
def list_tags(
    all_: Annotated[bool, typer.Option("--all", help="Also retired tags.")] = False,
) -> None:
    """Lists the tag definitions and their sensitivity (分级)."""
    with transaction(write=False) as db:
        rows = tag_service.list_tags(db=db, include_inactive=all_)
        table = Table()
        for column in ("code", "name", "sensitivity", "shipped", "active", "description"):
            table.add_column(column, no_wrap=column != "description")
        for tag in rows:
            table.add_row(
                tag.code,
                tag.name,
                f"{tag.sensitivity} {SENSITIVITY_ZH[tag.sensitivity]}",
                "yes" if tag.is_builtin else "X",
                "yes" if tag.is_active else "retired",
                tag.description or "",
            )
    console.print(table)


@tags_app.command("add")
def add_tag(
    code: Annotated[str, typer.Argument(help="Code: lower-case letters, digits and _, e.g. flood_risk_household.")],
    name: Annotated[str, typer.Argument(help="Chinese name, e.g. 防汛重点户.")],
    sensitivity: Annotated[Sensitivity, typer.Option(help="Who may see it (see docs/privacy.md).")],
    description: Annotated[str | None, typer.Option(help="What the group covers.")] = None,
) -> None:
    """Adds a district's own tag (an "X" group)."""
    try:
        with transaction() as db:
            tag_service.create_tag(db=db, code=code, name=name, sensitivity=sensitivity, description=description)
    except DomainError as error:
        raise _fail(error) from None
    console.print(f"tag {code} ({name}, {sensitivity}) added", markup=False)


@tags_app.command("retire")
def retire_tag(
    code: Annotated[str, typer.Argument(help="The tag's code.")],
    undo: Annotated[bool, typer.Option("--undo", help="Bring a retired tag back.")] = False,
) -> None:
    """Retires a tag: no new resident gets it; those who carry it keep it."""
    try:
        with transaction() as db:
            tag_service.set_active(db=db, code=code, active=undo)
    except NotFoundError as error:
        raise _fail(error) from None
    console.print(f"tag {code} {'active again' if undo else 'retired'}", markup=False)


@tags_app.command("sync")
def sync_tags() -> None:
    """Adds the shipped tags the database lacks (after an upgrade)."""
    with transaction() as db:
        added = tag_service.sync_builtin(db=db)
    console.print(f"{added} shipped tag(s) added", markup=False)


@keys_app.command("generate")
def generate_key() -> None:
    """Prints a new random key (base64, 32 bytes) for GRIDGOV_PERSONAL_DATA_KEYS or _INDEX_KEY."""
    typer.echo(privacy.generate_key())


@keys_app.command("rotate")
def rotate(
    batch_size: Annotated[int, typer.Option("--batch", min=1, max=10_000, help="Residents per transaction.")] = 500,
    reindex: Annotated[
        bool, typer.Option("--reindex", help="Also recompute every blind index (after the index key changed).")
    ] = False,
) -> None:
    """Re-encrypts every identity number and phone with the current key, one transaction per batch (resumable)."""
    ring = privacy.keyring()
    started = time.perf_counter()

    def progress(report: privacy.RotationReport) -> None:
        if report.batches % 20 == 0:
            console.print(f"... {report.scanned:,} values read, {report.reencrypted:,} re-encrypted", markup=False)

    try:
        report = privacy.rotate(
            engine=get_engine(), batch_size=batch_size, reindex=reindex, ring=ring, progress=progress
        )
    except privacy.KeyError_ as error:
        err_console.print(
            f"stopped: a value {error}. Batches done so far are committed; add the missing key to "
            "GRIDGOV_PERSONAL_DATA_KEYS and run the rotation again",
            markup=False,
        )
        raise typer.Exit(1) from None
    table = Table(title=f"rotated to key {report.current_key!r}", title_justify="left")
    for column in ("values read", "re-encrypted", "blind indexes rewritten", "changed meanwhile", "batches"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{report.scanned:,}",
        f"{report.reencrypted:,}",
        f"{report.reindexed:,}",
        f"{report.changed_meanwhile:,}",
        f"{report.batches:,}",
    )
    console.print(table)
    for name, count in report.by_field.items():
        console.print(f"  {name}: {count:,} rewritten", markup=False)
    console.print(f"took {time.perf_counter() - started:.1f} s; check with `gridgov keys check`", markup=False)


@keys_app.command("check")
def check() -> None:
    """Verifies that every personal value decrypts with the configured keys and its blind index is current."""
    ring = privacy.keyring()
    report = privacy.check(engine=get_engine(), ring=ring)
    console.print(f"{report.values:,} encrypted values; current key {ring.current!r}", markup=False)
    for key_id, count in sorted(report.by_key.items()):
        state = "current" if key_id == ring.current else ("old, still configured" if key_id in ring.keys else "MISSING")
        console.print(f"  key {key_id!r}: {count:,} values ({state})", markup=False)
    if ring.development:
        err_console.print("warning: the published development key is in use (no keys configured)", markup=False)
    for name, resident_id, problem in report.failures[:SHOWN_ERRORS]:
        err_console.print(f"  resident {resident_id} {name}: {problem}", markup=False)
    if report.stale_indexes:
        err_console.print(
            f"{report.stale_indexes:,} blind indexes do not match the index key: run `gridgov keys rotate --reindex`",
            markup=False,
        )
    if not report.ok:
        err_console.print(f"{len(report.failures):,} value(s) do not decrypt", markup=False)
        raise typer.Exit(1)
    old = sum(count for key_id, count in report.by_key.items() if key_id != ring.current)
    console.print(
        "all values decrypt" + (f"; {old:,} still under an old key: run `gridgov keys rotate`" if old else ""),
        markup=False,
    )
