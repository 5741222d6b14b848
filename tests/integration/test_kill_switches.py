"""Kill switches against the real event log: refused under load, fail closed, auto-kill."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from stratum.application.store import Ctx
from stratum.domain.events import Meta
from stratum.domain.kill_switch import AUTO_KILL_ACTOR, GLOBAL, feature_key, switch_id, workspace_key
from stratum.domain.workspace import Workspace
from stratum.errors import KillSwitchEngaged, NotFound
from tests.integration.support import head, scalar

MANUAL = Ctx(Meta(actor="user:alice", source="manual"))
AGENT = Ctx(Meta(actor="agent:bot", source="agent"))
SCHEDULER = Ctx(Meta(actor="scheduler:nightly", source="scheduler"))
OPS = Ctx(Meta(actor="user:ops", source="manual"))


def events(container: Any, conn: psycopg.Connection[Any], after: int = 0) -> list[tuple[int, Any]]:
    """Every event after ``after`` as ``(position, domain event)``."""
    rows = conn.execute(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM event_log"
        " WHERE notification_id > %s ORDER BY notification_id",
        (after,),
    ).fetchall()
    to_event = container.log.mapper.to_domain_event
    return [(r[0], to_event(StoredEvent(r[1], r[2], r[3], bytes(r[4])))) for r in rows]


def kind(event: Any) -> str:
    return type(event).__qualname__


def switch_row(conn: psycopg.Connection[Any], key: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("SELECT * FROM kill_switch WHERE key = %s", (key,)).fetchone()
    return None if row is None else dict(row)


@pytest.fixture
def ws(container: Any) -> UUID:
    workspace, _ = container.workspaces.create(MANUAL, "Acme")
    return UUID(str(workspace.id))


def _refused(fn: Callable[[], Any]) -> KillSwitchEngaged:
    with pytest.raises(KillSwitchEngaged) as info:
        fn()
    return info.value


# ── Guard semantics ─────────────────────────────────────────────────────────────────────


def test_each_scope_refuses_exactly_its_mutations(container: Any, ws: UUID, conn: Any) -> None:
    other, _ = container.workspaces.create(MANUAL, "Other")
    ks = container.kill_switches

    ks.engage(OPS, "feature", "agent_command", "agent loops")
    err = _refused(lambda: container.tasks.create(AGENT, ws, "by the agent"))
    assert err.code == "KILL_SWITCH_ENGAGED"
    assert err.details == {"switch": "feature:agent_command", "reason": "agent loops", "fail_closed": False}
    container.tasks.create(MANUAL, ws, "by a person")
    container.tasks.create(SCHEDULER, ws, "by the scheduler")
    # A command that exercises a feature says so in Ctx.features.
    ks.engage(OPS, "feature", "auto_apply", "bad auto-applies")
    err = _refused(lambda: container.tasks.create(Ctx(SCHEDULER.meta, features=("auto_apply",)), ws, "x"))
    assert err.details["switch"] == "feature:auto_apply"
    ks.disengage(OPS, "feature", "agent_command", "fixed")
    container.tasks.create(AGENT, ws, "the agent again")

    ks.engage(OPS, "workspace", ws, "incident 7")
    err = _refused(lambda: container.tasks.create(MANUAL, ws, "refused"))
    assert err.details == {"switch": workspace_key(ws), "reason": "incident 7", "fail_closed": False}
    container.tasks.create(AGENT, other.id, "elsewhere is fine")

    ks.engage(OPS, "global", None, "stop everything")
    for c, where in ((MANUAL, ws), (AGENT, other.id), (MANUAL, other.id)):
        err = _refused(lambda c=c, where=where: container.tasks.create(c, where, "refused"))
        assert err.details["switch"] in (GLOBAL, workspace_key(ws))
    _refused(lambda: container.workspaces.create(MANUAL, "new"))
    # Operating switches is never refused, whatever is engaged.
    ks.disengage(OPS, "workspace", ws, "incident over")
    ks.disengage(OPS, "global", None, "all clear")
    container.tasks.create(MANUAL, ws, "lands")
    assert [r["key"] for r in ks.list() if r["engaged"]] == ["feature:auto_apply"]
    # Reads are never refused.
    assert container.log.load(Workspace, ws, ws).name == "Acme"


def test_a_switchs_row_commits_with_its_events(container: Any, ws: UUID, conn: Any) -> None:
    ks = container.kill_switches
    before = head(conn)
    switch, position = ks.engage(OPS, "workspace", ws, "incident 9")
    assert switch.id == switch_id(workspace_key(ws)) and switch.workspace_id == ws
    landed = events(container, conn, before)
    assert [kind(e) for _, e in landed] == ["KillSwitch.Created", "KillSwitch.Engaged"]
    assert landed[-1][0] == position
    engaged = landed[-1][1]
    assert (engaged.reason, engaged.auto, engaged.actor) == ("incident 9", False, "user:ops")
    row = switch_row(conn, workspace_key(ws))
    assert row is not None
    assert {k: row[k] for k in ("scope", "target", "engaged", "reason", "actor", "auto", "version")} == {
        "scope": "workspace", "target": str(ws), "engaged": True, "reason": "incident 9",
        "actor": "user:ops", "auto": False, "version": 2,
    }
    assert row["changed_at"] == engaged.timestamp
    # Engaging again is a no-op: no event, same row.
    _, again = ks.engage(OPS, "workspace", ws, "another reason")
    assert head(conn) == position and again == position
    assert switch_row(conn, workspace_key(ws)) == row
    ks.disengage(Ctx(Meta(actor="user:boss", source="manual")), "workspace", ws, "done")
    row = switch_row(conn, workspace_key(ws))
    assert row is not None
    assert (row["engaged"], row["reason"], row["actor"], row["version"]) == (False, "done", "user:boss", 3)
    assert ks.get(workspace_key(ws))["engaged"] is False
    # A switch for a workspace that never existed: 404, nothing written.
    with pytest.raises(NotFound):
        ks.engage(OPS, "workspace", UUID(int=42), "typo")
    assert head(conn) == position + 1


def test_a_workspace_admin_lists_global_feature_and_its_own_switches(container: Any, ws: UUID) -> None:
    other, _ = container.workspaces.create(MANUAL, "Other")
    ks = container.kill_switches
    ks.engage(OPS, "workspace", ws, "mine")
    ks.engage(OPS, "workspace", other.id, "theirs")
    ks.engage(OPS, "feature", "scheduler", "nightly broke")
    everything = [r["key"] for r in ks.list()]
    assert everything[:5] == [GLOBAL, *(feature_key(f) for f in ("agent_chat", "agent_command",
                                                                  "auto_apply", "scheduler"))]
    assert set(everything[5:]) == {workspace_key(ws), workspace_key(other.id)}
    mine = ks.list(ws)
    assert [r["key"] for r in mine] == [*everything[:5], workspace_key(ws)]
    never = mine[0]
    assert never == {"key": GLOBAL, "scope": "global", "target": None, "engaged": False, "reason": "",
                     "actor": None, "auto": False, "version": 0, "changed_at": None}
    assert ks.is_engaged([feature_key("scheduler")])
    assert not ks.is_engaged([GLOBAL, feature_key("agent_chat")])
    with pytest.raises(KillSwitchEngaged) as info:
        ks.refuse_if_engaged([GLOBAL, workspace_key(ws), feature_key("scheduler")])
    assert info.value.details == {"switch": workspace_key(ws), "reason": "mine", "fail_closed": False}


# ── (a) Engaged mid-load ────────────────────────────────────────────────────────────────


def test_no_agent_mutation_lands_after_the_switch_engaged_mid_load(
    container: Any, ws: UUID, conn: Any
) -> None:
    tasks = [container.tasks.create(MANUAL, ws, f"task {i}")[0].id for i in range(4)]
    stop = threading.Event()
    engaged_at = threading.Event()
    landed: dict[str, list[int]] = {"agent": [], "manual": []}
    refused: list[KillSwitchEngaged] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def agent(task_id: UUID, n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                if i % 2:
                    _, position = container.tasks.create(AGENT, ws, f"agent {n}.{i}")
                else:
                    _, position = container.specs.create(AGENT, ws, f"agent spec {n}.{i}", "")
                with lock:
                    landed["agent"].append(position)
            except KillSwitchEngaged as e:
                with lock:
                    refused.append(e)
                time.sleep(0.005)
            except BaseException as e:
                unexpected.append(e)
                return

    def person() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                _, position = container.tasks.create(MANUAL, ws, f"manual {i}")
                with lock:
                    landed["manual"].append(position)
            except BaseException as e:
                unexpected.append(e)
                return
            if engaged_at.is_set():
                time.sleep(0.002)

    threads = [threading.Thread(target=agent, args=(t, n)) for n, t in enumerate(tasks)]
    threads.append(threading.Thread(target=person))
    for t in threads:
        t.start()
    try:
        time.sleep(0.4)
        agent_before = len(landed["agent"])
        _, engaged_position = container.kill_switches.engage(OPS, "feature", "agent_command", "runaway agent")
        engaged_at.set()
        time.sleep(0.4)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not unexpected, unexpected
    assert agent_before > 5, "the load did not run before the switch"
    assert refused, "no agent mutation was refused"
    assert {e.details["switch"] for e in refused} == {"feature:agent_command"}

    log = events(container, conn)
    position_of_engaged = [p for p, e in log if kind(e) == "KillSwitch.Engaged"]
    assert position_of_engaged == [engaged_position]
    agent_positions = [p for p, e in log if e.source == "agent"]
    assert agent_positions and max(agent_positions) < engaged_position
    assert max(landed["agent"]) < engaged_position
    assert any(p > engaged_position for p, e in log if e.source == "manual"), "manual mutations stopped"

    # Disengaged: the agent's mutations land again.
    _, disengaged_position = container.kill_switches.disengage(OPS, "feature", "agent_command", "fixed")
    _, position = container.tasks.create(AGENT, ws, "back to work")
    assert position > disengaged_position


# ── (b) Fail closed ─────────────────────────────────────────────────────────────────────


@contextlib.contextmanager
def switches_locked(url: str) -> Iterator[None]:
    """Another session holds table kill_switch in ACCESS EXCLUSIVE mode (as a DDL would)."""
    with psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE kill_switch IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            holder.rollback()


def test_mutations_fail_closed_while_the_switch_table_is_locked(
    container: Any, ws: UUID, client: Any, admin: dict[str, str], database_url: str, conn: Any
) -> None:
    task, _ = container.tasks.create(MANUAL, ws, "readable")
    spec, position = container.specs.create(MANUAL, ws, "spec", "")
    before = head(conn)
    with switches_locked(database_url):
        started = time.monotonic()
        err = _refused(lambda: container.tasks.update(MANUAL, ws, task.id, None, title="blocked"))
        assert time.monotonic() - started < 1.5
        assert err.code == "KILL_SWITCH_ENGAGED"
        assert err.details["fail_closed"] is True and err.details["switch"] is None
        assert "lock timeout" in err.details["reason"]
        # Non-mutating features fail closed too.
        assert _refused(lambda: container.kill_switches.is_engaged([GLOBAL])).details["fail_closed"]

        # Concurrent mutations are refused together, not one lock timeout after another.
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)

        def mutate(i: int) -> None:
            barrier.wait()
            try:
                container.tasks.create(MANUAL, ws, f"refused {i}")
            except BaseException as e:
                errors.append(e)

        started = time.monotonic()
        threads = [threading.Thread(target=mutate, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert time.monotonic() - started < 3.0
        assert len(errors) == 8 and all(
            isinstance(e, KillSwitchEngaged) and e.details["fail_closed"] for e in errors
        ), errors

        # Reads keep working, through the app.
        for url in (f"/v1/workspaces/{ws}/tasks/{task.id}", f"/v1/workspaces/{ws}/specs/{spec.id}"):
            r = client.get(url, headers=admin, params={"min_position": position})
            assert r.status_code == 200, r.text
        r = client.patch(f"/v1/workspaces/{ws}/tasks/{task.id}", json={"title": "x"},
                         headers={**admin, "If-Match": '"1"'})
        assert r.status_code == 503 and r.json()["code"] == "KILL_SWITCH_ENGAGED"
        assert r.json()["fail_closed"] is True
        assert r.headers["content-type"].startswith("application/problem+json")
    assert head(conn) == before
    task, _ = container.tasks.update(MANUAL, ws, task.id, None, title="restored")
    assert task.title == "restored"


def test_mutations_fail_closed_while_the_switch_table_is_missing(
    container: Any, ws: UUID, database_url: str, conn: Any
) -> None:
    container.tasks.create(MANUAL, ws, "before")
    before = head(conn)
    conn.execute("ALTER TABLE kill_switch RENAME TO kill_switch_away")
    try:
        err = _refused(lambda: container.tasks.create(MANUAL, ws, "refused"))
        assert err.details["fail_closed"] is True and "kill_switch" in err.details["reason"]
        _refused(lambda: container.tasks.create(AGENT, ws, "refused"))
        _refused(container.kill_switches.list)
        # A switch cannot be operated either (its row could not be written): said so, not a 500.
        err = _refused(lambda: container.kill_switches.engage(OPS, "global", None, "now"))
        assert err.details["fail_closed"] is True
        assert head(conn) == before
    finally:
        conn.execute("ALTER TABLE kill_switch_away RENAME TO kill_switch")
    container.tasks.create(MANUAL, ws, "after")
    assert head(conn) > before


# ── (c) Auto-kill ───────────────────────────────────────────────────────────────────────


def test_auto_kill_trips_once_on_injected_errors_and_says_so_in_the_log(
    build_container: Callable[..., Any], conn: Any
) -> None:
    container = build_container(auto_kill_min_calls=10, auto_kill_error_rate=0.5, auto_kill_window_seconds=60)
    workspace, _ = container.workspaces.create(MANUAL, "Auto")
    ws = workspace.id
    ks = container.kill_switches
    before = head(conn)
    for _ in range(6):
        assert ks.record("agent_command", True) is None
    trips = [ks.record("agent_command", False) for _ in range(30)]
    assert sum(t is not None for t in trips) == 1
    trip = next(t for t in trips if t is not None)
    assert (trip.failures, trip.calls) == (6, 12)

    landed = [(p, e) for p, e in events(container, conn, before) if kind(e) == "KillSwitch.Engaged"]
    assert len(landed) == 1
    _, engaged = landed[0]
    assert engaged.auto is True and engaged.actor == AUTO_KILL_ACTOR and engaged.source == "system"
    assert engaged.reason == "auto-kill: error rate 0.50 over 60 s (6 of 12 calls failed)"
    assert engaged.details == {"feature": "agent_command", "error_rate": 0.5, "failures": 6,
                               "calls": 12, "window_seconds": 60.0}
    row = switch_row(conn, feature_key("agent_command"))
    assert row is not None and row["engaged"] and row["auto"] and row["actor"] == AUTO_KILL_ACTOR
    err = _refused(lambda: container.tasks.create(AGENT, ws, "refused"))
    assert err.details["reason"] == engaged.reason
    container.tasks.create(MANUAL, ws, "people still work")

    # Reset: a human disengages; the window starts afresh and it can trip again.
    ks.disengage(OPS, "feature", "agent_command", "model provider recovered")
    container.tasks.create(AGENT, ws, "the agent works again")
    assert all(ks.record("agent_command", False) is None for _ in range(9))
    assert ks.record("agent_command", False) is not None
    kinds = [kind(e) for _, e in events(container, conn, before) if kind(e).startswith("KillSwitch.")]
    assert kinds == [
        "KillSwitch.Created", "KillSwitch.Engaged", "KillSwitch.Disengaged", "KillSwitch.Engaged"
    ]


def test_auto_kill_can_be_turned_off_and_refuses_unknown_features(
    build_container: Callable[..., Any],
) -> None:
    container = build_container(auto_kill_enabled=False, auto_kill_min_calls=1)
    assert container.kill_switches.record("scheduler", False) is None
    assert not container.kill_switches.is_engaged([feature_key("scheduler")])
    with pytest.raises(ValueError, match="unknown feature"):
        container.kill_switches.record("warp_drive", False)


def test_auto_kill_that_cannot_engage_tries_again_on_the_next_failure(
    build_container: Callable[..., Any], conn: Any
) -> None:
    container = build_container(auto_kill_min_calls=2, auto_kill_error_rate=0.5)
    ks = container.kill_switches
    ks.record("scheduler", False)
    conn.execute("ALTER TABLE kill_switch RENAME TO kill_switch_away")
    try:
        assert ks.record("scheduler", False) is None  # could not engage: logged, not raised
    finally:
        conn.execute("ALTER TABLE kill_switch_away RENAME TO kill_switch")
    assert ks.record("scheduler", False) is not None
    assert ks.is_engaged([feature_key("scheduler")])


# ── (e) Group commit: only the guarded-and-engaged requests fail ────────────────────────


def test_a_batch_with_refused_requests_fails_only_those(container: Any, conn: Any) -> None:
    killed, _ = container.workspaces.create(MANUAL, "Killed")
    alive, _ = container.workspaces.create(MANUAL, "Alive")
    container.kill_switches.engage(OPS, "workspace", killed.id, "incident")
    container.kill_switches.engage(OPS, "feature", "scheduler", "nightly broke")

    committer = container.log.recorder._committer
    batches: list[list[Any]] = []
    original = committer._append

    def observed(batch: Any) -> None:
        batches.append(list(batch))
        original(batch)

    committer._append = observed
    # (ctx, workspace, should land): guarded in a killed workspace or from a killed feature
    # fail; unguarded ones (switch commands use them) and the rest land.
    cases = [
        (MANUAL, killed.id, False),
        (AGENT, alive.id, True),
        (SCHEDULER, alive.id, False),
        (Ctx(MANUAL.meta, guarded=False), killed.id, True),
        (MANUAL, alive.id, True),
        (Ctx(SCHEDULER.meta, guarded=False), alive.id, True),
    ]
    outcomes: dict[int, list[Any]] = {i: [] for i in range(len(cases))}
    rounds = 25
    barrier = threading.Barrier(len(cases))

    def worker(i: int) -> None:
        c, where, _ = cases[i]
        for r in range(rounds):
            barrier.wait()
            try:
                _, position = container.tasks.create(c, where, f"case {i} round {r}")
                outcomes[i].append(position)
            except Exception as e:
                outcomes[i].append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Some batch held requests that were refused beside requests that landed: the test
    # exercised the batch path, not only appends alone.
    mixed = [b for b in batches if len(b) > 1 and len({r.error is None for r in b}) == 2]
    assert mixed, "no batch mixed refused and landing requests: the test proved nothing"
    for i, (_, _, lands) in enumerate(cases):
        results = outcomes[i]
        assert len(results) == rounds
        if lands:
            assert all(isinstance(r, int) for r in results), (i, results)
        else:
            assert all(isinstance(r, KillSwitchEngaged) and not r.details["fail_closed"] for r in results), (
                i, results
            )
    created = scalar(conn, "SELECT count(*) FROM event_log WHERE topic LIKE %s", ("%Task.Created%",))
    assert created == rounds * sum(lands for *_, lands in cases)


# ── The table is the log's ─────────────────────────────────────────────────────────────


def test_start_up_restores_the_switch_table_from_the_log(
    container: Any, ws: UUID, conn: Any, build_container: Callable[..., Any]
) -> None:
    ks = container.kill_switches
    ks.engage(OPS, "workspace", ws, "frozen")
    ks.engage(OPS, "feature", "scheduler", "broken")
    ks.disengage(OPS, "feature", "scheduler", "fixed")
    ks.engage(OPS, "global", None, "everything stops")
    expected = {r["key"]: r for r in ks.list()}
    # As after rolling migration 0002 back and applying it again (rows missing), or a
    # hand edit (a stale row): mutations then slip through.
    conn.execute("DELETE FROM kill_switch WHERE key = %s", (workspace_key(ws),))
    conn.execute("UPDATE kill_switch SET engaged = false, version = 1 WHERE key = 'global'")
    container.tasks.create(MANUAL, ws, "slipped through the stale table")
    restarted = build_container()
    assert {r["key"]: r for r in restarted.kill_switches.list()} == expected
    err = _refused(lambda: restarted.tasks.create(MANUAL, ws, "refused again"))
    assert err.details["switch"] in (GLOBAL, workspace_key(ws))


def test_a_switch_change_is_never_batched_with_the_mutations_it_guards(
    container: Any, ws: UUID
) -> None:
    """Queued behind a running append: an engage, then an agent command. Committed in one
    batch, the agent's guard would be read before the switch's row is written, and its
    event would land after the Engaged event."""
    committer = container.log.recorder._committer
    original = committer._append
    release = threading.Event()
    first = threading.Event()

    def held(batch: Any) -> None:
        if not first.is_set():
            first.set()
            assert release.wait(10)
        original(batch)

    committer._append = held
    results: dict[str, Any] = {}

    def run(name: str, fn: Callable[[], Any]) -> threading.Thread:
        def target() -> None:
            try:
                results[name] = fn()[1]
            except Exception as e:
                results[name] = e

        t = threading.Thread(target=target)
        t.start()
        return t

    def queued(n: int) -> None:
        deadline = time.monotonic() + 10
        while len(committer._queue) < n:
            assert time.monotonic() < deadline, "the request was not queued"
            time.sleep(0.001)

    threads = [run("leader", lambda: container.tasks.create(MANUAL, ws, "holds the lead"))]
    assert first.wait(10)
    ks = container.kill_switches
    threads.append(run("engage", lambda: ks.engage(OPS, "feature", "agent_command", "x")))
    queued(1)
    threads.append(run("agent", lambda: container.tasks.create(AGENT, ws, "queued behind the engage")))
    queued(2)
    release.set()
    for t in threads:
        t.join(30)
    assert isinstance(results["leader"], int) and isinstance(results["engage"], int), results
    assert isinstance(results["agent"], KillSwitchEngaged), results


def test_a_re_created_switch_table_fails_closed_until_start_up_rewrites_it(
    container: Any, ws: UUID, conn: Any, build_container: Callable[..., Any]
) -> None:
    ks = container.kill_switches
    ks.engage(OPS, "workspace", ws, "frozen")
    other, _ = container.workspaces.create(MANUAL, "Other")
    before = head(conn)
    # Migration 0002 rolled back and applied again: the table is back, empty.
    conn.execute("TRUNCATE kill_switch")
    err = _refused(lambda: container.tasks.create(MANUAL, other.id, "refused: who knows what is engaged"))
    assert err.details["fail_closed"] and "rewritten from the log" in err.details["reason"]
    assert _refused(lambda: ks.is_engaged([GLOBAL])).details["fail_closed"]
    assert head(conn) == before
    # Switches can still be operated (their commands are not guarded).
    ks.engage(OPS, "feature", "scheduler", "while we are at it")
    restarted = build_container()
    assert restarted.kill_switches.is_engaged([workspace_key(ws)])
    restarted.tasks.create(MANUAL, other.id, "lands again")
    assert _refused(lambda: restarted.tasks.create(MANUAL, ws, "still frozen")).details["switch"] == (
        workspace_key(ws)
    )
    assert _refused(lambda: restarted.tasks.create(SCHEDULER, other.id, "x")).details["switch"] == (
        feature_key("scheduler")
    )
    # The marker row is not a switch.
    assert all(r["scope"] != "sync" for r in restarted.kill_switches.list())
