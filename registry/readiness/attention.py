"""What needs attention in one system, from its records in force: pure rules the
readiness projection applies when it evaluates a system and the dashboard, "My systems"
and the reminders read (the order of systems not ready, open incidents with their Art 73
deadline, reviews due soon, expired evidence)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from registry.documents.models import DOCUMENT_TYPES
from registry.readiness.model import Record
from registry.records.kinds import RISK_TIERS, art_73_deadline

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

    @property
    def order(self) -> tuple[bool, dt.datetime, str]:
        """The dashboard's order: the nearest reporting deadline first, then those
        without one by when the organisation became aware."""
        return (self.deadline is None, self.deadline or self.aware_at, self.reference)


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


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


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
