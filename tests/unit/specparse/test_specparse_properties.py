import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stratum.domain.specparse import (
    Criterion,
    ParsedRequirement,
    Requirement,
    assign_ids,
    diff_requirements,
    parse_spec,
)
from stratum.domain.specparse.limits import MAX_TITLE_CHARS

# Sized so the whole specparse folder stays well under 20 s.
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIGHT = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = st.sampled_from(
    [
        "login", "The", "system", "SHALL", "MUST", "WHEN", "THEN", "AND", "I want", "so that",
        "**", "`", "[NEEDS CLARIFICATION: x]", "(Priority: P1)", "REQ-1", "fr-002", "NFR-3",
        ":", "-", "1.", "#", "```", "~~~", "<!--", "-->", "\u00e9", "\t", "\u2014", "\x00",
    ]
)  # fmt: skip
FRAGMENT = st.lists(WORDS | st.text(max_size=4), max_size=6).map(" ".join)
HEADING = st.tuples(
    st.sampled_from(["#", "##", "###", "####", "#######", "   ###", "    ###"]),
    st.sampled_from(
        [
            "Requirement:", "Requirement 3", "Requirement 2:", "User Story 1 -", "Scenario:",
            "ADDED Requirements", "REMOVED Requirements", "RENAMED Requirements",
            "Acceptance Criteria", "Notes", "REQ-5", "[FR-009]", "",
        ]
    ),
    FRAGMENT,
).map(" ".join)  # fmt: skip
BULLET = st.tuples(
    st.sampled_from(["- ", "* ", "1. ", "  - ", "    ", "- [ ] ", "", "- " * 30]),
    st.sampled_from(
        [
            "**WHEN**", "**THEN**", "**AND**", "**FR-001**:", "REQ-12:", "**NFR-2**",
            "**User Story:**", "**Acceptance Scenarios**:", "**Priority**:",
            "**Why this priority**:", "**ID**:", "WHEN", "Acceptance Criteria:", "",
        ]
    ),
    FRAGMENT,
).map(lambda t: t[0] + t[1] + " " + t[2])  # fmt: skip
LINE = st.one_of(
    HEADING, BULLET, FRAGMENT, st.sampled_from(["```", "~~~", "````md", "<!--", "-->", "---", ""])
)
MARKDOWN = st.tuples(st.lists(LINE, max_size=40), st.sampled_from(["\n", "\r\n", "\r"])).map(
    lambda t: t[1].join(t[0])
)


def check_invariants(reqs: tuple[ParsedRequirement, ...]) -> None:
    uids = [r.uid for r in reqs if r.uid is not None]
    assert len(uids) == len(set(uids))
    assert all(u == u.upper() for u in uids)
    for r in reqs:
        assert r.title and r.title == r.title.strip() and len(r.title) <= MAX_TITLE_CHARS
        assert r.text == r.text.strip()
        ids = [c.id for c in r.acceptance_criteria]
        assert len(ids) == len(set(ids))


@FAST
@given(st.text())
def test_parse_spec_never_crashes_on_arbitrary_text(doc: str) -> None:
    check_invariants(parse_spec(doc))


@FAST
@given(MARKDOWN)
def test_parse_spec_never_crashes_on_markdown_like_text(doc: str) -> None:
    reqs = parse_spec(doc)
    check_invariants(reqs)
    mids = itertools.count()
    assigned = assign_ids(reqs, (), lambda: str(next(mids)))
    assert len({r.uid for r in assigned}) == len(assigned)


@FAST
@given(MARKDOWN)
def test_reassigning_ids_to_the_same_document_changes_nothing(doc: str) -> None:
    reqs = parse_spec(doc)
    first = itertools.count()
    previous = assign_ids(reqs, (), lambda: f"a{next(first)}")
    second = itertools.count()
    assert assign_ids(reqs, previous, lambda: f"b{next(second)}") == previous


TITLES = st.sampled_from(["Login", "login ", "Logout", "Audit", "Export", "Import"])
UIDS = st.sampled_from([None, None, "REQ-001", "req-002", "FR-1", "REQ-7"])
TEXTS = st.sampled_from(["", "The system SHALL log in.", "The system SHALL log out.", "x"])
PARSED = st.builds(ParsedRequirement, UIDS, TITLES, TEXTS, st.just(()), st.none())


@st.composite
def previous_revisions(draw: st.DrawFn) -> list[Requirement]:
    items = draw(
        st.lists(
            st.tuples(st.sampled_from(["REQ-001", "REQ-002", "FR-1", "REQ-7", "REQ-010"]), TITLES, TEXTS),
            max_size=6,
        )
    )
    return [Requirement(uid, f"old{i}", title, text, (), None) for i, (uid, title, text) in enumerate(items)]


@FAST
@given(st.lists(PARSED, max_size=8), previous_revisions())
def test_assigned_uids_and_mids_are_unique(
    parsed: list[ParsedRequirement], previous: list[Requirement]
) -> None:
    def run() -> tuple[Requirement, ...]:
        mids = itertools.count()
        return assign_ids(parsed, previous, lambda: f"new{next(mids)}")

    out = run()
    assert len({r.uid for r in out}) == len(out)
    assert len({r.mid for r in out}) == len(out)
    assert [r.title for r in out] == [p.title for p in parsed]
    assert {r.mid for r in out} <= {r.mid for r in previous} | {f"new{i}" for i in range(len(out))}
    assert run() == out


