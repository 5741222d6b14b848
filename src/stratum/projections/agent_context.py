"""AgentContextBuilder: what the agent may see of a workspace, live read models first.

Deterministic: the same view state, index state and text give the same context, in the
same order (involved entities by kind, title and id; chunks by score, then chunk id).

Every retrieved chunk is checked against its live entity: the entity is chunked again
exactly as the indexer does (domain/rag/document.py) and the chunk's text hash compared
with the live chunk's. On divergence the live text wins, the chunk is marked stale in the
answer and in the index, and the entity is queued for re-indexing. So the agent never
cites text the workspace no longer says.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from psycopg import Connection

from stratum.domain.agent.context import AgentContext, ContextChunk, RequirementRef, SpecRef, TaskRef
from stratum.domain.rag.chunker import Chunk
from stratum.domain.rag.document import spec_document, task_document
from stratum.domain.rag.tokens import estimate_tokens
from stratum.ports import Retriever

log = logging.getLogger("stratum.agent.context")
Row = dict[str, Any]
UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
QUOTES = "\"'\u201c\u201d\u2018\u2019\u00ab\u00bb"  # straight, curly and angle quotes
QUOTED_RE = re.compile(f"[{QUOTES}]([^{QUOTES}]{{2,200}})[{QUOTES}]")
MIN_TITLE = 4  # shorter titles match too much prose to count as named
MAX_INVOLVED = 20

SPECS = """
SELECT id, title, status, version, created_position,
       (SELECT coalesce(jsonb_agg(jsonb_build_array(r->>'uid', r->>'title')), '[]'::jsonb)
        FROM jsonb_array_elements(s.requirements) r) AS requirements
FROM core.spec s WHERE workspace_id = %s AND NOT deleted ORDER BY created_position
"""
TASKS = """
SELECT id, title, status, version, spec_id, requirement_uids, depends_on
FROM core.task WHERE workspace_id = %s AND NOT deleted ORDER BY created_position
"""
SIGNATURE = """
SELECT (SELECT count(*) FROM core.spec WHERE workspace_id = %s AND NOT deleted) AS specs,
       (SELECT coalesce(sum(version), 0) FROM core.spec WHERE workspace_id = %s) AS spec_versions,
       (SELECT count(*) FROM core.task WHERE workspace_id = %s AND NOT deleted) AS tasks,
       (SELECT coalesce(sum(version), 0) FROM core.task WHERE workspace_id = %s) AS task_versions
