"""PII redaction: a corpus of positives (each must become its placeholder) and look-alikes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratum.domain.rag.redact import (
    API_KEY,
    CARD,
    EMAIL,
    IBAN,
    PHONE,
    PLACEHOLDERS,
    SECRET,
    TOKEN,
    is_card_number,
    is_iban,
    redact,
)

# (text, the secret part that must disappear, the placeholder that must replace it)
POSITIVES = [
    ("Contact jane.doe+billing@example.co.uk for access", "jane.doe+billing@example.co.uk", EMAIL),
    ("mail ops@stratum.dev.", "ops@stratum.dev", EMAIL),
    ("<a href='mailto:x.y@sub.example.org'>", "x.y@sub.example.org", EMAIL),
    ("Call +49 30 12345678 now", "+49 30 12345678", PHONE),
    ("or +1 (415) 555-2671.", "+1 (415) 555-2671", PHONE),
    ("+44 20 7946 0958", "+44 20 7946 0958", PHONE),
    ("US office: (415) 555-2671", "(415) 555-2671", PHONE),
    ("fax 415.555.2672", "415.555.2672", PHONE),
    ("ring 212-555-0147 tomorrow", "212-555-0147", PHONE),
    ("phone: 030 1234567", "030 1234567", PHONE),
    ("Tel. 0170-1234567", "0170-1234567", PHONE),
    ("token stm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abc was leaked",
     "stm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abc", API_KEY),
    ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx1234", "sk-proj-abcdefghijklmnopqrstuvwx1234", API_KEY),
    ("use sk-abcdefghijklmnopqrstuvwxyz012345 here", "sk-abcdefghijklmnopqrstuvwxyz012345", API_KEY),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", API_KEY),
    ("gh: ghp_abcdefghijklmnopqrstuvwxyz0123456789AB", "ghp_abcdefghijklmnopqrstuvwxyz0123456789AB", API_KEY),
    ("github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789",
     "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789", API_KEY),
    ("key AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE", API_KEY),
    ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij", API_KEY),
    ("google AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890abcdefghijklmnopqrstuv", API_KEY),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", SECRET),
    ('password: "hunter2!x"', "hunter2!x", SECRET),
    ('{"client_secret": "Zx9_kd82nmA"}', "Zx9_kd82nmA", SECRET),
    ("DB_PASSWORD=Tr0ub4dor&3", "Tr0ub4dor&3", SECRET),
    ("postgres://admin:s3cr3tP4ss@db.internal:5432/app", "s3cr3tP4ss", SECRET),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
     "MIIEowIBAAKCAQEA", SECRET),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz123456", "abcdefghijklmnopqrstuvwxyz123456", TOKEN),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0", TOKEN),
    ("IBAN DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00", IBAN),
    ("GB82WEST12345698765432", "GB82WEST12345698765432", IBAN),
    ("FR1420041010050500013M02606", "FR1420041010050500013M02606", IBAN),
    ("card 4111 1111 1111 1111 exp", "4111 1111 1111 1111", CARD),
    ("mc 5500-0000-0000-0004", "5500-0000-0000-0004", CARD),
    ("amex 378282246310005", "378282246310005", CARD),
    ("visa:4012888888881881", "4012888888881881", CARD),
    ("discover 6011111111111117.", "6011111111111117", CARD),
]

# Look-alikes that must come through untouched.
NEGATIVES = [
    "Version 1.2.3 released on 2024-01-15 at 10:30",
    "Upgrade from v10.4.12 to v10.5.0-rc.1",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "REQ-003 and FR-001 and NFR-12 trace to SC-002 and AC-1.2",
    "IP 192.168.1.100 port 8080, IPv6 fe80::1ff:fe23:4567:890a",
    "The token budget: 200 tokens per chunk",
    "token_budget=2000000",
    "password: required",
    "Passwords: must be at least 12 characters",
    "The API key must rotate every 90 days",
    "Order 1234567890123456 is not Luhn valid",
    "Respond within 300 ms at p95; 10,000 photos; 1,000,000 characters",
    "sk-short and sk-learn",
    "Use ${API_KEY} from the env; api_key: <your-key>",
    "Timestamp 20240115123045 and epoch 1705312245000",
    "Numbers 1234 5678 9012 3456",
    "ISBN 978-3-16-148410-0",
    "user@localhost mention and @mentions like @alice",
    "Price +10 units, +5%",
    "See https://example.com/a/b?x=1&y=2",
    "sha 3f786850e387550fdab836ed7e6dc881de23001b",
    "call the endpoint twice",
    "2024-01-15T10:30:00+02:00",
    "range 100-200-3000 items",
    "The ratio is 555.123.45 and 1.5e-10",
    "Coordinates 52.520008, 13.404954",
    "DE12 is a postcode prefix, not an IBAN",
    "AKIA is an AWS prefix",
    "Card numbers such as the last four 4242 are shown",
    "Duration P1DT2H, cron 0 */5 * * *",
    "git commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "Phone numbers MUST be stored in E.164 format",
    "an auth token is issued after login",
    "secret: none",
    "eyJ is how a JWT starts",
]


@pytest.mark.parametrize(("text", "secret", "placeholder"), POSITIVES)
def test_positive_is_replaced_by_its_placeholder(text: str, secret: str, placeholder: str) -> None:
    result = redact(text)
    assert secret not in result.text
    assert placeholder in result.text
    assert result.counts.get(placeholder, 0) >= 1


@pytest.mark.parametrize("text", NEGATIVES)
def test_look_alike_is_left_alone(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.total == 0


def test_surroundings_are_kept() -> None:
    text = "Write to ops@stratum.dev or call +49 30 12345678 (REQ-003, v1.2.3)."
    assert redact(text).text == "Write to [EMAIL] or call [PHONE] (REQ-003, v1.2.3)."


def test_url_keeps_user_and_host() -> None:
    assert redact("postgres://admin:s3cr3tP4ss@db:5432/x").text == "postgres://admin:[SECRET]@db:5432/x"


def test_counts_by_type() -> None:
    r = redact("a@b.io c@d.io 4111 1111 1111 1111")
    assert r.counts == {EMAIL: 2, CARD: 1}
    assert r.total == 3


def test_checksums() -> None:
    assert is_card_number("4111111111111111")
    assert not is_card_number("4111111111111112")
    assert not is_card_number("1234567890123452")  # Luhn-valid but no card brand starts with 1
    assert is_iban("DE89370400440532013000")
    assert not is_iban("DE89370400440532013001")
    assert not is_iban("XX89370400440532013000")


def test_long_adversarial_input_is_linear() -> None:
    import time

    nasty = ("+1" + "2" * 30 + " ") * 5000 + "a" * 100_000 + "@" * 50_000 + "sk-" * 30_000
    start = time.perf_counter()
    redact(nasty)
    assert time.perf_counter() - start < 3.0


PII = st.sampled_from([p[0] for p in POSITIVES])


@given(st.lists(st.one_of(st.text(max_size=60), PII, st.sampled_from(NEGATIVES)), max_size=12))
def test_never_crashes_and_is_idempotent(parts: list[str]) -> None:
    text = " ".join(parts)
    once = redact(text)
    twice = redact(once.text)
    assert twice.text == once.text
    assert twice.total == 0


@given(st.text(max_size=300))
def test_placeholders_only_replace(text: str) -> None:
    out = redact(text).text
    # Whatever is not a placeholder was in the input: redaction never invents text.
    stripped = out
    for placeholder in PLACEHOLDERS:
        stripped = stripped.replace(placeholder, "")
    assert all(ch in text for ch in set(stripped))
