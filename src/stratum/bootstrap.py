"""The composition root: Settings → database → event log → services, views and runners."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from stratum.application.ai_config import AiConfigCommands
from stratum.application.kill_switches import KillSwitchCommands
from stratum.application.prompts import PromptCommands
from stratum.application.proposals import ProposalCommands
from stratum.application.requirement_tests import RequirementTestCommands
from stratum.application.specs import SpecCommands
from stratum.application.store import EventLog
from stratum.application.tasks import TaskCommands
from stratum.application.test_runs import TestRunCommands
from stratum.application.workspaces import WorkspaceCommands
from stratum.config import Settings
from stratum.domain.qa.mapping import compile_pattern
from stratum.domain.workspace import Workspace
from stratum.errors import ProjectionLag
from stratum.infrastructure import junit
from stratum.infrastructure.agent_factory import Agent, build_agent
from stratum.infrastructure.briefs.service import BriefService, Clock
from stratum.infrastructure.llm import templates as prompt_templates
from stratum.infrastructure.postgres import embedded, migrate
from stratum.infrastructure.postgres.dsn import library_env
from stratum.infrastructure.postgres.factory import GROUP_COMMIT, LOCK_TIMEOUT
from stratum.infrastructure.postgres.idempotency import IdempotencyStore
from stratum.infrastructure.postgres.pool import Pool
from stratum.infrastructure.postgres.projection_runner import ProjectionRunner
from stratum.infrastructure.postgres.qa_directory import RequirementDirectory
from stratum.infrastructure.postgres.rag_factory import build_rag
from stratum.infrastructure.postgres.rag_service import RagService
from stratum.infrastructure.postgres.recorder import CHANNEL as LOG_CHANNEL
from stratum.infrastructure.postgres.replay import Progress, replay
from stratum.infrastructure.postgres.spec_tasks import SpecTaskFinder
from stratum.infrastructure.postgres.tokens import TokenStore
from stratum.infrastructure.postgres.watch import LogWatcher
from stratum.projections.ai import AiProjection
from stratum.projections.base import Projection
from stratum.projections.briefs import BriefsProjection
from stratum.projections.core import CoreProjection
from stratum.projections.proposals import ProposalProjection
from stratum.projections.qa import QaProjection
from stratum.projections.rag import RagJobsProjection

FACTORY_TOPIC = "stratum.infrastructure.postgres.factory:StratumFactory"


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return str(settings.database_url)
    return embedded.start(settings.home)


def projections() -> dict[str, Projection]:
    return {
        p.name: p
        for p in (
            CoreProjection(), ProposalProjection(), RagJobsProjection(), QaProjection(), BriefsProjection(),
            AiProjection(),
        )
    }


@dataclass
class Container:
    settings: Settings
    url: str
    log: EventLog
    workspaces: WorkspaceCommands
    specs: SpecCommands
    tasks: TaskCommands
    proposals: ProposalCommands
    ai_config: AiConfigCommands
    prompts: PromptCommands
    tokens: TokenStore
    idempotency: IdempotencyStore
    watcher: LogWatcher
    projections: dict[str, Projection]
    kill_switches: KillSwitchCommands
    test_runs: TestRunCommands
    requirement_tests: RequirementTestCommands
    briefs: BriefService
    runners: list[ProjectionRunner] = field(default_factory=list)
    rag: RagService | None = None
    agent: Agent | None = None

    @property
    def pool(self) -> Pool:
        pool: Pool = self.log.recorder.datastore.pool  # type: ignore[attr-defined]
        return pool

    def start_projections(self, only: Collection[str] | None = None) -> None:
        """Run the projections (``only`` these) in this process; others may run them too."""
        for projection in self.projections.values():
            if only is not None and projection.name not in only:
                continue
            runner = ProjectionRunner(
                self.url, self.log.mapper, projection, self.settings.projection_batch_size
            )
            runner.start()
            self.runners.append(runner)

    def wait_for(self, name: str, position: int, timeout: float | None = None) -> int:
        """Block until projection ``name`` has reached ``position``; ProjectionLag if not in time."""
        wait = self.settings.min_position_wait_seconds if timeout is None else timeout
        deadline = time.monotonic() + wait
        delay = 0.001
        while True:
            with self.pool.connection() as conn:
                row = conn.execute(f"SELECT position FROM {name}.tracking").fetchone()
            current = int(row["position"]) if row else 0
            if current >= position:
                return current
            if time.monotonic() + delay > deadline:
                raise ProjectionLag(
                    f"the {name} view has not reached position {position} yet",
                    projection=name,
                    position=current,
                    requested=position,
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def replay(self, name: str, progress: Progress | None = None) -> int:
        return replay(self.url, self.log.mapper, self.projections[name], progress=progress)

    def close(self) -> None:
        # All at once, then woken: each runner otherwise sits out its wait for a notification.
        for runner in self.runners:
            runner.stopping.set()
        with contextlib.suppress(Exception), self.pool.connection(timeout=1) as conn:
            conn.execute(f"NOTIFY {LOG_CHANNEL}")
        for runner in self.runners:
            runner.stop()
        self.watcher.stop()
        if self.rag is not None:
            self.rag.close()
        with contextlib.suppress(Exception):
            self.log.close()


def build(
    settings: Settings | None = None, *, url: str | None = None, clock: Clock | None = None
) -> Container:
    """``clock`` only decides whether a brief's window has ended (tests set it)."""
    settings = settings or Settings()
    url = url or database_url(settings)
    migrate.apply(url)
    env: dict[str, Any] = {
        **library_env(url),
        "PERSISTENCE_MODULE": FACTORY_TOPIC,
        "POSTGRES_POOL_SIZE": str(settings.db_pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.db_pool_max_overflow),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": str(
            max(1, round(settings.idle_in_transaction_timeout_seconds))
        ),
        "POSTGRES_LOCK_TIMEOUT": str(int(settings.lock_timeout_seconds)),
        LOCK_TIMEOUT: str(settings.lock_timeout_seconds),
        GROUP_COMMIT: "y" if settings.group_commit else "n",
        "AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size),
        "CREATE_TABLE": "y",
    }
    log = EventLog(env=env)
    pool: Pool = log.recorder.datastore.pool  # type: ignore[attr-defined]
    find_tasks = SpecTaskFinder(pool, log.mapper)
    kill_switches = KillSwitchCommands(log, pool, settings).resync()
    container = Container(
        settings=settings,
        url=url,
        log=log,
        workspaces=WorkspaceCommands(log),
        specs=SpecCommands(log, find_tasks),
        tasks=TaskCommands(log, find_tasks),
        # Automated applies feed the auto-kill error rates.
        proposals=ProposalCommands(log, find_tasks, kill_switches.record),
        ai_config=AiConfigCommands(log),
        prompts=PromptCommands(log, prompt_templates.check, prompt_templates.defaults()),
        tokens=TokenStore(pool),
        idempotency=IdempotencyStore(pool, settings.idempotency_ttl_hours),
        watcher=LogWatcher(url),
        projections=projections(),
        kill_switches=kill_switches,
        test_runs=TestRunCommands(
            log,
            lambda body: junit.parse(
                body, max_bytes=settings.ci_max_upload_bytes, max_cases=settings.ci_max_test_cases
            ),
            RequirementDirectory(pool),
            compile_pattern(settings.qa_requirement_pattern),
            settings.qa_default_branch,
        ),
        requirement_tests=RequirementTestCommands(log),
        briefs=BriefService(pool, lambda ws: log.load(Workspace, ws, ws).time_zone, clock),
        rag=build_rag(settings, url, log),
    )
    container.agent = build_agent(
        settings, log, pool, container.proposals, kill_switches, container.prompts, container.rag
    )
    return container
