"""Shared pieces of the benchmarks: fresh migrated databases on each engine, timing."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import datetime as dt  # noqa: E402

from registry.db import Database  # noqa: E402
from registry.ledger.chain import seal_event  # noqa: E402
from registry.ledger.models import AuditEvent  # noqa: E402
from registry.ledger.store import ledger_head, systems_map  # noqa: E402
from registry.migrate import upgrade  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "REGISTRY_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ENGINES = [
    e.strip()
    for e in os.environ.get("REGISTRY_BENCH_ENGINES", "sqlite,postgresql").split(",")
    if e.strip()
]


def _pg_admin(statement: str) -> None:
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


@contextmanager
def fresh_database(engine: str) -> Iterator[str]:
    """A migrated, empty database on ``engine``; removed afterwards."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory(prefix="registry-bench-") as folder:
            url = f"sqlite:///{folder}/bench.sqlite3"
            upgrade(url)
            yield url
        return
    name = f"registry_bench_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
        upgrade(url)
        yield url
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls of ``fn``."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def event_row(seq: int, prev: str, clock: dt.datetime, fields: dict, system_id: int | None) -> dict:
    """The audit_event row of a chained event, as the registry stores it."""
    sealed = seal_event(seq, prev, {"time": clock.isoformat(timespec="microseconds"), **fields})
    return {
        "seq": seq,
        "recorded_at": clock,
        "event": sealed.event,
        "prev_hash": sealed.prev_hash,
        "event_hash": sealed.event_hash,
        "leaf_hash": sealed.leaf_hash,
        "system_id": system_id,
        "action": fields.get("action"),
        "actor": fields.get("actor"),
    }


def fill_ledger(
    db: Database,
    target: int,
    batch: int = 20_000,
    systems: int = 1_000,
    first_system: int | None = None,
) -> float:
    """Bulk-append chained events until the ledger holds ``target``; returns seconds.
    They name ``systems`` system ids after the registry's own, each linked to the
    previous event naming it (``system_prev``), from ``first_system`` if given."""
    with db.sessionmaker() as s:
        head = ledger_head(s)
        first = first_system or 1 + (s.scalar(sa.select(sa.func.max(AuditEvent.system_id))) or 0)
        last = {
            first + i: seq
            for i, seq in enumerate(
                systems_map(s, head.seq + 1, first + systems - 1).last[first - 1 :]
            )
        }
    seq, prev = head.seq, head.event_hash
    # Start far enough in the past that the measured appends (server time) come after.
    clock = head.recorded_at or dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    insert = sa.insert(AuditEvent.__table__)
    rows: list[dict] = []
    started = time.perf_counter()

    def flush() -> None:
        with db.engine.begin() as conn:
            conn.execute(insert, rows)
        rows.clear()
        print(
            f"\r  {db.dialect}: filling to {target:,}: {seq:,} events "
            f"({time.perf_counter() - started:.0f} s)",
            end="",
            file=sys.stderr,
        )

    while seq < target:
        seq += 1
        clock += dt.timedelta(microseconds=1)
        system_id = first + seq % systems
        row = event_row(
            seq,
            prev,
            clock,
            {
                "action": "entry.update",
                "actor": "system:bench-filler",
                "system_id": system_id,
                "system_prev": last.get(system_id, 0),
                "n": seq,
            },
            system_id,
        )
        last[system_id] = seq
        prev = row["event_hash"]
        rows.append(row)
        if len(rows) >= batch:
            flush()
    if rows:
        flush()
    print(file=sys.stderr)
    # Settle the bulk load the way a database in service would be: statistics current,
    # dirty pages written out, so the timed appends do not pay for the filling.
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE audit_event")
            conn.exec_driver_sql("CHECKPOINT")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        raw = db.engine.raw_connection()  # outside any transaction (no BEGIN IMMEDIATE)
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
    return time.perf_counter() - started
