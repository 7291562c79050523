"""Eight OS processes append to one ledger at once: the sequence stays gapless.

Each process has its own ``Database`` (its own engine and connections) and writes
through the real service, one transaction per append. About a fifth of the
transactions are rolled back and a few raise after the write, before the commit; a
rolled-back transaction takes its sequence number with it, so the ledger must hold
exactly the committed appends, numbered 1..N, and verify.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import random
import time
import traceback
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.db import Database
from registry.ledger.models import AuditEvent
from registry.ledger.store import ledger_head, verify_ledger
from registry.records import writes
from registry.records.models import AISystem, Entry, EntryVersion

PROCESSES = 8
APPENDS = 500
ROLLBACK_SHARE = 0.20
RAISE_SHARE = 0.02
SEED = 20_261_126
DEADLINE = 300  # seconds for the whole run; the test is meant to take well under 60


class _AfterWrite(Exception):
    """Raised inside a transaction after the write, before the commit."""


def _append_worker(
    url: str, system_id: int, proc: int, seed: int, start: Any, results: Any
) -> None:
    """One process: APPENDS transactions, each one change_log entry; report outcomes."""
    report: dict[str, Any] = {
        "proc": proc,
        "committed": [],
        "rolled_back": [],
        "raised": [],
        "error": None,
        "seconds": 0.0,
        "slowest": 0.0,  # the longest single transaction, lock wait included
    }
    db = None
    i = -1
    try:
        rng = random.Random(seed)
        actor = Actor.system(f"proc-{proc}")
        db = Database(url)
        start.wait()
        started = time.perf_counter()
        for i in range(APPENDS):
            summary = f"proc-{proc} append {i}"
            draw = rng.random()
            began = time.perf_counter()
            try:
                with db.session() as s:
                    system = s.get(AISystem, system_id)
                    assert system is not None
                    writes.create_entry(
                        s,
                        actor,
                        system,
                        "change_log",
                        {"change_type": "config", "summary": summary},
                    )
                    if draw < ROLLBACK_SHARE:
                        s.rollback()
                        report["rolled_back"].append(summary)
                        continue
                    if draw < ROLLBACK_SHARE + RAISE_SHARE:
                        raise _AfterWrite(summary)
            except _AfterWrite:
                report["raised"].append(summary)
                continue
            finally:
                report["slowest"] = max(report["slowest"], time.perf_counter() - began)
            report["committed"].append(summary)
        report["seconds"] = time.perf_counter() - started
    except BaseException as exc:
        report["error"] = (
            f"proc-{proc} failed at append {i} ({type(exc).__name__}: {exc})\n"
            + traceback.format_exc()
        )
    finally:
        if db is not None:
            db.dispose()
        results.put(report)


def _run_processes(url: str, system_id: int) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    start = ctx.Barrier(PROCESSES, timeout=120)
    procs = [
        ctx.Process(
            target=_append_worker,
            args=(url, system_id, n, SEED + n, start, results),
            name=f"append-proc-{n}",
        )
        for n in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    reports: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE
    try:
        # Drain the queue before joining: a child cannot exit while its report is unread.
        while len(reports) < PROCESSES:
            try:
                reports.append(results.get(timeout=1))
            except queue.Empty:
                reported = {r["proc"] for r in reports}
                dead = [
                    n for n, p in enumerate(procs) if n not in reported and p.exitcode is not None
                ]
                if dead:
                    # A report may still be in flight from a child that has just exited.
                    try:
                        reports.append(results.get(timeout=5))
                        continue
                    except queue.Empty:
                        pytest.fail(
                            "processes died without reporting: "
                            + ", ".join(f"proc-{n} (exit {procs[n].exitcode})" for n in dead)
                        )
                if time.monotonic() > deadline:
                    pytest.fail(f"appending processes still running after {DEADLINE} s")
        for p in procs:
            p.join(30)
            assert p.exitcode == 0, f"{p.name} exited with {p.exitcode}"
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
        results.close()
    return sorted(reports, key=lambda r: r["proc"])


@pytest.mark.slow
def test_eight_processes_append_gaplessly(database_url, session, engine_name, profile):
    system, _ = writes.create_system(session, Actor.system("setup"), profile)
    session.commit()
    system_id = system.id
    setup_events = ledger_head(session).seq
    assert setup_events == 1
    session.close()

    started = time.perf_counter()
    reports = _run_processes(database_url, system_id)
    elapsed = time.perf_counter() - started

    errors = [r["error"] for r in reports if r["error"]]
    assert errors == [], "\n\n".join(errors)
    committed = [s for r in reports for s in r["committed"]]
    not_committed = [s for r in reports for s in (*r["rolled_back"], *r["raised"])]
    assert all(
        len(r["committed"]) + len(r["rolled_back"]) + len(r["raised"]) == APPENDS for r in reports
    )
    # The seeded draws make the outcome of every append reproducible, and every kind of
    # outcome happens in every process.
    assert all(r["committed"] and r["rolled_back"] and r["raised"] for r in reports)
    print(
        f"\n{engine_name}: {PROCESSES} processes x {APPENDS} appends in {elapsed:.1f} s "
        f"(appending {max(r['seconds'] for r in reports):.1f} s): {len(committed)} committed, "
        f"{sum(len(r['rolled_back']) for r in reports)} rolled back, "
        f"{sum(len(r['raised']) for r in reports)} raised; "
        f"slowest transaction {max(r['slowest'] for r in reports):.2f} s"
    )

    session.expire_all()
    expected = setup_events + len(committed)
    seqs = session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert len(seqs) == expected
    assert seqs == list(range(1, expected + 1))

    # The appends really ran at the same time: consecutive events often come from
    # different processes (were the processes run one after another, there would be
    # PROCESSES - 1 switches).
    actors = [
        json.loads(e)["actor"]
        for e in session.scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq))
    ][setup_events:]
    switches = sum(a != b for a, b in zip(actors, actors[1:], strict=False))
    print(f"{engine_name}: the writing process changed {switches} times along the ledger")
    assert switches > 2 * PROCESSES

    bodies = session.scalars(
        sa.select(EntryVersion.body)
        .join(Entry, Entry.id == EntryVersion.entry_id)
        .where(Entry.kind == "change_log")
    ).all()
    found = Counter(json.loads(b)["summary"] for b in bodies)
    assert len(found) == len(bodies), [s for s, n in found.items() if n > 1][:10]
    assert set(found) == set(committed)
    assert not set(found) & set(not_committed)
    # One version per event: every committed append wrote its version and its event.
    assert session.scalar(sa.select(sa.func.count()).select_from(EntryVersion)) == expected
    report = verify_ledger(session)
    assert report.ok, report
