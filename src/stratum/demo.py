"""A small demo workspace: two specs in different styles and a few linked tasks."""

from __future__ import annotations

from stratum.application.store import Ctx
from stratum.bootstrap import Container
from stratum.domain.events import Meta

CHECKOUT = """# Checkout

## Requirements

### Requirement: Guest checkout
The system SHALL let a visitor pay without creating an account.

#### Scenario: Pay as guest
- **WHEN** a visitor with items in the cart chooses "Pay as guest"
- **THEN** the payment form asks only for e-mail and card details

### Requirement: Order confirmation
The system SHALL e-mail an order confirmation within one minute of payment.

#### Scenario: Confirmation sent
- **WHEN** a payment succeeds
- **THEN** an e-mail with the order number is sent
- **AND** the order page shows "confirmed"
"""

SEARCH = """# Product search

## Requirements

### Requirement 1: Typo tolerance
**User Story:** As a shopper, I want search to forgive typos, so that I find products anyway.

#### Acceptance Criteria
1. WHEN the query has one typo THEN the system SHALL still return the intended product first
2. IF the query matches nothing THEN the system SHALL suggest the closest product names

### Requirement 2: Filters
**User Story:** As a shopper, I want to filter by price, so that I only see what I can afford.

#### Acceptance Criteria
1. WHEN a price range is set THEN the system SHALL show only products inside it
"""

DEMO_NAME = "Demo shop"


def load(c: Container) -> str:
    """Create the demo workspace; return its id."""
    ctx = Ctx(Meta(actor="system:demo", source="system"))
    workspace, _ = c.workspaces.create(ctx, DEMO_NAME)
    ws = workspace.id
    checkout, _ = c.specs.create(ctx, ws, "Checkout", CHECKOUT)
    search, _ = c.specs.create(ctx, ws, "Product search", SEARCH)
    # The phase gate: tasks come from approved specs.
    for spec in (checkout, search):
        c.specs.update(ctx, ws, spec.id, None, status="approved")
    uids = [r.uid for r in checkout.requirements]
    form, _ = c.tasks.create(ctx, ws, "Guest payment form", "", checkout.id, uids[:1])
    mail, _ = c.tasks.create(ctx, ws, "Confirmation e-mail", "", checkout.id, uids[1:2], [form.id])
    c.tasks.update(ctx, ws, form.id, None, status="in_progress")
    c.tasks.create(ctx, ws, "Fuzzy matching", "", search.id, [search.requirements[0].uid])
    # One proposal from the agent, validated and waiting for a human's approval.
    agent = Ctx(Meta(actor="system:demo-agent", source="agent"))
    action = {"op": "create", "entity": "task",
              "data": {"title": "Price filter", "spec_id": str(search.id),
                       "requirement_uids": [search.requirements[1].uid]}}
    (proposal,), _ = c.proposals.draft(
        agent, ws, "Add a task for the price filter", [action],
        summary="Requirement 2 of Product search has no task yet.", confidence=0.72,
        explanation={"reasoning_summary": "Every requirement should trace to a task.",
                     "provenance": {"model": "demo"}},
    )
    c.proposals.validate(agent, ws, proposal.id)
    del mail
    return str(ws)
