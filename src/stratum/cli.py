"""The ``stratum`` command: serve · worker · migrate · replay · brief · token · demo."""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from stratum.bootstrap import Container
    from stratum.config import Settings

app = typer.Typer(help="Stratum: event-sourced spec-driven workspaces.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
rag_app = typer.Typer(help="The RAG index.", no_args_is_help=True)
app.add_typer(rag_app, name="rag")


class ExitCode(enum.IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    CONFIG = 3
    DATABASE_UNAVAILABLE = 4
    BUDGET_EXHAUSTED = 5
    INTERRUPTED = 130


def _settings() -> Settings:
    from pydantic import ValidationError

    from stratum.config import Settings

    try:
        return Settings()
    except ValidationError as e:
        typer.echo(f"configuration error: {e}", err=True)
        raise typer.Exit(ExitCode.CONFIG) from e


@contextlib.contextmanager
def _database() -> Iterator[None]:
    """An unreachable database exits with DATABASE_UNAVAILABLE, not a traceback."""
    import psycopg

    try:
        yield
    except psycopg.OperationalError as e:
        typer.echo(f"database unavailable: {e}", err=True)
        raise typer.Exit(ExitCode.DATABASE_UNAVAILABLE) from e


def _container() -> Container:
    from stratum.bootstrap import build

    settings = _settings()
    with _database():
        return build(settings)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool, typer.Option(help="Load the demo workspace if missing and print an admin token.")
    ] = False,
    projections: Annotated[bool, typer.Option(help="Run projections in this process.")] = True,
) -> None:
    """Serve the HTTP API (projections run in-process unless --no-projections)."""
    import uvicorn

    from stratum import logs
    from stratum.api.app import create_app

    c = _container()
    logs.configure(c.settings.log_level)
    if demo:
        _ensure_demo(c)
        _, token = c.tokens.create(None, ["admin"], "make run")
        typer.echo(f"Stratum is listening on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
        typer.echo(f"Admin token: {token}")
    run = projections and c.settings.run_projections_in_process
    child = None
    if c.settings.redis_url is None:
        # Embedded defaults: background work (RAG embedding, the other projections) runs in a
        # child `stratum worker`. CPU-heavy threads beside the API's would slow every request's
        # database round trips; the API keeps only the core view, for read-your-writes.
        child = spawn_worker(c.url)
    application = create_app(c, run_projections=run, only=CORE_ONLY if child is not None else None)
    try:
        uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)
    finally:
        if child is not None:
            stop_worker(child)


CORE_ONLY = ("core",)


def spawn_worker(url: str) -> subprocess.Popen[bytes]:
    """A `stratum worker` on ``url`` that exits when this process does."""
    env = {**os.environ, "STRATUM_DATABASE_URL": url}
    command = [sys.executable, "-m", "stratum.cli", "worker", "--parent-pid", str(os.getpid())]
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)  # noqa: S603 - our own interpreter


