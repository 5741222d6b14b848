"""Migrations roll back and forward cleanly; the event log is not theirs and is never touched."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import psycopg

from stratum.bootstrap import build
from stratum.infrastructure.postgres import migrate
from tests.conftest import make_settings
from tests.integration.support import assert_view_matches_fold, connect, ctx, head, scalar

MIGRATIONS = len([p for p in migrate.MIGRATIONS_DIR.glob("*.sql") if not p.name.endswith(".rollback.sql")])


def _schema(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Tables, columns and indexes outside the catalogs and yoyo's own bookkeeping."""
    columns = conn.execute(
        "SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema IN ('public', 'core')"
        " AND table_name NOT LIKE '\\_yoyo%%' AND table_name NOT LIKE 'yoyo%%' ORDER BY 1, 2, 3"
    ).fetchall()
    indexes = conn.execute(
        "SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname IN ('public', 'core') AND tablename NOT LIKE '\\_yoyo%%'"
        " AND tablename NOT LIKE 'yoyo%%' ORDER BY 1, 2, 3"
    ).fetchall()
    return [*columns, *indexes]


def _exists(conn: psycopg.Connection[Any], name: str) -> bool:
    return bool(scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (name,)))


def test_rolling_back_removes_the_read_models_and_reapplying_restores_them(database_url: str) -> None:
    c = build(make_settings(), url=database_url)
    try:
        ws, _ = c.workspaces.create(ctx(), "survives")
        c.tasks.create(ctx(), ws.id, "so does this")
        c.start_projections()
        c.wait_for("core", 2)
    finally:
        c.close()

    with connect(database_url) as conn:
        before = _schema(conn)
        assert _exists(conn, "core.task") and _exists(conn, "idempotency_key")
        log_before = conn.execute("SELECT notification_id, state FROM event_log ORDER BY 1").fetchall()

        assert migrate.rollback(database_url, steps=MIGRATIONS) == MIGRATIONS
        assert scalar(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'core'") == 0
        for table in (
            "core.tracking",
            "core.workspace",
            "core.spec",
            "core.task",
            "api_token",
            "idempotency_key",
        ):
            assert not _exists(conn, table), f"{table} survived the rollback"
        assert (
            conn.execute("SELECT notification_id, state FROM event_log ORDER BY 1").fetchall() == log_before
        )
        assert migrate.rollback(database_url) == 0, "rolled back a migration that was not applied"

        assert migrate.apply(database_url) == MIGRATIONS
        assert _schema(conn) == before
        assert conn.execute("SELECT position FROM core.tracking").fetchall() == [(0,)]
        assert scalar(conn, "SELECT count(*) FROM core.task") == 0
        assert migrate.apply(database_url) == 0, "applied the same migration twice"

    # The restored, empty read model rebuilds itself from the untouched log.
    c = build(make_settings(), url=database_url)
    try:
        c.start_projections()
        with connect(database_url) as conn:
            c.wait_for("core", head(conn))
            view = assert_view_matches_fold(c, conn)
        assert [r["name"] for r in view["workspace"].values()] == ["survives"]
        assert [r["title"] for r in view["task"].values()] == ["so does this"]
    finally:
        c.close()


def test_applying_and_rolling_back_leave_no_connection_behind(database_url: str, pg_admin_url: str) -> None:
    """A leaked migration connection blocks DROP/CREATE DATABASE … TEMPLATE of the database."""
    dbname = urlsplit(database_url).path.lstrip("/")
    with connect(pg_admin_url) as admin:
        assert scalar(admin, "SELECT count(*) FROM pg_database WHERE datname = %s", (dbname,)) == 1
        assert migrate.rollback(database_url, steps=MIGRATIONS) == MIGRATIONS
        assert migrate.apply(database_url) == MIGRATIONS
        # A closed session's backend leaves pg_stat_activity a moment later (more so on a
        # loaded machine); a leaked connection would stay for good.
        deadline = time.monotonic() + 10
        while True:
            sessions = scalar(
                admin, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (dbname,)
            )
            if sessions == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert sessions == 0, "migrations left a connection open"
