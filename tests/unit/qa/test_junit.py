"""The JUnit parser: every flavour, and refusals of unsafe or bad input (never a crash)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratum.domain.qa.results import case_name
from stratum.errors import InvalidTestReport, MalformedXml, PayloadTooLarge, StratumError, UnsafeXml
from stratum.infrastructure.junit import parse

JUNIT = Path(__file__).resolve().parents[2] / "fixtures" / "junit"


def _cases(name: str) -> dict[str, tuple[str, str]]:
    cases = parse((JUNIT / name).read_bytes())
    return {case_name(c.name, c.classname): (c.outcome, c.message) for c in cases}


def test_pytest_reports_outcomes_properties_and_parametrized_ids() -> None:
    for name in ("pytest.xml", "pytest_legacy.xml"):
        cases = parse((JUNIT / name).read_bytes())
        by_name = {c.name: c for c in cases}
        assert len(cases) == 10
        assert by_name["test_REQ_001_login_with_password"].properties == (("requirement", "REQ-001"),)
        both = (("requirement", "REQ-001, REQ-002"),)
        assert by_name["test_login_rejects_wrong_password"].properties == both
        assert {by_name[f"test_REQ_002_logout_clears[{p}]"].outcome for p in ("session", "remember-me")} == {
            "passed"}
        assert by_name["test_req_003_password_reset_mail"].outcome == "failed"
        assert by_name["test_req_003_password_reset_mail"].message.startswith("AssertionError: no reset mail")
        assert by_name["test_REQ_004_single_sign_on"].outcome == "skipped"
        assert by_name["test_audit_log_FR_002"].outcome == "error"
        assert by_name["test_rate_limit_REQ_006"].outcome == "skipped"  # xfail
        assert all(c.classname == "test_auth" for c in cases)


def test_surefire_ignores_suite_properties_and_reads_flaky_reruns() -> None:
    cases = {c.name: c for c in parse((JUNIT / "surefire.xml").read_bytes())}
    assert {n: c.outcome for n, c in cases.items()} == {
        "loginWithPassword_REQ_001": "passed", "logoutClearsSession_REQ_002": "passed",
        "passwordResetSendsMail_REQ_003": "failed", "singleSignOn_REQ_004": "skipped",
        "sessionRefresh_REQ_005": "passed", "auditLogWritten_FR_002": "error",
    }
    assert cases["sessionRefresh_REQ_005"].flaky
    assert cases["passwordResetSendsMail_REQ_003"].message == "expected: <1> but was: <0>"
    assert all(c.properties == () for c in cases.values())  # suite-level REQ-999 is not a test's


def test_jest_junit_uses_the_failure_text_when_there_is_no_message() -> None:
    cases = _cases("jest-junit.xml")
    name = "Login [REQ-003] sends a reset mail"
    assert cases[name][0] == "failed" and cases[name][1].startswith("Error: expect(received)")
    assert cases["Login [REQ-004] single sign-on"][0] == "skipped"
    assert len(cases) == 6


def test_gotestsum_subtests_and_reruns_are_separate_entries() -> None:
    cases = parse((JUNIT / "gotestsum.xml").read_bytes())
    assert [c.name for c in cases].count("TestSessionRefresh_REQ_005") == 2
    assert {c.classname for c in cases} == {"example.com/acme/auth"}
    assert "TestLogout/REQ-002_clears_cookie" in {c.name for c in cases}


def test_ctest_status_attributes() -> None:
    cases = {c.name: c.outcome for c in parse((JUNIT / "ctest.xml").read_bytes())}
    assert cases == {"auth.REQ-001.login": "passed", "auth.REQ-002.logout": "passed",
                     "auth.REQ-003.reset": "failed", "auth.REQ-004.sso": "skipped",
                     "auth.REQ-005.refresh": "skipped"}


def test_a_namespaced_nested_report_and_a_missing_classname() -> None:
    xml = (b'<testsuites xmlns="urn:x"><testsuite name="outer"><testsuite name="inner">'
           b'<testcase name="a" time="1,234.5"/></testsuite><testcase name="b" time="nan"/>'
           b"</testsuite></testsuites>")
    cases = parse(xml)
    assert [(c.name, c.classname, c.duration) for c in cases] == [("a", "inner", 1234.5), ("b", "outer", 0.0)]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuites><testsuite name="x"><testcase name="&lol9;"/></testsuite></testsuites>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuite name="x"><testcase name="&xxe;"/></testsuite>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE testsuite SYSTEM "http://127.0.0.1:9/junit.dtd">
<testsuite name="x"><testcase name="a"/></testsuite>"""
PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<testsuite name="x"/>"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL, EXTERNAL_DTD, PARAMETER_ENTITY],
                         ids=["billion-laughs", "external-entity", "external-dtd", "parameter-entity"])
def test_dtds_and_entities_are_refused_not_expanded(xml: bytes) -> None:
    with pytest.raises(UnsafeXml):
        parse(xml)


@pytest.mark.parametrize(("xml", "error"), [
    (b"", MalformedXml),
    (b"   ", MalformedXml),
    (b"<testsuites><testsuite>", MalformedXml),
    (b"not xml at all", MalformedXml),
    (b'{"json": true}', MalformedXml),
    (b"<html><body>oops</body></html>", InvalidTestReport),
    (b'<testsuite><testcase classname="x"/></testsuite>', InvalidTestReport),
])
def test_bad_reports_are_refused_with_a_stable_error(xml: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse(xml)


def test_limits() -> None:
    many = b"<testsuite>" + b'<testcase name="t"/>' * 11 + b"</testsuite>"
    with pytest.raises(InvalidTestReport):
        parse(many, max_cases=10)
    with pytest.raises(PayloadTooLarge):
        parse(many, max_bytes=100)
    with pytest.raises(InvalidTestReport):
        parse(b"<testsuite>" + b"<x/>" * 50 + b"</testsuite>", max_elements=20)
    long_name = "t" * 5000
    (case,) = parse(f'<testsuite><testcase name="{long_name}"/></testsuite>'.encode())
    assert len(case.name) == 1000 and case.name != parse(
        f'<testsuite><testcase name="{long_name}x"/></testsuite>'.encode())[0].name


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_are_parsed_or_refused_never_crash(body: bytes) -> None:
    try:
        parse(b"<testsuite>" + body + b"</testsuite>")
        parse(body)
    except StratumError:
        pass
