"""Helpers shared by the integration tests: command context, view snapshots, folds, workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from stratum.application.store import Ctx, Idempotency
from stratum.domain.events import Meta
from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.task_graph import TaskGraph, graph_id
from stratum.domain.workspace import Workspace
from stratum.infrastructure.postgres.projection_runner import lock_key

META = Meta(actor="tests", source="system")
VIEW_TABLES = ("workspace", "spec", "task")
NOT_IN_CORE = frozenset({"Proposal", "AiConfig", "KillSwitch", "TestRun", "RequirementTests"})
Rows = dict[str, dict[UUID, dict[str, Any]]]


def ctx(idempotency: Idempotency | None = None) -> Ctx:
    return Ctx(META, idempotency)


def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


def scalar(conn: psycopg.Connection[Any], sql: str, params: Any = None) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def head(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM event_log").fetchone()
    assert row is not None
    return int(row[0])


def tracking(conn: psycopg.Connection[Any], schema: str = "core") -> int:
    row = conn.execute(f"SELECT position FROM {schema}.tracking").fetchone()
    assert row is not None
    return int(row[0])


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> float:
    """Poll ``check`` until true; return the seconds it took, fail the test after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - start


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def view_rows(conn: psycopg.Connection[Any], schema: str = "core") -> Rows:
    """Every row of the view tables in ``schema``, by table and id."""
    out: Rows = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for table in VIEW_TABLES:
            cur.execute(f"SELECT * FROM {schema}.{table}")
            out[table] = {r["id"]: dict(r) for r in cur.fetchall()}
    return out


def scoped(rows: Rows, workspace_ids: Iterable[UUID]) -> Rows:
    wanted = set(workspace_ids)
    return {
        "workspace": {k: v for k, v in rows["workspace"].items() if k in wanted},
        "spec": {k: v for k, v in rows["spec"].items() if v["workspace_id"] in wanted},
        "task": {k: v for k, v in rows["task"].items() if v["workspace_id"] in wanted},
    }


def fold(container: Any, aggregate_id: UUID) -> Any:
    """The aggregate as the library folds its stored events (no repository cache involved)."""
    aggregate = None
    for event in container.log.events.get(aggregate_id):
        aggregate = event.mutate(aggregate)
    assert aggregate is not None, f"no events for {aggregate_id}"
    return aggregate


def _common(aggregate: Any, created_position: int) -> dict[str, Any]:
    return {
        "id": aggregate.id,
        "version": aggregate.version,
        "created_at": aggregate.created_on,
        "updated_at": aggregate.modified_on,
        "created_position": created_position,
    }


def expected_rows(
    container: Any, conn: psycopg.Connection[Any], workspace_ids: Iterable[UUID] | None = None
) -> Rows:
    """The view rows a correct projection holds, derived from aggregates folded from the log.

    Also checks that each workspace's TaskGraph agrees with its tasks' ``depends_on``.
    """
    sql = "SELECT originator_id, notification_id FROM event_log WHERE originator_version = 1"
    params: list[Any] = []
    if workspace_ids is not None:
        sql += " AND workspace_id = ANY(%s)"
        params.append(list(workspace_ids))
    out: Rows = {t: {} for t in VIEW_TABLES}
    graphs: dict[UUID, TaskGraph] = {}
    for oid, created_position in conn.execute(sql, params).fetchall():
        a = fold(container, oid)
        if isinstance(a, Workspace):
            out["workspace"][a.id] = {
                **_common(a, created_position), "name": a.name, "archived": a.archived,
                "allow_draft_tasks": a.allow_draft_tasks, "time_zone": a.time_zone,
            }
        elif isinstance(a, Spec):
            out["spec"][a.id] = {
                **_common(a, created_position),
                "workspace_id": a.workspace_id,
                "title": a.title,
                "body": a.body,
                "status": a.status,
                "requirements": _json([r.to_dict() for r in a.requirements]),
                "deleted": a.deleted,
            }
        elif isinstance(a, Task):
            out["task"][a.id] = {
                **_common(a, created_position),
                "workspace_id": a.workspace_id,
                "title": a.title,
                "description": a.description,
                "status": a.status,
                "spec_id": a.spec_id,
                "requirement_uids": list(a.requirement_uids),
                "depends_on": list(a.depends_on),
                "deleted": a.deleted,
            }
        elif isinstance(a, TaskGraph):
            graphs[a.workspace_id] = a
        elif type(a).__name__ not in NOT_IN_CORE:  # pragma: no cover - a new type needs a row here
            raise AssertionError(f"unexpected aggregate {type(a).__name__}")
    for ws, graph in graphs.items():
        assert graph.id == graph_id(ws)
        declared = {
            str(t["id"]): [str(d) for d in t["depends_on"]]
            for t in out["task"].values()
            if t["workspace_id"] == ws and t["depends_on"] and not t["deleted"]
        }
        assert graph.edges == declared, f"task graph of {ws} disagrees with its tasks"
    return out


def diff_rows(actual: Rows, expected: Rows) -> list[str]:
    """Readable differences between two snapshots (empty when equal)."""
    problems: list[str] = []
    for table in VIEW_TABLES:
        a, e = actual.get(table, {}), expected.get(table, {})
        for missing in e.keys() - a.keys():
            problems.append(f"{table} {missing}: missing from the view")
        for extra in a.keys() - e.keys():
            problems.append(f"{table} {extra}: in the view but not expected")
        for key in a.keys() & e.keys():
            for col in sorted(e[key].keys() | a[key].keys()):
                if a[key].get(col, "<absent>") != e[key].get(col, "<absent>"):
                    problems.append(
                        f"{table} {key}.{col}: view={a[key].get(col, '<absent>')!r}"
                        f" expected={e[key].get(col, '<absent>')!r}"
                    )
    return problems


