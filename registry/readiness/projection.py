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

Besides the summary, a row holds what the lists show of the system, each computed by
the Python rules when the system is evaluated (``readiness.attention``, the profile as
``reads.listed_profiles`` lists it, the owner entries in force): so the dashboard and "My
systems" read counts and their first rows in SQL over these columns, never a rule of
their own. ``readiness_owner`` indexes the rows by the keys owner entries name people
by (``permissions.person_keys``); which roles name a user stays ``roles_named``.

Reads take current rows as they are, evaluate the others in bulk with the same code,
and hand the new results to the session's :class:`Projector` (when the app gave it
one), which stores them in a short transaction of its own: the projection is computed
once per change of a system and cached by its last event. :func:`current` finds the
systems changed since the last read without looking at every system: the cursor
(``readiness_cursor``) is a ledger position up to which every system's row was
evaluated on its last event, so only the events after it are read.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.accounts.permissions import named_by
from registry.db import ANALYZE_AFTER, Base, advance_cursor, analyze, bytewise, json_table
from registry.documents.service import received_by_systems
from registry.ledger.models import AuditEvent
from registry.ledger.store import systems_changed
from registry.readiness.attention import DUE_SOON, attention_rank, open_incidents
from registry.readiness.model import Held, Record, Scorecard
from registry.readiness.scorecard import records_in_force, score
from registry.records.kinds import ART_73_DAYS, risk_tier
from registry.records.models import AISystem, Entry, EntryVersion
from registry.records.reads import listed_profiles

INFO_KEY = "readiness.projector"
# How many systems one bulk evaluation reads at a time (bounds memory on a rebuild).
CHUNK = 500
# Beyond this many systems changed since the cursor, a read evaluates every system
# rather than leave out so many stored rows by id.
MANY = 5_000
# How many system ids one statement names (SQLite allows 32,766 parameters).
IDS = 5_000


class ReadinessProjection(Base):
    """One system's scorecard summary as evaluated at ``evaluated_at`` on the records
    up to its event ``system_seq``; current until ``stable_until`` (module docstring),
    with what the lists show of it."""

    __tablename__ = "readiness_projection"

    system_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ai_system.id", ondelete="RESTRICT"), primary_key=True
    )
    # The system's last event (the systems list's order by last change reads it from
    # an index: ix_readiness_projection_recency, below).
    system_seq: Mapped[int] = mapped_column(sa.BigInteger)
    evaluated_at: Mapped[dt.datetime] = mapped_column(index=True)
    stable_until: Mapped[dt.datetime] = mapped_column(index=True)
    ready: Mapped[bool]
    # JSON: the titles of the areas not met nor waived, in the areas' order.
    unmet: Mapped[str] = mapped_column(sa.Text)
    # JSON: the reviews that fall due, [[entry_id, "YYYY-MM-DD", title, overdue], ...].
    due: Mapped[str] = mapped_column(sa.Text)
    # The profile as the register lists it (reads.listed_profiles): listed at all, its
    # profile retired (listed as retired), and in neither case nor at stage retired.
    listed: Mapped[bool]
    retired: Mapped[bool]
    active: Mapped[bool]
    reference: Mapped[str] = mapped_column(bytewise())  # the lists' order compares so
    name: Mapped[str] = mapped_column(sa.Text)
    stage: Mapped[str] = mapped_column(sa.Text)
    risk_tier: Mapped[str] = mapped_column(sa.Text)
    # attention.attention_rank's terms: the order of the systems not ready.
    tier_rank: Mapped[int]
    stage_rank: Mapped[int]
    unmet_count: Mapped[int]
    # The reviews due within attention.DUE_SOON of the day evaluated, and the first.
    due_soon: Mapped[int]
    first_due: Mapped[dt.date | None]
    # JSON: the open incidents in the dashboard's order, [[entry_id, title, status,
    # serious, aware_at, deadline, reported_at], ...]; the first's order terms.
    incidents: Mapped[str] = mapped_column(sa.Text)
    incident_count: Mapped[int]
    incident_undated: Mapped[bool | None]
    incident_at: Mapped[dt.datetime | None]
    # JSON: the documents held whose last day has passed, [[sha256, name, type,
    # "YYYY-MM-DD"], ...] the earliest first; how many, and the first's last day.
    expired: Mapped[str] = mapped_column(sa.Text)
    expired_count: Mapped[int]
    expired_first: Mapped[dt.date | None]
    # JSON: the bodies of the owner entries in force (what roles_named reads).
    owners: Mapped[str] = mapped_column(sa.Text)


