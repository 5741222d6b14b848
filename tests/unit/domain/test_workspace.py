from __future__ import annotations

import pytest

from stratum.domain.errors import Archived, InvalidValue
from stratum.domain.workspace import Workspace
from tests.unit.domain.helpers import META, fold, state, through_the_log


def test_a_workspace_is_its_own_tenant() -> None:
    workspace = Workspace.create("Acme", META)
    assert workspace.workspace_id == workspace.id


def test_an_archived_workspace_cannot_be_renamed() -> None:
    workspace = Workspace.create("Acme", META)
    workspace.archive(META)
    with pytest.raises(Archived):
        workspace.rename("Beta", META)


def test_a_name_is_trimmed_and_bounded() -> None:
    assert Workspace.create("  Acme  ", META).name == "Acme"
    with pytest.raises(InvalidValue):
        Workspace.create("x" * 201, META)


def test_folding_a_workspaces_events_reproduces_it() -> None:
    workspace = Workspace.create("Acme", META)
    workspace.rename("Beta", META)
    workspace.archive(META)
    events = workspace.collect_events()
    assert [type(e).__qualname__ for e in events] == [
        "Workspace.Created", "Workspace.Renamed", "Workspace.Archived"
    ]
    assert state(fold(through_the_log(events))) == state(workspace)
