"""Which requirements a test names: properties, then name patterns; never a crash."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratum.domain.qa.mapping import DEFAULT, canonical_uid, compile_pattern, keys_of, match_key, refs_of
from stratum.domain.qa.results import RawCase, TestCase, case_name, counts, fingerprint, merge_duplicates


@pytest.mark.parametrize(("name", "classname", "refs"), [
    ("test_REQ_003_login", "tests.test_auth", ("REQ-003",)),
    ("Login [FR-002] rejects a bad password", "", ("FR-002",)),
    ("checks REQ-003 and req_4", "", ("REQ-003", "REQ-4")),
    ("testLogin", "com.acme.REQ-7.LoginTest", ("REQ-7",)),
    ("TestLogout/REQ-002_clears_cookie", "example.com/auth", ("REQ-002",)),
    ("test_nfr_12_latency", "", ("NFR-12",)),
    ("test_frequency", "", ()),  # "fr" inside a word is no uid
    ("test_REQ_0031", "", ("REQ-0031",)),
    ("test_health", "tests", ()),
])
def test_names_are_searched_with_the_pattern(name: str, classname: str, refs: tuple[str, ...]) -> None:
    found, how = refs_of(name, classname, ())
    assert found == refs and how == ("name" if refs else "")


def test_properties_come_first_and_may_list_several_or_name_a_spec() -> None:
    spec = uuid.uuid4()
    props = (("requirement", "REQ-1, fr_2"), ("requirement", "[REQ-003]"), ("other", "REQ-9"))
    assert refs_of("test_REQ_007", "", props) == (("REQ-1", "FR-2", "REQ-003"), "property")
    scoped = (("spec", str(spec)), ("requirement", "REQ-1"), ("requirements", f"{spec.hex}:REQ-2"))
    assert refs_of("x", "", scoped) == ((f"{spec}:REQ-1", f"{spec}:REQ-2"), "property")
    assert refs_of("test_REQ_5", "", (("spec", str(spec)),)) == ((f"{spec}:REQ-5",), "name")
    assert refs_of("test_REQ_5", "", (("requirement", "not-a-uid"),)) == (("REQ-5",), "name")


def test_uids_compare_by_match_key() -> None:
    assert match_key("REQ-003") == match_key("req-3") == "REQ-3"
    assert match_key("REQ-1.02") == "REQ-1.2"
    assert match_key("odd") == "ODD" and match_key("X-²") == "X-²"
    assert canonical_uid("req_003") == "REQ-003" and canonical_uid("REQ003") == "REQ-003"
    assert canonical_uid("hello") is None
    spec = uuid.uuid4()
    assert keys_of(["REQ-003", f"{spec}:FR-02", "REQ-3"]) == ["REQ-3", f"{spec}:FR-2"]


def test_a_configured_pattern_needs_a_prefix_and_a_number() -> None:
    custom = compile_pattern(r"(?P<prefix>STORY)#(?P<number>\d+)")
    assert refs_of("covers story#12", "", (), custom) == (("STORY-12",), "name")
    assert refs_of("covers X-12", "", (), compile_pattern(r"([A-Z])-(\d+)")) == (("X-12",), "name")
    with pytest.raises(ValueError, match="prefix and a number"):
        compile_pattern(r"REQ-\d+")
    with pytest.raises(re.error):
        compile_pattern(r"(unclosed")


def test_test_ids_and_duplicate_merging() -> None:
    assert case_name("a", "") == "a" and case_name("a", "a") == "a" and case_name("a", "m") == "m::a"
    merged = merge_duplicates([TestCase("t", "failed", 1.0, "boom"), TestCase("t", "passed", 2.0),
                               TestCase("u", "skipped")])
    assert [(c.name, c.outcome, c.duration, c.flaky) for c in merged] == [
        ("t", "failed", 3.0, True), ("u", "skipped", 0.0, False)]
    assert counts(merged) == {"tests": 2, "passed": 0, "failed": 1, "errors": 0, "skipped": 1}
    raw = [RawCase("t", "c", "passed", 1.0)]
    assert fingerprint("r", "c1", "main", raw) == fingerprint("r", "c1", "main", list(raw))
    assert fingerprint("r", "c1", "main", raw) != fingerprint("r", "c2", "main", raw)


uids = st.from_regex(r"[a-z_ \[\]-]{0,10}(req|fr|REQ|Nfr)[-_ ]?[0-9]{1,12}[a-z_\]]{0,5}")
names = st.text(max_size=200) | uids


@given(name=names, classname=names, properties=st.lists(st.tuples(names, names), max_size=5))
def test_mapping_never_crashes_and_refs_are_canonical(
    name: str, classname: str, properties: list[tuple[str, str]]
) -> None:
    refs, how = refs_of(name, classname, properties, DEFAULT)
    assert how in ("property", "name", "")
    assert bool(refs) == bool(how) and len(refs) <= 20
    for ref in refs:
        uid = ref.rpartition(":")[2]
        assert canonical_uid(uid) == uid
    keys_of(refs)