# The lists' orders, so that each reads its first rows from an index (readiness.overview).
# By last change, newest first (``overview.recency``), with what tells whether a row is
# current (``Current``), so that a page of the systems list reads its first entries
# and no row (SQLite's planner drives the join from it only so).
sa.Index(
    "ix_readiness_projection_recency",
    ReadinessProjection.system_seq,
    ReadinessProjection.evaluated_at,
    ReadinessProjection.stable_until,
)
sa.Index(
    "ix_readiness_projection_attention",
    ReadinessProjection.active,
    ReadinessProjection.ready,
    ReadinessProjection.tier_rank,
    ReadinessProjection.stage_rank,
    ReadinessProjection.unmet_count.desc(),
    ReadinessProjection.reference,
)
# The dashboard's other lists, each in its order (readiness.overview: DUE_ORDER,
# INCIDENT_ORDER, EXPIRED_ORDER after their first condition).
sa.Index(
    "ix_readiness_projection_due",
    ReadinessProjection.active,
    ReadinessProjection.first_due,
    ReadinessProjection.reference,
)
sa.Index(
    "ix_readiness_projection_incidents",
    ReadinessProjection.active,
    ReadinessProjection.incident_undated,
    ReadinessProjection.incident_at,
    ReadinessProjection.reference,
)
sa.Index(
    "ix_readiness_projection_expired",
    ReadinessProjection.listed,
    ReadinessProjection.expired_first,
    ReadinessProjection.reference,
)
# The columns the lists' counts and the currency check read, so that they scan an index
# rather than the rows with their JSON (SQLite reads it as a covering index).
TALLY = (
    "stable_until",
    "evaluated_at",
    "listed",
    "retired",
    "stage",
    "risk_tier",
    "active",
    "ready",
    "due_soon",
    "incident_count",
    "expired_count",
    "system_id",
    "system_seq",
)
sa.Index("ix_readiness_projection_tally", *(ReadinessProjection.__table__.c[c] for c in TALLY))
# The dashboard's counts (Current.tally): the columns they are counted by, and those
# summed, in one scan of the projection.
TALLIED = ("listed", "retired", "stage", "risk_tier", "active", "ready")
SUMMED = ("due_soon", "incident_count", "expired_count")
# Read in the order of their groups with every column they read: SQLite counts them as
# it scans, instead of sorting every row first (a third of the time at 10,000 systems:
# bench/scale.py).
GROUPS = (*TALLIED, "evaluated_at", "stable_until", *SUMMED, "system_id")
sa.Index("ix_readiness_projection_groups", *(ReadinessProjection.__table__.c[c] for c in GROUPS))
sa.Index(
    "ix_readiness_projection_first_due",
    ReadinessProjection.first_due,
    ReadinessProjection.reference,
)
sa.Index(
    "ix_readiness_projection_incident",
    ReadinessProjection.incident_undated,
    ReadinessProjection.incident_at,
    ReadinessProjection.reference,
)
sa.Index(
    "ix_readiness_projection_expired_first",
    ReadinessProjection.expired_first,
    ReadinessProjection.reference,
)


# A condition on a column: (name, comparison, value), read alike in SQL and in Python.
Where = Sequence[tuple[str, Callable[[Any, Any], Any], Any]]
# An order: (name, descending) pairs.
Order = Sequence[tuple[str, bool]]
EQ, NE = operator.eq, operator.ne


