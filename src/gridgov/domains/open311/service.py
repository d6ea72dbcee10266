"""The Open311 GeoReport v2 façade: services are matter types, service requests are cases.

Reads show only what `cases.public.public_view` lets the public see, and only cases from public channels
(snapshot, open311, patrol, iot, video): hotline and assignment cases may carry personal details in their free
text, and cases rejected as invalid or ruled abusive are not republished. A posted request goes through
`intake.service.submit` like every other channel (channel `open311`). Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select
from sqlalchemy.orm import Session, selectinload

from gridgov.config import Settings
from gridgov.core import media as media_store
from gridgov.core.geo import Crs, distance_m, metres_to_degrees
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import AuditAction, AuditOutcome, Role, TokenScope
from gridgov.domains.auth.schemas import AuditRecord
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Action, AttachmentKind, CaseStage, Channel, Reasonableness
from gridgov.domains.cases.models import Case, CaseEvent
from gridgov.domains.cases.public import PublicView, public_views
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog.enums import URGENCY_LABELS_ZH, MatterKind, Stage, TimeUnit, Urgency
from gridgov.domains.catalog.models import MatterType, TimeLimit
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.schemas import CaseSubmit, ContactIn
from gridgov.domains.open311.schemas import (
    MAX_DESCRIPTION,
    MAX_SPAN_DAYS,
    AttributeOut,
    AttributeValueOut,
    DiscoveryOut,
    EndpointOut,
    ExtendedAttributesOut,
    Format,
    LookupQuery,
    NoteOut,
    Open311Error,
    PostForm,
    PostResultOut,
    RequestsQuery,
    ServiceDefinitionOut,
    ServiceOut,
    ServiceRequestOut,
    TokenOut,
)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this server's discovery document (endpoints, formats) last changed.
CHANGESET = "2026-11-27T00:00:00+08:00"
# Channels whose cases the public may list: reports about public space. Hotline work orders and leaders'
# assignments are left out: their free text often names the caller or other people.
LISTED_CHANNELS: tuple[Channel, ...] = (
    Channel.snapshot,
    Channel.open311,
    Channel.patrol,
    Channel.iot,
    Channel.video,
)
# Channels whose reporters wrote for the public: their text, address, exact point and photos are published. Staff
# channels (patrol, IoT, video) are listed as what and roughly where only: a grid worker's text may be about a
# household visited, a handler's reply about the people met.
TEXT_CHANNELS = frozenset({Channel.snapshot, Channel.open311})
COARSE_DECIMALS = 3  # about 100 m
# Who may hold an api_key for posting: a citizen's account, or an integration's (a system account).
REPORTER_ROLES = frozenset({Role.citizen, Role.system})
MAX_IDS = 1000  # service_request_id list
MAX_MEDIA_FILES = 6
COMPONENT_ID_MAX = 64
_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")
_COMPONENT_ID = re.compile(r"^[\w\-./# ]+$")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class MediaUpload:
    """A file posted in the `media` field (the media-upload extension)."""

    filename: str | None
    data: bytes


@dataclass(frozen=True)
class Submitted:
    """The answer to a posted request, and whether it replays an earlier one (same Idempotency-Key)."""

    result: PostResultOut
    replayed: bool


# --- formats, jurisdiction, discovery ---------------------------------------------------------------------------


def response_format(suffix: str) -> Format:
    """Returns the format named by a URL suffix; an unknown one is a 404 (there is no such resource)."""
    try:
        return Format(suffix.lower())
    except ValueError:
        raise Open311Error(404, f"unknown format '.{suffix}': use .json or .xml") from None


def check_jurisdiction(*, jurisdiction_id: str | None, settings: Settings) -> None:
    """Refuses (404) a jurisdiction_id other than this server's; an absent one is fine (one jurisdiction)."""
    if jurisdiction_id and jurisdiction_id.strip().lower() != settings.open311_jurisdiction_id.lower():
        raise Open311Error(
            404,
            f"jurisdiction_id '{jurisdiction_id.strip()}' not found: this server serves "
            f"'{settings.open311_jurisdiction_id}' only",
        )


