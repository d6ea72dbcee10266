"""Console pages of the resident register: list and search, resident and household detail with their history,
the unmask form (with its purpose), the change forms, the import, and the export requests.

Thin, like the JSON API: every page reads through `people.service` (scoped, masked, audited) and every form posts
to the same service functions. A refused command is shown inline (422); the search is a POST so that a number
searched for never lands in a URL. Clear identity numbers and phones appear only on the page answering an
unmask, never in a link or a redirect.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from gridgov.core.auth import After
from gridgov.core.db import DbSession, WriteSession
from gridgov.core.errors import DomainError, InputError, Invalid
from gridgov.core.pages import PageForm, PageUser, attempt, error_messages, require_page, savepoint
from gridgov.core.permissions import can, defer_audit
from gridgov.core.templating import N_, render
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.people import exports as export_service
from gridgov.domains.people import imports as import_service
from gridgov.domains.people import privacy, service
from gridgov.domains.people import tags as tag_service
from gridgov.domains.people.enums import (
    EventKind,
    ExportStatus,
    Gender,
    HouseholdKind,
    Relation,
    ResidenceType,
    ResidentStatus,
    Sensitivity,
)
from gridgov.domains.people.schemas import (
    Birth,
    ExportCreate,
    ExportFilters,
    HouseholdCreate,
    ImportSummary,
    MoveIn,
    RowIssue,
    SearchIn,
)
from gridgov.domains.people.service import Context, ResidentFilter

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
T = TypeVar("T")

RELATION_LABELS = {
    Relation.head: N_("Head of household"),
    Relation.spouse: N_("Spouse"),
    Relation.child: N_("Child"),
    Relation.parent: N_("Parent"),
    Relation.grandchild: N_("Grandchild"),
    Relation.grandparent: N_("Grandparent"),
    Relation.sibling: N_("Sibling"),
    Relation.child_in_law: N_("Child-in-law"),
    Relation.other_relative: N_("Other relative"),
    Relation.non_relative: N_("Not related"),
}
RESIDENCE_LABELS = {
    ResidenceType.registered: N_("Registered here"),
    ResidenceType.resident: N_("Resident, registered elsewhere"),
    ResidenceType.floating: N_("Floating"),
}
STATUS_LABELS = {
    ResidentStatus.active: N_("Living here"),
    ResidentStatus.moved_out: N_("Moved out"),
    ResidentStatus.deceased: N_("Deceased"),
}
GENDER_LABELS = {Gender.male: N_("Male"), Gender.female: N_("Female")}
KIND_LABELS = {HouseholdKind.family: N_("Family household"), HouseholdKind.collective: N_("Collective household")}
SENSITIVITY_LABELS = {
    Sensitivity.public: N_("Public"),
    Sensitivity.internal: N_("Internal"),
    Sensitivity.sensitive: N_("Sensitive"),
    Sensitivity.core: N_("Core"),
}
EVENT_LABELS = {
    EventKind.registered: N_("Entered in the register"),
    EventKind.move_in: N_("Moved in"),
    EventKind.move_out: N_("Moved out"),
    EventKind.birth: N_("Born"),
    EventKind.death: N_("Died"),
    EventKind.contact_change: N_("Contact changed"),
    EventKind.household_change: N_("Changed household"),
    EventKind.tag_added: N_("Tag added"),
    EventKind.tag_removed: N_("Tag removed"),
    EventKind.correction: N_("Corrected"),
    EventKind.household_created: N_("Household opened"),
    EventKind.household_update: N_("Household changed"),
}
EXPORT_LABELS = {
    ExportStatus.pending: N_("Waiting for approval"),
    ExportStatus.approved: N_("Approved"),
    ExportStatus.refused: N_("Refused"),
    ExportStatus.cancelled: N_("Withdrawn"),
    ExportStatus.expired: N_("Expired"),
}
LABELS = {
    "relation": RELATION_LABELS,
    "residence": RESIDENCE_LABELS,
    "status": STATUS_LABELS,
    "gender": GENDER_LABELS,
    "kind": KIND_LABELS,
    "sensitivity": SENSITIVITY_LABELS,
    "event": EVENT_LABELS,
    "export": EXPORT_LABELS,
}


def _ctx(principal: Principal) -> Context:
    return Context(actor=principal.actor, source="console", source_address=principal.source_address, audit=defer_audit)


def _text(form: FormData, name: str, limit: int = 200) -> str | None:
    value = form.get(name)
    return value.strip()[:limit] or None if isinstance(value, str) else None


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _base(principal: Principal, **extra: Any) -> dict[str, Any]:
    actor = principal.actor
    return {
        "L": LABELS,
        "may_manage": can(actor, "resident.manage"),
        "may_unmask": privacy.may_unmask(actor),
        "sees_names": privacy.sees_names(actor),
        "may_export": can(actor, "export.request"),
        "may_approve": can(actor, "export.approve"),
        "errors": [],
        **extra,
    }


def _attachment(data: bytes, filename: str) -> Response:
    quoted = urllib.parse.quote(filename)
    return Response(
        content=data,
        media_type=export_service.CONTENT_TYPE,
        headers={
            "Content-Disposition": f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quoted}",
            "Cache-Control": "no-store",
        },
    )


def _missing(request: Request, principal: Principal, message: str) -> Response:
    return render(request, "people/missing.html", {"message": message}, principal=principal, status_code=404)


# --- residents -------------------------------------------------------------------------------------------------


@router.get("/residents")
def get_residents(
    request: Request,
    db: WriteSession,
    principal: PageUser,
    after: After,
    area: str = "",
    building: str = "",
    status: str = "active",
    residence_type: str = "",
    tag: str = "",
    name: str = "",
    offset: int = 0,
) -> Response:
    """The residents of the user's area, masked, filtered; each page view is audited."""
    require_page(principal, "resident.view")
    values = {"area": area, "building": building, "status": status, "residence_type": residence_type, "tag": tag}
    values["name"] = name
    filters = ResidentFilter(
        area=area.strip() or None,
        building=building.strip() or None,
        status=ResidentStatus(status) if status in ResidentStatus.__members__ else None,
        residence_type=ResidenceType(residence_type) if residence_type in ResidenceType.__members__ else None,
        tag=tag.strip() or None,
        name=name.strip()[:100] or None,
    )
    offset = min(max(offset, 0), service.MAX_OFFSET)
    found, errors = attempt(
        db,
        after,
        lambda: service.list_residents(db=db, ctx=_ctx(principal), filters=filters, offset=offset, limit=PAGE_SIZE),
    )
    residents, total = found or ([], 0)
    context = _list_context(db, principal, residents, total, offset, values, errors)
    return render(request, "people/residents.html", context, principal=principal, status_code=422 if errors else 200)


