"""The `gridgov` command line: serve, db, and one sub-command group per domain (areas, catalog, demo ...)."""

from __future__ import annotations

import importlib
import threading

import typer
from rich.console import Console

from gridgov.config import get_settings
from gridgov.domains import import_domain_modules

app = typer.Typer(
    name="gridgov",
    help="gridgov: city operations and grid-based grassroots governance (网格化基层治理).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()
err_console = Console(stderr=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrates the configured database up to REVISION (default: the newest)."""
    from gridgov import migrations

    settings = get_settings()
    migrations.upgrade(settings.database_url, revision)
    console.print(f"database at {', '.join(sorted(migrations.current_heads(settings.database_url))) or 'base'}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument("-1", help="Target revision (-1 = one step, base = empty).")) -> None:
    """Migrates the configured database down to REVISION."""
    from gridgov import migrations

    settings = get_settings()
    migrations.downgrade(settings.database_url, revision)
    console.print(f"database at {', '.join(sorted(migrations.current_heads(settings.database_url))) or 'base'}")


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to bind (default GRIDGOV_HOST)."),
    port: int | None = typer.Option(None, help="Port (default GRIDGOV_PORT)."),
    workers: int = typer.Option(1, min=1, help="Number of worker processes."),
    migrate: bool = typer.Option(True, help="Apply pending migrations first."),
) -> None:
    """Serves the console and the API with uvicorn (OpenAPI docs at /docs)."""
    import uvicorn

    settings = get_settings()
    if migrate:
        from gridgov import migrations

        migrations.upgrade(settings.database_url)
    uvicorn.run(
        "gridgov.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level="info",
    )


@app.command()
def worker(
    once: bool = typer.Option(False, help="Run every job once and exit (for cron or tests)."),
    mqtt_suffix: str = typer.Option(
        "ingest", help="With GRIDGOV_MQTT_URL: MQTT client id suffix; give each worker its own, stable one."
    ),
    mqtt_share_group: str | None = typer.Option(
        None, help="With several workers: subscribe as $share/<group>/... so they split the telemetry."
    ),
) -> None:
    """Runs the background jobs (SLA sweep ...) and the MQTT telemetry subscriber; start several for a city."""
    import logging
    import signal

    from gridgov.core.db import get_engine
    from gridgov.core.jobs import JobRunner

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runner = JobRunner(get_engine())
    if once:
        runner.run_once()
        return
    runner.start()
    subscriber = None
    if get_settings().mqtt_url:
        from gridgov.domains.iot.mqtt import Subscriber

        subscriber = Subscriber.from_settings(get_engine(), suffix=mqtt_suffix, share_group=mqtt_share_group)
        subscriber.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    if subscriber is not None:
        subscriber.stop()
    runner.stop()


def _mount_domain_commands() -> None:
    modules = import_domain_modules("cli")
    modules.append(importlib.import_module("gridgov.demo.cli"))
    for module in modules:
        app.add_typer(module.app, name=module.NAME)
    # The personal-data keys concern every personal field, not one register: `gridgov keys rotate|check|generate`.
    app.add_typer(importlib.import_module("gridgov.domains.people.cli").keys_app, name="keys")


_mount_domain_commands()
if __name__ == "__main__":
    app()
