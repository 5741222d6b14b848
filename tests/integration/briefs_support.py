"""Helpers of the brief tests: a clock the events take their timestamps from, settling, golden ids."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.support import connect, head

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class EventClock:
    """The time every new event is stamped with. It stands still between ``set``s, so a stamp does
    not depend on how many events the library made before it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when


@contextmanager
def event_clock(monkeypatch: pytest.MonkeyPatch, start: datetime) -> Iterator[EventClock]:
    import eventsourcing.domain

    clock = EventClock(start)
    monkeypatch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", clock)
    yield clock


def settle(c: Any, *projections: str) -> None:
    with connect(c.url) as conn:
        position = head(conn)
    for name in projections:
        c.wait_for(name, position, timeout=30)


def anonymise(body: dict[str, Any], markdown: str) -> tuple[str, str]:
    """Ids are random: name them by order of first appearance, in the JSON and its markdown alike."""
    import json

    text = json.dumps({k: v for k, v in body.items() if k != "markdown"}, indent=2, ensure_ascii=False)
    names: dict[str, str] = {}
    for found in UUID_RE.findall(text + markdown):
        names.setdefault(found, f"<id-{len(names) + 1}>")

    def sub(s: str) -> str:
        return UUID_RE.sub(lambda m: names[m.group(0)], s)

    return sub(text) + "\n", sub(markdown)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)
