"""Shapes of the Open311 GeoReport v2 façade: what a client sends (the posted form, the request-list query) and
the documents it gets back, in the spec's field order. JSON is their `model_dump`; XML is the same data
rendered by `open311.xml` under the spec's root and item elements.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from gridgov.domains.auth.schemas import AuditRecord

MAX_DESCRIPTION = 4000
MAX_RESULTS = 1000  # the spec's default (and our largest) page of requests
MAX_SPAN_DAYS = 90  # start_date..end_date may span at most this many days
MAX_RADIUS_M = 5000.0
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
_PHONE_RE = re.compile(r"^\+?\d{5,20}$")


class Format(StrEnum):
    """The response format, chosen by the URL's suffix (`services.json`, `services.xml`)."""

    json = "json"
    xml = "xml"

    @property
    def media_type(self) -> str:
        return "text/xml; charset=utf-8" if self is Format.xml else "application/json; charset=utf-8"


class Open311Error(Exception):
    """A refusal answered in the spec's error format: HTTP `status` and a list of {code, description}.

    The spec's statuses: 404 for an unknown service_code, jurisdiction_id or request, 403 for a missing or
    invalid api_key, 400 for anything else. `audit_record` is written to the audit log after the request.
    """

    def __init__(self, status: int, *descriptions: str, audit_record: AuditRecord | None = None) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = list(descriptions)
        self.audit_record = audit_record


def is_html(text: str) -> bool:
    """Returns whether `text` looks like HTML or markup (the spec allows plain text only)."""
    return "<" in text and ">" in text


def blank_to_none(data: Any) -> Any:
    """Returns the fields without the blank ones (the spec: an empty parameter is the same as an absent one)."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
    return data


# --- what clients send ------------------------------------------------------------------------------------------


class PostForm(BaseModel):
    """The fields of POST requests.[fmt] (application/x-www-form-urlencoded, or multipart with `media` files).

    `api_key` and the `attribute[code]` fields are read apart: the key before anything else, the attributes
    against the service's definition.
    """

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    jurisdiction_id: str | None = Field(None, max_length=200)
    service_code: str = Field(min_length=1, max_length=32, description="a service_code from services.[fmt]")
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False, description="WGS84 latitude")
    long: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False, description="WGS84 longitude")
    address_string: str | None = Field(None, max_length=300, description="where, in words (with lat/long)")
    address_id: str | None = Field(None, max_length=100, description="accepted with lat/long, not used")
    email: str | None = Field(None, max_length=200, description="the reporter's (personal; never shown)")
    device_id: str | None = Field(None, max_length=200, description="accepted, not stored")
    account_id: str | None = Field(None, max_length=100, description="echoed back in the response")
    first_name: str | None = Field(None, max_length=50, description="the reporter's (personal; never shown)")
    last_name: str | None = Field(None, max_length=50, description="the reporter's (personal; never shown)")
    phone: str | None = Field(None, max_length=40, description="the reporter's (personal; never shown)")
    description: str | None = Field(None, max_length=MAX_DESCRIPTION, description="plain text, no HTML")
    media_url: str | None = Field(None, max_length=1000, description="a link to a photo (kept as a reference)")

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        return blank_to_none(data)

    @field_validator("description")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        if value is not None and is_html(value):
            raise ValueError("must be plain text: HTML and markup are not accepted")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        phone = _PHONE_SEPARATORS.sub("", value)
        if not _PHONE_RE.match(phone):
            raise ValueError("a phone number has 5 to 20 digits (an optional leading +)")
        return phone

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and (value.count("@") != 1 or " " in value or value.startswith("@")):
            raise ValueError("not an e-mail address")
        return value

    @field_validator("media_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c in value for c in ' <>"'):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _location(self) -> PostForm:
        if (self.lat is None) != (self.long is None):
            raise ValueError("send both lat and long (WGS84), not only one of them")
        if self.lat is None and (self.address_string or self.address_id):
            raise ValueError(
                "a location by address_string or address_id alone is not accepted: this server cannot geocode "
                "addresses; send lat and long (WGS84) as well"
            )
        if self.lat is None:
            raise ValueError("a location is required: send lat and long (WGS84)")
        return self


class LookupQuery(BaseModel):
    """Query of a single request or token: the jurisdiction and the `extensions` flag."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    jurisdiction_id: str | None = Field(None, max_length=200)
    extensions: bool = Field(False, description="true: add notes[] and extended_attributes")

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        return blank_to_none(data)


