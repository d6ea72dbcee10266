"""Video AI (视频智能分析): sources, cameras, algorithm mappings, the signed webhook, folding, cases, feedback and
precision.

The webhook (`receive`) takes alarms from external algorithm platforms. Each call is signed by its source
(`authenticate`); each alarm is checked on its own, so a bad one is rejected with a reason while the others are
kept. The same camera and algorithm within the source's fold window fold into one VideoAlarm; a new alarm at or
above its mapping's minimum confidence becomes a case through the one intake function (channel `video`, which
starts in `verifying`: a grid worker confirms it on site). Dispatchers mark alarms true or false (误报), and
`precision` reports TP / (TP + FP) per algorithm and per camera. See docs/iot.md (video section).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, true
from sqlalchemy.orm import Session, selectinload

from gridgov.config import Settings
from gridgov.core import media
from gridgov.core.errors import DomainError, InputError, Invalid, Issue, NotFoundError
from gridgov.core.geo import Crs, to_wgs84
from gridgov.core.permissions import AuditWriter, OutOfScope, check_case, require, scope_condition, write_to_session
from gridgov.domains.areas import locate as locate_service
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import AuditOutcome
from gridgov.domains.auth.schemas import SYSTEM_ACTOR, Actor, AuditRecord
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases import sla
from gridgov.domains.cases.enums import Action, AttachmentKind, CaseStage, Channel
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog.models import MatterType, Unit
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.schemas import CaseSubmit
from gridgov.domains.video.enums import Feedback
from gridgov.domains.video.files import AlgorithmRecord, CameraRecord
from gridgov.domains.video.models import AlgorithmMapping, Camera, VideoAlarm, VideoEvent, VideoSource
from gridgov.domains.video.schemas import (
    MAX_BATCH,
    AlarmBatchResult,
    AlarmIn,
    AlarmItemResult,
    FeedbackResult,
    ImportReport,
    PrecisionBy,
    PrecisionReport,
    PrecisionRow,
    VideoAlarmRead,
    VideoStats,
)

MAX_SKEW_S = 300  # a signed call whose X-Timestamp is further off the server clock is refused (replay)
NOTE_EVERY_S = 600  # folded repeats add at most one note to the case per 10 minutes
DEFAULT_FOLD_WINDOW_S = 600.0
TITLE_MAX = 200
# Rejecting a case as 不属实 (not_a_problem) is how a false positive leaves the case loop.
FALSE_POSITIVE_REASON = "not_a_problem"
# A false positive rejects the case only while nobody has started working on it.
REJECTABLE_STAGES = frozenset({CaseStage.verifying, CaseStage.registered})
PRECISION_FORMULA = (
    "precision = TP / (TP + FP) over the alarms with a verdict (the sample, TP + FP); a verdict is the dispatcher's "
    "feedback or, without it, the case's outcome: rejected as not_a_problem (不属实) = FP, confirmed on site "
    "(核实属实) = TP. Alarms without a verdict do not count; below_threshold = alarms that made no case."
)
_HEX_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_TIMESTAMP_RE = re.compile(r"^\d{1,12}$")
_DATA_URL_RE = re.compile(r"^data:image/[a-z.+-]+;base64,", re.IGNORECASE)


# --- counters: refusals and rejections, in memory, per process --------------------------------------------------

_counter_lock = threading.Lock()
_counters: Counter[str] = Counter()
_counting_since = [dt.datetime.now(dt.UTC)]


def count(key: str, amount: int = 1) -> None:
    """Adds `amount` to the in-memory counter `key` ("refused.bad_signature", "rejected.bad_bbox" ...)."""
    if amount:
        with _counter_lock:
            _counters[key] += amount


def counters() -> dict[str, int]:
    """Returns a copy of the in-memory webhook counters."""
    with _counter_lock:
        return dict(_counters)


def reset_counters() -> None:
    """Clears the in-memory counters (tests, or an operator starting a new observation period)."""
    with _counter_lock:
        _counters.clear()
        _counting_since[0] = dt.datetime.now(dt.UTC)


def record_result(result: AlarmBatchResult) -> None:
    """Counts a committed webhook call's outcome."""
    for item in result.items:
        if item.status == "rejected":
            count(f"rejected.{item.reason}")
    count("events.accepted", result.new_alarms + result.folded)
    count("events.duplicate", result.duplicates)
    count("alarms.created", result.new_alarms)
    count("alarms.folded", result.folded)
    count("cases.created", result.cases_created)
    count("alarms.below_threshold", result.below_threshold)
    count("cases.failed", sum(1 for item in result.items if item.reason == "case_failed"))


# --- sources ------------------------------------------------------------------------------------------------------


def new_secret() -> str:
    """Returns a fresh signing secret (256 bits, hex)."""
    return secrets.token_hex(32)


def get_source(*, db: Session, code: str) -> VideoSource:
    """Returns the source with `code`; raises NotFoundError."""
    source = db.scalars(select(VideoSource).where(VideoSource.code == code)).first()
    if source is None:
        raise NotFoundError(f"video source {code!r} not found")
    return source


def list_sources(*, db: Session) -> list[VideoSource]:
    """Returns every source by code."""
    return list(db.scalars(select(VideoSource).order_by(VideoSource.code)))


