"""What needs attention across the register: the dashboard's figures, computed from the
entries in force now (no separate state to keep in step)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.records.kinds import KINDS, RISK_TIERS, STAGES
from registry.records.models import AISystem, Entry, EntryVersion
from registry.records.service import _in_force, register

# The evidence every system in use should have, until the readiness scorecard says more:
# who is accountable and who maintains it, what data it uses, how it is reviewed, what
# happens when it fails, and how it is watched.
EXPECTED_OWNER_ROLES = ("business", "technical")
EXPECTED_KINDS = ("data_source", "review_procedure", "incident_procedure", "monitoring_plan")

# EU AI Act Art 73: days to report a serious incident after becoming aware of it.
ART_73_DAYS = {"widespread_or_critical_infrastructure": 2, "death": 10, "other": 15}
OPEN_INCIDENT = ("open", "contained")
DUE_SOON = dt.timedelta(days=30)


@dataclass(frozen=True)
class Gap:
    reference: str
    name: str
    stage: str
    missing: list[str]


@dataclass(frozen=True)
class DueReview:
    reference: str
    entry_id: int
    next_due: dt.date
    decision: str

    def days_left(self, today: dt.date) -> int:
        return (self.next_due - today).days


@dataclass(frozen=True)
class OpenIncident:
    reference: str
    entry_id: int
    title: str
    status: str
    serious: bool
    aware_at: dt.datetime
    deadline: dt.datetime | None  # Art 73 reporting deadline; None unless serious
    reported_at: dt.datetime | None

    def time_left(self, now: dt.datetime) -> dt.timedelta | None:
        if self.deadline is None or self.reported_at is not None:
            return None
        return self.deadline - now


@dataclass(frozen=True)
class Change:
    reference: str
    entry_id: int
    kind: str
    number: int
    tombstone: bool
    recorded_at: dt.datetime
    author: str
    reason: str


@dataclass(frozen=True)
class Overview:
    by_stage_and_tier: dict[tuple[str, str], int]
    gaps: list[Gap]
    reviews: list[DueReview]
    incidents: list[OpenIncident]
    changes: list[Change]

    @property
    def stages(self) -> tuple[str, ...]:
        return STAGES

    @property
    def tiers(self) -> tuple[str, ...]:
        return (*RISK_TIERS, "")


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def overview(session: Session, now: dt.datetime, *, recent: int = 15) -> Overview:
    """The register as it stands now: systems by stage and risk tier, systems in use
    with missing evidence, reviews due within 30 days or overdue, open incidents with
    their Art 73 deadline, and the most recent changes."""
    profiles = register(session)
    counts: Counter[tuple[str, str]] = Counter(
        (r.profile.get("stage", ""), r.profile.get("risk_tier", "")) for r in profiles
    )
    in_use = {r.system.id: r for r in profiles if r.profile.get("stage") in ("pilot", "production")}
    rows = session.execute(
        _in_force(None, kinds=["owner", *EXPECTED_KINDS, "review", "incident"])
    ).all()
    references = {r.system.id: r.system.reference for r in profiles}
    present: dict[int, set[str]] = {}
    reviews: list[DueReview] = []
    incidents: list[OpenIncident] = []
    today = now.date()
    for entry, version in rows:
        body = json.loads(version.body)
        have = present.setdefault(entry.system_id, set())
        if entry.kind == "owner":
            have.add(f"owner:{body.get('role')}")
        else:
            have.add(entry.kind)
        reference = references.get(entry.system_id)
        if reference is None:  # the system itself is retired
            continue
        if entry.kind == "review" and body.get("next_due"):
            due = dt.date.fromisoformat(body["next_due"])
            if due - today <= DUE_SOON:
                reviews.append(DueReview(reference, entry.id, due, body.get("decision", "")))
        elif entry.kind == "incident" and body.get("status") in OPEN_INCIDENT:
            aware = _instant(body.get("became_aware_at")) or _instant(body["detected_at"])
            assert aware is not None
            serious = bool(body.get("serious"))
            days = ART_73_DAYS[body.get("serious_category") or "other"] if serious else None
            incidents.append(
                OpenIncident(
                    reference,
                    entry.id,
                    body.get("title", ""),
                    body["status"],
                    serious,
                    aware,
                    aware + dt.timedelta(days=days) if days else None,
                    _instant(body.get("reported_at")),
                )
            )
    gaps = []
    for system_id, row in sorted(in_use.items(), key=lambda item: item[1].system.reference):
        have = present.get(system_id, set())
        missing = [
            f"{role} owner" for role in EXPECTED_OWNER_ROLES if f"owner:{role}" not in have
        ] + [KINDS[k].title.lower() for k in EXPECTED_KINDS if k not in have]
        if missing:
            gaps.append(
                Gap(
                    row.system.reference, row.profile.get("name", ""), row.profile["stage"], missing
                )
            )
    reviews.sort(key=lambda r: (r.next_due, r.reference))
    incidents.sort(key=lambda i: (i.deadline is None, i.deadline or i.aware_at, i.reference))
    return Overview(dict(counts), gaps, reviews, incidents, recent_changes(session, recent))


def recent_changes(session: Session, limit: int) -> list[Change]:
    stmt = (
        sa.select(
            AISystem.reference,
            Entry.id,
            Entry.kind,
            EntryVersion.number,
            EntryVersion.tombstone,
            EntryVersion.recorded_at,
            EntryVersion.author,
            EntryVersion.reason,
        )
        .join(Entry, Entry.id == EntryVersion.entry_id)
        .join(AISystem, AISystem.id == Entry.system_id)
        .order_by(EntryVersion.audit_seq.desc())
        .limit(limit)
    )
    return [Change(*row) for row in session.execute(stmt)]


def describe(delta: dt.timedelta) -> str:
    """A duration for people: '3 days 4 h', '5 h 12 min', '12 min'."""
    seconds = int(abs(delta).total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
