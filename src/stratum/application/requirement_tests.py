"""Explicit links from a requirement to the tests that prove it (``PUT`` replaces the set)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from stratum.application.store import Ctx, EventLog
from stratum.domain.qa.mapping import match_key
from stratum.domain.requirement_tests import RequirementTests, links_id
from stratum.domain.spec import Spec
from stratum.domain.specparse import Requirement
from stratum.domain.workspace import Workspace
from stratum.errors import NotFound


class RequirementTestCommands:
    def __init__(self, log: EventLog) -> None:
        self.log = log

    def requirement(self, ws: UUID, spec_id: UUID, uid: str) -> tuple[Workspace, Spec, Requirement]:
        """The live requirement ``uid`` of a live spec of ``ws`` (NotFound otherwise)."""
        loaded = self.log.load_many({ws: Workspace, spec_id: Spec}, ws)
        workspace, spec = loaded.get(ws), loaded.get(spec_id)
        if workspace is None:
            raise NotFound("workspace not found")
        if spec is None or spec.deleted:
            raise NotFound("spec not found")
        key = match_key(uid.strip())
        found = next((r for r in spec.requirements if match_key(r.uid) == key), None)
        if found is None:
            raise NotFound("requirement not found")
        return workspace, spec, found

    def get(self, ws: UUID, spec_id: UUID, uid: str) -> tuple[Requirement, RequirementTests | None]:
        _, _, requirement = self.requirement(ws, spec_id, uid)
        try:
            links = self.log.load(RequirementTests, links_id(spec_id, requirement.mid), ws)
        except NotFound:
            links = None
        return requirement, links

    def put(
        self, ctx: Ctx, ws: UUID, spec_id: UUID, uid: str, tests: Sequence[str]
    ) -> tuple[RequirementTests, int]:
        workspace, _, requirement = self.requirement(ws, spec_id, uid)
        workspace.refuse_if_archived()
        try:
            links = self.log.load(RequirementTests, links_id(spec_id, requirement.mid), ws)
            links.relink(requirement.uid, tests, ctx.meta)
        except NotFound:
            links = RequirementTests.link(ws, spec_id, requirement.mid, requirement.uid, tests, ctx.meta)
        return links, self.log.commit(ctx, links)
