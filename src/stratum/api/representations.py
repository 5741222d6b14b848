"""The JSON shapes of entities, built from aggregates (commands) or view rows (queries)."""

from __future__ import annotations

from typing import Any

from stratum.domain.actions import impacted
from stratum.domain.proposal import Proposal
from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.workspace import Workspace

Row = dict[str, Any]


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def workspace(w: Workspace | Row) -> dict[str, Any]:
    if isinstance(w, Workspace):
        return {"id": str(w.id), "name": w.name, "archived": w.archived,
                "allow_draft_tasks": w.allow_draft_tasks, "time_zone": w.time_zone,
                "version": w.version}
    return {"id": str(w["id"]), "name": w["name"], "archived": w["archived"],
            "allow_draft_tasks": w["allow_draft_tasks"], "time_zone": w["time_zone"],
            "version": w["version"]}


def spec(s: Spec | Row) -> dict[str, Any]:
    if isinstance(s, Spec):
        return {
            "id": str(s.id),
            "workspace_id": str(s.workspace_id),
            "title": s.title,
            "body": s.body,
            "status": s.status,
            "version": s.version,
            "requirements": [r.to_dict() for r in s.requirements],
        }
    return {
        "id": str(s["id"]),
        "workspace_id": str(s["workspace_id"]),
        "title": s["title"],
        "body": s["body"],
        "status": s["status"],
        "version": s["version"],
        "requirements": s["requirements"],
    }


def spec_summary(s: Row) -> dict[str, Any]:
    return {
        "id": str(s["id"]),
        "title": s["title"],
        "status": s["status"],
        "version": s["version"],
        "requirement_count": s["requirement_count"],
    }


def task(t: Task | Row) -> dict[str, Any]:
    if isinstance(t, Task):
        t = {
            "id": t.id,
            "workspace_id": t.workspace_id,
            "title": t.title,
            "description": t.description,
            "status": t.status,
            "spec_id": t.spec_id,
            "requirement_uids": t.requirement_uids,
            "depends_on": t.depends_on,
            "version": t.version,
        }
    return {
        "id": str(t["id"]),
        "workspace_id": str(t["workspace_id"]),
        "title": t["title"],
        "description": t["description"],
        "status": t["status"],
        "spec_id": _s(t["spec_id"]),
        "requirement_uids": list(t["requirement_uids"]),
        "depends_on": [str(d) for d in t["depends_on"]],
        "version": t["version"],
    }


def jsonable(value: Any) -> Any:
    """Snapshots and event payloads as JSON: ids and times as strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def proposal(p: Proposal, gate: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "workspace_id": str(p.workspace_id),
        "title": p.title,
        "summary": p.summary,
        "source": p.source,
        "confidence": p.confidence,
        "status": p.status,
        "version": p.version,
        "actions": [a.to_dict() for a in p.actions],
        "impacted_entities": impacted(p.actions),
        "risk": p.risk["level"],
        "risk_reasons": p.risk["reasons"],
        "gate": gate,
        "explanation": jsonable(p.explanation),
        "proposer": p.proposer,
        "approvals": p.approvals,
        "violations": p.violations,
        "stale_entities": p.stale_entities,
        "batch": p.batch,
    }


def proposal_row(r: Row, gate: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "workspace_id": str(r["workspace_id"]),
        "title": r["title"],
        "summary": r["summary"],
        "source": r["source"],
        "confidence": r["confidence"],
        "status": r["status"],
        "version": r["version"],
        "actions": r["actions"],
        "impacted_entities": r["impacted"],
        "risk": r["risk"]["level"],
        "risk_reasons": r["risk"]["reasons"],
        "gate": gate,
        "proposer": r["proposer"],
        "approvals": r["approvals"],
        "batch": r["batch"],
        "applied_position": r["applied_position"],
        "rolled_back_position": r["rolled_back_position"],
    }
