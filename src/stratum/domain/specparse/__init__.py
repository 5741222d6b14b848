"""Pure markdown -> requirements parsing for specs (stdlib only).

Reads OpenSpec, GitHub spec-kit, AWS Kiro and plain id-prefixed requirements, also
mixed in one document. ``parse_spec`` never raises for any ``str`` and runs in
time linear in the input; size caps are documented in ``limits``.

``assign_ids`` gives parsed requirements human uids and immutable machine mids
that stay stable across revisions; ``diff_requirements`` reports what changed.
"""

from stratum.domain.specparse.diff import diff_requirements
from stratum.domain.specparse.ids import assign_ids
from stratum.domain.specparse.model import (
    ChangeKind,
    Criterion,
    ParsedRequirement,
    Requirement,
    RequirementChange,
)
from stratum.domain.specparse.parser import parse_spec

__all__ = [
    "ChangeKind",
    "Criterion",
    "ParsedRequirement",
    "Requirement",
    "RequirementChange",
    "assign_ids",
    "diff_requirements",
    "parse_spec",
]
