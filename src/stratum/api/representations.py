"""The JSON shapes of entities, built from aggregates (commands) or view rows (queries)."""

from __future__ import annotations

from typing import Any

from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.workspace import Workspace

Row = dict[str, Any]


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def workspace(w: Workspace | Row) -> dict[str, Any]:
    if isinstance(w, Workspace):
        return {"id": str(w.id), "name": w.name, "archived": w.archived, "version": w.version}
    return {"id": str(w["id"]), "name": w["name"], "archived": w["archived"], "version": w["version"]}


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
