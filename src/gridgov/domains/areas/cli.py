"""`gridgov areas`: import and export boundaries, show the tree, locate a point.

Every command checks first that the database is migrated and, if not, asks the user to run `gridgov db upgrade`
(it never migrates by itself: pointing GRIDGOV_DATABASE_URL at the wrong database should not silently create one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree
from sqlalchemy.engine import make_url

from gridgov.config import get_settings
from gridgov.core.db import transaction
from gridgov.core.errors import InputError, NotFoundError
from gridgov.core.geo import Crs
from gridgov.domains.areas import files, locate, service
from gridgov.domains.areas.enums import LEVEL_LABELS_ZH, LEVEL_PLURALS_EN, AreaLevel
from gridgov.domains.areas.schemas import AreaTreeNode

NAME = "areas"
app = typer.Typer(
    help="The area tree (区域与网格): districts, streets, communities, grids and buildings.", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)


class _DryRun(Exception):
    """Raised inside the transaction of a --dry-run import so that nothing is committed."""


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _require_migrated() -> None:
    from alembic.script import ScriptDirectory

    from gridgov import migrations

    url = get_settings().database_url
    expected = set(ScriptDirectory.from_config(migrations.alembic_config(url)).get_heads())
    current = migrations.current_heads(url)
    if current != expected:
        shown = make_url(url).render_as_string(hide_password=True)
        state = f"at {', '.join(sorted(current))}" if current else "empty"
        _fail(f"the database {shown} is not migrated ({state}): run `gridgov db upgrade` first")


@app.command("import")
def import_areas(
    file: Annotated[Path, typer.Argument(help="A .geojson/.json boundary file, or an .xlsx/.csv attribute table.")],
    level: Annotated[
        AreaLevel | None,
        typer.Option(help="Level of the features (default: the features' own 'level' property, if they agree)."),
    ] = None,
    code_field: Annotated[str | None, typer.Option(help="Property or column holding the code (default: code).")] = None,
    name_field: Annotated[str, typer.Option(help="Property holding the name.")] = "name",
    parent_field: Annotated[str, typer.Option(help="Property holding the parent's code.")] = "parent",
    crs: Annotated[Crs, typer.Option(help="Coordinate system of the file: wgs84, gcj02 (AMap) or bd09 (Baidu).")] = (
        Crs.wgs84
    ),
    fix: Annotated[bool, typer.Option(help="Repair invalid boundaries with make_valid instead of rejecting them.")] = (
        False
    ),
    attributes: Annotated[
        Path | None, typer.Option(help="An .xlsx/.csv table of attributes to apply in the same transaction.")
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="Sheet of an .xlsx table (default: the first).")] = None,
    overlap_tolerance: Annotated[
        float, typer.Option(min=0, help="Square metres siblings may overlap before the import is rejected.")
    ] = service.DEFAULT_OVERLAP_TOLERANCE_M2,
    containment_tolerance: Annotated[
        float, typer.Option(min=0, help="Metres a child may stick out of its parent before the import is rejected.")
    ] = service.DEFAULT_CONTAINMENT_TOLERANCE_M,
    dry_run: Annotated[bool, typer.Option(help="Validate and report, but write nothing.")] = False,
) -> None:
    """Imports areas from FILE, all or nothing: every problem is listed and nothing is written if there is one."""
    try:
        kind = files.file_kind(file)
        collection = files.read_geojson(file) if kind == "geojson" else None
        table = files.read_table(file, sheet) if kind == "table" else None
        extra = files.read_table(attributes, sheet) if attributes is not None else None
    except InputError as exc:
        _fail(str(exc))
    if collection is not None:
        level = level or service.infer_level(collection)
        if level is None:
            _fail(f"{file.name}: give --level (district, street, community, grid or building)")
    _require_migrated()
    reports: list[service.ImportReport] = []
    try:
        with transaction() as db:
            if collection is not None and level is not None:
                report = service.import_geojson(
                    db=db,
                    collection=collection,
                    level=level,
                    code_field=code_field or "code",
                    name_field=name_field,
                    parent_field=parent_field,
                    crs=crs,
                    fix=fix,
                    source=file.name,
                    overlap_tolerance_m2=overlap_tolerance,
                    containment_tolerance_m=containment_tolerance,
                )
                reports.append(report)
            for rows in (table, extra):
                if rows is not None:
                    report = service.import_attributes(
                        db=db, rows=rows.rows, row_numbers=rows.row_numbers, source=rows.source, code_field=code_field
                    )
                    reports.append(report)
            if dry_run:
                raise _DryRun
    except InputError as exc:
        _fail(str(exc))
    except _DryRun:
        for report in reports:
            typer.echo(f"dry run, nothing written: {report.summary()}")
        return
    for report in reports:
        typer.echo(report.summary())


@app.command("export")
def export_areas(
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (.geojson), or - for standard output.")],
    level: Annotated[AreaLevel, typer.Option(help="Which level to export.")] = AreaLevel.grid,
    simplify: Annotated[float | None, typer.Option(min=0, help="Simplify boundaries by about this many metres.")] = (
        None
    ),
    within: Annotated[str | None, typer.Option(help="Only areas inside the area with this code.")] = None,
    crs: Annotated[Crs, typer.Option(help="Coordinate system to write (GeoJSON proper is wgs84).")] = Crs.wgs84,
) -> None:
    """Exports one level as GeoJSON (code, name, level, parent and figures as properties); it imports back as is."""
    _require_migrated()
    try:
        with transaction() as db:
            collection = service.export_geojson(db=db, level=level, simplify_m=simplify, within_code=within, crs=crs)
    except NotFoundError as exc:
        _fail(str(exc))
    text = json.dumps(collection, ensure_ascii=False)
    if str(out) == "-":
        typer.echo(text)
        return
    out.write_text(text + "\n", encoding="utf-8")
    typer.echo(f"wrote {len(collection['features'])} {level.value} areas to {out}")


@app.command("locate")
def locate_point(
    lng: Annotated[str, typer.Argument(help="Longitude in decimal degrees (put -- before negative numbers).")],
    lat: Annotated[str, typer.Argument(help="Latitude in decimal degrees.")],
    crs: Annotated[str, typer.Option(help="Coordinate system of the point: wgs84, gcj02 or bd09.")] = "wgs84",
) -> None:
    """Prints the street, community and grid of a point; exits 1 when no grids are imported."""
    try:
        x, y, parsed_crs = locate.parse_coordinates(lng, lat, crs, where="arguments")
    except InputError as exc:
        _fail(str(exc))
    _require_migrated()
    with transaction() as db:
        result = locate.resolve(db=db, lng=x, lat=y, crs=parsed_crs)
    if result.status == "inside" and result.grid is not None:
        names = [ref.name for ref in (result.street, result.community, result.grid) if ref is not None]
        typer.echo(f"inside: {' / '.join(names)} ({result.grid.code})")
    elif result.status == "outside" and result.nearest is not None:
        typer.echo(
            f"outside: in no grid; nearest is {result.nearest.name} ({result.nearest.code}), {result.distance_m:.0f} m"
        )
    else:
        _fail("no grids imported yet: import them with `gridgov areas import FILE --level grid`")


def _label(node: AreaTreeNode) -> str:
    counted = ", ".join(f"{count} {LEVEL_PLURALS_EN[level]}" for level, count in node.counts.items())
    text = f"{LEVEL_LABELS_ZH[node.level]} [bold]{escape(node.name)}[/bold] ({escape(node.code)})"
    return text + (f" · {counted}" if counted else "")


@app.command("tree")
def show_tree(
    root: Annotated[str | None, typer.Option(help="Code of the area to start from (default: every district).")] = None,
    depth: Annotated[int | None, typer.Option(min=0, max=4, help="Levels to list below the root.")] = None,
) -> None:
    """Prints the area tree, by default down to communities with grids counted."""
    _require_migrated()
    try:
        with transaction() as db:
            nodes = service.get_tree(db=db, root_code=root, depth=depth)
    except NotFoundError as exc:
        _fail(str(exc))
    if not nodes:
        _fail("no areas yet: import them with `gridgov areas import FILE --level district` (and so on down)")

    def add(branch: Tree, node: AreaTreeNode) -> None:
        child = branch.add(_label(node))
        for sub in node.children:
            add(child, sub)

    for node in nodes:
        top = Tree(_label(node))
        for sub in node.children:
            add(top, sub)
        console.print(top)
