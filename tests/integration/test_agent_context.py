"""The agent's context: live entities first, retrieved chunks checked against them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.integration.support import connect, ctx, head, scalar, tracking, wait_until
from tests.integration.test_rag_index import _index_all, index_acme

QUESTION = "when is an account locked after failed logins?"


@pytest.fixture
def indexed(container: Any) -> Any:
    return index_acme(container)


def _lockout_chunk(context: Any, spec_id: UUID) -> Any:
    found = [c for c in context.chunks if c.entity_id == spec_id and "lock" in c.text.lower()]
    assert found, [c.text for c in context.chunks]
    return found[0]


def test_a_fresh_index_gives_chunks_that_are_not_stale(indexed: Any) -> None:
    container, ws, auth, _, _ = indexed
    context = container.agent.context.build(ws, QUESTION)
    chunk = _lockout_chunk(context, auth.id)
    assert not chunk.stale and context.notes == ()
    assert [c.chunk_id for c in context.chunks] == [
        c.chunk_id for c in sorted(context.chunks, key=lambda c: (-c.score, c.chunk_id))
    ]


def test_the_same_text_and_state_always_give_the_same_context(indexed: Any) -> None:
    container, ws, _, _, _ = indexed
    first = container.agent.context.build(ws, QUESTION)
    assert all(container.agent.context.build(ws, QUESTION) == first for _ in range(3))


def test_a_chunk_behind_its_spec_is_replaced_by_the_live_text_flagged_and_requeued(indexed: Any) -> None:
    container, ws, auth, _, _ = indexed
    revised = auth.body.replace("15 minutes after five failed", "30 minutes after three failed")
    spec, _ = container.specs.update(ctx(), ws, auth.id, auth.version, body=revised)
    # Nothing re-indexes yet: the index still says 15 minutes.
    context = container.agent.context.build(ws, QUESTION)
    chunk = _lockout_chunk(context, auth.id)
    assert chunk.stale
    assert "30 minutes after three failed" in chunk.text and "15 minutes" not in chunk.text
    assert any("out of date" in n for n in context.notes)
    with connect(container.url) as conn:
        assert scalar(conn, "SELECT bool_and(stale) FROM rag.rag_document WHERE entity_id = %s", (auth.id,))
        job = conn.execute(
            "SELECT status, entity_version FROM rag_jobs.rag_index_job WHERE entity_id = %s", (auth.id,)
        ).fetchone()
    assert job == ("pending", spec.version)
    # The worker catches up; the chunk is then fresh and says what the spec says.
    _index_all(container)
    again = _lockout_chunk(container.agent.context.build(ws, QUESTION), auth.id)
    assert not again.stale and "30 minutes after three failed" in again.text


def test_a_chunk_whose_text_diverged_at_the_same_version_is_rewritten(indexed: Any) -> None:
    container, ws, auth, _, _ = indexed
    with connect(container.url) as conn:
        conn.execute(
            "UPDATE rag.rag_chunk c SET text = replace(c.text, '15 minutes', '99 minutes')"
            " FROM rag.rag_document d WHERE d.id = c.document_id AND d.entity_id = %s", (auth.id,),
        )
        assert scalar(conn, "SELECT status FROM rag_jobs.rag_index_job WHERE entity_id = %s", (auth.id,)) \
            == "done"
    chunk = _lockout_chunk(container.agent.context.build(ws, QUESTION), auth.id)
    assert chunk.stale and "15 minutes" in chunk.text and "99 minutes" not in chunk.text
    with connect(container.url) as conn:
        assert scalar(conn, "SELECT status FROM rag_jobs.rag_index_job WHERE entity_id = %s", (auth.id,)) \
            == "pending"
    assert _index_all(container) == 1
    with connect(container.url) as conn:
        assert scalar(conn, "SELECT count(*) FROM rag.rag_chunk WHERE text LIKE '%%99 minutes%%'") == 0
        flagged = "SELECT bool_or(stale) FROM rag.rag_document WHERE entity_id = %s"
        assert not scalar(conn, flagged, (auth.id,))
    assert not _lockout_chunk(container.agent.context.build(ws, QUESTION), auth.id).stale


def test_a_chunk_of_a_deleted_spec_is_dropped(indexed: Any) -> None:
    container, ws, auth, _, task = indexed
    container.tasks.delete(ctx(), ws, task.id, task.version)  # a spec with open tasks stays
    container.specs.delete(ctx(), ws, auth.id, auth.version)
    context = container.agent.context.build(ws, QUESTION)
    assert all(c.entity_id != auth.id for c in context.chunks)
    assert any("no longer exists" in n for n in context.notes)


def test_entities_the_text_names_are_involved_with_their_live_body(indexed: Any) -> None:
    container, ws, auth, billing, task = indexed
    text = 'add a criterion to FR-001 and look at "Implement lockout counter"'
    context = container.agent.context.build(ws, text)
    assert set(context.involved) == {billing.id, task.id}
    spec = context.spec(billing.id)
    assert spec is not None and spec.body == billing.body
    assert {r.uid for r in spec.requirements} == {"FR-001", "FR-002"}
    assert context.spec(auth.id) is not None and context.spec(auth.id).body is None  # type: ignore[union-attr]


def test_the_context_stays_within_its_token_budget(indexed: Any) -> None:
    container, ws, _, _, _ = indexed
    builder = container.agent.context
    small = type(builder)(builder.connect, builder.retriever, chunk_tokens=builder.chunk_tokens,
                          token_budget=60, chunks=8)
    context = small.build(ws, QUESTION)
    assert context.tokens_used <= 60
    assert len(context.chunks) < len(builder.build(ws, QUESTION).chunks)


def test_the_cached_directory_follows_every_change_of_specs_and_tasks(indexed: Any) -> None:
    container, ws, _, _, task = indexed
    build = container.agent.context.build
    assert build(ws, "look at Invoicing v2").involved == ()
    spec, _ = container.specs.create(ctx(), ws, "Invoicing v2", "# Invoicing v2\n")
    wait_core(container)
    assert build(ws, "look at Invoicing v2").involved == (spec.id,)
    container.specs.update(ctx(), ws, spec.id, spec.version, title="Invoicing v3")
    wait_core(container)
    assert build(ws, "look at Invoicing v2").involved == ()
    assert build(ws, "look at Invoicing v3").involved == (spec.id,)
    container.tasks.update(ctx(), ws, task.id, task.version, status="in_progress")
    wait_core(container)
    context = build(ws, "Implement lockout counter")
    assert context.task(task.id) is not None and context.task(task.id).status == "in_progress"  # type: ignore[union-attr]


def wait_core(container: Any) -> None:
    with connect(container.url) as conn:
        position = head(conn)
        wait_until(lambda: tracking(conn) >= position, 10, "the core view")
