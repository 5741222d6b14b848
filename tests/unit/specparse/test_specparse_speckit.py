from pathlib import Path

from stratum.domain.specparse import parse_spec

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = (FIXTURES / "speckit_spec.md").read_text(encoding="utf-8")


def test_speckit_user_stories_become_requirements_with_priority() -> None:
    stories = parse_spec(SPEC)[:3]
    assert [(r.uid, r.title, r.priority) for r in stories] == [
        (None, "Create an album", "P1"),
        (None, "Reorder albums", "P2"),
        (None, "Share an album", "P3"),
    ]


def test_speckit_story_text_is_the_narrative_without_metadata_fields() -> None:
    story = parse_spec(SPEC)[0]
    assert story.text == (
        "A user groups photos from their library into a named album so they can find a "
        "trip's pictures in one place."
    )


def test_speckit_acceptance_scenarios_become_numbered_criteria() -> None:
    story = parse_spec(SPEC)[0]
    assert [c.id for c in story.acceptance_criteria] == ["AC-1", "AC-2"]
    assert story.acceptance_criteria[0].title == ""
    assert story.acceptance_criteria[0].text == (
        'Given a library with 10 photos, When the user creates album "Rome" with 3 of them, '
        "Then the album lists exactly those 3 photos"
    )


def test_speckit_functional_requirements_keep_their_ids() -> None:
    uids = [r.uid for r in parse_spec(SPEC)]
    assert uids[3:] == ["FR-001", "FR-002", "FR-003", "FR-004", "FR-005", "SC-001", "SC-002"]


def test_speckit_functional_requirement_title_is_derived_from_its_text() -> None:
    fr1 = parse_spec(SPEC)[3]
    assert fr1.text == ("System MUST allow users to create albums with a name of up to 100 characters.")
    assert fr1.title == "System MUST allow users to create albums with"


def test_speckit_wrapped_functional_requirement_lines_are_joined() -> None:
    fr2 = parse_spec(SPEC)[4]
    assert fr2.text == (
        "System MUST let users add photos from their library to an album, including "
        "photos already in other albums."
    )
    assert fr2.title == "System MUST let users add photos from their"


def test_speckit_needs_clarification_markers_are_kept_in_text() -> None:
    fr5 = parse_spec(SPEC)[7]
    assert fr5.uid == "FR-005"
    assert fr5.text.endswith("[NEEDS CLARIFICATION: auth method not specified - email/password, SSO, OAuth?]")
    assert fr5.title == "System MUST authenticate users via"


def test_speckit_html_comments_and_key_entities_are_not_requirements() -> None:
    titles = [r.title for r in parse_spec(SPEC)]
    assert "Template example" not in titles
    assert not any(t.startswith(("Album", "Photo")) for t in titles)
    assert len(titles) == 10


def test_speckit_success_criteria_are_requirements() -> None:
    sc1 = parse_spec(SPEC)[8]
    assert (sc1.uid, sc1.text) == ("SC-001", "Users can create an album with 10 photos in under 1 minute.")