def _list_context(
    db: Session,
    principal: Principal,
    residents: list[Any],
    total: int,
    offset: int,
    values: dict[str, str],
    errors: list[str],
    searched: bool = False,
) -> dict[str, Any]:
    query = urllib.parse.urlencode({k: v for k, v in values.items() if v and k in ResidentFilter.__dataclass_fields__})
    return _base(
        principal,
        residents=residents,
        total=total,
        offset=offset,
        limit=PAGE_SIZE,
        values=values,
        errors=errors,
        searched=searched,
        query=query,
        tags=tag_service.list_tags(db=db, actor=principal.actor),
        statuses=list(ResidentStatus),
        residences=list(ResidenceType),
        kinds=list(HouseholdKind),
    )


@router.post("/residents/search")
def search_residents(request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm) -> Response:
    """Finds residents by exact identity number or phone, or by name (a POST: the number stays out of URLs)."""
    require_page(principal, "resident.view")

    def find() -> list[Any]:
        query = SearchIn(
            id_number=_text(form, "id_number", 40),
            phone=_text(form, "phone", 40),
            name=_text(form, "name", 100),
            include_inactive=form.get("include_inactive") == "on",
        )
        return service.search(db=db, ctx=_ctx(principal), query=query)

    found, errors = attempt(db, after, find)
    residents = found or []
    values = {"status": "active", "search_name": _text(form, "name", 100) or ""}
    context = _list_context(db, principal, residents, len(residents), 0, values, errors, searched=True)
    return render(request, "people/residents.html", context, principal=principal, status_code=422 if errors else 200)


