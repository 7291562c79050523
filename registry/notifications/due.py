"""What falls due, computed from the records as of an instant (no clock inside).

Each due item has an identity (``key``) that names what is due and when, so a reminder
is queued once per item and recipient and channel (the outbox's unique key); a new due
date (a review performed, a waiver renewed) is a new item. The dates are the readiness
rules' own: readiness and reviews from the scorecard (``readiness.reviews``), read from
the readiness projection where it is current (:func:`due_items`; a full evaluation of
every system in :func:`due_items_evaluated` gives the same), Art 73 deadlines from
``records.kinds.art_73_deadline`` through the dashboard's open incidents, waivers in
force from ``readiness.scorecard``, approvals from ``approval_status``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from registry.documents.service import received_by_systems
from registry.readiness.criteria import AREAS
from registry.readiness.model import Held, Record
from registry.readiness.overview import OpenIncident, assess, describe, open_incidents
from registry.readiness.projection import Summary
from registry.readiness.projection import summaries as summaries_of
from registry.readiness.scorecard import RECORD_COLUMNS, approval_status, waivers_in_force
from registry.records.reads import RegisterRow, in_force, register

# The kinds of due item, with how people read them (preferences are per kind).
KINDS = {
    "review_due": "Review due soon",
    "review_overdue": "Review overdue",
    "recertification": "Access recertification due",
    "waiver_expiring": "Waiver expiring",
    "document_expiring": "Document expiring",
    "incident_deadline": "Art 73 report due",
    "approval_stale": "Approval gone stale",
    "readiness_lost": "Production system no longer ready",
}
# The records the due items read besides the scorecard (approvals: which systems hold
# one, whose records are then read in full).
READ_KINDS = ("access_grant", "waiver", "incident", "approval")
# A readiness area's key by its title (the projection keeps the titles of those unmet).
AREA_KEYS = {area.title: area.key for area in AREAS}
# How far ahead a reminder is sent before a date falls due.
AHEAD = dt.timedelta(days=14)
# The kinds due as of the instant asked about (their due_at is that instant).
AT_ONCE = frozenset({"approval_stale", "readiness_lost"})


def said(kind: str, due_at: dt.datetime, now: dt.datetime) -> str | None:
    """The detail of an item whose words follow the clock, as of ``now`` (None: the
    kind's detail does not)."""
    if kind == "review_overdue":
        due_on = due_at.astimezone(dt.UTC).date()
        days = (now.date() - due_on).days
        return f"Was due on {due_on} ({days} day{'s' if days != 1 else ''} ago)."
    if kind == "waiver_expiring":
        return f"Expires in {describe(due_at - now)}."
    if kind == "incident_deadline":
        left = due_at - now
        when = (
            f"{describe(left)} left" if left.total_seconds() > 0 else f"overdue by {describe(left)}"
        )
        return f"Art 73 report due {due_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC ({when})."
    return None


@dataclass(frozen=True)
class DueItem:
    """One thing that falls due (or is overdue) for a system."""

    kind: str
    key: str
    system_id: int
    reference: str
    system_name: str
    title: str
    due_at: dt.datetime
    detail: str
    entry_id: int | None = None

    @property
    def label(self) -> str:
        return KINDS[self.kind]

    def as_of(self, now: dt.datetime) -> DueItem:
        """The item as read at ``now``: what it is (found at another instant whose
        answer is the same, as the kept list's are) with the words and the instant
        that follow the clock."""
        if self.kind in AT_ONCE:
            return replace(self, due_at=now)
        detail = said(self.kind, self.due_at, now)
        return self if detail is None else replace(self, detail=detail)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "system": self.reference,
            "system_name": self.system_name,
            "entry_id": self.entry_id,
            "title": self.title,
            "due_at": self.due_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "detail": self.detail,
        }


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class _Facts:
    """What a system's due items are computed from: its listed profile, its scorecard
    summary (the readiness projection's, or a scorecard's), the records in force of the
    kinds the items read (every record when it has an approval: whether it went stale
    compares them all), its documents held and its open incidents."""

    row: RegisterRow
    profile: dict[str, Any]
    summary: Summary
    records: list[Record]
    documents: tuple[Held, ...]
    incidents: list[OpenIncident]