def discovery(*, settings: Settings, base_url: str) -> DiscoveryOut:
    """Returns the service discovery document of this server."""
    return DiscoveryOut(
        changeset=CHANGESET,
        contact="The district operation centre (区城运中心) that runs this gridgov installation.",
        key_service=(
            "An api_key is an API token with the scope cases:write of a citizen or integration account, issued "
            "by the server's administrator: gridgov users token <user> --name <client> --scope cases:write."
        ),
        endpoints=[
            EndpointOut(
                specification=SPECIFICATION,
                url=f"{base_url.rstrip('/')}/open311/v2/",
                changeset=CHANGESET,
                type="production" if settings.env == "production" else "test",
                formats=["text/xml", "application/json"],
            )
        ],
    )


# --- services ---------------------------------------------------------------------------------------------------

URGENCY_ATTRIBUTE = AttributeOut(
    variable=True,
    code="urgency",
    datatype="singlevaluelist",
    required=False,
    datatype_description="One of the keys below; leave it out for the service's usual urgency.",
    order=1,
    description="How urgent is the problem? (紧急程度) Emergency (特急) is for danger to people or property.",
    values=[AttributeValueOut(key=str(u), name=f"{URGENCY_LABELS_ZH[u]} ({u})") for u in Urgency],
)
COMPONENT_ATTRIBUTE = AttributeOut(
    variable=True,
    code="component_id",
    datatype="string",
    required=False,
    datatype_description=f"Up to {COMPONENT_ID_MAX} letters, digits and - . / #.",
    order=2,
    description="The component's number (部件编号) painted or tagged on it, e.g. on a manhole cover or lamp post.",
)


def attributes_for(matter: MatterType) -> list[AttributeOut]:
    """Returns the attributes a client may send with a request of this matter type."""
    attributes = [URGENCY_ATTRIBUTE]
    if matter.kind == MatterKind.component:
        attributes.append(COMPONENT_ATTRIBUTE)
    return attributes


def _service(matter: MatterType) -> ServiceOut:
    return ServiceOut(
        service_code=matter.code,
        service_name=matter.name,
        description=matter.register_condition,
        metadata=bool(attributes_for(matter)),
        type="realtime",
        keywords=", ".join(matter.keywords) if matter.keywords else None,
        group=matter.major_name,
    )


def list_services(*, db: Session, jurisdiction_id: str | None, settings: Settings) -> list[ServiceOut]:
    """Returns every active matter type as a service, by code."""
    check_jurisdiction(jurisdiction_id=jurisdiction_id, settings=settings)
    matters = db.scalars(select(MatterType).where(MatterType.is_active).order_by(MatterType.code))
    return [_service(m) for m in matters]


def _active_matter(db: Session, code: str) -> MatterType:
    matter = db.scalars(select(MatterType).where(MatterType.code == code.strip(), MatterType.is_active)).first()
    if matter is None:
        raise Open311Error(404, f"service_code '{code.strip()}' not found: see services.json for the codes")
    return matter


def service_definition(
    *, db: Session, service_code: str, jurisdiction_id: str | None, settings: Settings
) -> ServiceDefinitionOut:
    """Returns the attributes of one service; an unknown or inactive code is a 404."""
    check_jurisdiction(jurisdiction_id=jurisdiction_id, settings=settings)
    matter = _active_matter(db, service_code)
    return ServiceDefinitionOut(service_code=matter.code, attributes=attributes_for(matter))


# --- service notices --------------------------------------------------------------------------------------------

_UNIT_WORDS = {
    "zh_CN": {TimeUnit.working_hours: "个工作时", TimeUnit.working_days: "个工作日", TimeUnit.natural_hours: "小时"},
    "en": {
        TimeUnit.working_hours: "working hours",
        TimeUnit.working_days: "working days",
        TimeUnit.natural_hours: "hours",
    },
}
_VERIFY_FIRST = {
    "zh_CN": "您的报告将先由网格员现场核实，立案后派遣至责任单位处置。",
    "en": "Your report is first verified on site by the grid worker, then registered and sent to the responsible unit.",
}
_HANDLE_LIMIT = {
    "zh_CN": "派遣后处置时限为{amount}{unit}。",
    "en": "Once sent, the unit is to handle it within {amount} {unit}.",
}


