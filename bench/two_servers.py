"""Write throughput through a reverse proxy to two app servers vs one, same run.

A PostgreSQL registry with the demo's users and example systems is served by two
``registry serve --workers 2`` (each its own instance folder, sharing the database, the
signing key and the session secret, as on two hosts). HAProxy balances either over
both servers or over one of them (the other stays up, idle: the same processes exist
in both cases). Clients (``--clients`` threads, each with a persistent connection to
the proxy) write API change-log entries (``POST /api/v1/systems/{reference}/change-logs``,
each client on its own system, as pipelines do) until ``--writes`` are done. Rounds
alternate one, two, one, two, …; printed: each round's writes per second, the medians,
and the ratio two / one. Every write takes the ledger lock, so a second server adds
workers, not appends: on a machine with few cores the target is no collapse (ratio
near 1 or above), not a doubling. Afterwards ``registry ledger verify`` checks the
ledger the servers wrote together.

Run: ``cd bench && ../.venv/bin/python two_servers.py [--writes 400] [--clients 8] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _common import fresh_database
from _serving import Connection, Registry, haproxy

CHANGE_LOG = {
    "change_type": "config",
    "summary": "Raised the review threshold after the two-server benchmark.",
    "from_version": "1.1",
    "to_version": "1.2",
    "approver": "Olivia Officer",
    "deployed_at": "2026-01-05T09:00:00+00:00",
    "substantial_modification": False,
}


def round_of_writes(
    port: int, registry: Registry, references: list[str], writes: int, clients: int
) -> float:
    """Writes per second of ``clients`` threads writing ``writes`` entries through ``port``."""
    left = [writes]
    lock = threading.Lock()
    failures: list[str] = []

    def client(n: int) -> None:
        connection = Connection(port)
        path = f"/api/v1/systems/{references[n % len(references)]}/change-logs"
        try:
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                status, body = connection.send("POST", path, CHANGE_LOG, registry.headers)
                if status != 201:
                    failures.append(f"{status}: {body[:300]!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} writes failed, e.g. {failures[0]}")
    return writes / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with fresh_database("postgresql") as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        registry = Registry(url, folder)
        with registry.serve("a", 2) as (a, _), registry.serve("b", 2) as (b, _):
            references = registry.references(a)
            # Each client its own system: the demo's, and more made for the run.
            for n in range(len(references), args.clients):
                profile = {
                    "name": f"Benchmark system {n}",
                    "reference": f"bench-{n}",
                    "purpose": "Written to by the two-server benchmark.",
                    "stage": "pilot",
                    "risk_tier": "minimal",
                }
                status, body = Connection(a).send(
                    "POST", "/api/v1/systems", {"profile": profile}, registry.headers
                )
                assert status == 201, body[:300]
                references.append(f"bench-{n}")
            results: dict[str, list[float]] = {"one": [], "two": []}
            with haproxy([a], folder) as one, haproxy([a, b], folder) as two:
                for port in (one, two):  # warm every worker up, unmeasured
                    round_of_writes(port, registry, references, 4 * args.clients, args.clients)
                for n in range(args.rounds):
                    for name, port in (("one", one), ("two", two)):
                        rate = round_of_writes(
                            port, registry, references, args.writes, args.clients
                        )
                        results[name].append(rate)
                        print(f"round {n + 1}, {name} server(s): {rate:7.1f} writes/s")
            registry.command(["ledger", "verify"])
    one, two = statistics.median(results["one"]), statistics.median(results["two"])
    print(
        f"PostgreSQL, {args.clients} clients through HAProxy, {args.writes} writes a round, "
        f"medians of {args.rounds} rounds:"
    )
    print(f"  one app server (2 workers):  {one:7.1f} writes/s")
    print(f"  two app servers (2 workers each): {two:7.1f} writes/s")
    print(f"  ratio two / one: {two / one:.2f}  (the ledger verified afterwards)")


if __name__ == "__main__":
    main()
