"""What needs attention across the register: the dashboard's figures, computed from the
entries in force now (no separate state to keep in step). Which systems in use are not
ready, and when reviews fall due, is the readiness scorecard's to say."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.records.kinds import RISK_TIERS, STAGES
from registry.records.models import AISystem, Entry, EntryVersion
from registry.records.service import _in_force, register

# EU AI Act Art 73: days to report a serious incident after becoming aware of it.
ART_73_DAYS = {"widespread_or_critical_infrastructure": 2, "death": 10, "other": 15}
OPEN_INCIDENT = ("open", "contained")
DUE_SOON = dt.timedelta(days=30)


@dataclass(frozen=True)
class Gap:
    """A system in use that is not ready: the readiness areas not met (nor waived)."""

    reference: str
    name: str
    stage: str
    missing: list[str]


@dataclass(frozen=True)
class DueReview:
    """A review procedure or monitoring plan whose review falls due (readiness.reviews)."""

    reference: str
    entry_id: int
    next_due: dt.date
    title: str

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
    that are not ready (the readiness areas they miss), reviews due within 30 days or
    overdue, open incidents with their Art 73 deadline, and the most recent changes."""
    from registry.readiness.model import Record
    from registry.readiness.scorecard import score

    profiles = register(session)
    counts: Counter[tuple[str, str]] = Counter(
        (r.profile.get("stage", ""), r.profile.get("risk_tier", "")) for r in profiles
    )
    live = {r.system.id: r for r in profiles if r.profile.get("stage") != "retired"}
    records: dict[int, list[Record]] = {}
    incidents: list[OpenIncident] = []
    for entry, version in session.execute(_in_force(list(live) if live else [])).all():
        records.setdefault(entry.system_id, []).append(
            Record(
                entry.id,
                entry.kind,
                version.number,
                version.body_hash,
                json.loads(version.body),
                version.effective_from,
            )
        )
    gaps, reviews = [], []
    soon = now.date() + DUE_SOON
    for system_id, row in sorted(live.items(), key=lambda item: item[1].system.reference):
        reference = row.system.reference
        card = score(reference, records.get(system_id, []), now)
        if row.profile.get("stage") in ("pilot", "production") and not card.ready:
            missing = [a.title for a in card.unmet()]
            gaps.append(Gap(reference, row.profile.get("name", ""), row.profile["stage"], missing))
        reviews += [
            DueReview(reference, d.subject.entry_id, d.due_on, d.title)
            for d in card.due
            if d.due_on <= soon
        ]
        for r in records.get(system_id, []):
            body = r.body
            if r.kind != "incident" or body.get("status") not in OPEN_INCIDENT:
                continue
            aware = _instant(body.get("became_aware_at")) or _instant(body["detected_at"])
            assert aware is not None
            serious = bool(body.get("serious"))
            days = ART_73_DAYS[body.get("serious_category") or "other"] if serious else None
            incidents.append(
                OpenIncident(
                    reference,
                    r.entry_id,
                    body.get("title", ""),
                    body["status"],
                    serious,
                    aware,
                    aware + dt.timedelta(days=days) if days else None,
                    _instant(body.get("reported_at")),
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
