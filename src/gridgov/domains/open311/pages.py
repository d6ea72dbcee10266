"""HTTP routes of the Open311 GeoReport v2 server, at /open311/v2/ (outside /api/v1: the spec fixes the paths).

Every route answers JSON or XML by its URL suffix, and every refusal — including FastAPI's own validation
errors — in the spec's error format: a list of {code, description}, 404 for an unknown resource, service,
request or jurisdiction, 403 for the api_key, 400 for the rest. Reads need no login; posting needs an api_key.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from gridgov.core.auth import AfterRequest, after_request, client_address
from gridgov.core.clock import now as clock_now
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import DomainError, InputError, NotFoundError
from gridgov.core.i18n import request_locale
from gridgov.core.permissions import pending_audit
from gridgov.domains.open311 import service, xml
from gridgov.domains.open311.schemas import ErrorOut, Format, Open311Error, PostForm, RequestsQuery
from gridgov.domains.open311.service import MAX_MEDIA_FILES, MediaUpload

_PASSED_THROUGH = frozenset({403, 404, 429, 503})  # other refusals are 400, as the spec asks
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _error_format(request: Request) -> Format:
    suffix = request.path_params.get("fmt") or request.url.path.rpartition(".")[2]
    return Format.xml if str(suffix).lower() == "xml" else Format.json


def _validation_lines(errors: Sequence[Any]) -> list[str]:
    lines = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "header", "path"))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


def error_response(request: Request, exc: Exception) -> Response | None:
    """Returns the spec's error answer for a refusal, or None for an unexpected error (left to propagate)."""
    headers = None
    if isinstance(exc, Open311Error):
        status, lines = exc.status, exc.descriptions
    elif isinstance(exc, RequestValidationError | ValidationError):
        status, lines = 400, _validation_lines(exc.errors())
    elif isinstance(exc, InputError):
        status, lines = 400, [str(issue) for issue in exc.issues] or [exc.summary]
    elif isinstance(exc, NotFoundError):
        status, lines = 404, [str(exc)]
    elif isinstance(exc, DomainError):
        status, lines = (exc.status if exc.status in _PASSED_THROUGH else 400), [exc.message]
        if "retry_after" in exc.details:
            headers = {"Retry-After": str(exc.details["retry_after"])}
    elif isinstance(exc, HTTPException) and 400 <= exc.status_code < 500:
        status, lines = (exc.status_code if exc.status_code in _PASSED_THROUGH else 400), [str(exc.detail)]
    else:
        return None
    errors = [ErrorOut(code=status, description=line) for line in lines]
    return respond(_error_format(request), "errors", errors, status=status, headers=headers)


class Open311Route(APIRoute):
    """A route whose refusals are answered in the spec's error format, as JSON or XML by the URL's suffix."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                response = error_response(request, exc)
                if response is None:
                    raise
                return response

        return handle


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)


def respond(
    fmt: Format,
    root: str,
    payload: BaseModel | Sequence[BaseModel],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Returns `payload` as the spec's JSON, or as XML under `root`."""
    if isinstance(payload, BaseModel):
        data: Any = payload.model_dump(mode="json")
    else:
        data = [item.model_dump(mode="json") for item in payload]
    body = xml.render(root, data) if fmt is Format.xml else json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type=fmt.media_type, headers=headers)


def _query(request: Request) -> dict[str, str]:
    # The spec allows a list filter "declared multiple times, comma delimited": both forms become one list.
    return {key: ",".join(request.query_params.getlist(key)) for key in request.query_params.keys()}


def _base_url(request: Request) -> str:
    return str(request.base_url)


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": f.description}
        for name, f in model.model_fields.items()
    ]


_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["api_key", "service_code"],
    "properties": {
        "api_key": {"type": "string", "description": "an API token with the scope cases:write"},
        **PostForm.model_json_schema()["properties"],
        "attribute[urgency]": {"type": "string", "enum": ["normal", "urgent", "emergency"]},
        "attribute[component_id]": {"type": "string", "description": "component (部件) services only"},
    },
}
_POST_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
            "multipart/form-data": {
                "schema": {
                    **_FORM_SCHEMA,
                    "properties": {
                        **_FORM_SCHEMA["properties"],
                        "media": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            },
        },
    }
}


@router.get("/discovery.{fmt}", summary="Service discovery")
def get_discovery(fmt: str, request: Request) -> Response:
    """Returns the discovery document: specification, endpoint URL and formats, how to get an api_key."""
    out = service.response_format(fmt)
    document = service.discovery(settings=request.app.state.settings, base_url=_base_url(request))
    return respond(out, "discovery", document)


