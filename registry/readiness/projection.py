"""The readiness projection: each system's scorecard summary, kept so that the lists
reading it (the dashboard, "My systems", the systems list's attention filter) do not
score every system on every request.

It stores results of the one evaluation (:func:`scorecard.score` over the records in
force, as :func:`scorecard.evaluate` reads them), never a rule of its own, and is never
part of the ledger: ``registry readiness rebuild`` makes it again from the records.

A stored row is current while two things hold:

- the system's last event is still the one it was evaluated on (``system_seq``): every
  change to a system's records, documents and promotions is an event naming the system;
- the instant asked about lies in ``[evaluated_at, stable_until)``: a scorecard also
  moves with time alone (a waiver expires, a review falls due). ``stable_until`` is an
  early bound of the first instant at which the answer may change: the next midnight
  UTC (every day-granular rule: terms, due dates, documents' last days), the next
  version taking effect, and every instant written in the records' bodies (with the
  Art 73 deadlines after each), whichever comes first. An earlier bound only costs an
  evaluation; it is never a wrong answer.

Reads (:func:`summaries`) take current rows as they are, evaluate the others in bulk
with the same code, and hand the new results to the session's :class:`Projector` (when
the app gave it one), which stores them in a short transaction of its own: the
projection is computed once per change of a system and cached by its last event.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.db import Base
from registry.documents.service import received_by_systems
from registry.ledger.models import AuditEvent
from registry.readiness.model import Held, Record, Scorecard
from registry.readiness.scorecard import score
from registry.records.kinds import ART_73_DAYS
from registry.records.models import AISystem, Entry, EntryVersion
from registry.records.reads import in_force

INFO_KEY = "readiness.projector"
# How many systems one bulk evaluation reads at a time (bounds memory on a rebuild).
CHUNK = 500


class ReadinessProjection(Base):
    """One system's scorecard summary as evaluated at ``evaluated_at`` on the records
    up to its event ``system_seq``; current until ``stable_until`` (module docstring)."""

    __tablename__ = "readiness_projection"

    system_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ai_system.id", ondelete="RESTRICT"), primary_key=True
    )
    system_seq: Mapped[int] = mapped_column(sa.BigInteger)
    evaluated_at: Mapped[dt.datetime]
    stable_until: Mapped[dt.datetime]
    ready: Mapped[bool]
    # JSON: the titles of the areas not met nor waived, in the areas' order.
    unmet: Mapped[str] = mapped_column(sa.Text)
    # JSON: the reviews that fall due, [[entry_id, "YYYY-MM-DD", title, overdue], ...].
    due: Mapped[str] = mapped_column(sa.Text)


@dataclass(frozen=True)
class DueSummary:
    entry_id: int
    due_on: dt.date
    title: str
    overdue: bool


@dataclass(frozen=True)
class Summary:
    """What the lists read of a system's scorecard."""

    system_id: int
    ready: bool
    unmet: tuple[str, ...]
    due: tuple[DueSummary, ...]

    @classmethod
    def of(cls, system_id: int, card: Scorecard) -> Summary:
        return cls(
            system_id,
            card.ready,
            tuple(a.title for a in card.unmet()),
            tuple(DueSummary(d.subject.entry_id, d.due_on, d.title, d.overdue) for d in card.due),
        )

    @classmethod
    def of_row(cls, row: Any, system_id: int | None = None) -> Summary:
        """From a stored row (or the columns :func:`summaries` reads of it)."""
        return cls(
            row.system_id if system_id is None else system_id,
            bool(row.ready),
            tuple(json.loads(row.unmet)),
            tuple(
                DueSummary(e, dt.date.fromisoformat(d), t, bool(o))
                for e, d, t, o in json.loads(row.due)
            ),
        )

    def values(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "unmet": json.dumps(list(self.unmet), ensure_ascii=False),
            "due": json.dumps(
                [[d.entry_id, d.due_on.isoformat(), d.title, d.overdue] for d in self.due],
                ensure_ascii=False,
            ),
        }


