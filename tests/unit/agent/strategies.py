"""Hypothesis strategies: arbitrary commands and workspaces for the agent's properties."""

from __future__ import annotations

from uuid import UUID

from hypothesis import strategies as st

from stratum.domain.agent.context import AgentContext, ContextChunk, RequirementRef, SpecRef, TaskRef

WORDS = st.sampled_from(
    [
        "create", "add", "a", "task", "spec", "for", "to", "covering", "depending on", "after", "mark", "as",
        "done", "in progress", "link", "assign", "split", "into", "tasks", "in order", "rename", "archive",
        "acceptance criterion", "of", "REQ-3", "req_003", "FR-2", "\"", "'", "`", ":", ",", "(", ")", "?",
        "Checkout", "Write docs", "the", "and", "please", "can you", "is", "blocked", "depends on", "cover",
        "\u201c", "\u201d", "\ue000", "\ue0010\ue001", "00000000-0000-4000-8000-000000000101", "\n", "\x00",
    ]
)  # fmt: skip
COMMAND_LIKE = st.lists(WORDS | st.text(max_size=6), max_size=25).map(" ".join)
COMMANDS = st.one_of(st.text(max_size=300), COMMAND_LIKE)

IDS = st.integers(min_value=1, max_value=12).map(lambda n: UUID(f"00000000-0000-4000-8000-{100 + n:012d}"))
TITLES = st.one_of(
    st.text(max_size=30), st.sampled_from(["Checkout", "Write docs", "Write API docs", "archive spec"])
)
UIDS = st.one_of(st.sampled_from(["REQ-001", "REQ-3", "FR-002", "req_4", "NFR-1.2"]), st.text(max_size=8))
STATUSES = st.one_of(st.sampled_from(["todo", "in_progress", "in_review", "done", "blocked", "draft",
                                      "approved", "archived"]), st.text(max_size=8))  # fmt: skip
BODIES = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.lists(
        st.sampled_from(["## REQ-001 Cart", "## REQ-3 Retry", "- **FR-002**: Filters.",
                         "Acceptance criteria:",
                         "- AC-1: WHEN x THEN y", "### Requirement: Login", "#### Scenario: ok", "", "x"]),
        max_size=12,
    ).map("\n".join),
)  # fmt: skip
REQUIREMENTS = st.builds(
    RequirementRef, UIDS, TITLES, st.text(max_size=20), st.lists(st.text(max_size=10), max_size=2).map(tuple)
)
SPECS = st.builds(SpecRef, IDS, TITLES, STATUSES, st.integers(1, 5),
                  st.lists(REQUIREMENTS, max_size=5).map(tuple), BODIES)  # fmt: skip
TASKS = st.builds(
    TaskRef, IDS, TITLES, STATUSES, st.integers(1, 5), st.none() | IDS,
    st.lists(UIDS, max_size=3).map(tuple), st.lists(IDS, max_size=3).map(tuple),
)  # fmt: skip
CHUNKS = st.builds(
    ContextChunk, st.integers(0, 50), st.sampled_from(["spec", "task"]), IDS, st.none() | UIDS, TITLES,
    st.text(max_size=200) | st.lists(WORDS, max_size=30).map(" ".join), st.floats(0, 1), st.booleans(),
)  # fmt: skip
CONTEXTS = st.builds(
    AgentContext, st.just(UUID(int=0)), st.lists(SPECS, max_size=5).map(tuple),
    st.lists(TASKS, max_size=8).map(tuple), st.just(()), st.lists(CHUNKS, max_size=6).map(tuple),
)  # fmt: skip
