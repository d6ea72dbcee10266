"""IoT HTTP API: device registry, device types, rules (and telemetry, appended below)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse

from gridgov.core import clock, permissions
from gridgov.core.auth import CurrentUser, require_scope
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.permissions import defer_audit
from gridgov.domains.auth.enums import TokenScope
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.cases.schemas import Page
from gridgov.domains.iot import alarms as alarm_service
from gridgov.domains.iot import mqtt, registry, telemetry
from gridgov.domains.iot.enums import AlarmState, DeviceState
from gridgov.domains.iot.schemas import (
    DeviceDetail,
    DeviceIn,
    DeviceRead,
    DeviceStateChange,
    DeviceTypeRead,
    RuleRead,
)

router = APIRouter(tags=["iot"])

NGSI_LD_MEDIA_TYPE = "application/ld+json"


async def device_reader(request: Request, principal: CurrentUser) -> Principal:
    """Dependency: a caller who may see devices (device.view in its area, or device.manage); 403 otherwise."""
    actor = principal.actor
    if permissions.can(actor, "device.manage") and not permissions.can(actor, "device.view"):
        return await require_scope(permissions.ACTION_TOKEN_SCOPES["device.manage"])(request, principal)
    await require_scope(permissions.ACTION_TOKEN_SCOPES["device.view"])(request, principal)
    permissions.require(actor, "device.view", audit=defer_audit, source_address=principal.source_address)
    return principal


async def device_manager(request: Request, principal: CurrentUser) -> Principal:
    """Dependency: a caller who may edit devices (device.manage, with an admin-scoped token); 403 otherwise."""
    await require_scope(TokenScope.admin)(request, principal)
    permissions.require(principal.actor, "device.manage", audit=defer_audit, source_address=principal.source_address)
    return principal


Reader = Annotated[Principal, Depends(device_reader)]
Manager = Annotated[Principal, Depends(device_manager)]
Offset = Annotated[int, Query(ge=0)]


def _filters(
    type: Annotated[str | None, Query(description="device type code")] = None,  # noqa: A002 - the API's name
    state: DeviceState | None = None,
    area: Annotated[str | None, Query(description="code of an area: district, street, community or grid")] = None,
    owner: Annotated[str | None, Query(description="code of the owner unit (权属单位)")] = None,
    q: Annotated[str | None, Query(max_length=100, description="text in code, serial, name or address")] = None,
) -> registry.DeviceFilter:
    return registry.DeviceFilter(type=type, state=state, area=area, owner=owner, q=q)


Filters = Annotated[registry.DeviceFilter, Depends(_filters)]


def _ngsi_ld(db: DbSession, principal: Principal, filters: registry.DeviceFilter, offset: int, limit: int) -> Response:
    devices, total = registry.list_devices(db=db, actor=principal.actor, filters=filters, offset=offset, limit=limit)
    entities: list[dict[str, Any]] = [registry.to_ngsi_ld(device) for device in devices]
    return JSONResponse(entities, media_type=NGSI_LD_MEDIA_TYPE, headers={"NGSILD-Results-Count": str(total)})


@router.get("/iot/devices", response_model=Page[DeviceRead])
def list_devices(
    db: DbSession,
    principal: Reader,
    filters: Filters,
    format: Annotated[Literal["json", "ngsi-ld"], Query(description="ngsi-ld: NGSI-LD Device entities")] = "json",  # noqa: A002
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Page[DeviceRead] | Response:
    """Lists the devices in the caller's area by code, filtered; `format=ngsi-ld` answers NGSI-LD entities."""
    if format == "ngsi-ld":
        return _ngsi_ld(db, principal, filters, offset, limit)
    devices, total = registry.list_devices(db=db, actor=principal.actor, filters=filters, offset=offset, limit=limit)
    return Page[DeviceRead](items=[registry.device_read(d) for d in devices], total=total, offset=offset, limit=limit)


