"""The kept list of due items: what :func:`due.due_items_until` finds for each system,
stored so that "My tasks" reads a page of it in SQL, soonest first, instead of working
out every due item of the register on every request.

It holds results of the one computation (``due._items_of`` through
:func:`due.due_items_until`), never a rule of its own, and is never part of the ledger:
``registry notify rebuild`` makes it again from the records. A system's rows are
current while two things hold (as the readiness projection's are):

- the system's last event is still the one they were found on (``system_seq``);
- the instant asked about lies in ``[evaluated_at, stable_until)``, the bound
  :func:`due.due_items_until` gives (the readiness projection row's: the next midnight
  UTC at the latest).

Within that window a system's items are the same at every instant but for the words
and instants that follow the clock, which :meth:`due.DueItem.as_of` gives on reading
(the kinds due at once are stored with no ``due_at``: they sort at the instant read).
The list is kept for one horizon (``ahead``); asked with another, it is found again.

Reads take the current rows as they are, find the others' items with the same code,
and hand them to the session's keeper (a :class:`readiness.projector.Projector` storing
with :func:`store`), which stores them in a short transaction of its own. The cursor
(``due_cursor``) is a ledger position up to which every system's rows were found on its
last event, so a read looks only at the events after it.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.db import ANALYZE_AFTER, Base, analyze, bytewise, json_table
from registry.ledger.models import AuditEvent
from registry.ledger.store import systems_changed
from registry.notifications.due import AT_ONCE, DueItem, due_items_until, next_midnight
from registry.records.models import AISystem

INFO_KEY = "notifications.due_list"
# Beyond this many systems changed since the cursor, every system is found again.
MANY = 5_000
# How many rows one statement stores.
CHUNK = 2_000


class DueRow(Base):
    """One due item of a system as found at its ``due_state``'s ``evaluated_at``."""

    __tablename__ = "due_item"

    # Compared by code point, as Python sorts the items a read found (the list's order).
    key: Mapped[str] = mapped_column(bytewise(), primary_key=True)
    system_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ai_system.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.Text)
    reference: Mapped[str] = mapped_column(bytewise())
    system_name: Mapped[str] = mapped_column(sa.Text)
    title: Mapped[str] = mapped_column(sa.Text)
    # None: due at once (due.AT_ONCE), at the instant read.
    due_at: Mapped[dt.datetime | None]
    detail: Mapped[str] = mapped_column(sa.Text)
    entry_id: Mapped[int | None]


# The order of the list, read from the index (the items due at once: due_at IS NULL),
# the same as Python's (``_order``) on any database's collation.
ORDER = (DueRow.due_at, DueRow.reference, DueRow.key)
sa.Index("ix_due_item_order", *ORDER)
# What a read takes of a row (as columns: many rows, no objects to track).
COLUMNS = tuple(DueRow.__table__.columns)


class DueState(Base):
    """When a system's rows were found, on which of its events, and until when they
    hold (module docstring); a system with no items has its state all the same."""

    __tablename__ = "due_state"

    system_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ai_system.id", ondelete="CASCADE"), primary_key=True
    )
    system_seq: Mapped[int] = mapped_column(sa.BigInteger)
    evaluated_at: Mapped[dt.datetime] = mapped_column(index=True)
    stable_until: Mapped[dt.datetime] = mapped_column(index=True)


class DueCursor(Base):
    """The ledger position up to which every system's rows were found on its last event,
    and the horizon they were found for, in seconds (one row, id 1)."""

    __tablename__ = "due_cursor"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    ahead: Mapped[int] = mapped_column(sa.BigInteger)


def _seconds(ahead: dt.timedelta) -> int:
    return int(ahead.total_seconds())


def _stored(item: DueItem) -> dict[str, Any]:
    return {
        "key": item.key,
        "system_id": item.system_id,
        "kind": item.kind,
        "reference": item.reference,
        "system_name": item.system_name,
        "title": item.title,
        "due_at": None if item.kind in AT_ONCE else item.due_at,
        "detail": item.detail,
        "entry_id": item.entry_id,
    }


def _item(row: Any, now: dt.datetime) -> DueItem:
    due_at = now if row.due_at is None else row.due_at
    found = DueItem(
        row.kind,
        row.key,
        row.system_id,
        row.reference,
        row.system_name,
        row.title,
        due_at,
        row.detail,
        row.entry_id,
    )
    return found.as_of(now)


