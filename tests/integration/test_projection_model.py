"""The core read model agrees with the event store after any sequence of commands.

A state machine issues random commands (legal and illegal, fresh and stale) and
checks each outcome against a small model of the documented rules. After each
example the live view, folded batch by batch by the runner (in batches of 4, so
boundaries fall inside commands), must equal (a) the aggregates folded from the
log and (b) a from-scratch replay. One database serves every example; each
example compares only the workspaces it created (the replay check covers all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from stratum.domain.errors import Archived, DependencyCycle, InvalidTransition
from stratum.errors import RuleViolation, VersionConflict
from stratum.infrastructure.postgres.replay import replay
from tests.integration.support import (
    assert_view_matches_fold,
    ctx,
    diff_rows,
    head,
    requirement_mids_are_unique,
    tracking,
    view_rows,
)

# The documented lifecycles, written out here rather than imported from the domain.
SPEC_MOVES = {"draft": {"approved", "archived"}, "approved": {"draft", "archived"}, "archived": {"draft"}}
TASK_MOVES = {
    "todo": {"in_progress", "blocked"},
    "in_progress": {"todo", "in_review", "blocked"},
    "in_review": {"in_progress", "done", "blocked"},
    "blocked": {"todo", "in_progress"},
    "done": {"in_progress"},
}

TITLES = [
    ("Login", "Sign in"),
    ("Logout", "Sign out"),
    ("Audit", "Audit trail"),
    ("Export", "Data export"),
    ("Search", "Find things"),
]
TEXTS = [
    ("log users in", "let users sign in with a password"),
    ("log users out", "end the session"),
    ("record every change", "keep an audit record"),
    ("export data as CSV", "export data as JSON"),
    ("search by name", "search by tag"),
]


def _body(items: list[tuple[int, int, int]]) -> str:
    reqs = "".join(
        f"### Requirement: {TITLES[i][t]}\nThe system SHALL {TEXTS[i][x]}.\n\n" for i, t, x in items
    )
    return "# Spec\n\n## Requirements\n\n" + reqs


# Revisions between these bodies add, modify, rename, remove and reorder requirements.
bodies = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 1), st.integers(0, 1)), max_size=4, unique_by=lambda r: r[0]
).map(_body)
names = st.sampled_from(["Acme", "Globex", "Initech", "Umbrella", "Hooli"])


@dataclass
class WsModel:
    name: str
    archived: bool = False
    version: int = 1


@dataclass
class SpecModel:
    ws: UUID
    body: str
    version: int
    uids: set[str]
    status: str = "draft"


@dataclass
class TaskModel:
    ws: UUID
    title: str
    spec_id: UUID | None
    requirement_uids: list[str]
    depends_on: list[UUID] = field(default_factory=list)
    status: str = "todo"
    version: int = 1


def _reaches(edges: dict[UUID, list[UUID]], start: list[UUID], target: UUID) -> bool:
    stack, seen = list(start), set()
    while stack:
        node = stack.pop()
        if node == target:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, []))
    return False


class Commands(RuleBasedStateMachine):
    c: Any = None
    conn: psycopg.Connection[Any] | None = None
    examples: list[tuple[int, int]] = []  # (specs + tasks, refused commands) per example

    def __init__(self) -> None:
        super().__init__()
        self.ws: dict[UUID, WsModel] = {}
        self.specs: dict[UUID, SpecModel] = {}
        self.tasks: dict[UUID, TaskModel] = {}
        self.refusals = 0

    # -- helpers ------------------------------------------------------------------------

    def _expect_refusal(self, error: type[Exception], command: Callable[[], Any]) -> BaseException:
        assert self.conn is not None
        before = head(self.conn)
        try:
            command()
        except error as e:
            assert head(self.conn) == before, f"a refused command ({error.__name__}) wrote events"
            self.refusals += 1
            return e
        raise AssertionError(f"expected {error.__name__}")

    def _pick(self, data: st.DataObject, items: dict[UUID, Any], label: str) -> UUID:
        keys = list(items)
        return keys[data.draw(st.integers(0, len(keys) - 1), label=label)]

    def _stale(self, data: st.DataObject, version: int) -> int | None:
        """The current version, None (no If-Match) or a wrong one."""
        choice = data.draw(
            st.sampled_from(["current", "current", "current", "none", "stale"]), label="if-match"
        )
        if choice == "none":
            return None
        if choice == "stale":
            return version - 1 if version > 1 else version + 1
        return version

    def _conflict(self, expected: int | None, current: int, command: Callable[[], Any]) -> bool:
        if expected is None or expected == current:
            return False
        e = self._expect_refusal(VersionConflict, command)
        assert e.details["current_version"] == current
        return True

    # -- workspaces ---------------------------------------------------------------------

    @initialize(first=names, second=names, body=bodies)
    def two_workspaces_and_a_spec(self, first: str, second: str, body: str) -> None:
        self.create_workspace(first)
        self.create_workspace(second)
        wid = next(iter(self.ws))
        spec, _ = self.c.specs.create(ctx(), wid, "S", body)
        self.specs[spec.id] = SpecModel(wid, body, 1, spec.requirement_uids())
        uids = sorted(spec.requirement_uids())[:1]
        first_task, _ = self.c.tasks.create(ctx(), wid, "Build", "", spec.id, uids)
        self.tasks[first_task.id] = TaskModel(wid, "Build", spec.id, uids)
        second_task, _ = self.c.tasks.create(ctx(), wid, "Test", "", None, [], [first_task.id])
        self.tasks[second_task.id] = TaskModel(wid, "Test", None, [], [first_task.id])

    @precondition(lambda self: len(self.ws) < 4)
    @rule(name=names)
    def create_workspace(self, name: str) -> None:
        # Tasks may come from draft specs here (the phase gate has its own tests).
        ws, _ = self.c.workspaces.create(ctx(), name, allow_draft_tasks=True)
        assert ws.version == 1
        self.ws[ws.id] = WsModel(name)

    @precondition(lambda self: self.ws)
    @rule(data=st.data(), name=names, archive=st.booleans())
    def update_workspace(self, data: st.DataObject, name: str, archive: bool) -> None:
        wid = self._pick(data, self.ws, "workspace")
        m = self.ws[wid]
        expected = self._stale(data, m.version)

        def command() -> Any:
            return self.c.workspaces.update(ctx(), wid, expected, name, archive)

        if self._conflict(expected, m.version, command):
            return
        if m.archived:  # an archived workspace refuses any rename, even to its own name
            self._expect_refusal(Archived, command)
            return
        ws, _ = command()
        m.version += (name != m.name) + (archive and not m.archived)
        m.name, m.archived = name, m.archived or archive
        assert ws.version == m.version

    # -- specs --------------------------------------------------------------------------

    @precondition(lambda self: len(self.specs) < 6)
    @rule(data=st.data(), body=bodies)
    def create_spec(self, data: st.DataObject, body: str) -> None:
        wid = self._pick(data, self.ws, "workspace")
        if self.ws[wid].archived:
            self._expect_refusal(Archived, lambda: self.c.specs.create(ctx(), wid, "S", body))
            return
        spec, _ = self.c.specs.create(ctx(), wid, "S", body)
        assert (spec.version, spec.status) == (1, "draft")
        self.specs[spec.id] = SpecModel(wid, body, 1, spec.requirement_uids())

    @precondition(lambda self: self.specs)
    @rule(data=st.data(), body=bodies)
    def revise_spec(self, data: st.DataObject, body: str) -> None:
        sid = self._pick(data, self.specs, "spec")
        m = self.specs[sid]
        expected = self._stale(data, m.version)

        def command() -> Any:
            return self.c.specs.update(ctx(), m.ws, sid, expected, body=body)

        if self._conflict(expected, m.version, command):
            return
        if self.ws[m.ws].archived:  # an archived workspace refuses any change, even a no-op
            self._expect_refusal(Archived, command)
            return
        spec, _ = command()
        if body == m.body:
            assert spec.version == m.version, "an unchanged body wrote events"
        else:
            assert spec.version > m.version
        m.body, m.version, m.uids = body, spec.version, spec.requirement_uids()
        assert len(m.uids) == len(spec.requirements)

    @precondition(lambda self: self.specs)
    @rule(data=st.data(), status=st.sampled_from(sorted(SPEC_MOVES)))
    def change_spec_status(self, data: st.DataObject, status: str) -> None:
        sid = self._pick(data, self.specs, "spec")
        m = self.specs[sid]

        def command() -> Any:
            return self.c.specs.update(ctx(), m.ws, sid, m.version, status=status)

        if self.ws[m.ws].archived:
            self._expect_refusal(Archived, command)
            return
        if status != m.status and status not in SPEC_MOVES[m.status]:
            self._expect_refusal(InvalidTransition, command)
            return
        # The model's requirements never have acceptance criteria: approval needs a spec
        # without requirements; archiving needs every task tracing to the spec done.
        open_tasks = [t for t in self.tasks.values() if t.spec_id == sid and t.status != "done"]
        if (status == "approved" != m.status and m.uids) or (status == "archived" != m.status and open_tasks):
            self._expect_refusal(RuleViolation, command)
            return
        spec, _ = command()
        m.version += status != m.status
        m.status = status
        assert spec.version == m.version

    # -- tasks --------------------------------------------------------------------------

    def _trace(self, data: st.DataObject, wid: UUID) -> tuple[UUID | None, list[str], str | None]:
        """A spec and requirement uids to trace to, and the rule they break (or None)."""
        kind = data.draw(
            st.sampled_from(["none", "none", "own", "own", "own", "foreign", "unknown uid", "uids alone"]),
            label="trace",
        )
        own = [s for s, m in self.specs.items() if m.ws == wid]
        foreign = [s for s, m in self.specs.items() if m.ws != wid]
        if kind == "foreign" and foreign:
            return foreign[0], [], "foreign spec"
        if kind == "uids alone":
            return None, ["REQ-001"], "uids without spec"
        if kind in ("own", "unknown uid") and own:
            sid = own[data.draw(st.integers(0, len(own) - 1), label="own spec")]
            uids = sorted(self.specs[sid].uids)
            chosen = data.draw(st.lists(st.sampled_from(uids), unique=True), label="uids") if uids else []
            if kind == "unknown uid":
                return sid, [*chosen, "REQ-999"], "unknown uid"
            return sid, chosen, None
        return None, [], None

    def _deps(self, data: st.DataObject, wid: UUID, itself: UUID | None = None) -> tuple[list[UUID], bool]:
        """Dependencies among the workspace's tasks (maybe the task itself); and whether a foreign one."""
        pool = [t for t, m in self.tasks.items() if m.ws == wid]
        if itself is not None and not data.draw(st.integers(0, 9), label="self dep"):
            pool.append(itself)
        deps = (
            data.draw(st.lists(st.sampled_from(pool), unique=True, max_size=3), label="deps") if pool else []
        )
        foreign = [t for t, m in self.tasks.items() if m.ws != wid]
        if foreign and not data.draw(st.integers(0, 9), label="foreign dep"):
            return [*deps, foreign[0]], True
        return deps, False

    @precondition(lambda self: self.ws)
    @rule(data=st.data(), title=st.sampled_from(["Build", "Test", "Ship"]))
    def create_task(self, data: st.DataObject, title: str) -> None:
        wid = self._pick(data, self.ws, "workspace")
        spec_id, uids, broken = self._trace(data, wid)
        deps, foreign_dep = self._deps(data, wid)

        def command() -> Any:
            return self.c.tasks.create(ctx(), wid, title, "", spec_id, uids, deps)

        if self.ws[wid].archived:
            self._expect_refusal(Archived, command)
        elif broken or foreign_dep:
            self._expect_refusal(RuleViolation, command)
        else:
            task, _ = command()
            assert (task.version, task.depends_on) == (1, deps)
            self.tasks[task.id] = TaskModel(wid, title, spec_id, uids, deps)

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), title=st.sampled_from(["Build", "Test", "Ship", "Document"]))
    def edit_task(self, data: st.DataObject, title: str) -> None:
        tid = self._pick(data, self.tasks, "task")
        m = self.tasks[tid]
        changes: dict[str, Any] = {"title": title}
        broken = None
        if data.draw(st.booleans(), label="retrace"):
            spec_id, uids, broken = self._trace(data, m.ws)
            changes.update(spec_id=spec_id, requirement_uids=uids)
        expected = self._stale(data, m.version)

        def command() -> Any:
            return self.c.tasks.update(ctx(), m.ws, tid, expected, **changes)

        if self._conflict(expected, m.version, command):
            return
        if self.ws[m.ws].archived:
            self._expect_refusal(Archived, command)
            return
        if broken:
            self._expect_refusal(RuleViolation, command)
            return
        task, _ = command()
        changed = (
            title != m.title
            or changes.get("spec_id", m.spec_id) != m.spec_id
            or changes.get("requirement_uids", m.requirement_uids) != m.requirement_uids
        )
        m.version += changed
        m.title = title
        m.spec_id = changes.get("spec_id", m.spec_id)
        m.requirement_uids = changes.get("requirement_uids", m.requirement_uids)
        assert task.version == m.version

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), status=st.sampled_from(sorted(TASK_MOVES)))
    def change_task_status(self, data: st.DataObject, status: str) -> None:
        tid = self._pick(data, self.tasks, "task")
        m = self.tasks[tid]
        expected = self._stale(data, m.version)

        def command() -> Any:
            return self.c.tasks.update(ctx(), m.ws, tid, expected, status=status)

        if self._conflict(expected, m.version, command):
            return
        if self.ws[m.ws].archived:
            self._expect_refusal(Archived, command)
            return
        if status != m.status and status not in TASK_MOVES[m.status]:
            self._expect_refusal(InvalidTransition, command)
            return
        if status == "done" != m.status and any(self.tasks[d].status != "done" for d in m.depends_on):
            self._expect_refusal(RuleViolation, command)
            return
        task, _ = command()
        m.version += status != m.status
        m.status = status
        assert task.version == m.version

    @precondition(lambda self: self.tasks)
    @rule(data=st.data())
    def set_depends_on(self, data: st.DataObject) -> None:
        tid = self._pick(data, self.tasks, "task")
        m = self.tasks[tid]
        deps, foreign_dep = self._deps(data, m.ws, itself=tid)
        edges = {t: tm.depends_on for t, tm in self.tasks.items() if tm.ws == m.ws}

        def command() -> Any:
            return self.c.tasks.update(ctx(), m.ws, tid, m.version, depends_on=deps)

        if self.ws[m.ws].archived:
            self._expect_refusal(Archived, command)
        elif foreign_dep:
            self._expect_refusal(RuleViolation, command)
        elif tid in deps or _reaches(edges, deps, tid):
            self._expect_refusal(DependencyCycle, command)
        else:
            task, _ = command()
            m.version += deps != m.depends_on
            m.depends_on = deps
            assert task.version == m.version

    # -- the read model -----------------------------------------------------------------

    def teardown(self) -> None:
        if not self.ws:
            return
        c, conn = self.c, self.conn
        assert conn is not None
        position = head(conn)
        c.wait_for("core", position, timeout=10)
        view = assert_view_matches_fold(c, conn, self.ws)
        requirement_mids_are_unique(view)
        for wid, w in self.ws.items():
            row = view["workspace"][wid]
            assert (row["name"], row["archived"], row["version"]) == (w.name, w.archived, w.version)
        for sid, s in self.specs.items():
            row = view["spec"][sid]
            assert (row["body"], row["status"], row["version"]) == (s.body, s.status, s.version)
            assert {r["uid"] for r in row["requirements"]} == s.uids
        for tid, t in self.tasks.items():
            row = view["task"][tid]
            assert (
                row["title"],
                row["status"],
                row["version"],
                row["depends_on"],
                row["spec_id"],
                row["requirement_uids"],
            ) == (t.title, t.status, t.version, t.depends_on, t.spec_id, t.requirement_uids)
        live = view_rows(conn)
        if len(self.examples) % 2:
            # Small batches, so replay too loads rows it wrote in an earlier batch.
            replayed_at = replay(c.url, c.log.mapper, c.projections["core"], batch_size=50)
        else:
            replayed_at = c.replay("core")
        assert replayed_at == position == tracking(conn)
        problems = diff_rows(view_rows(conn), live)
        assert not problems, "a replay differs from the live view:\n" + "\n".join(problems[:40])
        self.examples.append((len(self.tasks) + len(self.specs), self.refusals))


