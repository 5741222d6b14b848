import time
from pathlib import Path

import pytest

from stratum.domain.specparse import parse_spec
from stratum.domain.specparse.limits import (
    MAX_CRITERIA,
    MAX_CRITERION_TEXT_CHARS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
)

FIXTURES = Path(__file__).parent / "fixtures"
MIXED = (FIXTURES / "mixed_spec.md").read_text(encoding="utf-8")


def test_mixed_document_reads_every_style_in_order() -> None:
    reqs = parse_spec(MIXED)
    assert [(r.uid, r.title) for r in reqs] == [
        ("REQ-7", "Cart checkout"),
        (None, "Payment retry"),
        (None, "Guest checkout"),
        ("NFR-1", "Checkout completes within 2 seconds for 95% of"),
        ("FR-010", "System MUST keep carts for 30 days"),
    ]


def test_mixed_document_keeps_each_styles_criteria() -> None:
    reqs = parse_spec(MIXED)
    assert [len(r.acceptance_criteria) for r in reqs] == [1, 1, 1, 0, 0]
    assert reqs[0].acceptance_criteria[0].title == "Successful checkout"
    assert reqs[2].priority == "P2"


def test_headings_inside_tilde_fences_are_not_structure() -> None:
    assert "REQ-99" not in {r.uid for r in parse_spec(MIXED)}


def test_unterminated_fence_hides_the_rest_of_the_document() -> None:
    doc = "REQ-1: first\n```\nREQ-2: inside code\n### Requirement: Nope\n"
    assert [r.uid for r in parse_spec(doc)] == ["REQ-1"]


def test_fence_closes_only_with_the_same_character_and_enough_length() -> None:
    doc = "````\n```\nREQ-1: still code\n~~~~\n````\nREQ-2: after\n"
    assert [r.uid for r in parse_spec(doc)] == ["REQ-2"]


def test_inline_backticks_do_not_open_a_fence() -> None:
    doc = "```inline``` code\nREQ-3: real\n"
    assert [r.uid for r in parse_spec(doc)] == ["REQ-3"]


def test_indented_fence_inside_a_list_item_is_skipped() -> None:
    doc = "- **REQ-1**: The system SHALL x.\n  ```\n  ## REQ-2 fake\n  ```\n  More detail.\n"
    (req,) = parse_spec(doc)
    assert req.text == "The system SHALL x.\nMore detail."


def test_document_without_requirements_returns_empty_tuple() -> None:
    assert parse_spec("# Title\n\nJust prose.\n\n- a list\n- of things\n") == ()
    assert parse_spec("") == ()


def test_duplicate_explicit_ids_keep_the_first_and_clear_later_ones() -> None:
    doc = "REQ-1: first\nREQ-2: second\nREQ-1: third\n## REQ-2 Fourth\n"
    assert [(r.uid, r.text) for r in parse_spec(doc)] == [
        ("REQ-1", "first"),
        ("REQ-2", "second"),
        (None, "third"),
        (None, ""),
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings_do_not_change_the_result(newline: str) -> None:
    doc = MIXED.replace("\n", newline)
    assert parse_spec(doc) == parse_spec(MIXED)


def test_title_is_never_empty() -> None:
    doc = "### Requirement:\n\n### Requirement: **\n\n### User Story 2 -\n"
    reqs = parse_spec(doc)
    assert [r.title for r in reqs] == ["Requirement 1", "Requirement 2", "Requirement 3"]


def test_oversized_fields_are_capped() -> None:
    doc = (
        f"### Requirement: {'t' * 5000}\n{'word ' * 10_000}\n"
        + "#### Acceptance Criteria\n"
        + f"1. WHEN {'x' * 9000}\n" * (MAX_CRITERIA + 20)
    )
    (req,) = parse_spec(doc)
    assert len(req.title) == MAX_TITLE_CHARS
    assert len(req.text) <= MAX_TEXT_CHARS
    assert len(req.acceptance_criteria) == MAX_CRITERIA
    assert all(len(c.text) <= MAX_CRITERION_TEXT_CHARS for c in req.acceptance_criteria)


def test_html_comment_hides_requirements_until_it_closes() -> None:
    doc = "<!-- REQ-1: hidden\nREQ-2: hidden -->\nREQ-3: visible\n<!-- one line --> \n"
    assert [r.uid for r in parse_spec(doc)] == ["REQ-3"]


def test_id_line_inside_a_requirement_block_is_a_separate_requirement() -> None:
    doc = (
        "### Requirement: Parent\nThe system SHALL do a.\n"
        "- **FR-1**: System MUST do b.\n\nThe system SHALL also do c.\n"
    )
    reqs = parse_spec(doc)
    assert [(r.uid, r.text) for r in reqs] == [
        (None, "The system SHALL do a.\nThe system SHALL also do c."),
        ("FR-1", "System MUST do b."),
    ]


@pytest.mark.parametrize(
    "doc",
    [
        "- " * 10_000 + "REQ-1 x",
        "".join("  " * i + "- REQ-1 x\n" for i in range(2_000)),
        "### Requirement: a\n" + "- " * 50_000,
        "REQ-1: I want" + " \t" * 200_000 + "so that",
        "## User Story 1 - " + "(priority: " * 50_000,
        "**" + ":" * 300_000,
        "#" * 300_000,
        "`" * 300_000 + "\n" + "<!--" * 50_000,
        "REQ-1: " + "[NEEDS CLARIFICATION" * 20_000,
        "Requirement " * 50_000,
        "\x00\x01\x0b\x0c\x1c\u2028\ud800" * 10_000,
    ],
    ids=lambda d: repr(d[:20]),
)
def test_pathological_inputs_parse_quickly(doc: str) -> None:
    started = time.perf_counter()
    parse_spec(doc)
    assert time.perf_counter() - started < 1.0


def test_one_megabyte_of_realistic_markdown_parses_well_under_a_second() -> None:
    parts = [
        (FIXTURES / name).read_text(encoding="utf-8")
        for name in sorted(p.name for p in FIXTURES.glob("*.md"))
    ]
    block = "\n".join(parts)
    doc = "\n".join([block] * (1_000_000 // len(block) + 1))
    started = time.perf_counter()
    reqs = parse_spec(doc)
    elapsed = time.perf_counter() - started
    assert len(reqs) > 1_000
    assert elapsed < 1.0
