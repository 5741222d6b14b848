"""Reading the event log in position order, as projections and streams need it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import Connection

from stratum.infrastructure.postgres.recorder import EVENT_TABLE

SELECT_AFTER = (
    f"SELECT notification_id, originator_id, originator_version, topic, state"
    f" FROM {EVENT_TABLE} WHERE notification_id > %s AND notification_id <= %s"
    f" ORDER BY notification_id LIMIT %s"
)


def read_batch(
    conn: Connection[Any], mapper: Mapper[Any], after: int, limit: int, upto: int | None = None
) -> list[tuple[int, Any]]:
    """Up to ``limit`` (position, domain event) pairs after ``after``, in order.

    Positions are assigned under the append lock in commit order, so a reader that
    has seen position n has seen everything before it: no gap is ever filled later.
    """
    with conn.cursor(binary=True) as cur:
        cur.execute(SELECT_AFTER, (after, upto if upto is not None else 2**62, limit), prepare=True)
        rows: Sequence[Any] = cur.fetchall()
    out = []
    for row in rows:
        pos, oid, ver, topic, state = (
            (row["notification_id"], row["originator_id"], row["originator_version"],
             row["topic"], row["state"])
            if isinstance(row, dict) else row
        )
        out.append((pos, mapper.to_domain_event(StoredEvent(oid, ver, topic, bytes(state)))))
    return out


def head(conn: Connection[Any]) -> int:
    row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {EVENT_TABLE}").fetchone()
    assert row is not None
    return int(row[0] if not isinstance(row, dict) else next(iter(row.values())))