class Notices:
    """The service notice of each matter type and urgency: the handling time limit, from the catalogue."""

    def __init__(self, db: Session, locale: str) -> None:
        self.locale = locale if locale in _HANDLE_LIMIT else "en"
        handle_limits = db.scalars(select(TimeLimit).where(TimeLimit.stage == Stage.handle))
        self.limits = {(t.matter_type_id, t.urgency): t for t in handle_limits}

    def of(self, matter_type_id: int, urgency: Urgency, *, posted: bool = False) -> str | None:
        """Returns the notice for a request of this matter type and urgency (`posted`: with what happens first)."""
        limit = self.limits.get((matter_type_id, urgency)) or self.limits.get((matter_type_id, Urgency.normal))
        parts = [_VERIFY_FIRST[self.locale]] if posted else []
        if limit is not None:
            amount = f"{limit.amount:g}"
            unit = _UNIT_WORDS[self.locale][TimeUnit(limit.unit)]
            parts.append(_HANDLE_LIMIT[self.locale].format(amount=amount, unit=unit))
        return ("" if self.locale == "zh_CN" else " ").join(parts) if parts else None


# --- reading requests -------------------------------------------------------------------------------------------


def visible() -> ColumnElement[bool]:
    """The condition a case must meet to be shown through Open311 (public channel, not invalid or abusive)."""
    rejected_invalid = exists().where(
        CaseEvent.case_id == Case.id, CaseEvent.action == Action.reject, CaseEvent.reason_code == "invalid"
    )
    ruled_abusive = exists().where(
        CaseEvent.case_id == Case.id,
        CaseEvent.action == Action.rule_reasonableness,
        CaseEvent.reason_code == "abusive",
    )
    return and_(
        Case.channel.in_(LISTED_CHANNELS),
        or_(Case.stage != CaseStage.rejected, ~rejected_invalid),
        or_(Case.reasonableness.is_(None), Case.reasonableness != Reasonableness.unreasonable, ~ruled_abusive),
    )


def _select_visible() -> Select[tuple[Case]]:
    return (
        select(Case)
        .where(visible())
        .options(selectinload(Case.matter_type), selectinload(Case.handling_unit), selectinload(Case.attachments))
    )


def _w3c(value: dt.datetime | None, settings: Settings) -> str | None:
    return value.astimezone(settings.tz).isoformat(timespec="seconds") if value is not None else None


def _media_url(case: Case, base_url: str) -> str | None:
    # The first photo of the report itself, by the public media route (EXIF removed there).
    for attachment in case.attachments:
        if attachment.kind == AttachmentKind.report and attachment.content_type.startswith("image/"):
            return f"{base_url.rstrip('/')}/media/public/{attachment.sha256}"
    return None


def _updated_at(case: Case, view: PublicView) -> dt.datetime:
    if view.is_open:
        return view.updated_at
    # The spec: for a closed request, the time it was closed.
    return view.closed_at or case.rejected_at or case.merged_at or view.updated_at


def request_out(
    *,
    case: Case,
    view: PublicView,
    settings: Settings,
    base_url: str,
    notices: Notices,
    extensions: bool = False,
) -> ServiceRequestOut:
    """Returns one case as an Open311 service request, from its public view only (plus its public location)."""
    published = case.channel in TEXT_CHANNELS
    decimals = 7 if published else COARSE_DECIMALS
    return ServiceRequestOut(
        service_request_id=case.number,
        status="open" if view.is_open else "closed",
        status_notes=(view.reply if published else None) or view.stage_label,
        service_name=view.matter_type,
        service_code=case.matter_type.code,
        description=(case.description or None) if published else None,
        agency_responsible=view.agency,
        service_notice=notices.of(case.matter_type_id, case.urgency),
        requested_datetime=_w3c(view.reported_at, settings) or "",
        updated_datetime=_w3c(_updated_at(case, view), settings),
        expected_datetime=_w3c(view.expected_at, settings),
        address=case.address if published else None,
        address_id=None,
        zipcode=None,
        lat=round(case.lat, decimals),
        long=round(case.lng, decimals),
        media_url=_media_url(case, base_url) if published else None,
        notes=(
            [NoteOut(datetime=_w3c(n.at, settings) or "", description=n.text) for n in view.notes]
            if extensions
            else None
        ),
        extended_attributes=(
            ExtendedAttributesOut(channel=str(case.channel), stage=str(case.stage)) if extensions else None
        ),
    )


def _render(
    db: Session, cases: Sequence[Case], *, settings: Settings, base_url: str, locale: str, extensions: bool
) -> list[ServiceRequestOut]:
    notices = Notices(db, locale)
    views = public_views(db=db, cases=cases, locale=locale)
    return [
        request_out(case=case, view=view, settings=settings, base_url=base_url, notices=notices, extensions=extensions)
        for case, view in zip(cases, views, strict=True)
    ]


