"""Proposal lifecycle, action parsing, risk, gates and scope splitting: pure domain."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratum.application.scope import split_actions
from stratum.domain.actions import Action, assess_risk, impacted
from stratum.domain.ai_config import AiSettings
from stratum.domain.errors import GateRefused, InvalidTransition, InvalidValue
from stratum.domain.events import Meta
from stratum.domain.gates import check_apply, gate_for
from stratum.domain.proposal import TRANSITIONS, Proposal

META = Meta(actor="token:alice", source="manual")
WS = uuid4()


def task_update(status: str = "in_progress", version: int = 1) -> Action:
    return Action("update", "task", uuid4(), version, {"status": status})


def draft(*actions: Action, confidence: float | None = None) -> Proposal:
    acts = list(actions) or [task_update()]
    return Proposal.draft(WS, META, "Move it", acts, assess_risk(acts), confidence=confidence)


def test_a_draft_records_its_proposer_source_and_history() -> None:
    p = draft()
    assert (p.status, p.proposer, p.source, p.version) == ("draft", "token:alice", "manual", 1)
    assert p.history[0]["status"] == "draft"


def test_the_happy_path_goes_draft_validated_approved_applied_rolled_back() -> None:
    p = draft()
    p.validate(["r"], META)
    p.approve(Meta(actor="token:bob", source="api"))
    p.record_applied({"name": "human_approval"}, False, {}, {}, META)
    p.roll_back(META)
    assert [h["status"] for h in p.history] == [
        "draft", "validated", "approved", "applied", "rolled_back"
    ]
    assert p.approvals[0]["approver"] == "token:bob"


@pytest.mark.parametrize(
    "steps",
    [
        ["approve"],  # a draft must be validated first
        ["validate", "rollback"],  # only an applied proposal rolls back
        ["validate", "reject", "approve"],  # rejected is final
        ["validate", "approve", "apply", "validate"],  # applied only rolls back
    ],
)
def test_illegal_transitions_are_domain_errors(steps: list[str]) -> None:
    p = draft()
    do = {
        "validate": lambda: p.validate([], META),
        "approve": lambda: p.approve(META),
        "reject": lambda: p.reject("no", META),
        "apply": lambda: p.record_applied({"name": "x"}, False, {}, {}, META),
        "rollback": lambda: p.roll_back(META),
    }
    with pytest.raises(InvalidTransition):
        for step in steps:
            do[step]()


def test_every_status_is_reachable_and_the_terminal_ones_are_final() -> None:
    reachable, stack = {"draft"}, ["draft"]
    while stack:
        for nxt in TRANSITIONS[stack.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                stack.append(nxt)
    assert reachable == set(TRANSITIONS)
    assert all(not TRANSITIONS[s] for s in ("rejected", "stale", "failed", "rolled_back"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"op": "rename", "entity": "task", "id": str(uuid4())}, "op is"),
        ({"op": "update", "entity": "plan", "id": str(uuid4())}, "entity is"),
        ({"op": "update", "entity": "task", "data": {"title": "x"}}, "needs the id"),
        ({"op": "update", "entity": "task", "id": "nope", "data": {"title": "x"}}, "UUID"),
        ({"op": "update", "entity": "task", "id": str(uuid4()), "data": {}}, "at least one"),
        ({"op": "update", "entity": "task", "id": str(uuid4()), "data": {"body": "x"}}, "unknown"),
        ({"op": "create", "entity": "spec", "data": {"body": "x"}}, "missing"),
        ({"op": "update", "entity": "task", "id": str(uuid4()), "data": {"status": "gone"}}, "status"),
        ({"op": "update", "entity": "task", "id": str(uuid4()), "data": {"title": 3}}, "string"),
        ({"op": "create", "entity": "task", "expected_version": 2, "data": {"title": "x"}}, "expected"),
    ],
)
def test_malformed_actions_are_refused_with_their_index(raw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        Action.parse(raw, 7, uuid4())
    assert message in caught.value.message
    assert caught.value.details["action_index"] == 7


def test_a_create_without_an_id_gets_the_one_it_is_given() -> None:
    new = uuid4()
    action = Action.parse({"op": "create", "entity": "task", "data": {"title": "x"}}, 0, new)
    assert action.id == new and Action.from_dict(action.to_dict()) == action


def test_risk_rises_with_deletes_status_moves_and_scope() -> None:
    assert assess_risk([task_update()])["level"] == "low"
    assert assess_risk([task_update("done")])["level"] == "medium"
    assert assess_risk([Action("delete", "task", uuid4(), 1)])["level"] == "high"
    assert assess_risk([task_update() for _ in range(5)])["level"] == "medium"
    assert assess_risk([task_update() for _ in range(11)])["level"] == "high"


def test_gates_follow_confidence_source_risk_and_the_workspace_settings() -> None:
    on = AiSettings(auto_apply_high_confidence=True)
    assert gate_for("agent", 0.95, "low", on)["name"] == "auto"
    assert gate_for("agent", 0.95, "medium", on)["name"] == "human_approval"
    assert gate_for("manual", 0.95, "low", on)["name"] == "human_approval"
    assert gate_for("agent", 0.95, "low", AiSettings())["name"] == "human_approval"
    assert gate_for("agent", 0.7, "low", on)["name"] == "human_approval"
    assert gate_for("agent", 0.3, "low", on)["name"] == "low_confidence"
    assert gate_for("api", None, "low", on)["name"] == "human_approval"


def test_the_low_confidence_gate_needs_approval_and_force_by_an_admin() -> None:
    gate = gate_for("agent", 0.1, "low", AiSettings())
    for approved, force, admin in [(False, True, True), (True, False, True), (True, True, False)]:
        with pytest.raises(GateRefused) as caught:
            check_apply(gate, approved, force, admin)
        assert caught.value.details["gate"]["name"] == "low_confidence"
    check_apply(gate, True, True, True)


def test_settings_refuse_inverted_thresholds_and_silly_limits() -> None:
    with pytest.raises(InvalidValue):
        AiSettings(high=0.5, medium=0.6)
    with pytest.raises(InvalidValue):
        AiSettings(max_entities_impacted_per_proposal=0)


entity_keys = st.lists(
    st.tuples(st.sampled_from(["spec", "task"]), st.integers(0, 12)), min_size=1, max_size=60
)


@given(keys=entity_keys, limit=st.integers(1, 6))
def test_split_batches_fit_the_limit_keep_order_and_keep_each_entity_in_one_batch(
    keys: list[tuple[str, int]], limit: int
) -> None:
    ids = {n: UUID(int=n + 1) for n in range(13)}
    actions = [
        Action("update", kind, ids[n], 1, {"title": f"t{i}"})  # type: ignore[arg-type]
        for i, (kind, n) in enumerate(keys)
    ]
    batches = split_actions(actions, limit)
    assert sorted((a.data["title"] for b in batches for a in b), key=lambda t: int(t[1:])) == [
        a.data["title"] for a in actions
    ]
    for batch in batches:
        assert len(impacted(batch)) <= limit
        titles = [int(a.data["title"][1:]) for a in batch]
        assert titles == sorted(titles)
    owners: dict[tuple[str, UUID], int] = {}
    for n, batch in enumerate(batches):
        for a in batch:
            assert owners.setdefault((a.entity, a.id), n) == n