@router.get("/residents/import")
def get_import(request: Request, principal: PageUser) -> Response:
    """The import form: a file of residents with Chinese headers, all or nothing unless partial mode is chosen."""
    require_page(principal, "resident.manage")
    context = _base(principal, summary=None, refused=False, report_json="", columns=import_service.COLUMNS)
    return render(request, "people/import.html", context, principal=principal)


@router.post("/residents/import")
async def post_import(request: Request, db: WriteSession, principal: PageUser) -> Response:
    """Imports an uploaded file; a refused one shows every row error, with a button to download them as XLSX."""
    require_page(principal, "resident.manage")
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    limit = request.app.state.settings.max_upload_bytes
    summary: ImportSummary | None = None
    refused = False
    errors: list[str] = []
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors.append("choose a file (.xlsx or .csv)")
    else:
        data = await upload.read(limit + 1)
        if len(data) > limit:
            errors.append(f"larger than {limit:,} bytes: import it with `gridgov people import`")
        else:
            try:
                with savepoint(db):
                    summary = import_service.import_file(
                        db=db,
                        ctx=_ctx(principal),
                        data=data,
                        filename=upload.filename,
                        skip_bad=form.get("skip_bad") == "on",
                        dry_run=form.get("dry_run") == "on",
                    )
            except import_service.ImportRejected as rejected:
                summary, refused = rejected.report, True
            except (DomainError, InputError) as exc:
                errors = error_messages(exc)
    context = _base(
        principal,
        summary=summary,
        refused=refused,
        errors=errors,
        report_json=json.dumps([e.model_dump() for e in summary.errors], ensure_ascii=False) if summary else "",
        columns=import_service.COLUMNS,
    )
    status = 422 if errors or refused else 200
    return render(request, "people/import.html", context, principal=principal, status_code=status)


@router.post("/residents/import/report")
def post_import_report(principal: PageUser, form: PageForm) -> Response:
    """Returns the row errors shown on the import page as an XLSX error report."""
    require_page(principal, "resident.manage")
    raw = form.get("errors")
    try:
        rows = [RowIssue.model_validate(e) for e in json.loads(raw if isinstance(raw, str) else "[]")][:10_000]
    except (ValueError, ValidationError):
        rows = []
    source = _text(form, "source") or "import"
    summary = ImportSummary(
        source=source,
        rows=0,
        households_created=0,
        households_reused=0,
        residents_created=0,
        tags_added=0,
        errors=rows,
        partial=form.get("partial") == "true",
    )
    return _attachment(import_service.error_report(summary), "import-errors.xlsx")


@router.get("/residents/import/template")
def get_import_template(principal: PageUser) -> Response:
    """Returns the empty import workbook."""
    require_page(principal, "resident.manage")
    return _attachment(import_service.template(), "residents-template.xlsx")


# --- exports ---------------------------------------------------------------------------------------------------


def _exports_context(db: Session, principal: Principal, errors: list[str]) -> dict[str, Any]:
    ctx = _ctx(principal)
    rows = export_service.list_exports(db=db, ctx=ctx)
    return _base(
        principal,
        exports=[(row, export_service.status_of(row, ctx.now)) for row in rows],
        errors=errors,
        tags=tag_service.list_tags(db=db, actor=principal.actor),
        statuses=list(ResidentStatus),
        residences=list(ResidenceType),
        user_id=principal.actor.user_id,
        ExportStatus=ExportStatus,
    )


