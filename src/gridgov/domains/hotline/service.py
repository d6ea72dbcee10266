"""The 12345 hotline channel: work orders the hotline platform pushes, or a dispatcher imports from its exports,
become cases through the one intake function; the platform then reads back status and replies.

- The hotline's category (诉求分类) becomes a matter type through the catalogue's crosswalk (source "12345"),
  matched by code, else by name (the full path "城市管理/市容环境/占道经营" or its last levels).
- An order with coordinates is located by them. Hotline orders often have none: then the street, community or
  grid the hotline determined is given, and the case is placed at that area's representative point (shapely
  `representative_point()`, always inside the area) in the grid containing that point — so a case given only a
  street lands in one grid of that street, the one at its representative point. The case's internal note says
  so (data `located_by: area`), so a dispatcher knows the point is approximate.
- The work-order id is the case's external id: pushing or importing the same order again returns the case it
  already is (`intake.submit` is idempotent on channel + external id), never a second case.
- The hotline's own received time and deadline (受理时间, 办理时限) are recorded in an internal note event
  (data: source, order_id, category, received_at, deadline, located_by); the case's own clocks follow the
  catalogue's time limits from the moment of intake.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from gridgov.core import clock, permissions
from gridgov.core.calendar import TimeUnit, WorkingCalendar
from gridgov.core.errors import DomainError, Invalid, NotFoundError
from gridgov.core.geo import Crs
from gridgov.domains.areas import locate as locate_service
from gridgov.domains.areas.enums import AreaLevel
from gridgov.domains.areas.models import Area
from gridgov.domains.auth import service as auth_service
from gridgov.domains.auth.enums import AuditOutcome, Role
from gridgov.domains.auth.schemas import Actor, AuditRecord
from gridgov.domains.cases import service as case_service
from gridgov.domains.cases.enums import Action, Channel
from gridgov.domains.cases.models import Case
from gridgov.domains.cases.public import public_view
from gridgov.domains.cases.service import Context
from gridgov.domains.catalog import service as catalog_service
from gridgov.domains.catalog.models import MatterType
from gridgov.domains.hotline.files import AREA_FIELDS, CATEGORY_LEVELS, OrderRow, OrderTable
from gridgov.domains.hotline.schemas import (
    MAX_BATCH,
    SOURCE,
    BatchItem,
    BatchResult,
    HotlineOrder,
    ImportSummary,
    ItemError,
    OrderAccepted,
    OrderStatus,
    RowError,
    StatusNote,
    UpdatesPage,
    parse_time,
)
from gridgov.domains.intake import service as intake_service
from gridgov.domains.intake.schemas import CaseSubmit, ContactIn
from gridgov.domains.triage import registry as triage_registry

HOTLINE_ROLES = frozenset({Role.system, Role.district_dispatcher, Role.street_dispatcher})
"""Who may push orders and read their status: the hotline integration's service user and dispatchers."""

TITLE_LENGTH = 40  # a title made from the content when the order has none

# --- who may ---------------------------------------------------------------------------------------------------


def check_actor(actor: Actor, *, action: str = "case.report", roles: frozenset[Role] = HOTLINE_ROLES) -> None:
    """Refuses (403, carrying its audit record) an actor whose role is not one of `roles` or lacks `action`."""
    if actor.role not in roles:
        allowed = ", ".join(sorted(roles))
        record = AuditRecord.of(
            actor,
            action,
            outcome=AuditOutcome.denied,
            target_type="hotline",
            detail={"reason": f"the 12345 hotline channel is for the roles {allowed}"},
        )
        raise permissions.PermissionDenied(
            f"role '{actor.role}' may not use the 12345 hotline channel (allowed: {allowed})",
            audit_record=record,
            action=action,
            role=str(actor.role),
        )
    permissions.require(actor, action, audit=permissions.defer_audit)


