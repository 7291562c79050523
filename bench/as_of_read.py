"""As-of read of one system (100 entries, 1,000 versions) as the database grows.

The measured system is written through the records service. Other systems' versions
are then added in bulk (with properly chained audit events) until the database holds
10,000 versions, and later 1,000,000; at each size the same as-of read (the system as
recorded half-way through its history) is timed in a fresh session, like a request.
Targets: median < 20 ms, and median at 1,000,000 versions <= 1.5 x median at 10,000.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

import sqlalchemy as sa
from _common import ENGINES, event_row, fresh_database, median, percentile, timed

from registry.accounts.actor import Actor
from registry.db import Database
from registry.ledger.canonical import canonical_bytes, sha256_hex
from registry.ledger.models import AuditEvent
from registry.ledger.store import ledger_head
from registry.records import reads, writes
from registry.records.models import AISystem, Entry, EntryVersion

ENTRIES = 100
VERSIONS = 10
FILLER_ENTRIES_PER_SYSTEM = 10
FILLER_VERSIONS_PER_ENTRY = 10


def build_measured(db: Database) -> tuple[str, dt.datetime]:
    """The measured system; returns its reference and the half-way instant."""
    actor = Actor.system("bench")
    with db.sessionmaker() as s:
        system, _ = writes.create_system(
            s, actor, {"name": "Measured", "reference": "measured", "stage": "pilot"}
        )
        entries = []
        for i in range(ENTRIES):
            body = {"title": f"Risk {i}", "likelihood": "possible", "impact": "major"}
            v = writes.create_entry(s, actor, system, "risk", body)
            entries.append(reads.get_entry(s, v.entry_id))
        s.commit()
        halfway = None
        for n in range(1, VERSIONS):
            for i, entry in enumerate(entries):
                body = {
                    "title": f"Risk {i}",
                    "likelihood": "likely",
                    "impact": "major",
                    "control": f"control revision {n}",
                }
                writes.update_entry(s, actor, entry, body, base_version=n)
            s.commit()
            if n == VERSIONS // 2:
                halfway = dt.datetime.now(dt.UTC)
    assert halfway is not None
    return "measured", halfway


def add_filler(db: Database, target_versions: int, batch: int = 20_000) -> None:
    """Bulk-add other systems' entries and versions until ``target_versions`` exist."""
    with db.sessionmaker() as s:
        have = s.scalar(sa.select(sa.func.count()).select_from(EntryVersion)) or 0
        head = ledger_head(s)
        next_system = (s.scalar(sa.select(sa.func.max(AISystem.id))) or 0) + 1
        next_entry = (s.scalar(sa.select(sa.func.max(Entry.id))) or 0) + 1
        next_version = (s.scalar(sa.select(sa.func.max(EntryVersion.id))) or 0) + 1
    seq, prev, clock = head.seq, head.event_hash, head.recorded_at or dt.datetime.now(dt.UTC)
    body = canonical_bytes({"title": "Filler", "likelihood": "rare", "impact": "minor"})
    body_text, body_hash = body.decode(), sha256_hex(body)
    systems, entries, versions, events = [], [], [], []

    def flush() -> None:
        with db.engine.begin() as conn:
            if systems:
                conn.execute(sa.insert(AISystem.__table__), systems)
            if entries:
                conn.execute(sa.insert(Entry.__table__), entries)
            conn.execute(sa.insert(AuditEvent.__table__), events)
            conn.execute(sa.insert(EntryVersion.__table__), versions)
        for rows in (systems, entries, versions, events):
            rows.clear()

    started = time.perf_counter()
    while have < target_versions:
        sid = next_system
        next_system += 1
        systems.append({"id": sid, "reference": f"filler-{sid}", "created_at": clock})
        for _ in range(FILLER_ENTRIES_PER_SYSTEM):
            eid = next_entry
            next_entry += 1
            entries.append(
                {
                    "id": eid,
                    "system_id": sid,
                    "kind": "risk",
                    "head_number": FILLER_VERSIONS_PER_ENTRY,
                    "retired": False,
                    "created_at": clock,
                }
            )
            for number in range(1, FILLER_VERSIONS_PER_ENTRY + 1):
                seq += 1
                clock += dt.timedelta(microseconds=1)
                row = event_row(
                    seq,
                    prev,
                    clock,
                    {
                        "action": "entry.update",
                        "entry_id": eid,
                        "version": number,
                        "body_sha256": body_hash,
                    },
                    sid,
                )
                prev = row["event_hash"]
                events.append(row)
                versions.append(
                    {
                        "id": next_version,
                        "entry_id": eid,
                        "number": number,
                        "body": body_text,
                        "body_hash": body_hash,
                        "recorded_at": clock,
                        "effective_from": clock,
                        "author_id": None,
                        "author": "system:bench",
                        "reason": "",
                        "tombstone": False,
                        "audit_seq": seq,
                    }
                )
                next_version += 1
                have += 1
        if len(versions) >= batch:
            flush()
            print(
                f"\r  filling: {have:,} versions ({time.perf_counter() - started:.0f} s)",
                end="",
                file=sys.stderr,
            )
    if versions:
        flush()
    print(file=sys.stderr)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            for table in ("ai_system", "entry", "entry_version"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            conn.exec_driver_sql("ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def measure(db: Database, reference: str, as_of: dt.datetime, repeat: int) -> list[float]:
    def read() -> None:
        with db.sessionmaker() as s:
            system = reads.get_system(s, reference)
            state = reads.system_state(s, system, as_of=as_of)
            assert len(state.entries) == ENTRIES + 1
            assert all(
                e.version.number == VERSIONS // 2 + 1 for e in state.entries if e.kind == "risk"
            )

    read()  # warm caches and compiled statements
    return timed(read, repeat)


def run(engine: str, small: int, large: int, repeat: int) -> None:
    with fresh_database(engine) as url:
        db = Database(url)
        reference, halfway = build_measured(db)
        results = {}
        for size in (small, large):
            add_filler(db, size)
            samples = measure(db, reference, halfway, repeat)
            results[size] = samples
            print(
                f"{engine:10} {size:>9,} versions: as-of read median "
                f"{median(samples) * 1e3:6.2f} ms  "
                f"p90 {percentile(samples, 90) * 1e3:6.2f} ms  ({repeat} reads)"
            )
        db.dispose()
    ratio = median(results[large]) / median(results[small])
    ok = median(results[large]) < 0.020 and ratio <= 1.5
    print(
        f"{engine:10} slowdown {large:,} vs {small:,} versions: {ratio:.2f}x  "
        f"(targets: median < 20 ms, slowdown <= 1.5x -> {'met' if ok else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    print("as_of_read: one system with 100 entries and 1,000 versions, as the database grows")
    for engine in ENGINES:
        run(engine, args.small, args.large, args.repeat)


if __name__ == "__main__":
    main()