@router.get("/residents/exports")
def get_exports(request: Request, db: DbSession, principal: PageUser) -> Response:
    """Export requests: the user's own (with downloads once approved) and those the user may approve."""
    if not (can(principal.actor, "export.request") or can(principal.actor, "export.approve")):
        require_page(principal, "export.request")
    return render(request, "people/exports.html", _exports_context(db, principal, []), principal=principal)


def _exports_done(
    request: Request, db: Session, principal: Principal, after: After, command: Callable[[], T]
) -> Response:
    done, errors = attempt(db, after, command)
    if errors or done is None:
        context = _exports_context(db, principal, errors)
        return render(request, "people/exports.html", context, principal=principal, status_code=422)
    return RedirectResponse("/residents/exports", status_code=303)


@router.post("/residents/exports")
def post_export(request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm) -> Response:
    """Asks for an export: filters, purpose, and whether identity numbers and phones are wanted in clear."""
    require_page(principal, "export.request")

    def ask() -> object:
        filters = ExportFilters(
            area=_text(form, "area", 32),
            status=ResidentStatus(form["status"]) if form.get("status") in ResidentStatus.__members__ else None,
            residence_type=(
                ResidenceType(form["residence_type"])
                if form.get("residence_type") in ResidenceType.__members__
                else None
            ),
            tag=_text(form, "tag", 50),
            born_from=_date(_text(form, "born_from")),
            born_to=_date(_text(form, "born_to")),
        )
        data = ExportCreate(
            filters=filters,
            purpose=_text(form, "purpose") or "",
            include_personal=form.get("include_personal") == "on",
        )
        return export_service.request_export(db=db, ctx=_ctx(principal), data=data)

    return _exports_done(request, db, principal, after, ask)


@router.post("/residents/exports/{export_id}/{operation}")
def post_export_operation(
    export_id: int,
    operation: str,
    request: Request,
    db: WriteSession,
    principal: PageUser,
    after: After,
    form: PageForm,
) -> Response:
    """Approves, refuses or withdraws an export request."""
    note = _text(form, "note", 1000)
    ctx = _ctx(principal)
    if operation in ("approve", "refuse"):
        require_page(principal, "export.approve")
        return _exports_done(
            request,
            db,
            principal,
            after,
            lambda: export_service.decide(
                db=db, ctx=ctx, export_id=export_id, approve=operation == "approve", note=note
            ),
        )
    if operation == "cancel":
        require_page(principal, "export.request")
        return _exports_done(
            request, db, principal, after, lambda: export_service.cancel(db=db, ctx=ctx, export_id=export_id)
        )
    return _missing(request, principal, f"unknown operation {operation!r}")


@router.get("/residents/exports/{export_id}/download")
def get_export_download(
    export_id: int, request: Request, db: WriteSession, principal: PageUser, after: After
) -> Response:
    """Downloads an approved export (its requester only, until it expires); the download is audited."""
    require_page(principal, "export.request")
    file, errors = attempt(db, after, lambda: export_service.download(db=db, ctx=_ctx(principal), export_id=export_id))
    if errors or file is None:
        context = _exports_context(db, principal, errors)
        return render(request, "people/exports.html", context, principal=principal, status_code=409)
    return _attachment(file.data, file.filename)


# --- one resident ----------------------------------------------------------------------------------------------


def _resident_page(
    request: Request,
    db: Session,
    principal: Principal,
    after: After,
    resident_id: int,
    *,
    errors: list[str] | None = None,
    clear: dict[str, str | None] | None = None,
    status_code: int = 200,
) -> Response:
    found, problems = attempt(
        db, after, lambda: service.read_resident(db=db, ctx=_ctx(principal), resident_id=resident_id)
    )
    if found is None:
        return _missing(request, principal, problems[0] if problems else f"resident {resident_id} not found")
    context = _base(
        principal,
        resident=found,
        clear=clear,
        errors=errors or [],
        tags=[
            t for t in tag_service.list_tags(db=db, actor=principal.actor) if t.code not in {x.code for x in found.tags}
        ],
        relations=list(Relation),
        today=dt.date.today().isoformat(),
    )
    return render(request, "people/resident.html", context, principal=principal, status_code=status_code)