def _order(item: DueItem) -> tuple[dt.datetime, str, str]:
    return (item.due_at, item.reference, item.key)


@dataclass(frozen=True)
class Found:
    """What a read found again (stored beside it by the keeper, so not visible to it):
    the systems' states and items, and the cursor and horizon they go with."""

    systems: dict[int, tuple[int, dt.datetime]]  # system id -> (last seq, stable until)
    items: list[DueItem]
    now: dt.datetime
    cursor: int
    ahead: int


def store(session: Session, found: Found) -> None:
    """Store what a read found: each system's state unless the one stored was found on a
    later event, or on the same one at a later instant (another process got there
    first), and the items of exactly the systems whose state it wrote, replacing theirs;
    and the cursor, never moved back (but to any position for a new horizon). Flushes
    only.

    The state is written first, by a conditional upsert returning the systems it wrote:
    the row it takes stays locked by this transaction until it ends, so two keepers
    storing the same system follow one another, and the one that finds a later state
    stored leaves that system's items alone."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = DueState.__table__
    states = [
        {"system_id": i, "system_seq": seq, "evaluated_at": found.now, "stable_until": until}
        for i, (seq, until) in sorted(found.systems.items())
    ]
    written: set[int] = set()
    for start in range(0, len(states), CHUNK):
        statement = insert(table)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.system_id],
            set_={c: excluded[c] for c in ("system_seq", "evaluated_at", "stable_until")},
            where=sa.or_(
                excluded.system_seq > table.c.system_seq,
                sa.and_(
                    excluded.system_seq == table.c.system_seq,
                    excluded.evaluated_at >= table.c.evaluated_at,
                ),
            ),
        ).returning(table.c.system_id)
        written.update(session.scalars(statement, states[start : start + CHUNK]))
    ids = sorted(written)
    for start in range(0, len(ids), CHUNK):
        session.execute(sa.delete(DueRow).where(DueRow.system_id.in_(ids[start : start + CHUNK])))
    rows = [_stored(item) for item in found.items if item.system_id in written]
    for start in range(0, len(rows), CHUNK):
        session.execute(sa.insert(DueRow), rows[start : start + CHUNK])
    if len(states) >= ANALYZE_AFTER:  # the first read of a register, a rebuild
        analyze(session, DueState.__table__, DueRow.__table__)
    cursor = DueCursor.__table__
    statement = insert(cursor).values(id=1, seq=found.cursor, ahead=found.ahead)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[cursor.c.id],
            set_={"seq": statement.excluded.seq, "ahead": statement.excluded.ahead},
            where=sa.or_(
                statement.excluded.seq > cursor.c.seq, statement.excluded.ahead != cursor.c.ahead
            ),
        )
    )


def _find(
    session: Session,
    now: dt.datetime,
    ahead: dt.timedelta,
    systems: dict[int, int] | None,
    cursor: int,
) -> Found:
    """The items of these systems (id -> last seq; None: every system) found at
    ``now``."""
    if systems is None:
        seqs = systems_changed(session, 0, cursor)
        systems = {i: seqs.get(i, 0) for i in session.scalars(sa.select(AISystem.id))}
        items, bounds = due_items_until(session, now, ahead=ahead)
    else:
        items, bounds = due_items_until(session, now, ahead=ahead, system_ids=sorted(systems))
    midnight = next_midnight(now)
    return Found(
        {i: (seq, bounds.get(i, midnight)) for i, seq in systems.items()},
        items,
        now,
        cursor,
        _seconds(ahead),
    )


@dataclass(frozen=True)
class Kept:
    """The list as current at ``now`` for one read: the stored rows still current (read
    in SQL) and the items this read found again (``fresh``). The two never hold the
    same system."""

    now: dt.datetime
    fresh: list[DueItem]
    replaced: tuple[int, ...]  # systems whose stored rows are not current
    stored: bool = True  # False: every system was found by this read

    def _where(self, session: Session, system_ids: Collection[int] | None) -> list[Any]:
        if not self.stored:
            return [sa.false()]
        conditions: list[Any] = []
        if self.replaced:  # as one parameter, however many
            ids = [{"id": i} for i in self.replaced]
            replaced = json_table(session, ids, [("id", sa.Integer)], "replaced")
            conditions.append(DueRow.system_id.not_in(sa.select(replaced.c.id)))
        if system_ids is not None:
            conditions.append(DueRow.system_id.in_(sorted(system_ids)))
        return conditions

    def _fresh(self, system_ids: Collection[int] | None) -> list[DueItem]:
        return [i for i in self.fresh if system_ids is None or i.system_id in system_ids]

    def count(self, session: Session, system_ids: Collection[int] | None = None) -> int:
        """How many items (of ``system_ids``; None: every system)."""
        stored = session.scalar(
            sa.select(sa.func.count()).select_from(DueRow).where(*self._where(session, system_ids))
        )
        return (stored or 0) + len(self._fresh(system_ids))

    def _stored(
        self, session: Session, system_ids: Collection[int] | None, at_once: bool, limit: int
    ) -> list[DueItem]:
        timed = DueRow.due_at.is_(None) if at_once else DueRow.due_at.is_not(None)
        statement = (
            sa.select(*COLUMNS)
            .where(timed, *self._where(session, system_ids))
            .order_by(*ORDER)
            .limit(limit)
        )
        return [_item(row, self.now) for row in session.execute(statement)]

    def page(
        self,
        session: Session,
        system_ids: Collection[int] | None = None,
        *,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[DueItem]:
        """The items (of ``system_ids``; None: every system), soonest first, from
        ``offset``, at most ``limit``: the stored ones in the index's order (those due
        at once apart, all at ``now``), merged with the fresh ones."""
        wanted = offset + limit if limit is not None else None
        if wanted is None:
            statement = sa.select(*COLUMNS).where(*self._where(session, system_ids))
            found = [_item(row, self.now) for row in session.execute(statement)]
            found += self._fresh(system_ids)
            found.sort(key=_order)
            return found[offset:]
        fresh = sorted(self._fresh(system_ids), key=_order)
        merged = heapq.merge(
            self._stored(session, system_ids, False, wanted),
            self._stored(session, system_ids, True, wanted),
            fresh,
            key=_order,
        )
        return list(merged)[offset:wanted]


def current(session: Session, now: dt.datetime, ahead: dt.timedelta) -> Kept:
    """The list brought up to date for a read at ``now`` (:class:`Kept`): the systems
    with events after the cursor whose rows were found on an earlier one, and those
    whose time has run out, found again now and handed to the session's keeper with the
    ledger position the read saw. What this costs follows what changed since the last
    read, not the size of the register."""
    keeper = session.info.get(INFO_KEY)
    cursor = session.execute(sa.select(DueCursor.seq, DueCursor.ahead)).first()
    head = session.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0
    if cursor is None or cursor.ahead != _seconds(ahead):
        found = _find(session, now, ahead, None, head)
        if keeper is not None:
            keeper.keep(found)
        return Kept(now, found.items, (), stored=False)
    changed = systems_changed(session, cursor.seq, head)
    stored: dict[int, int] = {}
    if changed:
        seqs = sa.select(DueState.system_id, DueState.system_seq)
        if len(changed) <= CHUNK:
            seqs = seqs.where(DueState.system_id.in_(sorted(changed)))
        stored = dict(session.execute(seqs).all())  # type: ignore[arg-type]
    replaced = {i: seq for i, seq in changed.items() if stored.get(i) != seq}
    if len(replaced) > MANY:
        found = _find(session, now, ahead, None, head)
        if keeper is not None:
            keeper.keep(found)
        return Kept(now, found.items, (), stored=False)
    stale = dict(replaced)
    timed = sa.select(DueState.system_id, DueState.system_seq).where(
        sa.or_(DueState.stable_until <= now, DueState.evaluated_at > now)
    )
    for system_id, seq in session.execute(timed):
        stale.setdefault(system_id, seq)
    items: list[DueItem] = []
    if stale:
        found = _find(session, now, ahead, stale, head)
        items = found.items
        if keeper is not None:
            keeper.keep(found)
    elif head > cursor.seq and keeper is not None:
        keeper.keep(Found({}, [], now, head, _seconds(ahead)))
    return Kept(now, items, tuple(sorted(stale)))


def rebuild(session: Session, now: dt.datetime, ahead: dt.timedelta) -> int:
    """The list made again from the records: every system's items found at ``now`` for
    the horizon ``ahead``, the cursor at the ledger's head. Flushes only; returns how
    many items it holds."""
    head = session.scalar(sa.select(sa.func.max(AuditEvent.seq))) or 0
    for table in (DueRow, DueState, DueCursor):
        session.execute(sa.delete(table))
    found = _find(session, now, ahead, None, head)
    store(session, found)
    return len(found.items)
