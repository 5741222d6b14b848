"""Prompt versions on the real event log: add, activate, roll back, and the drift monitor's rollback."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID, uuid4

import pytest

from stratum.application.store import Ctx
from stratum.domain.agent.drift import DriftThresholds, VersionStats, judge, metrics
from stratum.domain.agent.prompt import NothingToRollBack, Prompt, prompt_id
from stratum.domain.errors import Archived, InvalidValue
from stratum.domain.events import Meta
from stratum.errors import NotFound, VersionConflict
from stratum.infrastructure.llm.templates import defaults
from tests.integration.support import connect, head, scalar

ADMIN = Ctx(Meta(actor="token:admin", source="api"))
MONITOR = Ctx(Meta(actor="system:prompt-drift", source="system", correlation_id="drift-1"))
TEMPLATE = '{% for c in chunks %}{{ c.text | untrusted("chunk-" ~ c.chunk_id) }}{% endfor %}\n{{ text }}'


@pytest.fixture
def ws(container: Any) -> UUID:
    workspace, _ = container.workspaces.create(ADMIN, "Acme")
    return UUID(str(workspace.id))


def types_of(conn: Any, aggregate_id: UUID) -> list[str]:
    rows = conn.execute(
        "SELECT topic FROM event_log WHERE originator_id = %s ORDER BY originator_version", (aggregate_id,)
    ).fetchall()
    return [r[0].rsplit(":", 1)[1] for r in rows]


def test_a_new_workspace_uses_the_builtin_prompts(container: Any, ws: UUID) -> None:
    for name in ("command", "chat", "summarise"):
        assert container.prompts.get(ws, name) is None
        assert container.prompts.active(ws, name) == (0, *defaults()[name])


def test_versions_activation_and_rollback(container: Any, ws: UUID, database_url: str) -> None:
    prompts = container.prompts
    p, _ = prompts.add_version(ADMIN, ws, "command", "You plan. {{ schema }}", TEMPLATE, "tighter")
    assert (p.latest, p.active) == (1, 0)
    assert prompts.active(ws, "command")[0] == 0  # stored, not live
    p, _ = prompts.add_version(ADMIN, ws, "command", None, TEMPLATE + " v2")
    assert p.versions[2]["system"] == defaults()["command"][0]  # the built-in system prompt, copied

    p, _ = prompts.activate(ADMIN, ws, "command", 1)
    assert prompts.active(ws, "command") == (1, "You plan. {{ schema }}", TEMPLATE)
    prompts.activate(ADMIN, ws, "command", 2)
    assert prompts.active(ws, "command")[0] == 2
    p, position = prompts.rollback(ADMIN, ws, "command")
    assert p.active == 1 and prompts.active(ws, "command")[0] == 1
    # Other prompts of the workspace are untouched.
    assert prompts.active(ws, "chat")[0] == 0

    with connect(database_url) as conn:
        assert types_of(conn, prompt_id(ws, "command")) == [
            "Prompt.Created", "Prompt.VersionAdded", "Prompt.VersionAdded",
            "Prompt.Activated", "Prompt.Activated", "Prompt.RolledBack",
        ]
        assert head(conn) == position
        workspace = scalar(conn, "SELECT workspace_id FROM event_log WHERE notification_id = %s", (position,))
        assert workspace == ws
    stored = container.log.load(Prompt, prompt_id(ws, "command"), ws)
    assert [h["event"] for h in stored.history][-1] == "rolled_back"
    assert stored.history[-1]["actor"] == "token:admin" and stored.history[-1]["automatic"] is False


def test_a_refused_change_writes_nothing(container: Any, ws: UUID, database_url: str) -> None:
    prompts = container.prompts
    with connect(database_url) as conn:
        before = head(conn)
        with pytest.raises(InvalidValue) as e:
            prompts.add_version(ADMIN, ws, "chat", None, "{{ ''.__class__ }}")
        assert e.value.details["field"] == "template"
        with pytest.raises(InvalidValue) as e:
            prompts.add_version(ADMIN, ws, "chat", "{% if %}", TEMPLATE)
        assert e.value.details["field"] == "system"
        with pytest.raises(InvalidValue):
            prompts.activate(ADMIN, ws, "chat", 1)
        with pytest.raises(NothingToRollBack):
            prompts.rollback(ADMIN, ws, "chat")
        with pytest.raises(NotFound):
            prompts.add_version(ADMIN, ws, "poem", None, TEMPLATE)
        with pytest.raises(NotFound):
            prompts.get(uuid4(), "chat")
        assert head(conn) == before


def test_if_match_is_checked(container: Any, ws: UUID) -> None:
    prompts = container.prompts
    with pytest.raises(VersionConflict):
        prompts.add_version(ADMIN, ws, "chat", None, TEMPLATE, expected=3)
    p, _ = prompts.add_version(ADMIN, ws, "chat", None, TEMPLATE, expected=0)
    assert p.version == 2
    with pytest.raises(VersionConflict):
        prompts.activate(ADMIN, ws, "chat", 1, expected=1)
    p, _ = prompts.activate(ADMIN, ws, "chat", 1, expected=2)
    assert p.active == 1


def test_an_archived_workspace_refuses_prompt_changes(container: Any, ws: UUID) -> None:
    container.workspaces.update(ADMIN, ws, None, None, archive=True)
    with pytest.raises(Archived):
        container.prompts.add_version(ADMIN, ws, "chat", None, TEMPLATE)


def _drifted(container: Any, ws: UUID) -> tuple[list[str], dict[str, Any]]:
    prompts = container.prompts
    prompts.add_version(ADMIN, ws, "command", None, TEMPLATE)
    prompts.add_version(ADMIN, ws, "command", None, TEMPLATE + " worse")
    prompts.activate(ADMIN, ws, "command", 1)
    prompts.activate(ADMIN, ws, "command", 2)
    current = VersionStats(2, calls=120, validation_failures=40, decided=60, approved=20, p50_latency_ms=900)
    previous = VersionStats(1, calls=150, validation_failures=6, decided=70, approved=56, p50_latency_ms=850)
    reasons = judge(current, previous, DriftThresholds())
    assert len(reasons) == 2
    return reasons, metrics(current, previous)


def test_auto_rollback_writes_the_event_and_alerts(
    container: Any, ws: UUID, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    reasons, figures = _drifted(container, ws)
    with caplog.at_level(logging.WARNING, logger="stratum.agent.drift"):
        p, position = container.prompts.auto_rollback(MONITOR, ws, "command", reasons, figures, judged=2)
    assert p.active == 1 and container.prompts.active(ws, "command")[0] == 1

    stored = container.log.load(Prompt, prompt_id(ws, "command"), ws)
    last = stored.history[-1]
    assert (last["event"], last["automatic"], last["version"], last["previous"]) == (
        "rolled_back", True, 1, 2,
    )
    assert (last["reasons"], last["metrics"], last["actor"]) == (reasons, figures, "system:prompt-drift")
    with connect(database_url) as conn:
        assert types_of(conn, prompt_id(ws, "command"))[-1] == "Prompt.RolledBack"
        assert head(conn) == position

    (record,) = [r for r in caplog.records if r.name == "stratum.agent.drift"]
    assert record.levelno == logging.WARNING
    assert "rolled back from version 2 to 1" in record.getMessage()
    fields: dict[str, Any] = vars(record)
    assert fields["alert"] == "prompt_drift_rollback" and fields["workspace_id"] == str(ws)
    assert (fields["prompt"], fields["from_version"], fields["to_version"]) == ("command", 2, 1)
    assert fields["reasons"] == reasons and fields["metrics"] == figures and fields["position"] == position


def test_a_stale_verdict_changes_nothing(
    container: Any, ws: UUID, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    reasons, figures = _drifted(container, ws)
    container.prompts.activate(ADMIN, ws, "command", 1)  # an admin acted first
    with connect(database_url) as conn, caplog.at_level(logging.WARNING, logger="stratum.agent.drift"):
        before = head(conn)
        p, _ = container.prompts.auto_rollback(MONITOR, ws, "command", reasons, figures, judged=2)
        assert head(conn) == before
    assert p.active == 1 and not [r for r in caplog.records if r.name == "stratum.agent.drift"]
    with pytest.raises(NothingToRollBack):
        container.prompts.auto_rollback(MONITOR, ws, "summarise", reasons, figures)


def test_switching_needs_no_restart(build_container: Any, container: Any, ws: UUID) -> None:
    # Another process (its own container and aggregate cache) sees a switch at its next read.
    other = build_container()
    assert other.prompts.active(ws, "chat")[0] == 0
    container.prompts.add_version(ADMIN, ws, "chat", None, TEMPLATE)
    container.prompts.activate(ADMIN, ws, "chat", 1)
    assert other.prompts.active(ws, "chat") == (1, defaults()["chat"][0], TEMPLATE)