class RequestsQuery(LookupQuery):
    """Query of GET requests.[fmt]: the spec's filters, plus pagination and a radius around a point."""

    service_request_id: str | None = Field(None, description="comma-separated case numbers; overrides the rest")
    service_code: str | None = Field(None, description="comma-separated service codes")
    start_date: dt.datetime | None = Field(None, description="W3C date-time; default: end_date - 90 days")
    end_date: dt.datetime | None = Field(None, description="W3C date-time; default: now (or start_date + 90 days)")
    status: str | None = Field(None, description="open, closed, or both comma-separated")
    page: int = Field(1, ge=1, le=1_000_000, description="extension: the page, from 1")
    page_size: int = Field(MAX_RESULTS, ge=1, le=MAX_RESULTS, description="extension: results per page")
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False, description="extension: WGS84 latitude")
    long: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False, description="extension: WGS84 longitude")
    radius: float | None = Field(None, gt=0, le=MAX_RADIUS_M, description="extension: metres around lat/long")

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _w3c(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            # NOTE: an unencoded "+08:00" in a query string arrives as " 08:00".
            if re.search(r"\d \d\d:\d\d$", text):
                text = text[:-6] + "+" + text[-5:]
            try:
                return dt.datetime.fromisoformat(text)
            except ValueError:
                raise ValueError("use a W3C date-time such as 2026-11-01T00:00:00+08:00 or 2026-11-01") from None
        return value

    @model_validator(mode="after")
    def _point(self) -> RequestsQuery:
        if (self.lat is None) != (self.long is None) or (self.radius is not None and self.lat is None):
            raise ValueError("a radius search needs lat and long together (radius is optional)")
        return self


# --- what clients get -------------------------------------------------------------------------------------------


class ErrorOut(BaseModel):
    """One error: the HTTP status as code, and what is wrong."""

    code: int
    description: str


class EndpointOut(BaseModel):
    """One API endpoint of the discovery document."""

    specification: str
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class DiscoveryOut(BaseModel):
    """The Open311 service discovery document."""

    changeset: str
    contact: str
    key_service: str
    endpoints: list[EndpointOut]


class ServiceOut(BaseModel):
    """One service (a matter type 事项)."""

    service_code: str
    service_name: str
    description: str | None
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str | None
    group: str | None


class AttributeValueOut(BaseModel):
    """One choice of a list attribute."""

    key: str
    name: str


class AttributeOut(BaseModel):
    """One attribute of a service definition; `values` only for list datatypes."""

    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str | None
    order: int
    description: str | None
    values: list[AttributeValueOut] | None = None

    @model_serializer(mode="wrap")
    def _omit_values(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if data.get("values") is None:
            data.pop("values", None)
        return data


class ServiceDefinitionOut(BaseModel):
    """A service's attributes (the form fields a client shows besides the description)."""

    service_code: str
    attributes: list[AttributeOut]


class NoteOut(BaseModel):
    """One public line of a request's history (the notes[] extension)."""

    datetime: str
    description: str
    type: str = "status"


class ExtendedAttributesOut(BaseModel):
    """The extended_attributes extension: where the case came from and its stage in gridgov's lifecycle."""

    channel: str
    stage: str


class ServiceRequestOut(BaseModel):
    """One service request (a case) as the public may see it; the extensions only when asked for."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str | None
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None
    notes: list[NoteOut] | None = None
    extended_attributes: ExtendedAttributesOut | None = None

    @model_serializer(mode="wrap")
    def _omit_extensions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for key in ("notes", "extended_attributes"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class PostResultOut(BaseModel):
    """The answer to a posted request: the case number, its tracking code as token, and what happens next."""

    service_request_id: str
    token: str | None
    service_notice: str | None
    account_id: str | None

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # "May not be returned": left out rather than null, as the spec's Swagger types them plain strings.
        return {key: value for key, value in handler(self).items() if value is not None}


class TokenOut(BaseModel):
    """The request a token (a tracking code) belongs to."""

    service_request_id: str
    token: str
