"""The citizen snapshot channel (随手拍): what citizens may choose, how a report becomes a case through the one
intake function, photos, rate limits, tracking by code, and the reporter's rating.

Reports are filed as the anonymous public actor; the phone (optional) goes to the case's contact record, which
only staff with a purpose may read, and never into any public answer. What the public sees of a case comes
only from `cases.public.public_view`. Services never commit; the routers run the rate-limit counters in a
transaction of their own, so a refused or failed request still counts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.config import Settings
from gridgov.core import media, ratelimit
from gridgov.core.errors import Conflict, Invalid, NotFoundError
from gridgov.core.i18n import gettext
from gridgov.core.templating import N_
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import CaseStage, Channel
from gridgov.domains.cases.models import Case, MediaFile
from gridgov.domains.cases.public import public_view
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog.enums import MatterKind
from gridgov.domains.catalog.models import MatterType
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.schemas import CaseSubmit, ContactIn
from gridgov.domains.snapshot.schemas import (
    MatterChoice,
    MatterGroup,
    ProgressStep,
    PublicCaseRead,
    RatingIn,
    SnapshotIn,
)

PUBLIC_ACTOR = Actor(name="public", role=Role.citizen)
# Keys are global across channels (Case.idempotency_key is unique): the public's own live in a namespace, so a
# citizen's key can never collide with a grid worker's or a hotline's.
KEY_PREFIX = "snapshot:"
KEY_RE = re.compile(r"^[A-Za-z0-9_\-:.]{8,100}$")
_CODE_RE = re.compile(r"^[0-9A-Z]{6,32}$")
_CODE_SEPARATORS = re.compile(r"[\s\-]")
TITLE_LENGTH = 40
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
# Two points closer than this are the same location for an idempotent replay (as intake judges it).

# The progress bar of the status page: each stage lights the steps before it and marks its own as current.
STEPS: tuple[tuple[str, str], ...] = (
    ("received", N_("Received")),
    ("verified", N_("Verified and accepted")),
    ("dispatched", N_("Dispatched")),
    ("handled", N_("Handled")),
    ("closed", N_("Closed")),
)
CURRENT_STEP: dict[CaseStage, int] = {
    CaseStage.reported: 1,
    CaseStage.verifying: 1,
    CaseStage.registered: 2,
    CaseStage.returned: 2,
    CaseStage.dispatched: 3,
    CaseStage.signed: 3,
    CaseStage.handling: 3,
    CaseStage.handled: 4,
    CaseStage.closed: len(STEPS),
}


# --- what citizens choose from -----------------------------------------------------------------------------------


def matter_groups(*, db: Session, settings: Settings, locale: str = "zh_CN") -> list[MatterGroup]:
    """Returns the matter types offered to citizens, grouped by major class, with 'other' last."""
    codes = [code.strip() for code in settings.snapshot_matter_types.split(",") if code.strip()]
    other = settings.snapshot_other_matter_type.strip()
    active = select(MatterType).where(MatterType.is_active)
    found = {m.code: m for m in db.scalars(active.where(MatterType.code.in_([*codes, other])))}
    chosen = [found[code] for code in dict.fromkeys(codes) if code in found and code != other]
    if not chosen:
        # A catalogue without the configured codes (another district's): offer its components and events.
        kinds = [MatterKind.component, MatterKind.event]
        chosen = [
            m for m in db.scalars(active.where(MatterType.kind.in_(kinds)).order_by(MatterType.code)) if m.code != other
        ]
    if other in found:
        chosen.append(found[other])
    groups: dict[str, list[MatterChoice]] = {}
    for matter in chosen:
        name = matter.name_en if locale == "en" and matter.name_en else matter.name
        groups.setdefault(matter.major_name, []).append(MatterChoice(code=matter.code, name=name))
    if other in found:
        # The 'other' choice closes the list, even when its major class appeared earlier.
        group = groups.pop(found[other].major_name)
        groups[found[other].major_name] = group
    return [MatterGroup(name=name, choices=choices) for name, choices in groups.items()]


# --- reporting -----------------------------------------------------------------------------------------------------


def scoped_key(idempotency_key: str | None) -> str | None:
    """Returns the stored form of a client's idempotency key (namespaced), or None; refuses a malformed one."""
    if not idempotency_key:
        return None
    if not KEY_RE.match(idempotency_key):
        raise Invalid(
            "Idempotency-Key: 8 to 100 characters of letters, digits, '_', '-', ':' or '.'",
            code="invalid_idempotency_key",
            field="Idempotency-Key",
        )
    return KEY_PREFIX + idempotency_key


