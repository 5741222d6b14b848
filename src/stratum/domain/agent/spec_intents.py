"""Commands about specs (split, rename, criteria) and status changes of tasks and specs."""

from __future__ import annotations

from typing import Any

from stratum.domain.agent.context import SpecRef, TaskRef
from stratum.domain.agent.grammar import AddCriterion, Rename, SetStatus, Split
from stratum.domain.agent.grammar_status import SPEC_STATUS, TASK_STATUS
from stratum.domain.agent.plan import STATUS_LABELS, Plan, resolve_tasks
from stratum.domain.agent.resolve import EXACT, Directory, Name, NotUnderstood, requirement_of
from stratum.domain.agent.schema import MAX_ACTIONS
from stratum.domain.agent.spec_edit import add_criterion
from stratum.domain.agent.text import Skeleton, normal, quoted, short, uid_key

MAX_TITLE_CHARS = 200
_STATUS_TITLES = {
    "todo": "Move {kind} {name} back to to do", "in_progress": "Start {kind} {name}",
    "in_review": "Send {kind} {name} to review", "done": "Mark {kind} {name} as done",
    "blocked": "Mark {kind} {name} as blocked", "draft": "Return {kind} {name} to draft",
    "approved": "Approve {kind} {name}", "archived": "Archive {kind} {name}",
}  # fmt: skip


def build_status(intent: SetStatus, sk: Skeleton, d: Directory) -> Plan:
    status, kind = intent.status, intent.target.kind
    if kind == "spec" and status == "todo":
        status = "draft"  # "reopen spec X"
    kind = kind or ("spec" if status in SPEC_STATUS else "task")
    label = STATUS_LABELS[status]
    if kind == "task" and status not in TASK_STATUS:
        allowed = "to do, in progress, in review, done or blocked"
        raise NotUnderstood(f"A task is {allowed}: {label} is for specs.")
    if kind == "spec" and status not in SPEC_STATUS:
        raise NotUnderstood(f"A spec is draft, approved or archived: {label} is for tasks.")
    found: list[tuple[TaskRef | SpecRef, float]]
    found = list(resolve_tasks(intent.fragment, sk, d)) if kind == "task" else [d.spec(intent.target)]
    moving = [e for e, _ in found if e.status != status]
    staying = [quoted(e.title) for e, _ in found if e.status == status]
    if not moving:
        verb = "is" if len(found) == 1 else "are"
        raise NotUnderstood(f"{kind.capitalize()} {', '.join(staying)} {verb} already {label}.")
    plan = Plan("", "", scores=[score for _, score in found])
    for e in moving:
        plan.actions.append({"op": "update", "entity": kind, "id": str(e.id), "data": {"status": status}})
    many = len(moving) > 1
    name = f"{kind}s" if many else quoted(moving[0].title)
    plan.title = _STATUS_TITLES[status].format(kind=len(moving) if many else kind, name=name)
    plan.summary = _describe_moves(kind, moving, staying, label)
    return plan


def _describe_moves(kind: str, moving: list[TaskRef | SpecRef], staying: list[str], label: str) -> str:
    changes = [
        f"{quoted(e.title, 80)} goes from {short(STATUS_LABELS.get(e.status, e.status), 30)} to {label}"
        for e in moving
    ]
    summary = f"{kind.capitalize()} " + "; ".join(changes) + "."
    if staying:
        summary += f" {', '.join(staying)} {'is' if len(staying) == 1 else 'are'} {label} already."
    return summary


def build_split(intent: Split, d: Directory) -> Plan:
    spec, score = d.spec(intent.spec)
    if not spec.requirements:
        raise NotUnderstood(f"Spec {quoted(spec.title)} has no requirements to split into tasks.")
    covered = {uid_key(u) for t in d.tasks_of(spec.id) for u in t.requirement_uids}
    todo = [r for r in spec.requirements if uid_key(r.uid) not in covered]
    skipped = [r.uid for r in spec.requirements if uid_key(r.uid) in covered]
    if not todo:
        raise NotUnderstood(f"Every requirement of spec {quoted(spec.title)} already has a task.")
    plan = Plan("", "", scores=[score])
    previous: str | None = None
    for n, req in enumerate(todo[:MAX_ACTIONS], 1):
        data: dict[str, Any] = {
            "title": short(req.title or req.uid, MAX_TITLE_CHARS),
            "spec_id": str(spec.id),
            "requirement_uids": [req.uid],
        }
        if intent.ordered and previous is not None:
            data["depends_on"] = [previous]
        previous = f"t{n}"
        plan.actions.append({"op": "create", "entity": "task", "ref": previous, "data": data})
    count = len(plan.actions)
    plan.title = f"Split spec {quoted(spec.title)} into {count} task{'s' if count != 1 else ''}"
    plan.summary = f"One task per requirement of spec {quoted(spec.title, 80)}"
    plan.summary += ", each depending on the previous one." if intent.ordered else "."
    if skipped:
        more = " …" if len(skipped) > 20 else ""
        plan.summary += f" Skipped {', '.join(skipped[:20])}{more}: already covered by a task."
    if len(todo) > MAX_ACTIONS:
        plan.summary += f" Only the first {MAX_ACTIONS} of {len(todo)}; run the command again for the rest."
    return plan