@router.get("/residents/{resident_id}")
def get_resident(resident_id: int, request: Request, db: WriteSession, principal: PageUser, after: After) -> Response:
    """A resident (masked) with their history, the unmask form and the change forms; audited."""
    require_page(principal, "resident.view")
    return _resident_page(request, db, principal, after, resident_id)


@router.post("/residents/{resident_id}/unmask")
def post_unmask(
    resident_id: int, request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm
) -> Response:
    """Shows the identity number and phone in clear on this one answer, for the purpose given (audited)."""
    require_page(principal, "resident.unmask")
    purpose = _text(form, "purpose") or ""
    shown, errors = attempt(
        db, after, lambda: service.unmask(db=db, ctx=_ctx(principal), resident_id=resident_id, purpose=purpose)
    )
    clear = {"id_number": shown.id_number, "phone": shown.phone, "purpose": shown.purpose} if shown else None
    page = _resident_page(
        request, db, principal, after, resident_id, errors=errors, clear=clear, status_code=422 if errors else 200
    )
    # NOTE: the page shows clear personal values: no browser or proxy cache keeps it.
    page.headers["Cache-Control"] = "no-store"
    return page


@router.post("/residents/{resident_id}/{operation}")
def post_resident_operation(
    resident_id: int,
    operation: str,
    request: Request,
    db: WriteSession,
    principal: PageUser,
    after: After,
    form: PageForm,
) -> Response:
    """Records a change: move-out, death, contact, household, tag-add, tag-remove."""
    require_page(principal, "resident.manage")
    ctx = _ctx(principal)
    note = _text(form, "note", 1000)
    when = _date(_text(form, "occurred_on"))
    commands: dict[str, Callable[[], object]] = {
        "move-out": lambda: service.move_out(
            db=db, ctx=ctx, resident_id=resident_id, occurred_on=_required(when), note=note
        ),
        "death": lambda: service.record_death(
            db=db, ctx=ctx, resident_id=resident_id, occurred_on=_required(when), note=note
        ),
        "contact": lambda: service.change_contact(
            db=db, ctx=ctx, resident_id=resident_id, phone=_text(form, "phone", 40), note=note
        ),
        "household": lambda: service.change_household(
            db=db,
            ctx=ctx,
            resident_id=resident_id,
            household_id=int(_text(form, "household_id", 12) or 0),
            relation=Relation(_text(form, "relation", 24) or ""),
            occurred_on=when,
            note=note,
        ),
        "tag-add": lambda: service.add_tag(
            db=db, ctx=ctx, resident_id=resident_id, tag=_text(form, "tag", 50) or "", note=note
        ),
        "tag-remove": lambda: service.remove_tag(
            db=db, ctx=ctx, resident_id=resident_id, tag=_text(form, "tag", 50) or "", note=note
        ),
    }
    command = commands.get(operation)
    if command is None:
        return _missing(request, principal, f"unknown operation {operation!r}")
    done, errors = attempt(db, after, lambda: _checked(command))
    if errors or done is None:
        return _resident_page(request, db, principal, after, resident_id, errors=errors, status_code=422)
    return RedirectResponse(f"/residents/{resident_id}", status_code=303)


def _required(value: dt.date | None) -> dt.date:
    if value is None:
        raise Invalid("give the date (YYYY-MM-DD)", field="occurred_on")
    return value


def _checked(command: Callable[[], T]) -> T:
    try:
        return command()
    except ValueError as exc:  # a bad choice or number typed into the form
        if isinstance(exc, ValidationError):
            raise
        raise Invalid(str(exc)) from None


