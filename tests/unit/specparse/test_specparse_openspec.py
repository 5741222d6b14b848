from pathlib import Path

from stratum.domain.specparse import Criterion, parse_spec

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_openspec_requirements_are_read_in_document_order() -> None:
    reqs = parse_spec(load("openspec_auth_spec.md"))
    assert [r.title for r in reqs] == ["User Authentication", "Session Timeout", "Password Reset"]
    assert all(r.uid is None and r.priority is None for r in reqs)


def test_openspec_normative_sentence_becomes_the_text() -> None:
    auth = parse_spec(load("openspec_auth_spec.md"))[0]
    assert auth.text == ("The system SHALL issue a signed JWT when a user logs in with valid credentials.")


def test_openspec_scenarios_become_acceptance_criteria() -> None:
    auth = parse_spec(load("openspec_auth_spec.md"))[0]
    assert auth.acceptance_criteria == (
        Criterion(
            "AC-1",
            "Valid credentials",
            "WHEN a user submits a known email and the matching password; "
            "THEN the system returns a JWT; AND the token expires after 24 hours",
        ),
        Criterion(
            "AC-2",
            "Invalid credentials",
            "WHEN a user submits an unknown password; THEN the system responds with HTTP 401; "
            "AND no token is issued",
        ),
    )


def test_openspec_prose_after_a_scenario_is_not_part_of_it() -> None:
    timeout = parse_spec(load("openspec_auth_spec.md"))[1]
    assert timeout.acceptance_criteria == (
        Criterion(
            "AC-1",
            "Idle session expires",
            "WHEN no request arrives for 30 minutes; THEN the session is invalidated",
        ),
    )


def test_openspec_heading_inside_a_code_fence_is_not_a_requirement() -> None:
    titles = [r.title for r in parse_spec(load("openspec_auth_spec.md"))]
    assert "Not Real" not in titles


def test_openspec_delta_reads_added_and_modified_requirements_only() -> None:
    reqs = parse_spec(load("openspec_delta.md"))
    assert [r.title for r in reqs] == ["Two-Factor Authentication", "Login Audit", "Session Timeout"]
    assert reqs[2].text == "The system MUST end a session after 15 minutes without any request."


def test_openspec_removed_and_renamed_sections_are_ignored_until_the_next_section() -> None:
    doc = (
        "## REMOVED Requirements\n### Requirement: Gone\nThe system SHALL go.\n"
        "- **REQ-9**: not current\n"
        "## Requirements\n### Requirement: Kept\nThe system SHALL stay.\n"
    )
    assert [r.title for r in parse_spec(doc)] == ["Kept"]


def test_openspec_scenario_with_its_own_id_keeps_that_id() -> None:
    doc = (
        "### Requirement: Export\nThe system SHALL export CSV.\n"
        "#### Scenario: AC-7 Small export\n- **WHEN** 10 rows\n- **THEN** one file\n"
        "#### Scenario: Large export\n- **WHEN** 1M rows\n- **THEN** a zip\n"
    )
    (req,) = parse_spec(doc)
    assert [(c.id, c.title) for c in req.acceptance_criteria] == [
        ("AC-7", "Small export"),
        ("AC-2", "Large export"),
    ]


def test_openspec_scenario_steps_written_without_bullets_are_joined() -> None:
    doc = "### Requirement: X\nThe system SHALL x.\n#### Scenario: s\nWHEN a\nTHEN b\ncontinued\n"
    (req,) = parse_spec(doc)
    assert req.acceptance_criteria[0].text == "WHEN a; THEN b continued"


def test_openspec_explicit_id_in_the_requirement_heading_is_the_uid() -> None:
    (req,) = parse_spec("### Requirement: REQ-7 Login\nThe system SHALL log users in.\n")
    assert (req.uid, req.title) == ("REQ-7", "Login")


def test_openspec_requirement_body_bullets_stay_in_the_text() -> None:
    doc = "### Requirement: Formats\nThe system SHALL export:\n- CSV\n- JSON\n"
    (req,) = parse_spec(doc)
    assert req.text == "The system SHALL export:\n- CSV\n- JSON"