def _split(value: str | None) -> list[str]:
    return list(dict.fromkeys(part.strip() for part in (value or "").split(",") if part.strip()))


def _date_range(query: RequestsQuery, now: dt.datetime, settings: Settings) -> tuple[dt.datetime, dt.datetime]:
    span = dt.timedelta(days=MAX_SPAN_DAYS)
    start, end = (
        (d.replace(tzinfo=settings.tz) if d is not None and d.tzinfo is None else d)
        for d in (query.start_date, query.end_date)
    )
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - span
    if end is None:
        end = start + span
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > span:
        days = (end - start) / dt.timedelta(days=1)
        raise Open311Error(
            400, f"start_date to end_date may span at most {MAX_SPAN_DAYS} days (this query spans {days:.1f} days)"
        )
    return start, end


def list_requests(
    *,
    db: Session,
    params: Mapping[str, str],
    settings: Settings,
    base_url: str,
    locale: str,
    now: dt.datetime,
) -> list[ServiceRequestOut]:
    """Returns the requests matching the spec's filters (service_request_id overrides the others), newest first.

    Extensions: `page`/`page_size` (at most 1000, the default), `lat`/`long`/`radius` (metres) and
    `extensions=true` (notes[] and extended_attributes).
    """
    query = RequestsQuery.model_validate(dict(params))
    check_jurisdiction(jurisdiction_id=query.jurisdiction_id, settings=settings)
    stmt = _select_visible()
    point = None
    if query.service_request_id:
        ids = _split(query.service_request_id)
        if len(ids) > MAX_IDS:
            raise Open311Error(400, f"service_request_id lists at most {MAX_IDS} ids (got {len(ids)})")
        stmt = stmt.where(Case.number.in_(ids))
    else:
        codes = _split(query.service_code)
        if codes:
            found = dict(db.execute(select(MatterType.code, MatterType.id).where(MatterType.code.in_(codes))).all())
            unknown = [c for c in codes if c not in found]
            if unknown:
                raise Open311Error(404, *(f"service_code '{c}' not found: see services.json" for c in unknown))
            stmt = stmt.where(Case.matter_type_id.in_(found.values()))
        start, end = _date_range(query, now, settings)
        stmt = stmt.where(Case.reported_at >= start, Case.reported_at <= end)
        statuses = _split(query.status)
        wrong = [s for s in statuses if s not in ("open", "closed")]
        if wrong:
            raise Open311Error(400, f"status {', '.join(wrong)} unknown: use open, closed or open,closed")
        if len(set(statuses)) == 1:
            stmt = stmt.where(Case.is_open.is_(statuses[0] == "open"))
        if query.lat is not None and query.long is not None:
            radius = query.radius or settings.duplicate_radius_m
            point = (query.long, query.lat, radius)
            dlat, dlng = metres_to_degrees(radius, 0), metres_to_degrees(radius, query.lat)
            stmt = stmt.where(
                Case.lat.between(query.lat - dlat, query.lat + dlat),
                Case.lng.between(query.long - dlng, query.long + dlng),
            )
    stmt = stmt.order_by(Case.reported_at.desc(), Case.id.desc())
    offset = (query.page - 1) * query.page_size
    if point is None:
        cases = list(db.scalars(stmt.offset(offset).limit(query.page_size)))
    else:
        # NOTE: the box above is the index-friendly first cut; the circle is exact, so paging comes after it
        # (on the ids and points only, then the page's cases are loaded).
        lng, lat, radius = point
        candidates = db.execute(stmt.with_only_columns(Case.id, Case.lng, Case.lat)).all()
        ids = [i for i, x, y in candidates if distance_m(lng, lat, x, y) <= radius][offset : offset + query.page_size]
        loaded = {c.id: c for c in db.scalars(_select_visible().where(Case.id.in_(ids)))} if ids else {}
        cases = [loaded[i] for i in ids]
    return _render(db, cases, settings=settings, base_url=base_url, locale=locale, extensions=query.extensions)


def get_request(
    *, db: Session, service_request_id: str, params: Mapping[str, str], settings: Settings, base_url: str, locale: str
) -> list[ServiceRequestOut]:
    """Returns the one request with this id (case number) as a list of one; 404 if unknown or not public."""
    query = LookupQuery.model_validate(dict(params))
    check_jurisdiction(jurisdiction_id=query.jurisdiction_id, settings=settings)
    case = db.scalars(_select_visible().where(Case.number == service_request_id.strip())).first()
    if case is None:
        raise Open311Error(404, f"service_request_id '{service_request_id.strip()}' not found")
    return _render(db, [case], settings=settings, base_url=base_url, locale=locale, extensions=query.extensions)