def test_the_live_view_equals_a_fold_of_the_aggregates_and_a_replay_after_random_commands(
    build_container: Callable[..., Any], conn: psycopg.Connection[Any]
) -> None:
    c = build_container(projection_batch_size=4)
    c.start_projections()
    Commands.c, Commands.conn, Commands.examples = c, conn, []
    try:
        run_state_machine_as_test(
            Commands,
            settings=settings(
                max_examples=30,
                stateful_step_count=40,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        Commands.c = Commands.conn = None
    # The property was exercised on more than trivial examples.
    assert len(Commands.examples) >= 10
    assert max(size for size, _ in Commands.examples) >= 5
    assert sum(refused for _, refused in Commands.examples) >= 10, "illegal commands were hardly tried"
    assert len({r[0] for r in conn.execute("SELECT DISTINCT topic FROM event_log")}) >= 12, (
        "the commands produced too few kinds of event"
    )


def test_an_unknown_id_is_not_found_and_writes_nothing(container: Any, conn: psycopg.Connection[Any]) -> None:
    from stratum.errors import NotFound

    ws, _ = container.workspaces.create(ctx(), "ws")
    before = head(conn)
    for command in (
        lambda: container.tasks.update(ctx(), ws.id, uuid4(), None, status="in_progress"),
        lambda: container.specs.update(ctx(), ws.id, uuid4(), None, body="x"),
        lambda: container.specs.create(ctx(), uuid4(), "S", "body"),
    ):
        try:
            command()
        except NotFound:
            pass
        else:
            raise AssertionError("expected NotFound")
    assert head(conn) == before
