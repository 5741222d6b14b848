from stratum.domain.specparse import Criterion, Requirement, diff_requirements


def req(mid: str, uid: str, title: str, text: str = "t", priority: str | None = None) -> Requirement:
    return Requirement(uid, mid, title, text, (Criterion("AC-1", "", "WHEN a THEN b"),), priority)


A = req("a", "REQ-001", "Alpha")
B = req("b", "REQ-002", "Beta")
C = req("c", "REQ-003", "Gamma")


def kinds(old: list[Requirement], new: list[Requirement]) -> list[tuple[str, str]]:
    return [(c.kind, c.mid) for c in diff_requirements(old, new)]


def test_identical_revisions_have_no_changes() -> None:
    assert diff_requirements([A, B], [A, B]) == ()


def test_new_mid_is_added_and_missing_mid_is_removed() -> None:
    changes = diff_requirements([A, B], [B, C])
    assert [(c.kind, c.mid, c.uid) for c in changes] == [
        ("added", "c", "REQ-003"),
        ("removed", "a", "REQ-001"),
    ]
    assert changes[0].before is None and changes[0].after == C
    assert changes[1].before == A and changes[1].after is None


def test_title_change_alone_is_a_rename() -> None:
    renamed = req("a", "REQ-001", "Alpha prime")
    (change,) = diff_requirements([A], [renamed])
    assert (change.kind, change.before, change.after) == ("renamed", A, renamed)


def test_uid_change_alone_is_a_rename() -> None:
    assert kinds([A], [req("a", "FR-1", "Alpha")]) == [("renamed", "a")]


def test_text_criteria_or_priority_change_is_a_modification() -> None:
    text = req("a", "REQ-001", "Alpha", text="changed")
    prio = req("a", "REQ-001", "Alpha", priority="P1")
    crit = Requirement("REQ-001", "a", "Alpha", "t", (), None)
    for after in (text, prio, crit):
        assert kinds([A], [after]) == [("modified", "a")]


def test_title_and_text_change_together_is_a_single_modification() -> None:
    both = req("a", "REQ-001", "Alpha prime", text="changed")
    (change,) = diff_requirements([A], [both])
    assert change.kind == "modified"
    assert (change.before.title if change.before else None) == "Alpha"


def test_changes_follow_new_order_with_removals_last_in_old_order() -> None:
    b2 = req("b", "REQ-002", "Beta", text="x")
    d = req("d", "REQ-004", "Delta")
    assert kinds([A, B, C], [d, b2]) == [
        ("added", "d"),
        ("modified", "b"),
        ("removed", "a"),
        ("removed", "c"),
    ]


def test_reordering_alone_is_not_a_change() -> None:
    assert diff_requirements([A, B, C], [C, A, B]) == ()


def test_change_to_dict_is_json_safe() -> None:
    (change,) = diff_requirements([A], [])
    assert change.to_dict() == {
        "kind": "removed",
        "mid": "a",
        "uid": "REQ-001",
        "before": A.to_dict(),
        "after": None,
    }