def _check_scope(db: Session, actor: Actor, case: Case) -> None:
    # STYLE rule 13: a street dispatcher cannot push (or read back) an order located in another street.
    scope = permissions.scope_of(actor, "case.report")
    if scope is permissions.Scope.all or (scope is permissions.Scope.area and actor.scope_path is None):
        return  # the whole deployment: nothing to re-select (saves a flush and a query per row of an import)
    permissions.recheck_case(db, actor, "case.report", case, audit=permissions.defer_audit)


def _audit_denial(db: Session, exc: BaseException) -> None:
    """Writes the audit record a refused item carries (its savepoint, and the record with it, was rolled back)."""
    record = permissions.pending_audit(exc)
    if record is not None:
        auth_service.add_audit(db=db, record=record)


# --- look-ups ----------------------------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"\s*[/／\\|>＞→—\-－、,，·]+\s*")


def _category_key(text: str) -> str:
    """Normalises a category path: one "/" between levels, no spaces ("城市管理 > 市容环境" → "城市管理/市容环境")."""
    return _SEPARATORS.sub("/", text.strip()).strip("/").replace(" ", "").casefold()


@dataclass(frozen=True)
class AreaInfo:
    """The little of an area that placing a case needs (plain values, safe across savepoint rollbacks)."""

    id: int
    code: str
    name: str
    level: AreaLevel
    path: str


_NAME_SUFFIXES: dict[AreaLevel, tuple[str, ...]] = {
    AreaLevel.street: ("街道办事处", "办事处", "街道"),
    AreaLevel.community: ("社区居民委员会", "社区居委会", "居委会", "社区"),
}


def _name_variants(value: str, level: AreaLevel | None) -> list[str]:
    """Returns the ways an export may write an area's name: 经八路, 经八路街道, 经八路街道办事处 ..."""
    suffixes = _NAME_SUFFIXES.get(level, ()) if level else ()
    base = next((value.removesuffix(s) for s in suffixes if value.endswith(s) and value != s), value)
    return list(dict.fromkeys([value, base, *(base + suffix for suffix in suffixes)]))


