"""Small value checks shared by aggregates."""

from __future__ import annotations

from stratum.domain.errors import InvalidValue


def clean_line(value: str, field: str, max_len: int) -> str:
    """A one-line human label: stripped, non-empty, bounded, no control characters."""
    value = value.strip()
    if not value or len(value) > max_len:
        raise InvalidValue(f"{field} must be 1..{max_len} characters", field=field)
    if any(ord(ch) < 32 for ch in value):
        raise InvalidValue(f"{field} must be a single line", field=field)
    return value


def bounded_text(value: str, field: str, max_len: int) -> str:
    """Free text: bounded, and storable (PostgreSQL text cannot hold NUL)."""
    if len(value) > max_len:
        raise InvalidValue(f"{field} must be at most {max_len} characters", field=field)
    if "\x00" in value:
        raise InvalidValue(f"{field} must not contain NUL characters", field=field)
    return value