def _items_of(session: Session, f: _Facts, now: dt.datetime, ahead: dt.timedelta) -> list[DueItem]:
    reference = f.row.system.reference
    system_id = f.row.system.id
    profile = f.profile
    name = profile.get("name", reference)
    today = now.date()
    horizon = today + ahead
    found: list[DueItem] = []

    def add(
        kind: str,
        identity: str,
        title: str,
        due_at: dt.datetime | None,
        detail: str | None,
        entry: int | None,
    ) -> None:
        """An item; its detail None: the words that follow the clock (:func:`said`); a
        kind due at once (``AT_ONCE``) is due at ``now``, and given no ``due_at``."""
        if kind in AT_ONCE:
            due_at = now
        assert due_at is not None
        words = said(kind, due_at, now) if detail is None else detail
        assert words is not None
        key = f"{kind}:{system_id}:{identity}"
        found.append(DueItem(kind, key, system_id, reference, name, title, due_at, words, entry))

    for due in f.summary.due:
        entry = due.entry_id
        if due.overdue:
            on = _midnight(due.due_on)
            add("review_overdue", f"{entry}:{due.due_on}", due.title, on, None, entry)
        elif due.due_on <= horizon:
            add(
                "review_due",
                f"{entry}:{due.due_on}",
                due.title,
                _midnight(due.due_on),
                f"Due on {due.due_on}.",
                entry,
            )
    for r in f.records:
        if r.kind == "access_grant":
            revoked = _instant(r.body.get("revoked_at"))
            day = r.body.get("next_recertification")
            if day and (revoked is None or revoked > now):
                on = dt.date.fromisoformat(day)
                if on <= horizon:
                    add(
                        "recertification",
                        f"{r.entry_id}:{on}",
                        f"Recertify access of {r.body.get('principal', '')}",
                        _midnight(on),
                        f"Next recertification on {on}.",
                        r.entry_id,
                    )
    for waiver in waivers_in_force(f.records, now).values():
        expires = _instant(waiver.body["expires_at"])
        assert expires is not None
        if expires.date() <= horizon:
            area = str(waiver.body.get("area", "")).replace("_", " ")
            add(
                "waiver_expiring",
                f"{waiver.entry_id}:{waiver.version}",
                f"Waiver for {area} expires",
                expires,
                None,
                waiver.entry_id,
            )
    for held in f.documents:
        if held.valid_until is not None and today <= held.valid_until <= horizon:
            add(
                "document_expiring",
                f"{held.sha256}:{held.valid_until}",
                f"{held.name} expires",
                _midnight(held.valid_until + dt.timedelta(days=1)),
                f"In force until {held.valid_until}.",
                None,
            )
    for incident in f.incidents:
        if incident.deadline is None or incident.reported_at is not None:
            continue
        add(
            "incident_deadline",
            f"{incident.entry_id}:{incident.deadline.isoformat()}",
            f"Report serious incident: {incident.title}",
            incident.deadline,
            None,
            incident.entry_id,
        )
    if any(r.kind == "approval" for r in f.records):
        status = approval_status(session, f.records, now)
        if status.status == "stale" and status.approval is not None:
            approval: Record = status.approval
            add(
                "approval_stale",
                f"{approval.entry_id}:{approval.version}",
                "Promotion approval gone stale",
                None,
                f"{len(status.changed)} entr{'y' if len(status.changed) == 1 else 'ies'} "
                "changed since the approval.",
                approval.entry_id,
            )
    # A system mirroring another register's stage is not held to the promotion gate
    # (readiness.gate), so its readiness is not news.
    summary = f.summary
    if profile.get("stage") == "production" and not summary.ready:
        if not profile.get("mirrors_register"):
            unmet = sorted(AREA_KEYS[title] for title in summary.unmet)
            add(
                "readiness_lost",
                ",".join(unmet),
                "In production but not ready",
                None,
                "Not met: " + "; ".join(summary.unmet) + ".",
                f.row.entry_id,
            )
    return found