class Resolver:
    """The look-ups of one request or import, read once: the crosswalk, matter types, areas and their points."""

    def __init__(self, *, db: Session) -> None:
        self.db = db
        self._codes: dict[str, str] = {}
        self._names: dict[str, str] = {}
        for row in catalog_service.list_crosswalks(db=db, source=SOURCE):
            self._codes[row.external_code] = row.matter_type.code
            if row.external_name:
                self._names.setdefault(_category_key(row.external_name), row.matter_type.code)
        self._active = set(db.scalars(select(MatterType.code).where(MatterType.is_active)))
        self._areas: dict[tuple[str, AreaLevel | None, str | None], AreaInfo] = {}
        self._points: dict[str, tuple[float, float]] = {}

    def matter_of(self, order: HotlineOrder) -> tuple[str | None, str]:
        """Returns the order's matter type code and how it was found ("matter_type" or "crosswalk"); (None,
        "classifier") when the crosswalk does not know the category but a triage model will classify the text."""
        if order.matter_type:
            if order.matter_type not in self._active:
                raise Invalid(
                    f"unknown matter type {order.matter_type!r}", code="unknown_matter_type", field="matter_type"
                )
            return order.matter_type, "matter_type"
        found = self.category(order.category) if order.category else None
        if found is None and triage_registry.classifies_matter_types(db=self.db):
            return None, "classifier"
        if not order.category:
            raise Invalid(
                "give the hotline category (诉求分类) or a matter type", code="category_required", field="category"
            )
        if found is None:
            raise Invalid(
                f"unknown 12345 category {order.category!r}: the catalogue's crosswalk (source {SOURCE}) does not map "
                "it to a matter type",
                code="unknown_category",
                field="category",
                category=order.category,
            )
        return found, "crosswalk"

    def category(self, text: str) -> str | None:
        """Returns the matter type code of a hotline category (code, or name path), or None when unmapped."""
        text = text.strip()
        if text in self._codes:
            return self._codes[text]
        if text.isdigit():
            # NOTE: Excel drops the leading zeros of a code typed into a number cell (030101 → 30101).
            padded = [code for code in self._codes if code.isdigit() and code.lstrip("0") == text.lstrip("0")]
            if len(padded) == 1:
                return self._codes[padded[0]]
        key = _category_key(text)
        if key in self._names:
            return self._names[key]
        # The export's path may be longer ("城市管理/市容环境/占道经营") or shorter ("占道经营") than the name kept in
        # the crosswalk ("市容环境/占道经营"): match on whole levels, when exactly one crosswalk row fits.
        parts = key.split("/")
        for start in range(1, len(parts)):
            if (suffix := "/".join(parts[start:])) in self._names:
                return self._names[suffix]
        ends = {code for name, code in self._names.items() if name.endswith("/" + key)}
        return ends.pop() if len(ends) == 1 else None

    def area(
        self, value: str, *, level: AreaLevel | None = None, within: AreaInfo | None = None, field: str = "area_code"
    ) -> AreaInfo:
        """Returns the area with code (or unique name) `value`, at `level` and inside `within` when given."""
        key = (value, level, within.path if within else None)
        if key in self._areas:
            return self._areas[key]
        columns = select(Area.id, Area.code, Area.name, Area.level, Area.path)
        if level is not None:
            columns = columns.where(Area.level == level)
        if within is not None:
            columns = columns.where(Area.path.startswith(within.path, autoescape=True))
        rows = self.db.execute(columns.where(Area.code == value)).all()
        if not rows:
            names = _name_variants(value, level)
            rows = self.db.execute(columns.where(Area.name.in_(names)).order_by(Area.code)).all()
        what = level.value if level else "area"
        if not rows:
            inside = f" in {within.name} ({within.code})" if within else ""
            raise Invalid(f"unknown {what} {value!r}{inside}", code="unknown_area", field=field)
        if len(rows) > 1:
            codes = ", ".join(row.code for row in rows[:5])
            raise Invalid(
                f"{what} name {value!r} is ambiguous ({codes}); give the code", code="ambiguous_area", field=field
            )
        row = rows[0]
        if row.level == AreaLevel.district:
            raise Invalid(
                f"{value!r} is the whole district: give a street, community or grid", code="area_too_large", field=field
            )
        found = AreaInfo(id=row.id, code=row.code, name=row.name, level=AreaLevel(row.level), path=row.path)
        self._areas[key] = found
        return found

    def point_of(self, area: AreaInfo, *, field: str = "area_code") -> tuple[float, float]:
        """Returns a WGS84 point inside `area` that lies in one of its grids: its representative point."""
        if area.code in self._points:
            return self._points[area.code]
        point = locate_service.point_in_area(db=self.db, area_id=area.id)
        if point is None:
            raise Invalid(
                f"no grid of area {area.name} ({area.code}) contains a point of it; give coordinates",
                code="area_without_grid",
                field=field,
            )
        self._points[area.code] = point
        return point


@dataclass
class OrderResult:
    """What became of a pushed work order: its case, whether it was made now, how it was placed, duplicates."""

    case: Case
    created: bool
    located_by: str | None = None
    duplicates: list[str] = field(default_factory=list)


def get_order(*, db: Session, order_id: str) -> Case:
    """Returns the case of hotline work order `order_id`, or raises NotFoundError."""
    case = db.scalars(select(Case).where(Case.channel == Channel.hotline, Case.external_id == order_id)).first()
    if case is None:
        raise NotFoundError(f"work order {order_id!r} not found")
    return case


def _title(order: HotlineOrder) -> str:
    if order.title:
        return order.title
    first = order.content.splitlines()[0].strip() or order.content.strip()
    return first if len(first) <= TITLE_LENGTH else first[: TITLE_LENGTH - 1] + "…"


