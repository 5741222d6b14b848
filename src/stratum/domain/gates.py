"""Which gate a proposal must pass before it is applied, from its confidence and risk."""

from __future__ import annotations

from typing import Any

from stratum.domain.ai_config import AiSettings
from stratum.domain.errors import GateRefused

AUTO = "auto"
HUMAN = "human_approval"
LOW = "low_confidence"
AUTOMATED_SOURCES = ("agent", "scheduler")


def gate_for(source: str, confidence: float | None, risk: str, settings: AiSettings) -> dict[str, Any]:
    """The gate, with what it requires and why (shown to clients as is)."""
    base = {
        "confidence": confidence,
        "thresholds": {"high": settings.high, "medium": settings.medium},
        "risk": risk,
    }
    if confidence is not None and confidence < settings.medium:
        return {**base, "name": LOW, "requires": ["approval", "force_by_admin"],
                "reason": f"confidence {confidence} is below medium ({settings.medium})"}
    if (
        source in AUTOMATED_SOURCES
        and confidence is not None
        and confidence >= settings.high
        and risk == "low"
        and settings.auto_apply_high_confidence
    ):
        return {**base, "name": AUTO, "requires": [],
                "reason": "high confidence, low risk, and the workspace auto-applies those"}
    if confidence is None:
        reason = "no confidence given: a human approves"
    elif confidence >= settings.high:
        reason = "high confidence, but auto-apply does not cover it: a human approves"
    else:
        reason = f"confidence {confidence} is between medium and high: a human approves"
    return {**base, "name": HUMAN, "requires": ["approval"], "reason": reason}


def check_apply(gate: dict[str, Any], approved: bool, force: bool, by_admin: bool) -> None:
    """Refuse an apply the gate does not let through (GateRefused says which gate)."""
    if gate["name"] == AUTO:
        return
    if not approved:
        raise GateRefused("this proposal needs a human approval before it is applied", gate=gate)
    if gate["name"] == LOW and not (force and by_admin):
        raise GateRefused(
            "confidence is below medium: only an admin token can apply it, with force=true",
            gate=gate,
        )
