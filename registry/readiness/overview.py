"""What needs attention across the register: the dashboard's figures and "My systems",
read from the readiness projection (``readiness.projection``), which holds per system
what the scorecard and the rules of ``readiness.attention`` said when it was evaluated:
counts and the first rows of each list are read in SQL over its columns, so a page
costs the same at any size of register. Which systems name a person as owner is the
permissions' rule (``roles_named``), over the candidates the owner index finds."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.permissions import actor_keys
from registry.documents.service import received_by_systems
from registry.readiness.attention import (
    DUE_SOON,
    DueReview,
    ExpiredEvidence,
    OpenIncident,
    attention_rank,
    open_incidents,
)
from registry.readiness.model import Held, Record, Scorecard
from registry.readiness.projection import (
    EQ,
    NE,
    OWNED,
    OWNED_ORDER,
    SUMMED,
    TALLIED,
    Current,
    Where,
    current,
)
from registry.readiness.scorecard import records_in_force, score
from registry.records.kinds import RISK_TIERS, STAGES, risk_tier
from registry.records.reads import Change, RegisterRow, recent_changes
from registry.records.search import Ranking, listed_stage

__all__ = [
    "DueReview",
    "ExpiredEvidence",
    "attention",
    "OpenIncident",
    "attention_rank",
    "describe",
    "not_ready",
    "overview",
    "recency",
    "owned_systems",
]

SHOWN = 50  # the rows of each of the dashboard's lists, and of a page of "My systems"

# The lists' conditions and orders, over the projection's columns: each list's rows
# are those whose first item is set, read in the order of an index.
NOT_READY = (("active", EQ, True), ("ready", EQ, False))
GAP_ORDER = (
    ("tier_rank", False),
    ("stage_rank", False),
    ("unmet_count", True),
    ("reference", False),
)
DUE = (("active", EQ, True), ("first_due", NE, None))
DUE_ORDER = (("first_due", False), ("reference", False))
INCIDENTS = (("active", EQ, True), ("incident_at", NE, None))
INCIDENT_ORDER = (("incident_undated", False), ("incident_at", False), ("reference", False))
EXPIRED = (("listed", EQ, True), ("expired_first", NE, None))
EXPIRED_ORDER = (("expired_first", False), ("reference", False))


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

    @classmethod
    def of(cls, row: dict[str, Any]) -> Gap:
        return cls(
            row["reference"], row["name"], row["stage"], json.loads(row["unmet"]), row["risk_tier"]
        )


@dataclass(frozen=True)
class Overview:
    by_stage_and_tier: dict[tuple[str, str], int]
    gaps: list[Gap]  # the first SHOWN of each list; its count beside it
    reviews: list[DueReview]
    incidents: list[OpenIncident]
    changes: list[Change]
    expired: list[ExpiredEvidence]
    gap_count: int
    review_count: int
    incident_count: int
    expired_count: int

    @property
    def stages(self) -> tuple[str, ...]:
        return STAGES

    @property
    def tiers(self) -> tuple[str, ...]:
        return RISK_TIERS


def _reviews(row: dict[str, Any], soon: dt.date) -> list[DueReview]:
    return [
        DueReview(row["reference"], e, due, t)
        for e, d, t, _overdue in json.loads(row["due"])
        if (due := dt.date.fromisoformat(d)) <= soon
    ]


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _incidents(row: dict[str, Any]) -> list[OpenIncident]:
    return [
        OpenIncident(row["reference"], e, t, s, serious, _time(a), _time(d), _time(r))  # type: ignore[arg-type]
        for e, t, s, serious, a, d, r in json.loads(row["incidents"])
    ]


def _expired(row: dict[str, Any]) -> list[ExpiredEvidence]:
    return [
        ExpiredEvidence(row["reference"], h, n, k, dt.date.fromisoformat(v))
        for h, n, k, v in json.loads(row["expired"])
    ]


GAP_COLUMNS = ("reference", "name", "stage", "unmet", "risk_tier")


def _gaps(session: Session, view: Current, limit: int | None) -> list[Gap]:
    rows = view.rows(session, NOT_READY, GAP_ORDER, limit, columns=GAP_COLUMNS)
    return [Gap.of(r) for r in rows]


def attention(session: Session, now: dt.datetime) -> Ranking:
    """The listed systems not retired and not ready now as a ranking the systems list
    joins in SQL (``records.search.ordered_systems``): the projection's rows, most in
    need of attention first (:func:`attention_rank`'s terms, as :func:`not_ready`), so
    that a page of the list reads its rows from the projection's index, not every
    system not ready."""
    view = current(session, now)
    rows = view.subquery(session, NOT_READY, [c for c, _down in GAP_ORDER])
    return Ranking(rows, GAP_ORDER)


# Every system by its last event, newest first (seq and time grow together in the ledger).
RECENCY = (("system_seq", True),)


def recency(session: Session, now: dt.datetime) -> Ranking:
    """Every system by its last change, newest first, as a ranking the systems list
    joins in SQL (``records.search.ordered_systems``, the "last change" order): the
    projection's rows hold their system's last event (``system_seq``, indexed), and
    the rows this read evaluated (a system changed since the cursor) the events after
    it; so a page reads its systems from the index, not each system's last event."""
    view = current(session, now)
    rows = view.subquery(session, (), [c for c, _down in RECENCY], "recency")
    return Ranking(rows, RECENCY)


def not_ready(session: Session, now: dt.datetime) -> list[Gap]:
    """Every listed system not retired and not ready now, most in need of attention
    first (:func:`attention_rank`): the systems list's filter."""
    return _gaps(session, current(session, now), None)


def overview(
    session: Session, now: dt.datetime, *, recent: int = 15, shown: int = SHOWN
) -> Overview:
    """The register as it stands now: systems by stage and risk tier, systems not
    retired that are not ready (the readiness areas they miss, ranked by
    :func:`attention_rank`), reviews due within 30 days or overdue, open incidents with
    their Art 73 deadline, expired evidence: of each list the first ``shown`` and how
    many; and the most recent changes."""
    view = current(session, now)
    tally = view.tally(session, TALLIED, SUMMED)

    def total(where: Where, what: str) -> int:
        """The sum of ``what`` over the rows matching ``where``'s terms on TALLIED
        (a term on a summed column only drops rows adding nothing)."""
        return sum(
            counts[what]
            for key, counts in tally.items()
            for named in (dict(zip(TALLIED, key, strict=True)),)
            if all(compare(named[c], v) for c, compare, v in where if c in named)
        )

    soon = now.date() + DUE_SOON
    # A list's first items lie among the systems whose first item comes first.
    reviews = [
        r
        for row in view.rows(session, DUE, DUE_ORDER, shown, columns=("due",))
        for r in _reviews(row, soon)
    ]
    reviews.sort(key=lambda r: (r.next_due, r.reference))
    incidents = [
        i
        for row in view.rows(session, INCIDENTS, INCIDENT_ORDER, shown, columns=("incidents",))
        for i in _incidents(row)
    ]
    incidents.sort(key=lambda i: i.order)
    expired = [
        d
        for row in view.rows(session, EXPIRED, EXPIRED_ORDER, shown, columns=("expired",))
        for d in _expired(row)
    ]
    expired.sort(key=lambda d: (d.valid_until, d.reference))
    return Overview(
        _by_stage_and_tier(session, view),
        _gaps(session, view, shown),
        reviews[:shown],
        incidents[:shown],
        recent_changes(session, recent),
        expired[:shown],
        total(NOT_READY, "rows"),
        total(DUE, "due_soon"),
        total(INCIDENTS, "incident_count"),
        total(EXPIRED, "expired_count"),
    )


def _by_stage_and_tier(session: Session, view: Current) -> dict[tuple[str, str], int]:
    """How many listed systems there are by stage and risk tier, each counted once, by
    the stage the systems list filters by (``search.listed_stage``: a system retired
    from the register under ``retired``), over the projection's rows current at the
    read (stored, and those the read evaluated)."""
    rows = view.subquery(
        session, (("listed", EQ, True),), ("retired", "stage", "risk_tier"), "listed"
    )
    listed = listed_stage(rows.c.stage, rows.c.retired)
    counted = sa.select(listed, rows.c.risk_tier, sa.func.count()).group_by(
        listed, rows.c.risk_tier
    )
    return {(stage, tier): int(n) for stage, tier, n in session.execute(counted)}


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


@dataclass(frozen=True)
class OwnedPage:
    """A page of "My systems": its systems, how many there are, which page of how many."""

    systems: list[OwnedSystem]
    total: int
    page: int
    pages: int


OWNED_COLUMNS = ("name", "stage", "risk_tier", "unmet", "due", "incidents")


def owned_systems(
    session: Session, actor: Actor, now: dt.datetime, *, page: int = 1, per_page: int = SHOWN
) -> OwnedPage:
    """The listed systems not retired whose live owner entries name ``actor`` today, in
    any owner role (by the permissions' rule, ``named_by``, as ``roles_named`` applies
    it: user id or e-mail, within the entry's term; read from the projection's owner
    index); those not ready first, in the dashboard's order, then by reference
    (``projection.OWNED``, ``OWNED_ORDER``, which the owner index holds in order); the
    page ``page`` of ``per_page`` (the last when beyond it)."""
    keys = actor_keys(actor)
    if not keys:
        return OwnedPage([], 0, 1, 1)
    view = current(session, now)
    total = view.count(session, OWNED, naming=keys)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = view.rows(
        session, OWNED, OWNED_ORDER, page * per_page, columns=OWNED_COLUMNS, naming=keys
    )
    rows = rows[(page - 1) * per_page :]
    roles = view.roles(session, keys, [r["system_id"] for r in rows])
    soon = now.date() + DUE_SOON
    systems = [
        OwnedSystem(
            row["reference"],
            row["name"],
            row["stage"],
            row["risk_tier"],
            sorted(roles.get(row["system_id"], ())),
            bool(row["ready"]),
            json.loads(row["unmet"]),
            _reviews(row, soon),
            _incidents(row),
        )
        for row in rows
    ]
    return OwnedPage(systems, total, page, pages)


@dataclass(frozen=True)
class Assessed:
    """A system scored now in full: what the dashboard reads, its scorecard, records in
    force and documents held (what the reminders, registry.notifications, read)."""

    row: RegisterRow
    ready: bool
    missing: list[str]
    reviews: list[DueReview]
    incidents: list[OpenIncident]
    card: Scorecard
    records: list[Record]
    documents: tuple[Held, ...]

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


def assess(session: Session, rows: list[RegisterRow], now: dt.datetime) -> list[Assessed]:
    """Score each system of ``rows`` (in reference order) in full on its entries in force
    and documents held now (the reminders' scan; the dashboard reads the projection)."""
    ids = [r.system.id for r in rows]
    records = records_in_force(session, ids)
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
