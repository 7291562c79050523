"""A large ledger is verified in aligned chunks by parallel processes: the same answers
as one pass, problems located the same way."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import registry.ledger.store as store
from registry.ledger.keys import load_key
from registry.ledger.models import AuditEvent
from tests.conftest import append_only_lifted
from tests.ledger.test_verify import signed  # noqa: F401  (the fixture)


@pytest.fixture
def chunked(monkeypatch):
    monkeypatch.setattr(store, "PARALLEL_FROM", 1)
    monkeypatch.setattr(store, "CHUNK", 8)  # 35 events: chunks 1-8, 9-16, 17-24, 25-32, 33-35


def _both(app, session):
    key = load_key(Path(app.config["SIGNING_KEY_PATH"])).verifier_key
    session.expire_all()
    one = store.verify_ledger(session, [key], workers=1)
    many = store.verify_ledger(session, [key], workers=2)
    return one, many


def _same(one, many):
    fields = (
        "ok",
        "events",
        "versions",
        "checkpoints",
        "head",
        "problem",
        "problem_seq",
        "uncovered",
    )
    assert {f: getattr(one, f) for f in fields} == {f: getattr(many, f) for f in fields}


def test_parallel_verification_agrees_when_intact(signed, chunked):  # noqa: F811
    one, many = _both(*signed)
    # 35 events, and the map of the systems' last events each checkpoint is signed at
    assert many.ok and many.events == 35 + many.checkpoints and many.checkpoints >= 3
    _same(one, many)


@pytest.mark.parametrize("seq", [3, 9, 17, 30])
def test_parallel_verification_locates_an_edit(signed, chunked, seq):  # noqa: F811
    app, session = signed
    with append_only_lifted(session, "audit_event"):
        row = session.get(AuditEvent, seq)
        session.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.seq == seq)
            .values(event=row.event.replace(b'"actor":"', b'"actor":"x'))
        )
    one, many = _both(app, session)
    assert not many.ok and many.problem_seq == seq
    _same(one, many)


def test_parallel_verification_checks_links_across_chunks(signed, chunked):  # noqa: F811
    app, session = signed
    # Event 17 opens a chunk: give it a different (but self-consistent) link.
    with append_only_lifted(session, "audit_event"):
        session.execute(
            sa.update(AuditEvent).where(AuditEvent.seq == 17).values(prev_hash="f" * 64)
        )
    one, many = _both(app, session)
    assert not many.ok and many.problem_seq == 17 and "previous-hash link" in many.problem
    _same(one, many)
