"""Appending to and reading the audit ledger through a SQLAlchemy session.

Appends are serialised: ``pg_advisory_xact_lock`` on PostgreSQL (held until the
transaction ends), and on SQLite every transaction already holds the write lock from
``BEGIN IMMEDIATE``. The next ``seq`` and ``prev_hash`` are read under that lock, so
sequence numbers are gapless: a rolled-back transaction takes its number with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.ledger.chain import GENESIS_HASH, ChainReport, seal_event, verify_chain
from registry.ledger.models import AuditEvent

# An arbitrary constant naming the ledger's advisory lock on PostgreSQL.
LEDGER_LOCK_KEY = 0x5265_6769_7374  # "Regist"


def lock_ledger(session: Session) -> None:
    """Take the ledger lock for the rest of the current transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LEDGER_LOCK_KEY})
    # SQLite: BEGIN IMMEDIATE (see registry.db) already holds the database write lock.


def ledger_head(session: Session) -> tuple[int, str]:
    """The last sequence number and event hash (0 and the genesis hash when empty)."""
    row = session.execute(
        sa.select(AuditEvent.seq, AuditEvent.event_hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    if row is None:
        return 0, GENESIS_HASH
    return int(row.seq), row.event_hash


def append_event(
    session: Session,
    fields: dict[str, Any],
    recorded_at: dt.datetime,
    system_id: int | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction and return it (flushed)."""
    lock_ledger(session)
    last_seq, last_hash = ledger_head(session)
    sealed = seal_event(
        last_seq + 1,
        last_hash,
        {"time": recorded_at.astimezone(dt.UTC).isoformat(timespec="microseconds"), **fields},
    )
    row = AuditEvent(
        seq=sealed.seq,
        recorded_at=recorded_at,
        event=sealed.event,
        prev_hash=sealed.prev_hash,
        event_hash=sealed.event_hash,
        leaf_hash=sealed.leaf_hash,
        system_id=system_id,
    )
    session.add(row)
    session.flush()
    return row


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
