from pathlib import Path

from stratum.domain.specparse import parse_spec

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = (FIXTURES / "kiro_requirements.md").read_text(encoding="utf-8")


def test_kiro_requirements_are_read_without_uids_from_their_numbers() -> None:
    reqs = parse_spec(SPEC)
    assert [r.uid for r in reqs] == [None, None, "FR-009"]


def test_kiro_user_story_becomes_the_text() -> None:
    first = parse_spec(SPEC)[0]
    assert first.text == (
        "As an engineer, I want to see unread notifications in a panel, so that I can react "
        "to review requests quickly."
    )


def test_kiro_untitled_requirement_takes_its_title_from_the_user_story_goal() -> None:
    assert parse_spec(SPEC)[0].title == "See unread notifications in a panel"


def test_kiro_heading_title_is_used_when_present() -> None:
    assert [r.title for r in parse_spec(SPEC)[1:]] == ["Mark as read", "Email digest"]


def test_kiro_ears_lines_become_numbered_criteria() -> None:
    second = parse_spec(SPEC)[1]
    assert [(c.id, c.title, c.text) for c in second.acceptance_criteria] == [
        ("AC-1", "", "WHEN the user clicks a notification THEN the system SHALL mark it as read"),
        ("AC-2", "", "WHILE the panel is open THE system SHALL update the badge count in real time"),
        ("AC-3", "", 'WHERE bulk actions are enabled THE system SHALL offer "mark all as read"'),
    ]


def test_kiro_requirement_without_story_or_title_falls_back_to_its_heading() -> None:
    doc = "## Requirements\n\n### Requirement 4\n\n#### Acceptance Criteria\n\n1. WHEN x THEN y\n"
    (req,) = parse_spec(doc)
    assert (req.uid, req.title, req.text) == (None, "Requirement 4", "")


def test_kiro_unnumbered_ears_lines_and_wrapped_criteria_are_read() -> None:
    doc = (
        "### Requirement 1: Search\n"
        "**User Story:** As a user, I want search, so that I find things.\n"
        "#### Acceptance Criteria\n"
        "The following criteria apply:\n"
        "WHEN the user types THEN the system SHALL suggest\n"
        "1. IF nothing matches THEN the system SHALL say so\n"
        "   and offer help\n"
    )
    (req,) = parse_spec(doc)
    assert [c.text for c in req.acceptance_criteria] == [
        "WHEN the user types THEN the system SHALL suggest",
        "IF nothing matches THEN the system SHALL say so and offer help",
    ]
