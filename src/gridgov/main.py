"""The web application: create_app(settings) mounts every domain's routers on one FastAPI app."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm.exc import StaleDataError

from gridgov import __version__
from gridgov.config import Settings, get_settings
from gridgov.core.db import get_engine
from gridgov.core.errors import DomainError, InputError, NotFoundError
from gridgov.core.jobs import JobRunner
from gridgov.core.pages import PageForbidden
from gridgov.core.templating import render
from gridgov.domains import import_domain_modules, load_models
from gridgov.domains.triage import duplicates

STATIC_DIR = Path(__file__).parent / "web" / "static"


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Returns the gridgov application for `settings` (default: the environment) on `engine`."""
    settings = settings or get_settings()
    load_models()

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        runner = subscriber = None
        # NOTE: the duplicate scorer's text model (jieba and the IDF of the reference corpus, 1–3 s) is fitted in
        # the background at start, not by the first report after a restart.
        threading.Thread(target=duplicates.reference_model, name="gridgov-warm-up", daemon=True).start()
        if settings.embedded_jobs and settings.env != "test":
            runner = JobRunner(application.state.engine)
            runner.start()
            if settings.mqtt_url:
                # NOTE: the MQTT telemetry subscriber runs where the jobs run (one process; workers at scale).
                from gridgov.domains.iot.mqtt import Subscriber

                subscriber = Subscriber.from_settings(application.state.engine, settings)
                subscriber.start()
        yield
        if subscriber is not None:
            subscriber.stop()
        if runner is not None:
            runner.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="gridgov",
        version=__version__,
        summary="City operations and grid-based grassroots governance (网格化基层治理)",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings.database_url)

    for module in import_domain_modules("api"):
        app.include_router(module.router, prefix="/api/v1")
    for module in import_domain_modules("pages"):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(InputError)
    async def _input_error(_request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={"detail": exc.summary, "issues": [issue.as_dict() for issue in exc.issues]},
        )

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        headers = {"Retry-After": str(exc.details["retry_after"])} if "retry_after" in exc.details else None
        return JSONResponse(status_code=exc.status, content={"detail": exc.message, **exc.as_dict()}, headers=headers)

    @app.exception_handler(StaleDataError)
    async def _stale(_request: Request, _exc: StaleDataError) -> JSONResponse:
        # NOTE: a versioned row changed under a write the service did not flush itself; same answer as a stale
        # `version` in the request body.
        message = "the record was changed by someone else while you acted on it; reload it and try again"
        return JSONResponse(status_code=409, content={"detail": message, "code": "stale_version", "message": message})

    @app.exception_handler(PageForbidden)
    async def _page_forbidden(request: Request, exc: PageForbidden) -> Response:
        context = {"message": exc.message}
        return render(request, "auth/forbidden.html", context, principal=exc.principal, status_code=403)

    @app.exception_handler(NotFoundError)
    async def _not_found(_request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.get("/healthz", tags=["system"])
    def healthz() -> dict[str, str]:
        """Returns ok when the process is up (for load balancers)."""
        return {"status": "ok", "version": __version__}

    return app