def title_of(description: str) -> str:
    """Returns the case title made from a citizen's description: its first line, shortened."""
    first = " ".join(description.split())
    return first if len(first) <= TITLE_LENGTH else first[: TITLE_LENGTH - 1] + "…"


def prepare(*, db: Session, data: SnapshotIn, settings: Settings) -> CaseSubmit:
    """Checks a citizen report against the offered matter types; returns it as the intake's CaseSubmit."""
    offered = {choice.code for group in matter_groups(db=db, settings=settings) for choice in group.choices}
    if data.matter_type not in offered:
        raise Invalid(
            f"matter type {data.matter_type!r} is not offered to citizens; choose one of "
            "GET /api/v1/public/matter-types",
            code="unknown_matter_type",
            field="matter_type",
        )
    if data.photos:
        # NOTE: a citizen's report publishes its photos; one uploaded by staff (a patrol's evidence) must not become
        # public because someone knows its hash. Answered like an unknown photo, so hashes reveal nothing.
        public = set(
            db.scalars(
                select(MediaFile.sha256).where(MediaFile.sha256.in_(data.photos), MediaFile.uploaded_by.is_(None))
            )
        )
        if unknown := [sha for sha in data.photos if sha not in public]:
            raise Invalid(
                f"unknown photo(s) {', '.join(unknown)}: upload them first to /api/v1/public/media",
                code="unknown_attachment",
                field="photos",
            )
    return CaseSubmit(
        channel=Channel.snapshot,
        matter_type=data.matter_type,
        title=title_of(data.description),
        description=data.description,
        lng=data.lng,
        lat=data.lat,
        crs=data.crs,
        address=data.address or None,
        contact=ContactIn(phone=data.phone) if data.phone else None,
        attachments=data.photos,
    )


def find_replay(*, db: Session, report: CaseSubmit, idempotency_key: str | None) -> Case | None:
    """Returns the case an earlier report with this key made; raises Conflict when that report said otherwise.

    Checked before the rate limits, so a retry on a bad network gets its case without counting as a new report.
    """
    key = scoped_key(idempotency_key)
    ctx = Context.of(PUBLIC_ACTOR)
    return intake_service.find_existing(db=db, report=report, ctx=ctx, idempotency_key=key) if key else None


def submit(
    *, db: Session, report: CaseSubmit, idempotency_key: str | None, now: dt.datetime | None = None
) -> intake_service.IntakeResult:
    """Files a prepared citizen report through intake as the public (channel snapshot): a case being verified."""
    return intake_service.submit(
        db=db, report=report, ctx=Context.of(PUBLIC_ACTOR, now=now), idempotency_key=scoped_key(idempotency_key)
    )


def check_photo(data: bytes, *, settings: Settings) -> None:
    """Refuses an upload that is not a photo (by content) or is too large, before anything is written."""
    if len(data) > settings.max_upload_bytes:
        raise media.TooLarge(
            f"photo of {len(data)} bytes exceeds the limit of {settings.max_upload_bytes} bytes",
            limit=settings.max_upload_bytes,
        )
    if not data:
        raise Invalid("empty file", code="empty_file", field="photo")
    content_type = media.sniff(data[:16])
    if content_type is None or not content_type.startswith("image/"):
        raise Invalid("not a photo: send a JPEG, PNG or WebP image", code="not_a_photo", field="photo")


def store_photo(*, db: Session, data: bytes, settings: Settings, now: dt.datetime | None = None) -> MediaFile:
    """Checks, stores and records a citizen's photo; returns its row (the same photo is stored once)."""
    check_photo(data, settings=settings)
    stored = media.store(data, media_dir=settings.media_dir, max_bytes=settings.max_upload_bytes)
    # NOTE: no file name: a citizen's file name may carry a name or a place ("张三家门口.jpg").
    return case_service.register_media(db=db, stored=stored, filename=None, ctx=Context.of(PUBLIC_ACTOR, now=now))


# --- rate limits ---------------------------------------------------------------------------------------------------