def assert_view_matches_fold(
    container: Any, conn: psycopg.Connection[Any], workspace_ids: Iterable[UUID] | None = None
) -> Rows:
    ids = None if workspace_ids is None else list(workspace_ids)
    view = view_rows(conn)
    if ids is not None:
        view = scoped(view, ids)
    expected = expected_rows(container, conn, ids)
    problems = diff_rows(view, expected)
    assert not problems, "view differs from the folded aggregates:\n" + "\n".join(problems[:40])
    return view


def requirement_mids_are_unique(rows: Rows) -> None:
    for spec in rows["spec"].values():
        mids = [r["mid"] for r in spec["requirements"]]
        assert len(mids) == len(set(mids)), f"spec {spec['id']} has a requirement twice: {mids}"


# --- exactly-once audit ---------------------------------------------------------------

AUDIT_DDL = [
    "CREATE TABLE public.tracking_audit (id bigserial PRIMARY KEY, old_position bigint NOT NULL,"
    " new_position bigint NOT NULL, app text NOT NULL, backend_pid int NOT NULL)",
    "CREATE FUNCTION public.audit_tracking() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO public.tracking_audit (old_position, new_position, app, backend_pid)"
    " VALUES (OLD.position, NEW.position, current_setting('application_name'), pg_backend_pid());"
    " RETURN NEW; END $$",
    "CREATE TRIGGER audit_tracking AFTER UPDATE ON core.tracking"
    " FOR EACH ROW EXECUTE FUNCTION public.audit_tracking()",
]


REWRITE_DDL = [
    "CREATE TABLE public.view_rewrites (id bigserial PRIMARY KEY, tbl text NOT NULL, row_id uuid NOT NULL,"
    " old_version int NOT NULL, new_version int NOT NULL, app text NOT NULL)",
    "CREATE FUNCTION public.audit_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF NEW.version <= OLD.version THEN"
    "  INSERT INTO public.view_rewrites (tbl, row_id, old_version, new_version, app)"
    "  VALUES (TG_TABLE_NAME, OLD.id, OLD.version, NEW.version, current_setting('application_name'));"
    " END IF; RETURN NEW; END $$",
    *(
        f"CREATE TRIGGER audit_rewrite BEFORE UPDATE ON core.{table}"
        " FOR EACH ROW EXECUTE FUNCTION public.audit_rewrite()"
        for table in VIEW_TABLES
    ),
]


def install_tracking_audit(conn: psycopg.Connection[Any]) -> None:
    """Record every committed move of core.tracking, and every committed write to a view row
    that does not advance its version (both in the batch's own transaction).

    Applied exactly once, each batch writes a row only with the version of the row's last
    event in the batch, which is above the version it had: a rewrite at the same or an
    older version is an event applied again, whether or not its handler is idempotent.
    """
    for statement in [*AUDIT_DDL, *REWRITE_DDL]:
        conn.execute(statement)


def view_rewrites(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT tbl, row_id, old_version, new_version, app FROM public.view_rewrites ORDER BY id"
    ).fetchall()


def audit_trail(conn: psycopg.Connection[Any]) -> list[tuple[int, int, str]]:
    rows = conn.execute(
        "SELECT old_position, new_position, app FROM public.tracking_audit ORDER BY id"
    ).fetchall()
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def assert_batches_tile_the_log(trail: list[tuple[int, int, str]], upto: int) -> None:
    """Committed batches cover 1..upto exactly once: each starts where the previous ended."""
    assert trail, "no batch was ever committed"
    position = 0
    for old, new, app in trail:
        assert old == position, (
            f"a batch by {app!r} moved tracking {old}->{new} but the view was at {position}:"
            " events were applied twice or skipped"
        )
        assert new > old, f"a batch by {app!r} moved tracking backwards {old}->{new}"
        position = new
    assert position == upto, f"batches end at {position}, the log at {upto}"


# --- worker processes -----------------------------------------------------------------

STRATUM = Path(sys.executable).with_name("stratum")


def lock_holders(conn: psycopg.Connection[Any], projection: str = "core") -> list[str]:
    """application_name of every session of this database holding the projection's lock."""
    rows = conn.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = 0"
        " AND l.objid::bigint = %s AND l.objsubid = 1"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (lock_key(projection),),
    ).fetchall()
    return [str(r[0]) for r in rows]


class WorkerProcess:
    """``stratum worker`` as a subprocess, named by ``application_name`` on its connections."""

    def __init__(self, url: str, home: Path, name: str, **settings: Any) -> None:
        self.url = url
        self.home = home
        self.name = name
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / f"{name}.log"

    def start(self) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRATUM_", "PG"))}
        env.update(
            STRATUM_DATABASE_URL=self.url,
            STRATUM_HOME=str(self.home),
            STRATUM_LOG_LEVEL="WARNING",
            PGAPPNAME=self.name,
            **{f"STRATUM_{k.upper()}": str(v) for k, v in self.settings.items()},
        )
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(STRATUM), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


REDIS_URL = "redis://127.0.0.1:6379"


def redis_running() -> bool:
    """Tests use real Redis where the machine runs one (this machine kind does)."""
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False
