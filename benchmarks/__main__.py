"""``python -m benchmarks [NAME ...]``: run every ``bench_*.py`` (or those whose name
contains one of NAME) and print one JSON document (a list of results) on stdout.

Progress goes to stderr. A benchmark that fails to run yields a result with
``ok: false`` and its error rather than stopping the others.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks._common import log

ORDER = ("append", "http", "replay", "lag", "specparse", "rag")


def _modules(filters: list[str]) -> list[str]:
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    names.sort(key=lambda n: (ORDER.index(n[6:]) if n[6:] in ORDER else len(ORDER), n))
    if filters:
        names = [n for n in names if any(f in n for f in filters)]
    return names


def _as_list(outcome: Any) -> list[dict[str, Any]]:
    if isinstance(outcome, list):
        return outcome
    if isinstance(outcome, dict) and "results" in outcome and isinstance(outcome["results"], list):
        return list(outcome["results"])
    return [outcome]


def _normalised(r: dict[str, Any]) -> dict[str, Any]:
    """Every result as {name, figures, target, ratio, ok} (a flat one's extra keys go to figures)."""
    if "figures" in r or "error" in r:
        return r
    figures = {k: v for k, v in r.items() if k not in ("name", "target", "ratio", "ok")}
    target, ratio = r.get("target"), r.get("ratio")
    if target is None and "target_seconds" in r:
        target = f"<= {r['target_seconds']} s"
        if ratio is None and r.get("seconds"):
            ratio = round(r["target_seconds"] / r["seconds"], 3)  # >= 1 meets it
    return {"name": r.get("name"), "figures": figures, "target": target, "ratio": ratio,
            "ok": bool(r.get("ok"))}


def main(argv: list[str]) -> int:
    filters = [a for a in argv if not a.startswith("-")]
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    for name in _modules(filters):
        log(f"{name}: running")
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            run = getattr(module, "run", None)
            if run is None:
                log(f"{name}: no run(), skipped")
                continue
            outcome = run()
        except Exception as e:
            log(f"{name}: failed\n{traceback.format_exc()}")
            outcome = {"name": name[6:], "ok": False, "error": f"{type(e).__name__}: {e}"}
        for r in map(_normalised, _as_list(outcome)):
            r.setdefault("seconds_to_run", round(time.perf_counter() - t0, 1))
            results.append(r)
            log(f"{name}: {json.dumps(r)}")
    log(f"all benchmarks: {time.perf_counter() - started:.0f} s")
    print(json.dumps(results, indent=2, default=str))
    # A missed target is a figure to read, not a failure to run: only crashes fail.
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