def phone_bucket(phone: str) -> str:
    """Returns the phone as counted: digits only, without the +86/0086 country prefix."""
    digits = phone.lstrip("+")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            return digits[len(prefix) :]
    return digits


def limit_report(*, db: Session, settings: Settings, address: str | None, phone: str | None, now: dt.datetime) -> None:
    """Counts one report against the address's hourly and the phone's daily limit; raises RateLimited (429)."""
    ratelimit.hit(
        db=db,
        key=ratelimit.bucket_key("snapshot-address", address or "unknown", secret=settings.secret_key),
        limit=settings.snapshot_per_address_per_hour,
        window=HOUR,
        now=now,
        what="reports from this address",
    )
    if phone:
        ratelimit.hit(
            db=db,
            key=ratelimit.bucket_key("snapshot-phone", phone_bucket(phone), secret=settings.secret_key),
            limit=settings.snapshot_per_phone_per_day,
            window=DAY,
            now=now,
            what="reports with this phone number",
        )


def limit_uploads(*, db: Session, settings: Settings, address: str | None, count: int, now: dt.datetime) -> None:
    """Counts `count` photo uploads against the address's hourly limit; raises RateLimited (429)."""
    key = ratelimit.bucket_key("public-media", address or "unknown", secret=settings.secret_key)
    for _ in range(count):
        ratelimit.hit(
            db=db,
            key=key,
            limit=settings.snapshot_media_per_address_per_hour,
            window=HOUR,
            now=now,
            what="photo uploads from this address",
        )


def limit_lookup(*, db: Session, settings: Settings, address: str | None, now: dt.datetime) -> None:
    """Counts one tracking-code lookup (or rating) against the address's hourly limit: no guessing of codes."""
    ratelimit.hit(
        db=db,
        key=ratelimit.bucket_key("tracking-lookup", address or "unknown", secret=settings.secret_key),
        limit=settings.tracking_lookups_per_address_per_hour,
        window=HOUR,
        now=now,
        what="tracking-code lookups from this address",
    )


# --- tracking and rating -------------------------------------------------------------------------------------------


def normalize_code(value: str) -> str | None:
    """Returns a tracking code as stored (upper case, no spaces or dashes), or None when it cannot be one."""
    code = _CODE_SEPARATORS.sub("", value or "").upper()
    return code if _CODE_RE.match(code) else None


def find_case(*, db: Session, code: str) -> Case:
    """Returns the case with tracking code `code`, or raises NotFoundError."""
    normalized = normalize_code(code)
    case = db.scalars(select(Case).where(Case.tracking_code == normalized)).first() if normalized is not None else None
    if case is None:
        raise NotFoundError(f"no report with tracking code {code!r}")
    return case


def progress(stage: CaseStage, translate: Callable[[str], str]) -> list[ProgressStep]:
    """Returns the progress steps of a case in `stage` (a case not accepted or merged ends after 'received')."""
    if stage not in CURRENT_STEP:
        return [ProgressStep(key=STEPS[0][0], label=translate(STEPS[0][1]), state="done")]
    current = CURRENT_STEP[stage]
    return [
        ProgressStep(
            key=key, label=translate(label), state="done" if i < current else "current" if i == current else "todo"
        )
        for i, (key, label) in enumerate(STEPS)
    ]


def status(*, db: Session, case: Case, locale: str = "zh_CN") -> PublicCaseRead:
    """Returns the public status of a case: `public_view` with the tracking code and the progress steps."""
    view = public_view(db=db, case=case, locale=locale)
    steps = progress(view.stage, gettext(locale).gettext)
    return PublicCaseRead.model_validate({**asdict(view), "tracking_code": case.tracking_code or "", "steps": steps})


def rate(*, db: Session, case: Case, rating: RatingIn, now: dt.datetime | None = None) -> None:
    """回访评价 by the reporter (as the public); an unsatisfied rating within the window reopens the case."""
    if case.satisfaction is not None:
        raise Conflict("this report has already been rated; thank you", code="already_rated")
    if case.stage != CaseStage.closed:
        if case.is_open:
            raise Conflict("the report is not closed yet: you can rate it once it is closed", code="not_closed")
        raise Conflict("only a report that was handled and closed can be rated", code="not_ratable")
    case_service.rate(
        db=db,
        case=case,
        ctx=Context.of(PUBLIC_ACTOR, now=now),
        satisfaction=rating.satisfaction,
        note=rating.comment or None,
    )
