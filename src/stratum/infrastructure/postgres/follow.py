"""Reading the event log in position order, as projections and streams need it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic
from psycopg import Connection

from stratum.infrastructure.postgres.recorder import EVENT_TABLE

COLUMNS = "notification_id, originator_id, originator_version, topic, state, xmin::text AS tx"
SELECT_AFTER = (
    f"SELECT {COLUMNS} FROM {EVENT_TABLE}"
    f" WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
)
# The rest of one transaction's rows: its positions are consecutive (the append lock).
SELECT_REST_OF_TX = (
    f"SELECT {COLUMNS} FROM {EVENT_TABLE}"
    f" WHERE notification_id > %s AND xmin = %s::xid ORDER BY notification_id"
)


class Skipped:
    """An event of a topic the projection does not read: its position, not decoded."""

    __slots__ = ()


SKIPPED = Skipped()


def read_batch(
    conn: Connection[Any], mapper: Mapper[Any], after: int, limit: int, upto: int | None = None,
    topics: Collection[str] | None = None,
) -> list[tuple[int, Any]]:
    """About ``limit`` (position, domain event) pairs after ``after``, in order.

    Positions are assigned under the append lock in commit order, so a reader that
    has seen position n has seen everything before it: no gap is ever filled later.
    A batch never ends inside a transaction: one command's events (a spec body and
    its requirement changes, a task and its dependency edges) become visible together.

    With ``topics``, an event of another topic comes as ``SKIPPED``: decoding is most of
    a projection's reading, and a spec's revision can hold 20,000 requirement events.
    """
    with conn.cursor(binary=True) as cur:
        cur.execute(SELECT_AFTER, (after, upto if upto is not None else 2**62, limit), prepare=True)
        rows: list[Any] = list(cur.fetchall())
        if rows and len(rows) == limit and upto is None:
            last = rows[-1]
            tx = last["tx"] if isinstance(last, dict) else last[5]
            position = last["notification_id"] if isinstance(last, dict) else last[0]
            cur.execute(SELECT_REST_OF_TX, (position, tx), prepare=True)
            rows.extend(cur.fetchall())
    out: list[tuple[int, Any]] = []
    for row in rows:
        pos, oid, ver, topic, state = (
            (row["notification_id"], row["originator_id"], row["originator_version"],
             row["topic"], row["state"])
            if isinstance(row, dict) else row[:5]
        )
        if topics is not None and topic not in topics:
            out.append((pos, SKIPPED))
            continue
        out.append((pos, mapper.to_domain_event(StoredEvent(oid, ver, topic, bytes(state)))))
    return out


def head(conn: Connection[Any]) -> int:
    row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {EVENT_TABLE}").fetchone()
    assert row is not None
    return int(row[0] if not isinstance(row, dict) else next(iter(row.values())))


def topics_of(projection: Any) -> frozenset[str] | None:
    """The topics of the event classes a projection declares it reads (``events``), if any."""
    events = getattr(projection, "events", None)
    return None if events is None else frozenset(get_topic(cls) for cls in events)
