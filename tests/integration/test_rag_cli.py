"""`stratum rag rebuild` in a subprocess against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from tests.integration.support import connect, ctx, scalar
from tests.integration.test_rag_index import AUTH, _index_all

STRATUM = os.path.join(os.path.dirname(sys.executable), "stratum")


def test_rag_rebuild_cli(container: Any) -> None:
    container.start_projections()
    ws, _ = container.workspaces.create(ctx(), "Acme")
    container.specs.create(ctx(), ws.id, "Auth", AUTH)
    _index_all(container)
    env = {**os.environ, "STRATUM_DATABASE_URL": container.url}
    done = subprocess.run(
        [STRATUM, "rag", "rebuild", "--workspace", str(ws.id)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "generation 2 is live" in done.stdout
    with connect(container.url) as conn:
        sql = "SELECT generation FROM rag.rag_generation WHERE workspace_id = %s"
        assert scalar(conn, sql, (ws.id,)) == 2
        assert scalar(conn, "SELECT count(*) FROM rag.rag_chunk WHERE generation = 2") > 0
    bad = subprocess.run(
        [STRATUM, "rag", "rebuild", "--workspace", "nope"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert bad.returncode == 2