"""
CACHED_WORKSPACES = 64
_Directory = tuple[Any, tuple[SpecRef, ...], tuple[TaskRef, ...], tuple["_Name", ...]]
LIVE_SPECS = "SELECT id, title, body, version, requirements FROM core.spec WHERE workspace_id = %s" \
    " AND id = ANY(%s) AND NOT deleted"
LIVE_TASKS = "SELECT id, title, description, version FROM core.task WHERE workspace_id = %s" \
    " AND id = ANY(%s) AND NOT deleted"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


class AgentContextBuilder:
    def __init__(
        self, connect: Any, retriever: Retriever | None, *, chunk_tokens: int, token_budget: int,
        chunks: int,
    ) -> None:
        self.connect = connect  # () -> a pooled connection context manager (dict rows)
        self.retriever = retriever
        self.chunk_tokens = chunk_tokens
        self.token_budget = token_budget
        self.chunks = chunks
        self._cache: OrderedDict[UUID, _Directory] = OrderedDict()
        self._lock = threading.Lock()

    def build(self, ws: UUID, text: str, *, chunks: int | None = None) -> AgentContext:
        wanted = self.chunks if chunks is None else chunks
        hits = self._search(ws, text, wanted)
        hit_ids = {kind: [UUID(h["entity_id"]) for h in hits if h["entity_type"] == kind]
                   for kind in ("spec", "task")}
        with self.connect() as conn:  # one connection, one read of each live entity
            specs, tasks, names = self._directory(conn, ws)
            involved = _involved(text, names)
            named = {s.id for s in specs}.intersection(involved)
            live = {
                **self._live(conn, LIVE_SPECS, ws, sorted(named.union(hit_ids["spec"]), key=str)),
                **self._live(conn, LIVE_TASKS, ws, hit_ids["task"]),
            }
        specs = [self._with_body(s, live[s.id]) if s.id in named and s.id in live else s for s in specs]
        chunk_list, notes = self._checked(ws, hits, live)
        context = AgentContext(
            workspace_id=ws, specs=tuple(specs), tasks=tuple(tasks), involved=tuple(involved),
            chunks=(), token_budget=self.token_budget, notes=tuple(notes),
        )
        return _within_budget(context, chunk_list)

    # -- the directory -------------------------------------------------------------------

    def _directory(
        self, conn: Connection[Any], ws: UUID
    ) -> tuple[list[SpecRef], list[TaskRef], tuple[_Name, ...]]:
        """Every live spec and task, by title; cached until one of them changes.

        The cache key is each table's row count and sum of versions: every event on an entity
        raises its version, so any change (a delete too) changes the sum, whatever the clocks.
        """
        row = conn.execute(SIGNATURE, (ws, ws, ws, ws)).fetchone()
        key = tuple(row.values()) if isinstance(row, dict) else tuple(row or ())
        with self._lock:
            cached = self._cache.get(ws)
            if cached is not None and cached[0] == key:
                self._cache.move_to_end(ws)
                return list(cached[1]), list(cached[2]), cached[3]
        specs = [self._spec_ref(r) for r in conn.execute(SPECS, (ws,)).fetchall()]
        tasks = [self._task_ref(r) for r in conn.execute(TASKS, (ws,)).fetchall()]
        names = _names(specs, tasks)
        with self._lock:
            self._cache[ws] = (key, tuple(specs), tuple(tasks), names)
            self._cache.move_to_end(ws)
            while len(self._cache) > CACHED_WORKSPACES:
                self._cache.popitem(last=False)
        return specs, tasks, names

    @staticmethod
    def _spec_ref(r: Row) -> SpecRef:
        requirements = tuple(RequirementRef(uid, title or "") for uid, title in r["requirements"])
        return SpecRef(r["id"], r["title"], r["status"], r["version"], requirements)

    @staticmethod
    def _task_ref(r: Row) -> TaskRef:
        return TaskRef(
            r["id"], r["title"], r["status"], r["version"], r["spec_id"], tuple(r["requirement_uids"]),
            tuple(r["depends_on"]),
        )

    @staticmethod
    def _live(conn: Connection[Any], sql: str, ws: UUID, ids: Sequence[UUID]) -> dict[UUID, Row]:
        if not ids:
            return {}
        return {r["id"]: r for r in conn.execute(sql, (ws, list(ids))).fetchall()}

    @staticmethod
    def _with_body(spec: SpecRef, live: Row) -> SpecRef:
        requirements = tuple(
            RequirementRef(
                r["uid"], r.get("title") or "", r.get("text") or "",
                tuple(c.get("text") or c.get("title") or "" for c in r.get("acceptance_criteria") or ()),
            )
            for r in live["requirements"]
        )
        return replace(spec, body=live["body"], requirements=requirements)

    # -- retrieval and the staleness check ---------------------------------------------

    def _search(self, ws: UUID, text: str, k: int) -> list[Row]:
        if self.retriever is None or k <= 0 or not text.strip():
            return []
        try:
            return list(self.retriever.search(ws, text, k=k)["hits"])
        except Exception:  # retrieval is an aid: the agent still answers from live entities
            log.warning("agent context: retrieval failed", exc_info=True, extra={"workspace_id": str(ws)})
            return []

    def _checked(
        self, ws: UUID, hits: list[Row], live: dict[UUID, Row]
    ) -> tuple[list[ContextChunk], list[str]]:
        documents: dict[UUID, tuple[Chunk, ...]] = {}
        out: list[ContextChunk] = []
        notes: list[str] = []
        stale: dict[UUID, tuple[str, UUID, int]] = {}
        for h in hits:
            entity_id = UUID(h["entity_id"])
            row = live.get(entity_id)
            if row is None:  # deleted since it was indexed: nothing live to say
                notes.append(f"chunk {h['chunk_id']}: its {h['entity_type']} no longer exists")
                continue
            if entity_id not in documents:
                documents[entity_id] = self._document(h["entity_type"], row)
            current = _matching(documents[entity_id], h)
            chunk = ContextChunk(
                h["chunk_id"], h["entity_type"], entity_id, h["requirement_uid"], h["heading"], h["text"],
                float(h["score"]),
            )
            if current is not None and _digest(current.text) == _digest(h["text"]):
                out.append(chunk)
                continue
            stale[entity_id] = (h["entity_type"], entity_id, int(row["version"]))
            if current is None:
                notes.append(f"chunk {h['chunk_id']}: its section is gone from the live {h['entity_type']}")
                continue
            notes.append(f"chunk {h['chunk_id']}: out of date; the live text is used")
            out.append(replace(chunk, text=current.text, stale=True))
        if stale and self.retriever is not None:
            try:
                self.retriever.mark_stale(ws, sorted(stale.values(), key=lambda s: str(s[1])))
            except Exception:  # the answer is right either way; the next search re-checks
                log.warning("agent context: marking stale chunks failed", exc_info=True)
        return out, notes

    def _document(self, kind: str, row: Row) -> tuple[Chunk, ...]:
        if kind == "spec":
            uids = [r["uid"] for r in row["requirements"]]
            return spec_document(row["title"], row["body"], uids, self.chunk_tokens).chunks
        return task_document(row["title"], row["description"], self.chunk_tokens).chunks


def _matching(chunks: Sequence[Chunk], hit: Row) -> Chunk | None:
    """The live chunk in the hit's place: same requirement and heading, else same text."""
    same_place = [
        c for c in chunks if c.requirement_uid == hit["requirement_uid"] and c.heading == hit["heading"]
    ]
    digest = _digest(hit["text"])
    for c in same_place:
        if _digest(c.text) == digest:
            return c
    if same_place:
        return same_place[0]
    return next((c for c in chunks if _digest(c.text) == digest), None)


