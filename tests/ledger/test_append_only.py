"""The database itself refuses to change or remove history, on both engines."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.records import writes
from tests.records.samples import SAMPLES

STATEMENTS = {
    "entry_version": ("UPDATE entry_version SET body = '{}'", "DELETE FROM entry_version"),
    "audit_event": ("UPDATE audit_event SET system_id = 0", "DELETE FROM audit_event"),
    "checkpoint": ("UPDATE checkpoint SET note = ''", "DELETE FROM checkpoint"),
    # Migration 0012: a witness's cosignature, or its refusal (an alarm), is history too.
    "witness_cosignature": (
        "UPDATE witness_cosignature SET refused = false",
        "DELETE FROM witness_cosignature",
    ),
}


@pytest.fixture
def history(session, officer, profile):
    system, _ = writes.create_system(session, officer, profile)
    writes.create_entry(session, officer, system, "risk", SAMPLES["risk"])
    session.execute(
        sa.text(
            "INSERT INTO checkpoint (tree_size, root_hash, chain_head, key_id, note, created_at) "
            "VALUES (1, :h, :h, 'k', 'note', :t)"
        ),
        {"h": "0" * 64, "t": "2026-01-01 00:00:00"},
    )
    session.execute(
        sa.text(
            "INSERT INTO witness_cosignature (tree_size, witness, url, key_id, refused, answer,"
            " received_at) VALUES (1, 'w.test/a', 'http://w.test', 'k', true, 'fork', :t)"
        ),
        {"t": "2026-01-01 00:00:00"},
    )
    session.commit()


def _counts(session):
    return {t: session.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in STATEMENTS}


@pytest.mark.parametrize("table", sorted(STATEMENTS))
@pytest.mark.parametrize("which", [0, 1], ids=["update", "delete"])
def test_update_and_delete_are_refused(session, history, table, which):
    before = _counts(session)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        session.execute(sa.text(STATEMENTS[table][which]))
    session.rollback()
    assert _counts(session) == before


@pytest.mark.parametrize("table", sorted(STATEMENTS))
def test_truncate_is_refused(session, history, engine_name, table):
    # SQLite has no TRUNCATE: its equivalent is the "truncate optimisation" of a DELETE
    # without WHERE, which a DELETE trigger switches off.
    statement = (
        f"TRUNCATE {table} CASCADE" if engine_name == "postgresql" else f"DELETE FROM {table}"
    )
    before = _counts(session)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        session.execute(sa.text(statement))
    session.rollback()
    assert _counts(session) == before


def test_the_orm_cannot_rewrite_a_version(session, officer, history):
    from registry.records.models import EntryVersion

    version = session.scalars(sa.select(EntryVersion)).first()
    version.reason = "rewritten"
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        session.commit()
    session.rollback()


def test_deleting_an_author_is_refused_and_history_stays(session, officer, users, profile):
    from registry.records.models import EntryVersion

    writes.create_system(session, officer, profile)
    session.commit()
    before = _counts(session)
    with pytest.raises(sa.exc.IntegrityError):
        session.execute(
            sa.text('DELETE FROM "user" WHERE id = :id'), {"id": users["compliance_officer"].id}
        )
    session.rollback()
    assert _counts(session) == before
    assert session.scalar(sa.select(EntryVersion.author_id)) == users["compliance_officer"].id
    # A user who never wrote a record can go; the ledger's events about them stay.
    events = session.scalar(sa.text("SELECT count(*) FROM audit_event"))
    session.execute(sa.text('DELETE FROM "user" WHERE id = :id'), {"id": users["auditor"].id})
    session.commit()
    assert session.scalar(sa.text("SELECT count(*) FROM audit_event")) == events
