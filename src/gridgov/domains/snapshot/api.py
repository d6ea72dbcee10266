"""The public API of citizen reports (no login): matter types, photo upload, report, status by code, rating.

Every write and every lookup first counts against its rate limit in a transaction of its own, so the counter
outlives a refused request (an unknown code, a bad report); the work itself then runs in one transaction.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Request, Response, UploadFile, status

from gridgov.core import i18n
from gridgov.core.auth import AuthTransactions, client_address, get_auth_transactions
from gridgov.core.clock import now as clock_now
from gridgov.core.db import DbSession
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.schemas import MediaRead
from gridgov.domains.snapshot import service
from gridgov.domains.snapshot.schemas import MatterGroup, PublicCaseRead, RatingIn, SnapshotCreated, SnapshotIn

router = APIRouter(prefix="/public", tags=["public"])
Transactions = Annotated[AuthTransactions, Depends(get_auth_transactions)]


def created_answer(request: Request, case: Case, created: bool) -> SnapshotCreated:
    """Returns the answer to a report: its tracking code and where to follow it."""
    code = case.tracking_code or ""
    base = str(request.base_url).rstrip("/")
    return SnapshotCreated(
        tracking_code=code,
        status_url=f"{base}/s/track/{code}",
        api_url=f"{base}/api/v1/public/cases/{code}",
        created=created,
    )


@router.get("/matter-types", response_model=list[MatterGroup])
def get_matter_types(request: Request, db: DbSession) -> list[MatterGroup]:
    """Returns the matter types a citizen may report, grouped by major class ('other' last)."""
    return service.matter_groups(db=db, settings=request.app.state.settings, locale=i18n.request_locale(request))


@router.post("/media", status_code=status.HTTP_201_CREATED, response_model=MediaRead)
def upload_media(request: Request, open_tx: Transactions, file: Annotated[UploadFile, File()]) -> MediaRead:
    """Uploads one photo (JPEG, PNG or WebP, checked by content); returns its sha256 for the report's `photos`."""
    settings = request.app.state.settings
    data = file.file.read(settings.max_upload_bytes + 1)
    now = clock_now()
    with open_tx(True) as db:
        service.limit_uploads(db=db, settings=settings, address=client_address(request), count=1, now=now)
    with open_tx(True) as db:
        found = service.store_photo(db=db, data=data, settings=settings, now=now)
        return MediaRead(sha256=found.sha256, content_type=found.content_type, size=found.size)


@router.post(
    "/snapshots",
    status_code=status.HTTP_201_CREATED,
    response_model=SnapshotCreated,
    responses={200: {"description": "A retry with the same Idempotency-Key: the earlier report's code."}},
)
def post_snapshot(
    body: SnapshotIn,
    request: Request,
    response: Response,
    open_tx: Transactions,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> SnapshotCreated:
    """Reports a problem (随手拍); returns the tracking code. A retry with the same Idempotency-Key is answered
    with the same code (200); the same key with a different report is refused (409)."""
    settings = request.app.state.settings
    now = clock_now()
    with open_tx(False) as db:
        report = service.prepare(db=db, data=body, settings=settings)
        found = service.find_replay(db=db, report=report, idempotency_key=idempotency_key)
        if found is not None:
            response.status_code = status.HTTP_200_OK
            return created_answer(request, found, created=False)
    with open_tx(True) as db:
        service.limit_report(db=db, settings=settings, address=client_address(request), phone=body.phone, now=now)
    with open_tx(True) as db:
        result = service.submit(db=db, report=report, idempotency_key=idempotency_key, now=now)
        if not result.created:
            response.status_code = status.HTTP_200_OK
        return created_answer(request, result.case, created=result.created)


@router.get("/cases/{tracking_code}", response_model=PublicCaseRead)
def get_public_case(tracking_code: str, request: Request, open_tx: Transactions) -> PublicCaseRead:
    """Returns the public status of a report by its tracking code: stage, public notes, reply, unit, deadline."""
    settings = request.app.state.settings
    with open_tx(True) as db:
        service.limit_lookup(db=db, settings=settings, address=client_address(request), now=clock_now())
    with open_tx(False) as db:
        case = service.find_case(db=db, code=tracking_code)
        return service.status(db=db, case=case, locale=i18n.request_locale(request))


@router.post("/cases/{tracking_code}/rating", response_model=PublicCaseRead)
def rate_case(tracking_code: str, body: RatingIn, request: Request, open_tx: Transactions) -> PublicCaseRead:
    """Rates a closed report (回访评价) once; an unsatisfied rating within the window reopens it."""
    settings = request.app.state.settings
    now = clock_now()
    with open_tx(True) as db:
        service.limit_lookup(db=db, settings=settings, address=client_address(request), now=now)
    with open_tx(True) as db:
        case = service.find_case(db=db, code=tracking_code)
        service.rate(db=db, case=case, rating=body, now=now)
        return service.status(db=db, case=case, locale=i18n.request_locale(request))
