"""The readiness projection's refresh just after midnight UTC, as the worker runs it
(its own sessions, its commit), on both engines and both queue backends: on the
schedule; with an injected clock it leaves every row equal to a fresh evaluation; the
reminders' scan after it scores nothing again, waits for a refresh under way, and a
worker's start clears the lock a killed one left."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask

from registry.extensions import database, document_store
from registry.jobs.tasks import REFRESH_LOCK, job_queue
from registry.ledger.models import AuditEvent
from registry.notifications.due_list import DueState
from registry.readiness.projection import (
    COLUMNS,
    ReadinessCursor,
    ReadinessProjection,
    Summary,
)
from registry.readiness.scorecard import evaluate
from registry.records import writes
from registry.records.models import AISystem
from tests.jobs.conftest import wait_for
from tests.readiness.evidence import READY_PROFILE, make_ready
from tests.readiness.fresh import expected_row, last_seq
from tests.records.samples import SAMPLES


def _register(app: Flask, session: Any, officer: Any, now: dt.datetime) -> int:
    """Three systems whose scorecards move with the day: one ready, one ready by a
    waiver expiring at noon tomorrow, one with a review falling due; returns how many."""
    ready, _ = writes.create_system(session, officer, READY_PROFILE)
    store = document_store(app)
    make_ready(session, officer, ready, store=store)
    waived, _ = writes.create_system(session, officer, {**READY_PROFILE, "reference": "sys-w"})
    make_ready(session, officer, waived, skip=("funding",), store=store)
    waiver = {
        **SAMPLES["waiver"],
        "approved_on": now.date().isoformat(),
        "expires_at": dt.datetime.combine(
            now.date() + dt.timedelta(days=1), dt.time(12), dt.UTC
        ).isoformat(),
    }
    writes.create_entry(session, officer, waived, "waiver", waiver)
    due, _ = writes.create_system(
        session, officer, {**SAMPLES["profile"], "reference": "sys-d", "stage": "production"}
    )
    procedure = {**SAMPLES["review_procedure"], "frequency_days": 1}
    writes.create_entry(session, officer, due, "review_procedure", procedure)
    session.commit()
    return 3


def _stored(app: Flask) -> dict[int, ReadinessProjection]:
    with database(app).read_sessionmaker() as read:
        return {r.system_id: r for r in read.scalars(sa.select(ReadinessProjection))}


def _equals_a_fresh_evaluation(app: Flask, at: dt.datetime) -> None:
    """Every system's stored row was evaluated at ``at`` on its last event and equals a
    fresh evaluation then (every column the lists read); the cursor at the head."""
    with database(app).read_sessionmaker() as read:
        systems = read.execute(sa.select(AISystem.id, AISystem.reference)).all()
        stored = {r.system_id: r for r in read.scalars(sa.select(ReadinessProjection))}
        assert set(stored) == {s.id for s in systems}
        for system_id, reference in systems:
            row = stored[system_id]
            assert row.evaluated_at == at and row.stable_until > at
            assert row.system_seq == last_seq(read, system_id)
            fresh = evaluate(read, reference, at)
            assert Summary.of_row(row) == Summary.of(system_id, fresh), reference
            expected = expected_row(read, row)
            for column in COLUMNS:
                if column != "stable_until":
                    assert getattr(row, column) == expected[column], (reference, column)
        head = read.scalar(sa.select(sa.func.max(AuditEvent.seq)))
        assert read.scalar(sa.select(ReadinessCursor.seq)) == head


def test_the_refresh_is_on_the_schedule_just_after_midnight(app):
    queue = job_queue(app)

    def scheduled(at: dt.datetime) -> set[str]:
        return {task.name for task in queue.huey.read_periodic(at)}

    day = dt.datetime(2026, 3, 9)  # huey's schedule reads naive UTC
    assert "registry.readiness_refresh" in scheduled(day)
    for later in (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(hours=12)):
        assert "registry.readiness_refresh" not in scheduled(day + later)
    assert "registry.notify_scan" in scheduled(day)  # the scan too: it waits (below)
    assert queue.huey.utc


def test_the_refresh_after_midnight_equals_a_fresh_evaluation(app, session, officer):
    now = dt.datetime.now(dt.UTC)
    count = _register(app, session, officer, now)
    queue = job_queue(app)
    assert queue.refresh_readiness(now) == count  # the first read: every system
    _equals_a_fresh_evaluation(app, now)
    assert queue.refresh_readiness(now + dt.timedelta(seconds=1)) == 0  # all current
    # Just after the next midnight every row is stale (the day-granular rules), and the
    # scheduled refresh evaluates them all again, at the clock it is given.
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    after = midnight + dt.timedelta(seconds=5)
    assert queue.refresh_readiness(after) == count
    _equals_a_fresh_evaluation(app, after)
    # The day after, the waiver has expired and the review is overdue: still equal.
    next_day = after + dt.timedelta(days=1)
    assert queue.refresh_readiness(next_day) == count
    _equals_a_fresh_evaluation(app, next_day)
    waived = next(r for r in _stored(app).values() if r.reference == "sys-w")
    assert not waived.ready
    # The reminders' scan of that morning finds the projection current: it evaluates
    # no system again (every row keeps the instant the refresh evaluated it at).
    queue.scan_notifications(next_day + dt.timedelta(minutes=5))
    assert {r.evaluated_at for r in _stored(app).values()} == {next_day}
    # And the kept list of due items the scan read was made by the refresh, from it.
    with database(app).read_sessionmaker() as read:
        found = set(read.scalars(sa.select(DueState.evaluated_at)))
    assert found == {next_day}


def test_the_scan_waits_for_a_refresh_under_way(app, session, officer):
    now = dt.datetime.now(dt.UTC)
    count = _register(app, session, officer, now)
    queue = job_queue(app)
    # Another worker holds the lock: the midnight refresh leaves the work to it.
    other = job_queue(app).huey.lock_task(REFRESH_LOCK)
    other.acquire()
    assert queue.refresh_readiness(now) is None
    assert _stored(app) == {}
    released = threading.Event()

    def release() -> None:
        time.sleep(1.0)
        released.set()
        other.release()

    threading.Thread(target=release).start()
    queue.scan_notifications(now)  # waits for the lock, then refreshes first
    assert released.is_set()
    assert len(_stored(app)) == count
    _equals_a_fresh_evaluation(app, now)


def test_a_workers_start_clears_a_lock_a_killed_worker_left(app, start_worker):
    lock = job_queue(app).huey.lock_task(REFRESH_LOCK)
    lock.acquire()  # as a worker killed mid-refresh leaves it
    assert job_queue(app).huey.is_locked(REFRESH_LOCK)
    start_worker()

    def cleared() -> bool:
        """the worker's start clears the refresh lock"""
        return not job_queue(app).huey.is_locked(REFRESH_LOCK)

    wait_for(cleared, timeout=30)
