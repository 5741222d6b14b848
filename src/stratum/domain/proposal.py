"""Proposal: a reviewable change to specs and tasks, applied all at once or not at all.

Whoever drafts it (a person, the agent, the scheduler, an API client) never mutates
entities through it directly: it is validated against the rules, approved by a
human (or a gate, for low-risk high-confidence changes), applied atomically with
every target entity, and can be rolled back from the pre-images it recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

from stratum.domain import lifecycle
from stratum.domain.actions import Action
from stratum.domain.errors import InvalidValue
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent
from stratum.domain.text import bounded_text, clean_line

MAX_TITLE = 300
MAX_SUMMARY = 20_000
MAX_ACTIONS = 1000

STATUSES: tuple[str, ...] = (
    "draft", "validated", "invalid", "approved", "rejected", "applied", "stale", "failed",
    "rolled_back",
)
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"validated", "invalid", "rejected", "stale"}),
    "validated": frozenset({"approved", "rejected", "invalid", "stale", "applied", "failed"}),
    "invalid": frozenset({"validated", "rejected", "stale"}),
    "approved": frozenset({"applied", "stale", "failed", "rejected", "invalid"}),
    "applied": frozenset({"rolled_back"}),
    "rejected": frozenset(),
    "stale": frozenset(),
    "failed": frozenset(),
    "rolled_back": frozenset(),
}
EXPLANATION_KEYS = ("reasoning_summary", "entities", "rag_chunk_ids", "rules_evaluated", "provenance")


def _explanation(raw: dict[str, Any] | None) -> dict[str, Any]:
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(EXPLANATION_KEYS))
    if unknown:
        raise InvalidValue("unknown explanation fields", field="explanation", unknown=unknown)
    return {
        "reasoning_summary": bounded_text(
            raw.get("reasoning_summary") or "", "reasoning_summary", MAX_SUMMARY
        ),
        "entities": list(raw.get("entities") or []),
        "rag_chunk_ids": list(raw.get("rag_chunk_ids") or []),
        "rules_evaluated": list(raw.get("rules_evaluated") or []),
        "provenance": dict(raw.get("provenance") or {}),
    }


class Transition(StratumEvent):
    """A lifecycle step; each records itself in the proposal's history."""

    to: ClassVar[str]

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.to
        aggregate.history.append(
            {"status": self.to, "actor": self.actor, "source": self.source,
             "at": self.timestamp.isoformat(), "version": self.originator_version,
             **self.detail()}
        )

    def detail(self) -> dict[str, Any]:
        return {}


