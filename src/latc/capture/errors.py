"""Errors of the capture services: each carries a one-line message a person can act on."""

from __future__ import annotations

from latc.errors import LatcError


class CaptureError(LatcError):
    """Base class: a refused action (the views show ``str(exc)``; the CLI prints it on one line)."""


class Forbidden(CaptureError):
    """The user's role or centers do not allow the action on this object."""


class ConflictError(CaptureError):
    """The record changed since the user opened it (optimistic concurrency): nothing was saved.

    ``current_version`` is the version now stored; the form should be reloaded and the edit redone.
    """

    def __init__(self, message: str, *, current_version: int | None = None):
        super().__init__(message)
        self.current_version = current_version


class ReasonRequired(CaptureError):
    """A value already saved is being changed or deleted without a reason for the change
    (ICH E6(R3) §4.2.4: corrections attributed and justified). ``fields``: the changed fields."""

    def __init__(self, message: str, *, fields: list[str] | None = None):
        super().__init__(message)
        self.fields = fields or []


class Locked(CaptureError):
    """The patient's casebook is locked by a data manager: no edits until unlocked."""


class ValidationFailed(CaptureError):
    """Hard validation errors (type, format, value set, pattern): nothing saved.

    ``problems``: the :class:`latc.capture.validation.FieldProblem` list, each with its field."""

    def __init__(self, message: str, *, problems: list | None = None):
        super().__init__(message)
        self.problems = problems or []


class SignatureFailed(CaptureError):
    """The password re-entered to sign did not match (the attempt is audited)."""
