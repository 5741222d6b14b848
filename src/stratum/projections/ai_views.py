"""Queries over AI usage: the usage report, the month's quota, a prompt version's record.

Agent commands are read from the ``ai`` projection, chat calls from ``ai_ledger`` (chat is
not in the event log); both are the same per-call rows, so one report covers both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection

Row = dict[str, Any]

CALLS = """
SELECT at, provider, model, task, outcome, tokens_in, tokens_out, cost, degraded FROM (
    SELECT l.at, l.provider, l.model, l.task, l.outcome, l.tokens_in, l.tokens_out, l.cost, r.degraded
    FROM ai.ai_usage_log l JOIN ai.agent_run r ON r.id = l.run_id
    WHERE l.workspace_id = %(ws)s AND l.at >= %(start)s AND l.at < %(end)s
    UNION ALL
    SELECT at, provider, model, 'chat', outcome, tokens_in, tokens_out, cost, degraded
    FROM ai_ledger.chat_usage WHERE workspace_id = %(ws)s AND at >= %(start)s AND at < %(end)s
) calls
"""

USAGE = f"""
SELECT (at AT TIME ZONE 'UTC')::date AS day, provider, model, task,
       count(*) AS calls, count(*) FILTER (WHERE outcome = 'ok') AS succeeded,
       sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, sum(cost) AS cost
FROM ({CALLS}) c GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""

RESPONSES = """
SELECT count(*) AS responses, count(*) FILTER (WHERE degraded) AS degraded FROM (
    SELECT degraded FROM ai.agent_run
    WHERE workspace_id = %(ws)s AND at >= %(start)s AND at < %(end)s
    UNION ALL
    SELECT bool_or(degraded) FROM ai_ledger.chat_usage
    WHERE workspace_id = %(ws)s AND at >= %(start)s AND at < %(end)s GROUP BY request_id
) r
"""

VERSION_STATS = """
SELECT r.prompt_version AS version, count(DISTINCT r.id) AS calls,
       count(DISTINCT r.id) FILTER (WHERE r.outcome = 'invalid_output' OR p.status = 'invalid')
           AS validation_failures,
       count(p.status) FILTER (WHERE p.status IN ('approved', 'applied', 'rolled_back', 'rejected'))
           AS decided,
       count(p.status) FILTER (WHERE p.status IN ('approved', 'applied', 'rolled_back')) AS approved,
       coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY r.latency_ms), 0) AS p50_latency_ms
FROM ai.agent_run r
LEFT JOIN ai.agent_proposal a ON a.run_id = r.id
LEFT JOIN proposals.proposal p ON p.id = a.proposal_id
WHERE r.workspace_id = %(ws)s AND r.prompt_name = %(name)s AND r.prompt_version = ANY(%(versions)s)
GROUP BY r.prompt_version
"""


CHAT_STATS = """
SELECT prompt_version AS version, count(*) AS calls,
       count(*) FILTER (WHERE invalid) AS validation_failures, 0 AS decided, 0 AS approved,
       coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms), 0) AS p50_latency_ms
FROM (
    SELECT request_id, prompt_version, bool_or(outcome = 'invalid_output') AS invalid,
           sum(latency_ms) AS latency_ms
    FROM ai_ledger.chat_usage WHERE workspace_id = %(ws)s AND prompt_version = ANY(%(versions)s)
    GROUP BY request_id, prompt_version
) r GROUP BY prompt_version
"""


def usage(conn: Connection[Any], ws: UUID, start: datetime, end: datetime) -> list[Row]:
    rows = conn.execute(USAGE, {"ws": ws, "start": start, "end": end}).fetchall()
    return [
        {"day": r["day"].isoformat(), "provider": r["provider"], "model": r["model"], "task": r["task"],
         "calls": int(r["calls"]), "succeeded": int(r["succeeded"]), "tokens_in": int(r["tokens_in"]),
         "tokens_out": int(r["tokens_out"]), "cost": round(float(r["cost"]), 6)}
        for r in rows
    ]


def responses(conn: Connection[Any], ws: UUID, start: datetime, end: datetime) -> Row:
    row = conn.execute(RESPONSES, {"ws": ws, "start": start, "end": end}).fetchone()
    total, degraded = (int(row["responses"]), int(row["degraded"])) if row else (0, 0)
    return {"responses": total, "degraded": degraded,
            "degraded_rate": round(degraded / total, 4) if total else 0.0}


def version_stats(conn: Connection[Any], ws: UUID, name: str, versions: list[int]) -> dict[int, Row]:
    """Per prompt version: runs, validation failures, decided and approved proposals, p50 latency."""
    sql = CHAT_STATS if name == "chat" else VERSION_STATS
    rows = conn.execute(sql, {"ws": ws, "name": name, "versions": versions}).fetchall()
    return {int(r["version"]): dict(r) for r in rows}
