"""PII and secret redaction at ingestion: typed placeholders replace what must not be indexed.

Runs before anything is embedded or stored in the index (the event log keeps the
original). Precision matters as much as recall: a spec is full of version numbers,
dates, uuids, ids such as ``REQ-003`` and example numbers, and an index that blanks
them out is useless. So every pattern is anchored on something specific (a known
key prefix, an ``@``, a ``+`` or a phone keyword, a checksum) and numbers are only
called cards or IBANs when their checksum holds.

``redact`` is idempotent (placeholders match no pattern) and linear-time: every
pattern is a bounded regex without nested quantifiers over the same characters.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
API_KEY = "[API_KEY]"
SECRET = "[SECRET]"  # noqa: S105 - a placeholder, not a password
TOKEN = "[TOKEN]"  # noqa: S105 - a placeholder
IBAN = "[IBAN]"
CARD = "[CARD]"
PLACEHOLDERS: tuple[str, ...] = (EMAIL, PHONE, API_KEY, SECRET, TOKEN, IBAN, CARD)


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    counts: dict[str, int] = field(default_factory=dict)  # placeholder → replacements

    @property
    def total(self) -> int:
        return sum(self.counts.values())


_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY"
    r"(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
# scheme://user:password@host: the password goes, the rest stays readable.
_URL_CREDENTIALS = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@]{1,100}:)([^\s@/]{1,200})(?=@)")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"\b(Bearer\s+)([A-Za-z0-9._~+/-]{20,}=*)")
# Keys recognisable by their prefix alone.
_KEYS = re.compile(
    r"(?<![A-Za-z0-9_])(?:"
    r"stm_[A-Za-z0-9_-]{20,}"  # Stratum API tokens
    r"|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"  # OpenAI / Anthropic style
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub
    r"|github_pat_[A-Za-z0-9_]{30,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_-]{35}"  # Google
    r"|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}"  # AWS access key id
    r")(?![A-Za-z0-9_])"
)
# name = value / name: value, where the name says it is a secret and the value looks like one.
_ASSIGNMENT = re.compile(
    r"(?i)(\b[A-Za-z0-9_.-]{0,40}?(?:password|passwd|passphrase|pwd|secret|api[_-]?key|apikey"
    r"|access[_-]?key|private[_-]?key|auth[_-]?token|access[_-]?token|refresh[_-]?token"
    r"|client[_-]?secret|token)[A-Za-z0-9_-]{0,20}[\"']?\s{0,3}[:=]\s{0,3})"
    r"([\"']?)([^\s\"'`,;]{6,200})\2"
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_IBAN = re.compile(r"\b([A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)\b")
# 13-19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(r"(?<![\w.\-/])([2-6][0-9]{3}(?:[ -]?[0-9]){9,15})(?![\w\-/:]|\.[0-9])")
# One character class with bounded repetition (no nested quantifiers): linear time.
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+.\-/:])\+[1-9][0-9 ().-]{6,24}[0-9](?![\w\-/:]|\.[0-9])")
_PHONE_NANP = re.compile(
    r"(?<![\w.\-/:+])(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}"
    r"(?![\w\-/:]|\.[0-9])"
)
_PHONE_LABELLED = re.compile(
    r"(?i)(\b(?:phone|tel|telephone|mobile|cell|fax|call|whatsapp|sms)\b\.?(?:\s{0,3}(?:no|number|nr)\.?)?"
    r"\s{0,3}[:#]?\s{0,3})(\+?\(?[0-9][0-9 ().-]{5,22}[0-9])(?![\w\-/:]|\.[0-9])"
)


def _has_mixed_classes(value: str) -> bool:
    classes = (
        any(c.islower() for c in value),
        any(c.isupper() for c in value),
        any(c.isdigit() for c in value),
        any(not c.isalnum() for c in value),
    )
    return sum(classes) >= 2 or len(value) >= 24


def _secretish(value: str) -> bool:
    """A value a human would not write in prose: mixed character classes, not a placeholder."""
    if value.startswith("[") or value.startswith(("<", "{", "$", "%")) or "[" in value:
        return False  # a placeholder or a template variable (${TOKEN}, <your-key>)
    if value.replace(".", "").replace("-", "").replace("_", "").isdigit():
        return False  # a number (a budget, a limit), not a secret
    return _has_mixed_classes(value)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_brand_ok(digits: str) -> bool:
    n = len(digits)
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= two <= 55 or 222100 <= six <= 272099:
        return n == 16  # Mastercard
    if two in (34, 37):
        return n == 15  # Amex
    if four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649:
        return 16 <= n <= 19  # Discover
    if 3528 <= four <= 3589:
        return 16 <= n <= 19  # JCB
    if 300 <= int(digits[:3]) <= 305 or two in (36, 38, 39):
        return 14 <= n <= 19  # Diners
    if two == 62:
        return 16 <= n <= 19  # UnionPay
    return False


def is_card_number(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19 or len(set(digits)) < 2:
        return False
    return _card_brand_ok(digits) and _luhn(digits)


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30,
    "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def is_iban(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if _IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    rearranged = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _phone_digits_ok(candidate: str, low: int = 7, high: int = 15) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    if not low <= digits <= high:
        return False
    # Separators come one at a time (a bracketed area code aside): "1..2" is not a number.
    squeezed = candidate.replace(") ", ")").replace(" (", "(")
    return not any(a in " .-" and b in " .-" for a, b in itertools.pairwise(squeezed))


Replace = Callable[[re.Match[str]], str | None]


def _whole(placeholder: str, check: Callable[[str], bool] | None = None) -> Replace:
    def replace(m: re.Match[str]) -> str | None:
        return placeholder if check is None or check(m.group(0)) else None

    return replace


def _keep_prefix(placeholder: str, check: Callable[[str], bool] | None = None, group: int = 2) -> Replace:
    def replace(m: re.Match[str]) -> str | None:
        value = m.group(group)
        if check is not None and not check(value):
            return None
        quote = m.group(2) if group == 3 else ""
        return f"{m.group(1)}{quote}{placeholder}{quote}"

    return replace


Rule = tuple[re.Pattern[str], Replace, str]

RULES: tuple[Rule, ...] = (
    (_PRIVATE_KEY, _whole(SECRET), SECRET),
    (_URL_CREDENTIALS, _keep_prefix(SECRET, lambda v: not v.startswith("[")), SECRET),
    (_JWT, _whole(TOKEN), TOKEN),
    (_BEARER, _keep_prefix(TOKEN), TOKEN),
    (_KEYS, _whole(API_KEY), API_KEY),
    (_ASSIGNMENT, _keep_prefix(SECRET, _secretish, group=3), SECRET),
    (_EMAIL, _whole(EMAIL), EMAIL),
    (_IBAN, _whole(IBAN, is_iban), IBAN),
    (_CARD, _whole(CARD, is_card_number), CARD),
    (_PHONE_INTERNATIONAL, _whole(PHONE, lambda v: _phone_digits_ok(v, 8)), PHONE),
    (_PHONE_NANP, _whole(PHONE), PHONE),
    (_PHONE_LABELLED, _keep_prefix(PHONE, _phone_digits_ok), PHONE),
)


def redact(text: str) -> Redaction:
    """Replace e-mails, phone numbers, keys, secrets, tokens, IBANs and card numbers."""
    counts: dict[str, int] = {}
    for pattern, replace, placeholder in RULES:

        def substitute(m: re.Match[str], replace: Replace = replace, placeholder: str = placeholder) -> str:
            out = replace(m)
            if out is None:
                return m.group(0)
            counts[placeholder] = counts.get(placeholder, 0) + 1
            return out

        text = pattern.sub(substitute, text)
    return Redaction(text, counts)
