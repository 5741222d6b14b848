"""The ``stratum`` command, run as a real subprocess against the test's database."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

STRATUM = str(Path(sys.executable).with_name("stratum"))


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STRATUM_")}
    return {**clean, "STRATUM_DATABASE_URL": database_url, "STRATUM_HOME": str(tmp_path),
            "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def stratum(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STRATUM, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def _log_head(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT coalesce(max(notification_id), 0) FROM event_log").fetchone()
    assert row is not None
    return int(row[0])


def test_token_create_prints_a_token_that_authenticates_as_its_last_line(
    env: dict[str, str], live_server: Any
) -> None:
    done = stratum(env, "token", "create", "--admin", "--name", "from-cli")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"stm_[A-Za-z0-9_-]{40,}", token), done.stdout
    with live_server.client({"Authorization": f"Bearer {token}"}) as client:
        r = client.post("/v1/workspaces", json={"name": "Made by the CLI's token"})
        assert r.status_code == 201, r.text
        ws = r.json()["id"]
    # A workspace token with the scopes asked for, and nothing more.
    done = stratum(env, "token", "create", "--workspace", ws, "--scopes", "read")
    assert done.returncode == 0, done.stderr
    reader = done.stdout.strip().splitlines()[-1]
    with live_server.client({"Authorization": f"Bearer {reader}"}) as client:
        assert client.get(f"/v1/workspaces/{ws}").status_code == 200
        assert client.post(f"/v1/workspaces/{ws}/tasks", json={"title": "x"}).status_code == 403
    for args in ((), ("--admin", "--workspace", ws)):
        done = stratum(env, "token", "create", *args)
        assert done.returncode == 2 and "either --admin or --workspace" in done.stderr


def test_migrate_exits_0_and_maps_configuration_and_database_errors_to_3_and_4(env: dict[str, str]) -> None:
    done = stratum(env, "migrate")
    assert done.returncode == 0, done.stderr
    assert "applied 0 migration(s)" in done.stdout
    for command in (["migrate"], ["replay"], ["token", "create", "--admin"]):
        unavailable = stratum({**env, "STRATUM_DATABASE_URL": "postgresql://u:p@127.0.0.1:1/none"}, *command)
        assert unavailable.returncode == 4, (command, unavailable.stderr[-500:])
        assert "database unavailable" in unavailable.stderr
        misconfigured = stratum({**env, "STRATUM_DB_POOL_SIZE": "lots"}, *command)
        assert misconfigured.returncode == 3, (command, misconfigured.stderr[-500:])
        assert "configuration error" in misconfigured.stderr


def test_demo_then_replay_exit_0_and_replay_reports_the_log_head(
    env: dict[str, str], database_url: str
) -> None:
    done = stratum(env, "demo")
    assert done.returncode == 0, done.stderr
    assert re.search(r"demo workspace: [0-9a-f-]{36}", done.stdout)
    head = _log_head(database_url)
    assert head > 5
    done = stratum(env, "replay")
    assert done.returncode == 0, done.stderr
    assert f"core: rebuilt up to position {head}" in done.stdout
    done = stratum(env, "replay", "--projection", "core")
    assert done.returncode == 0 and f"position {head}" in done.stdout
    done = stratum(env, "replay", "--projection", "nope")
    assert done.returncode == 2
    assert "unknown projection 'nope'" in done.stderr and "core" in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[str]:
    """The `stratum worker` processes started for ``pid``."""
    found = subprocess.run(
        ["pgrep", "-f", f"worker --parent-pid {pid}"], capture_output=True, text=True, check=False
    )
    return found.stdout.split()


def test_serve_answers_healthz_and_shuts_down_gracefully_on_sigterm(
    env: dict[str, str], admin_token: str
) -> None:
    port = _free_port()
    proc = subprocess.Popen([STRATUM, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "stratum serve did not answer /healthz in 60 s"
            time.sleep(0.1)
        assert r.json()["status"] == "ok"
        r = httpx.post(f"http://127.0.0.1:{port}/v1/workspaces", json={"name": "served"},
                       headers={"Authorization": f"Bearer {admin_token}"})
        assert r.status_code == 201
        # No Redis: the background work runs in a child `stratum worker`, not beside the API.
        assert _children(proc.pid), "stratum serve started no worker child"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        deadline = time.monotonic() + 15
        while _children(proc.pid):
            assert time.monotonic() < deadline, "the worker child outlived stratum serve"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # uvicorn shuts down, then re-raises SIGTERM, so the status is "terminated by SIGTERM".
    assert proc.returncode in (0, -signal.SIGTERM), (proc.returncode, err[-2000:])
    assert "Application shutdown complete" in err, err[-2000:]
    assert "Traceback" not in err, err[-2000:]


def test_every_commands_help_shows_its_defaults(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STRATUM_")},
           "STRATUM_HOME": str(tmp_path), "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    import typer.main

    from stratum.cli import app

    def commands(group: Any, prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
        out: list[tuple[tuple[str, ...], Any]] = []
        for name, cmd in group.commands.items():
            out.append(((*prefix, name), cmd))
            if hasattr(cmd, "commands"):  # a group (typer ships its own click)
                out += commands(cmd, (*prefix, name))
        return out

    found = commands(typer.main.get_command(app), ())
    names = {" ".join(p) for p, _ in found}
    assert names >= {"serve", "worker", "migrate", "replay", "demo", "token", "token create"}, names
    shown_defaults = 0
    for path, cmd in found:
        done = stratum(env, *path, "--help")
        assert done.returncode == 0, (path, done.stderr)
        text = " ".join(done.stdout.split())
        assert " ".join((cmd.help or "").split()[:3]) in text, (path, text)
        for param in cmd.params:
            if param.param_type_name != "option" or param.name == "help":
                continue
            assert param.opts[0] in text, (path, param.opts)
            default = param.default
            if default is None or default == "" or (param.is_flag and not param.secondary_opts):
                continue  # nothing worth showing: no value, or a bare on-switch
            if param.is_flag:
                shown = (param.opts if default else param.secondary_opts)[0].lstrip("-")
            else:
                shown = str(default)
            assert f"[default: {shown}]" in text, (path, param.opts, shown, text)
            shown_defaults += 1
    assert shown_defaults >= 6  # host, port, demo, projections, rollback, scopes
