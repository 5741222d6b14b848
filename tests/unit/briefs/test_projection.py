"""The facts the briefs projection folds from real domain events (no database: SQL is recorded)."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

from stratum.domain.actions import Action
from stratum.domain.proposal import Proposal
from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.workspace import Workspace
from stratum.projections.briefs import INSERT_FACTS, Batch
from tests.unit.domain.helpers import META, through_the_log


class Recorder:
    """Stands in for the runner's connection: nothing is stored yet, every write is kept."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Any = None) -> Any:
        self.writes.append((sql, params))
        return self

    def fetchall(self) -> list[Any]:
        return []


def _facts(events: list[Any]) -> list[dict[str, Any]]:
    conn = Recorder()
    batch = Batch(conn)  # type: ignore[arg-type]
    numbered = list(enumerate(through_the_log(events), start=1))
    batch.prefetch(numbered)
    for position, event in numbered:
        batch.fold(position, event)
    batch.write()
    (params,) = [p for sql, p in conn.writes if sql == INSERT_FACTS]
    return [{"position": f["position"], "kind": f["kind"], **f["data"]} for f in json.loads(params[0])]


def test_each_event_a_brief_reports_on_becomes_one_fact_with_its_state_then() -> None:
    ws = Workspace.create("Acme", META, time_zone="Europe/Paris")
    spec = Spec.create(ws.id, "Auth", "## REQ-001 Log in\nThe system SHALL log in.\n", META)
    spec.revise("## REQ-001 Sign in\nThe system SHALL log in fast.\n\n## REQ-002 Out\nThe system SHALL go.\n",
                META)
    base = Task.create(ws.id, "Base", META)
    task = Task.create(ws.id, "Wire", META, depends_on=[base.id])
    task.change_status("in_progress", META)
    task.edit(META, description="only the description")  # nothing a brief shows
    task.edit(META, title="Wire SSO")
    proposal = Proposal.draft(ws.id, META, "Retitle", [Action("update", "task", base.id, 1, {"title": "B"})],
                              {"level": "low", "reasons": []}, proposal_id=uuid4())
    proposal.validate([], META)
    proposal.reject("no", META)
    events = [*ws.collect_events(), *spec.collect_events(), *base.collect_events(), *task.collect_events(),
              *proposal.collect_events()]
    facts = _facts(events)
    assert [(f["kind"], f.get("change") or f.get("status")) for f in facts] == [
        ("spec", "created"), ("spec", "modified"), ("spec", "added"),
        ("task", "todo"), ("task", "todo"), ("task", "in_progress"), ("task", "in_progress"),
        ("proposal", "draft"), ("proposal", "validated"), ("proposal", "rejected"),
    ]
    moved = facts[5]
    assert moved["moved"] == {"from": "todo", "to": "in_progress"} and moved["depends_on"] == [str(base.id)]
    assert facts[6]["title"] == "Wire SSO" and "moved" not in facts[6]
    assert facts[2]["uids"] == ["REQ-002"] and facts[7]["title"] == "Retitle"
