"""Which requirements a test names, in this order of precedence:

1. JUnit properties on the test case: ``<property name="requirement" value="REQ-003"/>``
   (several allowed, each value may list several uids separated by commas or spaces);
2. otherwise a requirement uid found in the test's name or classname by a pattern
   (``test_REQ_003_…``, ``[FR-002]``, ``REQ-003``; case-insensitive, configurable);
3. explicit links made through the API (``PUT …/requirements/{uid}/tests``), which add to
   either and are resolved by the QA projection, not here.

Refs are canonical (``REQ-003``). Requirement uids are numbered per spec, so an unqualified
ref names that uid in every spec of the workspace; ``<spec-uuid>:REQ-003`` (or a ``spec``
property on the test case) names one spec's. Two uids are the same requirement when their
``match_key``s are equal (``REQ-003`` = ``req_3``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from uuid import UUID

from stratum.domain.qa.results import MAX_REFS

DEFAULT_PATTERN = r"(?<![A-Za-z0-9])(REQ|FR|NFR|SC|UR|SR|SYS|SWR|HLR|LLR|BR)[-_ ]?(\d{1,9})(?![0-9])"
PROPERTY_NAMES = frozenset({"requirement", "requirements"})
SPEC_PROPERTY = "spec"
_UID = re.compile(r"([A-Za-z]{1,16})[-_ ]?([0-9]{1,9}(?:\.[0-9]{1,9}){0,4})")
_QUALIFIED = re.compile(r"([0-9A-Fa-f-]{32,36})[:/](.{1,64})")
_SPLIT = re.compile(r"[,;\s]+")
_TRIM = "[](){}<>\"'`*"


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The name pattern, case-insensitive; it must capture a prefix and a number.

    Either named groups ``prefix`` and ``number``, or the first two groups.
    """
    compiled = re.compile(pattern, re.IGNORECASE)
    named = {"prefix", "number"} <= set(compiled.groupindex)
    if not named and compiled.groups < 2:
        raise ValueError("the requirement pattern must capture a prefix and a number")
    return compiled


DEFAULT = compile_pattern(DEFAULT_PATTERN)


def canonical_uid(token: str) -> str | None:
    """``req_003`` → ``REQ-003``; None for anything that is not a uid."""
    m = _UID.fullmatch(token.strip(_TRIM))
    return None if m is None else f"{m.group(1).upper()}-{m.group(2)}"


@lru_cache(maxsize=65_536)
def match_key(uid: str) -> str:
    """The form two uids are compared in: upper case, numbers without leading zeros."""
    upper = uid.upper()
    prefix, sep, number = upper.rpartition("-")
    parts = number.split(".")
    if not sep or not all(p.isascii() and p.isdigit() for p in parts):
        return upper
    return f"{prefix}-{'.'.join(str(int(p)) for p in parts)}"


def scoped_keys(refs: Iterable[str]) -> list[tuple[str, str]]:
    """``(scope, match key)`` of refs: scope '' for an unqualified ref, else the spec it names."""
    out: list[tuple[str, str]] = []
    for ref in refs:
        spec, _, uid = ref.rpartition(":")
        out.append((spec, match_key(uid)))
    return list(dict.fromkeys(out))


def keys_of(refs: Iterable[str]) -> list[str]:
    """Match keys of refs: ``REQ-3`` for an unqualified ref, ``<spec>:REQ-3`` for a qualified one."""
    return [f"{scope}:{key}" if scope else key for scope, key in scoped_keys(refs)]


def _spec_scope(value: str) -> str | None:
    try:
        return str(UUID(value.strip()))
    except ValueError:
        return None


def _scoped(uid: str, scope: str | None) -> str:
    return f"{scope}:{uid}" if scope else uid


def _property_refs(properties: Sequence[tuple[str, str]], scope: str | None) -> list[str]:
    refs: list[str] = []
    for key, value in properties:
        if key.strip().lower() not in PROPERTY_NAMES:
            continue
        for part in _SPLIT.split(value):
            qualified = _QUALIFIED.fullmatch(part)
            token, token_scope = part, scope
            if qualified is not None and (named := _spec_scope(qualified.group(1))) is not None:
                token_scope, token = named, qualified.group(2)
            uid = canonical_uid(token) if token else None
            if uid is not None:
                refs.append(_scoped(uid, token_scope))
    return refs


def _is_uid(prefix: str, number: str) -> bool:
    """What ``canonical_uid`` accepts, checked without a regex (it runs for every test)."""
    parts = number.split(".")
    return (
        0 < len(prefix) <= 16 and prefix.isascii() and prefix.isalpha() and len(parts) <= 5
        and all(0 < len(p) <= 9 and p.isascii() and p.isdigit() for p in parts)
    )


def _name_refs(texts: Iterable[str], pattern: re.Pattern[str], scope: str | None) -> list[str]:
    named = {"prefix", "number"} <= set(pattern.groupindex)
    refs: list[str] = []
    for text in texts:
        for m in pattern.finditer(text):
            prefix, number = (m.group("prefix"), m.group("number")) if named else (m.group(1), m.group(2))
            prefix, number = prefix or "", number or ""
            if _is_uid(prefix, number):
                refs.append(_scoped(f"{prefix.upper()}-{number}", scope))
    return refs


def refs_of(
    name: str, classname: str, properties: Sequence[tuple[str, str]], pattern: re.Pattern[str] = DEFAULT
) -> tuple[tuple[str, ...], str]:
    """``(refs, mapped_by)``: the requirements a test names and how ("property", "name" or "")."""
    scope = next(
        (s for k, v in properties if k.strip().lower() == SPEC_PROPERTY and (s := _spec_scope(v))), None
    )
    refs = _property_refs(properties, scope)
    if refs:
        return tuple(dict.fromkeys(refs))[:MAX_REFS], "property"
    refs = _name_refs((name, classname), pattern, scope)
    if refs:
        return tuple(dict.fromkeys(refs))[:MAX_REFS], "name"
    return (), ""
