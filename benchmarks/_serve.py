"""``python -m benchmarks._serve URL PORT``: what ``stratum serve`` runs, on a given database.

``stratum serve`` takes its database from ``STRATUM_DATABASE_URL``, which must be a
host URL; the embedded benchmark server listens on a unix socket only, so this
entry point builds the same container and app from a URL instead.
"""

from __future__ import annotations

import sys

from benchmarks._common import settings


def main(url: str, port: int) -> None:
    import uvicorn

    from stratum import logs
    from stratum.api.app import create_app
    from stratum.bootstrap import build
    from stratum.cli import CORE_ONLY

    c = build(settings(), url=url)
    logs.configure(c.settings.log_level)
    # The API process as `stratum serve` runs it: with the core view only. The background
    # work (`stratum serve`'s child worker: RAG embedding, the other projections) is left
    # out, as on a deployment whose workers run on other machines; on a 2-core box embedding
    # every edit competes with the API for the CPU, and the RAG benchmarks measure it.
    application = create_app(c, run_projections=c.settings.run_projections_in_process, only=CORE_ONLY)
    uvicorn.run(application, host="127.0.0.1", port=port, log_config=None, access_log=False)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
