"""Two writers on separate connections, at the same time, from the same base version."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from registry.db import Database
from registry.errors import StaleVersion
from registry.ledger.models import AuditEvent
from registry.ledger.store import verify_ledger
from registry.records import reads, writes
from registry.records.models import EntryVersion
from tests.records.samples import SAMPLES


@pytest.mark.parametrize("by", ["object", "id"])
def test_two_writers_same_base_one_wins_one_is_refused(database_url, session, officer, profile, by):
    system, _ = writes.create_system(session, officer, profile)
    v1 = writes.create_entry(session, officer, system, "owner", SAMPLES["owner"])
    session.commit()
    entry_id = v1.entry_id
    db = Database(database_url)
    # On SQLite every transaction holds the write lock from its BEGIN IMMEDIATE, so the
    # writers meet at the barrier before they touch the database.
    barrier = threading.Barrier(2, timeout=60)
    outcomes: dict[str, object] = {}

    def writer(name: str) -> None:
        body = {**SAMPLES["owner"], "person": {"name": name, "email": f"{name}@example.org"}}
        barrier.wait()
        with db.sessionmaker() as s:
            # By id, the entry is read in the same statement that takes the ledger lock.
            entry = reads.get_entry(s, entry_id) if by == "object" else entry_id
            try:
                writes.update_entry(s, officer, entry, body, base_version=1)
                s.commit()
                outcomes[name] = "saved"
            except StaleVersion as exc:
                s.rollback()
                outcomes[name] = exc

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    db.dispose()
    assert sorted(str(type(o).__name__) for o in outcomes.values()) == ["StaleVersion", "str"]
    winner = next(n for n, o in outcomes.items() if o == "saved")
    loser = next(o for o in outcomes.values() if isinstance(o, StaleVersion))
    assert loser.current == 2
    session.expire_all()
    versions = session.scalars(
        sa.select(EntryVersion)
        .where(EntryVersion.entry_id == entry_id)
        .order_by(EntryVersion.number)
    ).all()
    assert [v.number for v in versions] == [1, 2]
    assert f"{winner}@example.org" in versions[1].body
    seqs = session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert seqs == list(range(1, len(seqs) + 1))
    assert verify_ledger(session).ok


def test_many_concurrent_writers_keep_the_sequence_gapless(database_url, session, officer, profile):
    system, _ = writes.create_system(session, officer, profile)
    session.commit()
    db = Database(database_url)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with db.sessionmaker() as s:
                    sys_ = reads.get_system(s, "sys-1")
                    writes.create_entry(
                        s,
                        officer,
                        sys_,
                        "change_log",
                        {**SAMPLES["change_log"], "summary": f"w{n} c{i}"},
                    )
                    if i % 3 == 2:
                        s.rollback()  # a transaction that rolls back takes its number with it
                    else:
                        s.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    db.dispose()
    assert errors == []
    session.expire_all()
    seqs = session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert seqs == list(range(1, len(seqs) + 1))
    assert session.scalar(sa.select(sa.func.count()).select_from(EntryVersion)) == 1 + 4 * 7
    assert verify_ledger(session).ok
