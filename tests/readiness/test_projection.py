"""The readiness projection equals a fresh evaluation after every kind of write, is
reused while a system has not changed, follows time alone (a waiver's expiry), and is
made again by `registry readiness rebuild` (both engines)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import sqlalchemy as sa

import registry.readiness.projection as projection
from registry.db import SQLITE_BUSY_TIMEOUT_MS, giving_way
from registry.extensions import database
from registry.ledger.models import AuditEvent
from registry.readiness.gate import check_promotion
from registry.readiness.projection import (
    COLUMNS,
    OWNER_COPIES,
    ReadinessCursor,
    ReadinessOwner,
    ReadinessProjection,
    Summary,
    current,
    owner_index,
    summaries,
)
from registry.readiness.scorecard import evaluate
from registry.records import writes
from registry.records.models import AISystem, Entry
from tests.readiness.evidence import (
    DELEGATE,
    READY_DOCUMENTS,
    READY_PROFILE,
    make_ready,
    ready_entries,
    store_documents,
)
from tests.readiness.fresh import expected_row, last_seq
from tests.records.samples import SAMPLES


def _stored(read: Any) -> dict[int, ReadinessProjection]:
    return {r.system_id: r for r in read.scalars(sa.select(ReadinessProjection))}


def _check(app: Any) -> dict[int, ReadinessProjection]:
    """Read the projection as the lists do (a read session, whose projector stores what
    it evaluated), then hold what was read and what is stored to a fresh evaluation:
    the summary, every column the lists read, the owner index (with the row's columns
    it holds) and the cursor."""
    db = database(app)
    now = dt.datetime.now(dt.UTC)
    with db.read_sessionmaker() as read:
        systems = read.execute(sa.select(AISystem.id, AISystem.reference)).all()
        got = summaries(read, [s.id for s in systems], now)
        view = current(read, now)  # the lists' read: what changed since the cursor
    with db.read_sessionmaker() as read:
        stored = _stored(read)
        for system_id, reference in systems:
            fresh = Summary.of(system_id, evaluate(read, reference, now))
            assert got[system_id] == fresh, reference
            assert Summary.of_row(stored[system_id]) == fresh, reference
            assert stored[system_id].system_seq == last_seq(read, system_id)
            assert stored[system_id].evaluated_at <= now
            expected = expected_row(read, stored[system_id])
            for column in COLUMNS:
                if column != "stable_until":
                    assert getattr(stored[system_id], column) == expected[column], column
            if system_id in view.fresh:  # what the read evaluated is what it stored
                row = view.fresh[system_id]
                assert {c: getattr(stored[system_id], c) for c in COLUMNS} == {
                    c: row[c] for c in COLUMNS
                }
        owners = {
            (person, system_id, role, *(getattr(row, c) for c in OWNER_COPIES))
            for system_id, row in stored.items()
            for person, role in owner_index({c: getattr(row, c) for c in COLUMNS})
        }
        index = read.execute(
            sa.select(
                ReadinessOwner.person,
                ReadinessOwner.system_id,
                ReadinessOwner.role,
                *(getattr(ReadinessOwner, c) for c in OWNER_COPIES),
            )
        )
        assert set(index) == owners  # with the row's columns "My systems" reads
        head = read.scalar(sa.select(sa.func.max(AuditEvent.seq)))
        assert read.scalar(sa.select(ReadinessCursor.seq)) == head
        # Read again: the stored rows answer, and they still equal a fresh evaluation.
        later = dt.datetime.now(dt.UTC)
        again = summaries(read, [s.id for s in systems], later)
        for system_id, reference in systems:
            assert again[system_id] == Summary.of(system_id, evaluate(read, reference, later))
        assert current(read, later).fresh == {}  # nothing changed: nothing evaluated
    with db.read_sessionmaker() as read:
        assert {k: v.evaluated_at for k, v in _stored(read).items()} == {
            k: v.evaluated_at for k, v in stored.items()
        }  # nothing was evaluated again
    return stored


def _head(session: Any, entry_id: int) -> int:
    return session.get(Entry, entry_id).head_number


def test_the_projection_equals_a_fresh_evaluation_after_every_kind_of_write(app, session, officer):
    system, profile = writes.create_system(session, officer, READY_PROFILE)  # create
    other, _ = writes.create_system(
        session, officer, {**SAMPLES["profile"], "reference": "other", "stage": "pilot"}
    )
    session.commit()
    first = _check(app)
    ids = make_ready(session, officer, system)  # entries and documents
    session.commit()
    after = _check(app)
    # The unchanged system's row was reused; the changed one's evaluated again.
    assert after[other.id].evaluated_at == first[other.id].evaluated_at
    assert after[system.id].evaluated_at > first[system.id].evaluated_at
    assert Summary.of_row(after[system.id]).ready

    owner = ids["owner"]
    body = {**dict(ready_entries())["owner"], "role": "technical", "delegate": DELEGATE}
    body["person"] = {"name": "Tess", "email": "tess@example.org"}
    writes.update_entry(session, officer, owner, body, base_version=_head(session, owner))
    session.commit()
    _check(app)  # update

    writes.patch_entry(
        session,
        officer,
        ids["monitoring_plan"],
        {"log_retention_days": 30},
        base_version=_head(session, ids["monitoring_plan"]),
    )
    session.commit()
    assert not Summary.of_row(_check(app)[system.id]).ready  # patch: monitoring unmet

    writes.retire_entry(
        session, officer, ids["funding"], base_version=_head(session, ids["funding"])
    )
    session.commit()
    _check(app)  # retire

    writes.update_entry(
        session,
        officer,
        ids["monitoring_plan"],
        next(b for k, b in ready_entries() if k == "monitoring_plan"),
        base_version=_head(session, ids["monitoring_plan"]),
    )
    writes.create_entry(
        session,
        officer,
        system,
        "funding",
        {"funder": "Dept", "budget": "1000", "covers": ["run", "improve"], "start": "2025-01-01"},
    )
    session.commit()
    assert Summary.of_row(_check(app)[system.id]).ready

    writes.retire_entry(
        session, officer, profile.entry_id, base_version=_head(session, profile.entry_id)
    )
    session.commit()
    _check(app)  # the system retired

    writes.reinstate_system(
        session,
        officer,
        session.get(AISystem, system.id),
        base_version=_head(session, profile.entry_id),
        gate=check_promotion,
    )
    session.commit()
    _check(app)  # reinstated

    promoted = {**READY_PROFILE, "stage": "production"}
    writes.update_entry(
        session,
        officer,
        profile.entry_id,
        promoted,
        base_version=_head(session, profile.entry_id),
        gate=check_promotion,
    )
    session.commit()
    _check(app)  # promotion

    # Documents alone, their last day passed: the expired evidence the dashboard lists.
    store_documents(session, officer, other, valid_until=dt.date.today() - dt.timedelta(days=2))
    session.commit()
    assert _check(app)[other.id].expired_count == len(READY_DOCUMENTS)

    writes.create_entry(session, officer, other, "incident", SAMPLES["incident"])  # open
    session.commit()
    stored = _check(app)[other.id]
    assert stored.incident_count == 1 and stored.incident_undated is False


def test_a_stored_row_is_current_until_the_records_change_with_time(app, session, officer):
    """A waiver in force keeps an area waived until it expires: the stored row is
    current before then, and evaluated again from that instant on."""
    system, _ = writes.create_system(session, officer, READY_PROFILE)
    make_ready(session, officer, system, skip=("funding",))
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(hours=1)
    waiver = {
        **SAMPLES["waiver"],
        "approved_on": now.date().isoformat(),
        "expires_at": expires.isoformat(),
    }
    writes.create_entry(session, officer, system, "waiver", waiver)
    session.commit()
    db = database(app)
    at = dt.datetime.now(dt.UTC)
    with db.read_sessionmaker() as read:
        assert summaries(read, [system.id], at)[system.id].ready
    with db.read_sessionmaker() as read:
        row = _stored(read)[system.id]
        assert row.stable_until == min(
            expires, dt.datetime.combine(at.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
        )
        after = expires + dt.timedelta(seconds=1)
        found = summaries(read, [system.id], after)[system.id]
        assert found == Summary.of(system.id, evaluate(read, system.reference, after))
        assert not found.ready and found.unmet == ("Lifecycle funding",)


def test_readiness_rebuild_makes_the_projection_again(app, session, officer):
    system, _ = writes.create_system(session, officer, READY_PROFILE)
    make_ready(session, officer, system)
    session.commit()
    session.close()
    result = app.test_cli_runner().invoke(args=["readiness", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "Readiness projection rebuilt: 1 systems" in result.output
    with database(app).read_sessionmaker() as read:
        row = _stored(read)[system.id]
        assert row.system_seq == last_seq(read, system.id)
        fresh = evaluate(read, system.reference, row.evaluated_at)
        assert Summary.of_row(row) == Summary.of(system.id, fresh) and fresh.ready


def _rows_in_statistics(read: Any) -> int | None:
    """How many rows the planner's statistics say the projection holds (None: none)."""
    if read.get_bind().dialect.name == "postgresql":
        found = read.scalar(
            sa.text("SELECT reltuples FROM pg_class WHERE relname = 'readiness_projection'")
        )
        return None if found < 0 else int(found)
    if read.scalar(sa.text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")) == 0:
        return None  # no table ever analyzed
    found = read.scalar(
        sa.text(
            "SELECT stat FROM sqlite_stat1 WHERE tbl = 'readiness_projection'"
            " AND idx = 'ix_readiness_projection_recency'"
        )
    )
    return None if found is None else int(found.split()[0])


def test_storing_many_rows_at_once_refreshes_the_statistics(app, session, officer, monkeypatch):
    """The first read of a register stores every system's row: the planner's statistics
    of the projection are made then (on SQLite it has none until an ANALYZE, and took
    the projection for a large table); a read storing fewer rows leaves them."""
    monkeypatch.setattr(projection, "ANALYZE_AFTER", 3)
    for n in range(3):
        writes.create_system(session, officer, {**READY_PROFILE, "reference": f"sys-{n}"})
    session.commit()
    session.close()
    db = database(app)
    with db.read_sessionmaker() as read:
        assert _rows_in_statistics(read) is None
        current(read, dt.datetime.now(dt.UTC))
    with db.read_sessionmaker() as read:
        assert len(_stored(read)) == 3
        assert _rows_in_statistics(read) == 3
    writes.create_system(session, officer, {**READY_PROFILE, "reference": "sys-3"})
    session.commit()
    session.close()
    with db.read_sessionmaker() as read:
        current(read, dt.datetime.now(dt.UTC))
    with db.read_sessionmaker() as read:
        assert len(_stored(read)) == 4
        assert _rows_in_statistics(read) == 3  # one row stored: not analyzed again
    result = app.test_cli_runner().invoke(args=["readiness", "rebuild"])
    assert result.exit_code == 0, result.output
    with db.read_sessionmaker() as read:
        assert _rows_in_statistics(read) == 4


def test_readiness_refresh_brings_the_projection_up_to_date(app, session, officer):
    system, _ = writes.create_system(session, officer, READY_PROFILE)
    make_ready(session, officer, system)
    session.commit()
    session.close()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["readiness", "refresh"])
    assert result.exit_code == 0, result.output
    assert "Readiness projection refreshed: 1 systems evaluated" in result.output
    with database(app).read_sessionmaker() as read:
        row = _stored(read)[system.id]
        assert row.system_seq == last_seq(read, system.id)
        head = read.scalar(sa.select(sa.func.max(AuditEvent.seq)))
        assert read.scalar(sa.select(ReadinessCursor.seq)) == head
    result = runner.invoke(args=["readiness", "refresh"])  # nothing changed since
    assert "Readiness projection refreshed: 0 systems evaluated" in result.output


