"""The ledger lock: held for the transaction, and the head is read under it."""

from __future__ import annotations

import sqlalchemy as sa

from registry.ledger.store import LEDGER_LOCK_KEY, ledger_head, lock_ledger
from registry.records import writes


def test_lock_returns_the_head_and_is_held_until_the_transaction_ends(
    session, engine_name, officer, profile
):
    writes.create_system(session, officer, profile)
    session.commit()
    head = lock_ledger(session)
    assert head == ledger_head(session)
    assert head.seq >= 1 and len(head.event_hash) == 64
    if engine_name == "postgresql":
        held = session.execute(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND classid = :hi AND objid = :lo AND objsubid = 1 AND granted "
                "AND pid = pg_backend_pid()"
            ),
            {"hi": LEDGER_LOCK_KEY >> 32, "lo": LEDGER_LOCK_KEY & 0xFFFFFFFF},
        ).scalar()
        assert held == 1  # the migration's function takes LEDGER_LOCK_KEY
    else:
        in_transaction = session.connection().connection.dbapi_connection.in_transaction
        assert in_transaction  # BEGIN IMMEDIATE: the write lock is held
    session.rollback()
    if engine_name == "postgresql":
        assert (
            session.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar()
            == 0
        )


def test_empty_ledger_head_is_genesis(session):
    head = lock_ledger(session)
    assert head.seq == 0 and head.event_hash == "0" * 64 and head.recorded_at is None