def _named(title: str, text: str) -> bool:
    """``title`` occurs in ``text`` as whole words (plain ``find``: a regex per title would
    cost more than the rest of the context for a workspace of thousands of entities)."""
    if len(title) < MIN_TITLE:
        return False
    start = text.find(title)
    while start >= 0:
        end = start + len(title)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return True
        start = text.find(title, start + 1)
    return False


@dataclass(frozen=True, slots=True)
class _Name:
    """An entity as the text may name it, normalised once per cached directory."""

    kind: int  # 0 spec, 1 task: specs sort first
    title: str
    id: str
    uids: frozenset[str]
    entity_id: UUID


def _names(specs: Sequence[SpecRef], tasks: Sequence[TaskRef]) -> tuple[_Name, ...]:
    return (
        *(_Name(0, _norm(s.title), str(s.id), frozenset(r.uid.upper() for r in s.requirements), s.id)
          for s in specs),
        *(_Name(1, _norm(t.title), str(t.id), frozenset(), t.id) for t in tasks),
    )


def _involved(text: str, names: Sequence[_Name]) -> list[UUID]:
    """Entities the text names: by id, by quoted or written-out title, by requirement uid."""
    lowered = _norm(text)
    quoted = {_norm(q) for q in QUOTED_RE.findall(text)}
    ids = {m.lower() for m in UUID_RE.findall(text)}
    uids = {u.upper() for u in re.findall(r"\b[A-Za-z]{1,10}-\d{1,6}\b", text)}
    found = [
        (n.kind, n.title, n.id, n.entity_id) for n in names
        if n.id in ids or n.title in quoted or _named(n.title, lowered) or (uids and n.uids & uids)
    ]
    return [entity_id for *_, entity_id in sorted(found)[:MAX_INVOLVED]]


def _cost(chunk: ContextChunk) -> int:
    return estimate_tokens(chunk.heading) + estimate_tokens(chunk.text) + 8


def _entity_cost(context: AgentContext) -> int:
    total = 0
    for entity_id in context.involved:
        spec = context.spec(entity_id)
        if spec is not None:
            total += estimate_tokens(spec.title) + sum(
                estimate_tokens(f"{r.title} {r.text} {' '.join(r.criteria)}") for r in spec.requirements
            )
            continue
        task = context.task(entity_id)
        if task is not None:
            total += estimate_tokens(task.title) + 16
    return total


def _within_budget(context: AgentContext, chunks: Sequence[ContextChunk]) -> AgentContext:
    used = _entity_cost(context)
    kept: list[ContextChunk] = []
    for chunk in sorted(chunks, key=lambda c: (-c.score, c.chunk_id)):
        cost = _cost(chunk)
        if used + cost > context.token_budget:
            break
        kept.append(chunk)
        used += cost
    return replace(context, chunks=tuple(kept), tokens_used=used)
