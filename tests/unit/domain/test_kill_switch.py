from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from stratum.domain.errors import InvalidValue
from stratum.domain.events import Meta
from stratum.domain.kill_switch import (
    FEATURES,
    GLOBAL,
    NO_WORKSPACE,
    KillSwitch,
    feature_key,
    guard_keys,
    key_of,
    parse_key,
    switch_id,
    workspace_key,
)
from stratum.domain.registry import event_types
from tests.unit.domain.helpers import META, fold, state, through_the_log

WS = UUID("0b8e6c2a-6f3a-4a53-9d0e-6a2b1c7d9e01")


def test_a_mutation_is_guarded_by_the_global_its_workspace_and_its_sources_feature() -> None:
    assert guard_keys(WS, "agent") == (GLOBAL, workspace_key(WS), "feature:agent_command")
    assert guard_keys(WS, "scheduler", ("auto_apply",)) == (
        GLOBAL, workspace_key(WS), "feature:scheduler", "feature:auto_apply"
    )
    assert guard_keys(WS, "manual") == (GLOBAL, workspace_key(WS))
    assert guard_keys(None, "api") == (GLOBAL,)
    # A feature named twice is checked once.
    assert guard_keys(WS, "agent", ("agent_command",)) == (GLOBAL, workspace_key(WS), "feature:agent_command")


@pytest.mark.parametrize(
    ("scope", "target", "key"),
    [
        ("global", None, "global"),
        ("workspace", WS, f"workspace:{WS}"),
        ("workspace", str(WS).upper(), f"workspace:{WS}"),
        *[("feature", f, f"feature:{f}") for f in FEATURES],
    ],
)
def test_keys_name_one_switch_each(scope: str, target: object, key: str) -> None:
    assert key_of(scope, target) == key  # type: ignore[arg-type]
    parsed_scope, _, workspace_id = parse_key(key)
    assert parsed_scope == scope
    assert workspace_id == (WS if scope == "workspace" else NO_WORKSPACE)
    assert switch_id(key) == switch_id(key) and switch_id(key) != switch_id(GLOBAL + "x")


@pytest.mark.parametrize(
    ("scope", "target"),
    [("global", "x"), ("workspace", None), ("workspace", "not-a-uuid"), ("feature", "nuclear"),
     ("feature", None), ("planet", None)],
)
def test_a_scope_and_target_that_do_not_fit_are_refused(scope: str, target: str | None) -> None:
    with pytest.raises(InvalidValue):
        key_of(scope, target)


def test_a_new_switch_is_disengaged_and_lives_where_its_key_says() -> None:
    switch = KillSwitch.create(workspace_key(WS), META)
    assert switch.id == switch_id(workspace_key(WS))
    assert switch.workspace_id == WS
    assert not switch.engaged
    assert KillSwitch.create(feature_key("scheduler"), META).workspace_id == NO_WORKSPACE
    assert KillSwitch.create(GLOBAL, META).workspace_id == NO_WORKSPACE


def test_engaging_records_reason_actor_and_auto_and_is_a_no_op_when_engaged() -> None:
    switch = KillSwitch.create(feature_key("agent_command"), META)
    switch.engage("  agent loops  ", Meta(actor="user:ops"), auto=True, details={"calls": 20})
    assert (switch.engaged, switch.reason, switch.actor, switch.auto) == (
        True, "agent loops", "user:ops", True
    )
    assert switch.details == {"calls": 20}
    version = switch.version
    switch.engage("again", Meta(actor="user:other"))
    assert switch.version == version and switch.reason == "agent loops"
    switch.disengage("fixed", Meta(actor="user:ops2"))
    assert (switch.engaged, switch.reason, switch.actor, switch.auto) == (False, "fixed", "user:ops2", False)
    switch.disengage("again", META)
    assert switch.version == version + 1
    names = [type(e).__qualname__ for e in switch.collect_events()]
    assert names == ["KillSwitch.Created", "KillSwitch.Engaged", "KillSwitch.Disengaged"]


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501, "nul\x00"])
def test_a_reason_is_required_and_bounded(reason: str) -> None:
    switch = KillSwitch.create(GLOBAL, META)
    with pytest.raises(InvalidValue):
        switch.engage(reason, META)
    switch.engage("ok", META)
    with pytest.raises(InvalidValue):
        switch.disengage(reason, META)


def test_the_state_row_is_what_the_guard_reads() -> None:
    switch = KillSwitch.create(workspace_key(WS), META)
    switch.engage("incident 42", Meta(actor="user:ops"))
    row = switch.switch_state()
    assert row == {
        "key": f"workspace:{WS}",
        "scope": "workspace",
        "target": str(WS),
        "engaged": True,
        "reason": "incident 42",
        "actor": "user:ops",
        "auto": False,
        "version": 2,
        "changed_at": switch.modified_on.isoformat(),
    }


def test_folding_a_switchs_events_reproduces_it() -> None:
    switch = KillSwitch.create(feature_key("auto_apply"), META)
    switch.engage("bad batch", META, auto=True, details={"error_rate": 0.6, "window": [1, 2]})
    switch.disengage("ok now", META)
    switch.engage("again", Meta(actor=f"user:{uuid4()}"))
    events = switch.collect_events()
    folded = fold(through_the_log(events))
    assert state(folded) == state(switch)
    assert folded.switch_state() == switch.switch_state()


def test_switch_events_are_public_event_types() -> None:
    known = event_types()
    assert {"KillSwitch.Created", "KillSwitch.Engaged", "KillSwitch.Disengaged"} <= set(known)
