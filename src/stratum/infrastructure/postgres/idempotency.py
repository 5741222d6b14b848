"""Stored responses of commands sent with an Idempotency-Key.

Rows are written by the append itself (``stratum_append``), in the same
transaction as the command's events, so a key's response exists iff its events do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from stratum.infrastructure.postgres.pool import Pool


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int
    body: Any
    position: int | None


class IdempotencyStore:
    def __init__(self, pool: Pool, ttl_hours: int = 48) -> None:
        self.pool = pool
        self.ttl_hours = ttl_hours

    def get(self, scope: str, key: str) -> StoredResponse | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT fingerprint, status, body, position FROM idempotency_key"
                " WHERE scope = %s AND key = %s AND created_at > now() - make_interval(hours => %s)",
                (scope, key, self.ttl_hours),
            ).fetchone()
        if row is None:
            return None
        return StoredResponse(row["fingerprint"], row["status"], row["body"], row["position"])

    def put(self, scope: str, key: str, fingerprint: str, status: int, body: Any) -> bool:
        """For commands that write no events (e.g. tokens); False if the key exists."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                "INSERT INTO idempotency_key (scope, key, fingerprint, status, body)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (scope, key, fingerprint, status, Jsonb(body)),
            )
            return cur.rowcount == 1

    def purge(self) -> int:
        with self.pool.connection() as conn:
            cur = conn.execute(
                "DELETE FROM idempotency_key WHERE created_at < now() - make_interval(hours => %s)",
                (self.ttl_hours,),
            )
            return cur.rowcount
