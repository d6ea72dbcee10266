"""`gridgov iot ...`: device types, rules and devices as files (and telemetry commands, appended below)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridgov.core.db import transaction
from gridgov.core.errors import InputError
from gridgov.core.geo import Crs
from gridgov.domains.iot import registry
from gridgov.domains.iot.schemas import SectionCount

NAME = "iot"
app = typer.Typer(help="IoT devices, alarm rules and telemetry (物联感知).", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

ConfigIn = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .yaml, .yml or .xlsx config file.")
]
ConfigOut = Annotated[Path, typer.Argument(dir_okay=False, help="A .yaml, .yml or .xlsx file to write.")]
DevicesIn = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .xlsx, .csv, .geojson or .json file.")
]
DevicesOut = Annotated[
    Path, typer.Argument(dir_okay=False, help="A .json (NGSI-LD entities) or .geojson (NGSI-LD GeoJSON) file.")
]


def _fail(error: InputError) -> typer.Exit:
    for line in str(error).splitlines():  # the summary with the count, then one line per issue
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _print_counts(title: str, sections: dict[str, SectionCount]) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("section")
    for column in ("created", "updated", "unchanged"):
        table.add_column(column, justify="right")
    for name, counts in sections.items():
        table.add_row(name, str(counts.created), str(counts.updated), str(counts.unchanged))
    console.print(table)


@app.command("import-config")
def import_config(file: ConfigIn) -> None:
    """Imports device types and alarm rules from FILE: checks everything first, writes nothing on any error."""
    try:
        document = registry.load_config(file)
        with transaction() as db:
            report = registry.import_config(db=db, document=document, source=file.name)
    except InputError as error:
        raise _fail(error) from None
    _print_counts(f"imported {file.name}", {"device_types": report.device_types, "rules": report.rules})


@app.command("export-config")
def export_config(file: ConfigOut) -> None:
    """Writes every device type and alarm rule to FILE (YAML or XLSX by suffix), as import-config reads it."""
    try:
        with transaction(write=False) as db:
            document = registry.export_config(db=db)
        registry.write_config(document, file)
    except InputError as error:
        raise _fail(error) from None
    counts = f"{len(document.device_types)} device types, {len(document.rules)} rules"
    console.print(f"wrote {file}: {counts}", markup=False, highlight=False, soft_wrap=True)


@app.command("import-devices")
def import_devices(
    file: DevicesIn,
    crs: Annotated[
        Crs, typer.Option(help="Coordinate system of rows that name none (GCJ-02: AMap/Tencent, BD-09: Baidu).")
    ] = Crs.wgs84,
) -> None:
    """Imports devices from FILE (XLSX, CSV in UTF-8 or GBK, GeoJSON Points), each located on its grid.

    Devices are upserted by code; any bad row (unknown type or owner, a point outside the district, a code twice)
    is listed and nothing is written.
    """
    try:
        devices = registry.read_devices(file, crs=crs)
        with transaction() as db:
            report = registry.import_devices(db=db, devices=devices)
    except InputError as error:
        raise _fail(error) from None
    _print_counts(f"imported {file.name}", {"devices": report.devices})


@app.command("export-devices")
def export_devices(file: DevicesOut) -> None:
    """Writes every device to FILE as NGSI-LD Device entities: .json (an array) or .geojson (FeatureCollection)."""
    try:
        with transaction(write=False) as db:
            entities = registry.export_ngsi_ld(db=db)
        registry.write_ngsi_ld(entities, file)
    except InputError as error:
        raise _fail(error) from None
    console.print(f"wrote {file}: {len(entities)} devices", markup=False, highlight=False, soft_wrap=True)


# --- telemetry ---------------------------------------------------------------------------------------------------


@app.command("subscribe")
def subscribe(
    suffix: Annotated[
        str, typer.Option("--client-id-suffix", help="Client id is <GRIDGOV_MQTT_CLIENT_ID>-<suffix>; keep it stable.")
    ] = "ingest",
    share_group: Annotated[
        str | None, typer.Option(help="Subscribe as $share/<group>/... so several subscribers split the messages.")
    ] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="Messages stored per transaction at most.")] = 200,
) -> None:
    """Subscribes to the telemetry topics on GRIDGOV_MQTT_URL and stores readings until Ctrl-C (foreground)."""
    import logging

    from gridgov.config import get_settings
    from gridgov.core.db import get_engine
    from gridgov.domains.iot import mqtt

    if not get_settings().mqtt_url:
        err_console.print("GRIDGOV_MQTT_URL is not set (e.g. mqtt://127.0.0.1:1883)", markup=False)
        raise typer.Exit(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mqtt.run(engine=get_engine(), suffix=suffix, share_group=share_group, max_batch=max_batch)


@app.command("prune")
def prune(
    days: Annotated[
        int | None, typer.Option(min=1, help="Keep this many days (default GRIDGOV_TELEMETRY_RETENTION_DAYS).")
    ] = None,
) -> None:
    """Deletes readings older than the retention (the daily job does the same)."""
    from gridgov.config import get_settings
    from gridgov.core.db import get_engine
    from gridgov.domains.iot import jobs

    kept = days or get_settings().telemetry_retention_days
    deleted = jobs.prune(engine=get_engine(), days=kept)
    console.print(f"deleted {deleted} reading(s) older than {kept} days", markup=False)


@app.command("sweep-offline")
def sweep_offline() -> None:
    """Marks devices offline that sent nothing within their offline rule's time (the minute job does the same)."""
    from gridgov.core.db import get_engine
    from gridgov.domains.iot import jobs

    report = jobs.sweep_offline(engine=get_engine())
    console.print(f"{report.offline} device(s) went offline, {report.cases} case(s) opened", markup=False)


