"""Proposals: draft, review, apply and roll back changes to specs and tasks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from stratum.api import representations as rep
from stratum.api.commands import meta_of, run
from stratum.api.deps import (
    ContainerDep,
    IdemDep,
    PageDep,
    Principal,
    PrincipalDep,
    Reader,
    existing_workspace,
    fresh,
    scoped,
    workspace_of,
)
from stratum.api.schemas import ProposalCreate, Reason
from stratum.application.store import Ctx
from stratum.bootstrap import Container
from stratum.domain.events import Meta
from stratum.domain.gates import gate_for
from stratum.domain.proposal import STATUSES, Proposal
from stratum.errors import Forbidden
from stratum.projections import proposal_views as views

router = APIRouter(prefix="/v1/workspaces/{ws}/proposals", tags=["proposals"])
Approver = Annotated[Principal, scoped("approve")]
Status = Literal[STATUSES]  # type: ignore[valid-type]
# Who may say a proposal comes from where: the agent drafts with an agent token, the
# scheduler with an admin one, people and API clients with a write token.
SOURCE_SCOPE = {"agent": "agent", "scheduler": "admin", "manual": "write", "api": "write"}


def _render(c: Container) -> Callable[[Proposal], dict[str, Any]]:
    return lambda p: rep.proposal(p, c.proposals.gate(p))


def _respond(c: Container, proposal: Proposal, position: int) -> JSONResponse:
    body = {**rep.proposal(proposal, c.proposals.gate(proposal)), "position": position}
    return JSONResponse(body, headers={"ETag": f'"{proposal.version}"', "Stratum-Position": str(position)})


@router.post("", status_code=201, operation_id="createProposal")
def create_proposal(
    ws: UUID, body: ProposalCreate, request: Request, c: ContainerDep, p: PrincipalDep,
    idem: IdemDep,
) -> JSONResponse:
    scope = SOURCE_SCOPE[body.source]
    if not p.can(scope):
        raise Forbidden(
            f"drafting a proposal with source {body.source!r} needs the {scope!r} scope", scope=scope
        )
    ws = workspace_of(p, ws)
    base = meta_of(request, p)
    meta = Meta(base.actor, body.source, base.correlation_id, base.causation_id)

    def draft(ctx: Ctx) -> tuple[Proposal, int]:
        proposals, position = c.proposals.draft(
            Ctx(meta, ctx.idempotency), ws, body.title,
            [a.model_dump(mode="json") for a in body.actions], body.summary, body.confidence,
            body.explanation.model_dump(mode="json"),
        )
        return proposals[0], position

    return run(c, request, p, idem, draft, _render(c), 201)


@router.get("", operation_id="listProposals", dependencies=[fresh("proposals")])
def list_proposals(
    ws: UUID, c: ContainerDep, p: Reader, page: PageDep, status: Status | None = None,
) -> dict[str, object]:
    ws = existing_workspace(c, p, ws)
    settings = c.proposals.settings(ws)
    with c.pool.connection() as conn:
        rows, nxt = views.proposals(conn, ws, status, *page)
    items = [
        rep.proposal_row(r, gate_for(r["source"], r["confidence"], r["risk"]["level"], settings))
        for r in rows
    ]
    return {"items": items, "next": None if nxt is None else str(nxt)}


@router.get("/{proposal_id}", operation_id="getProposal")
def get_proposal(ws: UUID, proposal_id: UUID, c: ContainerDep, p: Reader) -> JSONResponse:
    proposal = c.proposals.get(workspace_of(p, ws), proposal_id)
    diff, blocked = c.proposals.diff(proposal)
    body = {
        **rep.proposal(proposal, c.proposals.gate(proposal)),
        "diff": rep.jsonable(diff),
        "preview_blocked_by": blocked,
        "history": proposal.history,
    }
    return JSONResponse(body, headers={"ETag": f'"{proposal.version}"'})


def _validator(p: PrincipalDep) -> Principal:
    if not (p.can("write") or p.can("agent") or p.can("approve")):
        raise Forbidden("validating needs the 'write', 'agent' or 'approve' scope", scope="write")
    return p


@router.post("/{proposal_id}/validate", operation_id="validateProposal")
def validate_proposal(
    ws: UUID, proposal_id: UUID, request: Request, c: ContainerDep,
    p: Annotated[Principal, Depends(_validator)],
) -> JSONResponse:
    ws = workspace_of(p, ws)
    proposal, position = c.proposals.validate(Ctx(meta_of(request, p)), ws, proposal_id)
    return _respond(c, proposal, position)


@router.post("/{proposal_id}/approve", operation_id="approveProposal")
def approve_proposal(
    ws: UUID, proposal_id: UUID, request: Request, c: ContainerDep, p: Approver, idem: IdemDep,
) -> JSONResponse:
    ws = workspace_of(p, ws)
    agent_token = "agent" in p.token.scopes
    return run(
        c, request, p, idem, lambda ctx: c.proposals.approve(ctx, ws, proposal_id, agent_token),
        _render(c),
    )


@router.post("/{proposal_id}/reject", operation_id="rejectProposal")
def reject_proposal(
    ws: UUID, proposal_id: UUID, body: Reason, request: Request, c: ContainerDep, p: Approver,
    idem: IdemDep,
) -> JSONResponse:
    ws = workspace_of(p, ws)
    return run(
        c, request, p, idem, lambda ctx: c.proposals.reject(ctx, ws, proposal_id, body.reason),
        _render(c),
    )


@router.post("/{proposal_id}/apply", operation_id="applyProposal")
def apply_proposal(
    ws: UUID, proposal_id: UUID, request: Request, c: ContainerDep, p: Approver,
    force: Annotated[bool, Query(description="Apply below the medium confidence gate (admin only).")] = False,
) -> JSONResponse:
    # Applying is idempotent by itself: a repeat answers as the first apply did.
    ws = workspace_of(p, ws)
    proposal, position = c.proposals.apply(
        Ctx(meta_of(request, p)), ws, proposal_id, force=force, by_admin="admin" in p.token.scopes
    )
    return _respond(c, proposal, position)


@router.post("/{proposal_id}/rollback", operation_id="rollbackProposal")
def rollback_proposal(
    ws: UUID, proposal_id: UUID, request: Request, c: ContainerDep, p: Approver,
) -> JSONResponse:
    ws = workspace_of(p, ws)
    proposal, position = c.proposals.rollback(Ctx(meta_of(request, p)), ws, proposal_id)
    return _respond(c, proposal, position)
