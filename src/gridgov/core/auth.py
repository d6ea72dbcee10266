"""Who is calling: the `CurrentActor` dependency of every route that acts on cases.

Until user accounts land (the users issue), development and test deployments identify the caller by
headers — X-Gridgov-Role (required), X-Gridgov-User (id), X-Gridgov-Unit (unit code), X-Gridgov-Name — and a
production deployment refuses every such request. Services never see headers: they receive an `Actor`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select

from gridgov.core.db import DbSession
from gridgov.domains.auth.enums import Role
from gridgov.domains.auth.schemas import Actor
from gridgov.domains.catalog.models import Unit


def get_actor(request: Request, db: DbSession) -> Actor:
    """Returns the acting user described by the development identity headers (401 when absent or invalid)."""
    if request.app.state.settings.env == "production":
        raise HTTPException(401, "authentication is required (identity headers are refused in production)")
    role_text = request.headers.get("x-gridgov-role")
    if not role_text:
        raise HTTPException(401, "missing X-Gridgov-Role header")
    try:
        role = Role(role_text)
    except ValueError:
        raise HTTPException(401, f"unknown role {role_text!r}; one of {', '.join(Role)}") from None
    user_text = request.headers.get("x-gridgov-user")
    if user_text is not None and not user_text.isdigit():
        raise HTTPException(401, "X-Gridgov-User must be a numeric user id")
    unit_id = None
    if unit_code := request.headers.get("x-gridgov-unit"):
        unit_id = db.scalar(select(Unit.id).where(Unit.code == unit_code))
        if unit_id is None:
            raise HTTPException(401, f"unknown unit {unit_code!r} in X-Gridgov-Unit")
    user_id = int(user_text) if user_text else None
    name = _header_text(request.headers.get("x-gridgov-name")) or f"{role}{'#' + str(user_id) if user_id else ''}"
    return Actor(name=name[:100], role=role, user_id=user_id, unit_id=unit_id)


def _header_text(value: str | None) -> str | None:
    """Returns a header's text: percent-encoded or raw UTF-8 (which the server decodes as Latin-1) is repaired."""
    if not value:
        return value
    # NOTE: HTTP headers are Latin-1; a Chinese name arrives either percent-encoded or as UTF-8 bytes read as
    # Latin-1 (mojibake). Either would otherwise land in the append-only event log unreadable.
    value = unquote(value)
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


CurrentActor = Annotated[Actor, Depends(get_actor)]
