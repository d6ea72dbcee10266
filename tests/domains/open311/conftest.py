"""Fixtures of the Open311 tests: the synthetic world, a frozen clock, api keys, and the spec's JSON Schemas.

Every JSON document the server answers is validated against ../shared/data/open311/ (the GeoReport v2 schemas
of open311/schema-validation): services.json, service-definition.json, requests.json, and the Swagger
definitions RequestResponse and TokenResponse for the POST and token answers. Tests that need the schemas skip
when the shared data folder is absent.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from gridgov.core import clock
from gridgov.domains.areas import locate
from gridgov.domains.auth.enums import Role
from tests.domains.cases.conftest import T0
from tests.domains.cases.world import World, add_token_user, load_world

BASE = "/open311/v2"
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


class Clock:
    """A settable clock for the app and the services (starts at T0, a Wednesday 09:00 in Shanghai)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at.astimezone(dt.UTC)

    def advance(self, **delta: float) -> dt.datetime:
        self.at = self.at + dt.timedelta(**delta)
        return self.at


@pytest.fixture
def frozen() -> Iterator[Clock]:
    now = Clock(T0)
    clock.set_clock(now)
    try:
        yield now
    finally:
        clock.set_clock(None)


@pytest.fixture
def world(db: Session, frozen: Clock) -> World:
    locate.invalidate()
    return load_world(db)


@pytest.fixture
def api_key(world: World, db: Session) -> str:
    """The api_key of an integration (a system account) allowed to post requests."""
    return add_token_user(db, "open311-app", Role.system, None, None, scopes=("cases:write",))[1]


@pytest.fixture
def citizen_key(world: World, db: Session) -> str:
    """The api_key of a citizen's account (a phone app acting for one person)."""
    return add_token_user(db, "citizen-li", Role.citizen, None, None, scopes=("cases:write",))[1]


# --- schema validation --------------------------------------------------------------------------------------------


@dataclass
class Schemas:
    """Validators of the spec's documents; `check(name, document)` raises on the first problem."""

    validators: dict[str, Any]

    def check(self, name: str, document: Any) -> None:
        errors = sorted(self.validators[name].iter_errors(document), key=lambda e: list(e.absolute_path))
        assert not errors, f"{name}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


@pytest.fixture(scope="session")
def schemas(shared_data: Path) -> Schemas:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (a dev dependency) is not installed")
    from referencing import Registry
    from referencing.jsonschema import DRAFT7

    folder = shared_data / "open311"
    files = ("request.json", "requests.json", "service.json", "services.json", "service-definition.json")
    documents = {name: json.loads((folder / name).read_text(encoding="utf-8")) for name in files}
    registry = Registry().with_resources((name, DRAFT7.create_resource(doc)) for name, doc in documents.items())

    # NOTE: jsonschema checks date-time and uri only with optional packages; these two checks are the spec's.
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date-time")
    def _w3c(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return bool(W3C.match(value)) and dt.datetime.fromisoformat(value).tzinfo is not None

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.netloc)

    def validator(schema: dict[str, Any]) -> Any:
        return jsonschema.Draft7Validator(schema, registry=registry, format_checker=checker)

    swagger = json.loads((folder / "swagger.json").read_text(encoding="utf-8"))
    definitions = swagger["definitions"]

    def swagger_list(definition: str) -> dict[str, Any]:
        return {"type": "array", "items": {"$ref": f"#/definitions/{definition}"}, "definitions": definitions}

    validators = {name.removesuffix(".json"): validator(doc) for name, doc in documents.items()}
    validators["post-response"] = validator(swagger_list("RequestResponse"))
    validators["token-response"] = validator(swagger_list("TokenResponse"))
    return Schemas(validators)


# --- a client that checks every answer ----------------------------------------------------------------------------


def parse_xml(response: Response, root: str) -> ET.Element:
    """Returns the parsed XML answer after checking its declaration, content type and root element."""
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    element = ET.fromstring(response.content)
    assert element.tag == root, (element.tag, response.text[:200])
    return element


def check_errors(response: Response, status: int) -> list[str]:
    """Checks an error answer (JSON or XML) has `status` and the spec's shape; returns its descriptions."""
    assert response.status_code == status, (response.status_code, response.text)
    if response.headers["content-type"].startswith("text/xml"):
        root = parse_xml(response, "errors")
        errors = root.findall("error")
        assert errors and all(e.findtext("code") == str(status) for e in errors)
        return [e.findtext("description") or "" for e in errors]
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert isinstance(body, list) and body
    for error in body:
        assert set(error) == {"code", "description"} and error["code"] == status
        assert isinstance(error["description"], str) and error["description"]
    return [e["description"] for e in body]


@dataclass
class Open311:
    """The test client of the Open311 server: every JSON answer is validated against its schema."""

    http: TestClient
    schemas: Schemas

    def get(self, path: str, schema: str | None, **params: Any) -> Any:
        response = self.http.get(f"{BASE}/{path}", params=params)
        assert response.status_code == 200, (path, response.status_code, response.text)
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        body = response.json()
        if schema:
            self.schemas.check(schema, body)
        return body

    def post(self, data: dict[str, Any], *, headers: dict[str, str] | None = None, files: Any = None) -> Response:
        return self.http.post(f"{BASE}/requests.json", data=data, headers=headers, files=files)

    def post_ok(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        response = self.post(data, **kwargs)
        assert response.status_code == 200, response.text
        body = response.json()
        self.schemas.check("post-response", body)
        assert len(body) == 1
        return body[0]

    def request(self, number: str, **params: Any) -> dict[str, Any]:
        body = self.get(f"requests/{number}.json", "requests", **params)
        assert len(body) == 1 and body[0]["service_request_id"] == number
        return body[0]

    def requests(self, **params: Any) -> list[dict[str, Any]]:
        return self.get("requests.json", "requests", **params)


@pytest.fixture
def open311(client: TestClient, schemas: Schemas) -> Open311:
    return Open311(client, schemas)
