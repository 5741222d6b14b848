"""Every event type by its public name ("Task.StatusChanged"), for filters and docs."""

from __future__ import annotations

from stratum.domain.agent.prompt import Prompt
from stratum.domain.agent.usage import AgentRun
from stratum.domain.ai_config import AiConfig
from stratum.domain.events import StratumEvent
from stratum.domain.kill_switch import KillSwitch
from stratum.domain.proposal import Proposal
from stratum.domain.requirement_tests import RequirementTests
from stratum.domain.spec import Spec
from stratum.domain.task import Task
from stratum.domain.task_graph import TaskGraph
from stratum.domain.test_run import TestRun
from stratum.domain.workspace import Workspace

AGGREGATES = (
    Workspace, Spec, Task, TaskGraph, KillSwitch, Proposal, AiConfig, TestRun, RequirementTests,
    Prompt, AgentRun,
)


def event_types() -> dict[str, type[StratumEvent]]:
    found: dict[str, type[StratumEvent]] = {}
    for aggregate in AGGREGATES:
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, StratumEvent):
                found[value.__qualname__] = value
    return found
