"""Commands on a workspace's agent prompts: add versions, switch the live one, roll back.

Switching is an event, not a deploy: the agent reads the active version on every call
(``active``). The template check and the built-in defaults belong to the infrastructure
(jinja2), so the composition root passes them in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol
from uuid import UUID

from stratum.application.ai_config import check_version_absent
from stratum.application.store import Ctx, EventLog, check_version
from stratum.domain.agent.prompt import BUILTIN, PROMPT_NAMES, Prompt, prompt_id
from stratum.domain.workspace import Workspace
from stratum.errors import NotFound

alerts = logging.getLogger("stratum.agent.drift")


class TemplateCheck(Protocol):
    """Refuses (InvalidValue, naming the field) a prompt that would not render."""

    def __call__(self, system: str, template: str, name: str) -> None: ...


def known(name: str) -> str:
    """``name`` if it is a prompt; NotFound otherwise (it is a path segment at the edge)."""
    if name not in PROMPT_NAMES:
        raise NotFound("prompt not found", names=list(PROMPT_NAMES))
    return name


class PromptCommands:
    def __init__(
        self, log: EventLog, check: TemplateCheck, defaults: Mapping[str, tuple[str, str]]
    ) -> None:
        self.log = log
        self.check = check
        self.defaults = dict(defaults)
        missing = set(PROMPT_NAMES) - set(self.defaults)
        if missing:
            raise ValueError(f"no built-in prompt for {sorted(missing)}")

    def _load(self, ws: UUID, name: str) -> Prompt | None:
        try:
            return self.log.load(Prompt, prompt_id(ws, name), ws)
        except NotFound:
            return None

    def _writable(self, ctx: Ctx, ws: UUID, name: str, expected: int | None = None) -> Prompt:
        """The prompt, created on the first write (as its deterministic id allows).

        ``expected``: the client's If-Match, checked against what was loaded (0: never
        written); a write that lands after the load is caught by the commit.
        """
        self.log.load(Workspace, ws, ws).refuse_if_archived()
        prompt = self._load(ws, known(name))
        if prompt is None:
            check_version_absent(expected)
            return Prompt.create(ws, name, ctx.meta)
        check_version(prompt, expected)
        return prompt

    def get(self, ws: UUID, name: str) -> Prompt | None:
        """The prompt; None while it was never written (version 0, the built-in, is live)."""
        known(name)
        self.log.load(Workspace, ws, ws)
        return self._load(ws, name)

    def add_version(
        self, ctx: Ctx, ws: UUID, name: str, system: str | None, template: str, note: str = "",
        *, expected: int | None = None,
    ) -> tuple[Prompt, int]:
        """Store a version (not live yet). No ``system``: the built-in one, copied, so the
        version says exactly what the model is sent even after Stratum ships a new default."""
        prompt = self._writable(ctx, ws, name, expected)
        if system is None:
            system = self.defaults[name][0]
        self.check(system, template, name)
        prompt.add_version(system, template, note, ctx.meta)
        return prompt, self.log.commit(ctx, prompt)

    def activate(
        self, ctx: Ctx, ws: UUID, name: str, version: int, *, expected: int | None = None
    ) -> tuple[Prompt, int]:
        prompt = self._writable(ctx, ws, name, expected)
        prompt.activate(version, ctx.meta)  # unknown version: InvalidValue, nothing committed
        return prompt, self.log.commit(ctx, prompt)

    def rollback(
        self, ctx: Ctx, ws: UUID, name: str, *, expected: int | None = None
    ) -> tuple[Prompt, int]:
        prompt = self._writable(ctx, ws, name, expected)
        prompt.roll_back(ctx.meta)  # NothingToRollBack before anything is committed
        return prompt, self.log.commit(ctx, prompt)

    def auto_rollback(
        self,
        ctx: Ctx,
        ws: UUID,
        name: str,
        reasons: list[str],
        metrics: dict[str, Any],
        *,
        judged: int | None = None,
    ) -> tuple[Prompt, int]:
        """Roll back a version the drift monitor judged worse than its predecessor, and alert.

        ``judged``: the version the verdict is about. If an admin switched versions since,
        the verdict is stale and nothing happens (no event, no alert).
        """
        prompt = self._writable(ctx, ws, name)
        if judged is not None and prompt.active != judged:
            prompt.collect_events()  # a prompt never written stays unwritten
            return prompt, self.log.commit(ctx, prompt)
        from_version = prompt.active
        to_version = prompt.roll_back(ctx.meta, automatic=True, reasons=reasons, metrics=metrics)
        position = self.log.commit(ctx, prompt)
        alerts.warning(
            "prompt %s of workspace %s rolled back from version %d to %d: %s",
            name, ws, from_version, to_version, "; ".join(reasons) or "drift",
            extra={
                "alert": "prompt_drift_rollback",
                "workspace_id": str(ws),
                "prompt": name,
                "from_version": from_version,
                "to_version": to_version,
                "reasons": list(reasons),
                "metrics": metrics,
                "position": position,
            },
        )
        return prompt, position

    def active(self, ws: UUID, name: str) -> tuple[int, str, str]:
        """``(version, system, template)`` of the live version; the built-in for version 0."""
        prompt = self._load(ws, known(name))
        if prompt is not None:
            stored = prompt.text_of(prompt.active)
            if stored is not None:
                return prompt.active, stored[0], stored[1]
        system, template = self.defaults[name]
        return BUILTIN, system, template
