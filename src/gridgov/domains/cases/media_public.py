"""Anonymous access to the photos citizens published: `GET /media/public/{sha256}` (no login).

Only the public copy (orientation applied, every EXIF/XMP/ICC block removed) or the thumbnail is served, and
only for a photo attached as the report or the after-photo of a case that came in through a public channel
(随手拍 snapshot, Open311) — what the reporter chose to publish, and the result shown back to them. Originals
are never served here; photos of hotline calls, patrols and every other channel are never served here.
Mounted without the /api/v1 prefix (it is for <img> tags of public pages and Open311 `media_url`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import media
from gridgov.core.db import DbSession
from gridgov.core.errors import Forbidden, Invalid, NotFoundError
from gridgov.domains.cases.enums import AttachmentKind, Channel
from gridgov.domains.cases.models import Case, CaseAttachment, MediaFile

router = APIRouter(tags=["media"])

# Hotline callers never chose to publish (the platform forwards their call), so hotline photos stay internal.
PUBLIC_MEDIA_CHANNELS = frozenset({Channel.snapshot, Channel.open311})
PUBLIC_MEDIA_KINDS = frozenset({AttachmentKind.report, AttachmentKind.after})


def is_public_photo(*, db: Session, sha256: str) -> bool:
    """Returns True when the photo is a report or after-photo of at least one snapshot or Open311 case."""
    found = db.scalar(
        select(CaseAttachment.id)
        .join(Case, Case.id == CaseAttachment.case_id)
        .where(
            CaseAttachment.sha256 == sha256,
            CaseAttachment.kind.in_(PUBLIC_MEDIA_KINDS),
            Case.channel.in_(PUBLIC_MEDIA_CHANNELS),
        )
        .limit(1)
    )
    return found is not None


@router.get(
    f"{media.PUBLIC_URL_PREFIX}/{{sha256}}",
    response_class=FileResponse,
    responses={304: {"description": "Not modified (If-None-Match)"}, 404: {"description": "No such public photo"}},
)
def get_public_media(
    sha256: str,
    request: Request,
    db: DbSession,
    variant: Annotated[media.Variant, Query(description="public (default) or thumb; never original")] = (
        media.Variant.public
    ),
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Returns the public copy or thumbnail of a photo published through a public channel, to anyone."""
    if variant is media.Variant.original:
        raise Forbidden("original photos are never public; ask for the public copy or the thumbnail", code="original")
    # One answer for "no such file", "not a photo" and "not published", so the route tells nothing about
    # photos that exist but are private.
    missing = NotFoundError(f"no public photo {sha256}")
    if not media.is_sha256(sha256):
        raise missing
    found = db.get(MediaFile, sha256)
    if found is None or found.content_type not in media.IMAGE_FORMATS or not is_public_photo(db=db, sha256=sha256):
        raise missing
    media_dir = request.app.state.settings.media_dir
    try:
        derived = media.ensure_derived(media_dir, sha256)
    except Invalid:
        derived = False  # an old original that no longer decodes: nothing to show
    if not derived:
        raise missing
    etag = sha256 if variant is media.Variant.public else f"{sha256}-{variant.value}"
    return media.file_response(
        media.variant_path(media_dir, sha256, variant),
        etag=etag,
        cache_control=f"public, max-age={media.PUBLIC_CACHE_SECONDS}",
        if_none_match=if_none_match,
    )