@router.get("/iot/devices.ngsi-ld", response_class=JSONResponse)
def export_devices_ngsi_ld(
    db: DbSession,
    principal: Reader,
    filters: Filters,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> Response:
    """Returns the devices in the caller's area as NGSI-LD `Device` entities (normalized, application/ld+json)."""
    return _ngsi_ld(db, principal, filters, offset, limit)


@router.get("/iot/devices/{code}", response_model=DeviceDetail)
def get_device(code: str, db: DbSession, principal: Reader) -> DeviceDetail:
    """Returns one device with its last values, the rules in force and its open alarms (404 outside the area)."""
    device = registry.get_device(db=db, code=code, actor=principal.actor)
    return registry.device_detail(db=db, device=device)


@router.post("/iot/devices", response_model=DeviceRead, responses={201: {"description": "created"}})
def save_device(body: DeviceIn, db: WriteSession, principal: Manager, response: Response) -> DeviceRead:
    """Creates a device, or updates the one with the same code; it is located on its grid (200 updated, 201 new)."""
    device, created = registry.save_device(db=db, device=body, where="body")
    if created:
        response.status_code = status.HTTP_201_CREATED
    return registry.device_read(registry.get_device(db=db, code=device.code))


@router.post("/iot/devices/{code}/state", response_model=DeviceRead)
def set_device_state(code: str, body: DeviceStateChange, db: WriteSession, principal: Manager) -> DeviceRead:
    """Puts a device in maintenance (no alarms), retires it, or returns it to normal."""
    device = registry.get_device(db=db, code=code)
    registry.set_state(db=db, device=device, state=body.state, actor=principal.actor, note=body.note)
    return registry.device_read(device)


@router.get("/iot/device-types", response_model=list[DeviceTypeRead])
def list_device_types(db: DbSession, principal: Reader) -> list[DeviceTypeRead]:
    """Lists the device types with their controlled properties and units."""
    return [DeviceTypeRead.model_validate(t) for t in registry.list_device_types(db=db)]


@router.get("/iot/rules", response_model=list[RuleRead])
def list_rules(
    db: DbSession,
    principal: Reader,
    device_type: Annotated[str | None, Query(description="rules of this device type code")] = None,
    device: Annotated[str | None, Query(description="overrides of this device code")] = None,
    active: bool | None = None,
) -> list[RuleRead]:
    """Lists the alarm rules: type rules, then per-device overrides."""
    rules = registry.list_rules(db=db, device_type=device_type, device=device, active=active, actor=principal.actor)
    return registry.rule_reads(db=db, rules=rules)


# --- telemetry and alarms ----------------------------------------------------------------------------------------


async def telemetry_sender(request: Request, principal: CurrentUser) -> Principal:
    """Dependency: a gateway or platform account allowed telemetry.ingest, with a cases:write token; 403 otherwise."""
    await require_scope(permissions.ACTION_TOKEN_SCOPES["telemetry.ingest"])(request, principal)
    permissions.require(principal.actor, "telemetry.ingest", audit=defer_audit, source_address=principal.source_address)
    return principal


Sender = Annotated[Principal, Depends(telemetry_sender)]
TELEMETRY_EXAMPLE = {"device": "MC-0001", "ts": "2026-11-25T09:00:00+08:00", "values": {"tilt": 3.2, "battery": 0.87}}


@router.post("/iot/telemetry")
def post_telemetry(
    db: WriteSession,
    principal: Sender,
    payload: Annotated[
        Any,
        Body(
            description='one reading, a list of readings, or {"readings": [...]} (at most 5000)',
            examples=[TELEMETRY_EXAMPLE, {"readings": [TELEMETRY_EXAMPLE]}],
        ),
    ],
) -> dict[str, Any]:
    """Stores device readings: each is judged alone, bad ones are rejected with a reason; answered after commit."""
    return telemetry.ingest(db=db, messages=payload, now=clock.now(), source="http").as_dict()


@router.get("/iot/telemetry/stats")
def get_telemetry_stats(principal: Reader) -> dict[str, Any]:
    """Returns this process's telemetry counters since it started: accepted, duplicates, rejections per reason."""
    return {**telemetry.STATS.snapshot(), "mqtt": mqtt.STATUS.snapshot()}


@router.get("/iot/alarms", response_class=JSONResponse)
def list_alarms(
    db: DbSession,
    principal: Reader,
    state: AlarmState | None = None,
    device: Annotated[str | None, Query(description="device code")] = None,
    alarm_type: Annotated[str | None, Query(description="alarm type (the rule's code)")] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    """Lists the alarms of devices in the caller's area, newest first, as NGSI-LD `Alert` entities."""
    found, total = alarm_service.list_alarms(
        db=db, actor=principal.actor, state=state, device=device, alarm_type=alarm_type, offset=offset, limit=limit
    )
    entities = [alarm_service.alert_entity(alarm) for alarm in found]
    return JSONResponse(entities, media_type=NGSI_LD_MEDIA_TYPE, headers={"NGSILD-Results-Count": str(total)})
