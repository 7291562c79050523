"""What needs attention across the register: the dashboard's figures, computed from the
entries in force now. Which systems are not ready, and when reviews fall due, is the
readiness scorecard's to say, read from its projection (``readiness.projection``);
which systems name a person as owner is the permissions' rule (``roles_named``)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass

from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.permissions import roles_named
from registry.documents.models import DOCUMENT_TYPES
from registry.documents.service import expired_documents, received_by_systems
from registry.readiness.model import Held, Record, Scorecard
from registry.readiness.projection import summaries as summaries_of
from registry.readiness.scorecard import score
from registry.records.kinds import RISK_TIERS, STAGES, art_73_deadline, risk_tier
from registry.records.reads import Change, RegisterRow, in_force, recent_changes, register

OPEN_INCIDENT = ("open", "contained")
DUE_SOON = dt.timedelta(days=30)
# What needs attention first: the riskier tier, then the stage further along (a system
# in production before one in a pilot before a proposal), then more unmet areas.
TIER_RANK = {tier: i for i, tier in enumerate(RISK_TIERS)}
STAGE_RANK = {"production": 0, "pilot": 1, "proposed": 2}


def attention_rank(stage: str, tier: str, unmet: int, reference: str) -> tuple[int, int, int, str]:
    """The sort key of a system that is not ready: lower needs attention sooner."""
    return (
        TIER_RANK.get(tier, len(TIER_RANK)),
        STAGE_RANK.get(stage, len(STAGE_RANK)),
        -unmet,
        reference,
    )


@dataclass(frozen=True)
class Gap:
    """A system that is not (yet) retired and not ready: the readiness areas not met
    (nor waived)."""

    reference: str
    name: str
    stage: str
    missing: list[str]
    risk_tier: str = "unclassified"

    @property
    def rank(self) -> tuple[int, int, int, str]:
        return attention_rank(self.stage, self.risk_tier, len(self.missing), self.reference)


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
class ExpiredEvidence:
    """A stored document whose last day in force has passed."""

    reference: str
    sha256: str
    name: str
    document_type: str
    valid_until: dt.date

    @property
    def type_label(self) -> str:
        return DOCUMENT_TYPES.get(self.document_type, self.document_type)


@dataclass(frozen=True)
class Overview:
    by_stage_and_tier: dict[tuple[str, str], int]
    gaps: list[Gap]
    reviews: list[DueReview]
    incidents: list[OpenIncident]
    changes: list[Change]
    expired: list[ExpiredEvidence] = ()  # type: ignore[assignment]

    @property
    def stages(self) -> tuple[str, ...]:
        return STAGES

    @property
    def tiers(self) -> tuple[str, ...]:
        return RISK_TIERS


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class _Assessed:
    """One listed system scored now, with what the dashboard reads from its records."""

    row: RegisterRow
    ready: bool
    missing: list[str]
    reviews: list[DueReview]
    incidents: list[OpenIncident]

    @property
    def gap(self) -> Gap:
        profile = self.row.profile
        return Gap(
            self.row.system.reference,
            profile.get("name", ""),
            profile.get("stage", ""),
            self.missing,
            risk_tier(profile),
        )


@dataclass(frozen=True)
class Assessed(_Assessed):
    """A system scored now in full: besides what the dashboard reads, its scorecard,
    records in force and documents held (what the reminders, registry.notifications,
    read)."""

    card: Scorecard
    records: list[Record]
    documents: tuple[Held, ...]


def _records_in_force(
    session: Session, ids: list[int], kinds: list[str] | None = None
) -> dict[int, list[Record]]:
    records: dict[int, list[Record]] = {}
    for entry, version in session.execute(in_force(ids, kinds=kinds)).all():
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
    return records


def open_incidents(reference: str, records: list[Record]) -> list[OpenIncident]:
    """The system's incidents still open, each with its Art 73 reporting deadline."""
    incidents = []
    for r in records:
        body = r.body
        if r.kind != "incident" or body.get("status") not in OPEN_INCIDENT:
            continue
        aware = _instant(body.get("became_aware_at")) or _instant(body["detected_at"])
        assert aware is not None
        incidents.append(
            OpenIncident(
                reference,
                r.entry_id,
                body.get("title", ""),
                body["status"],
                bool(body.get("serious")),
                aware,
                art_73_deadline(body),
                _instant(body.get("reported_at")),
            )
        )
    return incidents


def _assess(session: Session, rows: list[RegisterRow], now: dt.datetime) -> list[_Assessed]:
    """Each system of ``rows`` (in reference order) with its scorecard now, as the
    readiness projection keeps it (``projection.summaries``), and its open incidents."""
    ids = [r.system.id for r in rows]
    summaries = summaries_of(session, ids, now)
    incidents_of = _records_in_force(session, ids, kinds=["incident"])
    soon = now.date() + DUE_SOON
    assessed = []
    for row in sorted(rows, key=lambda r: r.system.reference):
        reference = row.system.reference
        summary = summaries[row.system.id]
        reviews = [
            DueReview(reference, d.entry_id, d.due_on, d.title)
            for d in summary.due
            if d.due_on <= soon
        ]
        incidents = open_incidents(reference, incidents_of.get(row.system.id, []))
        assessed.append(_Assessed(row, summary.ready, list(summary.unmet), reviews, incidents))
    return assessed


