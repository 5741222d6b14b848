"""Schema migrations with yoyo (forward and rollback SQL files in ``migrations/``)."""

from __future__ import annotations

from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS_DIR = Path(__file__).resolve().parents[4] / "migrations"


def _backend(url: str):  # type: ignore[no-untyped-def]
    scheme, rest = url.split("://", 1)
    # yoyo picks its driver from the scheme; psycopg 3 is "postgresql+psycopg".
    return get_backend(f"postgresql+psycopg://{rest}" if "+" not in scheme else url)


def apply(url: str, migrations_dir: Path = MIGRATIONS_DIR) -> int:
    """Apply pending migrations under yoyo's lock; return how many were applied."""
    migrations = read_migrations(str(migrations_dir))
    # The backend's connection sits in a reference cycle: close it here, or it stays
    # open until a GC pass (and blocks e.g. CREATE DATABASE … TEMPLATE of this one).
    with _backend(url) as backend, backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return len(pending)


def rollback(url: str, steps: int = 1, migrations_dir: Path = MIGRATIONS_DIR) -> int:
    migrations = read_migrations(str(migrations_dir))
    with _backend(url) as backend, backend.lock():
        applied = backend.to_rollback(migrations)[:steps]
        backend.rollback_migrations(applied)
    return len(applied)
