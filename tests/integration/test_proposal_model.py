"""Random interleavings of manual edits, drafts, approvals, applies and rollbacks.

After every step: the read models equal a fold of the log; no applied proposal lacks
an approval or a passing gate; a refused apply changed nothing; and an apply rolled
back at once leaves the read models' content exactly as it was.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from stratum.application.store import Ctx
from stratum.domain.errors import DomainError
from stratum.domain.events import Meta
from stratum.domain.proposal import Proposal
from stratum.errors import StratumError
from tests.integration.support import assert_view_matches_fold, connect, head, view_rows

PEOPLE = [Ctx(Meta(actor=f"token:{n}", source="manual")) for n in ("ann", "ben")]
AGENT = Ctx(Meta(actor="token:bot", source="agent"))
TITLES = st.sampled_from(["alpha", "beta", "gamma"])
STATUSES = st.sampled_from(["todo", "in_progress", "in_review", "done", "blocked"])
VOLATILE = ("version", "updated_at")


def _content(conn: psycopg.Connection[Any], ws: UUID) -> dict[str, Any]:
    """What every query of the read models shows: live rows (a deleted one stays as a
    tombstone no query returns), without the version and time a rollback must advance."""
    rows = view_rows(conn)
    return {
        table: {k: {c: v for c, v in r.items() if c not in VOLATILE} for k, r in by_id.items()
                if r.get("workspace_id", r["id"]) == ws and not r.get("deleted")}
        for table, by_id in rows.items()
    }


class Proposals(RuleBasedStateMachine):
    c: Any = None

    @initialize()
    def world(self) -> None:
        c = self.c
        ws, _ = c.workspaces.create(PEOPLE[0], "model", allow_draft_tasks=True)
        self.ws = ws.id
        first, _ = c.tasks.create(PEOPLE[0], ws.id, "first")
        second, _ = c.tasks.create(PEOPLE[0], ws.id, "second", depends_on=[first.id])
        third, _ = c.tasks.create(PEOPLE[0], ws.id, "third")
        self.tasks = [first.id, second.id, third.id]
        self.proposals: list[UUID] = []

    def _settle(self) -> psycopg.Connection[Any]:
        conn = connect(self.c.url)
        self.c.wait_for("core", head(conn), timeout=20)
        return conn

    def _try(self, command: Any) -> bool:
        try:
            command()
        except (StratumError, DomainError):
            return False
        return True

    @rule(who=st.integers(0, 1), task=st.integers(0, 2), title=TITLES, status=STATUSES)
    def manual_edit(self, who: int, task: int, title: str, status: str) -> None:
        self._try(lambda: self.c.tasks.update(PEOPLE[who], self.ws, self.tasks[task], None, title=title))
        self._try(lambda: self.c.tasks.update(PEOPLE[who], self.ws, self.tasks[task], None, status=status))

    @rule(
        agent=st.booleans(),
        edits=st.lists(st.tuples(st.integers(0, 2), TITLES, st.none() | STATUSES), min_size=1, max_size=3),
        create=st.booleans(),
        review=st.booleans(),
    )
    def draft(
        self, agent: bool, edits: list[tuple[int, str, str | None]], create: bool, review: bool
    ) -> None:
        actions: list[dict[str, Any]] = []
        for task, title, status in edits:
            data: dict[str, Any] = {"title": title}
            if status is not None:
                data["status"] = status
            actions.append({"op": "update", "entity": "task", "id": str(self.tasks[task]), "data": data})
        if create:
            actions.append({"op": "create", "entity": "task",
                            "data": {"title": "new", "depends_on": [str(self.tasks[0])]}})
        (p,), _ = self.c.proposals.draft(AGENT if agent else PEOPLE[0], self.ws, "p", actions)
        self.proposals.append(p.id)
        if review:  # straight through validation and approval, so applies get their chance
            self._try(lambda: self.c.proposals.validate(PEOPLE[0], self.ws, p.id))
            self._try(lambda: self.c.proposals.approve(PEOPLE[1], self.ws, p.id, agent_token=False))

    @rule(n=st.integers(0, 50))
    def validate(self, n: int) -> None:
        if self.proposals:
            pid = self.proposals[n % len(self.proposals)]
            self._try(lambda: self.c.proposals.validate(PEOPLE[0], self.ws, pid))

    @rule(n=st.integers(0, 50), who=st.integers(0, 1))
    def approve(self, n: int, who: int) -> None:
        if self.proposals:
            pid = self.proposals[n % len(self.proposals)]
            self._try(lambda: self.c.proposals.approve(PEOPLE[who], self.ws, pid, agent_token=False))

    @rule(n=st.integers(0, 50), latest=st.booleans())
    def apply(self, n: int, latest: bool) -> None:
        if not self.proposals:
            return
        pid = self.proposals[-1 if latest else n % len(self.proposals)]
        with self._settle() as conn:
            before = _content(conn, self.ws)
        applied = self._try(lambda: self.c.proposals.apply(PEOPLE[1], self.ws, pid))
        if not applied:  # all or nothing: a refused apply changed no entity
            with self._settle() as conn:
                assert _content(conn, self.ws) == before

    @rule(n=st.integers(0, 50), latest=st.booleans())
    def apply_then_roll_back(self, n: int, latest: bool) -> None:
        if not self.proposals:
            return
        pid = self.proposals[-1 if latest else n % len(self.proposals)]
        if self.c.proposals.get(self.ws, pid).status != "approved":
            return
        with self._settle() as conn:
            before = _content(conn, self.ws)
        if self._try(lambda: self.c.proposals.apply(PEOPLE[1], self.ws, pid)):
            self.c.proposals.rollback(PEOPLE[1], self.ws, pid)
            with self._settle() as conn:
                assert _content(conn, self.ws) == before

    @rule(n=st.integers(0, 50))
    def roll_back(self, n: int) -> None:
        if self.proposals:
            pid = self.proposals[n % len(self.proposals)]
            self._try(lambda: self.c.proposals.rollback(PEOPLE[0], self.ws, pid))

    @invariant()
    def views_equal_the_fold_and_applies_passed_a_gate(self) -> None:
        if not hasattr(self, "ws"):
            return
        with self._settle() as conn:
            assert_view_matches_fold(self.c, conn, [self.ws])
        for pid in self.proposals:
            p: Proposal = self.c.proposals.get(self.ws, pid)
            if p.applied is not None:
                assert p.approvals or p.applied["gate"]["name"] == "auto", p.history


def test_proposals_interleaved_with_manual_edits_keep_every_invariant(container: Any) -> None:
    container.start_projections()
    Proposals.c = container
    run_state_machine_as_test(
        Proposals, settings=settings(max_examples=20, stateful_step_count=15, deadline=None)
    )