def _listed(
    session: Session, system_ids: Collection[int] | None
) -> list[tuple[RegisterRow, dict[str, Any]]]:
    """The listed systems not retired (those of ``system_ids``), in reference order, each
    with its profile."""
    rows = []
    for r in register(session):
        if system_ids is None or r.system.id in system_ids:
            profile = r.profile
            if profile.get("stage") != "retired":
                rows.append((r, profile))
    rows.sort(key=lambda r: r[0].system.reference)
    return rows


def _sorted(items: list[DueItem]) -> list[DueItem]:
    items.sort(key=lambda i: (i.due_at, i.reference, i.key))
    return items


def due_items(
    session: Session,
    now: dt.datetime,
    *,
    ahead: dt.timedelta = AHEAD,
    system_ids: Collection[int] | None = None,
) -> list[DueItem]:
    """Everything due within ``ahead`` of ``now`` or overdue, for every listed system not
    retired (or those of ``system_ids``), soonest first.

    Readiness and reviews due come from the readiness projection (``projection.summaries``:
    the stored scorecard summary of each system whose records have not changed and whose
    scorecard cannot have moved since, the others scored now and kept); of the records,
    only the kinds the other items read are fetched, in one query, with every record of
    the few systems that hold an approval. The same items as :func:`due_items_evaluated`.
    """
    return due_items_until(session, now, ahead=ahead, system_ids=system_ids)[0]


def due_items_until(
    session: Session,
    now: dt.datetime,
    *,
    ahead: dt.timedelta = AHEAD,
    system_ids: Collection[int] | None = None,
) -> tuple[list[DueItem], dict[int, dt.datetime]]:
    """:func:`due_items`, and for each system listed the instant before which its items
    stay the same (read at another instant by :meth:`DueItem.as_of`) unless it has a
    new event: its readiness projection row's ``stable_until``, which bounds every
    instant its records hold, the next version taking effect and the next midnight
    UTC (the day every other date is read by)."""
    rows = _listed(session, system_ids)
    ids = [r.system.id for r, _profile in rows]
    summaries = summaries_of(session, ids, now)
    # Every system's records when all are asked for (no list of ids in the query).
    wanted = set(ids)
    scope = None if system_ids is None else ids
    records: dict[int, list[Record]] = defaultdict(list)
    read = in_force(scope, kinds=READ_KINDS).with_only_columns(*RECORD_COLUMNS)
    for found in session.execute(read):
        if found.system_id in wanted:
            records[found.system_id].append(Record.of_columns(found))
    approved = sorted(s for s, found in records.items() if any(r.kind == "approval" for r in found))
    if approved:
        for system_id in approved:
            records[system_id] = []
        every = in_force(approved).with_only_columns(*RECORD_COLUMNS)
        for found in session.execute(every):
            records[found.system_id].append(Record.of_columns(found))
    documents = received_by_systems(session, ids, now)
    items = []
    for row, profile in rows:
        system_id = row.system.id
        mine = records.get(system_id, [])
        facts = _Facts(
            row,
            profile,
            summaries[system_id],
            mine,
            tuple(Held.of(d) for d in documents.get(system_id, [])),
            open_incidents(row.system.reference, [r for r in mine if r.kind == "incident"]),
        )
        items.extend(_items_of(session, facts, now, ahead))
    bounds = {i: s.until or next_midnight(now) for i, s in summaries.items()}
    return _sorted(items), bounds


def next_midnight(now: dt.datetime) -> dt.datetime:
    return _midnight(now.astimezone(dt.UTC).date() + dt.timedelta(days=1))


def due_items_evaluated(
    session: Session,
    now: dt.datetime,
    *,
    ahead: dt.timedelta = AHEAD,
    system_ids: Collection[int] | None = None,
) -> list[DueItem]:
    """As :func:`due_items`, every system scored in full on all its records in force
    and documents held (``readiness.overview.assess``), with no projection: the
    reference the scan is tested and measured against."""
    items = []
    listed = _listed(session, system_ids)
    profiles = {row.system.id: profile for row, profile in listed}
    for a in assess(session, [row for row, _profile in listed], now):
        summary = Summary.of(a.row.system.id, a.card)
        facts = _Facts(
            a.row, profiles[a.row.system.id], summary, a.records, a.documents, a.incidents
        )
        items.extend(_items_of(session, facts, now, ahead))
    return _sorted(items)
