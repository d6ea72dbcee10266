"""Public mobile pages of citizen reports (随手拍), no login: /s (report), /s/track (follow by code, rate).

Plain HTML forms that work without JavaScript where they can; /static/js/report.js adds the phone's position,
a map pick, photo previews and a stable idempotency key. A public form carries a double-submit CSRF token (a
random value in a cookie and the same value in a hidden field, as the login form does); rate limits count in
a transaction of their own before the work, and a refusal is shown on the page with the user's text kept.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from gridgov.config import Settings
from gridgov.core import i18n, security
from gridgov.core.auth import AuthTransactions, client_address, get_auth_transactions
from gridgov.core.clock import now as clock_now
from gridgov.core.db import DbSession
from gridgov.core.errors import DomainError, NotFoundError
from gridgov.core.geo import Crs
from gridgov.core.pages import FormCsrf, PageForm
from gridgov.core.ratelimit import RateLimited
from gridgov.core.templating import N_, render
from gridgov.domains.cases.enums import Satisfaction
from gridgov.domains.cases.public import SATISFACTION_LABELS
from gridgov.domains.snapshot import service
from gridgov.domains.snapshot.schemas import MAX_DESCRIPTION, MAX_PHOTOS, RatingIn, SnapshotIn, normalize_phone

router = APIRouter(include_in_schema=False)
Transactions = Annotated[AuthTransactions, Depends(get_auth_transactions)]

# The public forms' double-submit CSRF token, as the login form's (core.pages.FormCsrf).
PUBLIC_CSRF = FormCsrf(cookie="gridgov_public_csrf", path="/s", max_age=24 * 3600)
FORM_FIELDS = ("matter_type", "description", "address", "phone", "lng", "lat", "crs")
BOUNDARIES_URL = "/api/v1/areas/geojson?level=street&simplify=5"
FORM_ID = "snapshot"

# Friendly words for the refusals a citizen can meet; other refusals show the service's own message.
REFUSALS: dict[str, str] = {
    "outside_district": N_(
        "The chosen point is outside the area this service covers. Please pick a point inside the boundaries "
        "shown on the map."
    ),
    "unknown_matter_type": N_("Please choose what kind of problem it is from the list."),
    "not_a_photo": N_("Only photos can be attached (JPEG, PNG or WebP)."),
    "unsupported_type": N_("Only photos can be attached (JPEG, PNG or WebP)."),
    "empty_file": N_("One of the attached files is empty."),
    "idempotency_key_reused": N_(
        "This form was already sent with a different report. Nothing new has been sent yet: please check your "
        "report and send it again."
    ),
    "csrf": N_("The form has expired or did not come from this site. Please check your report and send it again."),
}
SATISFACTIONS = [(s, SATISFACTION_LABELS[s]) for s in Satisfaction]


class PageRefusal(Exception):
    """A refusal to show on the page: the messages, the HTTP status and any headers (Retry-After)."""

    def __init__(self, messages: list[str], status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__("; ".join(messages))
        self.messages, self.status_code, self.headers = messages, status_code, headers or {}


# --- helpers -------------------------------------------------------------------------------------------------------


def _render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Renders a public page with the CSRF token of its forms, set in its cookie too."""
    token = PUBLIC_CSRF.token(request)
    response = render(request, name, {"csrf": token, **context}, status_code=status_code, headers=headers)
    return PUBLIC_CSRF.issue(request, response, token)


def _translator(request: Request) -> Any:
    return i18n.gettext(i18n.request_locale(request)).gettext


def _refusal(request: Request, exc: DomainError) -> PageRefusal:
    """Returns the page's words for a refused command (rate limits with their Retry-After)."""
    _ = _translator(request)
    if isinstance(exc, RateLimited):
        retry_after = int(exc.details.get("retry_after", 60))  # type: ignore[call-overload]
        minutes = max(1, math.ceil(retry_after / 60))
        text = _("Too many requests from your network in a short time. Please try again in %(minutes)s minutes.")
        return PageRefusal([text % {"minutes": minutes}], 429, {"Retry-After": str(retry_after)})
    if exc.code == "too_large":
        limit_mb = round(int(exc.details.get("limit", 0)) / 1024 / 1024, 1)  # type: ignore[call-overload]
        return PageRefusal([_("A photo is too large: at most %(mb)s MB each.") % {"mb": f"{limit_mb:g}"}], 413)
    if exc.code in REFUSALS:
        return PageRefusal([_(REFUSALS[exc.code])], exc.status)
    return PageRefusal([exc.message], exc.status)


def _new_key() -> str:
    return security.random_token(24)


