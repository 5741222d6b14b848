"""``diff_requirements``: what changed between two revisions, keyed by mid.

A title or uid change alone is ``renamed``; any change to text, criteria or
priority is ``modified`` (its before/after also show a title change, if any), so
each requirement yields at most one change. Applying the changes to ``old``
(append added, replace renamed/modified, drop removed) gives ``new`` up to order.
Order: ``new``'s document order, then removed ones in ``old``'s order. A mid that
appears twice in one input only counts the first time.
"""

from __future__ import annotations

from collections.abc import Sequence

from stratum.domain.specparse.model import Requirement, RequirementChange


def _same_content(a: Requirement, b: Requirement) -> bool:
    return a.text == b.text and a.acceptance_criteria == b.acceptance_criteria and a.priority == b.priority


def diff_requirements(
    old: Sequence[Requirement], new: Sequence[Requirement]
) -> tuple[RequirementChange, ...]:
    old_by_mid: dict[str, Requirement] = {}
    for r in old:
        old_by_mid.setdefault(r.mid, r)
    seen: set[str] = set()
    changes: list[RequirementChange] = []
    for after in new:
        if after.mid in seen:
            continue
        seen.add(after.mid)
        before = old_by_mid.get(after.mid)
        if before is None:
            changes.append(RequirementChange("added", after.mid, after.uid, None, after))
        elif not _same_content(before, after):
            changes.append(RequirementChange("modified", after.mid, after.uid, before, after))
        elif before.title != after.title or before.uid != after.uid:
            changes.append(RequirementChange("renamed", after.mid, after.uid, before, after))
    for mid, before in old_by_mid.items():
        if mid not in seen:
            changes.append(RequirementChange("removed", mid, before.uid, before, None))
    return tuple(changes)
