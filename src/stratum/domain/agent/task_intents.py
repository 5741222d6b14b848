"""Commands about tasks: create one, change its status, link requirements, add dependencies."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from stratum.domain.agent.context import SpecRef, TaskRef
from stratum.domain.agent.grammar import Depend, Link
from stratum.domain.agent.grammar_create import CreateTask
from stratum.domain.agent.plan import Plan, merged, names, requirement_uids, resolve_tasks
from stratum.domain.agent.resolve import Directory, NotUnderstood
from stratum.domain.agent.text import Skeleton, quoted, uid_key

MAX_TITLE_CHARS = 200
MAX_SPEC_CUTS = 5
_TO_SPEC = re.compile(r" (?:to|for|in|into|under|on) (?:the )?", re.IGNORECASE)
DUPLICATE_SCORE = 0.85  # a task with this title exists already: maybe the person meant it


def build_create(intent: CreateTask, sk: Skeleton, d: Directory) -> Plan:
    plan = Plan("", "")
    spec: SpecRef | None = None
    title = intent.title
    if intent.spec is not None:
        spec, score = d.spec(intent.spec)
        plan.scores.append(score)
    elif title and not intent.title_quoted:
        title, spec = _title_and_spec(title, d)
    uids: list[str] = []
    if intent.uids:
        uids, spec, score = requirement_uids(intent.uids, spec, d)
        plan.scores.append(score)
    depends, title = _dependencies(intent, sk, d, plan, title)
    if not title:
        title = _title_from_requirements(uids, spec, d)
    if not intent.title_quoted:
        plan.scores.append(0.95)
    if len(title) > MAX_TITLE_CHARS:
        raise NotUnderstood(f"A task title has at most {MAX_TITLE_CHARS} characters.")
    duplicate = bool(d.tasks_titled(title))
    if duplicate:
        plan.scores.append(DUPLICATE_SCORE)
    data: dict[str, Any] = {"title": title}
    if intent.description:
        data["description"] = intent.description
    if spec is not None:
        data["spec_id"] = str(spec.id)
    if uids:
        data["requirement_uids"] = uids
    if depends:
        data["depends_on"] = [str(t.id) for t in depends]
    plan.actions.append({"op": "create", "entity": "task", "ref": "t1", "data": data})
    plan.title = f"Create task {quoted(title)}"
    plan.summary = _describe_create(title, spec, uids, depends, duplicate)
    return plan


def _dependencies(
    intent: CreateTask, sk: Skeleton, d: Directory, plan: Plan, title: str | None
) -> tuple[list[TaskRef], str | None]:
    """The tasks the new one waits for; a bare "after X" naming no task stays in the title."""
    depends: list[TaskRef] = []
    for fragment in intent.depends:
        for task, score in resolve_tasks(fragment, sk, d):
            depends.append(task)
            plan.scores.append(score)
    if intent.weak_depends is not None:
        try:
            depends += [t for t, _ in resolve_tasks(intent.weak_depends, sk, d, exact_only=True)]
        except NotUnderstood:
            if intent.weak_title is None:
                raise
            title = intent.weak_title
    return list(dict.fromkeys(depends)), title


def _describe_create(
    title: str, spec: SpecRef | None, uids: list[str], depends: list[TaskRef], duplicate: bool
) -> str:
    parts = [f"Create task {quoted(title, 80)}"]
    if spec is not None:
        parts.append(f"in spec {quoted(spec.title)}")
    if uids:
        parts.append(f"covering {names(uids)}")
    if depends:
        parts.append("depending on " + ", ".join(quoted(t.title) for t in depends))
    summary = ", ".join(parts) + "."
    if duplicate:
        summary += f" A task titled {quoted(title)} already exists."
    return summary


def _title_and_spec(title: str, d: Directory) -> tuple[str, SpecRef | None]:
    """``Load test checkout to Checkout``: a trailing "to <spec>" when it is a spec's exact title."""
    for cut in list(_TO_SPEC.finditer(title))[-MAX_SPEC_CUTS:]:
        specs = d.specs_titled(title[cut.end() :])
        if len(specs) == 1 and title[: cut.start()].strip():
            return title[: cut.start()].strip(), specs[0]
    return title, None


