import itertools
import time
from collections.abc import Callable

import pytest

from stratum.domain.specparse import (
    Criterion,
    ParsedRequirement,
    Requirement,
    assign_ids,
    parse_spec,
)


def counter(prefix: str = "m") -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


def parsed(title: str, text: str = "", uid: str | None = None) -> ParsedRequirement:
    return ParsedRequirement(uid, title, text, (), None)


V1 = """## Requirements

### Requirement: Login
The system SHALL let registered users log in with email and password.

### Requirement: Logout
The system SHALL end the session when the user logs out.

### Requirement: Audit
The system SHALL write an audit record for every administrative action.
"""


def revise(previous: tuple[Requirement, ...], doc: str, mids: str = "n") -> tuple[Requirement, ...]:
    return assign_ids(parse_spec(doc), previous, counter(mids))


def test_requirements_without_ids_are_allocated_sequential_uids() -> None:
    reqs = revise((), V1, "m")
    assert [(r.uid, r.mid) for r in reqs] == [("REQ-001", "m1"), ("REQ-002", "m2"), ("REQ-003", "m3")]


def test_unchanged_document_keeps_every_uid_and_mid() -> None:
    v1 = revise((), V1, "m")
    assert revise(v1, V1) == v1


def test_renamed_requirement_keeps_its_mid_through_content_match() -> None:
    v1 = revise((), V1, "m")
    v2 = revise(v1, V1.replace("Requirement: Logout", "Requirement: Sign out"))
    assert [(r.uid, r.mid, r.title) for r in v2][1] == ("REQ-002", "m2", "Sign out")


def test_edited_text_keeps_its_mid_through_title_match() -> None:
    v1 = revise((), V1, "m")
    v2 = revise(v1, V1.replace("every administrative action", "each login attempt"))
    assert [(r.uid, r.mid) for r in v2] == [(r.uid, r.mid) for r in v1]
    assert v2[2].text.endswith("each login attempt.")


def test_renamed_and_slightly_edited_requirement_matches_by_similarity() -> None:
    v1 = revise((), V1, "m")
    doc = V1.replace("Requirement: Audit", "Requirement: Admin audit trail").replace(
        "every administrative", "every single administrative"
    )
    assert revise(v1, doc)[2].mid == "m3"


def test_inserting_a_requirement_at_the_top_leaves_existing_uids_unchanged() -> None:
    v1 = revise((), V1, "m")
    doc = V1.replace(
        "## Requirements\n",
        "## Requirements\n\n### Requirement: Signup\nThe system SHALL allow self-service signup.\n",
    )
    v2 = revise(v1, doc)
    assert [(r.uid, r.mid, r.title) for r in v2] == [
        ("REQ-004", "n1", "Signup"),
        ("REQ-001", "m1", "Login"),
        ("REQ-002", "m2", "Logout"),
        ("REQ-003", "m3", "Audit"),
    ]


def test_inserting_a_kiro_requirement_renumbers_headings_but_keeps_mids() -> None:
    def kiro(stories: list[str]) -> str:
        return "## Requirements\n" + "".join(
            f"\n### Requirement {n}\n\n**User Story:** As a user, I want {s}, so that I win.\n"
            for n, s in enumerate(stories, 1)
        )

    v1 = revise((), kiro(["to export reports", "to import data"]), "m")
    v2 = revise(v1, kiro(["to share dashboards", "to export reports", "to import data"]))
    assert [r.mid for r in v2] == ["n1", "m1", "m2"]


def test_explicit_ids_are_kept_and_never_allocated_again() -> None:
    reqs = assign_ids([parsed("A", uid="REQ-002"), parsed("B"), parsed("C")], (), counter())
    assert [r.uid for r in reqs] == ["REQ-002", "REQ-003", "REQ-004"]


def test_allocation_continues_after_the_highest_previous_number() -> None:
    previous = (Requirement("REQ-009", "old", "Gone", "", (), None),)
    reqs = assign_ids([parsed("New")], previous, counter())
    assert reqs[0].uid == "REQ-010"


def test_requirement_that_gains_an_explicit_id_keeps_its_mid() -> None:
    v1 = revise((), V1, "m")
    v2 = revise(v1, V1.replace("Requirement: Logout", "Requirement: FR-100 Logout"))
    assert (v2[1].uid, v2[1].mid) == ("FR-100", "m2")


