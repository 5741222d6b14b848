"""One change set: what a command or a proposal does to specs and tasks, before it is saved.

Direct HTTP commands, proposal validation, apply and rollback all mutate through
here, so every mutation meets the same archived-workspace refusal, the same
traceability checks and the same business rules (``domain/rules.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from stratum.application.store import Ctx, EventLog, check_version
from stratum.domain import rules
from stratum.domain import spec as spec_module
from stratum.domain import task as task_module
from stratum.domain.actions import Action
from stratum.domain.events import Meta, StratumAggregate
from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.task_graph import TaskGraph, graph_id
from stratum.domain.workspace import Workspace
from stratum.errors import NotFound, RuleViolation

Entity = Spec | Task
KINDS: dict[str, type[Spec] | type[Task]] = {"spec": Spec, "task": Task}
# Which tasks of a workspace trace to a spec (a superset is fine: each is re-read).
OpenTaskFinder = Callable[[UUID, UUID], list[UUID]]


def snapshot(entity: Entity) -> dict[str, Any]:
    if isinstance(entity, Spec):
        return spec_module.snapshot(entity)
    return task_module.snapshot(entity)


def kind_of(entity: Entity) -> str:
    return "spec" if isinstance(entity, Spec) else "task"


class ChangeSet:
    def __init__(self, log: EventLog, ws: UUID, meta: Meta, find_tasks: OpenTaskFinder) -> None:
        self.log, self.ws, self.meta = log, ws, meta
        self.find_tasks = find_tasks
        # Ids a client chose may exist already; ids minted by the command itself cannot.
        self.check_new_ids = True
        self._workspace: Workspace | None = None
        # Each entity is read once per set: checks and actions must see one version of it.
        self.loaded: dict[UUID, Entity] = {}
        self.touched: dict[UUID, Entity] = {}
        # id -> (entity kind, snapshot before the set, None if it creates it; version before)
        self.first: dict[UUID, tuple[str, dict[str, Any] | None, int]] = {}
        self.changes: list[rules.Change] = []
        self.graph: TaskGraph | None = None
        self.graph_before: dict[str, list[str]] = {}

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            self._workspace = self.log.load(Workspace, self.ws, self.ws)
        return self._workspace

    # -- reading ---------------------------------------------------------------------

    def get(self, kind: str, entity_id: UUID, deleted: bool = False) -> Entity:
        """The entity as the set has it so far (NotFound if missing or, unless asked, deleted)."""
        entity = self.loaded.get(entity_id)
        if entity is None:
            entity = self.loaded[entity_id] = self.log.load(KINDS[kind], entity_id, self.ws)
        if kind_of(entity) != kind or (entity.deleted and not deleted):
            raise NotFound(f"{kind} not found")
        return entity

    def _peek(self, kind: str, entity_id: UUID) -> dict[str, Any] | None:
        try:
            return snapshot(self.get(kind, entity_id))
        except NotFound:
            return None

    def preload(self, actions: list[Action]) -> None:
        """Read the workspace and every action's target in one round trip."""
        wanted: dict[UUID, Any] = {} if self._workspace is not None else {self.ws: Workspace}
        for a in actions:
            if a.op != "create" and a.id not in self.loaded:
                wanted[a.id] = KINDS[a.entity]
        found = self.log.load_many(wanted, self.ws)
        workspace = found.pop(self.ws, None)
        if self._workspace is None and isinstance(workspace, Workspace):
            self._workspace = workspace
        self.loaded.update(found)

    # -- acting ----------------------------------------------------------------------

    def act(self, index: int, action: Action) -> Entity:
        """Carry out one action; the rules are checked later, over the whole set."""
        self.workspace.refuse_if_archived()
        data = dict(action.data)
        if action.op == "create":
            return self._record(index, action, None, self._create(action.entity, action.id, data))
        entity = self.get(action.entity, action.id)
        before = snapshot(entity)
        self._touch(entity, before)
        if action.op == "delete":
            entity.delete(self.meta)
            if isinstance(entity, Task) and entity.depends_on:
                # The graph holds the edges of live tasks only; a restore puts them back.
                self._link(entity.id, [], check=False)
        elif isinstance(entity, Spec):
            self._update_spec(entity, data)
        else:
            self._update_task(entity, data)
        return self._record(index, action, before, entity)

    def revert(self, kind: str, entity_id: UUID, state: dict[str, Any] | None) -> None:
        """Put an entity back as ``state`` (None: as if never created) for a rollback."""
        entity = self.get(kind, entity_id, deleted=True)
        self._touch(entity, snapshot(entity))
        if state is None:
            entity.delete(self.meta)
        else:
            entity.revert(state, self.meta)

    def restore_dependencies(self, task_id: UUID, depends_on: list[str]) -> None:
        self._link(task_id, [UUID(d) for d in depends_on], check=False)

    def _record(self, index: int, action: Action, before: dict[str, Any] | None, entity: Entity) -> Entity:
        after = None if entity.deleted else snapshot(entity)
        self.changes.append(rules.Change(index, action.entity, action.id, action.op, before, after))
        return entity

    def _touch(self, entity: Entity, before: dict[str, Any]) -> None:
        if entity.id not in self.first:
            self.first[entity.id] = (kind_of(entity), before, entity.version)
            self.touched[entity.id] = entity

    def _create(self, kind: str, entity_id: UUID, data: dict[str, Any]) -> Entity:
        if entity_id in self.loaded or (self.check_new_ids and self.log.exists(entity_id)):
            raise RuleViolation(f"a {kind} with this id exists already", field="id", id=str(entity_id))
        entity: Entity
        if kind == "spec":
            entity = Spec.create(self.ws, data["title"], data.get("body", ""), self.meta, spec_id=entity_id)
        else:
            spec_id = _opt_uuid(data.get("spec_id"))
            uids = data.get("requirement_uids") or []
            self._check_trace(spec_id, uids)
            depends_on = [UUID(str(d)) for d in data.get("depends_on") or []]
            entity = Task.create(
                self.ws, data["title"], self.meta, data.get("description", ""), spec_id, uids,
                depends_on, task_id=entity_id,
            )
            if entity.depends_on:
                self._link(entity.id, entity.depends_on)
        self.first[entity_id] = (kind, None, 0)
        self.touched[entity_id] = self.loaded[entity_id] = entity
        return entity

    def _update_spec(self, spec: Spec, data: dict[str, Any]) -> None:
        if "title" in data:
            spec.retitle(data["title"], self.meta)
        if "body" in data:
            spec.revise(data["body"], self.meta)
        if "status" in data:
            spec.change_status(data["status"], self.meta)

    def _update_task(self, task: Task, data: dict[str, Any]) -> None:
        status = data.pop("status", None)
        if "spec_id" in data:
            data["spec_id"] = _opt_uuid(data["spec_id"])
        if "depends_on" in data:
            data["depends_on"] = [UUID(str(d)) for d in data["depends_on"]]
        if "spec_id" in data or "requirement_uids" in data:
            self._check_trace(
                data.get("spec_id", task.spec_id), data.get("requirement_uids", task.requirement_uids)
            )
        task.edit(self.meta, **data)
        if status is not None:
            task.change_status(status, self.meta)
        if "depends_on" in data:
            self._link(task.id, task.depends_on)

    def _link(self, task_id: UUID, depends_on: list[UUID], check: bool = True) -> None:
        if check:
            for dependency in depends_on:
                try:
                    self.get("task", dependency)
                except NotFound:
                    raise RuleViolation(
                        "a dependency is not a task of this workspace",
                        field="depends_on",
                        task_id=str(dependency),
                    ) from None
        if self.graph is None:
            try:
                self.graph = self.log.load(TaskGraph, graph_id(self.ws), self.ws)
            except NotFound:
                self.graph = TaskGraph.create(self.ws, self.meta)
        key = str(task_id)
        self.graph_before.setdefault(key, list(self.graph.edges.get(key, [])))
        self.graph.set_dependencies(task_id, depends_on, self.meta)

    def _check_trace(self, spec_id: UUID | None, uids: list[str]) -> None:
        if spec_id is None:
            if uids:
                raise RuleViolation("requirement_uids need a spec_id", field="requirement_uids")
            return
        try:
            spec = self.get("spec", spec_id)
        except NotFound:
            raise RuleViolation("spec_id is not a spec of this workspace", field="spec_id") from None
        assert isinstance(spec, Spec)
        unknown = sorted(set(uids) - spec.requirement_uids())
        if unknown:
            raise RuleViolation(
                "unknown requirement uids for this spec", field="requirement_uids", unknown=unknown
            )

    # -- checking and saving ---------------------------------------------------------

    def violations(self) -> list[rules.Violation]:
        return rules.evaluate(self.changes, _World(self))

    def enforce(self) -> None:
        """Refuse the set, with every violation, if any rule does."""
        found = self.violations()
        if found:
            raise RuleViolation(
                "the change breaks a business rule", violations=[v.to_dict() for v in found]
            )

    def aggregates(self) -> list[StratumAggregate]:
        """What to save: the entities in first-touched order, then the dependency graph."""
        out: list[StratumAggregate] = list(self.touched.values())
        if self.graph is not None:
            out.append(self.graph)
        return out


