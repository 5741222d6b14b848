"""TestRun and RequirementTests: deterministic ids, events carry results, validation."""

from __future__ import annotations

import uuid

import pytest

from stratum.domain.errors import InvalidValue
from stratum.domain.events import Meta
from stratum.domain.qa.results import TestCase
from stratum.domain.requirement_tests import MAX_TESTS, RequirementTests, links_id
from stratum.domain.test_run import TestRun, run_key

META = Meta(actor="tests")
WS = uuid.uuid4()


def _run(run_id: str = "42", commit: str = "abc") -> TestRun:
    cases = [TestCase("t", "passed", 0.1, refs=("REQ-1",), mapped_by="name"),
             TestCase("u", "failed", 0, "boom")]
    return TestRun.record(WS, run_id, "acme/x", commit, "main", True, cases,
                          {"tests": 2, "passed": 1, "failed": 1, "errors": 0, "skipped": 0, "mapped": 1,
                           "unmapped": 1}, "f" * 64, META)


def test_a_run_id_names_one_aggregate_per_workspace() -> None:
    run = _run()
    assert run.id == run_key(WS, "42") == _run().id != run_key(uuid.uuid4(), "42")
    (event,) = run.collect_events()
    assert isinstance(event, TestRun.Recorded)
    assert event.cases[0] == {"name": "t", "outcome": "passed", "duration": 0.1, "refs": ["REQ-1"],
                              "mapped_by": "name"}
    assert run.cases[1].message == "boom" and run.default_branch


@pytest.mark.parametrize(("run_id", "commit"), [("", "abc"), ("x\ny", "abc"), ("42", ""), ("42", "a" * 300)])
def test_run_ids_and_commits_are_one_bounded_line(run_id: str, commit: str) -> None:
    with pytest.raises(InvalidValue):
        _run(run_id, commit)


def test_links_replace_the_set_and_a_repeat_changes_nothing() -> None:
    spec = uuid.uuid4()
    links = RequirementTests.link(WS, spec, "m1", "REQ-1", [" b ", "a", "b"], META)
    assert links.id == links_id(spec, "m1") and links.tests == ["a", "b"]
    links.collect_events()
    links.relink("REQ-1", ["b", "a"], META)
    assert links.collect_events() == []
    links.relink("REQ-1", [], META)
    assert links.tests == [] and links.version == 2
    with pytest.raises(InvalidValue):
        links.relink("REQ-1", [f"t{i}" for i in range(MAX_TESTS + 1)], META)
    with pytest.raises(InvalidValue):
        links.relink("REQ-1", ["two\nlines"], META)
