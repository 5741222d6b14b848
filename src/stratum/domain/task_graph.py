"""The task dependency graph of one workspace, kept as one aggregate.

Cycles span tasks, so no single Task can see them. Every dependency change goes
through this aggregate and is saved with the task in one atomic save; two
concurrent edits that would together close a cycle then conflict on its version
instead of both slipping through.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from stratum.domain.errors import DependencyCycle, InvalidValue
from stratum.domain.events import Meta, StratumAggregate, StratumCreated, StratumEvent

MAX_DEPENDENCIES = 200


def graph_id(workspace_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"stratum:task-graph:{workspace_id}")


class TaskGraph(StratumAggregate):
    def __init__(self, workspace_id: UUID) -> None:
        self.workspace_id = workspace_id
        self.edges: dict[str, list[str]] = {}

    class Created(StratumCreated):
        pass

    @classmethod
    def create(cls, workspace_id: UUID, meta: Meta) -> TaskGraph:
        return cls._create(cls.Created, id=graph_id(workspace_id), **meta.stamp(workspace_id))

    class DependenciesSet(StratumEvent):
        task_id: UUID
        depends_on: list[UUID]

        def apply(self, aggregate: Any) -> None:
            key = str(self.task_id)
            if self.depends_on:
                aggregate.edges[key] = [str(d) for d in self.depends_on]
            else:
                aggregate.edges.pop(key, None)

    def set_dependencies(self, task_id: UUID, depends_on: list[UUID], meta: Meta) -> None:
        if len(depends_on) > MAX_DEPENDENCIES:
            raise InvalidValue(f"at most {MAX_DEPENDENCIES} dependencies", field="depends_on")
        if task_id in depends_on:
            raise DependencyCycle("a task cannot depend on itself", cycle=[str(task_id)] * 2)
        cycle = self._path_to(task_id, depends_on)
        if cycle:
            raise DependencyCycle("the dependencies would form a cycle", cycle=cycle)
        current = self.edges.get(str(task_id), [])
        if [str(d) for d in depends_on] != current:
            self._emit(self.DependenciesSet, meta, task_id=task_id, depends_on=depends_on)

    def _path_to(self, task_id: UUID, depends_on: list[UUID]) -> list[str]:
        """A path from any new dependency back to ``task_id`` (a would-be cycle), or []."""
        target = str(task_id)
        parents: dict[str, str | None] = {str(d): None for d in depends_on}
        stack = list(parents)
        while stack:
            node = stack.pop()
            if node == target:
                path = [node]
                parent = parents[node]
                while parent is not None:
                    path.append(parent)
                    parent = parents[parent]
                return [target, *reversed(path)]
            for nxt in self.edges.get(node, []):
                if nxt not in parents:
                    parents[nxt] = node
                    stack.append(nxt)
        return []
