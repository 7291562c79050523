"""Appending to and reading the audit ledger through a SQLAlchemy session.

Appends are serialised: ``pg_advisory_xact_lock`` on PostgreSQL (held until the
transaction ends), and on SQLite every transaction already holds the write lock from
``BEGIN IMMEDIATE``. The next ``seq`` and ``prev_hash`` are read under that lock, so
sequence numbers are gapless: a rolled-back transaction takes its number with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.ledger.chain import GENESIS_HASH, ChainReport, seal_event, verify_chain
from registry.ledger.models import AuditEvent

# An arbitrary constant naming the ledger's advisory lock on PostgreSQL.
LEDGER_LOCK_KEY = 0x5265_6769_7374  # "Regist"


def lock_ledger(session: Session) -> None:
    """Take the ledger lock for the rest of the current transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LEDGER_LOCK_KEY})
    # SQLite: BEGIN IMMEDIATE (see registry.db) already holds the database write lock.


@dataclass(frozen=True)
class LedgerHead:
    seq: int
    event_hash: str
    recorded_at: dt.datetime | None


@dataclass(frozen=True)
class AppendedEvent:
    seq: int
    event_hash: str
    recorded_at: dt.datetime


def head_query() -> sa.Select[Any]:
    """The statement reading the last event; callers may add columns to it."""
    last = sa.select(sa.func.max(AuditEvent.seq)).scalar_subquery()
    return sa.select(
        sa.func.coalesce(last, 0).label("seq"),
        sa.select(AuditEvent.event_hash)
        .where(AuditEvent.seq == last)
        .scalar_subquery()
        .label("event_hash"),
        sa.select(AuditEvent.recorded_at)
        .where(AuditEvent.seq == last)
        .scalar_subquery()
        .label("recorded_at"),
    )


# Built once: constructing statements costs more than running them on this hot path.
HEAD = head_query()
_INSERT_EVENT = sa.insert(AuditEvent.__table__)


def head_from_row(row: Any) -> LedgerHead:
    if not row.seq:
        return LedgerHead(0, GENESIS_HASH, None)
    return LedgerHead(int(row.seq), row.event_hash, row.recorded_at)


def ledger_head(session: Session) -> LedgerHead:
    """The last event's sequence number, hash and time (0 and the genesis hash when empty)."""
    return head_from_row(session.execute(HEAD).one())


def append_event(
    session: Session,
    fields: dict[str, Any],
    *,
    system_id: int | None = None,
    locked: bool = False,
    head: LedgerHead | None = None,
) -> AppendedEvent:
    """Append one event in the caller's transaction.

    Takes the ledger lock unless the caller already holds it (``locked``), and reads the
    head unless the caller read it under that lock (``head``). The event's
    time is the server's clock, but always after the previous event's: times are
    strictly increasing with ``seq``, so "as recorded at T" is a prefix of the ledger.
    """
    if not locked:
        lock_ledger(session)
    if head is None:
        head = ledger_head(session)
    now = utcnow()
    if head.recorded_at is not None and now <= head.recorded_at:
        now = head.recorded_at + dt.timedelta(microseconds=1)
    sealed = seal_event(
        head.seq + 1,
        head.event_hash,
        {"time": now.isoformat(timespec="microseconds"), **fields},
    )
    session.connection().execute(
        _INSERT_EVENT,
        {
            "seq": sealed.seq,
            "recorded_at": now,
            "event": sealed.event,
            "prev_hash": sealed.prev_hash,
            "event_hash": sealed.event_hash,
            "leaf_hash": sealed.leaf_hash,
            "system_id": system_id,
        },
    )
    return AppendedEvent(sealed.seq, sealed.event_hash, now)


def iter_events(session: Session, batch: int = 5000) -> Iterator[Any]:
    """All events in ``seq`` order as plain rows, read in batches by keyset."""
    columns = (
        AuditEvent.seq,
        AuditEvent.event,
        AuditEvent.prev_hash,
        AuditEvent.event_hash,
        AuditEvent.leaf_hash,
    )
    after = 0
    while True:
        rows = session.execute(
            sa.select(*columns).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def verify_ledger(session: Session) -> ChainReport:
    """Verify the whole stored chain."""
    return verify_chain(iter_events(session))
