"""Application errors; each has a stable ``code`` and maps to HTTP in api/problems.py."""

from __future__ import annotations

from typing import Any

from stratum.domain.errors import DomainError


class StratumError(Exception):
    """Root of every error Stratum raises on purpose."""

    code = "STRATUM_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(StratumError):
    """The object does not exist, or belongs to another workspace."""

    code = "NOT_FOUND"


class VersionConflict(StratumError):
    """The If-Match version is not the current version."""

    code = "VERSION_CONFLICT"


class PreconditionRequired(StratumError):
    """An update came without If-Match."""

    code = "PRECONDITION_REQUIRED"


class IdempotencyKeyReused(StratumError):
    """An Idempotency-Key was sent again with a different request."""

    code = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyRace(StratumError):
    """A concurrent request with the same Idempotency-Key committed first."""

    code = "IDEMPOTENCY_RACE"


class Unauthorized(StratumError):
    """No token, or one we do not know."""

    code = "UNAUTHORIZED"


class Forbidden(StratumError):
    """The token lacks the scope for this operation."""

    code = "FORBIDDEN"


class ProjectionLag(StratumError):
    """The read model has not reached the requested position in time."""

    code = "PROJECTION_LAG"


class RuleViolation(StratumError):
    """A cross-aggregate rule refused the change."""

    code = "RULE_VIOLATION"


class UnknownEventType(StratumError):
    """A ``types`` filter named an event type that does not exist."""

    code = "UNKNOWN_EVENT_TYPE"


class Conflict(StratumError):
    """A concurrent change got there first; retry."""

    code = "CONFLICT"


class KillSwitchEngaged(StratumError):
    """A kill switch refuses this mutation (``switch``, ``reason``), or their state cannot
    be read, and mutations are refused until it can (``fail_closed``)."""

    code = "KILL_SWITCH_ENGAGED"


class ProposalStale(StratumError):
    """An entity a proposal targets changed since the proposal was drafted."""

    code = "PROPOSAL_STALE"


class RollbackConflict(StratumError):
    """An entity changed after the apply, so a rollback would overwrite later work."""

    code = "ROLLBACK_CONFLICT"


class ScopeTooLarge(StratumError):
    """A proposal impacts more entities than the workspace allows."""

    code = "SCOPE_TOO_LARGE"


class UnsupportedMediaType(StratumError):
    """The body is not of a media type the route reads."""

    code = "UNSUPPORTED_MEDIA_TYPE"


class PayloadTooLarge(StratumError):
    """The body is larger than the route accepts."""

    code = "PAYLOAD_TOO_LARGE"


class MalformedXml(StratumError):
    """The body is not well-formed XML."""

    code = "MALFORMED_XML"


class UnsafeXml(StratumError):
    """The XML declares a DTD, entities or external references: refused, never expanded."""

    code = "UNSAFE_XML"


class InvalidTestReport(StratumError):
    """Well-formed XML that is not a JUnit report Stratum can read (or holds too much)."""

    code = "INVALID_TEST_REPORT"


class EmbeddingFailed(StratumError):
    """The embedding endpoint refused a request, kept failing, or answered something unusable."""

    code = "EMBEDDING_FAILED"


class TestRunConflict(StratumError):
    """A run id that was recorded with different results: a run is recorded once."""

    __test__ = False
    code = "TEST_RUN_CONFLICT"


class AiProviderFailed(StratumError):
    """One language-model provider failed one call (``transient``: worth retrying)."""

    code = "AI_PROVIDER_FAILED"

    def __init__(
        self, message: str, *, transient: bool, status: int | None = None,
        retry_after: float | None = None, **details: Any,
    ) -> None:
        super().__init__(message, status=status, **details)
        self.transient = transient
        self.retry_after = retry_after


class AiUnavailable(StratumError):
    """Every language-model provider configured for the task failed or was skipped."""

    code = "AI_UNAVAILABLE"


class AiQuotaExceeded(StratumError):
    """The workspace used its monthly AI tokens or cost, and no free provider may answer."""

    code = "AI_QUOTA_EXCEEDED"


class InvalidModelOutput(StratumError):
    """A model answered something that is not a valid command or answer: never a proposal."""

    code = "INVALID_MODEL_OUTPUT"


class CommandNotUnderstood(StratumError):
    """The agent could not turn the text into proposal actions (``suggestions`` shows phrasings)."""

    code = "COMMAND_NOT_UNDERSTOOD"


__all__ = [
    "AiProviderFailed",
    "AiQuotaExceeded",
    "AiUnavailable",
    "CommandNotUnderstood",
    "Conflict",
    "DomainError",
    "EmbeddingFailed",
    "Forbidden",
    "IdempotencyKeyReused",
    "IdempotencyRace",
    "InvalidModelOutput",
    "InvalidTestReport",
    "KillSwitchEngaged",
    "MalformedXml",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionRequired",
    "ProjectionLag",
    "ProposalStale",
    "RollbackConflict",
    "RuleViolation",
    "ScopeTooLarge",
    "StratumError",
    "TestRunConflict",
    "Unauthorized",
    "UnknownEventType",
    "UnsafeXml",
    "UnsupportedMediaType",
    "VersionConflict",
]
