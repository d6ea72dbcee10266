"""The one Jinja2 environment of the console: templates in gridgov/web/templates, translated per request.

`render(request, name, context, principal=...)` adds what every page needs: the translation functions of the
request's locale (`_`, `gettext`, `ngettext`, used by `{% trans %}` too), the navigation the user's role may
see, the CSRF token of the session and the language switch. Labels of enums are English message ids marked
with `N_` here and translated in the templates with `_()`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from gridgov import __version__
from gridgov.core import i18n
from gridgov.core.permissions import can
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Principal
from gridgov.domains.cases.enums import Action, CaseStage, Channel

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "web" / "templates"
LOCAL_TZ = dt.timezone(dt.timedelta(hours=8), "CST")  # China Standard Time, no daylight saving


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Marks `message` for extraction without translating it now."""
    return message


STAGE_LABELS: dict[CaseStage, str] = {
    CaseStage.reported: N_("Reported"),
    CaseStage.verifying: N_("Verifying"),
    CaseStage.registered: N_("Registered"),
    CaseStage.rejected: N_("Rejected"),
    CaseStage.merged: N_("Merged"),
    CaseStage.dispatched: N_("Dispatched"),
    CaseStage.signed: N_("Signed"),
    CaseStage.returned: N_("Returned"),
    CaseStage.handling: N_("Handling"),
    CaseStage.handled: N_("Handled"),
    CaseStage.closed: N_("Closed"),
}

ACTION_LABELS: dict[Action, str] = {
    Action.report: N_("Report"),
    Action.self_handle: N_("Handle on the spot"),
    Action.confirm: N_("Confirm on site"),
    Action.register: N_("Register"),
    Action.reject: N_("Reject"),
    Action.merge: N_("Merge"),
    Action.reclassify: N_("Reclassify"),
    Action.dispatch: N_("Dispatch"),
    Action.sign: N_("Sign"),
    Action.return_: N_("Return"),
    Action.start: N_("Start handling"),
    Action.finish: N_("Finish"),
    Action.verify: N_("Verify and close"),
    Action.rework: N_("Send back for rework"),
    Action.request_extension: N_("Request extension"),
    Action.decide_extension: N_("Decide extension"),
    Action.request_suspension: N_("Request suspension"),
    Action.decide_suspension: N_("Decide suspension"),
    Action.resume: N_("Resume"),
    Action.supervise: N_("Supervise"),
    Action.escalate: N_("Escalate"),
    Action.rate: N_("Rate"),
    Action.reopen: N_("Reopen"),
    Action.rule_reasonableness: N_("Rule on reasonableness"),
    Action.note: N_("Add note"),
    Action.warn: N_("Warning"),
    Action.overdue: N_("Overdue"),
}

ROLE_LABELS: dict[Role, str] = {
    Role.district_leader: N_("District leader"),
    Role.district_dispatcher: N_("District dispatcher"),
    Role.street_dispatcher: N_("Street dispatcher"),
    Role.community_secretary: N_("Community secretary"),
    Role.grid_worker: N_("Grid worker"),
    Role.unit_handler: N_("Unit handler"),
    Role.auditor: N_("Auditor"),
    Role.admin: N_("Administrator"),
    Role.citizen: N_("Citizen"),
    Role.system: N_("System"),
}

CHANNEL_LABELS: dict[Channel, str] = {
    Channel.patrol: N_("Patrol"),
    Channel.snapshot: N_("Citizen snapshot"),
    Channel.hotline: N_("Hotline"),
    Channel.open311: N_("Open311"),
    Channel.iot: N_("IoT sensor"),
    Channel.video: N_("Video AI"),
    Channel.assignment: N_("Leader assignment"),
    Channel.discovered: N_("Discovered"),
}


def local_time(value: dt.datetime | None) -> str:
    """Formats a UTC time in China Standard Time, to the minute ("" for None)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    # NOTE: newstyle: `{% trans n=x %}... %(n)s{% endtrans %}` calls gettext(message, n=x); the callables
    # themselves come with each request's context (see `translator`), so one environment serves every locale.
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.filters["local_time"] = local_time
    env.globals.update(
        STAGE_LABELS=STAGE_LABELS,
        ACTION_LABELS=ACTION_LABELS,
        ROLE_LABELS=ROLE_LABELS,
        CHANNEL_LABELS=CHANNEL_LABELS,
        LOCALES=i18n.LOCALES,
        version=__version__,
    )
    return env


templates = Jinja2Templates(env=_environment())


def translator(locale: str) -> dict[str, Callable[..., str]]:
    """Returns the template functions `_`, `gettext` and `ngettext` of `locale` (newstyle: %(name)s formatting)."""
    translations = i18n.gettext(locale)

    def gettext(message: str, **variables: Any) -> str:
        text = translations.gettext(message)
        return text % variables if variables else text

    def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
        text = translations.ngettext(singular, plural, n)
        return text % {"num": n, **variables}

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}


def navigation(principal: Principal | None) -> list[tuple[str, str]]:
    """Returns the (path, label message id) links the principal's role may use, in menu order."""
    if principal is None:
        return []
    actor = principal.actor
    links: list[tuple[str, str]] = []
    if can(actor, "case.view"):
        links += [("/inbox", N_("My inbox")), ("/cases", N_("Cases"))]
    if can(actor, "case.dispatch") or can(actor, "case.register"):
        links.append(("/queue", N_("Dispatch queue")))
    if can(actor, "triage.view"):
        links.append(("/hotspots", N_("Hotspots")))
    if can(actor, "evaluation.view"):
        links.append(("/evaluation", N_("Evaluation")))
    if can(actor, "resident.view"):
        links.append(("/residents", N_("Resident register")))
    if can(actor, "party.view"):
        links.append(("/party", N_("Party building")))
    if can(actor, "staff.view"):
        links.append(("/staff", N_("Grid staff")))
    if can(actor, "duty.view"):
        links.append(("/duty", N_("Duty")))
    # NOTE: imported here: the intake service imports the case service, which uses this module's labels.
    from gridgov.domains.intake.service import CHANNEL_ROLES

    if actor.role in CHANNEL_ROLES[Channel.assignment]:
        links.append(("/assign", N_("Assign")))
    if actor.role == Role.grid_worker:
        links.append(("/m", N_("Field app")))
    if can(actor, "terminal.manage"):
        links.append(("/terminals", N_("Terminals")))
    if can(actor, "audit.view"):
        links.append(("/audit", N_("Audit log")))
    links.append(("/docs", N_("API")))
    return links


def lang_url(request: Request, locale: str) -> str:
    """Returns the language switch's address for `locale`, coming back to the current page."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    here = request.url.path + (f"?{urlencode(params)}" if params else "")
    return f"/lang/{locale}?" + urlencode({"next": here})


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    principal: Principal | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Renders template `name` in the request's locale, with navigation and CSRF token for `principal`."""
    locale = i18n.request_locale(request)
    full: dict[str, Any] = {
        **translator(locale),
        "locale": locale,
        "html_lang": i18n.HTML_LANG[locale],
        "principal": principal,
        "nav": navigation(principal),
        "csrf_token": principal.csrf_token if principal and principal.csrf_token else "",
        "lang_links": {code: lang_url(request, code) for code in i18n.LOCALES},
        "path": request.url.path,
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, full, status_code=status_code, headers=headers)