def _form_context(
    request: Request, db_groups: list[Any], values: dict[str, str], key: str, **extra: Any
) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return {
        "groups": db_groups,
        "values": values,
        "idempotency_key": key,
        "errors": [],
        "photos_dropped": False,
        "reset_key": False,
        "boundaries_url": BOUNDARIES_URL,
        "tile_url": "",
        "form_id": FORM_ID,
        "max_photos": MAX_PHOTOS,
        "max_bytes": settings.max_upload_bytes,
        "max_mb": f"{settings.max_upload_bytes / 1048576:.1f}".removesuffix(".0"),
        "max_description": MAX_DESCRIPTION,
        **extra,
    }


def _coordinate(value: str, low: float, high: float) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def _parse_report(request: Request, values: dict[str, str]) -> SnapshotIn:
    """Returns the form's report, or raises PageRefusal listing every problem (in the page's language)."""
    _ = _translator(request)
    problems = []
    lng = _coordinate(values["lng"], -180, 180)
    lat = _coordinate(values["lat"], -90, 90)
    if lng is None or lat is None:
        problems.append(_("Please choose the location: use your phone's position or tap the place on the map."))
    if not values["matter_type"]:
        problems.append(_(REFUSALS["unknown_matter_type"]))
    if not values["description"]:
        problems.append(_("Please describe the problem."))
    elif len(values["description"]) > MAX_DESCRIPTION:
        problems.append(_("The description is too long: at most %(n)s characters.") % {"n": MAX_DESCRIPTION})
    try:
        phone = normalize_phone(values["phone"])
    except ValueError:
        phone = None
        problems.append(_("The phone number is not valid: use digits only, e.g. 13800000000."))
    if problems:
        raise PageRefusal(problems, 422)
    try:
        crs = Crs(values["crs"] or Crs.wgs84)
    except ValueError:
        crs = Crs.wgs84
    try:
        return SnapshotIn(
            matter_type=values["matter_type"],
            description=values["description"],
            lng=lng,
            lat=lat,
            crs=crs,
            address=values["address"][:300] or None,
            phone=phone,
        )
    except ValidationError as exc:
        raise PageRefusal([f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()], 422) from None


def _photos(request: Request, form: FormData, settings: Settings) -> list[bytes]:
    """Reads the form's photos and checks each (content type, size) before anything is written."""
    _ = _translator(request)
    uploads = [u for u in form.getlist("photo") if isinstance(u, UploadFile) and u.filename]
    if len(uploads) > MAX_PHOTOS:
        raise PageRefusal([_("At most %(n)s photos per report.") % {"n": MAX_PHOTOS}], 422)
    photos = []
    for upload in uploads:
        data = upload.file.read(settings.max_upload_bytes + 1)
        try:
            service.check_photo(data, settings=settings)
        except DomainError as exc:
            raise _refusal(request, exc) from None
        photos.append(data)
    return photos


# --- report --------------------------------------------------------------------------------------------------------


@router.get("/s")
def get_snapshot_form(request: Request, db: DbSession) -> Response:
    """Renders the citizen report form (随手拍) with a fresh idempotency key."""
    settings = request.app.state.settings
    groups = service.matter_groups(db=db, settings=settings, locale=i18n.request_locale(request))
    values = dict.fromkeys(FORM_FIELDS, "") | {"crs": "wgs84"}
    return _render(request, "mobile/snapshot_form.html", _form_context(request, groups, values, _new_key()))


@router.post("/s")
def post_snapshot_form(request: Request, form: PageForm, open_tx: Transactions) -> Response:
    """Files the citizen's report; shows the tracking code, or the form again with the refusal and the text kept."""
    settings: Settings = request.app.state.settings
    values = {name: str(form.get(name) or "").strip() for name in FORM_FIELDS}
    given_key = str(form.get("idempotency_key") or "")
    key = given_key if service.KEY_RE.match(given_key) else _new_key()
    has_photos = any(isinstance(u, UploadFile) and u.filename for u in form.getlist("photo"))
    now = clock_now()
    try:
        if not PUBLIC_CSRF.matches(request, form.get("csrf_token")):
            raise PageRefusal([_translator(request)(REFUSALS["csrf"])], 403)
        data = _parse_report(request, values)
        photos = _photos(request, form, settings)
        try:
            with open_tx(False) as db:
                report = service.prepare(db=db, data=data, settings=settings)
                found = service.find_replay(db=db, report=report, idempotency_key=key)
            if found is None:
                with open_tx(True) as db:
                    address = client_address(request)
                    service.limit_report(db=db, settings=settings, address=address, phone=data.phone, now=now)
                    service.limit_uploads(db=db, settings=settings, address=address, count=len(photos), now=now)
                with open_tx(True) as db:
                    hashes = [service.store_photo(db=db, data=p, settings=settings, now=now).sha256 for p in photos]
                    report = report.model_copy(update={"attachments": hashes})
                    found = service.submit(db=db, report=report, idempotency_key=key, now=now).case
            code = found.tracking_code or ""
        except DomainError as exc:
            if exc.code == "idempotency_key_reused":
                key = _new_key()
            raise _refusal(request, exc) from None
    except PageRefusal as refusal:
        with open_tx(False) as db:
            groups = service.matter_groups(db=db, settings=settings, locale=i18n.request_locale(request))
        context = _form_context(
            request,
            groups,
            values,
            key,
            errors=refusal.messages,
            photos_dropped=has_photos,
            reset_key=key != given_key,
        )
        return _render(
            request,
            "mobile/snapshot_form.html",
            context,
            status_code=refusal.status_code,
            headers=refusal.headers,
        )
    return _render(request, "mobile/snapshot_done.html", {"code": code, "form_id": FORM_ID, "used_key": key})


