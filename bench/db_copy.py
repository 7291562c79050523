"""Moving a registry between engines (``registry db copy``): time and memory.

A SQLite registry is filled with N chained events, then 2N; each is copied to an
empty PostgreSQL database and back to a new SQLite file. Each measurement runs in a
fresh process, which reports its wall time and its peak resident memory. In the same
run, the baseline: ``verify_ledger`` of the same source (one read of every event,
which the copy does on each side, besides writing them). Printed: events per second,
the copy's time as a multiple of the baseline's, and the copy's peak memory at 2N
against N (batches: it should stay flat).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor

import sqlalchemy as sa
from _common import PG_ADMIN_URL, _pg_admin, fill_ledger

from registry.db import Database
from registry.migrate import upgrade


def _copy(source: str, target: str) -> tuple[float, int]:
    from registry.dbcopy import copy_registry

    started = time.perf_counter()
    report = copy_registry(source, target, [])
    seconds = time.perf_counter() - started
    assert report.ledger.ok, report.ledger.problem
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _verify(source: str) -> tuple[float, int]:
    from registry.ledger.store import verify_ledger

    db = Database(source)
    started = time.perf_counter()
    with db.read_sessionmaker() as session:
        report = verify_ledger(session, [], workers=1)
    seconds = time.perf_counter() - started
    db.dispose()
    assert report.ok, report.problem
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _in_fresh_process(fn, *args):  # type: ignore[no-untyped-def]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


def run(size: int, folder: str) -> dict[str, float]:
    source = f"sqlite:///{folder}/source-{size}.sqlite3"
    upgrade(source)
    db = Database(source)
    fill_ledger(db, size)
    db.dispose()
    print()
    name = f"registry_bench_copy_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        pg = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
        verify_s, verify_rss = _in_fresh_process(_verify, source)
        to_pg_s, to_pg_rss = _in_fresh_process(_copy, source, pg)
        back = f"sqlite:///{folder}/back-{size}.sqlite3"
        to_sqlite_s, to_sqlite_rss = _in_fresh_process(_copy, pg, back)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(
        f"{size:,} events: baseline verify {verify_s:.2f} s ({verify_rss / 1024:.0f} MiB); "
        f"SQLite -> PostgreSQL {to_pg_s:.2f} s ({size / to_pg_s:,.0f} events/s, "
        f"{to_pg_s / verify_s:.1f} x baseline, {to_pg_rss / 1024:.0f} MiB); "
        f"PostgreSQL -> SQLite {to_sqlite_s:.2f} s ({size / to_sqlite_s:,.0f} events/s, "
        f"{to_sqlite_s / verify_s:.1f} x baseline, {to_sqlite_rss / 1024:.0f} MiB)"
    )
    return {"to_pg_rss": to_pg_rss, "to_sqlite_rss": to_sqlite_rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="registry-bench-copy-") as folder:
        small = run(args.events, folder)
        large = run(2 * args.events, folder)
    print(
        f"peak memory at {2 * args.events:,} against {args.events:,} events: "
        f"SQLite -> PostgreSQL {large['to_pg_rss'] / small['to_pg_rss']:.2f}, "
        f"PostgreSQL -> SQLite {large['to_sqlite_rss'] / small['to_sqlite_rss']:.2f} "
        "(1.00: flat)"
    )


if __name__ == "__main__":
    main()