def resolve_token(*, db: Session, token: str, params: Mapping[str, str], settings: Settings) -> list[TokenOut]:
    """Returns the request id a token (a case's tracking code) stands for; 404 if unknown or not public."""
    query = LookupQuery.model_validate(dict(params))
    check_jurisdiction(jurisdiction_id=query.jurisdiction_id, settings=settings)
    code = token.strip().upper()
    number = db.scalar(select(Case.number).where(visible(), Case.tracking_code == code)) if code else None
    if number is None:
        raise Open311Error(404, f"token '{token.strip()}' not found")
    return [TokenOut(service_request_id=number, token=code)]


# --- posting a request ------------------------------------------------------------------------------------------


def authenticate(*, db: Session, api_key: str | None, source_address: str | None, path: str) -> auth_service.TokenCheck:
    """Returns the live token behind `api_key` if it may post requests; 403 (audited) otherwise."""
    if not api_key or not api_key.strip():
        raise Open311Error(403, "api_key is required to post a service request (see discovery.json: key_service)")
    try:
        check = auth_service.find_token(db=db, token=api_key)
    except auth_service.TokenInvalid as exc:
        record = AuditRecord(
            action=AuditAction.token_refused,
            outcome=AuditOutcome.denied,
            target_type="api_token",
            target_id=str(exc.details["token_id"]) if exc.details.get("token_id") else None,
            source_address=source_address,
            detail={"reason": exc.details.get("reason"), "prefix": exc.details.get("prefix"), "path": path},
        )
        raise Open311Error(403, f"invalid api_key received: {exc.message}", audit_record=record) from None
    actor = auth_service.actor_of(check.user)
    problem = None
    if str(TokenScope.cases_write) not in check.token.scopes:
        problem = f"this api_key lacks the scope '{TokenScope.cases_write}'"
    elif check.user.role not in REPORTER_ROLES:
        problem = (
            f"this api_key belongs to a {check.user.role} account: Open311 takes reports from citizen or "
            "integration (system) accounts; staff report through the console or the patrol pages"
        )
    if problem:
        record = AuditRecord.of(
            actor,
            AuditAction.token_refused,
            outcome=AuditOutcome.denied,
            target_type="api_token",
            target_id=str(check.token.id),
            source_address=source_address,
            detail={"reason": problem, "path": path},
        )
        raise Open311Error(403, problem, audit_record=record)
    return check


