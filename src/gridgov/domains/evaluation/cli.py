"""`gridgov report`: indicators and rankings, bulletins (通报) and ledgers (台账) from the command line.

Exit status: 0 on success; 1 when the input cannot be used (nothing written), with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gridgov.domains.auth.schemas import Actor

NAME = "report"
app = typer.Typer(
    help="Evaluation reports: indicators, rankings, bulletins (通报) and case ledgers (台账).", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


# --- indicators and rankings ---


def _indicators_fail(error: Exception) -> typer.Exit:
    """Prints why a command was refused (every problem of an input, one a line) to stderr; returns exit 1."""
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


@app.command("indicators")
def indicators_command(
    import_file: Annotated[
        Path | None,
        typer.Option(
            "--import", help="a YAML file: every row is checked, then its indicators are added or changed (by code)"
        ),
    ] = None,
    export_file: Annotated[Path | None, typer.Option("--export", help="write the indicators to this YAML file")] = None,
) -> None:
    """Lists the evaluation indicators (评价指标), or imports or exports them as YAML (all-or-nothing)."""
    from rich.table import Table

    from gridgov.core.db import transaction
    from gridgov.core.errors import InputError
    from gridgov.domains.evaluation import indicators
    from gridgov.domains.evaluation.enums import EvaluationObject

    if import_file is not None and export_file is not None:
        raise _indicators_fail(ValueError("give --import or --export, not both"))
    if import_file is not None:
        try:
            with transaction() as db:
                report = indicators.import_indicators(db=db, path=import_file, actor=_cli_actor())
        except InputError as error:
            raise _indicators_fail(error) from None
        console.print(
            f"imported {import_file.name}: {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged",
            markup=False,
        )
        for label, codes in (("created", report.created), ("updated", report.updated)):
            if codes:
                console.print(f"  {label}: {', '.join(codes)}", markup=False)
        return
    with transaction(write=False) as db:
        found = indicators.list_definitions(db=db)
        if export_file is not None:
            try:
                export_file.write_text(indicators.dump_definitions(found), encoding="utf-8")
            except OSError as exc:
                raise _indicators_fail(ValueError(f"{export_file}: cannot write: {exc.strerror or exc}")) from None
            console.print(f"wrote {len(found)} indicators to {export_file}", markup=False)
            return
    table = Table(title="evaluation indicators (评价指标)", title_justify="left")
    for column in ("code", "名称", "objects", "formula", "better", "weight", "sample ≥ min", "when 0", "active"):
        table.add_column(column, justify="right" if column == "weight" else "left")
    for d in found:
        table.add_row(
            d.code,
            d.name,
            ", ".join(d.objects),
            d.formula,
            str(d.direction),
            f"{d.weight:g}",
            f"{d.sample} ≥ {d.min_sample}" if d.sample else "",
            "" if not d.compiled.risky_denominators else ("not rated" if d.when_zero is None else f"{d.when_zero:g}"),
            "yes" if d.is_active else "no",
        )
    console.print(table)
    for obj in EvaluationObject:
        weights = [d.weight for d in found if d.is_active and d.scored and obj in d.objects]
        console.print(f"{obj}: {len(weights)} scored indicators, weights sum to {sum(weights):g}", markup=False)


@app.command("ranking")
def ranking_command(
    period: Annotated[str, typer.Option(help="2026-11, 2026-Q4, 2026 or 2026-11-01..2026-11-15 (district dates)")],
    level: Annotated[str, typer.Option(help="what is ranked: street, community, grid, unit or person")] = "street",
    area: Annotated[str | None, typer.Option(help="only this area's subtree (an area code)")] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="also write the ranking as JSON here")] = None,
    engine: Annotated[str | None, typer.Option(help="duckdb or sql (default: GRIDGOV_EVALUATION_ENGINE)")] = None,
) -> None:
    """Prints the ranking of a period: composite score, change, sample, and each indicator's value."""
    import json

    from rich.table import Table
    from sqlalchemy import select

    from gridgov.config import get_settings
    from gridgov.core.db import transaction
    from gridgov.core.errors import DomainError
    from gridgov.domains.areas.models import Area
    from gridgov.domains.evaluation import service
    from gridgov.domains.evaluation.enums import Dimension
    from gridgov.domains.evaluation.indicators import OBJECT_OF, format_value
    from gridgov.domains.evaluation.periods import Period
    from gridgov.domains.evaluation.schemas import RankingRead

    try:
        dimension = Dimension(level)
    except ValueError:
        choices = ", ".join(str(d) for d in OBJECT_OF)
        raise _indicators_fail(ValueError(f"unknown level {level!r}; use one of {choices}")) from None
    try:
        with transaction(write=False) as db:
            scope_path = None
            if area is not None:
                scope_path = db.scalar(select(Area.path).where(Area.code == area))
                if scope_path is None:
                    raise _indicators_fail(ValueError(f"unknown area {area!r}"))
            ranking = service.rank(
                db=db,
                period=Period.parse(period, get_settings().tz),
                dimension=dimension,
                scope_path=scope_path,
                engine=engine,
            )
    except DomainError as error:
        raise _indicators_fail(error) from None
    read = RankingRead.of(ranking, scope_code=area)
    if json_file is not None:
        try:
            json_file.write_text(
                json.dumps(read.model_dump(mode="json"), ensure_ascii=False, indent=2), encoding="utf-8"
            )
        except OSError as exc:
            raise _indicators_fail(ValueError(f"{json_file}: cannot write: {exc.strerror or exc}")) from None
    if ranking.is_empty:
        console.print(f"no data for {ranking.period.label}: nothing to rank", markup=False)
    else:
        scored = [d for d in ranking.indicators if d.scored]
        title = (
            f"{ranking.period.label} ranking by {dimension}: {len(ranking.ranked)} ranked, "
            f"{len(ranking.not_ranked)} listed but not ranked (样本不足)"
        )
        table = Table(title=title, title_justify="left")
        for column in ("排名", "name", "综合得分", "变化", "样本"):
            table.add_column(column, justify="left" if column == "name" else "right")
        for d in scored:
            table.add_column(f"{d.name} ({d.weight:g})", justify="right")
        for row in ranking.rows:
            change = "" if row.change is None else f"{row.change:+.2f}"
            if row.rank_change:
                change += f" ({'↑' if row.rank_change > 0 else '↓'}{abs(row.rank_change)})"
            table.add_row(
                str(row.rank) if row.ranked else "样本不足",
                row.label,
                "—" if row.composite is None else f"{row.composite:.2f}",
                change,
                f"{row.sample}",
                *(format_value(d, row.values.get(d.code)) for d in scored),
            )
        console.print(table)
    if json_file is not None:
        console.print(f"wrote {json_file}", markup=False)


