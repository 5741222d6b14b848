"""A brief from the rows of its window: pure, so the same rows always give the same brief.

Definitions (README, "Morning brief and weekly report"): a window is a range of local days
of the workspace's time zone; ``changes`` are the facts inside it, ``decisions_needed`` the
state at its end, ``qa`` compares the state at its start with the state at its end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

Row = dict[str, Any]
# (id, time of its latest fact, title, status) and (id, title, status, ids it depends on or None).
ProposalState = tuple[Any, datetime, str, str]
TaskState = tuple[Any, str, str, Sequence[str] | None]
FAILING = frozenset({"failed", "error"})
# An approval waiting longer than this at the window's end is reported as a risk.
APPROVAL_WAIT = timedelta(days=2)
CHURN = 3


@dataclass(frozen=True)
class Window:
    kind: str  # morning | weekly
    day: date
    time_zone: str
    start: datetime
    end: datetime

    @classmethod
    def of(cls, kind: str, day: date, time_zone: str) -> Window:
        """Morning brief of D: the local day before D. Weekly report ending D: D-6 … D."""
        tz = ZoneInfo(time_zone)
        if kind == "morning":
            first, last = day - timedelta(days=1), day
        else:
            first, last = day - timedelta(days=6), day + timedelta(days=1)
        # In UTC: arithmetic on datetimes sharing a ZoneInfo ignores DST (a 23 h day would be 24 h).
        return cls(kind, day, time_zone, _midnight(first, tz), _midnight(last, tz))

    def days(self) -> list[date]:
        tz = ZoneInfo(self.time_zone)
        first = self.start.astimezone(tz).date()
        return [first + timedelta(days=i) for i in range((self.end.astimezone(tz).date() - first).days)]

    def day_end(self, day: date) -> datetime:
        return _midnight(day + timedelta(days=1), ZoneInfo(self.time_zone))


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tz).astimezone(UTC)


@dataclass
class Inputs:
    """What the service reads for one window (``brief_views``)."""

    facts: list[Row]
    # States as of the window's end, as rows (a workspace has thousands: no dict per row).
    proposals: Sequence[ProposalState]
    tasks: Sequence[TaskState]  # those not deleted
    awaiting_since: dict[Any, datetime]  # else: since its state's time
    scores_before: dict[UUID, float | None]
    scores_after: dict[UUID, float | None]
    outcomes_before: dict[str, str]
    outcomes_after: dict[str, str]
    daily_scores: dict[date, dict[UUID, float | None]] = field(default_factory=dict)
    # Counts per local day (``brief_views.daily``); None: counted from ``facts`` (one per move).
    daily: dict[date, Row] | None = None
    # Each task's moves already folded (``brief_views.moves``), besides any in ``facts``.
    moves: Sequence[tuple[Any, ...]] = ()


def _local(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).isoformat()


def _mean(scores: dict[UUID, float | None]) -> float | None:
    values = [v for v in scores.values() if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def _decisions(w: Window, i: Inputs) -> list[Row]:
    out: list[Row] = []
    waiting = sorted(((i.awaiting_since.get(pid) or at), str(pid), title)
                     for pid, at, title, status in i.proposals if status == "validated")
    for at, pid, title in waiting:
        out.append({"kind": "proposal_awaiting_approval", "id": pid, "title": title,
                    "since": _local(at, w.time_zone)})
    stale = [f for f in i.facts if f["kind"] == "proposal" and f["data"]["status"] == "stale"]
    for f in stale:
        out.append({"kind": "proposal_stale", "id": str(f["entity_id"]), "title": f["data"]["title"],
                    "since": _local(f["occurred_at"], w.time_zone)})
    statuses = {str(tid): status for tid, _, status, _ in i.tasks}
    blocked = []
    for tid, title, status, depends_on in i.tasks:
        if status == "done":
            continue
        # A dependency that is not there (deleted, or not created yet) keeps nothing waiting.
        waiting_on = sorted(d for d in depends_on or () if statuses.get(d, "done") != "done")
        if status == "blocked" or waiting_on:
            blocked.append((title, str(tid), status, waiting_on))
    for title, tid, status, waiting_on in sorted(blocked):
        out.append({"kind": "task_blocked", "id": tid, "title": title, "status": status,
                    "waiting_on": waiting_on})
    return out


def _changes(w: Window, facts: Sequence[Row], moves: Sequence[tuple[Any, ...]] = ()) -> list[Row]:
    """In order of each entity's first change; a task moved several times is one entry
    (its first ``from``, last ``to``, the number of ``moves``, and whether it left ``done``)."""
    specs: dict[str, Row] = {}
    moved: dict[str, Row] = {}
    # Entries and the position of each one's first change, apart: no tuple per entry to sort by.
    out: list[Row] = []
    first: list[int] = []
    for f in facts:
        d, eid, at = f["data"], str(f["entity_id"]), _local(f["occurred_at"], w.time_zone)
        if f["kind"] == "spec":
            entry = specs.get(eid)
            if entry is None:
                entry = specs[eid] = {"kind": "spec_revised", "id": eid, "title": d["title"],
                                      "created": False, "added": [], "modified": [], "renamed": [],
                                      "removed": []}
                out.append(entry)
                first.append(f["position"])
            entry["title"] = d["title"]
            if d["change"] == "created":
                entry["created"] = True
                entry["added"].extend(d["uids"])
            else:
                entry[d["change"]].extend(u for u in d["uids"] if u not in entry[d["change"]])
        elif f["kind"] == "task" and "moved" in d:
            # A fact may fold several moves of its task (its ``moves`` and ``reopened``).
            move = moved.get(eid)
            if move is None:
                move = moved[eid] = {"kind": "task_moved", "id": eid, "title": d["title"],
                                     "from": d["moved"]["from"], "to": d["moved"]["to"], "moves": 0,
                                     "reopened": False, "at": at}
                out.append(move)
                first.append(f["position"])
            move.update(title=d["title"], to=d["moved"]["to"], at=at, moves=move["moves"] + d.get("moves", 1),
                        reopened=move["reopened"] or d.get("reopened", d["moved"]["from"] == "done"))
        elif f["kind"] == "proposal" and d["status"] in ("applied", "rolled_back"):
            out.append({"kind": f"proposal_{d['status']}", "id": eid, "title": d["title"], "at": at})
            first.append(f["position"])
    tz = ZoneInfo(w.time_zone)
    for position, when, eid, title, from_, to, n, reopened in moves:
        out.append({"kind": "task_moved", "id": eid, "title": title, "from": from_, "to": to, "moves": n,
                    "reopened": reopened, "at": when.astimezone(tz).isoformat()})
        first.append(position)
    return [out[n] for n in sorted(range(len(out)), key=first.__getitem__)]


def _qa(i: Inputs) -> Row:
    before, after = _mean(i.scores_before), _mean(i.scores_after)
    failing = sorted(t for t, o in i.outcomes_after.items()
                     if o in FAILING and i.outcomes_before.get(t, "passed") not in FAILING)
    passing = sorted(t for t, o in i.outcomes_after.items()
                     if o == "passed" and i.outcomes_before.get(t) in FAILING)
    specs = []
    for sid in sorted(set(i.scores_before) | set(i.scores_after), key=str):
        b, a = i.scores_before.get(sid), i.scores_after.get(sid)
        if b != a:
            specs.append({"spec_id": str(sid), "before": b, "after": a,
                          "delta": None if a is None or b is None else round(a - b, 4)})
    return {"score_before": before, "score_after": after,
            "score_delta": None if before is None or after is None else round(after - before, 4),
            "specs": specs, "newly_failing": failing, "newly_passing": passing}


def _risks(w: Window, decisions: list[Row], changes: list[Row], qa: Row) -> list[Row]:
    risks: list[Row] = []
    if qa["newly_failing"]:
        risks.append({"code": "newly_failing_tests", "severity": "high", "count": len(qa["newly_failing"]),
                      "message": f"{len(qa['newly_failing'])} test(s) started failing"})
    if qa["score_delta"] is not None and qa["score_delta"] < 0:
        risks.append({"code": "score_drop", "severity": "medium", "count": 1,
                      "message": f"completion score fell by {-qa['score_delta'] * 100:.1f} points"})
    blocked = [d for d in decisions if d["kind"] == "task_blocked"]
    if blocked:
        risks.append({"code": "blocked_tasks", "severity": "medium", "count": len(blocked),
                      "message": f"{len(blocked)} open task(s) are blocked"})
    old = [d for d in decisions if d["kind"] == "proposal_awaiting_approval"
           and w.end - datetime.fromisoformat(d["since"]) > APPROVAL_WAIT]
    if old:
        risks.append({"code": "approvals_waiting", "severity": "medium", "count": len(old),
                      "message": f"{len(old)} proposal(s) have waited more than 2 days for approval"})
    stale = [d for d in decisions if d["kind"] == "proposal_stale"]
    if stale:
        risks.append({"code": "stale_proposals", "severity": "low", "count": len(stale),
                      "message": f"{len(stale)} proposal(s) went stale"})
    churn = [c for c in changes if c["kind"] == "spec_revised" and not c["created"]
             and len(c["modified"]) + len(c["renamed"]) + len(c["removed"]) >= CHURN]
    if churn:
        risks.append({"code": "spec_churn", "severity": "low", "count": len(churn),
                      "message": f"{len(churn)} spec(s) had {CHURN}+ requirement changes"})
    reopened = [c for c in changes if c["kind"] == "task_moved" and c["reopened"]]
    if reopened:
        risks.append({"code": "tasks_reopened", "severity": "low", "count": len(reopened),
                      "message": f"{len(reopened)} done task(s) were reopened"})
    return risks


def _trends(w: Window, i: Inputs) -> Row:
    tz = ZoneInfo(w.time_zone)
    days: dict[date, Row] = {d: {"date": d.isoformat(), "completion_score": _mean(i.daily_scores.get(d, {})),
                "tasks_done": 0, "tasks_created": 0, "proposals_approved": 0, "proposals_rejected": 0}
            for d in w.days()}
    if i.daily is not None:
        for d, counts in i.daily.items():
            if d in days:
                days[d].update({k: int(v) for k, v in counts.items()})
    for f in i.facts if i.daily is None else ():
        day = days.get(f["occurred_at"].astimezone(tz).date())
        if day is None:
            continue
        d = f["data"]
        if f["kind"] == "task":
            if d.get("created"):
                day["tasks_created"] += 1
            elif d.get("moved", {}).get("to") == "done":
                day["tasks_done"] += 1
        elif f["kind"] == "proposal" and d["status"] in ("approved", "rejected"):
            day[f"proposals_{d['status']}"] += 1
    rows = list(days.values())
    approved = sum(r["proposals_approved"] for r in rows)
    rejected = sum(r["proposals_rejected"] for r in rows)
    return {"days": rows, "throughput": sum(r["tasks_done"] for r in rows),
            "proposals_approved": approved, "proposals_rejected": rejected,
            "acceptance_rate": round(approved / (approved + rejected), 4) if approved + rejected else None}


def compose(w: Window, i: Inputs, partial: bool) -> Row:
    """The brief without its markdown (rendered from this by the service)."""
    decisions = _decisions(w, i)
    changes = _changes(w, i.facts, i.moves)
    qa = _qa(i)
    body: Row = {
        "kind": w.kind, "date": w.day.isoformat(), "time_zone": w.time_zone,
        "window": {"start": _local(w.start, w.time_zone), "end": _local(w.end, w.time_zone)},
        "partial": partial,
        "decisions_needed": decisions, "changes": changes, "qa": qa,
        "risks": _risks(w, decisions, changes, qa),
    }
    if w.kind == "weekly":
        body["trends"] = _trends(w, i)
    return body
