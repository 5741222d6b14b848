"""Embedding spend per workspace and calendar month, against its budget.

The indexer asks ``admit`` before it sends a batch of cache misses to the model. Each
text is charged to a workspace whose documents need it (one that still has budget, if
any: a text is embedded once, whoever else shares it). Its tokens are added to the
month's row with one upsert, under the row's lock, so concurrent workers add up exactly
and each sees the total its own batch produced; whoever sees a threshold reached writes
its event (domain/rag/budget.py: the aggregate makes it once however many try) and one
log line. ``notified`` remembers what the log holds, so an event lost with a crashed
worker is written by the next batch of that workspace.

At 100 % the workspace's texts not in the cache wait (the batch that crossed still
went through): their documents keep the version already indexed, and their jobs stay
pending with an ``EmbeddingBudgetExhausted`` error, tried again every
``retry_seconds``, until the month ends or the budget grows. Documents whose texts are
all cached still index. Tokens are charged when sent: a model call that then fails has
been counted (its retry is counted again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from stratum.application.embedding_budget import EmbeddingBudgets
from stratum.domain.rag.budget import EXHAUSTED, level, month_of, percent
from stratum.infrastructure.postgres.rag_store import DocumentRow, RagStore

log = logging.getLogger(__name__)

ERROR = "EmbeddingBudgetExhausted"


class EmbeddingBudgetExhausted(RuntimeError):
    """New texts of a workspace wait: its embedding budget for the month is spent."""


def _first_day(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


class EmbeddingSpend:
    def __init__(
        self, store: RagStore, budgets: EmbeddingBudgets, *, token_budget: int = 0,
        workspace_budgets: Mapping[UUID, int] | None = None, price_per_1k_tokens: float = 0.0,
        retry_seconds: float = 900.0, clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.budgets = budgets
        self.token_budget = token_budget
        self.workspace_budgets = dict(workspace_budgets or {})
        self.price_per_1k_tokens = price_per_1k_tokens
        self.retry_seconds = retry_seconds
        self.clock = clock or (lambda: datetime.now(UTC))
        # Entities whose documents wait for budget, until their job (or rebuild) hears of it.
        self._deferred: dict[UUID, str] = {}
        self._lock = threading.Lock()

    def budget_of(self, workspace_id: UUID) -> int:
        return self.workspace_budgets.get(workspace_id, self.token_budget)

    # ---- the indexer's hook ---------------------------------------------------------------

    def admit(self, documents: Sequence[DocumentRow], missing: Sequence[bytes]) -> list[bytes]:
        """Of the ``missing`` texts (content hashes) of ``documents``, those that may be sent to
        the model now; their tokens are charged to the month's spend."""
        with self._lock:  # a new attempt: what an earlier one held back is decided again
            for d in documents:
                self._deferred.pop(d.entity_id, None)
        if not missing:
            return list(missing)
        wanted = set(missing)
        owners: dict[bytes, list[UUID]] = {}
        tokens: dict[bytes, int] = {}
        needs: dict[UUID, tuple[DocumentRow, set[bytes]]] = {}
        for d in documents:
            if d.tier == "cold":
                continue
            for c in d.chunks:
                if c.content_hash in wanted:
                    ws = owners.setdefault(c.content_hash, [])
                    if d.workspace_id not in ws:
                        ws.append(d.workspace_id)
                    tokens[c.content_hash] = c.token_count
                    needs.setdefault(d.entity_id, (d, set()))[1].add(c.content_hash)
        month = month_of(self.clock())
        exhausted = self._exhausted({w for ws in owners.values() for w in ws}, month)
        admitted: list[bytes] = []
        charge: dict[UUID, list[int]] = {}
        for h in missing:
            payer = next((w for w in owners.get(h, ()) if w not in exhausted), None)
            if payer is None and h in owners:
                continue
            admitted.append(h)
            if payer is not None:
                spent = charge.setdefault(payer, [0, 0])
                spent[0] += tokens[h]
                spent[1] += 1
        waiting = wanted.difference(admitted)
        if waiting:
            with self._lock:
                for entity_id, (d, hashes) in needs.items():
                    if hashes & waiting:
                        self._deferred[entity_id] = (
                            f"{ERROR}: the embedding budget of workspace {d.workspace_id} for {month}"
                            f" ({self.budget_of(d.workspace_id)} tokens) is spent; its new texts wait"
                            " for the next month or a larger budget"
                        )
        if charge:
            self._charge(month, charge)
        return admitted

    def waiting(self, entity_ids: Collection[UUID]) -> set[UUID]:
        """Which of these entities ``admit`` held back (without forgetting it)."""
        with self._lock:
            return {e for e in entity_ids if e in self._deferred}

    def take_deferred(self, entity_ids: Sequence[UUID]) -> dict[UUID, str]:
        """Which of these entities ``admit`` held back since last asked, and why."""
        with self._lock:
            return {e: self._deferred.pop(e) for e in entity_ids if e in self._deferred}

    def defer_jobs(self, deferred: Mapping[UUID, str]) -> int:
        """Keep these entities' jobs pending (not failed) with the reason, and hand them out
        again only after ``retry_seconds``."""
        if not deferred:
            return 0
        with self.store.connection() as conn:
            return conn.execute(
                "UPDATE rag_jobs.rag_index_job j SET status = 'pending', attempts = 0, error = d.error,"
                " leased_until = NULL, dispatched_at = now() + make_interval(secs => %s), updated_at = now()"
                " FROM unnest(%s::uuid[], %s::text[]) AS d(entity_id, error)"
                " WHERE j.entity_id = d.entity_id AND j.status IN ('pending', 'running', 'failed')",
                (self.retry_seconds, list(deferred), list(deferred.values())),
            ).rowcount

    # ---- reads ------------------------------------------------------------------------------

    def status(self, workspace_id: UUID) -> dict[str, Any]:
        month = month_of(self.clock())
        budget = self.budget_of(workspace_id)
        with self.store.connection() as conn:
            row = conn.execute(
                "SELECT (SELECT tokens FROM rag.rag_embedding_spend WHERE workspace_id = %(ws)s"
                "  AND month = %(m)s) AS tokens,"
                " (SELECT cost FROM rag.rag_embedding_spend WHERE workspace_id = %(ws)s AND month = %(m)s)"
                "  AS cost,"
                " (SELECT count(*) FROM rag_jobs.rag_index_job WHERE workspace_id = %(ws)s"
                "  AND status = 'pending' AND error LIKE %(error)s) AS deferred",
                {"ws": workspace_id, "m": _first_day(month), "error": f"{ERROR}:%"},
            ).fetchone()
        assert row is not None
        used = int(row["tokens"] or 0)
        return {
            "month": month, "tokens_used": used, "token_budget": budget,
            "cost_used": round(float(row["cost"] or 0), 6), "percent": percent(used, budget),
            "exhausted": level(used, budget) == EXHAUSTED, "deferred_jobs": int(row["deferred"]),
        }

    # ---- the month's rows ---------------------------------------------------------------------

    def _exhausted(self, workspace_ids: set[UUID], month: str) -> set[UUID]:
        limited = sorted(w for w in workspace_ids if self.budget_of(w) > 0)
        if not limited:
            return set()
        with self.store.connection() as conn:
            rows = conn.execute(
                "SELECT workspace_id, tokens FROM rag.rag_embedding_spend"
                " WHERE month = %s AND workspace_id = ANY(%s)",
                (_first_day(month), limited),
            ).fetchall()
        return {
            r["workspace_id"] for r in rows
            if level(int(r["tokens"]), self.budget_of(r["workspace_id"])) == EXHAUSTED
        }

    def _charge(self, month: str, charge: Mapping[UUID, list[int]]) -> None:
        ids = sorted(charge)  # one lock order for every worker: no deadlock between two batches
        price = self.price_per_1k_tokens
        with self.store.connection() as conn:
            rows = conn.execute(
                "INSERT INTO rag.rag_embedding_spend AS s (workspace_id, month, tokens, texts, cost)"
                " SELECT w, %s, t, n, t / 1000.0 * %s::numeric"
                " FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[]) AS c(w, t, n)"
                " ON CONFLICT (workspace_id, month) DO UPDATE SET tokens = s.tokens + EXCLUDED.tokens,"
                "  texts = s.texts + EXCLUDED.texts, cost = s.cost + EXCLUDED.cost, updated_at = now()"
                " RETURNING workspace_id, tokens, cost, notified",
                (_first_day(month), price, ids, [charge[w][0] for w in ids], [charge[w][1] for w in ids]),
            ).fetchall()
        for r in rows:
            ws, used = r["workspace_id"], int(r["tokens"])
            budget = self.budget_of(ws)
            reached = level(used, budget)
            if reached > int(r["notified"]):
                before = used - charge[ws][0]
                self._notify(ws, month, reached, budget, before, used, float(r["cost"]))

    def _notify(self, workspace_id: UUID, month: str, reached: int, budget: int, before: int, used: int,
                cost: float) -> None:
        try:
            names = self.budgets.reached(workspace_id, month, reached, token_budget=budget, tokens_used=used,
                                         cost_used=round(cost, 6))
        except Exception:
            # Indexing goes on; the next batch of this workspace tries again.
            log.exception("could not record the embedding budget of workspace %s for %s", workspace_id, month)
            return
        try:
            with self.store.connection() as conn:
                conn.execute(
                    "UPDATE rag.rag_embedding_spend SET notified = greatest(notified, %s)"
                    " WHERE workspace_id = %s AND month = %s",
                    (reached, workspace_id, _first_day(month)),
                )
        except Exception:
            # The next batch tries again and finds the events already in the log.
            log.exception("could not note the embedding budget alerts of workspace %s", workspace_id)
        for name in names:
            log.warning(
                "embedding budget of workspace %s for %s: %s (%d of %d tokens, %s %%)",
                workspace_id, month, name, used, budget, percent(used, budget),
                extra={"event": f"EmbeddingBudget.{name}", "workspace_id": str(workspace_id), "month": month,
                       "tokens_before": before, "tokens_used": used, "token_budget": budget,
                       "percent": percent(used, budget), "cost_used": round(cost, 6)},
            )
