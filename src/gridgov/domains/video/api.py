"""JSON API of video AI: the signed webhook for algorithm platforms, alarms and feedback, cameras, precision, stats.

The webhook is not authenticated like the rest of the API (no Bearer token): each call carries its source's
HMAC signature (X-Video-Source, X-Timestamp, X-Signature) and is refused with 401 otherwise. Everything else is
for signed-in users: `device.view` to see cameras, alarms, precision and counters (area-scoped by the camera's
grid), `video.feedback` (dispatchers) to mark an alarm true or false.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from gridgov.core.auth import AuthTransactions, client_address, get_auth_transactions, require_permission
from gridgov.core.clock import now as clock_now
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.permissions import defer_audit
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.cases.service import Context
from gridgov.domains.video import service
from gridgov.domains.video.enums import Feedback
from gridgov.domains.video.models import VideoSource
from gridgov.domains.video.schemas import (
    AlarmBatchResult,
    CameraPage,
    CameraRead,
    FeedbackIn,
    FeedbackResult,
    PrecisionBy,
    PrecisionReport,
    VideoAlarmRead,
    VideoStats,
)

router = APIRouter(tags=["video"])

Transactions = Annotated[AuthTransactions, Depends(get_auth_transactions)]
Viewer = Annotated[Principal, Depends(require_permission("device.view"))]
Judge = Annotated[Principal, Depends(require_permission("video.feedback"))]

MAX_BODY_BYTES = 64 * 1024 * 1024  # one call: up to 100 alarms, snapshots included (base64)
WWW_AUTHENTICATE = {"WWW-Authenticate": 'HMAC-SHA256 realm="gridgov-video", headers="X-Video-Source X-Timestamp"'}


@dataclass(frozen=True)
class SignedCall:
    """A webhook call's signature headers and raw body, as received (not yet verified)."""

    source_code: str
    timestamp: str
    signature: str
    body: bytes


async def read_signed_call(request: Request) -> SignedCall:
    """Dependency: refuses an unsigned call (401) before reading its body, and a body over MAX_BODY_BYTES (413)."""
    headers = request.headers
    source_code, timestamp, signature = (headers.get(h) for h in ("X-Video-Source", "X-Timestamp", "X-Signature"))
    if not source_code or not timestamp or not signature:
        refused = service.refuse(
            "missing_signature",
            "unsigned call: send X-Video-Source, X-Timestamp and X-Signature (hex HMAC-SHA256 with the source's "
            "secret of X-Timestamp + '.' + the raw body); see docs/iot.md",
        )
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, refused.message, headers=WWW_AUTHENTICATE)
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return SignedCall(source_code=source_code, timestamp=timestamp, signature=signature, body=b"".join(chunks))


def _too_large() -> HTTPException:
    service.count("refused.too_large")
    message = f"a call may carry at most {MAX_BODY_BYTES} bytes; send fewer alarms, or image_url instead of image"
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, message)


Signed = Annotated[SignedCall, Depends(read_signed_call)]


@router.post(
    "/video/alarms",
    response_model=AlarmBatchResult,
    responses={
        401: {"description": "Unsigned, badly signed, stale (replayed) call, or unknown or disabled source."},
        413: {"description": "The body is too large."},
        422: {"description": "The body is not JSON, holds no alarm or more than 100, or every alarm was rejected."},
    },
)
def receive_alarms(call: Signed, request: Request, response: Response, open_tx: Transactions) -> AlarmBatchResult:
    """Takes video-AI alarms from an algorithm platform (one object or a list of up to 100), signed by its source.

    Each alarm is checked on its own: bad ones are rejected with a reason (and counted), the others kept. The
    same camera and algorithm within the source's fold window fold into one alarm; a retried event id adds
    nothing. Answers 200 with one item per alarm, or 422 when every alarm was rejected.
    """
    settings = request.app.state.settings
    now = clock_now()
    try:
        with open_tx(False) as db:
            source = service.authenticate(
                db=db,
                source_code=call.source_code,
                timestamp=call.timestamp,
                signature=call.signature,
                body=call.body,
                now=now,
            )
            source_id = source.id
    except service.SignatureRefused as refused:
        if refused.reason == "bad_signature":
            with open_tx(True) as db:
                service.audit_refusal(db=db, refused=refused, source_address=client_address(request))
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, refused.message, headers=WWW_AUTHENTICATE) from None
    alarms = service.parse_body(call.body)
    with open_tx(True) as db:
        result = service.receive(
            db=db, source=db.get_one(VideoSource, source_id), alarms=alarms, now=now, settings=settings
        )
    service.record_result(result)
    if result.rejected == result.received:
        response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    return result