@app.command("simulate")
def simulate(
    devices: Annotated[int, typer.Option(min=0, help="Simulate the first N registered devices by code (0: all).")] = 50,
    rate: Annotated[float, typer.Option(min=0.01, help="Readings per second, all devices together.")] = 5.0,
    duration: Annotated[float, typer.Option(min=0, help="Seconds to run (0: until Ctrl-C).")] = 60.0,
    url: Annotated[
        str | None, typer.Option(help="Base URL of a running gridgov (e.g. http://127.0.0.1:8000); default: direct.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="API token of a system user with telemetry.ingest (with --url).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of every random choice (same seed, same values).")] = 1,
    alarm_share: Annotated[float, typer.Option(min=0, max=1, help="Chance a reading starts an alarm episode.")] = 0.01,
    silent_share: Annotated[float, typer.Option(min=0, max=1, help="Share of devices that never report.")] = 0.05,
    backfill: Annotated[
        bool, typer.Option(help="Send the readings of the last DURATION seconds at once instead of in real time.")
    ] = False,
) -> None:
    """Sends generated readings of registered devices: over HTTP to a running server (--url), or straight in."""
    from gridgov.core import clock
    from gridgov.domains.iot import simulator, telemetry

    with transaction(write=False) as db:
        planned = simulator.plan(db=db, devices=devices, seed=seed, silent_share=silent_share)
    if not planned:
        err_console.print("no devices registered: import some first (gridgov iot import-devices)", markup=False)
        raise typer.Exit(1)
    if url:
        import httpx

        if not token:
            err_console.print("--url needs --token (a system user's API token with telemetry.ingest)", markup=False)
            raise typer.Exit(1)
        http = httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=30)

        def send(batch: list[dict]) -> dict:
            response = http.post("/api/v1/iot/telemetry", json={"readings": batch})
            response.raise_for_status()
            return response.json()
    else:

        def send(batch: list[dict]) -> dict:
            with transaction() as db:
                return telemetry.ingest(db=db, messages=batch, now=clock.now(), source="simulate").as_dict()

    silent = sum(d.silent for d in planned)
    console.print(f"simulating {len(planned)} device(s), {silent} silent, {rate:g} reading(s)/s", markup=False)
    generator = simulator.Generator(planned, seed=seed, alarm_share=alarm_share)

    def progress(totals: simulator.Totals) -> None:
        console.print(f"sent {totals.sent}, accepted {totals.accepted}, alarms raised {totals.raised}", markup=False)

    try:
        totals = simulator.run(
            generator=generator,
            send=send,
            rate=rate,
            duration=duration,
            now=clock.now,
            backfill=backfill,
            progress=progress,
        )
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    console.print(
        f"sent {totals.sent} reading(s) in {totals.batches} batch(es): accepted {totals.accepted}, "
        f"duplicates {totals.duplicates}, rejected {totals.rejected}; alarms raised {totals.raised}, "
        f"cleared {totals.cleared}",
        markup=False,
    )
