"""Errors that carry a precise location, so every bad input tells the user what is wrong and where."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in an input: where (file, sheet, row or feature), which field, and what is wrong."""

    where: str
    message: str
    field: str | None = None

    def __str__(self) -> str:
        column = f", {self.field}" if self.field else ""
        return f"{self.where}{column}: {self.message}"

    def as_dict(self) -> dict[str, str | None]:
        return {"where": self.where, "field": self.field, "message": self.message}


@dataclass
class InputError(Exception):
    """Raised when an input is rejected as a whole; nothing has been written."""

    issues: list[Issue] = field(default_factory=list)
    summary: str = "input rejected"

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"{self.summary} ({len(self.issues)} problem{'s' if len(self.issues) != 1 else ''})"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)


class NotFoundError(LookupError):
    """Raised by services when a requested object does not exist (the API answers 404)."""


class DomainError(Exception):
    """A refused command with a machine-readable code; the API answers `status` with {code, message}."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **details: object) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, **self.details}


class Conflict(DomainError):
    """The command clashes with the current state (illegal transition, stale version, duplicate)."""

    status = 409
    code = "conflict"


class Forbidden(DomainError):
    """The actor may not do this (wrong role, wrong unit, patrol-handle separation)."""

    status = 403
    code = "forbidden"


class Invalid(DomainError):
    """The command is well-formed but its content is refused (missing evidence, unknown matter type ...)."""

    status = 422
    code = "invalid"
