"""Bearer API tokens: random, prefixed, and stored only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from psycopg.types.json import Jsonb

from stratum.errors import IdempotencyRace
from stratum.infrastructure.postgres.pool import Pool

PREFIX = "stm_"


class _Rollback(IdempotencyRace):
    """Raised inside the transaction so that it rolls back the token as well."""

SCOPES = ("read", "write", "agent", "approve", "admin")


@dataclass(frozen=True)
class TokenInfo:
    id: UUID
    workspace_id: UUID | None  # None: an operator token that may act on every workspace
    scopes: frozenset[str]
    name: str


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenStore:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def create(
        self,
        workspace_id: UUID | None,
        scopes: list[str],
        name: str = "",
        idempotency: dict[str, Any] | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new token. With ``idempotency`` ({scope, key, fingerprint, status, body}) the
        response is recorded in the same transaction; a concurrent request holding the
        same key makes this one raise IdempotencyRace and leaves no token behind.
        """
        # 32 random bytes: 256 bits, well past the 128 the threat model asks for.
        token = PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(uuid4(), workspace_id, frozenset(scopes), name)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO api_token (id, prefix, hash, workspace_id, scopes, name)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (info.id, token[:8], _digest(token), workspace_id, sorted(scopes), name),
            )
            if idempotency is not None:
                body = {**idempotency["body"], "id": str(info.id)}
                cur = conn.execute(
                    "INSERT INTO idempotency_key (scope, key, fingerprint, status, body)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (idempotency["scope"], idempotency["key"], idempotency["fingerprint"],
                     idempotency["status"], Jsonb(body)),
                )
                if cur.rowcount != 1:
                    raise _Rollback("the Idempotency-Key was recorded by a concurrent request")
        return info, token

    def verify(self, token: str) -> TokenInfo | None:
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT id, workspace_id, scopes, name FROM api_token"
                " WHERE hash = %s AND revoked_at IS NULL",
                (_digest(token),),
                prepare=True,
            ).fetchone()
        if row is None:
            return None
        return TokenInfo(row["id"], row["workspace_id"], frozenset(row["scopes"]), row["name"])

    def get(self, token_id: UUID) -> TokenInfo | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT id, workspace_id, scopes, name FROM api_token"
                " WHERE id = %s AND revoked_at IS NULL",
                (token_id,),
            ).fetchone()
        if row is None:
            return None
        return TokenInfo(row["id"], row["workspace_id"], frozenset(row["scopes"]), row["name"])

    def revoke(self, token_id: UUID) -> bool:
        with self.pool.connection() as conn:
            cur = conn.execute(
                "UPDATE api_token SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
                (token_id,),
            )
            return cur.rowcount == 1