# --- bulletins and ledgers ---


def _report_fail(error: Exception) -> typer.Exit:
    """Prints a refused command's reason to stderr; returns the exit to raise (status 1, nothing written)."""
    from gridgov.core.errors import DomainError

    text = error.message if isinstance(error, DomainError) else str(error)
    for line in text.splitlines():
        err_console.print(line, markup=False)
    return typer.Exit(1)


def _report_actor(username: str) -> Actor:
    """The actor of a ledger export: a user of the system, whose role and area scope the ledger follows."""
    from gridgov.core.db import transaction
    from gridgov.domains.auth import service as auth_service

    with transaction(write=False) as db:
        return auth_service.actor_of(auth_service.get_user_by_username(db=db, username=username))


@app.command("bulletin")
def bulletin_command(
    period: Annotated[str, typer.Option(help="2026-11, 2026-Q4, 2026 or 2026-11-01..2026-11-15 (district dates)")],
    out: Annotated[Path, typer.Option(help="the file to write: .xlsx, .html or .pdf (the format is its suffix)")],
    level: Annotated[str, typer.Option(help="what is ranked: street, community or grid")] = "street",
    scope: Annotated[str | None, typer.Option(help="a street's code: its own bulletin (default: the district)")] = None,
    campaign: Annotated[str | None, typer.Option(help="a campaign's code: the bulletin of its cases")] = None,
) -> None:
    """Writes a bulletin (通报) of a period to a file: rankings, overdue cases, top matter types, hotspots, streets."""
    from sqlalchemy import select

    from gridgov.core.db import transaction
    from gridgov.core.errors import DomainError, InputError, NotFoundError
    from gridgov.domains.areas.models import Area
    from gridgov.domains.evaluation import bulletins
    from gridgov.domains.evaluation.enums import BulletinFormat
    from gridgov.domains.evaluation.models import Campaign

    suffix = out.suffix.lower().lstrip(".")
    try:
        fmt = BulletinFormat(suffix)
    except ValueError:
        raise _report_fail(ValueError(f"{out}: the suffix names the format: .xlsx, .html or .pdf")) from None
    try:
        with transaction(write=False) as db:
            scope_path = None
            if scope:
                scope_path = db.scalar(select(Area.path).where(Area.code == scope))
                if scope_path is None:
                    raise NotFoundError(f"--scope: no area has the code {scope!r}")
            found = None
            if campaign:
                found = db.scalars(select(Campaign).where(Campaign.code == campaign)).one_or_none()
                if found is None:
                    raise NotFoundError(f"--campaign: no campaign has the code {campaign!r}")
            data = bulletins.build(
                db=db,
                period=bulletins.parse_period(period),
                level=bulletins.parse_level(level),
                scope_path=scope_path,
                campaign=found,
                generated_by="命令行",
            )
        content = bulletins.render(data, [fmt])[0].data
    except (DomainError, InputError, NotFoundError) as error:
        raise _report_fail(error) from None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)
    except OSError as error:
        raise _report_fail(OSError(f"{out}: cannot write: {error.strerror or error}")) from None
    ranked = data.ranking
    console.print(
        f"wrote {out} ({fmt}, {len(content):,} bytes): {data.title}; {ranked.title} "
        f"{ranked.ranked_count} ranked, {len(ranked.rows) - ranked.ranked_count} 样本不足; "
        f"{data.overdue_total} overdue; {len(data.streets)} street page(s)"
        + ("" if data.has_data else "; the period has no data"),
        markup=False,
    )


