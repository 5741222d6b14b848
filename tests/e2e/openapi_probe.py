"""Valid-looking requests for any operation, built from the app's own OpenAPI document.

Tests that must cover *every* route (tenancy, authentication, unknown ids) enumerate
``/openapi.json`` with these helpers, so a new route is covered without editing them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e.support import OPENSPEC

PARAM = re.compile(r"{(\w+)}")
# Every operation the API had when this test was written; more may appear, none may vanish.
KNOWN_OPERATIONS = {
    "createWorkspace", "listWorkspaces", "getWorkspace", "updateWorkspace",
    "createSpec", "listSpecs", "getSpec", "updateSpec", "diffSpec",
    "createTask", "listTasks", "getTask", "updateTask", "deleteSpec", "deleteTask",
    "createProposal", "listProposals", "getProposal", "validateProposal", "approveProposal",
    "rejectProposal", "applyProposal", "rollbackProposal", "getAiConfig", "putAiConfig",
    "searchRag", "getRagStatus", "rebuildRag", "listKillSwitches", "setKillSwitch",
    "listEvents", "streamEvents", "createToken", "revokeToken", "health",
    "ingestTestResults", "putRequirementTests", "getRequirementTests", "getQaSpec", "getQaHeatmap",
    "getQaSummary", "getMorningBrief", "getWeeklyReport",
    "listPrompts", "getPrompt", "addPromptVersion", "activatePromptVersion", "rollBackPrompt",
    "agentCommand", "agentSuggest", "agentChat", "getAiUsage",
}
PUBLIC_OPERATIONS = {"health"}
# Bodies whose validity the schema alone cannot express (an action's data depends on its op).
EXAMPLES = {
    "createProposal": lambda ids: {"title": "probe", "actions": [
        {"op": "update", "entity": "task", "id": ids["task_id"], "data": {"title": "probed"}}
    ]},
    # The spec keeps its requirements, so routes naming one (…/requirements/{uid}/…) still find it.
    "updateSpec": lambda ids: {"title": "probed", "body": OPENSPEC},
    # Texts the offline agent understands: a generated one is usually (rightly) a 422.
    "agentCommand": lambda ids: {"text": f'create a task "Probe" for spec {ids["spec_id"]}'},
    "agentSuggest": lambda ids: {"text": f'create a task "Probe" for spec {ids["spec_id"]}'},
    "agentChat": lambda ids: {"message": "What does the system do at login?"},
}


# Path parameters that are not ids of objects: every spec numbers its own requirements, so
# the probes' specs (OPENSPEC) all have REQ-001.
PATH_DEFAULTS = {"uid": "REQ-001", "name": "command"}
# Bodies that are not JSON, by media type: a JUnit report naming a requirement of the probe's spec.
RAW_BODIES = {
    "application/xml":
        b'<testsuite name="probe"><testcase classname="probe" name="test_REQ_001_probe"/></testsuite>',
}


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _value(doc: dict[str, Any], schema: dict[str, Any], name: str, ids: dict[str, str]) -> Any:
    schema = _resolve(doc, schema)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if _resolve(doc, s).get("type") != "null"]
        return _value(doc, options[0], name, ids)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object":
        return _object(doc, schema, ids, fill_optional=False)
    if kind == "array":
        return [_value(doc, schema["items"], name, ids) for _ in range(schema.get("minItems", 0))]
    if name == "time_zone":  # an IANA name; "probe" is not one
        return "UTC"
    if kind == "string" and schema.get("format") == "date":
        return "2026-01-05"
    if kind == "string" and schema.get("format") == "uuid":
        return ids["ws"] if name == "workspace_id" else ids.get(name, ids["task_id"])
    if kind == "string":
        return "probe".ljust(schema.get("minLength", 0), "x")
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    raise AssertionError(f"no example for {name}: {schema}")


def _object(doc: dict[str, Any], schema: dict[str, Any], ids: dict[str, str], fill_optional: bool) -> Any:
    schema = _resolve(doc, schema)
    props: dict[str, Any] = schema.get("properties", {})
    wanted = set(schema.get("required", []))
    if fill_optional:  # a PATCH with nothing in it proves little: change the plain strings too
        wanted |= {
            k for k, v in props.items()
            if any(_resolve(doc, s).get("type") == "string" and "format" not in _resolve(doc, s)
                   and "enum" not in _resolve(doc, s) for s in v.get("anyOf", [v]))
        }
    return {k: _value(doc, props[k], k, ids) for k in sorted(wanted)}


@dataclass
class Op:
    method: str
    path: str
    operation_id: str
    spec: dict[str, Any]

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    def body(self, doc: dict[str, Any], ids: dict[str, str]) -> Any:
        if self.operation_id in EXAMPLES:
            return EXAMPLES[self.operation_id](ids)
        content = self.spec.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            return None
        return _object(doc, content["application/json"]["schema"], ids, fill_optional=self.method == "PATCH")

    def raw_body(self) -> tuple[str, bytes] | None:
        """(media type, bytes) for a body that is not JSON."""
        content = self.spec.get("requestBody", {}).get("content", {})
        return next(((kind, raw) for kind, raw in RAW_BODIES.items() if kind in content), None)

    def body_refs(self, doc: dict[str, Any]) -> bool:
        """Whether the body names an object by id (so it can name another workspace's)."""
        markers = {k: f"<{k}>" for k in ("ws", "spec_id", "task_id", "token_id", "proposal_id")}
        return bool(set(_flatten(self.body(doc, markers))) & set(markers.values()))

    def query(self, doc: dict[str, Any], optional_integers: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ref in self.spec.get("parameters", []):
            p = _resolve(doc, ref)
            if p["in"] != "query":
                continue
            schema = _resolve(doc, p["schema"])
            kinds = {_resolve(doc, s).get("type") for s in schema.get("anyOf", [schema])}
            if p.get("required") or (optional_integers and "integer" in kinds):
                out[p["name"]] = _value(doc, p["schema"], p["name"], {})
        return out


def _flatten(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flatten(v)]
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    return [str(value)]


def operations(doc: dict[str, Any]) -> list[Op]:
    return [
        Op(method.upper(), path, spec["operationId"], spec)
        for path, item in doc["paths"].items()
        for method, spec in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@dataclass
class Answer:
    status: int
    code: str | None
    detail: str | None
    content_type: str
    text: str
    headers: httpx.Headers


def send(
    client: httpx.Client, admin: httpx.Client, doc: dict[str, Any], op: Op,
    ids: dict[str, str], etag_ids: dict[str, str], query: dict[str, Any], stale: bool = False,
) -> Answer:
    """``stale``: send an If-Match that cannot match (a DELETE that must not delete)."""
    path = op.path.format(**{**PATH_DEFAULTS, **ids})
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    if op.method in ("PATCH", "DELETE"):
        # The object's real current ETag, so only tenancy (not a stale version) can refuse it.
        etag = admin.get(op.path.format(**etag_ids)).headers.get("ETag", '"1"')
        headers["If-Match"] = '"999999"' if stale else etag
    body = op.body(doc, ids)
    raw = op.raw_body()
    if raw is not None:
        headers["Content-Type"] = raw[0]
    with client.stream(op.method, path, params=query, headers=headers,
                       json=body if body is not None else None,
                       content=None if raw is None else raw[1]) as r:
        content_type = r.headers.get("content-type", "")
        if content_type.startswith("text/event-stream"):
            return Answer(r.status_code, None, None, content_type, "", r.headers)
        r.read()
    code = detail = None
    if content_type.startswith("application/") and r.content:
        payload = r.json()
        if isinstance(payload, dict):
            code, detail = payload.get("code"), payload.get("detail")
    return Answer(r.status_code, code, detail, content_type, r.text, r.headers)