def one_action(
    log: EventLog, ctx: Ctx, ws: UUID, action: Action, find_tasks: OpenTaskFinder
) -> tuple[Entity, int]:
    """A direct command: one action as a change set, under the same rules as a proposal.

    The action's ``expected_version`` is the client's If-Match.
    """
    changes = ChangeSet(log, ws, ctx.meta, find_tasks)
    changes.check_new_ids = False  # the commands mint their ids themselves
    if action.op != "create":
        changes.preload([action])  # the entity and its workspace in one round trip
        check_version(changes.get(action.entity, action.id), action.expected_version)
    entity = changes.act(0, action)
    changes.enforce()
    return entity, log.commit(ctx, *changes.aggregates())


class _World:
    """``rules.World`` over the change set, falling back to the log for the rest."""

    def __init__(self, changes: ChangeSet) -> None:
        self.cs = changes

    def spec(self, spec_id: UUID) -> dict[str, Any] | None:
        return self.cs._peek("spec", spec_id)

    def task(self, task_id: UUID) -> dict[str, Any] | None:
        return self.cs._peek("task", task_id)

    def open_tasks_of(self, spec_id: UUID) -> list[UUID]:
        candidates = dict.fromkeys(self.cs.find_tasks(self.cs.ws, spec_id))
        candidates.update(dict.fromkeys(i for i, e in self.cs.touched.items() if isinstance(e, Task)))
        return [
            task_id for task_id in candidates
            if (t := self.task(task_id)) is not None and t["spec_id"] == spec_id and t["status"] != "done"
        ]

    def allows_draft_tasks(self) -> bool:
        return self.cs.workspace.allow_draft_tasks


def _opt_uuid(value: Any) -> UUID | None:
    return None if value is None else UUID(str(value))