def _location(order: HotlineOrder, resolver: Resolver) -> tuple[float, float, Crs, str]:
    if order.has_coordinates:
        assert order.lng is not None and order.lat is not None
        return order.lng, order.lat, order.crs, "coordinates"
    if (order.lng is None) != (order.lat is None):
        missing = "lat" if order.lat is None else "lng"
        raise Invalid("coordinates need both lng and lat", code="location_incomplete", field=missing)
    if order.area_code:
        lng, lat = resolver.point_of(resolver.area(order.area_code))
        return lng, lat, Crs.wgs84, "area"
    raise Invalid(
        "no location: give coordinates (lng, lat), or the area_code of the street, community or grid",
        code="location_required",
        field="location",
    )


def _report(order: HotlineOrder, matter: str | None, lng: float, lat: float, crs: Crs) -> CaseSubmit:
    contact = (
        ContactIn(name=order.caller_name, phone=order.caller_phone) if order.caller_name or order.caller_phone else None
    )
    try:
        return CaseSubmit(
            channel=Channel.hotline,
            matter_type=matter,
            urgency=order.urgency,
            title=_title(order),
            description=order.content,
            lng=lng,
            lat=lat,
            crs=crs,
            address=order.address,
            external_id=order.order_id,
            contact=contact,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        name = {"description": "content", "title": "title"}.get(str(error["loc"][0]), str(error["loc"][0]))
        raise Invalid(_message(error), code="invalid", field=name) from None


def submit_order(*, db: Session, order: HotlineOrder, ctx: Context, resolver: Resolver | None = None) -> OrderResult:
    """Turns a work order into a case (registered and dispatched per the catalogue), or returns its existing case."""
    check_actor(ctx.actor)
    existing = db.scalars(
        select(Case).where(Case.channel == Channel.hotline, Case.external_id == order.order_id)
    ).first()
    if existing is not None:
        _check_scope(db, ctx.actor, existing)
        return OrderResult(case=existing, created=False)
    resolver = resolver or Resolver(db=db)
    matter, matched_by = resolver.matter_of(order)
    lng, lat, crs, located_by = _location(order, resolver)
    result = intake_service.submit(db=db, report=_report(order, matter, lng, lat, crs), ctx=ctx)
    case = result.case
    if result.created:
        _record_order(db=db, case=case, order=order, ctx=ctx, matched_by=matched_by, located_by=located_by)
    _check_scope(db, ctx.actor, case)
    return OrderResult(
        case=case,
        created=result.created,
        located_by=located_by if result.created else None,
        duplicates=[d.number for d in result.duplicates],
    )


def _record_order(
    *, db: Session, case: Case, order: HotlineOrder, ctx: Context, matched_by: str, located_by: str
) -> None:
    """Keeps what the hotline said beyond the case's own columns, in an internal note (never shown publicly)."""
    tz = ctx.calendar.tz
    parts = [f"12345 工单 {order.order_id}"]
    if order.category:
        parts.append(f"诉求分类 {order.category}")
    if order.deadline:
        parts.append(f"热线办理时限 {order.deadline.astimezone(tz):%Y-%m-%d %H:%M}")
    if located_by == "area":
        parts.append(f"无坐标，按区域 {order.area_code} 代表点定位")
    data = {
        "source": SOURCE,
        "order_id": order.order_id,
        "category": order.category,
        "matter_type_by": matched_by,
        "received_at": order.received_at.isoformat() if order.received_at else None,
        "deadline": order.deadline.isoformat() if order.deadline else None,
        "located_by": located_by,
        "area_code": order.area_code if located_by == "area" else None,
    }
    case_service.record(
        db=db,
        case=case,
        action=Action.note,
        ctx=ctx,
        from_stage=case.stage,
        to_stage=case.stage,
        note="; ".join(parts),
        data={"hotline": {k: v for k, v in data.items() if v is not None}},
    )


def accepted(result: OrderResult) -> OrderAccepted:
    """Returns the push answer for `result`."""
    case = result.case
    return OrderAccepted(
        order_id=case.external_id or "",
        case_number=case.number,
        created=result.created,
        stage=case.stage,
        matter_type=case.matter_type.code,
        matter_type_name=case.matter_type.name,
        handling_unit=case.handling_unit.name if case.handling_unit_id and case.handling_unit else None,
        grid=case.area_path.rstrip("/").rsplit("/", 1)[-1] or None,
        located_by=result.located_by,
        duplicates=result.duplicates,
    )


def _message(error: ErrorDetails) -> str:
    if error["type"] == "missing":
        return "required, but empty"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    value = error.get("input")
    if error["type"] != "value_error" and isinstance(value, str | int | float):
        message += f", got {value!r}"
    return message


def submit_batch(*, db: Session, orders: Sequence[object], ctx: Context) -> BatchResult:
    """Submits up to MAX_BATCH work orders, each in its own savepoint: a refused one leaves the others intact."""
    check_actor(ctx.actor)
    if len(orders) > MAX_BATCH:
        raise Invalid(f"a batch holds at most {MAX_BATCH} work orders, got {len(orders)}", code="batch_too_large")
    resolver = Resolver(db=db)
    result = BatchResult()
    for index, raw in enumerate(orders):
        order_id = raw.get("order_id") if isinstance(raw, dict) else None
        item = BatchItem(index=index, order_id=None if order_id is None else str(order_id))
        try:
            with db.begin_nested():
                order = HotlineOrder.model_validate(raw)
                done = submit_order(db=db, order=order, ctx=ctx, resolver=resolver)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = ".".join(str(part) for part in error["loc"]) or None
            item.error = ItemError(code="invalid", message=_message(error), field=name)
        except DomainError as exc:
            _audit_denial(db, exc)
            field_name = exc.details.get("field")
            item.error = ItemError(code=exc.code, message=exc.message, field=str(field_name) if field_name else None)
        else:
            item.case_number, item.created = done.case.number, done.created
        if item.error is not None:
            result.failed += 1
        elif item.created:
            result.created += 1
        else:
            result.existing += 1
        result.items.append(item)
    return result


# --- pull ------------------------------------------------------------------------------------------------------


def order_status(*, db: Session, case: Case, locale: str = "zh_CN") -> OrderStatus:
    """Returns what the hotline may know of a work order's case (the public view: no personal data)."""
    view = public_view(db=db, case=case, locale=locale)
    return OrderStatus(
        order_id=case.external_id or "",
        case_number=view.number,
        stage=view.stage,
        stage_label=view.stage_label,
        is_open=view.is_open,
        matter_type=view.matter_type,
        handling_unit=view.agency,
        reply=view.reply,
        reported_at=view.reported_at,
        updated_at=view.updated_at,
        closed_at=view.closed_at,
        expected_at=view.expected_at,
        satisfaction=view.satisfaction,
        can_rate=view.can_rate,
        notes=[StatusNote(at=note.at, stage=note.stage, text=note.text) for note in view.notes],
    )


def encode_cursor(case: Case) -> str:
    """Returns the polling cursor just after `case` (its change time and id)."""
    text = f"{case.updated_at.astimezone(dt.UTC).isoformat()}|{case.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    """Returns the change time and case id a cursor points after; raises Invalid for a malformed one."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, case_id = text.split("|")
        moment = dt.datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, int(case_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise Invalid("malformed cursor: pass the `next` value of the previous answer", field="cursor") from None


UPDATES_SETTLE = dt.timedelta(seconds=60)


def list_updates(
    *,
    db: Session,
    since: dt.datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
    scope: Callable[[Select[Any]], Select[Any]] | None = None,
    locale: str = "zh_CN",
    now: dt.datetime | None = None,
) -> UpdatesPage:
    """Returns hotline orders whose case changed after the cursor (or since `since`), oldest change first.

    Changes younger than UPDATES_SETTLE are held back: a case's `updated_at` is the time its change began, and a
    longer transaction (a file import) may commit it after younger changes a poller has already passed.
    """
    settled = (now or clock.now()) - UPDATES_SETTLE
    stmt = select(Case).where(Case.channel == Channel.hotline, Case.updated_at <= settled)
    if cursor:
        at, case_id = decode_cursor(cursor)
        stmt = stmt.where(or_(Case.updated_at > at, and_(Case.updated_at == at, Case.id > case_id)))
    elif since is not None:
        stmt = stmt.where(Case.updated_at >= since)
    if scope is not None:
        stmt = scope(stmt)
    cases = list(db.scalars(stmt.order_by(Case.updated_at, Case.id).limit(limit + 1)))
    more = len(cases) > limit
    cases = cases[:limit]
    return UpdatesPage(
        items=[order_status(db=db, case=case, locale=locale) for case in cases],
        next=encode_cursor(cases[-1]) if cases else cursor,
        more=more,
    )


# --- file import ---------------------------------------------------------------------------------------------

# Where an error about a field is shown: the file columns that hold it.
_ERROR_COLUMNS: dict[str, tuple[str, ...]] = {
    "lng/lat": ("lng", "lat"),
    "location": ("lng", "lat", *AREA_FIELDS),
    "category": ("category", *CATEGORY_LEVELS),
    "matter_type": ("matter_type", "category", *CATEGORY_LEVELS),
    "area_code": AREA_FIELDS,
}
_TEXT_FIELDS = ("order_id", "category", "matter_type", "title", "content", "caller_name", "caller_phone", "address")
_DURATION_RE = re.compile(
    r"^(\d+(?:\.\d+)?)\s*个?\s*(工作日|工作天|自然日|天|日|工作小时|工作时|小时|wd|wh|d|h)$", re.IGNORECASE
)
_DURATION_UNITS: dict[str, tuple[TimeUnit, float]] = {
    "工作日": (TimeUnit.working_days, 1),
    "工作天": (TimeUnit.working_days, 1),
    "wd": (TimeUnit.working_days, 1),
    "工作小时": (TimeUnit.working_hours, 1),
    "工作时": (TimeUnit.working_hours, 1),
    "wh": (TimeUnit.working_hours, 1),
    "自然日": (TimeUnit.natural_hours, 24),
    "天": (TimeUnit.natural_hours, 24),
    "日": (TimeUnit.natural_hours, 24),
    "d": (TimeUnit.natural_hours, 24),
    "小时": (TimeUnit.natural_hours, 1),
    "h": (TimeUnit.natural_hours, 1),
}


class _RowProblems(Exception):
    """The problems of one row, by field, before anything of it is written."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


def _text(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


def _deadline(value: object, received: object, now: dt.datetime, calendar: WorkingCalendar) -> object:
    """Turns a duration such as "3个工作日" or "24小时" into a deadline counted from the received time."""
    if not isinstance(value, str) or not (match := _DURATION_RE.match(value.strip())):
        return value
    unit, factor = _DURATION_UNITS[match.group(2).casefold()]
    try:
        start = parse_time(received) if received is not None else now
    except ValueError:
        start = now  # the received time's own error is reported on its column
    assert isinstance(start, dt.datetime)
    return calendar.deadline(start, float(match.group(1)) * factor, unit)


def _order_of(row: OrderRow, resolver: Resolver, crs: Crs, ctx: Context) -> HotlineOrder:
    values = row.values
    problems: list[tuple[str | None, str]] = []
    record: dict[str, Any] = {f: _text(values[f]) for f in _TEXT_FIELDS if f in values}
    if "category" not in record and (levels := [_text(values[f]) for f in CATEGORY_LEVELS if f in values]):
        record["category"] = "/".join(levels)
    for name in ("lng", "lat", "urgency", "received_at"):
        if name in values:
            record[name] = values[name]
    record["crs"] = values.get("crs", crs)
    if "deadline" in values:
        record["deadline"] = _deadline(values["deadline"], values.get("received_at"), ctx.now, ctx.calendar)
    if not {"lng", "lat"} & set(values) or (values.get("lng"), values.get("lat")) in ((0, 0), ("0", "0")):
        # No coordinates: the most specific area column given places the case (a street within its district ...).
        try:
            area = None
            for name, level in (
                ("street", AreaLevel.street),
                ("community", AreaLevel.community),
                ("grid", AreaLevel.grid),
            ):
                if name in values:
                    area = resolver.area(_text(values[name]), level=level, within=area, field=name)
            if area is None and "area_code" in values:
                area = resolver.area(_text(values["area_code"]), field="area_code")
            if area is not None:
                record["area_code"] = area.code
        except Invalid as exc:
            problems.append((str(exc.details.get("field")), exc.message))
    try:
        order = HotlineOrder.model_validate(record)
    except ValidationError as exc:
        problems += [(str(error["loc"][0]) if error["loc"] else None, _message(error)) for error in exc.errors()]
        raise _RowProblems(problems) from None
    if problems:
        raise _RowProblems(problems)
    if order.deadline and order.received_at and order.deadline < order.received_at:
        raise _RowProblems([("deadline", "the deadline is before the received time")])
    return order


def new_summary(table: OrderTable, *, dry_run: bool = False) -> ImportSummary:
    """Returns an empty summary of importing `table`."""
    return ImportSummary(
        source=table.source,
        sheet=table.sheet,
        dry_run=dry_run,
        columns=dict(table.columns),
        ignored_columns=list(table.ignored),
    )


def _fail(
    summary: ImportSummary,
    table: OrderTable,
    row: OrderRow,
    order_id: str | None,
    problems: list[tuple[str | None, str]],
) -> None:
    summary.failed += 1
    for name, message in problems:
        fields = _ERROR_COLUMNS.get(name or "", (name,) if name else ())
        column = table.column(*fields) or name
        summary.errors.append(RowError(row=row.number, column=column, order_id=order_id, message=message))


def _imported(db: Session, order_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(order_ids), 500):
        chunk = order_ids[start : start + 500]
        found.update(
            db.scalars(select(Case.external_id).where(Case.channel == Channel.hotline, Case.external_id.in_(chunk)))
        )
    return found


def import_rows(
    *,
    db: Session,
    table: OrderTable,
    rows: Sequence[OrderRow],
    ctx: Context,
    summary: ImportSummary,
    crs: Crs = Crs.wgs84,
    resolver: Resolver | None = None,
) -> None:
    """Imports `rows` of `table`, each in its own savepoint, adding to `summary`; a bad row is reported, not fatal."""
    check_actor(ctx.actor)
    resolver = resolver or Resolver(db=db)
    ids = [_text(row.values["order_id"]) if "order_id" in row.values else None for row in rows]
    present = _imported(db, sorted({i for i in ids if i}))
    for row, order_id in zip(rows, ids, strict=True):
        summary.rows += 1
        if order_id is not None and order_id in present:
            summary.existing += 1  # imported before (this file again, or an earlier row of it): no duplicate
            continue
        try:
            order = _order_of(row, resolver, crs, ctx)
            with db.begin_nested():
                done = submit_order(db=db, order=order, ctx=ctx, resolver=resolver)
        except _RowProblems as exc:
            _fail(summary, table, row, order_id, exc.problems)
            continue
        except DomainError as exc:
            _audit_denial(db, exc)
            field_name = exc.details.get("field")
            _fail(summary, table, row, order_id, [(str(field_name) if field_name else None, exc.message)])
            continue
        present.add(order.order_id)
        if done.created:
            summary.created += 1
        else:
            summary.existing += 1


def import_table(
    *, db: Session, table: OrderTable, ctx: Context, dry_run: bool = False, crs: Crs = Crs.wgs84
) -> ImportSummary:
    """Imports every row of `table` in the caller's transaction; `dry_run` reports the outcome and keeps nothing."""
    summary = new_summary(table, dry_run=dry_run)
    if not dry_run:
        import_rows(db=db, table=table, rows=table.rows, ctx=ctx, summary=summary, crs=crs)
        return summary
    savepoint = db.begin_nested()
    try:
        import_rows(db=db, table=table, rows=table.rows, ctx=ctx, summary=summary, crs=crs)
    finally:
        savepoint.rollback()
    return summary