def test_explicit_uid_match_wins_over_title_match() -> None:
    previous = (
        Requirement("FR-1", "a", "Login", "x", (), None),
        Requirement("FR-2", "b", "Logout", "y", (), None),
    )
    reqs = assign_ids([parsed("Logout", uid="FR-1"), parsed("Login", uid="FR-2")], previous, counter())
    assert [(r.uid, r.mid) for r in reqs] == [("FR-1", "a"), ("FR-2", "b")]


def test_duplicate_explicit_ids_in_parsed_input_are_deduplicated() -> None:
    reqs = assign_ids([parsed("A", uid="req-5"), parsed("B", uid="REQ-5")], (), counter())
    assert [r.uid for r in reqs] == ["REQ-5", "REQ-006"]


def test_duplicate_ids_in_a_document_get_fresh_uids_across_revisions() -> None:
    doc = "REQ-1: The system SHALL a.\nREQ-1: The system SHALL b.\n"
    v1 = revise((), doc, "m")
    assert [(r.uid, r.mid) for r in v1] == [("REQ-1", "m1"), ("REQ-002", "m2")]
    assert revise(v1, doc) == v1


def test_each_previous_requirement_is_matched_at_most_once() -> None:
    previous = (Requirement("REQ-001", "a", "Same", "x", (), None),)
    reqs = assign_ids([parsed("Same", "x"), parsed("Same", "x")], previous, counter())
    assert [(r.uid, r.mid) for r in reqs] == [("REQ-001", "a"), ("REQ-002", "m1")]


def test_content_match_requires_identical_criteria_or_similar_text() -> None:
    crit = (Criterion("AC-1", "", "WHEN a THEN b"),)
    previous = (Requirement("REQ-001", "a", "Old title", "", crit, None),)
    same = ParsedRequirement(None, "New title", "", crit, None)
    other = ParsedRequirement(None, "Other title", "totally different words", (), None)
    assert assign_ids([other, same], previous, counter())[1].mid == "a"


def test_previous_uid_taken_by_an_explicit_id_is_not_reused() -> None:
    previous = (Requirement("FR-1", "a", "Login", "x", (), None),)
    reqs = assign_ids([parsed("Other", uid="FR-1"), parsed("Login", "x")], previous, counter())
    assert [(r.uid, r.mid) for r in reqs] == [("FR-1", "a"), ("REQ-001", "m1")]


def test_new_mids_never_collide_with_previous_mids() -> None:
    previous = (Requirement("REQ-001", "m1", "Old", "gone", (), None),)
    reqs = assign_ids([parsed("Brand new")], previous, counter("m"))
    assert reqs[0].mid == "m2"


def test_new_mid_that_always_collides_is_an_error() -> None:
    with pytest.raises(ValueError, match="new_mid"):
        assign_ids([parsed("A"), parsed("B")], (), lambda: "same")


def test_assignment_is_deterministic() -> None:
    v1 = revise((), V1, "m")
    doc = V1.replace("Logout", "Sign out") + "\nREQ-050: The system SHALL be fast.\n"
    assert revise(v1, doc) == revise(v1, doc)


def test_bulk_rewrite_of_a_large_spec_stays_fast_and_keeps_mids_in_place() -> None:
    def doc(title: str, verb: str) -> str:
        return "".join(
            f"### Requirement: {title} {n}\nThe system {verb} process batch {n} within "
            f"{n % 50} seconds and report progress to the operator console.\n\n"
            for n in range(2_000)
        )

    v1 = revise((), doc("Capability", "SHALL"), "m")
    started = time.perf_counter()
    v2 = revise(v1, doc("Feature", "MUST"))
    assert time.perf_counter() - started < 3.0
    assert [r.mid for r in v2] == [r.mid for r in v1]


def test_unrelated_rewrite_allocates_new_ids_for_everything() -> None:
    v1 = revise((), V1, "m")
    doc = "REQ-900: Totally unrelated requirement about invoices.\n### Requirement: Zebra\nStripes.\n"
    v2 = revise(v1, doc)
    assert [(r.uid, r.mid) for r in v2] == [("REQ-900", "n1"), ("REQ-901", "n2")]
