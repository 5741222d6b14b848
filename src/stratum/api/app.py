"""The FastAPI application: routers, error mapping and edge middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from fastapi import FastAPI

from stratum.api import problems
from stratum.api.middleware import EdgeMiddleware, Metrics
from stratum.api.routes import (
    agent,
    ai_config,
    ai_usage,
    briefs,
    ci,
    events,
    health,
    kill_switches,
    prompts,
    proposals,
    qa,
    rag,
    requirement_tests,
    specs,
    tasks,
    tokens,
    workspaces,
)
from stratum.bootstrap import Container


def create_app(
    container: Container, *, run_projections: bool = False, only: Collection[str] | None = None
) -> FastAPI:
    """The app; with ``run_projections`` it runs the projections (``only`` these) while it lives."""
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        # Commands are synchronous (the event store is): size the thread pool for them.
        anyio.to_thread.current_default_thread_limiter().total_tokens = container.settings.api_threads
        if run_projections:
            container.start_projections(only)
        yield
        container.close()

    app = FastAPI(
        title="Stratum",
        version="0.1.0",
        description="Event-sourced workspaces: specs, tasks, and the log they come from.",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.metrics = Metrics()
    problems.install(app)
    for module in (
        workspaces, specs, tasks, proposals, ai_config, events, tokens, health, kill_switches, rag,
        ci, requirement_tests, qa, briefs, prompts, agent, ai_usage,
    ):
        app.include_router(module.router)
    app.add_middleware(
        EdgeMiddleware, max_body=container.settings.max_body_bytes, metrics=app.state.metrics,
        large_bodies=[(ci.UPLOAD_PATH, container.settings.ci_max_upload_bytes)],
    )

    return app
