"""Domain refusals. The HTTP edge maps each to a status in one place (api/problems.py)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A change the model refuses; ``code`` is stable and shown to clients."""

    code = "DOMAIN_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidTransition(DomainError):
    """A status change the lifecycle does not allow."""

    code = "INVALID_TRANSITION"


class DependencyCycle(DomainError):
    """A task dependency that would close a cycle."""

    code = "DEPENDENCY_CYCLE"


class InvalidValue(DomainError):
    """A value that is well-formed JSON but not acceptable to the model."""

    code = "INVALID_VALUE"


class Archived(DomainError):
    """A change to something that has been archived."""

    code = "ARCHIVED"


class GateRefused(DomainError):
    """A proposal has not passed the gate its confidence and risk put it behind."""

    code = "CONFIDENCE_GATE"


class ApprovalRefused(DomainError):
    """This approver may not approve this proposal (four eyes, or not a human)."""

    code = "APPROVAL_REFUSED"
