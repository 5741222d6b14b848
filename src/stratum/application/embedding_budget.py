"""Commands on embedding budgets: record that a workspace-month's spend reached a threshold."""

from __future__ import annotations

from uuid import UUID

from stratum.application.store import Ctx, EventLog
from stratum.domain.events import Meta
from stratum.domain.rag.budget import EXHAUSTED, WARNED, EmbeddingBudget, budget_id
from stratum.errors import Conflict, NotFound, VersionConflict

ACTOR = "system:rag-budget"
# Two workers that see the same threshold race to create the aggregate: the loser reloads
# and finds nothing left to record.
ATTEMPTS = 3


class EmbeddingBudgets:
    def __init__(self, log: EventLog) -> None:
        self.log = log

    def reached(
        self, workspace_id: UUID, month: str, reached: int, *, token_budget: int, tokens_used: int,
        cost_used: float,
    ) -> list[str]:
        """Record every threshold up to ``reached`` (WARNED or EXHAUSTED) that the log does not
        hold yet; return the names of the events this call appended (none if others did)."""
        meta = Meta(actor=ACTOR, source="system", correlation_id=f"embedding-budget:{workspace_id}:{month}")
        # Not guarded by kill switches: the spend has happened; refusing its record would hide it.
        ctx = Ctx(meta, guarded=False)
        for attempt in range(ATTEMPTS):
            try:
                budget = self.log.load(EmbeddingBudget, budget_id(workspace_id, month), workspace_id)
            except NotFound:
                if reached < WARNED:
                    return []
                budget = EmbeddingBudget.cross(
                    workspace_id, month, token_budget, tokens_used, cost_used, meta
                )
            if reached >= EXHAUSTED:
                budget.exhaust(token_budget, tokens_used, cost_used, meta)
            names = [type(e).__name__ for e in budget.pending_events]
            if not names:
                return []
            try:
                self.log.commit(ctx, budget)
            except (VersionConflict, Conflict):
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            return names
        raise AssertionError("unreachable")