def _instants(value: Any) -> Iterator[dt.datetime]:
    """Every instant with a time zone written in a body (nested values included)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _instants(v)
    elif isinstance(value, list):
        for v in value:
            yield from _instants(v)
    elif isinstance(value, str) and len(value) > 10 and value[4:5] == "-" and "T" in value:
        try:
            found = dt.datetime.fromisoformat(value)
        except ValueError:
            return
        if found.tzinfo is not None:
            yield found


def stable_until(
    records: list[Record], at: dt.datetime, next_effective: dt.datetime | None
) -> dt.datetime:
    """An instant after ``at`` before which the scorecard of these records cannot
    change without a new event (module docstring): never later than the first
    instant at which it may."""
    at = at.astimezone(dt.UTC)
    bound = dt.datetime.combine(at.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    if next_effective is not None and next_effective > at:
        bound = min(bound, next_effective)
    offsets = [dt.timedelta(0)] + [dt.timedelta(days=d) for d in set(ART_73_DAYS.values())]
    for r in records:
        for instant in _instants(r.body):
            for offset in offsets:
                moment = instant + offset
                if at < moment < bound:
                    bound = moment
    return bound


def _last_events(system_ids: Collection[int] | None) -> sa.Select[Any]:
    """Each system's last event (from the index on (system_id, seq)) and its stored row;
    ``system_ids`` None: every system."""
    last = (
        sa.select(sa.func.max(AuditEvent.seq))
        .where(AuditEvent.system_id == AISystem.id)
        .scalar_subquery()
    )
    p = ReadinessProjection
    statement = sa.select(
        AISystem.id,
        AISystem.reference,
        last.label("last_seq"),
        p.system_id,  # None: no row stored
        p.system_seq,
        p.evaluated_at,
        p.stable_until,
        p.ready,
        p.unmet,
        p.due,
    ).outerjoin(p, p.system_id == AISystem.id)
    if system_ids is None:
        return statement.order_by(AISystem.id)
    return statement.where(AISystem.id.in_(sorted(system_ids)))


def evaluate_many(
    session: Session, systems: list[tuple[int, str, int]], now: dt.datetime
) -> list[tuple[Summary, dict[str, Any]]]:
    """Score each (id, reference, last seq) at ``now`` as ``scorecard.evaluate`` would
    (the records recorded by and in effect at ``now``, the documents held then), in
    bulk: each result with the projection row that stores it."""
    out: list[tuple[Summary, dict[str, Any]]] = []
    for start in range(0, len(systems), CHUNK):
        chunk = systems[start : start + CHUNK]
        ids = [s[0] for s in chunk]
        records: dict[int, list[Record]] = {}
        rows = session.execute(in_force(ids, as_of=now, effective_at=now)).all()
        for entry, version in rows:
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
        documents = received_by_systems(session, ids, now)
        upcoming = dict(
            session.execute(
                sa.select(Entry.system_id, sa.func.min(EntryVersion.effective_from))
                .join(EntryVersion, EntryVersion.entry_id == Entry.id)
                .where(
                    Entry.system_id.in_(ids),
                    EntryVersion.effective_from > now,
                    EntryVersion.recorded_at <= now,
                )
                .group_by(Entry.system_id)
            ).all()
        )
        for system_id, reference, last_seq in chunk:
            found = records.get(system_id, [])
            held = tuple(Held.of(d) for d in documents.get(system_id, []))
            summary = Summary.of(system_id, score(reference, found, now, documents=held))
            row = {
                "system_id": system_id,
                "system_seq": last_seq,
                "evaluated_at": now,
                "stable_until": stable_until(found, now, upcoming.get(system_id)),
                **summary.values(),
            }
            out.append((summary, row))
    return out


def summaries(
    session: Session, system_ids: Collection[int], now: dt.datetime
) -> dict[int, Summary]:
    """The scorecard summary of each system at ``now``: the stored one where current,
    else evaluated now (and handed to the session's projector to store)."""
    if not system_ids:
        return {}
    found: dict[int, Summary] = {}
    stale: list[tuple[int, str, int]] = []
    for row in session.execute(_last_events(system_ids)).all():
        system_id, reference, last_seq = row[:3]
        if (
            row.system_id is not None
            and row.system_seq == last_seq
            and row.evaluated_at <= now < row.stable_until
        ):
            found[system_id] = Summary.of_row(row, system_id)
        else:
            stale.append((system_id, reference, last_seq or 0))
    if stale:
        evaluated = evaluate_many(session, stale, now)
        for summary, _row in evaluated:
            found[summary.system_id] = summary
        projector = session.info.get(INFO_KEY)
        if projector is not None:
            projector.keep([row for _summary, row in evaluated])
    return found


def upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store projection rows, each replacing the stored one unless that was evaluated
    on a later event of its system (another process got there first). Flushes only."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ReadinessProjection.__table__
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.system_id],
        set_={
            c: statement.excluded[c]
            for c in ("system_seq", "evaluated_at", "stable_until", "ready", "unmet", "due")
        },
        where=statement.excluded.system_seq >= table.c.system_seq,
    )
    session.execute(statement, rows)


def rebuild(session: Session, now: dt.datetime) -> int:
    """The projection made again from the records: every row removed, every system
    evaluated at ``now``. Flushes only; returns how many systems it holds."""
    session.execute(sa.delete(ReadinessProjection))
    systems = [
        (system_id, reference, last_seq or 0)
        for system_id, reference, last_seq, *_row in session.execute(_last_events(None)).all()
    ]
    for start in range(0, len(systems), CHUNK):
        evaluated = evaluate_many(session, systems[start : start + CHUNK], now)
        upsert(session, [row for _summary, row in evaluated])
    return len(systems)