@router.get("/services.{fmt}", summary="GET Service List")
def get_services(fmt: str, request: Request, db: DbSession) -> Response:
    """Lists the services: every active matter type, grouped by its major class."""
    out = service.response_format(fmt)
    services = service.list_services(
        db=db, jurisdiction_id=request.query_params.get("jurisdiction_id"), settings=request.app.state.settings
    )
    return respond(out, "services", services)


@router.get("/services/{service_code}.{fmt}", summary="GET Service Definition")
def get_service_definition(service_code: str, fmt: str, request: Request, db: DbSession) -> Response:
    """Returns a service's attributes (urgency for all; the component number for components)."""
    out = service.response_format(fmt)
    definition = service.service_definition(
        db=db,
        service_code=service_code,
        jurisdiction_id=request.query_params.get("jurisdiction_id"),
        settings=request.app.state.settings,
    )
    return respond(out, "service_definition", definition)


async def posted_form(request: Request) -> AsyncIterator[FormData]:
    """Dependency: the posted form (url-encoded or multipart), closed after the request."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in _FORM_TYPES:
        expected = "application/x-www-form-urlencoded (or multipart/form-data)"
        raise Open311Error(400, f"a request is posted as {expected}, not {content_type}")
    form = await request.form(max_files=MAX_MEDIA_FILES + 1, max_fields=200)
    try:
        yield form
    finally:
        await form.close()


@router.post("/requests.{fmt}", summary="POST Service Request", openapi_extra=_POST_DOC)
def post_request(
    fmt: str,
    request: Request,
    db: WriteSession,
    after: Annotated[AfterRequest, Depends(after_request)],
    form: Annotated[FormData, Depends(posted_form)],
    idempotency_key: Annotated[str | None, Header(max_length=150)] = None,
) -> Response:
    """Creates a case from a form-encoded request with an api_key; a retry with the same Idempotency-Key
    returns the same answer (header Idempotent-Replayed: true)."""
    out = service.response_format(fmt)
    settings = request.app.state.settings
    fields: dict[str, list[str]] = {key: request.query_params.getlist(key) for key in request.query_params.keys()}
    posted: dict[str, list[str]] = {}
    uploads: list[MediaUpload] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key != "media":
                raise Open311Error(400, f"unexpected file in the field '{key}': only 'media' takes files")
            uploads.append(MediaUpload(filename=value.filename, data=value.file.read(settings.max_upload_bytes + 1)))
        else:
            posted.setdefault(key, []).append(value)
    fields |= posted  # the body wins over the query string
    try:
        with db.begin_nested():  # a refusal leaves nothing behind, though its error answer is not an exception
            submitted = service.submit_request(
                db=db,
                fields=fields,
                media=uploads,
                settings=settings,
                locale=request_locale(request),
                idempotency_key=idempotency_key,
                source_address=client_address(request),
                path=request.url.path,
            )
    except Exception as exc:
        if (record := pending_audit(exc)) is not None:
            after.audit(record)
        raise
    headers = {"Idempotent-Replayed": "true"} if submitted.replayed else None
    return respond(out, "service_requests", [submitted.result], headers=headers)


@router.get(
    "/requests.{fmt}",
    summary="GET Service Requests",
    openapi_extra={"parameters": _query_parameters(RequestsQuery)},
)
def get_requests(fmt: str, request: Request, db: DbSession) -> Response:
    """Lists public requests: the spec's filters (default: the last 90 days, at most 1000), plus page/page_size,
    lat/long/radius and extensions=true."""
    out = service.response_format(fmt)
    requests = service.list_requests(
        db=db,
        params=_query(request),
        settings=request.app.state.settings,
        base_url=_base_url(request),
        locale=request_locale(request),
        now=clock_now(),
    )
    return respond(out, "service_requests", requests)


@router.get("/requests/{service_request_id}.{fmt}", summary="GET Service Request")
def get_request(service_request_id: str, fmt: str, request: Request, db: DbSession) -> Response:
    """Returns one public request by its id (the case number), as a list of one."""
    out = service.response_format(fmt)
    found = service.get_request(
        db=db,
        service_request_id=service_request_id,
        params=_query(request),
        settings=request.app.state.settings,
        base_url=_base_url(request),
        locale=request_locale(request),
    )
    return respond(out, "service_requests", found)


@router.get("/tokens/{token}.{fmt}", summary="GET service_request_id from a token")
def get_token(token: str, fmt: str, request: Request, db: DbSession) -> Response:
    """Returns the request id a token (the tracking code given when posting) belongs to."""
    out = service.response_format(fmt)
    found = service.resolve_token(db=db, token=token, params=_query(request), settings=request.app.state.settings)
    return respond(out, "service_requests", found)


@router.api_route("/{path:path}", methods=["GET", "POST"], include_in_schema=False)
def unknown_resource(path: str) -> Response:
    """Answers any other path under /open311/v2/ with the spec's 404."""
    raise Open311Error(404, f"no resource '{path}' here: see discovery.json, services.json and requests.json")
