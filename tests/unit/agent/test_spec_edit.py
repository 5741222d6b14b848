"""Adding an acceptance criterion to a spec in its own format."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratum.domain.agent.spec_edit import add_criterion
from stratum.domain.specparse import ParsedRequirement, assign_ids, parse_spec
from tests.unit.agent.workspace import AUTH_BODY, CHECKOUT_BODY, NOTIFY_BODY

FIXTURES = Path(__file__).parents[1] / "specparse" / "fixtures"


def allocated(body: str) -> list[str]:
    """Uids as a spec without history gets them: written ones kept, others allocated."""
    counter = itertools.count()
    return [r.uid for r in assign_ids(parse_spec(body), (), lambda: f"m{next(counter)}")]


def assert_one_more_criterion(before: str, after: str, index: int, criterion: str) -> None:
    old, new = parse_spec(before), parse_spec(after)
    assert len(new) == len(old)
    for i, (o, n) in enumerate(zip(old, new, strict=True)):
        if i != index:
            assert n == o
            continue
        assert (n.uid, n.title, n.text, n.priority) == (o.uid, o.title, o.text, o.priority)
        assert n.acceptance_criteria[:-1] == o.acceptance_criteria
        assert len(n.acceptance_criteria) == len(o.acceptance_criteria) + 1
        last = n.acceptance_criteria[-1]
        assert criterion in (last.text, last.title)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.md")))
def test_every_requirement_of_every_format_takes_a_new_criterion(name: str) -> None:
    body = (FIXTURES / name).read_text(encoding="utf-8")
    reqs = parse_spec(body)
    for index, uid in enumerate(allocated(body)):
        after = add_criterion(body, uid, "the audit log records it", title=reqs[index].title)
        assert_one_more_criterion(body, after, index, "the audit log records it")


def test_a_criterion_follows_the_last_one_with_the_next_number_and_id() -> None:
    after = add_criterion(CHECKOUT_BODY, "REQ-001", "rejects an empty cart")
    assert (
        "- AC-2: WHEN an item is out of stock THEN checkout is refused\n- AC-3: rejects an empty cart\n"
        in after
    )


def test_a_numbered_kiro_list_continues_its_numbering() -> None:
    after = add_criterion(NOTIFY_BODY, "REQ-001", "the badge shows at most 99", title="Unread badge")
    assert "newest first\n3. the badge shows at most 99\n" in after


def test_an_openspec_requirement_gets_a_scenario_heading() -> None:
    after = add_criterion(AUTH_BODY, "REQ-002", "idle sessions end", title="Session timeout")
    assert after.endswith("without any request.\n\n#### Scenario: idle sessions end\n")


def test_a_requirement_without_criteria_gets_a_list_in_the_documents_style() -> None:
    after = add_criterion(CHECKOUT_BODY, "req-2", "retries stop after three failures")
    assert (
        "up to 3 times.\n\nAcceptance criteria:\n- AC-1: retries stop after three failures\n\n## REQ-003"
        in after
    )


def test_a_one_line_requirement_becomes_a_block_and_its_section_carries_on() -> None:
    after = add_criterion(NOTIFY_BODY, "FR-010", "old notifications are purged")
    assert "### FR-010\n\nSystem MUST keep notifications for 90 days.\n" in after
    assert "## Functional requirements\n\n- **FR-011**" in after
    assert_one_more_criterion(NOTIFY_BODY, after, 1, "old notifications are purged")


def test_line_endings_and_the_rest_of_the_document_are_kept() -> None:
    body = CHECKOUT_BODY.replace("\n", "\r\n")
    after = add_criterion(body, "REQ-003", "an empty range shows everything")
    assert "\n" not in after.replace("\r\n", "")
    assert after.replace("- AC-2: an empty range shows everything\r\n", "") == body


@pytest.mark.parametrize(
    ("body", "uid", "criterion"),
    [(CHECKOUT_BODY, "REQ-404", "x"), (CHECKOUT_BODY, "REQ-001", "   "), ("", "REQ-001", "x")],
)
def test_an_unknown_requirement_or_empty_criterion_is_refused(body: str, uid: str, criterion: str) -> None:
    with pytest.raises(ValueError):
        add_criterion(body, uid, criterion)


# Generated specs: every supported format, mixed in one document.
WORD = st.sampled_from(
    ["cart", "order", "user", "payment", "session", "email", "badge", "export", "retry", "x"]
)
PHRASE = st.lists(WORD, min_size=1, max_size=5).map(" ".join)
CRITERIA = st.lists(PHRASE, max_size=3)
NEW_CRITERION = st.one_of(
    PHRASE,
    st.text(st.characters(codec="ascii", categories=["L", "N", "Zs", "P"]), min_size=1, max_size=40),
).filter(lambda s: s.strip(" *") != "")


def _openspec(n: int, title: str, text: str, crits: list[str]) -> str:
    scenarios = "".join(f"#### Scenario: {c}\n- **WHEN** {c}\n- **THEN** it works\n\n" for c in crits)
    return f"### Requirement: {title} {n}\nThe system SHALL {text}.\n\n{scenarios}"


def _kiro(n: int, title: str, text: str, crits: list[str]) -> str:
    listed = "".join(f"{i}. WHEN {c} THEN the system SHALL respond\n" for i, c in enumerate(crits, 1))
    intro = f"#### Acceptance Criteria\n\n{listed}\n" if crits else ""
    story = f"**User Story:** As a user, I want {text}, so that it works."
    return f"### Requirement {n}: {title}\n\n{story}\n\n{intro}"


def _speckit(n: int, title: str, text: str, crits: list[str]) -> str:
    listed = "".join(f"{i}. **Given** {c}, **When** asked, **Then** done\n" for i, c in enumerate(crits, 1))
    intro = f"**Acceptance Scenarios**:\n\n{listed}\n" if crits else ""
    return f"### User Story {n} - {title} (Priority: P{n})\n\n{text}.\n\n{intro}---\n\n"


def _plain(n: int, title: str, text: str, crits: list[str]) -> str:
    listed = "".join(f"- AC-{i}: {c}\n" for i, c in enumerate(crits, 1))
    intro = f"Acceptance criteria:\n{listed}\n" if crits else ""
    return f"## REQ-{n} {title}\n\n{text}.\n\n{intro}"


BLOCKS = (_openspec, _kiro, _speckit, _plain)
REQUIREMENTS = st.lists(
    st.tuples(st.sampled_from(range(len(BLOCKS))), PHRASE, PHRASE, CRITERIA), min_size=1, max_size=6
)
ITEMS = st.lists(PHRASE, max_size=4)


@st.composite
def specs(draw: st.DrawFn) -> str:
    parts = ["# Generated spec\n\nSome introduction.\n\n## Requirements\n\n"]
    for n, (style, title, text, crits) in enumerate(draw(REQUIREMENTS), 1):
        parts.append(BLOCKS[style](n, title, text, crits))
    items = draw(ITEMS)
    if items:
        parts.append("## Functional requirements\n\n")
        parts += [f"- **FR-{n:03d}**: System MUST {text}.\n" for n, text in enumerate(items, 1)]
    return "".join(parts)


@given(specs(), st.data(), NEW_CRITERION)
def test_a_criterion_added_to_any_generated_spec_reads_back_with_nothing_else_changed(
    body: str, data: st.DataObject, criterion: str
) -> None:
    reqs: list[ParsedRequirement] = list(parse_spec(body))
    index = data.draw(st.integers(0, len(reqs) - 1))
    after = add_criterion(body, allocated(body)[index], criterion, title=reqs[index].title)
    written = " ".join(criterion.replace("**", "").split())
    old, new = parse_spec(body), parse_spec(after)
    assert [r for i, r in enumerate(new) if i != index] == [r for i, r in enumerate(old) if i != index]
    assert new[index].acceptance_criteria[:-1] == old[index].acceptance_criteria
    assert len(new[index].acceptance_criteria) == len(old[index].acceptance_criteria) + 1
    assert written.endswith(
        new[index].acceptance_criteria[-1].text or new[index].acceptance_criteria[-1].title
    )


MARKDOWN = st.lists(
    st.sampled_from(["## REQ-1 A", "### Requirement: B", "#### Scenario: s", "- **FR-2**: c",
                     "Acceptance criteria:",
                     "- AC-1: d", "1. WHEN e THEN f", "```", "<!--", "-->", "", "x", "## Notes", "---"]),
    max_size=25,
).map("\n".join)  # fmt: skip


@given(MARKDOWN, st.sampled_from(["REQ-1", "FR-2", "REQ-002", "REQ-003"]), NEW_CRITERION)
def test_on_any_markdown_an_edit_either_reads_back_exactly_or_is_refused(
    body: str, uid: str, criterion: str
) -> None:
    try:
        after = add_criterion(body, uid, criterion)
    except ValueError:
        return
    old, new = parse_spec(body), parse_spec(after)
    changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    assert len(old) == len(new) and len(changed) == 1
    assert len(new[changed[0]].acceptance_criteria) == len(old[changed[0]].acceptance_criteria) + 1
