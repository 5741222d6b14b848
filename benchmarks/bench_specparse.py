"""Benchmark: parse ~1 MB of mixed-style markdown (OpenSpec, spec-kit, Kiro, plain).

Run as a script (``PYTHONPATH=src python benchmarks/bench_specparse.py``) to print
the result as JSON, or call ``run()``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

TARGET_BYTES = 1_000_000
TARGET_SECONDS = 1.0
REPEATS = 3


def _parse_spec() -> Any:
    try:
        from stratum.domain.specparse import parse_spec
    except ImportError:  # run from a checkout without PYTHONPATH=src
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from stratum.domain.specparse import parse_spec
    return parse_spec


def _section(n: int) -> str:
    return f"""
### Requirement: Capability {n}
The system SHALL process batch {n} within {n % 50 + 1} seconds and report progress.

#### Scenario: Batch {n} succeeds
- **WHEN** batch {n} is submitted with valid input
- **THEN** the system stores the result
- **AND** emits a completion event

#### Scenario: Batch {n} fails
- **WHEN** batch {n} contains invalid rows
- **THEN** the system rejects the batch with a validation report

### User Story {n} - Review item {n} (Priority: P{n % 3 + 1})

A reviewer opens item {n}, reads the diff and approves or requests changes.

**Why this priority**: Reviews gate every merge.

**Acceptance Scenarios**:

1. **Given** item {n} is open, **When** the reviewer approves, **Then** the item is merged
2. **Given** item {n} is open, **When** changes are requested, **Then** the author is notified

### Requirement {n}: Notification {n}

**User Story:** As an engineer, I want notification {n} in the panel, so that I react quickly.

#### Acceptance Criteria

1. WHEN event {n} occurs THEN the system SHALL show a badge
2. IF the user is offline THEN the system SHALL queue notification {n}

- **FR-{n:04d}**: System MUST keep an audit trail for operation {n} [NEEDS CLARIFICATION: retention?]
- **SC-{n:04d}**: Operation {n} completes in under {n % 9 + 1} seconds for 95% of requests.
REQ-{n}: The service SHALL expose metric number {n} to the monitoring stack.

```python
# Requirement: not structure {n}
print("### Requirement: fake {n}")
```
"""


def build_document(target_bytes: int = TARGET_BYTES) -> str:
    parts = ["# Mixed specification\n\n## Requirements\n"]
    size = len(parts[0])
    n = 0
    while size < target_bytes:
        n += 1
        section = _section(n)
        parts.append(section)
        size += len(section.encode())
    return "".join(parts)


def run() -> dict[str, object]:
    parse_spec = _parse_spec()
    document = build_document()
    timings: list[float] = []
    count = 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        count = len(parse_spec(document))
        timings.append(time.perf_counter() - started)
    best = min(timings)
    return {
        "name": "specparse",
        "bytes": len(document.encode()),
        "seconds": round(best, 4),
        "requirements": count,
        "target_seconds": TARGET_SECONDS,
        "ok": best < TARGET_SECONDS,
    }


if __name__ == "__main__":
    print(json.dumps(run()))
