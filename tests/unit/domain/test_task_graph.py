from __future__ import annotations

import contextlib
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratum.domain.errors import DependencyCycle
from stratum.domain.task_graph import TaskGraph, graph_id
from tests.unit.domain.helpers import META, fold, state, through_the_log


def test_the_graph_id_is_derived_from_the_workspace() -> None:
    ws = uuid4()
    assert TaskGraph.create(ws, META).id == graph_id(ws)


def test_a_task_cannot_depend_on_itself() -> None:
    graph = TaskGraph.create(uuid4(), META)
    a = uuid4()
    with pytest.raises(DependencyCycle):
        graph.set_dependencies(a, [a], META)


def test_closing_a_cycle_is_refused_and_names_the_cycle() -> None:
    graph = TaskGraph.create(uuid4(), META)
    a, b, c = uuid4(), uuid4(), uuid4()
    graph.set_dependencies(b, [a], META)
    graph.set_dependencies(c, [b], META)
    with pytest.raises(DependencyCycle) as refused:
        graph.set_dependencies(a, [c], META)
    assert refused.value.details["cycle"] == [str(a), str(c), str(b), str(a)]
    assert str(a) not in graph.edges


def _acyclic(edges: dict[str, list[str]]) -> bool:
    seen: dict[str, int] = {}

    def visit(node: str) -> bool:
        if seen.get(node) == 1:
            return False
        if seen.get(node) == 2:
            return True
        seen[node] = 1
        ok = all(visit(n) for n in edges.get(node, []))
        seen[node] = 2
        return ok

    return all(visit(n) for n in list(edges))


@given(st.lists(st.tuples(st.integers(0, 7), st.lists(st.integers(0, 7), max_size=3)), max_size=40))
def test_the_graph_never_contains_a_cycle(changes: list[tuple[int, list[int]]]) -> None:
    nodes = [UUID(int=i + 1) for i in range(8)]
    graph = TaskGraph.create(uuid4(), META)
    for task, deps in changes:
        with contextlib.suppress(DependencyCycle):
            graph.set_dependencies(nodes[task], [nodes[d] for d in dict.fromkeys(deps)], META)
        assert _acyclic(graph.edges)
    events = graph.collect_events()
    assert state(fold(through_the_log(events))) == state(graph)
