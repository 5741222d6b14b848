"""The monthly embedding budget of a workspace: spend counted exactly, alerts logged once, and
what happens when it is spent."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from stratum.application.embedding_budget import EmbeddingBudgets
from stratum.domain.rag.budget import budget_id
from stratum.infrastructure.postgres.rag_budget import EmbeddingBudgetExhausted, EmbeddingSpend
from stratum.infrastructure.postgres.rag_store import ChunkRow, DocumentRow
from tests.integration.support import connect, ctx, scalar
from tests.integration.test_rag_index import AUTH, BILLING, _caught_up, _index_all

MAY = datetime(2031, 5, 17, 12, tzinfo=UTC)
JUNE = datetime(2031, 6, 1, 0, 0, 1, tzinfo=UTC)
LOGGER = "stratum.infrastructure.postgres.rag_budget"
NOTES = "# Notes\n\nThe team SHALL review the product roadmap every quarter with the customers.\n"
CROSSED = "stratum.domain.rag.budget:EmbeddingBudget.ThresholdCrossed"
EXHAUSTED = "stratum.domain.rag.budget:EmbeddingBudget.Exhausted"


def _document(ws: UUID, tokens: int) -> DocumentRow:
    text = uuid.uuid4().hex
    chunk = ChunkRow(ordinal=0, requirement_uid=None, heading_path=("T",), text=text, embed_text=text,
                     content_hash=hashlib.sha256(text.encode()).digest(), token_count=tokens)
    return DocumentRow(workspace_id=ws, entity_type="spec", entity_id=uuid.uuid4(), entity_version=1,
                       spec_id=None, content_hash=chunk.content_hash, tier="hot", position=0, redactions=0,
                       chunks=(chunk,))


def _events(url: str, ws: UUID, month: str) -> list[str]:
    with connect(url) as conn:
        rows = conn.execute("SELECT topic FROM event_log WHERE originator_id = %s"
                            " ORDER BY originator_version", (budget_id(ws, month),)).fetchall()
    return [r[0] for r in rows]


def _alerts(caplog: Any) -> list[str]:
    return [r.event for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


def test_concurrent_workers_cross_each_threshold_once(container: Any, caplog: Any) -> None:
    ws, _ = container.workspaces.create(ctx(), "Acme")
    spend = EmbeddingSpend(container.rag.store, EmbeddingBudgets(container.log), token_budget=1000,
                           price_per_1k_tokens=0.02, clock=lambda: MAY)
    start = threading.Barrier(8)
    admitted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        start.wait()
        for _ in range(25):
            document = _document(ws.id, 10)
            ok = spend.admit([document], [document.chunks[0].content_hash])
            with lock:
                admitted.append(len(ok))

    caplog.set_level(logging.WARNING, logger=LOGGER)
    spend.status(ws.id)  # opens the store's pool (its lazy creation is not thread-safe)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # 200 texts of 10 tokens asked for; a batch is let through while the month is not spent
    # (so a few that raced the one that spent it pass too), none after.
    tokens = 10 * sum(admitted)
    assert 1000 <= tokens < 1000 + 8 * 10
    assert _events(container.url, ws.id, "2031-05") == [CROSSED, EXHAUSTED]
    assert sorted(_alerts(caplog)) == ["EmbeddingBudget.Exhausted", "EmbeddingBudget.ThresholdCrossed"]
    crossed = next(r for r in caplog.records if getattr(r, "event", "") == "EmbeddingBudget.ThresholdCrossed")
    assert crossed.workspace_id == str(ws.id) and crossed.month == "2031-05" and crossed.token_budget == 1000
    assert crossed.tokens_before < crossed.tokens_used and 800 <= crossed.tokens_used < 1000 + 80
    with connect(container.url) as conn:
        row = conn.execute("SELECT tokens, texts, cost, notified FROM rag.rag_embedding_spend"
                           " WHERE workspace_id = %s", (ws.id,)).fetchone()
    assert row is not None
    assert (row[0], row[1], row[3]) == (tokens, sum(admitted), 2)
    assert float(row[2]) == pytest.approx(tokens / 1000 * 0.02)
    status = spend.status(ws.id)
    assert status["month"] == "2031-05" and status["exhausted"] and status["tokens_used"] == tokens
    # Another workspace is not held back by this one's budget.
    other, _ = container.workspaces.create(ctx(), "Other")
    document = _document(other.id, 10)
    assert spend.admit([document], [document.chunks[0].content_hash]) == [document.chunks[0].content_hash]


def test_a_lost_alert_is_written_by_the_next_batch(container: Any, caplog: Any) -> None:
    ws, _ = container.workspaces.create(ctx(), "Acme")
    spend = EmbeddingSpend(container.rag.store, EmbeddingBudgets(container.log), token_budget=100,
                           clock=lambda: MAY)
    reached = spend.budgets.reached

    def crash(*args: Any, **kwargs: Any) -> list[str]:
        raise ConnectionError("the worker lost its database")

    spend.budgets.reached = crash  # type: ignore[method-assign]
    document = _document(ws.id, 85)
    spend.admit([document], [document.chunks[0].content_hash])
    assert _events(container.url, ws.id, "2031-05") == []
    spend.budgets.reached = reached  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING, logger=LOGGER)
    document = _document(ws.id, 1)
    spend.admit([document], [document.chunks[0].content_hash])
    assert _events(container.url, ws.id, "2031-05") == [CROSSED]
    assert _alerts(caplog) == ["EmbeddingBudget.ThresholdCrossed"]


def _pending(url: str) -> list[UUID]:
    with connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT entity_id FROM rag_jobs.rag_index_job WHERE status = 'pending'").fetchall()]


def test_status_shows_the_months_spend(build_container: Any) -> None:
    from fastapi.testclient import TestClient

    from stratum.api.app import create_app

    container = build_container(rag_price_per_1k_tokens={"all-MiniLM-L6-v2": 0.1},
                                rag_monthly_embedding_token_budget=100_000)
    container.start_projections()
    ws, _ = container.workspaces.create(ctx(), "Acme")
    container.specs.create(ctx(), ws.id, "Auth", AUTH)
    container.specs.create(ctx(), ws.id, "Billing", BILLING)
    assert _index_all(container) == 2
    with connect(container.url) as conn:
        embedded = scalar(conn, "SELECT sum(t) FROM (SELECT DISTINCT ON (content_hash) token_count AS t"
                          " FROM rag.rag_chunk WHERE workspace_id = %s) x", (ws.id,))
    _, token = container.tokens.create(None, ["admin"], "tests")
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        r = client.get(f"/v1/workspaces/{ws.id}/rag/status", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["budget"] == {
        "month": datetime.now(UTC).strftime("%Y-%m"), "tokens_used": embedded, "token_budget": 100_000,
        "cost_used": pytest.approx(embedded / 1000 * 0.1), "percent": round(100 * embedded / 100_000, 2),
        "exhausted": False, "deferred_jobs": 0,
    }


def test_a_spent_budget_defers_new_texts_until_next_month(build_container: Any, caplog: Any) -> None:
    # Auth's texts are 184 tokens (past 80 %), Billing's 75 more (past 100 %).
    container = build_container(rag_monthly_embedding_token_budget=220)
    rag = container.rag
    month = [MAY]
    rag.spend.clock = lambda: month[0]
    container.start_projections()
    ws, _ = container.workspaces.create(ctx(), "Acme")
    caplog.set_level(logging.WARNING, logger=LOGGER)
    auth, _ = container.specs.create(ctx(), ws.id, "Auth", AUTH)
    assert _index_all(container) == 1
    assert _events(container.url, ws.id, "2031-05") == [CROSSED]
    billing, _ = container.specs.create(ctx(), ws.id, "Billing", BILLING)
    assert _index_all(container) == 1  # the batch that spends the budget goes through
    assert _events(container.url, ws.id, "2031-05") == [CROSSED, EXHAUSTED]
    assert _alerts(caplog) == ["EmbeddingBudget.ThresholdCrossed", "EmbeddingBudget.Exhausted"]

    # New texts wait; texts already embedded (the same spec again) still index.
    notes, _ = container.specs.create(ctx(), ws.id, "Notes", NOTES)
    again, _ = container.specs.create(ctx(), ws.id, "Auth", AUTH)
    _caught_up(container)
    assert rag.run_jobs(_pending(container.url)) == 1
    # Held back, not failed: no write was tried for it, so nothing logged an error.
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    with connect(container.url) as conn:
        job = conn.execute("SELECT status, attempts, error, dispatched_at > now() FROM rag_jobs.rag_index_job"
                           " WHERE entity_id = %s", (notes.id,)).fetchone()
        indexed = {r[0] for r in conn.execute("SELECT entity_id FROM rag.rag_document").fetchall()}
    assert job is not None and job[0] == "pending" and job[1] == 0 and job[3]
    assert job[2].startswith("EmbeddingBudgetExhausted: the embedding budget of workspace")
    assert indexed == {auth.id, billing.id, again.id}
    assert notes.id not in rag.store.dispatchable()  # not handed out again before retry_seconds
    status = rag.status(ws.id)
    assert status["budget"]["exhausted"] and status["budget"]["deferred_jobs"] == 1
    assert status["pending_jobs"] == 1

    # A rebuild that needs new texts waits too, and readers keep the live generation.
    with connect(container.url) as conn:
        conn.execute("DELETE FROM rag.rag_embedding_cache")
        live = scalar(conn, "SELECT sum(t) FROM (SELECT DISTINCT ON (content_hash) token_count AS t"
                      " FROM rag.rag_chunk WHERE workspace_id = %s) x", (ws.id,))
    assert rag.start_rebuild(ws.id).estimated_tokens == live
    with pytest.raises(EmbeddingBudgetExhausted):
        rag.run_rebuild(ws.id, 2)
    assert (rag.status(ws.id)["generation"], rag.status(ws.id)["building"]) == (1, 2)

    # A new month: the deferred job and the rebuild go through (and alert again, once each).
    month[0] = JUNE
    assert rag.run_jobs([notes.id]) == 1
    assert rag.run_rebuild(ws.id, 2)
    status = rag.status(ws.id)
    assert status["generation"] == 2 and status["pending_jobs"] == 0
    assert status["budget"]["month"] == "2031-06" and status["budget"]["deferred_jobs"] == 0
    assert _events(container.url, ws.id, "2031-05") == [CROSSED, EXHAUSTED]
    assert _events(container.url, ws.id, "2031-06") == [CROSSED, EXHAUSTED]
    assert len(_alerts(caplog)) == 4
    hits = rag.search(ws.id, "product roadmap quarter", mode="keyword")["hits"]
    assert hits[0]["spec_id"] == str(notes.id)


def test_a_larger_budget_lets_deferred_texts_through(build_container: Any) -> None:
    container = build_container(rag_monthly_embedding_token_budget=60)
    rag = container.rag
    container.start_projections()
    ws, _ = container.workspaces.create(ctx(), "Acme")
    container.specs.create(ctx(), ws.id, "Auth", AUTH)
    assert _index_all(container) == 1
    billing, _ = container.specs.create(ctx(), ws.id, "Billing", BILLING)
    _caught_up(container)
    assert rag.run_jobs([billing.id]) == 0
    rag.spend.workspace_budgets[ws.id] = 10_000  # as STRATUM_RAG_WORKSPACE_EMBEDDING_TOKEN_BUDGETS says
    assert rag.run_jobs([billing.id]) == 1
    assert rag.status(ws.id)["budget"]["exhausted"] is False
