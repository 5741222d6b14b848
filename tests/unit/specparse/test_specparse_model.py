import json

import pytest

from stratum.domain.specparse import Criterion, Requirement

REQ = Requirement(
    uid="FR-001",
    mid="6f1c",
    title="Create album",
    text="System MUST allow users to create albums.",
    acceptance_criteria=(Criterion("AC-1", "Happy path", "WHEN x THEN y"),),
    priority="P1",
)


def test_requirement_to_dict_has_the_documented_shape() -> None:
    assert REQ.to_dict() == {
        "uid": "FR-001",
        "mid": "6f1c",
        "title": "Create album",
        "text": "System MUST allow users to create albums.",
        "acceptance_criteria": [{"id": "AC-1", "title": "Happy path", "text": "WHEN x THEN y"}],
        "priority": "P1",
    }


def test_requirement_survives_a_json_round_trip() -> None:
    assert Requirement.from_dict(json.loads(json.dumps(REQ.to_dict()))) == REQ


def test_optional_fields_default_when_absent() -> None:
    req = Requirement.from_dict({"uid": "REQ-001", "mid": "m", "title": "T"})
    assert (req.text, req.acceptance_criteria, req.priority) == ("", (), None)
    assert Criterion.from_dict({"id": "AC-1"}) == Criterion("AC-1", "", "")


@pytest.mark.parametrize(
    "bad",
    [
        {"uid": 1, "mid": "m", "title": "T"},
        {"uid": "REQ-1", "mid": "m", "title": "T", "priority": 3},
        {"uid": "REQ-1", "mid": "m", "title": "T", "acceptance_criteria": "AC-1"},
        {"uid": "REQ-1", "mid": "m", "title": "T", "acceptance_criteria": [{"id": None}]},
    ],
)
def test_malformed_dicts_are_rejected_with_type_error(bad: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        Requirement.from_dict(bad)


def test_missing_required_key_is_rejected() -> None:
    with pytest.raises(TypeError):
        Requirement.from_dict({"mid": "m", "title": "T"})


def test_value_objects_are_immutable() -> None:
    with pytest.raises(AttributeError):
        REQ.title = "x"  # type: ignore[misc]
