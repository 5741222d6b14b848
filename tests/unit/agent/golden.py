"""Reading an interpreter answer back as an intent with names, for golden comparisons."""

from __future__ import annotations

from itertools import pairwise
from typing import Any
from uuid import uuid4

from stratum.domain.actions import Action
from stratum.domain.agent.context import AgentContext
from stratum.domain.agent.spec_edit import locate
from stratum.domain.agent.validate import command_plan
from stratum.domain.specparse import parse_spec


def _names(context: AgentContext) -> dict[str, str]:
    return {str(e.id): e.title for e in (*context.specs, *context.tasks)}


def describe(result: dict[str, Any], context: AgentContext) -> dict[str, Any]:
    """``{"intent": ..., <key fields by name>}`` of an understood command."""
    names = _names(context)
    actions = result["actions"]
    first = actions[0]
    data = first.get("data", {})
    name = names.get(first.get("id", ""), first.get("id"))
    if first["op"] == "create" and len(actions) > 1:
        return {
            "intent": "split_spec",
            "spec": names[data["spec_id"]],
            "requirement_uids": [a["data"]["requirement_uids"][0] for a in actions],
            "chained": all(a["data"].get("depends_on") == [p["ref"]] for p, a in pairwise(actions)),
        }
    if first["op"] == "create":
        return {
            "intent": "create_task",
            "title": data["title"],
            "spec": names.get(data.get("spec_id", "")),
            "requirement_uids": data.get("requirement_uids", []),
            "depends_on": [names[i] for i in data.get("depends_on", [])],
        }
    if "status" in data:
        return {
            "intent": "set_status", "entity": first["entity"], "name": name, "status": data["status"],
            "names": [names.get(a["id"], a["id"]) for a in actions],
        }  # fmt: skip
    if "requirement_uids" in data:
        return {
            "intent": "link_requirements", "task": name, "requirement_uids": data["requirement_uids"],
            "spec": names.get(data.get("spec_id", "")),
        }  # fmt: skip
    if "depends_on" in data:
        return {
            "intent": "add_dependency",
            "task": name,
            "depends_on": [names[i] for i in data["depends_on"]],
        }
    if "title" in data:
        return {"intent": "rename", "entity": first["entity"], "name": name, "title": data["title"]}
    if "body" in data:
        spec = next(s for s in context.specs if str(s.id) == first["id"])
        assert spec.body is not None
        before, after = parse_spec(spec.body), parse_spec(data["body"])
        changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        assert len(changed) == 1, changed
        req = next(r for r in spec.requirements if locate(before, r.uid, r.title) == changed[0])
        added = after[changed[0]].acceptance_criteria[-1]
        return {
            "intent": "add_criterion",
            "spec": spec.title,
            "uid": req.uid,
            "criterion": added.text or added.title,
        }
    return {"intent": "unknown", "actions": actions}


def check_actions(result: dict[str, Any], context: AgentContext | None = None) -> None:
    """Every action passes the proposal API's own check once refs are given ids, and the
    agent's validator (``domain/agent/validate.py``) accepts the whole answer."""
    if context is not None:
        command_plan(result, context, uuid4)
    refs = {a["ref"]: str(uuid4()) for a in result["actions"] if "ref" in a}
    for index, raw in enumerate(result["actions"]):
        data = dict(raw.get("data", {}))
        if "depends_on" in data:
            data["depends_on"] = [refs.get(d, d) for d in data["depends_on"]]
        if "spec_id" in data:
            data["spec_id"] = refs.get(data["spec_id"], data["spec_id"])
        clean = {k: v for k, v in raw.items() if k != "ref"} | {"data": data}
        Action.parse(clean, index, uuid4())
