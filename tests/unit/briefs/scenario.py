"""A fixed day of facts in Europe/Paris around the spring DST change (2026-03-29, 23 h long)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from stratum.projections.brief_compose import Inputs, TaskState, Window

TZ = "Europe/Paris"
SPEC, OTHER_SPEC = UUID(int=1), UUID(int=2)
P_WAIT, P_OLD, P_APPLIED, P_STALE, P_REJECTED = (UUID(int=n) for n in range(10, 15))
T_BASE, T_DEP, T_BLOCKED, T_DONE = (UUID(int=n) for n in range(20, 24))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def fact(position: int, when: datetime, kind: str, entity: UUID, **data: Any) -> dict[str, Any]:
    return {"position": position, "occurred_at": when, "kind": kind, "entity_id": entity, "data": data}


def task(title: str, status: str, depends_on: tuple[UUID, ...] = (), **more: Any) -> dict[str, Any]:
    return {"title": title, "status": status, "depends_on": [str(d) for d in depends_on],
            "deleted": False, **more}


def morning_window() -> Window:
    return Window.of("morning", date(2026, 3, 30), TZ)


def facts() -> list[dict[str, Any]]:
    """What happened on 2026-03-29 local (2026-03-28 23:00 UTC to 2026-03-29 22:00 UTC)."""
    return [
        fact(101, at(28, 23, 30), "spec", SPEC, title="Auth *login*", change="modified", uids=["REQ-001"]),
        fact(102, at(29, 8), "spec", SPEC, title="Auth *login*", change="added", uids=["REQ-004"]),
        fact(103, at(29, 8), "spec", OTHER_SPEC, title="Billing", change="created", uids=["B-1", "B-2"]),
        fact(104, at(29, 9), "task", T_DONE,
             **task("Ship [beta]", "done", moved={"from": "in_review", "to": "done"})),
        fact(105, at(29, 10), "proposal", P_APPLIED, title="Rename REQ-002", status="applied"),
        fact(106, at(29, 11), "proposal", P_STALE, title="Split auth", status="stale"),
        fact(107, at(29, 12), "task", T_BLOCKED, **task("Wire SSO", "blocked", (T_DEP,),
                                                        moved={"from": "todo", "to": "blocked"})),
        fact(108, at(29, 13), "proposal", P_REJECTED, title="Drop audit", status="rejected"),
        fact(109, at(29, 14), "task", T_DONE, **task("Ship [beta]", "in_progress",
                                                     moved={"from": "done", "to": "in_progress"})),
        fact(110, at(29, 21, 59), "proposal", P_WAIT, title="Add | pipes", status="validated"),
    ]


def task_state(entity: UUID, title: str, status: str, depends_on: tuple[UUID, ...] = ()) -> TaskState:
    return (entity, title, status, [str(d) for d in depends_on] or None)


def inputs() -> Inputs:
    return Inputs(
        facts=facts(),
        proposals=[
            (P_WAIT, at(29, 21, 59), "Add | pipes", "validated"),
            (P_OLD, at(20, 9), "Old one", "validated"),
            (P_APPLIED, at(29, 10), "Rename REQ-002", "applied"),
            (P_STALE, at(29, 11), "Split auth", "stale"),
        ],
        tasks=[
            task_state(T_BASE, "Base", "in_progress"),
            task_state(T_DEP, "Needs base", "todo", (T_BASE,)),
            task_state(T_BLOCKED, "Wire SSO", "blocked", (T_DEP,)),
            task_state(T_DONE, "Ship [beta]", "in_progress"),
        ],
        awaiting_since={P_WAIT: at(29, 21, 59), P_OLD: at(20, 9)},
        scores_before={SPEC: 0.5, OTHER_SPEC: None},
        scores_after={SPEC: 0.25, OTHER_SPEC: 1.0},
        outcomes_before={"suite::test_a": "passed", "suite::test_b": "failed", "suite::test_c": "passed"},
        outcomes_after={"suite::test_a": "failed", "suite::test_b": "passed",
                        "suite::test_c": "passed", "suite::test_new": "error"},
    )