def test_storing_what_a_read_evaluated_gives_way_to_a_long_write(app, session, officer, caplog):
    """On SQLite a writer holds the whole database: a read that evaluated systems while
    another transaction writes answers at once and leaves the rows unstored (the next
    read evaluates them again), instead of waiting the writers' busy timeout; the
    connection keeps the writers' timeout afterwards. On PostgreSQL the rows are kept."""
    system, _ = writes.create_system(session, officer, READY_PROFILE)
    session.commit()
    db = database(app)
    now = dt.datetime.now(dt.UTC)
    holder = db.engine.connect()
    try:
        holder.begin()  # on SQLite, BEGIN IMMEDIATE: the write lock, as a long write holds it
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="registry.readiness.projector"):
            with db.read_sessionmaker() as read:
                got = summaries(read, [system.id], now)
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert got[system.id].system_id == system.id
    with db.read_sessionmaker() as read:
        stored = _stored(read)
    if db.dialect == "sqlite":
        assert "readiness projection not stored" in caplog.text
        assert stored == {}
        # Far below the writers' 60 s: the keeping gave way.
        assert waited < SQLITE_BUSY_TIMEOUT_MS / 1000 / 4
        # A transaction that gave way waits as long as any writer once it has begun.
        with giving_way(db.engine).begin() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
    else:
        assert set(stored) == {system.id}


def test_a_read_after_midnight_counts_each_system_once(app, session, officer):
    """The first read of a new day evaluates every system again (their rows' time has
    run out) and its projector stores the new rows at once; the read's later statements
    (each its own snapshot on PostgreSQL) see those stored rows beside its fresh ones,
    and must not read a system twice."""
    ids = []
    for n in range(3):
        system, _ = writes.create_system(
            session, officer, {**READY_PROFILE, "reference": f"mid-{n}"}
        )
        ids.append(system.id)
    session.commit()
    db = database(app)
    today = dt.datetime.now(dt.UTC)
    with db.read_sessionmaker() as read:
        assert current(read, today).tally(read, ["listed"], [])[(True,)]["rows"] == 3
    tomorrow = today + dt.timedelta(days=1)
    with db.read_sessionmaker() as read:
        now = current(read, tomorrow)
        assert set(now.fresh) == set(ids)  # every row stale by time, none by an event
        assert now.tally(read, ["listed"], [])[(True,)]["rows"] == 3
        assert sorted(r["system_id"] for r in now.rows(read, [])) == sorted(ids)
    with db.read_sessionmaker() as read:
        assert {i for i, row in _stored(read).items() if row.evaluated_at == tomorrow} == set(ids)