def _attribute_values(matter: MatterType, fields: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Returns the posted attribute[code] values, checked against the service's definition (400 if wrong)."""
    defined = {a.code: a for a in attributes_for(matter)}
    given: dict[str, list[str]] = {}
    errors: list[str] = []
    for key, values in fields.items():
        match = _ATTRIBUTE_KEY.match(key)
        if match is None:
            continue
        code = match.group(1).strip()
        if code not in defined:
            errors.append(
                f"attribute[{code}]: service {matter.code} has no such attribute (see services/{matter.code}.json)"
            )
            continue
        given.setdefault(code, []).extend(v.strip() for v in values if v.strip())
    for code, attribute in defined.items():
        values = given.get(code, [])
        if attribute.required and not values:
            errors.append(f"attribute[{code}] is required for service {matter.code}")
        if len(values) > 1 and attribute.datatype != "multivaluelist":
            errors.append(f"attribute[{code}] takes one value (got {len(values)})")
        if attribute.values is not None:
            keys = [v.key for v in attribute.values]
            errors += [f"attribute[{code}]: '{v}' is not one of {', '.join(keys)}" for v in values if v not in keys]
        if code == COMPONENT_ATTRIBUTE.code and values:
            value = values[0]
            if len(value) > COMPONENT_ID_MAX or not _COMPONENT_ID.match(value):
                errors.append(
                    f"attribute[{code}]: up to {COMPONENT_ID_MAX} letters, digits, spaces and - . / # (got {value!r})"
                )
    if errors:
        raise Open311Error(400, *errors)
    return given


def _title(name: str, description: str | None) -> str:
    first = (description or "").strip().splitlines()[0].strip() if (description or "").strip() else ""
    if len(first) > 40:
        cut = first[:40]
        space = cut.rfind(" ")  # English: end at a word; Chinese has no spaces
        first = (cut[:space] if space >= 20 else cut) + "…"
    return f"{name}: {first}"[:200] if first else name


def _full_name(first: str | None, last: str | None) -> str | None:
    if not first and not last:
        return None
    if _CJK.search(f"{first or ''}{last or ''}"):
        return f"{last or ''}{first or ''}"  # 姓 then 名
    return " ".join(p for p in (first, last) if p)


def _description(form: PostForm, component_id: str | None) -> str:
    lines = [form.description] if form.description else []
    if component_id:
        lines.append(f"部件编号: {component_id}")
    if form.media_url:
        lines.append(f"媒体链接 (media_url): {form.media_url}")
    text = "\n".join(lines)
    if len(text) > MAX_DESCRIPTION:
        room = MAX_DESCRIPTION - (len(text) - len(form.description or ""))
        raise Open311Error(
            400,
            f"description: with component_id and media_url added it exceeds {MAX_DESCRIPTION} characters; "
            f"shorten it to {max(room, 0)} characters",
        )
    return text


def submit_request(
    *,
    db: Session,
    fields: Mapping[str, Sequence[str]],
    media: Sequence[MediaUpload],
    settings: Settings,
    locale: str,
    idempotency_key: str | None = None,
    source_address: str | None = None,
    path: str = "/open311/v2/requests",
) -> Submitted:
    """Turns a posted Open311 request into a case through intake; a retry with the same Idempotency-Key replays.

    Checks, in order: jurisdiction (404), api_key (403), the form (400), the service (404), its attributes and
    the media (400); then intake locates the point (outside the district: 400) and makes the case.
    """
    last = {key: values[-1] for key, values in fields.items() if values}
    check_jurisdiction(jurisdiction_id=last.get("jurisdiction_id"), settings=settings)
    check = authenticate(db=db, api_key=last.get("api_key"), source_address=source_address, path=path)
    if "media" in fields:
        raise Open311Error(400, "media must be sent as a file, in a multipart/form-data request")
    if len(media) > MAX_MEDIA_FILES:
        raise Open311Error(400, f"at most {MAX_MEDIA_FILES} media files per request (got {len(media)})")
    form = PostForm.model_validate({k: v for k, v in last.items() if k in PostForm.model_fields})
    matter = _active_matter(db, form.service_code)
    attributes = _attribute_values(matter, fields)
    urgency = Urgency(attributes["urgency"][0]) if attributes.get("urgency") else None
    component_id = attributes[COMPONENT_ATTRIBUTE.code][0] if attributes.get(COMPONENT_ATTRIBUTE.code) else None
    name = _full_name(form.first_name, form.last_name)
    contact = ContactIn(name=name, phone=form.phone, email=form.email) if name or form.phone or form.email else None

    actor = auth_service.actor_of(check.user)
    ctx = Context.of(actor)
    attachments = []
    for upload in media:
        stored = media_store.store(
            upload.data,
            media_dir=settings.media_dir,
            max_bytes=settings.max_upload_bytes,
            tz=settings.tz,
            photos_only=True,
        )
        attachments.append(case_service.register_media(db=db, stored=stored, filename=upload.filename, ctx=ctx).sha256)
    assert form.lat is not None and form.long is not None  # PostForm requires a point
    report = CaseSubmit(
        channel=Channel.open311,
        matter_type=matter.code,
        urgency=urgency,
        title=_title(matter.name, form.description),
        description=_description(form, component_id),
        lng=form.long,
        lat=form.lat,
        crs=Crs.wgs84,
        address=form.address_string,
        contact=contact,
        attachments=attachments,
    )
    # NOTE: keys are namespaced per account, so two clients that happen to pick the same key do not collide.
    key = f"open311:{check.user.id}:{idempotency_key.strip()}" if idempotency_key and idempotency_key.strip() else None
    outcome = intake_service.submit(db=db, report=report, ctx=ctx, idempotency_key=key)
    case = outcome.case  # a replay with another body was refused by intake (400)
    if check.use_due:
        auth_service.record_token_use(db=db, token_id=check.token.id, source_address=source_address, path=path)
    notice = Notices(db, locale).of(case.matter_type_id, case.urgency, posted=True)
    return Submitted(
        result=PostResultOut(
            service_request_id=case.number,
            token=case.tracking_code,
            service_notice=notice,
            account_id=form.account_id,
        ),
        replayed=not outcome.created,
    )
