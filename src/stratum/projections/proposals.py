"""Read model of proposals (schema ``proposals``): what the review queue lists."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import Connection

from stratum.domain.actions import Action, impacted
from stratum.domain.events import StratumEvent
from stratum.domain.proposal import Proposal, Transition

NAME = "proposals"
COLUMNS = (
    "id", "workspace_id", "title", "summary", "source", "confidence", "status", "risk", "actions",
    "impacted", "batch", "proposer", "approvals", "version", "created_at", "updated_at",
    "created_position", "applied_position", "rolled_back_position",
)
UPSERT = (
    f"INSERT INTO proposal ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)}"
    " FROM jsonb_populate_recordset(NULL::proposal, %s::jsonb)"
    f" ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in COLUMNS[1:])}"
)
SELECT = f"SELECT {', '.join(COLUMNS)} FROM proposal WHERE id = ANY(%s)"
Row = dict[str, Any]


def _drafted(row: Row, e: Any, position: int) -> None:
    row.update(
        id=str(e.originator_id), workspace_id=str(e.workspace_id), title=e.title, summary=e.summary,
        source=e.source, confidence=e.confidence, status="draft", risk=e.risk, actions=e.actions,
        impacted=impacted([Action.from_dict(a) for a in e.actions]), batch=e.batch,
        proposer=e.actor, approvals=[], created_at=e.timestamp.isoformat(),
        created_position=position, applied_position=None, rolled_back_position=None,
    )


def _moved(row: Row, e: Any, position: int) -> None:
    row["status"] = e.to
    if isinstance(e, Proposal.Approved):
        row["approvals"] = [*row["approvals"], {"approver": e.approver, "at": e.timestamp.isoformat()}]
    elif isinstance(e, Proposal.Applied):
        row["applied_position"] = position
    elif isinstance(e, Proposal.RolledBack):
        row["rolled_back_position"] = position


class ProposalProjection:
    name = NAME
    # The runner decodes no other event for this view (a spec revision can hold 20,000).
    events = tuple(
        v for v in vars(Proposal).values() if isinstance(v, type) and issubclass(v, StratumEvent)
    )

    def process(self, conn: Connection[Any], events: Sequence[tuple[int, Any]]) -> None:
        relevant = [(p, e) for p, e in events if isinstance(e, (Proposal.Drafted, Transition))]
        if not relevant:
            return
        wanted = [e.originator_id for _, e in relevant if not isinstance(e, Proposal.Drafted)]
        rows: dict[UUID, Row] = {}
        if wanted:
            cur = conn.execute(SELECT, (wanted,))
            for r in cur.fetchall():
                row = dict(zip(COLUMNS, r.values() if isinstance(r, dict) else r, strict=True))
                row["id"], row["workspace_id"] = str(row["id"]), str(row["workspace_id"])
                row["created_at"] = row["created_at"].isoformat()
                rows[UUID(row["id"])] = row
        for position, event in relevant:
            row = rows.setdefault(event.originator_id, {})
            if isinstance(event, Proposal.Drafted):
                _drafted(row, event, position)
            else:
                _moved(row, event, position)
            row.update(version=event.originator_version, updated_at=event.timestamp.isoformat())
        conn.execute(UPSERT, (json.dumps(list(rows.values())),))