# --- tracking ------------------------------------------------------------------------------------------------------


@router.get("/s/track")
def get_track_form(request: Request, code: str | None = None) -> Response:
    """Renders the form to enter a tracking code; with `code`, goes to that report's status page."""
    if code and code.strip():
        normalized = service.normalize_code(code) or re.sub(r"[^0-9A-Za-z]", "", code)[:32]
        return RedirectResponse(f"/s/track/{normalized or '-'}", status_code=303)
    return _render(request, "mobile/track_form.html", {"errors": [], "code": ""})


def _status_page(
    request: Request,
    open_tx: AuthTransactions,
    code: str,
    *,
    errors: list[str] | None = None,
    status_code: int = 200,
    count: bool = True,
) -> Response:
    settings = request.app.state.settings
    try:
        if count:
            with open_tx(True) as db:
                service.limit_lookup(db=db, settings=settings, address=client_address(request), now=clock_now())
        with open_tx(False) as db:
            case = service.find_case(db=db, code=code)
            view = service.status(db=db, case=case, locale=i18n.request_locale(request))
    except RateLimited as exc:
        refusal = _refusal(request, exc)
        context = {"errors": refusal.messages, "code": code}
        return _render(request, "mobile/track_form.html", context, status_code=429, headers=refusal.headers)
    except NotFoundError:
        return _render(request, "mobile/track_missing.html", {"code": code[:40]}, status_code=404)
    context = {
        "view": view,
        "errors": errors or [],
        "rated": request.query_params.get("rated") == "1",
        "satisfactions": SATISFACTIONS,
        "satisfaction_labels": SATISFACTION_LABELS,
    }
    return _render(request, "mobile/track_status.html", context, status_code=status_code)


@router.get("/s/track/{code}")
def get_track_status(request: Request, code: str, open_tx: Transactions) -> Response:
    """Renders the public status of a report: stage, progress, public notes, reply, unit, expected time."""
    return _status_page(request, open_tx, code)


@router.post("/s/track/{code}/rating")
def post_rating(request: Request, code: str, form: PageForm, open_tx: Transactions) -> Response:
    """Rates a closed report from its status page; refusals (not closed, rated already) are shown there."""
    settings = request.app.state.settings
    _ = _translator(request)
    now = clock_now()
    if not PUBLIC_CSRF.matches(request, form.get("csrf_token")):
        return _status_page(request, open_tx, code, errors=[_(REFUSALS["csrf"])], status_code=403)
    try:
        rating = RatingIn(
            satisfaction=str(form.get("satisfaction") or ""), comment=str(form.get("comment") or "").strip() or None
        )
    except ValidationError:
        return _status_page(request, open_tx, code, errors=[_("Please choose how satisfied you are.")], status_code=422)
    try:
        with open_tx(True) as db:
            service.limit_lookup(db=db, settings=settings, address=client_address(request), now=now)
        with open_tx(True) as db:
            service.rate(db=db, case=service.find_case(db=db, code=code), rating=rating, now=now)
    except NotFoundError:
        return _render(request, "mobile/track_missing.html", {"code": code[:40]}, status_code=404)
    except DomainError as exc:
        if isinstance(exc, RateLimited):
            refusal = _refusal(request, exc)
            context = {"errors": refusal.messages, "code": code}
            return _render(request, "mobile/track_form.html", context, status_code=429, headers=refusal.headers)
        messages = {
            "already_rated": _("This report has already been rated. Thank you!"),
            "not_closed": _("The report is not closed yet: you can rate it once it is closed."),
            "not_ratable": _("Only a report that was handled and closed can be rated."),
        }
        return _status_page(
            request, open_tx, code, errors=[messages.get(exc.code, exc.message)], status_code=exc.status, count=False
        )
    return RedirectResponse(f"/s/track/{service.normalize_code(code)}?rated=1", status_code=303)