def stop_worker(child: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    child.terminate()
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _ensure_demo(c: Container) -> None:
    from stratum import demo

    with c.pool.connection() as conn:
        exists = conn.execute(
            "SELECT 1 FROM event_log WHERE topic LIKE %s LIMIT 1", ("%Workspace.Created",)
        ).fetchone()
    if exists is None:
        demo.load(c)


@app.command()
def worker(
    parent_pid: Annotated[
        int | None,
        typer.Option(help="Exit when the process with this id is gone (how `stratum serve` runs its child)."),
    ] = None,
) -> None:
    """Run the projections (and background actors) until stopped; safe to run several."""
    from stratum import logs

    c = _container()
    logs.configure(c.settings.log_level)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    from workers.runtime import Runtime

    c.start_projections()
    runtime = Runtime(c)
    runtime.start()
    # A child of `stratum serve` must not outlive it, even if the parent is killed outright.
    while not stop.wait(1.0):
        if parent_pid is not None and os.getppid() != parent_pid:
            break
    runtime.stop()
    c.close()


@app.command()
def migrate(
    rollback: Annotated[int, typer.Option(help="Roll back this many migrations instead.")] = 0,
) -> None:
    """Apply pending migrations (or roll back with --rollback N)."""
    from stratum.bootstrap import database_url
    from stratum.infrastructure.postgres import migrate as m

    settings = _settings()
    with _database():
        url = database_url(settings)
        if rollback:
            typer.echo(f"rolled back {m.rollback(url, rollback)} migration(s)")
        else:
            typer.echo(f"applied {m.apply(url)} migration(s)")


@app.command()
def replay(
    projection: Annotated[str | None, typer.Option(help="Only this projection (default: all).")] = None,
) -> None:
    """Rebuild read models from the event log; readers never see a half-built view."""
    c = _container()
    names = [projection] if projection else list(c.projections)
    unknown = [n for n in names if n not in c.projections]
    if unknown:
        typer.echo(f"unknown projection {unknown[0]!r}; known: {', '.join(c.projections)}", err=True)
        raise typer.Exit(ExitCode.USAGE)
    for name in names:
        position = _with_progress(f"replaying {name}", lambda cb, n=name: c.replay(n, cb))
        typer.echo(f"{name}: rebuilt up to position {position}")
    c.close()


def _with_progress(label: str, work):  # type: ignore[no-untyped-def]
    if not sys.stderr.isatty():
        return work(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[bold]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(label, total=None)
        return work(lambda done, total: bar.update(task, completed=done, total=total))


@token_app.command("create")
def token_create(
    admin: Annotated[bool, typer.Option("--admin", help="An operator token for every workspace.")] = False,
    workspace: Annotated[str | None, typer.Option(help="Bind the token to this workspace id.")] = None,
    scopes: Annotated[str, typer.Option(help="Comma-separated scopes for a workspace token.")] = "read,write",
    name: Annotated[str, typer.Option(help="A label for the token.")] = "",
) -> None:
    """Create a token and print it as the last line of stdout (it is shown only once)."""
    from uuid import UUID

    if admin == (workspace is not None):
        typer.echo("give either --admin or --workspace", err=True)
        raise typer.Exit(ExitCode.USAGE)
    c = _container()
    if admin:
        info, token = c.tokens.create(None, ["admin"], name or "cli")
    else:
        info, token = c.tokens.create(UUID(str(workspace)), scopes.split(","), name)
    typer.echo(f"token id: {info.id}")
    typer.echo(token)
    c.close()


@app.command()
def demo() -> None:
    """Load the demo workspace (again, if asked twice)."""
    from stratum import demo as d

    c = _container()
    typer.echo(f"demo workspace: {d.load(c)}")
    c.close()


@app.command()
def brief(
    workspace: Annotated[str, typer.Option(help="The workspace id.")],
    date: Annotated[str, typer.Option(help="YYYY-MM-DD: the brief's day (a weekly report's last day).")],
    kind: Annotated[str, typer.Option(help="morning | weekly")] = "morning",
    format: Annotated[str, typer.Option(help="json | md")] = "json",
) -> None:
    """Print a morning brief or weekly report, and store it if its window has ended."""
    import datetime as dt
    import json
    from uuid import UUID

    from stratum.domain.errors import InvalidValue
    from stratum.errors import NotFound, ProjectionLag

    try:
        ws, day = UUID(workspace), dt.date.fromisoformat(date)
    except ValueError:
        typer.echo("--workspace must be a workspace id and --date a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    if kind not in ("morning", "weekly") or format not in ("json", "md"):
        typer.echo("--kind is morning or weekly, --format json or md", err=True)
        raise typer.Exit(ExitCode.USAGE)
    c = _container()
    try:
        with _database():
            body = c.briefs.store(ws, kind, day) or c.briefs.get(ws, kind, day)
    except (NotFound, InvalidValue) as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    except ProjectionLag as e:
        typer.echo(f"{e} (is a `stratum worker` or `stratum serve` running?)", err=True)
        raise typer.Exit(ExitCode.FAILURE) from None
    finally:
        c.close()
    typer.echo(body["markdown"] if format == "md" else json.dumps(body, indent=2), nl=format == "json")


@rag_app.command("rebuild")
def rag_rebuild(
    workspace: Annotated[str | None, typer.Option(help="Only this workspace id (default: all).")] = None,
) -> None:
    """Rebuild the RAG index beside the live one and switch atomically (resumes a crashed one)."""
    from uuid import UUID

    from stratum.infrastructure.postgres.rag_budget import EmbeddingBudgetExhausted

    c = _container()
    assert c.rag is not None
    try:
        ids = [UUID(workspace)] if workspace else c.rag.workspaces()
    except ValueError:
        typer.echo(f"not a workspace id: {workspace!r}", err=True)
        raise typer.Exit(ExitCode.USAGE) from None
    for ws in ids:
        started = c.rag.start_rebuild(ws)
        typer.echo(f"{ws}: building generation {started.generation}"
                   f" (estimated {started.estimated_tokens} tokens, cost {started.estimated_cost})")
        try:
            switched = c.rag.run_rebuild(ws, started.generation)
        except EmbeddingBudgetExhausted as e:
            # The building generation stays open and resumes once the budget allows.
            typer.echo(f"{ws}: {e} (the live generation keeps serving; the rebuild resumes later)",
                       err=True)
            c.close()
            raise typer.Exit(ExitCode.BUDGET_EXHAUSTED) from None
        if not switched:
            typer.echo(f"{ws}: generation {started.generation} was switched or dropped elsewhere", err=True)
            raise typer.Exit(ExitCode.FAILURE)
        typer.echo(f"{ws}: generation {started.generation} is live")
    c.close()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(ExitCode.INTERRUPTED) from None


if __name__ == "__main__":
    main()
