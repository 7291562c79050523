"""The readiness projection equals a fresh evaluation after every kind of write, is
reused while a system has not changed, follows time alone (a waiver's expiry), and is
made again by `registry readiness rebuild` (both engines)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from registry.extensions import database
from registry.ledger.models import AuditEvent
from registry.readiness.gate import check_promotion
from registry.readiness.projection import ReadinessProjection, Summary, summaries
from registry.readiness.scorecard import evaluate
from registry.records import writes
from registry.records.models import AISystem, Entry
from tests.readiness.evidence import (
    DELEGATE,
    READY_PROFILE,
    make_ready,
    ready_entries,
    store_documents,
)
from tests.records.samples import SAMPLES


def _stored(read: Any) -> dict[int, ReadinessProjection]:
    return {r.system_id: r for r in read.scalars(sa.select(ReadinessProjection))}


def _last_seq(read: Any, system_id: int) -> int:
    return read.scalar(
        sa.select(sa.func.max(AuditEvent.seq)).where(AuditEvent.system_id == system_id)
    )


def _check(app: Any) -> dict[int, ReadinessProjection]:
    """Read the projection as the lists do (a read session, whose projector stores what
    it evaluated), then hold what was read and what is stored to a fresh evaluation."""
    db = database(app)
    now = dt.datetime.now(dt.UTC)
    with db.read_sessionmaker() as read:
        systems = read.execute(sa.select(AISystem.id, AISystem.reference)).all()
        got = summaries(read, [s.id for s in systems], now)
    with db.read_sessionmaker() as read:
        stored = _stored(read)
        for system_id, reference in systems:
            fresh = Summary.of(system_id, evaluate(read, reference, now))
            assert got[system_id] == fresh, reference
            assert Summary.of_row(stored[system_id]) == fresh, reference
            assert stored[system_id].system_seq == _last_seq(read, system_id)
            assert stored[system_id].evaluated_at <= now
        # Read again: the stored rows answer, and they still equal a fresh evaluation.
        later = dt.datetime.now(dt.UTC)
        again = summaries(read, [s.id for s in systems], later)
        for system_id, reference in systems:
            assert again[system_id] == Summary.of(system_id, evaluate(read, reference, later))
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

    store_documents(session, officer, other)  # a document alone
    session.commit()
    _check(app)


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
        assert row.system_seq == _last_seq(read, system.id)
        fresh = evaluate(read, system.reference, row.evaluated_at)
        assert Summary.of_row(row) == Summary.of(system.id, fresh) and fresh.ready
