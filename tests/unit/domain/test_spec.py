from __future__ import annotations

import itertools
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratum.domain.errors import InvalidTransition
from stratum.domain.spec import Spec
from tests.unit.domain.helpers import META, fold, state, through_the_log

V1 = """## Requirements

### Requirement: Login
The system SHALL let users log in.

#### Scenario: Valid password
- **WHEN** the password is right
- **THEN** the user is in

### Requirement: Logout
The system SHALL let users log out.

#### Scenario: Button
- **WHEN** the user clicks log out
- **THEN** the session ends
"""

V2 = """## Requirements

### Requirement: Sign in
The system SHALL let users log in.

#### Scenario: Valid password
- **WHEN** the password is right
- **THEN** the user is in

### Requirement: Password reset
The system SHALL e-mail a reset link.

#### Scenario: Link
- **WHEN** the user asks for a reset
- **THEN** a link is e-mailed
"""


def new_spec(body: str = V1) -> Spec:
    counter = itertools.count(1)
    return Spec.create(uuid4(), "Auth", body, META, new_mid=lambda: f"mid-{next(counter)}")


def test_a_new_spec_is_a_draft_with_allocated_requirement_ids() -> None:
    spec = new_spec()
    assert spec.status == "draft"
    assert [(r.uid, r.title) for r in spec.requirements] == [("REQ-001", "Login"), ("REQ-002", "Logout")]
    assert spec.requirements[0].acceptance_criteria[0].title == "Valid password"


def test_revising_a_spec_emits_requirement_level_deltas() -> None:
    spec = new_spec()
    spec.collect_events()
    login_mid = spec.requirements[0].mid
    spec.revise(V2, META)
    kinds = [type(e).__qualname__ for e in spec.collect_events()]
    assert kinds[0] == "Spec.BodyRevised"
    assert "Spec.RequirementRenamed" in kinds
    assert "Spec.RequirementRemoved" in kinds
    assert "Spec.RequirementAdded" in kinds
    sign_in = spec.requirements[0]
    assert (sign_in.uid, sign_in.mid, sign_in.title) == ("REQ-001", login_mid, "Sign in")
    assert [r.uid for r in spec.requirements] == ["REQ-001", "REQ-003"]


def test_a_removed_requirements_uid_is_never_given_to_another() -> None:
    spec = new_spec()
    spec.revise("", META)
    assert spec.requirements == []
    spec.revise("## Requirements\n\n### Requirement: Audit log\nThe system SHALL log.\n", META)
    assert [r.uid for r in spec.requirements] == ["REQ-003"]


def test_a_requirement_that_comes_back_gets_its_identity_back() -> None:
    spec = new_spec()
    logout = spec.requirements[1]
    spec.revise(V1.split("### Requirement: Logout", maxsplit=1)[0], META)
    spec.revise(V1, META)
    assert (spec.requirements[1].uid, spec.requirements[1].mid) == (logout.uid, logout.mid)


def test_revising_with_the_same_body_changes_nothing() -> None:
    spec = new_spec()
    spec.collect_events()
    spec.revise(V1, META)
    assert spec.collect_events() == []


def test_the_spec_lifecycle_refuses_unknown_jumps() -> None:
    spec = new_spec()
    spec.change_status("approved", META)
    spec.change_status("archived", META)
    with pytest.raises(InvalidTransition):
        spec.change_status("approved", META)


def test_folding_a_specs_events_reproduces_it_through_the_log() -> None:
    spec = new_spec()
    spec.revise(V2, META)
    spec.retitle("Authentication", META)
    spec.revise(V1, META)
    events = spec.collect_events()
    assert state(fold(through_the_log(events))) == state(spec)


bodies = st.lists(
    st.sampled_from([V1, V2, "", "REQ-7: plain requirement\n", V1 + "\nREQ-9: extra\n"]), max_size=6
)


@given(bodies)
def test_any_revision_history_folds_back_to_the_same_spec(history: list[str]) -> None:
    spec = new_spec()
    for body in history:
        spec.revise(body, META)
    assert state(fold(through_the_log(spec.collect_events()))) == state(spec)
    uids = [r.uid for r in spec.requirements]
    assert len(uids) == len(set(uids))
