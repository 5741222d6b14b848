"""What a projection is to the runner that feeds it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from psycopg import Connection


class Projection(Protocol):
    """Folds a batch of (position, domain event) into view rows, inside the runner's transaction.

    Tables are named unqualified: the runner sets ``search_path`` to the live schema,
    or to a rebuild schema during a replay.
    """

    name: str

    def process(self, conn: Connection[Any], events: Sequence[tuple[int, Any]]) -> None: ...