def assess(session: Session, rows: list[RegisterRow], now: dt.datetime) -> list[Assessed]:
    """Score each system of ``rows`` (in reference order) in full on its entries in force
    and documents held now (the reminders' scan; the dashboard reads the projection)."""
    ids = [r.system.id for r in rows]
    records = _records_in_force(session, ids)
    documents = received_by_systems(session, ids, now)
    soon = now.date() + DUE_SOON
    assessed = []
    for row in sorted(rows, key=lambda r: r.system.reference):
        reference = row.system.reference
        mine = records.get(row.system.id, [])
        held = tuple(Held.of(d) for d in documents.get(row.system.id, []))
        card = score(reference, mine, now, documents=held)
        reviews = [
            DueReview(reference, d.subject.entry_id, d.due_on, d.title)
            for d in card.due
            if d.due_on <= soon
        ]
        assessed.append(
            Assessed(
                row,
                card.ready,
                [a.title for a in card.unmet()],
                reviews,
                open_incidents(reference, mine),
                card,
                mine,
                held,
            )
        )
    return assessed


def _not_retired(rows: list[RegisterRow]) -> list[RegisterRow]:
    return [r for r in rows if r.profile.get("stage") != "retired"]


def not_ready(session: Session, now: dt.datetime) -> list[Gap]:
    """Every listed system not retired and not ready now, most in need of attention
    first (:func:`attention_rank`): the dashboard's list and the systems list's filter."""
    assessed = _assess(session, _not_retired(register(session)), now)
    return sorted((a.gap for a in assessed if not a.ready), key=lambda g: g.rank)


def overview(session: Session, now: dt.datetime, *, recent: int = 15) -> Overview:
    """The register as it stands now: systems by stage and risk tier, systems not
    retired that are not ready (the readiness areas they miss, ranked by
    :func:`attention_rank`), reviews due within 30 days or overdue, open incidents with
    their Art 73 deadline, and the most recent changes."""
    listed = register(session, with_retired=True)
    # A system retired from the register counts as retired, as in count_systems.
    counts: Counter[tuple[str, str]] = Counter(
        ("retired" if r.retired else r.profile.get("stage", ""), risk_tier(r.profile))
        for r in listed
    )
    assessed = _assess(session, _not_retired([r for r in listed if not r.retired]), now)
    gaps = sorted((a.gap for a in assessed if not a.ready), key=lambda g: g.rank)
    reviews = [d for a in assessed for d in a.reviews]
    incidents = [i for a in assessed for i in a.incidents]
    reviews.sort(key=lambda r: (r.next_due, r.reference))
    incidents.sort(key=lambda i: (i.deadline is None, i.deadline or i.aware_at, i.reference))
    references = {r.system.id: r.system.reference for r in listed}
    expired = [
        ExpiredEvidence(references[d.system_id], d.sha256, d.name, d.document_type, d.valid_until)
        for d in expired_documents(session, now.date())
        if d.system_id in references and d.valid_until is not None
    ]
    return Overview(
        dict(counts), gaps, reviews, incidents, recent_changes(session, recent), expired
    )


@dataclass(frozen=True)
class OwnedSystem:
    """A system whose live owner entries name a person, with what needs their attention."""

    reference: str
    name: str
    stage: str
    risk_tier: str
    roles: list[str]
    ready: bool
    missing: list[str]
    reviews: list[DueReview]
    incidents: list[OpenIncident]


def owned_systems(session: Session, actor: Actor, now: dt.datetime) -> list[OwnedSystem]:
    """The listed systems whose live owner entries name ``actor`` today, in any owner
    role (by the permissions' rule, ``roles_named``: user id or e-mail, within the
    entry's term); those not ready first, in the dashboard's order, then by reference."""
    bodies: dict[int, list[str]] = {}
    for entry, version in session.execute(in_force(None, kinds=["owner"])).all():
        bodies.setdefault(entry.system_id, []).append(version.body)
    roles = {sid: roles_named(actor, found) for sid, found in bodies.items()}
    rows = [r for r in register(session) if roles.get(r.system.id)]
    owned = []
    for a in _assess(session, rows, now):
        gap = a.gap
        owned.append(
            OwnedSystem(
                gap.reference,
                gap.name,
                gap.stage,
                gap.risk_tier,
                sorted(roles[a.row.system.id]),
                a.ready,
                a.missing,
                a.reviews,
                a.incidents,
            )
        )
    owned.sort(
        key=lambda o: (
            o.ready,
            attention_rank(o.stage, o.risk_tier, len(o.missing), o.reference),
        )
    )
    return owned


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
