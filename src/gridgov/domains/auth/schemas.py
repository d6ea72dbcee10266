"""Shapes of the auth domain."""

from __future__ import annotations

from dataclasses import dataclass

from gridgov.domains.auth.enums import Role


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a user (with role, unit and area scope) or the system. Services check rules against it."""

    name: str
    role: Role
    user_id: int | None = None
    unit_id: int | None = None
    scope_path: str | None = None  # area subtree the actor may see; None = the whole deployment


SYSTEM_ACTOR = Actor(name="system", role=Role.system)
