"""JUnit XML → ``RawCase`` values, safely.

Reads the flavours written by pytest, Maven Surefire, jest-junit, gotestsum and ctest:
``<testsuites>`` or a lone ``<testsuite>`` (suites may nest), ``<testcase name classname
time>`` with ``<failure>``, ``<error>``, ``<skipped>`` (ctest also says ``status="notrun"``),
Surefire's ``<flakyFailure>``/``<flakyError>`` (failed, then passed on a re-run) and per-case
``<properties>``. Suite-level properties are ignored: Surefire dumps every system property
there, and none of them says which requirement a test proves.

Safety: defusedxml refuses any DTD (so no entity can be declared, let alone expanded, and
nothing external is fetched); the body and the number of elements and test cases are
bounded; no tree is built (the parser's target keeps the open test case only), so memory
follows the number of test cases, not the file.
"""

from __future__ import annotations

import hashlib
import math
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from stratum.domain.qa.results import MAX_MESSAGE, MAX_NAME, RawCase
from stratum.errors import InvalidTestReport, MalformedXml, PayloadTooLarge, UnsafeXml

ROOTS = frozenset({"testsuites", "testsuite"})
MAX_PROPERTIES = 50
SKIPPED_STATUS = frozenset({"notrun", "disabled", "skipped"})


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters; a cut name keeps a digest, so it stays unique."""
    if len(text) <= limit:
        return text
    return text[: limit - 14] + "…" + hashlib.sha256(text.encode()).hexdigest()[:13]


def _seconds(value: str | None) -> float:
    try:
        # Old Surefire versions wrote times with a thousands separator ("1,234.5").
        seconds = float((value or "0").replace(",", ""))
    except ValueError:
        return 0.0
    return round(seconds, 6) if math.isfinite(seconds) and seconds >= 0 else 0.0


class _Case:
    """One <testcase> while it is read: its outcome, message, properties."""

    def __init__(self, attrib: dict[str, str], suite: str) -> None:
        self.attrib = attrib
        self.suite = suite
        self.outcome = "passed"
        self.message = ""
        self.flaky = False
        self.properties: list[tuple[str, str]] = []
        self.text: list[str] | None = None  # text of the child being read, when it is wanted
        self.size = 0
        self.child: tuple[str, dict[str, str]] | None = None

    def start_child(self, kind: str, attrib: dict[str, str]) -> None:
        if kind in ("failure", "error", "skipped") or (kind == "property" and "value" not in attrib):
            self.text, self.size = [], 0
        self.child = (kind, attrib)

    def data(self, text: str) -> None:
        if self.text is not None and self.size < MAX_MESSAGE:
            self.text.append(text)
            self.size += len(text)

    def end_child(self) -> None:
        if self.child is None:
            return
        kind, attrib = self.child
        text = "".join(self.text or ())
        self.child, self.text = None, None
        if kind in ("failure", "error"):
            worse = "error" if kind == "error" or self.outcome == "error" else "failed"
            if self.outcome not in ("failed", "error") or worse == "error":
                self.message = _message(attrib, text) or self.message
            self.outcome = worse
        elif kind == "skipped" and self.outcome == "passed":
            self.outcome, self.message = "skipped", _message(attrib, text)
        elif kind in ("flakyFailure", "flakyError"):
            self.flaky = True
        elif kind == "property" and len(self.properties) < MAX_PROPERTIES:
            value = attrib.get("value", text)
            self.properties.append(((attrib.get("name") or "")[:100], value[:1000]))

    def finish(self) -> RawCase:
        name = (self.attrib.get("name") or "").strip()
        if not name:
            raise InvalidTestReport("a <testcase> has no name", field="testcase")
        classname = (self.attrib.get("classname") or self.attrib.get("class") or self.suite).strip()
        outcome = self.outcome
        status = (self.attrib.get("status") or "").strip().lower()  # ctest
        if outcome == "passed" and status == "fail":
            outcome = "failed"
        elif outcome == "passed" and status in SKIPPED_STATUS:
            outcome = "skipped"
        return RawCase(
            name=_bounded(name, MAX_NAME), classname=_bounded(classname, MAX_NAME), outcome=outcome,
            duration=_seconds(self.attrib.get("time")), message=self.message,
            properties=tuple(self.properties), flaky=self.flaky and outcome == "passed",
        )


def _message(attrib: dict[str, str], text: str) -> str:
    return _bounded((attrib.get("message") or text).strip(), MAX_MESSAGE)


class _Report:
    """The parser's target: keeps the open test case only, never a tree."""

    def __init__(self, max_cases: int, max_elements: int) -> None:
        self.max_cases, self.max_elements = max_cases, max_elements
        self.cases: list[RawCase] = []
        self.suites: list[str] = []
        self.case: _Case | None = None
        self.depth = self.case_depth = self.elements = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.elements += 1
        if self.elements > self.max_elements:
            raise InvalidTestReport(f"the report has more than {self.max_elements} elements")
        kind = _local(tag)
        if self.depth == 0 and kind not in ROOTS:
            raise InvalidTestReport(
                f"the root element is <{kind[:50]}>, not <testsuites> or <testsuite>", field="root"
            )
        self.depth += 1
        if self.case is None:
            if kind == "testsuite":
                self.suites.append((attrib.get("name") or "").strip())
            elif kind == "testcase":
                self.case, self.case_depth = _Case(attrib, self.suites[-1] if self.suites else ""), self.depth
        elif self._child(kind):
            self.case.start_child(kind, attrib)

    def _child(self, kind: str) -> bool:
        """A child of the open test case, or a property in its <properties>."""
        return self.depth == self.case_depth + 1 or (kind == "property" and self.depth == self.case_depth + 2)

    def data(self, text: str) -> None:
        if self.case is not None:
            self.case.data(text)

    def end(self, tag: str) -> None:
        kind = _local(tag)
        if self.case is not None:
            if self.depth == self.case_depth:
                self.cases.append(self.case.finish())
                self.case = None
                if len(self.cases) > self.max_cases:
                    raise InvalidTestReport(
                        f"the report has more than {self.max_cases} test cases", limit=self.max_cases
                    )
            elif self._child(kind):
                self.case.end_child()
        elif kind == "testsuite" and self.suites:
            self.suites.pop()
        self.depth -= 1

    def close(self) -> list[RawCase]:
        return self.cases


def parse(
    body: bytes, *, max_bytes: int = 20 * 2**20, max_cases: int = 100_000,
    max_elements: int = 2_000_000,
) -> list[RawCase]:
    """The test cases of a JUnit report, in document order."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"the report exceeds {max_bytes} bytes", limit=max_bytes)
    if not body.strip():
        raise MalformedXml("the body is empty")
    target = _Report(max_cases, max_elements)
    parser = DefusedXMLParser(target=target, forbid_dtd=True)
    try:
        parser.feed(body)
        parser.close()
    except ParseError as e:
        raise MalformedXml(f"the body is not well-formed XML: {e}") from None
    except DefusedXmlException as e:
        raise UnsafeXml(
            f"the XML declares a DTD, entities or external references, which are refused ({type(e).__name__})"
        ) from None
    return target.cases
