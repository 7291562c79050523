"""The first write of a fresh worker on a large ledger, and what a checkpoint over a long
unsigned tail costs.

For each engine, a migrated database gets a signing key, the demo users and the three
hand-written example systems (``registry demo --no-register``, which signs checkpoints as
it goes) and an officer's API token; then the ledger is filled in bulk to ``--events``
chained events (``_common.fill_ledger``: no checkpoint, no Merkle block), so the latest
checkpoint is moments old but ``--events`` events behind the head. Then, timed:

1. ``registry serve --workers 1`` answers ``GET /login``; then its first API write
   (``POST /api/v1/systems/{reference}/change-logs``) is timed by itself, and a second
   one (a warm worker's write: the baseline of the ratios);
2. ``--kills`` times: the worker is killed (SIGKILL), the new worker answers
   ``GET /login``, and its first API write is timed, then a warm one;
3. with the server stopped, a checkpoint over everything not yet signed
   (``ledger.checkpoints.make_checkpoint`` in this process, as ``registry ledger
   checkpoint`` does it): what any write pays that makes a checkpoint due over the tail;
4. as 2 again, now that the latest checkpoint covers the head.

Printed per engine, in seconds: the first worker's first write, the medians of the new
workers' first writes before and after the tail is signed, the median warm write, the
checkpoint over the tail, and the ratios of the first writes to the warm one.
Run: ``cd bench && ../.venv/bin/python first_write.py [--events 200000] [--kills 5]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import ENGINES, fill_ledger, fresh_database, median
from worker_start import (
    BIN,
    CHANGE_LOG,
    JSON,
    Registry,
    _ok,
    first_answer,
    killed_worker,
    replaced,
    send,
    started,
)

from registry.db import Database
from registry.ledger.checkpoints import last_checkpoint, make_checkpoint
from registry.ledger.keys import load_key
from registry.ledger.store import ledger_head


def write(registry: Registry, port: int) -> float:
    """Seconds of one API write (a new change log entry)."""
    began = time.perf_counter()
    status, body = send(
        port,
        "POST",
        f"/api/v1/systems/{registry.reference}/change-logs",
        json.dumps(CHANGE_LOG).encode(),
        {**registry.headers, **JSON},
    )
    _ok(status, body, "POST /api/v1/systems/{reference}/change-logs")
    return time.perf_counter() - began


def serve(registry: Registry, kills: int, first: bool) -> tuple[list[float], list[float]]:
    """(first writes, warm writes): the first worker's (when ``first``) and, per kill,
    the new worker's."""
    command = [str(BIN / "registry"), "serve", "--workers", "1", "--port", "{port}"]
    firsts, warm = [], []
    with started(command, registry.instance.parent, registry.env, registry.log) as (
        port,
        proc,
        _,
    ):
        _ok(*first_answer(port, proc, "/login", registry.log), "GET /login")
        if registry.reference is None:
            status, body = send(port, "GET", "/api/v1/systems", headers=registry.headers)
            _ok(status, body, "GET /api/v1/systems")
            registry.reference = json.loads(body)["items"][0]["reference"]
        if first:
            firsts.append(write(registry, port))
            warm.append(write(registry, port))
        for _ in range(kills):
            worker, _killed = killed_worker(proc.pid)
            _ok(*send(port, "GET", "/login"), "GET /login")
            firsts.append(write(registry, port))
            warm.append(write(registry, port))
            replaced(proc.pid, worker)
    return firsts, warm


def sign_tail(url: str, key: Path) -> tuple[float, int]:
    """Seconds to sign a checkpoint over every event not yet signed, and how many."""
    db = Database(url)
    try:
        with db.sessionmaker() as session:
            last = last_checkpoint(session)
            tail = ledger_head(session).seq - (last.tree_size if last else 0)
            began = time.perf_counter()
            make_checkpoint(session, load_key(key))
            session.commit()
            return time.perf_counter() - began, tail
    finally:
        db.dispose()


def run_engine(engine: str, events: int, kills: int) -> None:
    with (
        fresh_database(engine) as url,
        tempfile.TemporaryDirectory(prefix="registry-bench-first-write-") as tmp,
    ):
        registry = Registry(url, Path(tmp))
        db = Database(url)
        try:
            fill_ledger(db, events)
        finally:
            db.dispose()
        behind_firsts, behind_warm = serve(registry, kills, first=True)
        signing, tail = sign_tail(url, registry.instance / "ledger-signing.key")
        signed_firsts, signed_warm = serve(registry, kills, first=False)
    warm = median(behind_warm + signed_warm)
    first, behind, signed = behind_firsts[0], median(behind_firsts[1:]), median(signed_firsts)
    print(f"{engine}: {events:,} events bulk-appended after the latest checkpoint")
    print(
        f"  first write of the first worker {first:.3f}; of a new worker (median of {kills}"
        f" kills) {behind:.3f}; after the tail is signed {signed:.3f}; warm write {warm:.3f}"
    )
    print(f"  then a checkpoint over what was still unsigned ({tail:,} events): {signing:.3f}")
    print(
        f"  ratio first write / warm write: first worker {first / warm:.1f},"
        f" new workers {behind / warm:.1f} and {signed / warm:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="ledger size")
    parser.add_argument("--kills", type=int, default=5, help="workers killed per phase")
    args = parser.parse_args()
    for engine in ENGINES:
        run_engine(engine, args.events, args.kills)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
