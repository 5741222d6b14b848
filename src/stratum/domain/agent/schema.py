"""The JSON a model must answer with, per task type: the one contract every provider meets.

Remote providers send these schemas as structured output; the local interpreter produces the
same shapes; ``agent/validate.py`` checks whatever comes back before anything is drafted.

A command answer holds proposal actions as the proposal API takes them, with one addition:
an entity the command creates has a ``ref`` (a short label), and ``data.depends_on`` and
``data.spec_id`` may name such a ref instead of a UUID. The service gives refs fresh ids.
"""

from __future__ import annotations

from typing import Any

MAX_ACTIONS = 100
MAX_SUGGESTIONS = 10

ACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["op", "entity"],
    "properties": {
        "op": {"enum": ["create", "update", "delete"]},
        "entity": {"enum": ["spec", "task"]},
        "id": {"type": "string", "description": "UUID of an existing entity (update, delete)."},
        "ref": {"type": "string", "maxLength": 40, "description": "Label of an entity created here."},
        "data": {"type": "object"},
    },
}

COMMAND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["understood"],
    "properties": {
        "understood": {"type": "boolean"},
        "title": {"type": "string", "maxLength": 200},
        "summary": {"type": "string", "maxLength": 2000},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "actions": {"type": "array", "maxItems": MAX_ACTIONS, "items": ACTION_SCHEMA},
        "suggestions": {"type": "array", "maxItems": MAX_SUGGESTIONS, "items": {"type": "string"}},
    },
}

CHAT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["answered", "answer", "citations"],
    "properties": {
        "answered": {"type": "boolean", "description": "False: the workspace does not say."},
        "answer": {"type": "string", "maxLength": 8000},
        "citations": {
            "type": "array", "maxItems": 20, "items": {"type": "integer"},
            "description": "chunk_id of every context chunk the answer uses.",
        },
        "suggested_command": {"type": ["string", "null"], "maxLength": 1000},
    },
}

SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["summary"],
    "properties": {"summary": {"type": "string", "maxLength": 8000}},
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "command": COMMAND_SCHEMA, "chat": CHAT_SCHEMA, "summarise": SUMMARY_SCHEMA,
}