class Proposal(StratumAggregate):
    def __init__(
        self,
        workspace_id: UUID,
        title: str,
        summary: str,
        confidence: float | None,
        explanation: dict[str, Any],
        actions: list[dict[str, Any]],
        risk: dict[str, Any],
        batch: dict[str, Any] | None,
        actor: str,
        source: str,
        timestamp: datetime,
    ) -> None:
        self.workspace_id = workspace_id
        self.title = title
        self.summary = summary
        self.confidence = confidence
        self.explanation = explanation
        self.actions = [Action.from_dict(a) for a in actions]
        self.risk = risk
        self.batch = batch
        self.proposer = actor
        self.source = source
        self.status = "draft"
        self.approvals: list[dict[str, Any]] = []
        self.violations: list[dict[str, Any]] = []
        self.stale_entities: list[dict[str, Any]] = []
        self.applied: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = [
            {"status": "draft", "actor": actor, "source": source, "at": timestamp.isoformat(),
             "version": 1}
        ]

    class Drafted(StratumCreated):
        title: str
        summary: str
        confidence: float | None
        explanation: dict[str, Any]
        actions: list[dict[str, Any]]
        risk: dict[str, Any]
        batch: dict[str, Any] | None

    @classmethod
    def draft(
        cls,
        workspace_id: UUID,
        meta: Meta,
        title: str,
        actions: list[Action],
        risk: dict[str, Any],
        summary: str = "",
        confidence: float | None = None,
        explanation: dict[str, Any] | None = None,
        batch: dict[str, Any] | None = None,
        proposal_id: UUID | None = None,
    ) -> Proposal:
        if not actions:
            raise InvalidValue("a proposal needs at least one action", field="actions")
        if len(actions) > MAX_ACTIONS:
            raise InvalidValue(f"at most {MAX_ACTIONS} actions", field="actions")
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            raise InvalidValue("confidence is between 0 and 1", field="confidence")
        return cls._create(
            cls.Drafted,
            id=proposal_id or uuid4(),
            title=clean_line(title, "title", MAX_TITLE),
            summary=bounded_text(summary, "summary", MAX_SUMMARY),
            confidence=confidence,
            explanation=_explanation(explanation),
            actions=[a.to_dict() for a in actions],
            risk=risk,
            batch=batch,
            **meta.stamp(workspace_id),
        )

    def _move(self, event: type[Transition], meta: Meta, **data: Any) -> None:
        if lifecycle.must_move("proposal", TRANSITIONS, self.status, event.to):
            self._emit(event, meta, **data)

    class Validated(Transition):
        to = "validated"
        rules_evaluated: list[str]

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.violations = []
            aggregate.explanation["rules_evaluated"] = list(self.rules_evaluated)

    def validate(self, rules_evaluated: list[str], meta: Meta) -> None:
        if self.status != "validated":
            self._move(self.Validated, meta, rules_evaluated=rules_evaluated)

    class Invalidated(Transition):
        to = "invalid"
        violations: list[dict[str, Any]]
        rules_evaluated: list[str]

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.violations = list(self.violations)
            aggregate.explanation["rules_evaluated"] = list(self.rules_evaluated)

        def detail(self) -> dict[str, Any]:
            return {"violations": self.violations}

    def invalidate(self, violations: list[dict[str, Any]], rules_evaluated: list[str], meta: Meta) -> None:
        if self.status != "invalid" or violations != self.violations:
            self._move_or_stay(self.Invalidated, meta, violations=violations, rules_evaluated=rules_evaluated)

    def _move_or_stay(self, event: type[Transition], meta: Meta, **data: Any) -> None:
        if self.status != event.to:
            lifecycle.must_move("proposal", TRANSITIONS, self.status, event.to)
        self._emit(event, meta, **data)

    class Approved(Transition):
        to = "approved"
        approver: str

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.approvals.append({"approver": self.approver, "at": self.timestamp.isoformat()})

    def approve(self, meta: Meta) -> None:
        self._move(self.Approved, meta, approver=meta.actor)

    class Rejected(Transition):
        to = "rejected"
        reason: str

        def detail(self) -> dict[str, Any]:
            return {"reason": self.reason}

    def reject(self, reason: str, meta: Meta) -> None:
        self._move(self.Rejected, meta, reason=bounded_text(reason, "reason", MAX_SUMMARY))

    class MarkedStale(Transition):
        to = "stale"
        stale: list[dict[str, Any]]

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.stale_entities = list(self.stale)

        def detail(self) -> dict[str, Any]:
            return {"stale": self.stale}

    def mark_stale(self, stale: list[dict[str, Any]], meta: Meta) -> None:
        self._move(self.MarkedStale, meta, stale=stale)

    class Failed(Transition):
        to = "failed"
        error: dict[str, Any]

        def detail(self) -> dict[str, Any]:
            return {"error": self.error}

    def fail(self, error: dict[str, Any], meta: Meta) -> None:
        self._move(self.Failed, meta, error=error)

    class Applied(Transition):
        """Carries each touched entity's pre-image: what a rollback restores."""

        to = "applied"
        gate: dict[str, Any]
        forced: bool
        # entity id -> {entity, created, version_before, version_after, before, after}
        touched: dict[str, dict[str, Any]]
        graph_before: dict[str, list[str]]

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.applied = {
                "gate": self.gate, "forced": self.forced, "touched": self.touched,
                "graph_before": self.graph_before,
            }

        def detail(self) -> dict[str, Any]:
            return {"gate": self.gate["name"], "forced": self.forced}

    def record_applied(
        self,
        gate: dict[str, Any],
        forced: bool,
        touched: dict[str, dict[str, Any]],
        graph_before: dict[str, list[str]],
        meta: Meta,
    ) -> None:
        self._move(self.Applied, meta, gate=gate, forced=forced, touched=touched,
                   graph_before=graph_before)

    class RolledBack(Transition):
        to = "rolled_back"

    def roll_back(self, meta: Meta) -> None:
        self._move(self.RolledBack, meta)

    @property
    def causation(self) -> str:
        """What events this proposal causes carry as their causation id."""
        return f"proposal:{self.id}"