def build_rename(intent: Rename, d: Directory) -> Plan:
    problem: NotUnderstood | None = None
    for target, new in intent.options:
        try:
            entity, kind, score = _either(target, d)
        except NotUnderstood as refused:
            problem = problem or refused
            continue
        if len(new) > MAX_TITLE_CHARS:
            raise NotUnderstood(f"A title has at most {MAX_TITLE_CHARS} characters.")
        if new == entity.title:
            raise NotUnderstood(f"{kind.capitalize()} {quoted(entity.title)} already has that title.")
        plan = Plan("", "", scores=[score])
        plan.actions.append({"op": "update", "entity": kind, "id": str(entity.id), "data": {"title": new}})
        plan.title = f"Rename {kind} {quoted(entity.title)} to {quoted(new)}"
        plan.summary = f"{kind.capitalize()} {quoted(entity.title, 80)} will be called {quoted(new, 80)}."
        return plan
    raise problem or NotUnderstood("What should be renamed, and to what?")


def _either(name: Name, d: Directory) -> tuple[TaskRef | SpecRef, str, float]:
    """A task or a spec, whichever the name fits; an exact title beats a fuzzy one."""
    if name.kind in ("task", "spec"):
        return _one(name, d, name.kind)
    found: list[tuple[TaskRef | SpecRef, str, float]] = []
    problems: list[NotUnderstood] = []
    for kind in ("task", "spec"):
        try:
            found.append(_one(name, d, kind))
        except NotUnderstood as refused:
            problems.append(refused)
    if not found:
        raise problems[0]
    best = max(f[2] for f in found)
    top = [f for f in found if f[2] == best]
    if len(top) > 1:
        raise NotUnderstood(f"{quoted(name.text)} is both a task and a spec; say which.")
    return top[0]


def _one(name: Name, d: Directory, kind: str) -> tuple[TaskRef | SpecRef, str, float]:
    entity, score = d.task(name) if kind == "task" else d.spec(name)
    return entity, kind, score


def build_criterion(intent: AddCriterion, d: Directory) -> Plan:
    plan = Plan("", "")
    if intent.spec is not None:
        spec, score = d.spec(intent.spec)
        plan.scores.append(score)
    else:
        holders = d.specs_with(intent.uid)
        if not holders:
            raise NotUnderstood(f"No spec has a requirement {intent.uid}.")
        if len(holders) > 1:
            listed = ", ".join(quoted(s.title, 40) for s, _ in holders[:5])
            raise NotUnderstood(f"{intent.uid} is in {len(holders)} specs ({listed}); add “of spec …”.")
        spec = holders[0][0]
        plan.scores.append(EXACT)
    req = requirement_of(spec, intent.uid)
    if spec.requirements and req is None:
        raise NotUnderstood(f"{intent.uid} is not a requirement of spec {quoted(spec.title)}.")
    if req is not None and any(normal(c) == normal(intent.text) for c in req.criteria):
        raise NotUnderstood(f"{req.uid} already has the criterion {quoted(intent.text)}.")
    if spec.body is None:
        raise NotUnderstood(f"The text of spec {quoted(spec.title)} is not available to edit; try again.")
    uid = req.uid if req is not None else intent.uid
    try:
        body = add_criterion(spec.body, uid, intent.text, title=req.title if req is not None else None)
    except ValueError as refused:
        where = f"{uid} of spec {quoted(spec.title)}"
        raise NotUnderstood(f"Cannot add the criterion to {where}: {refused}.") from None
    plan.actions.append({"op": "update", "entity": "spec", "id": str(spec.id), "data": {"body": body}})
    plan.title = f"Add a criterion to {uid} of {quoted(spec.title)}"
    plan.summary = f"{uid} of spec {quoted(spec.title, 80)} gets the criterion {quoted(intent.text, 200)}."
    return plan
