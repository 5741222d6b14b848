"""Fixtures of the integration tests (the shared ones live in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import make_settings
from tests.integration.support import WorkerProcess, connect


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection of the test's database, for assertions."""
    with connect(database_url) as c:
        yield c


@pytest.fixture
def build_container(database_url: str) -> Iterator[Callable[..., Any]]:
    """Build (and close at the end) containers on the test's database with settings overrides."""
    from stratum.bootstrap import build

    built: list[Any] = []

    def make(**overrides: Any) -> Any:
        c = build(make_settings(**overrides), url=database_url)
        built.append(c)
        return c

    yield make
    for c in reversed(built):
        c.close()


@pytest.fixture
def spawn_worker(database_url: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``stratum worker`` subprocesses; any still running at the end are killed."""
    started: list[WorkerProcess] = []

    def spawn(name: str, **settings: Any) -> WorkerProcess:
        worker = WorkerProcess(database_url, tmp_path, name, **settings).start()
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.kill()
