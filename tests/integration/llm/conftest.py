"""Fixtures of the language-model tests: the loopback provider server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.llm_server import LlmServer, llm_server


@pytest.fixture
def server() -> Iterator[LlmServer]:
    with llm_server() as s:
        yield s