def create_source(
    *, db: Session, code: str, name: str, fold_window_s: float = DEFAULT_FOLD_WINDOW_S, secret: str | None = None
) -> tuple[VideoSource, str]:
    """Creates a source with a random secret (or `secret`); returns it and the secret, shown only now."""
    code, name = code.strip(), name.strip()
    issues = _source_issues(code=code, name=name, fold_window_s=fold_window_s)
    if db.scalars(select(VideoSource.id).where(VideoSource.code == code)).first() is not None:
        issues.append(Issue(f"source {code}", "a source with this code exists already", "code"))
    if secret is not None and len(secret) < 16:
        issues.append(Issue(f"source {code}", "a secret needs at least 16 characters", "secret"))
    if issues:
        raise InputError(issues, "source not created")
    secret = secret or new_secret()
    source = VideoSource(code=code, name=name, secret=secret, fold_window_s=float(fold_window_s), is_active=True)
    db.add(source)
    db.flush()
    return source, secret


def _source_issues(*, code: str, name: str | None, fold_window_s: float | None) -> list[Issue]:
    issues: list[Issue] = []
    where = f"source {code}"
    if not code or len(code) > 64 or any(ch.isspace() or ch == "/" for ch in code):
        issues.append(Issue(where, "the code must be 1 to 64 characters without spaces or slashes", "code"))
    if name is not None and not 1 <= len(name) <= 200:
        issues.append(Issue(where, "the name must be 1 to 200 characters", "name"))
    if fold_window_s is not None and not 0 <= fold_window_s <= 86400:
        issues.append(Issue(where, "the fold window must be 0 to 86400 seconds", "fold_window_s"))
    return issues


def update_source(
    *,
    db: Session,
    code: str,
    name: str | None = None,
    fold_window_s: float | None = None,
    is_active: bool | None = None,
) -> VideoSource:
    """Changes a source's name, fold window or whether it may post (an inactive source gets 401)."""
    source = get_source(db=db, code=code)
    issues = _source_issues(code=code, name=name.strip() if name is not None else None, fold_window_s=fold_window_s)
    if issues:
        raise InputError(issues, "source not changed")
    if name is not None:
        source.name = name.strip()
    if fold_window_s is not None:
        source.fold_window_s = float(fold_window_s)
    if is_active is not None:
        source.is_active = is_active
    db.flush()
    return source


def rotate_secret(*, db: Session, code: str) -> tuple[VideoSource, str]:
    """Gives a source a new random secret (the old one stops working at once); returns it, shown only now."""
    source = get_source(db=db, code=code)
    source.secret = new_secret()
    db.flush()
    return source, source.secret


# --- the signature ------------------------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Returns hex(HMAC-SHA256(secret, timestamp + "." + body)): the X-Signature of a webhook call."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(source_code: str, secret: str, body: bytes, timestamp: int | str) -> dict[str, str]:
    """Returns the three headers that authenticate a webhook call of `body` (for clients and tests)."""
    stamp = str(int(timestamp))
    return {
        "X-Video-Source": source_code,
        "X-Timestamp": stamp,
        "X-Signature": sign(secret, stamp, body),
        "Content-Type": "application/json",
    }