WORDS_FOR_TITLES = st.sampled_from(
    ["alpha", "beta", "gamma", "delta", "export", "import", "login", "audit", "cache", "queue"]
)
UNIQUE_TITLES = st.lists(
    st.lists(WORDS_FOR_TITLES, min_size=1, max_size=3).map(" ".join), min_size=1, max_size=8, unique=True
)


@LIGHT
@given(UNIQUE_TITLES, st.data())
def test_previous_requirements_with_unchanged_titles_keep_uid_and_mid(
    titles: list[str], data: st.DataObject
) -> None:
    first = [
        ParsedRequirement(data.draw(st.sampled_from([None, f"FR-{i}"])), t, f"text {i}", (), None)
        for i, t in enumerate(titles)
    ]
    mids = itertools.count()
    previous = assign_ids(first, (), lambda: f"m{next(mids)}")
    keep = data.draw(st.lists(st.booleans(), min_size=len(titles), max_size=len(titles)))
    revised: list[ParsedRequirement] = []
    for p, kept in zip(first, keep, strict=True):
        title = p.title if kept else f"renamed {p.title}"
        text = data.draw(st.sampled_from([p.text, "rewritten entirely", ""]))
        revised.append(ParsedRequirement(p.uid, title, text, (), None))
    revised = data.draw(st.permutations(revised))
    inserted = ParsedRequirement(None, "brand new requirement", "text 0", (), None)
    revised.insert(data.draw(st.integers(0, len(revised))), inserted)
    after = assign_ids(revised, previous, lambda: f"n{next(mids)}")
    by_title = {r.title: r for r in after}
    for prev, kept in zip(previous, keep, strict=True):
        if kept:
            assert (by_title[prev.title].uid, by_title[prev.title].mid) == (prev.uid, prev.mid)


CRITERIA = st.lists(
    st.builds(Criterion, st.text(max_size=5), st.text(max_size=5), st.text(max_size=20)), max_size=3
)
REQUIREMENTS = st.builds(
    Requirement, st.text(max_size=8), st.text(max_size=8), st.text(max_size=20), st.text(max_size=40),
    CRITERIA.map(tuple), st.none() | st.text(max_size=4),
)  # fmt: skip


@LIGHT
@given(REQUIREMENTS)
def test_requirement_round_trips_through_json(req: Requirement) -> None:
    assert Requirement.from_dict(json.loads(json.dumps(req.to_dict()))) == req


UNIQUE_MID_LISTS = st.lists(REQUIREMENTS, max_size=6, unique_by=lambda r: r.mid)


@LIGHT
@given(UNIQUE_MID_LISTS)
def test_diff_of_a_revision_with_itself_is_empty(reqs: list[Requirement]) -> None:
    assert diff_requirements(reqs, reqs) == ()


@LIGHT
@given(UNIQUE_MID_LISTS, UNIQUE_MID_LISTS)
def test_applying_the_diff_to_old_yields_new(old: list[Requirement], new: list[Requirement]) -> None:
    state = {r.mid: r for r in old}
    for change in diff_requirements(old, new):
        if change.kind == "removed":
            del state[change.mid]
        else:
            assert change.after is not None
            state[change.mid] = change.after
        assert change.kind != "renamed" or (
            change.before is not None and change.before.text == change.after.text  # type: ignore[union-attr]
        )
    assert sorted(state.values(), key=lambda r: r.mid) == sorted(new, key=lambda r: r.mid)


SAFE_TITLE = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8),
    min_size=1,
    max_size=5,
).map(" ".join)


def render(reqs: list[tuple[str | None, str, str]], style: str) -> str:
    out = ["# Spec", "", "## Requirements", ""]
    for n, (uid, title, text) in enumerate(reqs, 1):
        label = f"{uid} {title}" if uid else title
        if style == "openspec":
            out += [f"### Requirement: {label}", f"The system SHALL {text}.", ""]
            out += ["#### Scenario: happy path", f"- **WHEN** {text}", "- **THEN** it works", ""]
        else:
            out += [f"### Requirement {n}: {label}", "", f"**User Story:** As a user, I want {text}", ""]
            out += ["#### Acceptance Criteria", "", f"1. WHEN {text} THEN the system SHALL work", ""]
    return "\n".join(out)


@LIGHT
@given(
    st.lists(
        st.tuples(st.none() | st.integers(1, 999).map(lambda n: f"REQ-{n}"), SAFE_TITLE, SAFE_TITLE),
        max_size=8,
        unique_by=lambda t: t[0] or t[1],
    ),
    st.sampled_from(["openspec", "kiro"]),
)
def test_parse_of_rendered_requirements_round_trips_titles_and_uids(
    reqs: list[tuple[str | None, str, str]], style: str
) -> None:
    parsed = parse_spec(render(reqs, style))
    assert [(p.uid, p.title) for p in parsed] == [(uid, title) for uid, title, _ in reqs]
    assert all(len(p.acceptance_criteria) == 1 for p in parsed)