@router.get("/video/alarms", response_model=list[VideoAlarmRead])
def list_alarms(
    db: DbSession,
    principal: Viewer,
    camera: Annotated[str | None, Query(max_length=64, description="camera code")] = None,
    algorithm: Annotated[str | None, Query(max_length=64, description="algorithm code")] = None,
    feedback: Feedback | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[VideoAlarmRead]:
    """Lists the video alarms of cameras in the caller's area, newest first."""
    found = service.list_alarms(
        db=db,
        actor=principal.actor,
        camera=camera,
        algorithm=algorithm,
        feedback=feedback,
        limit=limit,
        offset=offset,
    )
    return [service.read_alarm(alarm) for alarm in found]


@router.get("/video/alarms/{alarm_id}", response_model=VideoAlarmRead)
def get_alarm(alarm_id: int, db: DbSession, principal: Viewer) -> VideoAlarmRead:
    """Returns one video alarm of a camera in the caller's area."""
    return service.read_alarm(service.get_alarm(db=db, actor=principal.actor, alarm_id=alarm_id, audit=defer_audit))


@router.post("/video/alarms/{alarm_id}/feedback", response_model=FeedbackResult)
def give_feedback(alarm_id: int, body: FeedbackIn, db: WriteSession, principal: Judge) -> FeedbackResult:
    """Marks an alarm true or false (误报); a false positive rejects its case while it is verifying or registered."""
    return service.give_feedback(
        db=db,
        alarm_id=alarm_id,
        verdict=body.verdict,
        note=body.note,
        ctx=Context.of(principal.actor),
        audit=defer_audit,
    )


@router.get("/video/cameras", response_model=CameraPage)
def list_cameras(
    db: DbSession,
    principal: Viewer,
    grid_id: int | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CameraPage:
    """Lists the cameras in the caller's area by code."""
    found, total = service.list_cameras(db=db, actor=principal.actor, grid_id=grid_id, limit=limit, offset=offset)
    return CameraPage(items=[CameraRead.model_validate(c) for c in found], total=total, offset=offset, limit=limit)


def _aware(value: dt.datetime | None, request: Request) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=request.app.state.settings.tz)  # a bare date or time is the district's local time


@router.get("/video/precision", response_model=PrecisionReport)
def get_precision(
    request: Request,
    db: DbSession,
    principal: Viewer,
    since: Annotated[dt.datetime | None, Query(description="alarms first seen at or after (local time if naive)")] = (
        None
    ),
    until: Annotated[dt.datetime | None, Query(description="alarms first seen before (local time if naive)")] = None,
    by: PrecisionBy = "algorithm",
) -> PrecisionReport:
    """Reports precision = TP / (TP + FP) per algorithm or camera in the caller's area, worst first."""
    return service.precision(
        db=db, actor=principal.actor, by=by, since=_aware(since, request), until=_aware(until, request)
    )


@router.get("/video/stats", response_model=VideoStats)
def get_stats(db: DbSession, principal: Viewer) -> VideoStats:
    """Returns the webhook's counters (refusals and rejections by reason) and the alarm totals in the caller's area."""
    return service.stats(db=db, actor=principal.actor)
