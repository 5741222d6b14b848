"""The proposal engine on the real event log: atomic apply, staleness, rollback, gates, scope."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID, uuid4

import pytest

from stratum.application.store import Ctx
from stratum.domain.ai_config import AiSettings
from stratum.domain.errors import ApprovalRefused, GateRefused
from stratum.domain.events import Meta
from stratum.domain.spec import Spec
from stratum.domain.spec import snapshot as spec_snapshot
from stratum.domain.task import Task
from stratum.domain.task import snapshot as task_snapshot
from stratum.errors import (
    KillSwitchEngaged,
    ProposalStale,
    RollbackConflict,
    RuleViolation,
    ScopeTooLarge,
)
from tests.integration.support import connect, head, scalar

ALICE = Ctx(Meta(actor="token:alice", source="manual"))
BOB = Ctx(Meta(actor="token:bob", source="manual"))
AGENT = Ctx(Meta(actor="token:agent", source="agent"))
SCHEDULER = Ctx(Meta(actor="system:scheduler", source="scheduler"))

SPEC = """# Checkout

## Requirements

### Requirement: Pay by card
The system SHALL take card payments.

#### Scenario: Card accepted
- **WHEN** a valid card is used
- **THEN** the order is paid
"""


@pytest.fixture
def world(container: Any) -> dict[str, Any]:
    ws, _ = container.workspaces.create(ALICE, "Acme", allow_draft_tasks=True)
    spec, _ = container.specs.create(ALICE, ws.id, "Checkout", SPEC)
    a, _ = container.tasks.create(ALICE, ws.id, "Build payments", spec_id=spec.id)
    b, _ = container.tasks.create(ALICE, ws.id, "Test payments", depends_on=[a.id])
    return {"ws": ws.id, "spec": spec.id, "a": a.id, "b": b.id}


def update(entity: str, entity_id: UUID, **data: Any) -> dict[str, Any]:
    return {"op": "update", "entity": entity, "id": str(entity_id), "data": data}


def approved(c: Any, ws: UUID, actions: list[dict[str, Any]], by: Ctx = ALICE, **kw: Any) -> UUID:
    (p,), _ = c.proposals.draft(by, ws, "Change", actions, **kw)
    c.proposals.validate(by, ws, p.id)
    c.proposals.approve(BOB, ws, p.id, agent_token=False)
    return UUID(str(p.id))


def events_of(conn: Any, entity_id: UUID) -> int:
    return int(scalar(conn, "SELECT count(*) FROM event_log WHERE originator_id = %s", (entity_id,)))


def test_apply_changes_every_target_and_records_pre_images(container: Any, world: dict[str, Any]) -> None:
    ws = world["ws"]
    pid = approved(container, ws, [
        update("task", world["a"], title="Build card payments", status="in_progress"),
        update("spec", world["spec"], title="Checkout v2"),
        {"op": "create", "entity": "task", "data": {"title": "Docs", "depends_on": [str(world["a"])]}},
    ])
    proposal, position = container.proposals.apply(BOB, ws, pid)
    assert proposal.status == "applied"
    a = container.log.load(Task, world["a"], ws)
    assert (a.title, a.status) == ("Build card payments", "in_progress")
    touched = proposal.applied["touched"]
    assert touched[str(world["a"])]["before"]["title"] == "Build payments"
    assert sum(t["created"] for t in touched.values()) == 1
    # The targets' events carry the proposal as their cause; the proposal's own is last.
    with connect(container.url) as conn:
        assert head(conn) == position
    latest = next(iter(container.log.events.get(world["a"], desc=True, limit=1)))
    assert latest.causation_id == f"proposal:{pid}" and latest.actor == "token:bob"
    again, again_position = container.proposals.apply(BOB, ws, pid)
    assert (again.status, again_position) == ("applied", position)


def test_a_failing_action_writes_nothing_to_any_target(container: Any, world: dict[str, Any]) -> None:
    ws = world["ws"]
    # The second action cannot be carried out: todo -> done is not a legal move.
    pid = approved(container, ws, [update("task", world["b"], title="Renamed")])
    (bad,), _ = container.proposals.draft(ALICE, ws, "Bad", [
        update("task", world["b"], title="Renamed again"), update("task", world["a"], status="done"),
    ])
    with connect(container.url) as conn:
        before_b, before_a = events_of(conn, world["b"]), events_of(conn, world["a"])
        with pytest.raises(RuleViolation) as caught:
            container.proposals.validate(ALICE, ws, bad.id)
        assert caught.value.details["violations"][0]["action_index"] == 1
        assert (events_of(conn, world["b"]), events_of(conn, world["a"])) == (before_b, before_a)
    assert container.proposals.get(ws, bad.id).status == "invalid"
    container.proposals.apply(BOB, ws, pid)


def test_the_second_of_two_approved_proposals_over_one_task_is_stale(
    container: Any, world: dict[str, Any]
) -> None:
    ws, task = world["ws"], world["a"]
    first = approved(container, ws, [update("task", task, title="A")])
    second = approved(container, ws, [update("task", task, title="B")])
    container.proposals.apply(BOB, ws, first)
    with connect(container.url) as conn:
        position = head(conn)
        with pytest.raises(ProposalStale) as caught:
            container.proposals.apply(BOB, ws, second)
        # Only the proposal's own MarkedStale event was written.
        assert head(conn) == position + 1
    assert caught.value.details["stale"] == [
        {"entity": "task", "id": str(task), "expected_version": 1, "current_version": 2, "deleted": False}
    ]
    assert container.proposals.get(ws, second).status == "stale"


def test_twenty_concurrent_applies_apply_once_and_all_answer_alike(
    container: Any, world: dict[str, Any]
) -> None:
    ws = world["ws"]
    pid = approved(
        container, ws, [update("task", world["a"], title="Once"), update("task", world["b"], title="Twice")]
    )
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def apply() -> None:
        barrier.wait()
        try:
            p, position = container.proposals.apply(BOB, ws, pid)
            results.append((p.status, position))
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=apply) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1 and results[0][0] == "applied"
    with connect(container.url) as conn:
        assert events_of(conn, world["a"]) == 2  # created + exactly one edit
        applied = scalar(
            conn, "SELECT count(*) FROM event_log WHERE originator_id = %s AND topic LIKE %s",
            (pid, "%Proposal.Applied"),
        )
        assert applied == 1


def test_rollback_restores_the_entities_and_refuses_after_later_changes(
    container: Any, world: dict[str, Any]
) -> None:
    ws = world["ws"]
    before = (task_snapshot(container.log.load(Task, world["a"], ws)),
              spec_snapshot(container.log.load(Spec, world["spec"], ws)))
    pid = approved(container, ws, [
        update("task", world["a"], status="in_progress", title="X"),
        update("spec", world["spec"], body=SPEC + "\n### Requirement: Refunds\nThe system SHALL refund.\n"),
        {"op": "create", "entity": "task", "data": {"title": "New", "depends_on": [str(world["a"])]}},
    ])
    applied, _ = container.proposals.apply(BOB, ws, pid)
    created = next(UUID(i) for i, t in applied.applied["touched"].items() if t["created"])
    container.proposals.rollback(BOB, ws, pid)
    after = (task_snapshot(container.log.load(Task, world["a"], ws)),
             spec_snapshot(container.log.load(Spec, world["spec"], ws)))
    assert after == before
    assert container.log.load(Task, created, ws).deleted

    # Apply another, then change a touched task by hand and through a second proposal.
    pid2 = approved(container, ws, [update("task", world["b"], title="Y")])
    container.proposals.apply(BOB, ws, pid2)
    pid3 = approved(container, ws, [update("task", world["b"], title="Z")])
    container.proposals.apply(BOB, ws, pid3)
    with pytest.raises(RollbackConflict) as caught:
        container.proposals.rollback(BOB, ws, pid2)
    (conflict,) = caught.value.details["conflicts"]
    assert conflict["id"] == str(world["b"]) and conflict["later_proposals"] == [str(pid3)]
    assert container.proposals.get(ws, pid2).status == "applied"


def test_one_rule_refuses_one_change_identically_through_every_source(
    container: Any, world: dict[str, Any]
) -> None:
    ws, b = world["ws"], world["b"]
    # b depends on a, which is not done: b may not become done, whoever asks.
    for status in ("in_progress", "in_review"):
        container.tasks.update(ALICE, ws, b, None, status=status)
    refusals = []
    with pytest.raises(RuleViolation) as direct:
        container.tasks.update(ALICE, ws, b, None, status="done")
    refusals.append(direct.value.details["violations"])
    for who in (ALICE, AGENT, SCHEDULER):
        (p,), _ = container.proposals.draft(who, ws, "Finish", [update("task", b, status="done")])
        with pytest.raises(RuleViolation) as caught:
            container.proposals.validate(who, ws, p.id)
        refusals.append(caught.value.details["violations"])
    assert all(r == refusals[0] for r in refusals)
    assert refusals[0] == [{
        "rule": "task.dependencies_done",
        "message": "a task cannot be done while a task it depends on is not done",
        "action_index": 0, "entity_id": str(b), "pending_dependencies": [str(world["a"])],
    }]


def test_the_rules_are_checked_again_at_apply(container: Any, world: dict[str, Any]) -> None:
    ws = world["ws"]
    # Validated while the spec had no tasks... then a task appears: archiving is refused at apply.
    (p,), _ = container.proposals.draft(
        ALICE, ws, "Archive", [update("spec", world["spec"], status="archived")]
    )
    container.tasks.update(ALICE, ws, world["a"], None, spec_id=None)
    container.proposals.validate(ALICE, ws, p.id)
    container.proposals.approve(BOB, ws, p.id, agent_token=False)
    container.tasks.create(ALICE, ws, "Late", spec_id=world["spec"])
    with pytest.raises(RuleViolation) as caught:
        container.proposals.apply(BOB, ws, p.id)
    assert caught.value.details["violations"][0]["rule"] == "spec.open_tasks_block_archive"
    assert container.proposals.get(ws, p.id).status == "invalid"


def test_the_workspace_limits_scope_by_refusing_or_splitting(container: Any, world: dict[str, Any]) -> None:
    ws = world["ws"]
    container.ai_config.put(ALICE, ws, None, AiSettings(max_entities_impacted_per_proposal=2))
    creates = [{"op": "create", "entity": "task", "data": {"title": f"T{i}"}} for i in range(5)]
    with pytest.raises(ScopeTooLarge) as caught:
        container.proposals.draft(ALICE, ws, "Many", creates)
    assert caught.value.details == {"impacted": 5, "limit": 2}
    split = AiSettings(max_entities_impacted_per_proposal=2, scope_overflow="split")
    container.ai_config.put(ALICE, ws, 1, split)
    proposals, _ = container.proposals.draft(ALICE, ws, "Many", creates)
    assert [len(p.actions) for p in proposals] == [2, 2, 1]
    ids = {str(p.id) for p in proposals}
    assert all(set(p.batch["proposal_ids"]) == ids for p in proposals)


def test_gates_four_eyes_and_auto_apply(container: Any, world: dict[str, Any]) -> None:
    ws = world["ws"]
    strict = AiSettings(require_four_eyes=True, auto_apply_high_confidence=True)
    container.ai_config.put(ALICE, ws, None, strict)
    (mine,), _ = container.proposals.draft(ALICE, ws, "Mine", [update("task", world["a"], title="M")])
    container.proposals.validate(ALICE, ws, mine.id)
    with pytest.raises(GateRefused):
        container.proposals.apply(BOB, ws, mine.id)  # not approved yet
    with pytest.raises(ApprovalRefused):
        container.proposals.approve(ALICE, ws, mine.id, agent_token=False)
    with pytest.raises(ApprovalRefused):
        container.proposals.approve(AGENT, ws, mine.id, agent_token=True)
    container.proposals.approve(BOB, ws, mine.id, agent_token=False)
    container.proposals.apply(BOB, ws, mine.id)

    (low,), _ = container.proposals.draft(AGENT, ws, "Unsure", [update("task", world["b"], title="L")],
                                          confidence=0.2)
    container.proposals.validate(AGENT, ws, low.id)
    container.proposals.approve(BOB, ws, low.id, agent_token=False)
    with pytest.raises(GateRefused):
        container.proposals.apply(BOB, ws, low.id, force=True, by_admin=False)
    applied, _ = container.proposals.apply(BOB, ws, low.id, force=True, by_admin=True)
    assert applied.applied["forced"] is True

    (sure,), _ = container.proposals.draft(AGENT, ws, "Sure", [update("task", world["b"], title="S")],
                                           confidence=0.99)
    validated, _ = container.proposals.validate(AGENT, ws, sure.id)
    assert validated.status == "applied" and validated.applied["gate"]["name"] == "auto"
    assert not validated.approvals


def test_drafts_fill_expected_versions_and_refuse_unknown_targets(
    container: Any, world: dict[str, Any]
) -> None:
    ws = world["ws"]
    (p,), _ = container.proposals.draft(ALICE, ws, "x", [update("task", world["a"], title="v")])
    assert p.actions[0].expected_version == 1
    with pytest.raises(RuleViolation):
        container.proposals.draft(ALICE, ws, "x", [update("task", uuid4(), title="v")])


def test_the_proposals_view_equals_a_replay_of_the_log(container: Any, world: dict[str, Any]) -> None:
    ws = world["ws"]
    applied = approved(container, ws, [update("task", world["a"], title="R")])
    container.proposals.apply(BOB, ws, applied)
    container.proposals.rollback(BOB, ws, applied)
    (rejected,), _ = container.proposals.draft(AGENT, ws, "No", [update("task", world["b"], title="N")])
    container.proposals.reject(BOB, ws, rejected.id, "not now")
    container.start_projections()
    with connect(container.url) as conn:
        position = head(conn)
        container.wait_for("proposals", position, timeout=20)
        columns = "id, status, version, approvals, applied_position, rolled_back_position, created_position"
        live = conn.execute(f"SELECT {columns} FROM proposals.proposal ORDER BY id").fetchall()
        assert container.replay("proposals") == position
        assert conn.execute(f"SELECT {columns} FROM proposals.proposal ORDER BY id").fetchall() == live
    by_id = {row[0]: row for row in live}
    assert by_id[applied][1:3] == ("rolled_back", 5) and by_id[applied][4] < by_id[applied][5]
    assert by_id[rejected.id][1] == "rejected"



def test_failing_agent_applies_trip_the_agent_kill_switch(build_container: Any) -> None:
    c = build_container(auto_kill_min_calls=3, auto_kill_error_rate=0.5)
    ws, _ = c.workspaces.create(ALICE, "Acme", allow_draft_tasks=True)
    doomed, _ = c.tasks.create(ALICE, ws.id, "Will be deleted")
    other, _ = c.tasks.create(ALICE, ws.id, "Other")
    pids = []
    for n in range(3):
        # Valid when drafted and approved; by apply time the dependency is gone.
        data = {"title": f"T{n}", "depends_on": [str(doomed.id)]}
        create = {"op": "create", "entity": "task", "data": data}
        (p,), _ = c.proposals.draft(AGENT, ws.id, "Add", [create])
        c.proposals.validate(AGENT, ws.id, p.id)
        c.proposals.approve(BOB, ws.id, p.id, agent_token=False)
        pids.append(p.id)
    c.tasks.delete(ALICE, ws.id, doomed.id, None)
    for pid in pids:
        with pytest.raises(RuleViolation):
            c.proposals.apply(BOB, ws.id, pid)
        assert c.proposals.get(ws.id, pid).status == "failed"
    switch = c.kill_switches.get("feature:agent_command")
    assert switch["engaged"] and switch["auto"] and switch["actor"] == "system:auto-kill"
    # Nothing from the agent lands now, even approved by a person; people still work.
    (p,), _ = c.proposals.draft(ALICE, ws.id, "Manual", [update("task", other.id, title="fine")])
    c.proposals.validate(ALICE, ws.id, p.id)
    with pytest.raises(KillSwitchEngaged):
        c.proposals.draft(AGENT, ws.id, "Agent", [update("task", other.id, title="no")])
    c.proposals.approve(BOB, ws.id, p.id, agent_token=False)
    assert c.proposals.apply(BOB, ws.id, p.id)[0].status == "applied"
