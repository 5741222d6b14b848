"""Quarter-hour summaries of the briefs facts (migration 0007), folded from the facts themselves.

A brief's window starts and ends at local midnights, which fall on quarter hours (UTC) in every
zone in use today: a window is then a whole number of quarters, and reads one narrow row per
entity and quarter instead of every fact's json. Rows merge associatively in position order,
so the runner's small batches and a replay's large ones write the same rows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import Connection

Row = dict[str, Any]
BUCKET = timedelta(minutes=15)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATE = ("occurred_at", "position", "title", "status", "deleted", "depends_on")
COUNTS = ("tasks_done", "tasks_created", "proposals_approved", "proposals_rejected")
# (occurred_at, position) orders facts as the "latest fact before an instant" probe does.
_NEWER = "(EXCLUDED.occurred_at, EXCLUDED.position) > (t.occurred_at, t.position)"
_STATE_TYPES = (
    "occurred_at timestamptz, position bigint, title text, status text, deleted boolean, depends_on text[]"
)

UPSERT_STATES = (
    "INSERT INTO entity_state AS t (entity_id, bucket, occurred_at, position, title, status, deleted,"
    " depends_on) SELECT * FROM json_to_recordset(%s::json)"
    f" AS x(entity_id uuid, bucket timestamptz, {_STATE_TYPES})"
    " ON CONFLICT (entity_id, bucket) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in STATE) + f" WHERE {_NEWER}"
)
UPSERT_LATEST = (
    "INSERT INTO entity_latest AS t (entity_id, workspace_id, kind, first_bucket, last_bucket,"
    " occurred_at, position, title, status, deleted, depends_on) SELECT * FROM json_to_recordset(%s::json)"
    " AS x(entity_id uuid, workspace_id uuid, kind text, first_bucket timestamptz, last_bucket timestamptz,"
    f" {_STATE_TYPES}) ON CONFLICT (entity_id) DO UPDATE SET"
    " first_bucket = LEAST(t.first_bucket, EXCLUDED.first_bucket),"
    " last_bucket = GREATEST(t.last_bucket, EXCLUDED.last_bucket), "
    + ", ".join(f"{c} = CASE WHEN {_NEWER} THEN EXCLUDED.{c} ELSE t.{c} END" for c in STATE)
)
# A batch's positions all follow those already folded: a stored row keeps its first move and
# takes the batch's last one.
UPSERT_MOVES = (
    "INSERT INTO task_moves AS t (entity_id, bucket, workspace_id, first_position, from_status,"
    " last_position, to_status, title, last_at, moves, reopened) SELECT * FROM json_to_recordset(%s::json)"
    " AS x(entity_id uuid, bucket timestamptz, workspace_id uuid, first_position bigint, from_status text,"
    " last_position bigint, to_status text, title text, last_at timestamptz, moves integer, reopened boolean)"
    " ON CONFLICT (entity_id, bucket) DO UPDATE SET last_position = EXCLUDED.last_position,"
    " to_status = EXCLUDED.to_status, title = EXCLUDED.title,"
    " last_at = GREATEST(t.last_at, EXCLUDED.last_at), moves = t.moves + EXCLUDED.moves,"
    " reopened = t.reopened OR EXCLUDED.reopened"
)
UPSERT_TALLY = (
    f"INSERT INTO tally AS t (workspace_id, bucket, {', '.join(COUNTS)})"
    " SELECT * FROM json_to_recordset(%s::json)"
    f" AS x(workspace_id uuid, bucket timestamptz, {', '.join(f'{c} integer' for c in COUNTS)})"
    " ON CONFLICT (workspace_id, bucket) DO UPDATE SET "
    + ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in COUNTS)
)


def bucket_of(at: datetime) -> datetime:
    """The quarter hour (UTC) ``at`` falls in: ``date_bin('15 minutes', at, epoch)``."""
    at = at.astimezone(UTC)
    return at - (at - EPOCH) % BUCKET


def on_bucket(*instants: datetime) -> bool:
    """Whether the summaries answer for these bounds (else: the facts themselves)."""
    return all((at - EPOCH) % BUCKET == timedelta(0) for at in instants)


def _counts(kind: str, data: Row) -> tuple[int, ...] | None:
    if kind == "task":
        counts = (int(data.get("moved", {}).get("to") == "done"), int(bool(data.get("created"))), 0, 0)
    elif kind == "proposal":
        counts = (0, 0, int(data["status"] == "approved"), int(data["status"] == "rejected"))
    else:
        return None
    return counts if any(counts) else None


class Summaries:
    """One batch's summary rows, folded in position order before they are upserted.

    Rows hold the strings they are sent as, each beside the key it is ordered by: a replay folds
    a hundred thousand facts, and formatting is most of the Python it costs. They are sent as
    json, not jsonb: read once, the text parses faster than it converts to jsonb.
    """

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], tuple[tuple[datetime, int], Row]] = {}
        self.latest: dict[str, tuple[tuple[datetime, int], Row]] = {}
        self.moves: dict[tuple[str, str], Row] = {}
        self.tally: dict[tuple[str, str], list[int]] = {}
        self.buckets: dict[datetime, str] = {}

    def add(self, position: int, at: datetime, occurred_at: str, kind: str, ws: str, eid: str,
            data: Row) -> None:
        """Fold a fact (``occurred_at``: ``at`` as it is stored in the fact)."""
        if kind not in ("task", "proposal"):
            return
        start = bucket_of(at)
        bucket = self.buckets.get(start)
        if bucket is None:
            bucket = self.buckets[start] = start.isoformat()
        order = (at, position)
        state: Row = {"occurred_at": occurred_at, "position": position, "title": data.get("title"),
                      "status": data.get("status"), "deleted": data.get("deleted"),
                      "depends_on": data.get("depends_on")}
        old = self.states.get((eid, bucket))
        if old is None or order > old[0]:
            self.states[(eid, bucket)] = (order, state)
        latest = self.latest.get(eid)
        if latest is None:
            self.latest[eid] = (order, {"workspace_id": ws, "kind": kind, "first_bucket": bucket,
                                        "last_bucket": bucket, **state})
        else:
            row = latest[1]
            # Same-format UTC strings: their order is the instants' order.
            row["first_bucket"] = min(row["first_bucket"], bucket)
            row["last_bucket"] = max(row["last_bucket"], bucket)
            if order > latest[0]:
                row.update(state)
                self.latest[eid] = (order, row)
        moved = data.get("moved") if kind == "task" else None
        if moved is not None:
            self._move(position, at, occurred_at, ws, eid, bucket, moved, data.get("title"))
        counts = _counts(kind, data)
        if counts is not None:
            tally = self.tally.setdefault((ws, bucket), [0] * len(COUNTS))
            for n, c in enumerate(counts):
                tally[n] += c

    def _move(self, position: int, at: datetime, occurred_at: str, ws: str, eid: str, bucket: str,
              moved: Row, title: str | None) -> None:
        move = self.moves.get((eid, bucket))
        if move is None:
            self.moves[(eid, bucket)] = {
                "workspace_id": ws, "first_position": position, "from_status": moved["from"],
                "last_position": position, "to_status": moved["to"], "title": title,
                "last_at": occurred_at, "moves": 1, "reopened": moved["from"] == "done", "at": at}
        else:
            if at > move["at"]:
                move.update(last_at=occurred_at, at=at)
            move.update(last_position=position, to_status=moved["to"], title=title, moves=move["moves"] + 1,
                        reopened=move["reopened"] or moved["from"] == "done")

    def write(self, conn: Connection[Any]) -> None:
        keyed = (
            (UPSERT_STATES, [{"entity_id": e, "bucket": b, **r} for (e, b), (_, r) in self.states.items()]),
            (UPSERT_LATEST, [{"entity_id": e, **r} for e, (_, r) in self.latest.items()]),
            (UPSERT_MOVES, [{"entity_id": e, "bucket": b, **{k: v for k, v in r.items() if k != "at"}}
                            for (e, b), r in self.moves.items()]),
            (UPSERT_TALLY, [{"workspace_id": w, "bucket": b, **dict(zip(COUNTS, c, strict=True))}
                            for (w, b), c in self.tally.items()]),
        )
        for sql, rows in keyed:
            if rows:
                conn.execute(sql, (json.dumps(rows),))
