from pathlib import Path

import pytest

from stratum.domain.specparse import parse_spec

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = (FIXTURES / "plain_requirements.md").read_text(encoding="utf-8")


def test_plain_ids_are_read_in_every_supported_form() -> None:
    assert [r.uid for r in parse_spec(SPEC)] == [
        "REQ-12", "REQ-13", "REQ-14", "REQ-15", "REQ-16", "NFR-2", "NFR-3",
    ]  # fmt: skip


def test_plain_id_heading_opens_a_block_with_title_text_and_criteria() -> None:
    req = parse_spec(SPEC)[0]
    assert req.title == "Invoice generation"
    assert req.text == "The service SHALL generate an invoice for every closed billing period."
    assert [(c.id, c.text) for c in req.acceptance_criteria] == [
        ("AC-1", "WHEN a period closes THEN an invoice is created within 5 minutes"),
        ("AC-2", "WHEN a period has no usage THEN a zero invoice is created"),
    ]


def test_plain_id_line_continues_onto_the_next_line() -> None:
    req14 = parse_spec(SPEC)[2]
    assert req14.text == "The service SHALL retry failed emails three times, with exponential backoff."


def test_plain_ids_are_normalised_to_upper_case() -> None:
    assert parse_spec("req-7: The system shall work.")[0].uid == "REQ-7"


@pytest.mark.parametrize(
    "line",
    [
        "REQ-12: The system SHALL log in.",
        "- **REQ-12**: The system SHALL log in.",
        "**REQ-12** The system SHALL log in.",
        "* [REQ-12] The system SHALL log in.",
        "1. `REQ-12` - The system SHALL log in.",
        "**REQ-12:** The system SHALL log in.",
    ],
)
def test_plain_id_line_variants_give_the_same_requirement(line: str) -> None:
    (req,) = parse_spec(line)
    assert (req.uid, req.text) == ("REQ-12", "The system SHALL log in.")


def test_plain_id_heading_without_title_derives_one_from_the_text() -> None:
    (req,) = parse_spec("## NFR-4\n\nResponses are compressed with gzip.\n")
    assert (req.uid, req.title) == ("NFR-4", "Responses are compressed with gzip")


def test_plain_id_with_nothing_else_uses_the_uid_as_title() -> None:
    (req,) = parse_spec("## REQ-40\n")
    assert (req.uid, req.title, req.text) == ("REQ-40", "REQ-40", "")


@pytest.mark.parametrize(
    "line", ["UTF-8: encoding is used", "ISO-8601 dates", "REQ-12abc", "FR-1/FR-2 both", "AC-1: x"]
)
def test_lines_that_only_look_like_ids_are_not_requirements(line: str) -> None:
    assert parse_spec(line) == ()


def test_trailing_id_in_a_heading_is_the_uid() -> None:
    (req,) = parse_spec("### Requirement: Login (REQ-7)\nThe system SHALL log in.\n")
    assert (req.uid, req.title) == ("REQ-7", "Login")


def test_explicit_id_field_in_a_block_sets_the_uid() -> None:
    (req,) = parse_spec("### Requirement: Login\n**ID**: req-8\n\nThe system SHALL log in.\n")
    assert (req.uid, req.title, req.text) == ("REQ-8", "Login", "The system SHALL log in.")
