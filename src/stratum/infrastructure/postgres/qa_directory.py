"""What a workspace's tests can map to, as the QA view knows it: for an upload's summary.

The evidence in the QA views is resolved again by the projection as specs and links
change; this only counts how many of an upload's tests named something at upload time.
"""

from __future__ import annotations

from uuid import UUID

from stratum.application.test_runs import Directory
from stratum.infrastructure.postgres.pool import Pool

KEYS = (
    "SELECT r.match_key, r.spec_id::text || ':' || r.match_key FROM qa.requirement r"
    " JOIN qa.spec s ON s.id = r.spec_id WHERE r.workspace_id = %s AND r.live AND NOT s.deleted"
)
LINKED = (
    "SELECT DISTINCT unnest(l.tests) FROM qa.link l JOIN qa.spec s ON s.id = l.spec_id"
    " WHERE l.workspace_id = %s AND NOT s.deleted"
)


class RequirementDirectory:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def __call__(self, ws: UUID) -> Directory:
        with self.pool.connection() as conn:
            rows = conn.execute(KEYS, (ws,)).fetchall()
            linked = conn.execute(LINKED, (ws,)).fetchall()
        keys = {v for r in rows for v in (r.values() if isinstance(r, dict) else r)}
        names = {next(iter(r.values())) if isinstance(r, dict) else r[0] for r in linked}
        return Directory(frozenset(keys), frozenset(names))