# --- households ------------------------------------------------------------------------------------------------


@router.post("/households")
def post_household(request: Request, db: WriteSession, principal: PageUser, after: After, form: PageForm) -> Response:
    """Opens a household behind a door of a building in the user's area."""
    require_page(principal, "resident.manage")

    def create() -> Any:
        data = HouseholdCreate(
            building=_text(form, "building", 32) or "",
            room=_text(form, "room", 50) or "",
            kind=HouseholdKind(_text(form, "kind", 24) or "family"),
            residence=ResidenceType(_text(form, "residence", 24) or "registered"),
            notes=_text(form, "notes", 1000),
        )
        return service.create_household(db=db, ctx=_ctx(principal), data=data)

    household, errors = attempt(db, after, lambda: _checked(create))
    if errors or household is None:
        values = {"status": "active"}
        context = _list_context(db, principal, [], 0, 0, values, errors)
        return render(request, "people/residents.html", context, principal=principal, status_code=422)
    return RedirectResponse(f"/households/{household.id}", status_code=303)


def _household_page(
    request: Request,
    db: Session,
    principal: Principal,
    after: After,
    household_id: int,
    *,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    found, problems = attempt(
        db, after, lambda: service.read_household(db=db, ctx=_ctx(principal), household_id=household_id)
    )
    if found is None:
        return _missing(request, principal, problems[0] if problems else f"household {household_id} not found")
    context = _base(
        principal,
        household=found,
        errors=errors or [],
        tags=tag_service.list_tags(db=db, actor=principal.actor),
        relations=list(Relation),
        residences=list(ResidenceType),
        genders=list(Gender),
    )
    return render(request, "people/household.html", context, principal=principal, status_code=status_code)


@router.get("/households/{household_id}")
def get_household(household_id: int, request: Request, db: WriteSession, principal: PageUser, after: After) -> Response:
    """A household: its residents (masked), its history, and the move-in and birth forms; audited."""
    require_page(principal, "resident.view")
    return _household_page(request, db, principal, after, household_id)


@router.post("/households/{household_id}/{operation}")
def post_household_operation(
    household_id: int,
    operation: str,
    request: Request,
    db: WriteSession,
    principal: PageUser,
    after: After,
    form: PageForm,
) -> Response:
    """Records a move-in or a birth into the household."""
    require_page(principal, "resident.manage")
    ctx = _ctx(principal)

    def move_in() -> Any:
        data = MoveIn(
            name=_text(form, "name", 100) or "",
            relation=Relation(_text(form, "relation", 24) or ""),
            residence_type=ResidenceType(_text(form, "residence_type", 24) or ""),
            id_number=_text(form, "id_number", 40),
            phone=_text(form, "phone", 40),
            ethnicity=_text(form, "ethnicity", 20),
            occurred_on=_date(_text(form, "occurred_on")),
            note=_text(form, "note", 1000),
        )
        return service.move_in(db=db, ctx=ctx, household_id=household_id, data=data)

    def birth() -> Any:
        data = Birth(
            name=_text(form, "name", 100) or "",
            gender=Gender(_text(form, "gender", 24) or ""),
            birth_date=_required(_date(_text(form, "birth_date"))),
            relation=Relation(_text(form, "relation", 24) or "child"),
            ethnicity=_text(form, "ethnicity", 20),
            id_number=_text(form, "id_number", 40),
            note=_text(form, "note", 1000),
        )
        return service.record_birth(db=db, ctx=ctx, household_id=household_id, data=data)

    commands: dict[str, Callable[[], Any]] = {"move-in": move_in, "birth": birth}
    command = commands.get(operation)
    if command is None:
        return _missing(request, principal, f"unknown operation {operation!r}")
    resident, errors = attempt(db, after, lambda: _checked(command))
    if errors or resident is None:
        return _household_page(request, db, principal, after, household_id, errors=errors, status_code=422)
    return RedirectResponse(f"/residents/{resident.id}", status_code=303)