@app.command("ledger")
def ledger_command(
    out: Annotated[Path, typer.Option(help="the XLSX file to write")],
    user: Annotated[str, typer.Option(help="who exports: the ledger holds what they may see, in their name")],
    period: Annotated[str | None, typer.Option(help="reported in: 2026-11, 2026-Q4 ... (or --from/--to)")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="reported on or after (local date, 2026-11-01)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="reported on or before (local date, included)")] = None,
    stage: Annotated[list[str] | None, typer.Option(help="stage (closed, handling ...); repeat for several")] = None,
    matter: Annotated[list[str] | None, typer.Option(help="matter type code; repeat for several")] = None,
    area: Annotated[str | None, typer.Option(help="area code: its whole subtree")] = None,
    unit: Annotated[str | None, typer.Option(help="handling unit code")] = None,
    channel: Annotated[list[str] | None, typer.Option(help="channel (patrol, hotline ...); repeat")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="only cases marked overdue")] = False,
) -> None:
    """Exports a case ledger (台账) to XLSX as a user: watermarked with who and when, written to the audit log."""
    import datetime as dt
    import os

    from gridgov.core.db import transaction
    from gridgov.core.errors import DomainError, InputError, Issue, NotFoundError
    from gridgov.domains.cases.enums import CaseStage, Channel
    from gridgov.domains.evaluation import ledgers

    def day(value: str | None, option: str) -> dt.date | None:
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise InputError([Issue(option, f"{value!r} is not a date (YYYY-MM-DD)")], "bad option") from None

    def enum_values(kind: type, values: list[str] | None, option: str) -> tuple:
        try:
            return tuple(kind(v) for v in values or ())
        except ValueError:
            allowed = ", ".join(kind)
            raise InputError([Issue(option, f"unknown value among {values}; use: {allowed}")], "bad option") from None

    try:
        actor = _report_actor(user)
        filters = ledgers.LedgerFilter(
            period=ledgers.period_of(period=period, first=day(from_, "--from"), last=day(to, "--to")),
            stages=enum_values(CaseStage, stage, "--stage"),
            matter_types=tuple(matter or ()),
            area=area,
            unit=unit,
            overdue_only=overdue,
            channels=enum_values(Channel, channel, "--channel"),
        )
        # NOTE: written beside `out` inside the transaction (a file that cannot be written leaves no audit entry)
        # and given its name once the audit entry is committed (one that is not committed leaves no file).
        partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
        try:
            with transaction() as db:
                ledger = ledgers.export(db=db, actor=actor, filters=filters, source_address="cli")
                try:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    partial.write_bytes(ledger.data)
                except OSError as error:
                    message = f"cannot write: {error.strerror or error}"
                    raise InputError([Issue(str(out), message)], "not written") from None
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
    except (DomainError, InputError, NotFoundError) as error:
        raise _report_fail(error) from None
    console.print(f"wrote {out}: {ledger.rows:,} case(s), {len(ledger.data):,} bytes; {ledger.watermark}", markup=False)
