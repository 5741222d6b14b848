"""Splitting an oversized proposal into linked batches that each fit the workspace's limit."""

from __future__ import annotations

from uuid import UUID

from stratum.domain.actions import Action


def split_actions(actions: list[Action], limit: int) -> list[list[Action]]:
    """Batches of at most ``limit`` distinct entities, in order.

    Every action on one entity goes to the batch of its first action, so a batch
    never updates an entity that another batch creates. Batches are meant to be
    applied in order: a later batch may refer to what an earlier one creates.
    """
    batch_of: dict[tuple[str, UUID], int] = {}
    batches: list[list[Action]] = []
    sizes: list[int] = []
    for action in actions:
        key = (action.entity, action.id)
        if key not in batch_of:
            if not batches or sizes[-1] >= limit:
                batches.append([])
                sizes.append(0)
            batch_of[key] = len(batches) - 1
            sizes[-1] += 1
        batches[batch_of[key]].append(action)
    return batches
