"""The connection pool type every adapter shares (the event store's pool, dict rows)."""

from __future__ import annotations

from typing import TypeAlias

from psycopg import Connection
from psycopg.rows import DictRow
from psycopg_pool import ConnectionPool

Pool: TypeAlias = ConnectionPool[Connection[DictRow]]
