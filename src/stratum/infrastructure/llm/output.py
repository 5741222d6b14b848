"""Model output against its JSON schema, before the domain looks at it (jsonschema)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from stratum.errors import InvalidModelOutput

MAX_ERRORS = 5


# Keyed by identity: the schemas are module constants (domain/agent/schema.py).
_validators: dict[int, Draft202012Validator] = {}


def check_schema(schema: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """InvalidModelOutput naming the first few violations (paths and messages)."""
    validator = _validators.get(id(schema))
    if validator is None:
        validator = _validators.setdefault(id(schema), Draft202012Validator(dict(schema)))
    errors = sorted(validator.iter_errors(dict(data)), key=lambda e: list(e.path))[:MAX_ERRORS]
    if errors:
        raise InvalidModelOutput(
            "the model's answer does not follow the schema",
            errors=[{"path": "/".join(str(p) for p in e.path), "message": e.message[:200]} for e in errors],
        )
