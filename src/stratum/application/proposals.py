"""The proposal engine: draft, validate, approve or reject, apply atomically, roll back.

Apply saves the proposal and every target in one append: all events land or none.
Each entity it touches must still be at the version the draft expected; the apply
records pre-images, and rollback restores them with compensating events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID, uuid4

from stratum.application.changes import ChangeSet, OpenTaskFinder, snapshot
from stratum.application.scope import split_actions
from stratum.application.store import Ctx, EventLog
from stratum.domain import lifecycle, rules
from stratum.domain.actions import Action, assess_risk, impacted
from stratum.domain.ai_config import AiConfig, AiSettings, config_id
from stratum.domain.errors import ApprovalRefused, DomainError
from stratum.domain.events import Meta, StratumAggregate
from stratum.domain.gates import AUTO, check_apply, gate_for
from stratum.domain.kill_switch import SOURCE_FEATURES
from stratum.domain.proposal import TRANSITIONS, Proposal
from stratum.domain.workspace import Workspace
from stratum.errors import (
    Conflict,
    NotFound,
    ProposalStale,
    RollbackConflict,
    RuleViolation,
    ScopeTooLarge,
    StratumError,
    VersionConflict,
)

Report = Callable[[str, bool], object]
ATTEMPTS = 5


class ProposalCommands:
    def __init__(self, log: EventLog, find_tasks: OpenTaskFinder, report: Report | None = None) -> None:
        self.log = log
        self.find_tasks = find_tasks
        # Outcomes of automated work, for the kill switches' auto-kill (set by the composition root).
        self.report: Report = report or (lambda feature, ok: None)

    # -- reading ---------------------------------------------------------------------

    def settings(self, ws: UUID) -> AiSettings:
        try:
            return self.log.load(AiConfig, config_id(ws), ws).settings
        except NotFound:
            return AiSettings()

    def get(self, ws: UUID, proposal_id: UUID) -> Proposal:
        return self.log.load(Proposal, proposal_id, ws)

    def gate(self, proposal: Proposal) -> dict[str, Any]:
        settings = self.settings(proposal.workspace_id)
        return gate_for(proposal.source, proposal.confidence, proposal.risk["level"], settings)

    # -- drafting --------------------------------------------------------------------

    def draft(
        self,
        ctx: Ctx,
        ws: UUID,
        title: str,
        raw_actions: list[dict[str, Any]],
        summary: str = "",
        confidence: float | None = None,
        explanation: dict[str, Any] | None = None,
        also: Callable[[list[Proposal]], Sequence[StratumAggregate]] | None = None,
    ) -> tuple[list[Proposal], int]:
        """One proposal, or linked batches when the workspace splits an oversized scope.

        ``also`` gives aggregates appended atomically with the drafts (the agent's run record).
        """
        self.log.load(Workspace, ws, ws).refuse_if_archived()
        actions = self._expect_current(ws, [Action.parse(a, i, uuid4()) for i, a in enumerate(raw_actions)])
        settings = self.settings(ws)
        limit = settings.max_entities_impacted_per_proposal
        count = len(impacted(actions))
        if count > limit and settings.scope_overflow == "refuse":
            raise ScopeTooLarge(
                f"the proposal impacts {count} entities; this workspace allows {limit}",
                impacted=count, limit=limit,
            )
        groups = split_actions(actions, limit) if count > limit else [actions]
        ids = [uuid4() for _ in groups]
        batch_id = uuid4()
        proposals = [
            Proposal.draft(
                ws, ctx.meta, title if len(groups) == 1 else f"{title} ({n + 1}/{len(groups)})",
                group, assess_risk(group), summary, confidence, explanation,
                batch=None if len(groups) == 1 else {
                    "id": str(batch_id), "index": n, "count": len(groups),
                    "proposal_ids": [str(i) for i in ids],
                },
                proposal_id=ids[n],
            )
            for n, group in enumerate(groups)
        ]
        extra = list(also(proposals)) if also is not None else []
        return proposals, self.log.commit(ctx, *proposals, *extra)

    def _expect_current(self, ws: UUID, actions: list[Action]) -> list[Action]:
        """Give every action on an existing entity the version it expects (the current one)."""
        created: set[UUID] = set()
        out = []
        for index, action in enumerate(actions):
            if action.op == "create":
                if action.id in created or self.log.exists(action.id):
                    raise RuleViolation(
                        "an entity with this id exists already", field="actions", action_index=index
                    )
                created.add(action.id)
            elif action.id not in created:
                current = self._current(ws, action, index)
                if action.expected_version is None:
                    out.append(action.with_expected(current))
                    continue
            out.append(action)
        return out

    def _current(self, ws: UUID, action: Action, index: int) -> int:
        changes = ChangeSet(self.log, ws, Meta(actor="system"), self.find_tasks)
        try:
            return changes.get(action.entity, action.id).version
        except NotFound:
            raise RuleViolation(
                f"no such {action.entity} in this workspace", field="actions", action_index=index,
                id=str(action.id),
            ) from None

    # -- reviewing -------------------------------------------------------------------

    def validate(self, ctx: Ctx, ws: UUID, proposal_id: UUID) -> tuple[Proposal, int]:
        proposal = self.get(ws, proposal_id)
        changes = self._dry_run(proposal, ctx.meta, ctx)
        violations = changes if isinstance(changes, list) else changes.violations()
        if violations:
            return self._invalid(ctx, proposal, violations)
        proposal.validate(rules.rule_ids(), ctx.meta)
        position = self.log.commit(ctx, proposal)
        if self.gate(proposal)["name"] == AUTO:
            return self._auto_apply(ctx, ws, proposal, position)
        return proposal, position

    def approve(self, ctx: Ctx, ws: UUID, proposal_id: UUID, agent_token: bool) -> tuple[Proposal, int]:
        proposal = self.get(ws, proposal_id)
        if agent_token or ctx.meta.source in ("agent", "scheduler"):
            raise ApprovalRefused("approvals come from people, not from agents", reason="not_human")
        if self.settings(ws).require_four_eyes and ctx.meta.actor == proposal.proposer:
            raise ApprovalRefused(
                "this workspace requires four eyes: the proposer cannot approve", reason="four_eyes"
            )
        proposal.approve(ctx.meta)
        return proposal, self.log.commit(ctx, proposal)

    def reject(self, ctx: Ctx, ws: UUID, proposal_id: UUID, reason: str) -> tuple[Proposal, int]:
        proposal = self.get(ws, proposal_id)
        proposal.reject(reason, ctx.meta)
        return proposal, self.log.commit(ctx, proposal)

    # -- applying --------------------------------------------------------------------

    def apply(
        self, ctx: Ctx, ws: UUID, proposal_id: UUID, force: bool = False, by_admin: bool = False
    ) -> tuple[Proposal, int]:
        """Apply, or answer as the apply that got there first did (idempotent)."""
        for _ in range(ATTEMPTS):
            proposal = self.get(ws, proposal_id)
            if proposal.status == "applied":
                return proposal, self._position_of_status(proposal, "applied")
            try:
                return self._apply_once(ctx, proposal, force, by_admin)
            except (VersionConflict, Conflict):
                continue  # someone wrote first: reload and decide again
        raise Conflict("the proposal kept changing under the apply; retry")

    def _apply_once(
        self, ctx: Ctx, proposal: Proposal, force: bool, by_admin: bool
    ) -> tuple[Proposal, int]:
        gate = self.gate(proposal)
        lifecycle.must_move("proposal", TRANSITIONS, proposal.status, "applied")
        check_apply(gate, proposal.status == "approved", force, by_admin)
        meta = self._caused_by(ctx.meta, proposal)
        changes = self._dry_run(proposal, meta, ctx)
        if isinstance(changes, list):
            failure = changes[0]
            if failure.rule.startswith("domain."):
                proposal.fail({"code": failure.rule[7:].upper(), "message": failure.message,
                               "action_index": failure.action_index}, ctx.meta)
                self.log.commit(ctx, proposal)
                self._report(proposal, ctx, ok=False)
                raise RuleViolation("an action cannot be carried out", violations=[failure.to_dict()])
            return self._invalid(ctx, proposal, changes)
        violations = changes.violations()
        if violations:
            return self._invalid(ctx, proposal, violations)
        touched = {
            str(entity_id): {
                "entity": kind, "created": before is None, "version_before": version,
                "version_after": changes.touched[entity_id].version,
                "before": before, "after": _after(changes, entity_id),
            }
            for entity_id, (kind, before, version) in changes.first.items()
        }
        forced = force and gate["name"] != AUTO and by_admin
        proposal.record_applied(gate, forced, touched, changes.graph_before, meta)
        guarded = Ctx(meta, None, self._features(proposal, ctx))
        position = self.log.commit(guarded, *changes.aggregates(), proposal)
        self._report(proposal, ctx, ok=True)
        return proposal, position

    def _auto_apply(self, ctx: Ctx, ws: UUID, proposal: Proposal, position: int) -> tuple[Proposal, int]:
        auto = Ctx(ctx.meta, None, (*ctx.features, "auto_apply"))
        try:
            return self.apply(auto, ws, proposal.id)
        except (StratumError, DomainError):
            # Validation stands; the proposal waits for a human (the error is in the log or
            # was a refusal such as a kill switch, which the status endpoint shows).
            return self.get(ws, proposal.id), position

    def _features(self, proposal: Proposal, ctx: Ctx) -> tuple[str, ...]:
        own = SOURCE_FEATURES.get(proposal.source)
        return tuple(dict.fromkeys([*ctx.features, *([own] if own else [])]))

    def _report(self, proposal: Proposal, ctx: Ctx, ok: bool) -> None:
        for feature in self._features(proposal, ctx):
            self.report(feature, ok)

    # -- rolling back ----------------------------------------------------------------

    def rollback(self, ctx: Ctx, ws: UUID, proposal_id: UUID) -> tuple[Proposal, int]:
        for _ in range(ATTEMPTS):
            proposal = self.get(ws, proposal_id)
            if proposal.status == "rolled_back":
                return proposal, self._position_of_status(proposal, "rolled_back")
            try:
                return self._rollback_once(ctx, proposal)
            except (VersionConflict, Conflict):
                continue
        raise Conflict("the entities kept changing under the rollback; retry")

    def _rollback_once(self, ctx: Ctx, proposal: Proposal) -> tuple[Proposal, int]:
        lifecycle.must_move("proposal", TRANSITIONS, proposal.status, "rolled_back")
        assert proposal.applied is not None
        touched: dict[str, dict[str, Any]] = proposal.applied["touched"]
        conflicts = [c for i, t in touched.items() if (c := self._moved_on(UUID(i), t))]
        if conflicts:
            raise RollbackConflict(
                "entities changed after the apply; roll back or revert those changes first",
                conflicts=conflicts,
            )
        meta = self._caused_by(ctx.meta, proposal)
        changes = ChangeSet(self.log, proposal.workspace_id, meta, self.find_tasks)
        for entity_id, t in touched.items():
            changes.revert(t["entity"], UUID(entity_id), None if t["created"] else t["before"])
        for task_id, depends_on in proposal.applied["graph_before"].items():
            changes.restore_dependencies(UUID(task_id), depends_on)
        proposal.roll_back(meta)
        return proposal, self.log.commit(Ctx(meta, None, ctx.features), *changes.aggregates(), proposal)

    def _moved_on(self, entity_id: UUID, touched: dict[str, Any]) -> dict[str, Any] | None:
        applied_version = touched["version_after"]
        later: list[Any] = list(self.log.events.get(entity_id, gt=applied_version))
        if not later:
            return None
        proposals = sorted({e.causation_id[9:] for e in later
                            if (e.causation_id or "").startswith("proposal:")})
        return {
            "entity": touched["entity"], "id": str(entity_id), "applied_version": applied_version,
            "current_version": later[-1].originator_version, "later_proposals": proposals,
            "later_actors": sorted({e.actor for e in later}),
        }

    # -- shared ----------------------------------------------------------------------

    def _refuse_if_stale(self, ctx: Ctx, proposal: Proposal, changes: ChangeSet) -> None:
        """Every target as the change set read it must be at the version the draft expected."""
        stale = []
        for action in proposal.actions:
            if action.expected_version is None:
                continue
            try:
                current = changes.get(action.entity, action.id, deleted=True)
                version, deleted = current.version, current.deleted
            except NotFound:
                version, deleted = 0, True
            if version != action.expected_version:
                stale.append({"entity": action.entity, "id": str(action.id),
                              "expected_version": action.expected_version,
                              "current_version": version, "deleted": deleted})
        if stale:
            stale = list({s["id"]: s for s in stale}.values())
            proposal.mark_stale(stale, ctx.meta)
            self.log.commit(ctx, proposal)
            raise ProposalStale(
                "entities changed since the proposal was drafted", proposal_id=str(proposal.id),
                stale=stale,
            )

    def _dry_run(
        self, proposal: Proposal, meta: Meta, stale_check: Ctx | None = None
    ) -> ChangeSet | list[rules.Violation]:
        """The proposal's actions carried out on copies: a change set, or why it cannot be.

        With ``stale_check`` (the command's context) a stale target first marks the
        proposal stale and raises ProposalStale.
        """
        changes = ChangeSet(self.log, proposal.workspace_id, meta, self.find_tasks)
        changes.preload(proposal.actions)
        if stale_check is not None:
            self._refuse_if_stale(stale_check, proposal, changes)
        for index, action in enumerate(proposal.actions):
            try:
                changes.act(index, action)
            except (DomainError, RuleViolation, NotFound) as e:
                return [rules.Violation(f"domain.{e.code.lower()}", e.message, index,
                                        {k: v for k, v in e.details.items() if k != "violations"})]
        return changes

    def diff(self, proposal: Proposal) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Each entity before and after: as applied, or as applying it now would leave it.

        The second list says why a preview stops short (an action that cannot be carried out).
        """
        if proposal.applied is not None:
            return [
                {"entity": t["entity"], "id": i, "before": t["before"], "after": t["after"]}
                for i, t in proposal.applied["touched"].items()
            ], []
        changes = self._dry_run(proposal, Meta(actor="system:preview"))
        if isinstance(changes, list):
            return [], [v.to_dict() for v in changes]
        return [
            {"entity": kind, "id": str(entity_id), "before": before, "after": _after(changes, entity_id)}
            for entity_id, (kind, before, _) in changes.first.items()
        ], []

    def _invalid(
        self, ctx: Ctx, proposal: Proposal, violations: list[rules.Violation]
    ) -> tuple[Proposal, int]:
        listed = [v.to_dict() for v in violations]
        proposal.invalidate(listed, rules.rule_ids(), ctx.meta)
        self.log.commit(ctx, proposal)
        raise RuleViolation("the change breaks a business rule", violations=listed,
                            proposal_id=str(proposal.id), proposal_status=proposal.status)

    def _caused_by(self, meta: Meta, proposal: Proposal) -> Meta:
        source = proposal.source if proposal.source in SOURCE_FEATURES else meta.source
        return Meta(meta.actor, source, meta.correlation_id, proposal.causation)  # type: ignore[arg-type]

    def _position_of_status(self, proposal: Proposal, status: str) -> int:
        version = max(h["version"] for h in proposal.history if h["status"] == status)
        return self.log.position_of(proposal.id, version)


def _after(changes: ChangeSet, entity_id: UUID) -> dict[str, Any] | None:
    entity = changes.touched[entity_id]
    return None if entity.deleted else snapshot(entity)