def _title_from_requirements(uids: list[str], spec: SpecRef | None, d: Directory) -> str:
    if not uids:
        raise NotUnderstood("What should the task be called? Put its title in quotes.")
    if len(uids) > 1:
        return f"Implement {names(uids)}"
    holders = [r for s, r in d.specs_with(uids[0]) if spec is None or s.id == spec.id]
    titles = {r.title for r in holders}
    if len(titles) == 1 and (title := next(iter(titles))):
        return title
    return f"Implement {uids[0]}"


def build_link(intent: Link, d: Directory) -> Plan:
    task, score = d.task(intent.target)
    plan = Plan("", "", scores=[score])
    own_spec: SpecRef | None = d.specs_by_id.get(task.spec_id) if task.spec_id is not None else None
    uids, spec, uid_score = requirement_uids(intent.uids, own_spec, d)
    plan.scores.append(uid_score)
    combined = merged(task.requirement_uids, uids, uid_key)
    added = combined[len(task.requirement_uids) :]
    if not added:
        raise NotUnderstood(f"Task {quoted(task.title)} already covers {names(uids)}.")
    data: dict[str, Any] = {"requirement_uids": combined}
    if task.spec_id is None and spec is not None:
        data["spec_id"] = str(spec.id)
    plan.actions.append({"op": "update", "entity": "task", "id": str(task.id), "data": data})
    plan.title = f"Link {quoted(task.title)} to {names(added)}"
    plan.summary = f"Task {quoted(task.title, 80)} will cover {names(combined)}"
    plan.summary += f" (was {names(list(task.requirement_uids))})." if task.requirement_uids else "."
    if "spec_id" in data and spec is not None:
        plan.summary += f" It joins spec {quoted(spec.title)}."
    return plan


def build_depend(intent: Depend, sk: Skeleton, d: Directory) -> Plan:
    task, score = d.task(intent.target)
    plan = Plan("", "", scores=[score])
    found = resolve_tasks(intent.on, sk, d)
    plan.scores += [s for _, s in found]
    new = [t for t, _ in found]
    if any(t.id == task.id for t in new):
        raise NotUnderstood("A task cannot depend on itself.")
    for other in new:
        if _reaches(other.id, task.id, d):
            raise NotUnderstood(
                f"{quoted(other.title)} already depends on {quoted(task.title)}: that would be a cycle."
            )
    if any(dep not in d.tasks_by_id for dep in task.depends_on):
        # The update replaces the whole list, and one the agent cannot see must not be lost.
        raise NotUnderstood(f"Task {quoted(task.title)} depends on tasks not in view; edit it directly.")
    combined = merged(tuple(str(u) for u in task.depends_on), [str(t.id) for t in new], str)
    if len(combined) == len(task.depends_on):
        raise NotUnderstood(f"Task {quoted(task.title)} already depends on that.")
    data = {"depends_on": combined}
    plan.actions.append({"op": "update", "entity": "task", "id": str(task.id), "data": data})
    listed = ", ".join(quoted(t.title) for t in new)
    plan.title = f"Make {quoted(task.title)} depend on {listed}"
    plan.summary = f"Task {quoted(task.title, 80)} will wait for {listed}."
    return plan


def _reaches(start: UUID, goal: UUID, d: Directory) -> bool:
    """Whether ``start`` already depends, directly or not, on ``goal``: one pass over the graph."""
    seen = {start}
    stack = [start]
    while stack:
        task = d.tasks_by_id.get(stack.pop())
        for dep in () if task is None else task.depends_on:
            if dep == goal:
                return True
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return False
