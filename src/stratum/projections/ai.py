"""AI usage (projection ``ai``): agent runs, their model calls and the proposals they drafted.

One row per run, one per call (``ai_usage_log``), one per drafted proposal with the prompt
version that drafted it, which drift control joins with the proposals' review outcomes.
Keys come from the events (run id, call index), so a replay writes the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg import Connection

from stratum.domain.agent.usage import AgentRun

NAME = "ai"

RUNS = """
INSERT INTO agent_run (id, workspace_id, task, outcome, provider, model, prompt_name, prompt_version,
                       degraded, latency_ms, at, position)
SELECT id, workspace_id, task, outcome, provider, model, prompt_name, prompt_version, degraded, latency_ms,
       at, position
FROM jsonb_populate_recordset(NULL::agent_run, %s::jsonb)
ON CONFLICT (id) DO NOTHING
"""
CALLS = """
INSERT INTO ai_usage_log (run_id, call_index, workspace_id, task, provider, model, outcome, attempt,
                          tokens_in, tokens_out, cost, latency_ms, error, at)
SELECT run_id, call_index, workspace_id, task, provider, model, outcome, attempt, tokens_in, tokens_out,
       cost, latency_ms, error, at
FROM jsonb_populate_recordset(NULL::ai_usage_log, %s::jsonb)
ON CONFLICT (run_id, call_index) DO NOTHING
"""
PROPOSALS = """
INSERT INTO agent_proposal (proposal_id, workspace_id, run_id, prompt_name, prompt_version)
SELECT proposal_id, workspace_id, run_id, prompt_name, prompt_version
FROM jsonb_populate_recordset(NULL::agent_proposal, %s::jsonb)
ON CONFLICT (proposal_id) DO NOTHING
"""


def _call_row(e: Any, index: int, call: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": str(e.originator_id), "call_index": index, "workspace_id": str(e.workspace_id),
        "task": e.task, "provider": call["provider"], "model": call["model"], "outcome": call["outcome"],
        "attempt": call.get("attempt", 1), "tokens_in": call.get("tokens_in", 0),
        "tokens_out": call.get("tokens_out", 0), "cost": call.get("cost", 0.0),
        "latency_ms": call.get("latency_ms", 0.0), "error": call.get("error"),
        "at": call.get("started_at") or e.timestamp.isoformat(),
    }


class AiProjection:
    name = NAME
    events = (AgentRun.Recorded,)  # the runner decodes no other event for this view

    def process(self, conn: Connection[Any], events: Sequence[tuple[int, Any]]) -> None:
        runs: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        proposals: list[dict[str, Any]] = []
        for position, e in events:
            if not isinstance(e, AgentRun.Recorded):
                continue
            prompt_name, prompt_version = e.prompt.get("name", e.task), int(e.prompt.get("version", 0))
            runs.append({
                "id": str(e.originator_id), "workspace_id": str(e.workspace_id), "task": e.task,
                "outcome": e.outcome, "provider": e.provider, "model": e.model, "prompt_name": prompt_name,
                "prompt_version": prompt_version, "degraded": e.degraded, "latency_ms": e.latency_ms,
                "at": e.timestamp.isoformat(), "position": position,
            })
            calls.extend(_call_row(e, i, c) for i, c in enumerate(e.calls))
            proposals.extend(
                {"proposal_id": p, "workspace_id": str(e.workspace_id), "run_id": str(e.originator_id),
                 "prompt_name": prompt_name, "prompt_version": prompt_version}
                for p in e.proposal_ids
            )
        if runs:
            conn.execute(RUNS, (json.dumps(runs),))
        if calls:
            conn.execute(CALLS, (json.dumps(calls),))
        if proposals:
            conn.execute(PROPOSALS, (json.dumps(proposals),))
