"""A workspace's time zone: the local days its briefs are cut into."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from stratum.domain.errors import Archived, InvalidValue
from stratum.domain.workspace import Workspace
from tests.unit.domain.helpers import META, fold, mapper, state, through_the_log


def test_a_workspace_is_on_utc_unless_it_says_otherwise() -> None:
    assert Workspace.create("Acme", META).time_zone == "UTC"
    assert Workspace.create("Acme", META, time_zone="Europe/Paris").time_zone == "Europe/Paris"


@pytest.mark.parametrize("name", [
    "", "Mars/Olympus", "../etc/passwd", "Europe/Paris\0", "x" * 65, "/abs", "localtime", "utc", "zone.tab",
])
def test_only_iana_zone_names_are_accepted(name: str) -> None:
    with pytest.raises(InvalidValue) as e:
        Workspace.create("Acme", META, time_zone=name)
    assert e.value.details["field"] == "time_zone"


def test_changing_the_zone_is_an_event_and_a_no_op_when_unchanged() -> None:
    workspace = Workspace.create("Acme", META)
    workspace.set_time_zone("UTC", META)
    workspace.set_time_zone("America/New_York", META)
    events = workspace.collect_events()
    assert [type(e).__qualname__ for e in events] == ["Workspace.Created", "Workspace.TimeZoneChanged"]
    assert state(fold(through_the_log(events))) == state(workspace)
    workspace.archive(META)
    with pytest.raises(Archived):
        workspace.set_time_zone("Asia/Tokyo", META)


def test_a_created_event_stored_before_time_zones_reads_as_utc() -> None:
    created = Workspace.create("Acme", META, time_zone="Asia/Tokyo").collect_events()[0]
    stored = mapper().to_stored_event(created)
    body = json.loads(stored.state)
    del body["time_zone"]
    body["class_version"] = 2
    event = mapper().to_domain_event(replace(stored, state=json.dumps(body).encode()))
    assert vars(event)["time_zone"] == "UTC" and fold([event]).time_zone == "UTC"