# "My systems" (readiness.overview.owned_systems): the listed systems not retired, those
# not ready first, in the dashboard's order (attention.attention_rank's terms), then by
# reference. The owner index holds these columns of its row (OWNER_COPIES) and an index
# in this order, so that a page reads its first rows from the index and a count reads
# the index alone.
OWNED: Where = (("listed", EQ, True), ("retired", EQ, False))
OWNED_ORDER: Order = (
    ("ready", False),
    ("tier_rank", False),
    ("stage_rank", False),
    ("unmet_count", True),
    ("reference", False),
)
# What tells whether a row is current (``Current``), then what "My systems" filters and
# orders by: copied from the projection row into each of its owner index's rows.
OWNER_COPIES = tuple(
    dict.fromkeys(
        ["evaluated_at", "stable_until", *(c for c, _, _ in OWNED), *(c for c, _ in OWNED_ORDER)]
    )
)


class ReadinessOwner(Base):
    """Who a projection row's owner entries name, in which role, on the day it was
    evaluated (``permissions.named_by``, by the keys of ``permissions.person_keys``; a
    row is current only on that day), with the row's columns "My systems" filters and
    orders by (``OWNER_COPIES``, written with it): "My systems" reads its systems, their
    count and roles by index."""

    __tablename__ = "readiness_owner"

    person: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    system_id: Mapped[int] = mapped_column(
        sa.ForeignKey("readiness_projection.system_id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    role: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    # The projection row's (OWNER_COPIES).
    evaluated_at: Mapped[dt.datetime]
    stable_until: Mapped[dt.datetime]
    listed: Mapped[bool]
    retired: Mapped[bool]
    ready: Mapped[bool]
    tier_rank: Mapped[int]
    stage_rank: Mapped[int]
    unmet_count: Mapped[int]
    reference: Mapped[str] = mapped_column(bytewise())


# A person's systems in "My systems"' order, each once (its roles are rows next to one
# another), with what tells whether a row is current: a page reads its first entries,
# a count the entries alone.
_owner = ReadinessOwner.__table__.c
sa.Index(
    "ix_readiness_owner_owned",
    _owner.person,
    *(_owner[c] for c, _, _ in OWNED),
    *(_owner[c].desc() if down else _owner[c] for c, down in OWNED_ORDER),
    _owner.system_id,
    _owner.evaluated_at,
    _owner.stable_until,
)


def owner_index(row: dict[str, Any]) -> set[tuple[str, str]]:
    """(person key, role) of each person a row's owner entries name on the day it was
    evaluated: its owner index."""
    day = row["evaluated_at"].astimezone(dt.UTC).date()
    return {
        (person, str(body.get("role", "")))
        for body in json.loads(row["owners"])
        for person in named_by(body, day)
    }


class ReadinessCursor(Base):
    """The ledger position up to which every system's row was evaluated on its last
    event (one row, id 1): a read looks only at the events after it."""

    __tablename__ = "readiness_cursor"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)


COLUMNS = tuple(c.name for c in ReadinessProjection.__table__.columns if c.name != "system_id")


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
    # The projection row's ``stable_until`` (None: not from the projection): before it
    # nothing the system's records hold can change the answer without a new event.
    until: dt.datetime | None = field(default=None, compare=False)

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
            row.stable_until,
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


def _iso(instant: dt.datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def row_of(
    system: tuple[int, str, int],
    now: dt.datetime,
    records: list[Record],
    documents: tuple[Held, ...],
    profile: tuple[dict[str, Any], bool] | None,
    next_effective: dt.datetime | None,
) -> tuple[Summary, dict[str, Any]]:
    """A system (id, reference, last seq) scored at ``now`` on its records and documents
    in force, and its profile as listed ((body, retired); None: not listed): the summary
    and the projection row storing it with what the lists show."""
    system_id, reference, last_seq = system
    until = stable_until(records, now, next_effective)
    card = score(reference, records, now, documents=documents)
    summary = replace(Summary.of(system_id, card), until=until)
    body, retired = profile if profile is not None else ({}, False)
    stage, tier = body.get("stage", ""), risk_tier(body)
    tier_rank, stage_rank, _unmet, _reference = attention_rank(
        stage, tier, len(summary.unmet), reference
    )
    soon = [d.due_on for d in summary.due if d.due_on <= now.date() + DUE_SOON]
    incidents = sorted(open_incidents(reference, records), key=lambda i: i.order)
    expired = sorted(
        (d for d in documents if d.valid_until is not None and d.valid_until < now.date()),
        key=lambda d: (d.valid_until, d.received_at, d.sha256),
    )
    return summary, {
        "system_id": system_id,
        "system_seq": last_seq,
        "evaluated_at": now,
        "stable_until": until,
        **summary.values(),
        "listed": profile is not None,
        "retired": retired,
        "active": profile is not None and not retired and stage != "retired",
        "reference": reference,
        "name": str(body.get("name", "")),
        "stage": stage,
        "risk_tier": tier,
        "tier_rank": tier_rank,
        "stage_rank": stage_rank,
        "unmet_count": len(summary.unmet),
        "due_soon": len(soon),
        "first_due": min(soon, default=None),
        "incidents": json.dumps(
            [
                [
                    i.entry_id,
                    i.title,
                    i.status,
                    i.serious,
                    i.aware_at.isoformat(),
                    _iso(i.deadline),
                    _iso(i.reported_at),
                ]
                for i in incidents
            ],
            ensure_ascii=False,
        ),
        "incident_count": len(incidents),
        "incident_undated": incidents[0].deadline is None if incidents else None,
        "incident_at": incidents[0].order[1] if incidents else None,
        "expired": json.dumps(
            [[d.sha256, d.name, d.document_type, d.valid_until.isoformat()] for d in expired],
            ensure_ascii=False,
        ),
        "expired_count": len(expired),
        "expired_first": expired[0].valid_until if expired else None,
        "owners": json.dumps(
            [r.body for r in records if r.kind == "owner"], ensure_ascii=False, sort_keys=True
        ),
    }


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
    bulk: each result with the projection row that stores it (:func:`row_of`)."""
    out: list[tuple[Summary, dict[str, Any]]] = []
    for start in range(0, len(systems), CHUNK):
        chunk = systems[start : start + CHUNK]
        ids = [s[0] for s in chunk]
        records = records_in_force(session, ids, as_of=now, effective_at=now)
        documents = received_by_systems(session, ids, now)
        listed = listed_profiles(as_of=now, effective_at=now, system_ids=ids)
        profiles = {
            system_id: (json.loads(body), bool(retired))
            for system_id, body, retired in session.execute(
                listed.with_only_columns(
                    Entry.system_id, EntryVersion.body, listed.selected_columns.retired_in_force
                )
            )
        }
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
        for system in chunk:
            system_id = system[0]
            out.append(
                row_of(
                    system,
                    now,
                    records.get(system_id, []),
                    tuple(Held.of(d) for d in documents.get(system_id, [])),
                    profiles.get(system_id),
                    upcoming.get(system_id),
                )
            )
    return out


def _keep(session: Session, rows: list[dict[str, Any]], cursor: int | None = None) -> None:
    projector = session.info.get(INFO_KEY)
    if projector is not None and (rows or cursor is not None):
        projector.keep(rows, cursor)


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
        _keep(session, [row for _summary, row in evaluated])
    return found


@dataclass(frozen=True)
class Current:
    """The projection as current at ``now`` for one read: the stored rows still current
    (read in SQL) and the rows this read evaluated (``fresh``: stored by the projector
    beside the read, so not visible to it). The two never hold the same system."""

    now: dt.datetime
    fresh: dict[int, dict[str, Any]]
    # The systems this read evaluated again (an event or the time made their stored
    # rows stale): their stored rows are not read, even once the projector has stored
    # the fresh ones (a later statement of the read may see them on PostgreSQL).
    replaced: tuple[int, ...]
    stored: bool = True  # False: every system was evaluated by this read

    def _where(
        self, session: Session, where: Where, table: sa.Table = ReadinessProjection.__table__
    ) -> list[Any]:
        """The stored rows current at ``now`` matching ``where``: of the projection, or
        of the owner index (``table``), whose rows hold the columns this reads."""
        if not self.stored:
            return [sa.false()]
        c = table.c
        conditions = [c.evaluated_at <= self.now, c.stable_until > self.now]
        if self.replaced:  # as one parameter, however many
            ids = json_table(session, [{"id": i} for i in self.replaced], [("id", sa.Integer)])
            conditions.append(c.system_id.not_in(sa.select(ids.c.id)))
        return conditions + [compare(c[name], value) for name, compare, value in where]

    def _fresh(self, where: Where) -> list[dict[str, Any]]:
        return [
            row
            for row in self.fresh.values()
            if all(compare(row[name], value) for name, compare, value in where)
        ]

    def tally(
        self, session: Session, columns: Sequence[str], sums: Sequence[str]
    ) -> dict[tuple[Any, ...], Counter[str]]:
        """Per value of ``columns``: how many rows (``"rows"``) and the sum of each of
        ``sums``, in one scan."""
        table = ReadinessProjection.__table__
        keys = [table.c[c] for c in columns]
        totals = [sa.func.count(), *(sa.func.sum(table.c[c]) for c in sums)]
        out: dict[tuple[Any, ...], Counter[str]] = {}
        found = session.execute(
            sa.select(*keys, *totals).where(*self._where(session, ())).group_by(*keys)
        )
        for row in found:
            key = tuple(row[: len(columns)])
            counts = out.setdefault(key, Counter())
            for name, value in zip(("rows", *sums), row[len(columns) :], strict=True):
                counts[name] += int(value or 0)
        for fresh in self.fresh.values():
            counts = out.setdefault(tuple(fresh[c] for c in columns), Counter())
            counts["rows"] += 1
            for name in sums:
                counts[name] += fresh[name]
        return out

    def rows(
        self,
        session: Session,
        where: Where,
        order: Order = (),
        limit: int | None = None,
        *,
        columns: Sequence[str] | None = None,
        naming: Collection[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The rows matching (only ``columns``, with system_id, when given), in
        ``order``, the first ``limit``; ``naming``: only those whose owner entries name
        a user by one of these keys (:func:`owner_index`), found through the owner
        index (:meth:`_named`), whose rows hold the columns ``where`` and ``order``
        name."""
        table = ReadinessProjection.__table__
        wanted = list(dict.fromkeys(["system_id", *(columns or COLUMNS), *(c for c, _ in order)]))
        statement = sa.select(*(table.c[c] for c in wanted))
        if naming is not None:
            named = self._named(session, where, order, limit, naming)
            statement = statement.where(table.c.system_id.in_(named))
        else:
            statement = statement.where(*self._where(session, where))
        if order:
            statement = statement.order_by(*_ordered(table, order))
        if limit is not None:
            statement = statement.limit(limit)
        found = [dict(r._mapping) for r in session.execute(statement)]
        found += [
            {c: row[c] for c in wanted}
            for row in self._fresh(where)
            if naming is None or any(person in naming for person, _role in owner_index(row))
        ]
        for name, down in reversed(order):  # stable sorts: the last key first
            found.sort(key=operator.itemgetter(name), reverse=down)
        return found if limit is None else found[:limit]

    def subquery(
        self, session: Session, where: Where, columns: Sequence[str], name: str = "ranking"
    ) -> sa.Subquery:
        """The rows matching (``columns``, with system_id: integers, booleans and text) as a
        subquery another read joins in SQL: the stored rows still current, and this
        read's fresh ones as a JSON literal table (few, but for a first read after many
        changes)."""
        table = ReadinessProjection.__table__
        wanted = [table.c[c] for c in dict.fromkeys(["system_id", *columns])]
        statement: Any = sa.select(*wanted).where(*self._where(session, where))
        fresh = self._fresh(where)
        if fresh:
            rows = [{c.name: row[c.name] for c in wanted} for row in fresh]
            item = json_table(session, rows, [(c.name, c.type) for c in wanted], "fresh")
            statement = sa.union_all(statement, sa.select(*(item.c[c.name] for c in wanted)))
        return statement.subquery(name)

    def _named(
        self,
        session: Session,
        where: Where,
        order: Order,
        limit: int | None,
        naming: Collection[str],
    ) -> sa.Select[Any]:
        """The ids of the stored rows current and matching whose owner entries name a
        user by one of ``naming``, read from the owner index: with ``limit``, of each
        key the first ``limit`` systems in ``order`` (each once: its roles' rows lie
        next to one another), which hold the first ``limit`` of them all."""
        owner = ReadinessOwner.__table__
        keys = [owner.c[c] for c, _ in order]
        if not naming:
            return sa.select(owner.c.system_id).where(sa.false())
        firsts = []
        for person in sorted(naming):
            first = (
                sa.select(owner.c.system_id, *keys)
                .where(owner.c.person == person, *self._where(session, where, owner))
                .distinct()
            )
            if limit is not None:
                first = first.order_by(*_ordered(owner, order)).limit(limit)
            firsts.append(sa.select(first.subquery().c.system_id))
        return firsts[0] if len(firsts) == 1 else sa.union_all(*firsts)  # type: ignore[return-value]

    def count(self, session: Session, where: Where, *, naming: Collection[str]) -> int:
        """How many rows match whose owner entries name a user by one of ``naming``:
        from the owner index alone, whose rows hold the columns ``where`` names."""
        owner = ReadinessOwner.__table__
        stored = session.scalar(
            sa.select(sa.func.count(sa.distinct(owner.c.system_id))).where(
                owner.c.person.in_(sorted(naming)), *self._where(session, where, owner)
            )
        )
        fresh = [r for r in self._fresh(where) if {p for p, _r in owner_index(r)} & set(naming)]
        return (stored or 0) + len(fresh)

    def roles(
        self, session: Session, naming: Collection[str], system_ids: Collection[int]
    ) -> dict[int, set[str]]:
        """The roles in which each system's owner entries name a user by ``naming``."""
        out: dict[int, set[str]] = {}
        stored = [i for i in system_ids if i not in self.fresh]
        if stored:
            for system_id, role in session.execute(
                sa.select(ReadinessOwner.system_id, ReadinessOwner.role).where(
                    ReadinessOwner.person.in_(sorted(naming)),
                    ReadinessOwner.system_id.in_(sorted(stored)),
                )
            ):
                out.setdefault(system_id, set()).add(role)
        for system_id in system_ids:
            if system_id in self.fresh:
                for person, role in owner_index(self.fresh[system_id]):
                    if person in naming:
                        out.setdefault(system_id, set()).add(role)
        return out


def _ordered(table: sa.Table, order: Order) -> list[Any]:
    return [table.c[c].desc() if down else table.c[c] for c, down in order]


def current(session: Session, now: dt.datetime) -> Current:
    """The projection brought up to date for a read at ``now`` (:class:`Current`): the
    systems with events after the cursor whose rows were evaluated on an earlier one,
    and the rows whose time has run out (``stable_until``), evaluated now and handed to
    the projector with the ledger position the read saw. What this costs follows what
    changed since the last read, not the size of the register."""
    p = ReadinessProjection
    cursor = session.scalar(sa.select(ReadinessCursor.seq).where(ReadinessCursor.id == 1)) or 0
    head = session.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0
    changed = systems_changed(session, cursor, head)
    seqs = sa.select(p.system_id, p.system_seq)
    if len(changed) <= CHUNK:
        seqs = seqs.where(p.system_id.in_(sorted(changed)))
    stored = dict(session.execute(seqs).all()) if changed else {}
    replaced = {i for i, seq in changed.items() if stored.get(i) != seq}
    if len(replaced) > MANY:  # most of the register: every system evaluated, none read
        every = [(i, ref, seq or 0) for i, ref, seq, *_ in session.execute(_last_events(None))]
        rows = [row for _summary, row in evaluate_many(session, every, now)]
        _keep(session, rows, head)
        return Current(now, {row["system_id"]: row for row in rows}, (), stored=False)
    stale = {i: changed[i] for i in replaced}
    timed = sa.select(p.system_id, p.system_seq).where(
        sa.or_(p.evaluated_at > now, p.stable_until <= now)
    )
    for system_id, seq in session.execute(timed):
        stale.setdefault(system_id, seq)
    fresh: dict[int, dict[str, Any]] = {}
    if stale:
        references = dict(
            session.execute(  # type: ignore[arg-type]
                sa.select(AISystem.id, AISystem.reference).where(AISystem.id.in_(sorted(stale)))
            ).all()
        )
        systems = [(i, references[i], stale[i]) for i in sorted(stale)]
        fresh = {row["system_id"]: row for _summary, row in evaluate_many(session, systems, now)}
    if stale or head > cursor:
        _keep(session, list(fresh.values()), head)
    return Current(now, fresh, tuple(sorted(stale)))


def upsert(session: Session, rows: list[dict[str, Any]], cursor: int | None = None) -> None:
    """Store projection rows, each replacing the stored one unless that was evaluated
    on a later event of its system (another process got there first), with the owner
    index of each row stored; and move the cursor to ``cursor`` (never back). Flushes
    only.

    In bulk, with one short statement each: the rows by the driver's executemany (no
    RETURNING, whose multi-row VALUES text the PostgreSQL driver parses row by row);
    then which of them are stored now (the rows this transaction wrote stay locked by
    it until it ends), whose owner index is made again."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if rows:
        table = ReadinessProjection.__table__
        statement = insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.system_id],
            set_={c: statement.excluded[c] for c in COLUMNS},
            where=statement.excluded.system_seq >= table.c.system_seq,
        )
        session.execute(statement, rows)
        written = {(r["system_id"], r["system_seq"], r["evaluated_at"]): r for r in rows}
        replaced: list[dict[str, Any]] = []
        ids = sorted({r["system_id"] for r in rows})
        for start in range(0, len(ids), IDS):
            chunk = ids[start : start + IDS]
            stored = session.execute(
                sa.select(table.c.system_id, table.c.system_seq, table.c.evaluated_at).where(
                    table.c.system_id.in_(chunk)
                )
            )
            ours = [written[key] for key in map(tuple, stored) if key in written]
            if ours:
                session.execute(
                    sa.delete(ReadinessOwner).where(
                        ReadinessOwner.system_id.in_([r["system_id"] for r in ours])
                    )
                )
            replaced += ours
        owners = [
            {
                "person": person,
                "system_id": row["system_id"],
                "role": role,
                **{c: row[c] for c in OWNER_COPIES},
            }
            for row in replaced
            for person, role in sorted(owner_index(row))
        ]
        if owners:
            session.execute(sa.insert(ReadinessOwner), owners)
        if len(rows) >= ANALYZE_AFTER:
            analyze(session, ReadinessProjection.__table__, ReadinessOwner.__table__)
    if cursor is not None:
        advance_cursor(session, ReadinessCursor.__table__, cursor)


def rebuild(session: Session, now: dt.datetime) -> int:
    """The projection made again from the records: every row removed, every system
    evaluated at ``now``, the cursor at the ledger's head. Flushes only; returns how
    many systems it holds."""
    head = session.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0
    session.execute(sa.delete(ReadinessOwner))
    session.execute(sa.delete(ReadinessProjection))
    session.execute(sa.delete(ReadinessCursor))
    systems = [
        (system_id, reference, last_seq or 0)
        for system_id, reference, last_seq, *_row in session.execute(_last_events(None)).all()
    ]
    for start in range(0, len(systems), CHUNK):
        evaluated = evaluate_many(session, systems[start : start + CHUNK], now)
        upsert(session, [row for _summary, row in evaluated])
    upsert(session, [], head)
    if len(systems) >= ANALYZE_AFTER:
        analyze(session, ReadinessProjection.__table__, ReadinessOwner.__table__)
    return len(systems)
