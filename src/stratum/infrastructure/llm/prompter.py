"""Renders the workspace's active prompt version for one call (templates.py does the work).

A remote model is shown the entities the text names and those its passages come from,
not the whole directory: a workspace of a thousand specs would not fit a prompt, and
would bury what matters. The offline interpreter reads the full directory from the
request's context instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from uuid import UUID

from stratum.domain.agent.context import AgentContext, TaskType
from stratum.domain.agent.prompt import BUILTIN
from stratum.infrastructure.llm import templates
from stratum.ports import RenderedPrompt

log = logging.getLogger("stratum.agent.prompts")
Active = Callable[[UUID, str], tuple[int, str, str]]
SMALL_DIRECTORY = 40  # a workspace this small is shown whole


def shown(context: AgentContext) -> AgentContext:
    if len(context.specs) + len(context.tasks) <= SMALL_DIRECTORY:
        return context
    wanted = set(context.involved) | {c.entity_id for c in context.chunks}
    tasks = [t for t in context.tasks if t.id in wanted]
    wanted |= {t.spec_id for t in tasks if t.spec_id is not None}
    return replace(
        context, specs=tuple(s for s in context.specs if s.id in wanted), tasks=tuple(tasks)
    )


class TemplatePrompter:
    def __init__(self, active: Active) -> None:
        self.active = active

    def render(
        self, ws: UUID, task: TaskType, text: str, context: AgentContext, light: bool
    ) -> RenderedPrompt:
        version, system, template = self.active(ws, task)
        visible = shown(context)
        try:
            rendered_system, prompt = templates.render(
                task, system, template, text=text, context=visible, light=light, fallback=False
            )
        except Exception:
            if version == BUILTIN:
                raise
            # A stored version that fails on real data: the built-in answers, and the call is
            # accounted to version 0, so drift figures never blame or credit the wrong version.
            log.exception(
                "prompt %s version %d of workspace %s failed to render; the built-in default was used",
                task, version, ws, extra={"prompt": task, "version": version, "workspace_id": str(ws)},
            )
            version, (system, template) = BUILTIN, templates.defaults()[task]
            rendered_system, prompt = templates.render(
                task, system, template, text=text, context=visible, light=light
            )
        return RenderedPrompt(task, version, rendered_system, prompt)
