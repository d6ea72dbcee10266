"""HTML pages of the area tree: the home page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from gridgov import __version__
from gridgov.core.db import DbSession
from gridgov.domains.areas import service
from gridgov.domains.areas.enums import LEVEL_LABELS_ZH, LEVEL_PLURALS_EN, AreaLevel

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "web" / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def get_home(request: Request, db: DbSession) -> HTMLResponse:
    """Renders the home page: the area tree down to communities, grids counted."""
    context = {
        "tree": service.get_tree(db=db, max_level=AreaLevel.community),
        "counts": service.count_by_level(db=db),
        "labels": LEVEL_LABELS_ZH,
        "plurals": LEVEL_PLURALS_EN,
        "levels": list(AreaLevel),
        "version": __version__,
    }
    return templates.TemplateResponse(request, "areas/home.html", context)
