"""A worker's memory over requests: the resident set size (RSS) of a ``registry
serve --workers 1`` worker after 100 requests and after 10,000, same run.

Per engine, a registry with the demo's users and example systems is served by one
worker; a client sends a steady mix, one request at a time on a persistent connection:
of every ten, four API reads of a system (``GET /api/v1/systems/{reference}``), two
API lists (``GET /api/v1/systems``), two web pages (``GET /login``), one metrics
scrape (``GET /metrics``) and one API write (a change-log entry). The worker's VmRSS
(from /proc) is read after the first ``--warm`` requests (the baseline: the worker has
loaded what it uses), after 1,000 and 5,000, and after ``--requests`` in all. Printed:
each reading, the difference and the ratio of the last to the baseline; a worker that
keeps a little of every request (a leak, a cache without bounds) grows at every
reading, while caches that fill up (SQLAlchemy's statement cache, Jinja's templates,
the allocator's arenas) grow early and then stay.

Run: ``cd bench && ../.venv/bin/python worker_memory.py [--requests 10000] [--warm 100]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import ENGINES, fresh_database
from _serving import Connection, Registry, children, rss_kib

CHANGE_LOG = {
    "change_type": "config",
    "summary": "Raised the review threshold after the memory benchmark.",
    "from_version": "1.1",
    "to_version": "1.2",
    "approver": "Olivia Officer",
    "deployed_at": "2026-01-05T09:00:00+00:00",
    "substantial_modification": False,
}


def run_engine(engine: str, requests: int, warm: int) -> dict[int, int]:
    with fresh_database(engine) as url, tempfile.TemporaryDirectory() as tmp:
        registry = Registry(url, Path(tmp))
        with registry.serve("w", 1) as (port, master):
            [worker] = children(master.pid)
            reference = registry.references(port)[0]
            connection = Connection(port)
            plan = [
                ("GET", f"/api/v1/systems/{reference}", None),
                ("GET", "/api/v1/systems", None),
                ("GET", f"/api/v1/systems/{reference}", None),
                ("GET", "/login", None),
                ("GET", f"/api/v1/systems/{reference}", None),
                ("GET", "/metrics", None),
                ("GET", "/api/v1/systems", None),
                ("POST", f"/api/v1/systems/{reference}/change-logs", CHANGE_LOG),
                ("GET", f"/api/v1/systems/{reference}", None),
                ("GET", "/login", None),
            ]
            readings: dict[int, int] = {}
            marks = {warm, 1_000, 5_000, requests}
            for n in range(requests):
                method, path, body = plan[n % len(plan)]
                status, answer = connection.send(method, path, body, registry.headers)
                if status not in (200, 201):
                    raise RuntimeError(f"{method} {path}: {status} {answer[:300]!r}")
                if n + 1 in marks:
                    readings[n + 1] = rss_kib(worker)
            assert children(master.pid) == [worker], "the worker was replaced meanwhile"
            connection.close()
    return readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--warm", type=int, default=100)
    args = parser.parse_args()
    for engine in ENGINES:
        readings = run_engine(engine, args.requests, args.warm)
        warm, total = readings[args.warm], readings[args.requests]
        steps = ", ".join(f"{n}: {kib / 1024:.1f}" for n, kib in sorted(readings.items()))
        print(
            f"{engine}: worker RSS (MiB) after requests {steps}; after {args.requests} vs "
            f"after {args.warm}: +{(total - warm) / 1024:.1f} MiB, ratio {total / warm:.3f}"
        )


if __name__ == "__main__":
    main()