class SignatureRefused(Exception):
    """A webhook call refused before its content is read (answered 401); `reason` is its counter key."""

    def __init__(self, reason: str, message: str, source_code: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.source_code = source_code


def refuse(reason: str, message: str, source_code: str | None = None) -> SignatureRefused:
    """Counts a refused call under `reason` and returns the exception to raise."""
    count(f"refused.{reason}")
    return SignatureRefused(reason, message, source_code)


def authenticate(
    *,
    db: Session,
    source_code: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: dt.datetime,
) -> VideoSource:
    """Returns the active source whose secret signed `body` within MAX_SKEW_S of `now`; raises SignatureRefused."""
    if not source_code or not timestamp or not signature:
        missing = [
            name
            for name, value in (("X-Video-Source", source_code), ("X-Timestamp", timestamp), ("X-Signature", signature))
            if not value
        ]
        raise refuse(
            "missing_signature",
            f"unsigned call: missing {', '.join(missing)}; sign each call with the source's secret "
            "(X-Signature = hex HMAC-SHA256 of timestamp + '.' + body)",
        )
    source = db.scalars(select(VideoSource).where(VideoSource.code == source_code[:64])).first()
    if source is None or len(source_code) > 64:
        raise refuse("unknown_source", f"unknown video source {source_code[:64]!r}", source_code[:64])
    if not source.is_active:
        raise refuse("inactive_source", f"video source {source.code!r} is disabled", source.code)
    if not _TIMESTAMP_RE.match(timestamp.strip()):
        raise refuse("bad_timestamp", "X-Timestamp must be Unix time in whole seconds", source.code)
    given = signature.strip().removeprefix("sha256=")
    expected = sign(source.secret, timestamp.strip(), body)
    if not _HEX_RE.match(given) or not hmac.compare_digest(expected, given.lower()):
        raise refuse(
            "bad_signature",
            "signature does not match: X-Signature must be hex HMAC-SHA256 with the source's secret of "
            "X-Timestamp + '.' + the raw request body",
            source.code,
        )
    skew = now.timestamp() - int(timestamp.strip())
    if abs(skew) > MAX_SKEW_S:
        raise refuse(
            "stale_timestamp",
            f"X-Timestamp is {abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} the server clock (at most "
            f"{MAX_SKEW_S} s allowed): a replayed call, or a clock to set right",
            source.code,
        )
    return source


def audit_refusal(*, db: Session, refused: SignatureRefused, source_address: str | None) -> None:
    """Writes a refused signature to the audit log (anonymous actor: the caller is not authenticated)."""
    auth_service.write_audit(
        db=db,
        actor=None,
        action="video.signature_refused",
        target_type="video_source",
        target_id=refused.source_code,
        source_address=source_address,
        outcome=AuditOutcome.denied,
        detail={"reason": refused.reason},
    )


# --- cameras ------------------------------------------------------------------------------------------------------


def import_cameras(
    *, db: Session, records: list[CameraRecord], crs: Crs | str = Crs.wgs84, source: str = "input"
) -> ImportReport:
    """Locates every camera on a grid and creates or updates them by code, all or nothing (InputError)."""
    crs = Crs(crs)
    if not records:
        raise InputError([Issue(source, "no cameras")], f"{source}: no camera imported")
    lngs, lats = to_wgs84(np.array([r.lng for r in records]), np.array([r.lat for r in records]), crs)
    index = locate_service.get_index(db=db)
    owner_codes = {r.owner_unit for r in records if r.owner_unit}
    units = {u.code: u for u in db.scalars(select(Unit).where(Unit.code.in_(owner_codes)))} if owner_codes else {}
    issues: list[Issue] = []
    placed: list[tuple[CameraRecord, float, float, int, str]] = []
    for record, lng, lat in zip(records, lngs.tolist(), lats.tolist(), strict=True):
        columns = record.column or {}
        bad = False
        located = index.locate(lng, lat)
        if located.status != "inside" or located.grid is None or located.path is None:
            nearest = located.nearest
            near = (
                f"; the nearest grid {nearest.name} ({nearest.code}) is {located.distance_m:.0f} m away"
                if nearest
                else ""
            )
            issues.append(
                Issue(
                    record.where,
                    f"({record.lng}, {record.lat}) in {crs.value} is outside the district's grids{near}",
                    columns.get("lng", "lng"),
                )
            )
            bad = True
        if record.owner_unit and record.owner_unit not in units:
            message = f"unknown owner unit {record.owner_unit!r}: import it with the catalogue first"
            issues.append(Issue(record.where, message, columns.get("owner_unit", "owner_unit")))
            bad = True
        if not bad and located.grid is not None and located.path is not None:
            placed.append((record, lng, lat, located.grid.id, located.path))
    if issues:
        raise InputError(issues, f"{source}: no camera imported")

    existing = {c.code: c for c in _in_chunks(db, Camera, Camera.code, [r.code for r in records])}
    report = ImportReport(source=source)
    for record, lng, lat, grid_id, path in placed:
        values: dict[str, Any] = {
            "name": record.name,
            "lng": lng,
            "lat": lat,
            "grid_id": grid_id,
            "area_path": path,
            "direction": record.direction,
            "stream_url": record.stream_url,
            "owner_unit_id": units[record.owner_unit].id if record.owner_unit else None,
            "is_active": record.is_active,
        }
        camera = existing.get(record.code)
        if camera is None:
            db.add(Camera(code=record.code, **values))
            report.created.append(record.code)
        elif any(getattr(camera, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(camera, key, value)
            report.updated.append(record.code)
        else:
            report.unchanged.append(record.code)
    db.flush()
    return report


def _in_chunks(db: Session, model: type, column: Any, values: list[Any], size: int = 900) -> Iterable[Any]:
    for start in range(0, len(values), size):
        yield from db.scalars(select(model).where(column.in_(values[start : start + size])))


def _camera_visible(actor: Actor | None, action: str = "device.view") -> ColumnElement[bool]:
    """Returns the condition limiting cameras to the actor's area for `action` (None: the CLI, everything)."""
    if actor is None:
        return true()
    return scope_condition(actor, action, area_path=Camera.area_path)


def list_cameras(
    *, db: Session, actor: Actor | None, grid_id: int | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Camera], int]:
    """Returns the cameras in the actor's area (by code) and how many there are."""
    condition = _camera_visible(actor)
    if grid_id is not None:
        condition = and_(condition, Camera.grid_id == grid_id)
    total = db.scalar(select(func.count(Camera.id)).where(condition)) or 0
    stmt = select(Camera).where(condition).order_by(Camera.code).limit(limit).offset(offset)
    return list(db.scalars(stmt)), total


# --- algorithm mappings -------------------------------------------------------------------------------------------


def import_algorithms(*, db: Session, records: list[AlgorithmRecord], source: str = "input") -> ImportReport:
    """Creates or updates algorithm → matter type mappings by (source, algorithm code), all or nothing."""
    source_codes = {r.item.source for r in records if r.item.source}
    sources = {s.code: s for s in db.scalars(select(VideoSource).where(VideoSource.code.in_(source_codes)))}
    matter_codes = {r.item.matter_type for r in records}
    matters = {
        m.code: m for m in db.scalars(select(MatterType).where(MatterType.code.in_(matter_codes), MatterType.is_active))
    }
    issues: list[Issue] = []
    seen: dict[tuple[str | None, str], str] = {}
    for record in records:
        item = record.item
        if item.source and item.source not in sources:
            issues.append(Issue(record.where, f"unknown source {item.source!r}: add it first", "source"))
        if item.matter_type not in matters:
            message = f"unknown or inactive matter type {item.matter_type!r} (catalogue code)"
            issues.append(Issue(record.where, message, "matter_type"))
        key = (item.source, item.algorithm_code)
        if key in seen:
            issues.append(Issue(record.where, f"algorithm {item.algorithm_code} repeated (first: {seen[key]})"))
        seen.setdefault(key, record.where)
    if issues:
        raise InputError(issues, f"{source}: no algorithm imported")

    existing = {
        (m.source_id, m.algorithm_code): m
        for m in db.scalars(
            select(AlgorithmMapping).where(
                AlgorithmMapping.algorithm_code.in_({r.item.algorithm_code for r in records})
            )
        )
    }
    report = ImportReport(source=source)
    for record in records:
        item = record.item
        source_id = sources[item.source].id if item.source else None
        label = f"{item.source or '*'}:{item.algorithm_code}"
        values = {
            "name": item.name,
            "matter_type_id": matters[item.matter_type].id,
            "min_confidence": item.min_confidence,
            "is_active": item.is_active,
        }
        mapping = existing.get((source_id, item.algorithm_code))
        if mapping is None:
            db.add(AlgorithmMapping(source_id=source_id, algorithm_code=item.algorithm_code, **values))
            report.created.append(label)
        elif any(getattr(mapping, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(mapping, key, value)
            report.updated.append(label)
        else:
            report.unchanged.append(label)
    db.flush()
    return report


def list_algorithms(*, db: Session) -> list[AlgorithmMapping]:
    """Returns every mapping (global ones first, then by source), by algorithm code."""
    order = (AlgorithmMapping.source_id.is_not(None), AlgorithmMapping.source_id, AlgorithmMapping.algorithm_code)
    return list(
        db.scalars(select(AlgorithmMapping).options(selectinload(AlgorithmMapping.matter_type)).order_by(*order))
    )


# --- the webhook: parsing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedAlarm:
    """One alarm that passed the checks of its own content; `image` is the decoded snapshot."""

    alarm: AlarmIn
    image: bytes | None


@dataclass(frozen=True)
class Rejection:
    """Why one alarm was rejected: a reason code (counted) and a message for the platform."""

    reason: str
    message: str


def parse_body(body: bytes) -> list[Any]:
    """Returns the alarms of a webhook body (one object or a list of up to MAX_BATCH); raises Invalid (422)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        count("refused.malformed_body")
        raise Invalid(f"the body is not JSON: {exc}", code="malformed_body") from None
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list) or not data:
        count("refused.malformed_body")
        raise Invalid("the body must be one alarm (an object) or a non-empty list of alarms", code="malformed_body")
    if len(data) > MAX_BATCH:
        count("refused.batch_too_large")
        raise Invalid(f"a call holds at most {MAX_BATCH} alarms, got {len(data)}", code="batch_too_large")
    return data


_FIELD_REASONS = {
    "confidence": "bad_confidence",
    "bbox": "bad_bbox",
    "time": "bad_time",
    "image": "bad_image",
    "image_url": "bad_image_url",
}


MAX_ALARM_AGE = dt.timedelta(days=30)  # a platform re-sending its backlog after an outage, at most


def parse_alarm(raw: Any, *, now: dt.datetime, max_future_s: float, max_image_bytes: int) -> ParsedAlarm | Rejection:
    """Checks one alarm's own content (fields, bbox, time, image); returns it or the reason it is rejected."""
    if not isinstance(raw, dict):
        return Rejection("malformed", "an alarm must be a JSON object")
    try:
        alarm = AlarmIn.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        reason = _FIELD_REASONS.get(name, "malformed")
        if name == "time" and error["type"] == "missing":
            reason = "missing_time"
        message = error["msg"].removeprefix("Value error, ")
        if name == "time" and error["type"] != "missing":
            message = "time must be ISO 8601 with an offset, e.g. 2026-11-25T09:00:00+08:00"
        return Rejection(reason, f"{name or 'alarm'}: {message}")
    if alarm.bbox is not None:
        box = alarm.bbox
        if (
            len(box) != 4
            or any(not 0 <= v <= 1 for v in box)
            or box[2] <= 0
            or box[3] <= 0
            or box[0] + box[2] > 1.0001
            or box[1] + box[3] > 1.0001
        ):
            return Rejection("bad_bbox", "bbox must be [x, y, w, h] relative to the image: 0..1, w and h > 0, inside")
    if alarm.time < now - MAX_ALARM_AGE:
        # NOTE: also keeps year-1 times (which pydantic accepts) out of the window arithmetic.
        return Rejection("stale_time", f"time is more than {MAX_ALARM_AGE.days} days ago")
    if alarm.time > now + dt.timedelta(seconds=max_future_s):
        ahead = (alarm.time - now).total_seconds()
        return Rejection("future_time", f"time is {ahead:.0f} s in the future (at most {max_future_s:g} s allowed)")
    if alarm.image_url is not None and not alarm.image_url.lower().startswith(("https://", "http://")):
        return Rejection("bad_image_url", "image_url must be an http(s) URL")
    image = None
    if alarm.image:
        text = _DATA_URL_RE.sub("", alarm.image, count=1)
        if len(text) * 3 // 4 > max_image_bytes + 3:
            return Rejection("bad_image", f"image larger than {max_image_bytes} bytes")
        try:
            image = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return Rejection("bad_image", "image is not valid base64")
        if media.sniff(image[:16]) not in media.IMAGE_FORMATS:
            return Rejection("bad_image", "image is not a JPEG, PNG or WebP picture")
    return ParsedAlarm(alarm=alarm, image=image)


# --- the webhook: folding and cases -------------------------------------------------------------------------------


@dataclass
class _Batch:
    """What one webhook call works with."""

    db: Session
    source: VideoSource
    now: dt.datetime
    settings: Settings
    ctx: Context
    cameras: dict[str, Camera] = field(default_factory=dict)
    mappings: dict[str, AlgorithmMapping] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)  # external id → alarm id, already received
    latest: dict[tuple[int, str], VideoAlarm] = field(default_factory=dict)  # (camera, algorithm) → newest alarm
    result: AlarmBatchResult = field(default_factory=AlarmBatchResult)


def receive(
    *, db: Session, source: VideoSource, alarms: list[Any], now: dt.datetime, settings: Settings
) -> AlarmBatchResult:
    """Takes a signed call's alarms one by one: rejects bad ones with a reason, folds repeats, opens cases."""
    batch = _Batch(
        db=db,
        source=source,
        now=now,
        settings=settings,
        ctx=Context(actor=SYSTEM_ACTOR, now=now, calendar=sla.default_calendar()),
    )
    batch.result.received = len(alarms)
    parsed = [
        parse_alarm(
            raw, now=now, max_future_s=settings.telemetry_max_future_s, max_image_bytes=settings.max_upload_bytes
        )
        for raw in alarms
    ]
    good = [p.alarm for p in parsed if isinstance(p, ParsedAlarm)]
    # NOTE: cameras are locked (PostgreSQL: FOR UPDATE, in id order) before anything is looked up, so concurrent
    # calls about the same camera fold and deduplicate one after the other instead of making two alarms.
    camera_codes = sorted({a.camera for a in good})
    if camera_codes:
        stmt = select(Camera).where(Camera.code.in_(camera_codes)).order_by(Camera.id).with_for_update()
        batch.cameras = {c.code: c for c in db.scalars(stmt)}
    batch.mappings = _mappings(db=db, source=source, codes={a.algorithm for a in good})
    batch.latest = _latest_alarms(db=db, cameras=list(batch.cameras.values()), alarms=good, window=source.fold_window_s)
    ids = sorted({a.id for a in good if a.id})
    if ids:
        found = db.execute(
            select(VideoEvent.external_id, VideoEvent.alarm_id).where(
                VideoEvent.source_id == source.id, VideoEvent.external_id.in_(ids)
            )
        )
        batch.events = {external_id: alarm_id for external_id, alarm_id in found if external_id}
    for index, (raw, item) in enumerate(zip(alarms, parsed, strict=True)):
        event_id = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(item, Rejection):
            _reject(batch, index, str(event_id)[:100] if event_id is not None else None, item)
            continue
        _take(batch, index, item)
    return batch.result


def _mappings(*, db: Session, source: VideoSource, codes: set[str]) -> dict[str, AlgorithmMapping]:
    """Returns the mapping of each code for this source: the source's own, else the one for every source."""
    if not codes:
        return {}
    stmt = (
        select(AlgorithmMapping)
        .options(selectinload(AlgorithmMapping.matter_type))
        .where(
            AlgorithmMapping.algorithm_code.in_(codes),
            or_(AlgorithmMapping.source_id == source.id, AlgorithmMapping.source_id.is_(None)),
        )
    )
    chosen: dict[str, AlgorithmMapping] = {}
    for mapping in db.scalars(stmt):
        if mapping.algorithm_code not in chosen or mapping.source_id is not None:
            chosen[mapping.algorithm_code] = mapping
    return chosen


def _reject(batch: _Batch, index: int, event_id: str | None, rejection: Rejection) -> None:
    batch.result.rejected += 1
    batch.result.items.append(
        AlarmItemResult(index=index, id=event_id, status="rejected", reason=rejection.reason, message=rejection.message)
    )


def _take(batch: _Batch, index: int, parsed: ParsedAlarm) -> None:
    """Folds or opens the alarm of one good event (or answers a retry with the alarm it made)."""
    db, alarm_in = batch.db, parsed.alarm
    if alarm_in.id and alarm_in.id in batch.events:
        batch.result.duplicates += 1
        alarm = db.get(VideoAlarm, batch.events[alarm_in.id])
        batch.result.items.append(_item(batch, index, alarm_in.id, "duplicate", alarm))
        return
    camera = batch.cameras.get(alarm_in.camera)
    if camera is None or not camera.is_active:
        state = "is disabled" if camera is not None else "is not registered"
        _reject(batch, index, alarm_in.id, Rejection("unknown_camera", f"camera {alarm_in.camera!r} {state}"))
        return
    mapping = batch.mappings.get(alarm_in.algorithm)
    if mapping is None or not mapping.is_active:
        state = "is disabled" if mapping is not None else "has no mapping to a matter type"
        reason = "inactive_algorithm" if mapping is not None else "unknown_algorithm"
        _reject(batch, index, alarm_in.id, Rejection(reason, f"algorithm {alarm_in.algorithm!r} {state}"))
        return
    at = alarm_in.time.astimezone(dt.UTC)
    alarm = _open_alarm(batch, camera=camera, algorithm=alarm_in.algorithm, at=at)
    snapshot: str | None = None
    if parsed.image is not None and (alarm is None or alarm.snapshot_sha256 is None):
        try:
            snapshot = _store_snapshot(batch, camera, parsed.image, at)
        except DomainError as exc:
            _reject(batch, index, alarm_in.id, Rejection("bad_image", f"image: {exc}"))
            return
    if alarm is None:
        alarm = VideoAlarm(
            source_id=batch.source.id,
            camera_id=camera.id,
            algorithm_code=alarm_in.algorithm,
            confidence=alarm_in.confidence,
            count=1,
            first_at=at,
            last_at=at,
            bbox=alarm_in.bbox,
            snapshot_sha256=snapshot,
            snapshot_url=alarm_in.image_url,
            data={"mapping_id": mapping.id},
        )
        alarm.camera = camera
        db.add(alarm)
        db.flush()
        newest = batch.latest.get((camera.id, alarm_in.algorithm))
        if newest is None or newest.last_at <= at:
            batch.latest[(camera.id, alarm_in.algorithm)] = alarm
        status = "alarm"
        batch.result.new_alarms += 1
    else:
        alarm.count += 1
        alarm.first_at, alarm.last_at = min(alarm.first_at, at), max(alarm.last_at, at)
        if alarm_in.confidence > alarm.confidence:
            alarm.confidence, alarm.bbox = alarm_in.confidence, alarm_in.bbox
        if alarm.snapshot_sha256 is None and snapshot is not None:
            alarm.snapshot_sha256 = snapshot
            found = db.get(Case, alarm.case_id) if alarm.case_id else None
            if found is not None and found.is_open:  # the first picture of an alarm that had none: show it
                case_service.attach(db=db, case=found, sha256s=[snapshot], kind=AttachmentKind.report, ctx=batch.ctx)
        if alarm.snapshot_url is None and alarm_in.image_url:
            alarm.snapshot_url = alarm_in.image_url
        status = "folded"
        batch.result.folded += 1
    db.add(
        VideoEvent(
            source_id=batch.source.id,
            alarm_id=alarm.id,
            external_id=alarm_in.id,
            confidence=alarm_in.confidence,
            occurred_at=at,
            received_at=batch.now,
        )
    )
    if alarm_in.id:
        batch.events[alarm_in.id] = alarm.id
    failure = None
    if alarm.case_id is None:
        if alarm.confidence >= mapping.min_confidence:
            failure = _open_case(batch, alarm, camera, mapping)
        elif status == "alarm":
            batch.result.below_threshold += 1
    elif status == "folded":
        _note_repeat(batch, alarm)
    item = _item(batch, index, alarm_in.id, status, alarm)
    if failure:
        item.reason, item.message = "case_failed", failure
    batch.result.items.append(item)


def _item(batch: _Batch, index: int, event_id: str | None, status: Any, alarm: VideoAlarm | None) -> AlarmItemResult:
    case_number = None
    if alarm is not None and alarm.case_id is not None:
        found = batch.db.get(Case, alarm.case_id)
        case_number = found.number if found else None
    return AlarmItemResult(
        index=index,
        id=event_id,
        status=status,
        alarm_id=alarm.id if alarm else None,
        case_id=alarm.case_id if alarm else None,
        case_number=case_number,
    )


def _latest_alarms(
    *, db: Session, cameras: list[Camera], alarms: list[AlarmIn], window: float
) -> dict[tuple[int, str], VideoAlarm]:
    """Returns the newest alarm of each camera and algorithm that the call's events may fold into (one query)."""
    if not cameras or not alarms:
        return {}
    earliest = min(a.time for a in alarms).astimezone(dt.UTC) - dt.timedelta(seconds=window)
    stmt = select(VideoAlarm).where(
        VideoAlarm.camera_id.in_([c.id for c in cameras]),
        VideoAlarm.algorithm_code.in_({a.algorithm for a in alarms}),
        VideoAlarm.last_at >= earliest,
    )
    latest: dict[tuple[int, str], VideoAlarm] = {}
    for alarm in db.scalars(stmt.order_by(VideoAlarm.last_at, VideoAlarm.id)):
        latest[(alarm.camera_id, alarm.algorithm_code)] = alarm
    return latest


def _open_alarm(batch: _Batch, *, camera: Camera, algorithm: str, at: dt.datetime) -> VideoAlarm | None:
    """Returns the alarm an event at `at` folds into: the camera's latest for the algorithm, within the window.

    An alarm whose case was closed (handled and checked) is over: the next event starts a new alarm and case.
    """
    db, span = batch.db, dt.timedelta(seconds=batch.source.fold_window_s)
    latest = batch.latest.get((camera.id, algorithm))
    if latest is None or at < latest.first_at - span:
        # NOTE: the call's alarms were fetched from the earliest event minus the window; only an event from before
        # the newest alarm began (sent out of order) needs a look at older alarms.
        stmt = select(VideoAlarm).where(
            VideoAlarm.camera_id == camera.id, VideoAlarm.algorithm_code == algorithm, VideoAlarm.first_at <= at + span
        )
        latest = db.scalars(stmt.order_by(VideoAlarm.last_at.desc(), VideoAlarm.id.desc()).limit(1)).first()
    if latest is None or at > latest.last_at + span:
        return None
    if latest.case_id is not None:
        found = db.get(Case, latest.case_id)
        if found is not None and found.stage == CaseStage.closed:
            return None
    return latest


def _store_snapshot(batch: _Batch, camera: Camera, image: bytes, at: dt.datetime) -> str:
    """Stores a snapshot (with its EXIF-free public copy and thumbnail) and records it; returns its sha256."""
    settings = batch.settings
    stored = media.store(image, media_dir=settings.media_dir, max_bytes=settings.max_upload_bytes, photos_only=True)
    name = f"video-{camera.code}-{at:%Y%m%dT%H%M%SZ}"
    case_service.register_media(db=batch.db, stored=stored, filename=name, ctx=batch.ctx)
    return stored.sha256


def _open_case(batch: _Batch, alarm: VideoAlarm, camera: Camera, mapping: AlgorithmMapping) -> str | None:
    """Files the alarm's case through intake (channel video: it starts in verifying); returns a failure or None."""
    local = alarm.first_at.astimezone(batch.settings.tz)
    title = f"[视频告警] {mapping.name} · {camera.name}"[:TITLE_MAX]
    description = (
        f"视频智能分析告警 #{alarm.id}：摄像机 {camera.name}（{camera.code}）的算法 {mapping.name}"
        f"（{mapping.algorithm_code}）于 {local:%Y-%m-%d %H:%M:%S} 发现，置信度 {alarm.confidence:.2f}，"
        f"来源 {batch.source.name}（{batch.source.code}）。请网格员现场核实。\n"
        f"Video-AI alarm #{alarm.id}: {mapping.algorithm_code} on camera {camera.code}, confidence "
        f"{alarm.confidence:.2f}; verify on site."
    )
    try:
        report = CaseSubmit(
            channel=Channel.video,
            matter_type=mapping.matter_type.code,
            title=title,
            description=description,
            lng=camera.lng,
            lat=camera.lat,
            external_id=f"video-{alarm.id}",
            attachments=[alarm.snapshot_sha256] if alarm.snapshot_sha256 else [],
        )
        with batch.db.begin_nested():
            result = intake_service.submit(db=batch.db, report=report, ctx=batch.ctx)
    except (DomainError, ValidationError) as exc:
        # NOTE: the alarm is kept (the platform's event is real); its next event tries again once the cause (an
        # inactive matter type, a camera name intake refuses ...) is fixed.
        message = exc.message if isinstance(exc, DomainError) else str(exc.errors()[0]["msg"])
        alarm.data = {**(alarm.data or {}), "case_error": message}
        return f"no case: {message}"
    alarm.case_id = result.case.id
    alarm.data = {**(alarm.data or {}), "noted_at": batch.now.isoformat()}
    if result.created:
        batch.result.cases_created += 1
    return None


def _note_repeat(batch: _Batch, alarm: VideoAlarm) -> None:
    """Notes a folded repeat on the alarm's open case, at most once per NOTE_EVERY_S."""
    found = batch.db.get(Case, alarm.case_id) if alarm.case_id else None
    if found is None or not found.is_open:
        return
    noted = (alarm.data or {}).get("noted_at")
    if noted and (batch.now - dt.datetime.fromisoformat(noted)).total_seconds() < NOTE_EVERY_S:
        return
    last = alarm.last_at.astimezone(batch.settings.tz)
    note = (
        f"视频告警重复：共 {alarm.count} 次，最高置信度 {alarm.confidence:.2f}，最近一次 {last:%H:%M:%S}"
        f" (video alarm repeated: {alarm.count} events)"
    )
    data = {"video_alarm_id": alarm.id, "count": alarm.count, "confidence": alarm.confidence}
    case_service.add_note(db=batch.db, case=found, ctx=batch.ctx, note=note, data=data)
    alarm.data = {**(alarm.data or {}), "noted_at": batch.now.isoformat()}


# --- alarms and feedback ------------------------------------------------------------------------------------------


def read_alarm(alarm: VideoAlarm) -> VideoAlarmRead:
    """Returns the API shape of an alarm (with its camera's code and name)."""
    return VideoAlarmRead(
        id=alarm.id,
        source_id=alarm.source_id,
        camera_id=alarm.camera_id,
        camera_code=alarm.camera.code,
        camera_name=alarm.camera.name,
        algorithm_code=alarm.algorithm_code,
        confidence=alarm.confidence,
        count=alarm.count,
        first_at=alarm.first_at,
        last_at=alarm.last_at,
        bbox=alarm.bbox,
        snapshot_sha256=alarm.snapshot_sha256,
        snapshot_url=alarm.snapshot_url,
        case_id=alarm.case_id,
        feedback=alarm.feedback,
        feedback_by=alarm.feedback_by,
        feedback_at=alarm.feedback_at,
        data=alarm.data or {},
    )


def list_alarms(
    *,
    db: Session,
    actor: Actor,
    camera: str | None = None,
    algorithm: str | None = None,
    feedback: Feedback | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[VideoAlarm]:
    """Returns the alarms of cameras in the actor's area, newest first."""
    stmt = select(VideoAlarm).join(Camera, Camera.id == VideoAlarm.camera_id).where(_camera_visible(actor))
    if camera:
        stmt = stmt.where(Camera.code == camera)
    if algorithm:
        stmt = stmt.where(VideoAlarm.algorithm_code == algorithm)
    if feedback:
        stmt = stmt.where(VideoAlarm.feedback == feedback)
    stmt = stmt.options(selectinload(VideoAlarm.camera)).order_by(VideoAlarm.last_at.desc(), VideoAlarm.id.desc())
    return list(db.scalars(stmt.limit(limit).offset(offset)))


def get_alarm(
    *, db: Session, actor: Actor, alarm_id: int, action: str = "device.view", audit: AuditWriter | None = None
) -> VideoAlarm:
    """Returns an alarm of a camera in the actor's area for `action`; outside it answers like a missing one (404)."""
    message = f"video alarm {alarm_id} not found"
    if not 0 < alarm_id < 2**31:
        raise NotFoundError(message)
    stmt = select(VideoAlarm).join(Camera, Camera.id == VideoAlarm.camera_id).where(VideoAlarm.id == alarm_id)
    alarm = db.scalars(stmt.where(_camera_visible(actor, action))).first()
    if alarm is not None:
        return alarm
    if db.get(VideoAlarm, alarm_id) is None:
        raise NotFoundError(message)
    record = AuditRecord.of(
        actor,
        action,
        outcome=AuditOutcome.denied,
        target_type="video_alarm",
        target_id=str(alarm_id),
        detail={"reason": "the camera lies outside the user's scope"},
    )
    (audit or write_to_session)(db, record)
    raise OutOfScope(message, audit_record=record)


def give_feedback(
    *,
    db: Session,
    alarm_id: int,
    verdict: Feedback,
    ctx: Context,
    note: str | None = None,
    audit: AuditWriter | None = None,
) -> FeedbackResult:
    """Records a dispatcher's verdict; a false positive rejects the alarm's case while it is verifying/registered.

    A verdict may be changed later (each change is audited); turning a false positive back into a true one does
    not reopen a rejected case — report the problem again if it is real.
    """
    require(ctx.actor, "video.feedback", db=db, target_type="video_alarm", target_id=alarm_id, audit=audit)
    alarm = get_alarm(db=db, actor=ctx.actor, alarm_id=alarm_id, action="video.feedback", audit=audit)
    previous = alarm.feedback
    alarm.feedback, alarm.feedback_by, alarm.feedback_at = verdict, ctx.actor.user_id, ctx.now
    case_rejected = False
    if verdict == Feedback.false_positive and alarm.case_id is not None:
        found = db.get(Case, alarm.case_id)
        if found is not None and found.stage in REJECTABLE_STAGES:
            check_case(db, ctx.actor, "case.register", found.id, audit=audit)
            text = f"视频误报 (video false positive, alarm #{alarm.id})" + (f": {note}" if note else "")
            case_service.reject(db=db, case=found, ctx=ctx, reason_code=FALSE_POSITIVE_REASON, note=text)
            case_rejected = True
    auth_service.write_audit(
        db=db,
        actor=ctx.actor,
        action="video.feedback",
        target_type="video_alarm",
        target_id=alarm.id,
        detail={
            "verdict": str(verdict),
            "previous": str(previous) if previous else None,
            "note": note,
            "case_id": alarm.case_id,
            "case_rejected": case_rejected,
        },
    )
    db.flush()
    return FeedbackResult(alarm=read_alarm(alarm), previous=previous, case_rejected=case_rejected)


# --- precision and statistics -------------------------------------------------------------------------------------


def _verdicts() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Returns SQL conditions on a VideoAlarm row: it is a true positive / a false positive.

    Explicit feedback decides; without it the case does: rejected as not_a_problem = false, confirmed = true.
    """
    rejected = exists(
        select(CaseEvent.id).where(
            CaseEvent.case_id == VideoAlarm.case_id,
            CaseEvent.action == Action.reject,
            CaseEvent.reason_code == FALSE_POSITIVE_REASON,
        )
    )
    confirmed = exists(
        select(CaseEvent.id).where(CaseEvent.case_id == VideoAlarm.case_id, CaseEvent.action == Action.confirm)
    )
    unjudged = and_(VideoAlarm.feedback.is_(None), VideoAlarm.case_id.is_not(None))
    true_positive = or_(VideoAlarm.feedback == Feedback.true_positive, and_(unjudged, ~rejected, confirmed))
    false_positive = or_(VideoAlarm.feedback == Feedback.false_positive, and_(unjudged, rejected))
    return true_positive, false_positive


def _ones(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def precision(
    *,
    db: Session,
    actor: Actor | None,
    by: PrecisionBy = "algorithm",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> PrecisionReport:
    """Returns precision per algorithm or camera over alarms first seen in [since, until), worst first."""
    true_positive, false_positive = _verdicts()
    keys = (VideoAlarm.algorithm_code,) if by == "algorithm" else (Camera.code, Camera.name)
    stmt = (
        select(
            *keys,
            func.count(VideoAlarm.id),
            func.coalesce(func.sum(VideoAlarm.count), 0),
            _ones(true_positive),
            _ones(false_positive),
            _ones(VideoAlarm.case_id.is_(None)),
        )
        .join(Camera, Camera.id == VideoAlarm.camera_id)
        .where(_camera_visible(actor))
        .group_by(*keys)
    )
    if since is not None:
        stmt = stmt.where(VideoAlarm.first_at >= since)
    if until is not None:
        stmt = stmt.where(VideoAlarm.first_at < until)
    names: dict[str, str] = {}
    if by == "algorithm":
        order = (AlgorithmMapping.source_id.is_not(None), AlgorithmMapping.id)
        for code, name in db.execute(select(AlgorithmMapping.algorithm_code, AlgorithmMapping.name).order_by(*order)):
            names.setdefault(code, name)
    rows: list[PrecisionRow] = []
    for values in db.execute(stmt):
        if by == "algorithm":
            key, name, rest = values[0], names.get(values[0], values[0]), values[1:]
        else:
            key, name, rest = values[0], values[1], values[2:]
        alarms, events, tp, fp, below = (int(v) for v in rest)
        sample = tp + fp
        rows.append(
            PrecisionRow(
                key=key,
                name=name,
                alarms=alarms,
                events=events,
                with_feedback=sample,
                true_positives=tp,
                false_positives=fp,
                precision=round(tp / sample, 4) if sample else None,
                below_threshold=below,
            )
        )
    rows.sort(key=lambda r: (r.precision is None, r.precision or 0.0, -r.false_positives, -r.alarms, r.key))
    return PrecisionReport(by=by, since=since, until=until, formula=PRECISION_FORMULA, rows=rows)


def stats(*, db: Session, actor: Actor | None) -> VideoStats:
    """Returns the process's webhook counters and the alarm totals of the cameras in the actor's area."""
    true_positive, false_positive = _verdicts()
    row = db.execute(
        select(
            func.count(VideoAlarm.id),
            _ones(VideoAlarm.case_id.is_not(None)),
            _ones(true_positive),
            _ones(false_positive),
        )
        .join(Camera, Camera.id == VideoAlarm.camera_id)
        .where(_camera_visible(actor))
    ).one()
    alarms, with_case, tp, fp = (int(v) for v in row)
    counts = counters()
    return VideoStats(
        counting_since=_counting_since[0],
        refused={k.removeprefix("refused."): v for k, v in sorted(counts.items()) if k.startswith("refused.")},
        rejected={k.removeprefix("rejected."): v for k, v in sorted(counts.items()) if k.startswith("rejected.")},
        accepted=counts.get("events.accepted", 0),
        duplicates=counts.get("events.duplicate", 0),
        new_alarms=counts.get("alarms.created", 0),
        folded=counts.get("alarms.folded", 0),
        cases_created=counts.get("cases.created", 0),
        below_threshold=counts.get("alarms.below_threshold", 0),
        case_failures=counts.get("cases.failed", 0),
        alarms=alarms,
        alarms_with_case=with_case,
        alarms_without_case=alarms - with_case,
        true_positives=tp,
        false_positives=fp,
    )
