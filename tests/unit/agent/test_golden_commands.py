"""Every phrasing in tests/golden/agent/commands.json against the fixed workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stratum.domain.agent.interpret import interpret
from stratum.domain.agent.schema import COMMAND_SCHEMA
from tests.unit.agent.golden import check_actions, describe
from tests.unit.agent.schema_check import errors
from tests.unit.agent.workspace import CONTEXT

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[2] / "golden" / "agent" / "commands.json").read_text(encoding="utf-8")
)
TARGET_SHARE = 0.9


def test_the_golden_file_holds_at_least_sixty_phrasings_of_both_kinds() -> None:
    assert len(CASES) >= 60
    assert sum(1 for c in CASES if c["expect"] is None) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:60] for c in CASES])
def test_a_phrasing_is_read_as_its_golden_intent_or_refused(case: dict[str, Any]) -> None:
    result = interpret(case["text"], CONTEXT)
    assert errors(result, COMMAND_SCHEMA) == []
    if case["expect"] is None:
        assert result["understood"] is False, describe(result, CONTEXT)
        for mention in case["mentions"]:
            assert mention in result["suggestions"][0]
        return
    if not result["understood"]:
        pytest.skip(f"not understood: {result['suggestions'][0]}")  # counted by the share test below
    check_actions(result, CONTEXT)
    got = describe(result, CONTEXT)
    assert {k: got.get(k) for k in case["expect"]} == case["expect"]


def test_the_share_of_understood_phrasings_meets_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    should = [c for c in CASES if c["expect"] is not None]
    understood = [c for c in should if interpret(c["text"], CONTEXT)["understood"]]
    share = len(understood) / len(should)
    with capsys.disabled():
        print(
            f"\nlocal interpreter: {len(understood)}/{len(should)} golden phrasings understood ({share:.0%})"
        )
    assert share >= TARGET_SHARE
