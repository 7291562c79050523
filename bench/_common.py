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
    with engine.connect() as conn:
        conn.exec_driver_sql(statement)
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
