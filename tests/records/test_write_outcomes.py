"""Every outcome of a write, through the one write path (``records.writes``), on both
engines: the ``session`` fixture runs each test on SQLite and on PostgreSQL, whose
drivers (``ledger.append``) differ only in how they send the same statements."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.db import Database
from registry.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StaleVersion
from registry.ledger.checkpoints import LedgerSettings
from registry.ledger.keys import create_key
from registry.ledger.models import AuditEvent, Checkpoint
from registry.ledger.store import ledger_head, verify_ledger
from registry.readiness.gate import PromotionRefused, check_promotion
from registry.records import inputs, writes
from registry.records.models import AISystem, Entry, EntryVersion
from tests.records.samples import SAMPLES

TECH = Actor(
    label="user:tech@example.org", roles=frozenset({"technical_owner"}), email="tech@example.org"
)
OFFICER = Actor.system("officer")
AUDITOR = Actor(
    label="user:audit@example.org", roles=frozenset({"auditor"}), email="audit@example.org"
)
OWNER_OF_TECH = {
    **SAMPLES["owner"],
    "role": "technical",
    "person": {"name": "Tech", "email": TECH.email},
}
JAN = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def made(session, profile) -> dict[str, int]:
    """A system whose technical owner is TECH, with a data source: ids, committed."""
    system, version = writes.create_system(session, OFFICER, profile, reason="registered")
    owner = writes.create_entry(session, OFFICER, system, "owner", OWNER_OF_TECH)
    source = writes.create_entry(session, OFFICER, system, "data_source", SAMPLES["data_source"])
    session.commit()
    return {
        "system": system.id,
        "profile": version.entry_id,
        "owner": owner.entry_id,
        "source": source.entry_id,
    }


def _source(name: str) -> dict[str, Any]:
    return {**SAMPLES["data_source"], "name": name}


def _versions(session, entry_id: int) -> list[tuple[int, bool]]:
    rows = session.execute(
        sa.select(EntryVersion.number, EntryVersion.tombstone)
        .where(EntryVersion.entry_id == entry_id)
        .order_by(EntryVersion.number)
    )
    return [tuple(r) for r in rows]


def test_created_updated_retired_and_reinstated(session, made):
    updated = writes.update_entry(
        session, TECH, made["source"], _source("v2"), base_version=1, reason="renamed"
    )
    retired = writes.retire_entry(session, OFFICER, made["source"], base_version=2)
    session.commit()
    assert (updated.number, updated.tombstone, retired.number, retired.tombstone) == (
        2,
        False,
        3,
        True,
    )
    assert updated.author == TECH.label and updated.reason == "renamed"
    assert _versions(session, made["source"]) == [(1, False), (2, False), (3, True)]
    system = session.get(Entry, made["profile"]).system
    writes.retire_entry(session, OFFICER, made["profile"], base_version=1)
    back = writes.reinstate_system(session, OFFICER, system, base_version=2, reason="back")
    session.commit()
    assert (back.number, back.tombstone) == (3, False)
    first = session.scalar(
        sa.select(EntryVersion.body).where(
            EntryVersion.entry_id == made["profile"], EntryVersion.number == 1
        )
    )
    assert back.body == first
    events = session.scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq)).all()
    actions = [e.split(b'"action":"')[1].split(b'"')[0].decode() for e in events]
    assert actions == [
        "system.create",
        "entry.create",
        "entry.create",
        "entry.update",
        "entry.retire",
        "entry.retire",
        "entry.reinstate",
    ]
    assert verify_ledger(session).ok


# Refusals in the documented order: each case breaks every rule after the one it
# expects to hear about, so an order changed anywhere fails one of them.
NAIVE = dt.datetime(2025, 1, 1)
REFUSALS: list[tuple[str, Callable[[dict[str, int]], dict[str, Any]], type[Exception], str]] = [
    (
        "not found",
        lambda m: {"entry": 999_999, "actor": AUDITOR, "body": {"x": 1}, "base": 7},
        NotFound,
        "No entry",
    ),
    (
        "permission",
        lambda m: {"entry": m["source"], "actor": AUDITOR, "body": {"x": 1}, "base": 7},
        PermissionDenied,
        "may not change",
    ),
    (
        "body",
        lambda m: {"entry": m["source"], "body": {"x": 1}, "reason": "\x00", "base": 7},
        InvalidInput,
        "The data_source is not valid",
    ),
    (
        "reason",
        lambda m: {"entry": m["source"], "reason": "\x00", "at": NAIVE, "base": 7},
        InvalidInput,
        "reason",
    ),
    (
        "instant",
        lambda m: {"entry": m["source"], "at": NAIVE, "base": 7},
        InvalidInput,
        "time zone",
    ),
    (
        "stale base",
        lambda m: {"entry": m["source"], "base": 7, "retired": True},
        StaleVersion,
        "has changed",
    ),
    ("retired", lambda m: {"entry": m["source"], "base": 2, "retired": True}, Conflict, "retired"),
]


@pytest.mark.parametrize(("case", "given", "error", "says"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_come_in_order_and_write_nothing(session, made, case, given, error, says):
    args = given(made)
    if args.pop("retired", False):
        writes.retire_entry(session, OFFICER, made["source"], base_version=1)
        session.commit()
    before = ledger_head(session).seq
    session.rollback()
    with pytest.raises(error, match=says):
        writes.update_entry(
            session,
            args.get("actor", TECH),
            args["entry"],
            args.get("body", _source("changed")),
            base_version=args["base"],
            effective_from=args.get("at"),
            reason=args.get("reason"),
        )
    session.rollback()
    assert ledger_head(session).seq == before


def test_a_promotion_meets_the_readiness_gate(session, made, profile):
    promotion = {**profile, "stage": "production"}
    with pytest.raises(PromotionRefused):
        writes.update_entry(
            session, OFFICER, made["profile"], promotion, base_version=1, gate=check_promotion
        )
    session.rollback()
    # The caller passes the gate in (records sits below readiness); a promotion without
    # one is a caller's bug, refused rather than let through.
    with pytest.raises(RuntimeError, match="no readiness gate"):
        writes.update_entry(session, OFFICER, made["profile"], promotion, base_version=1)
    session.rollback()
    # The classification is a compliance officer's, whoever is the system's owner.
    with pytest.raises(PermissionDenied, match="risk_tier"):
        writes.update_entry(
            session, TECH, made["profile"], {**profile, "risk_tier": "minimal"}, base_version=1
        )
    session.rollback()
    assert _versions(session, made["profile"]) == [(1, False)]


def _settings(tmp_path: Path, every: int) -> LedgerSettings:
    signer = create_key(tmp_path / "ledger-signing.key", "registry.test/ledger")
    # A last checkpoint "now": none is due by time during the test.
    return LedgerSettings(signer, every_events=every, every_seconds=3600, last_made=1e12)


def test_the_checkpoint_due_is_made_with_its_event(session, made, tmp_path, database_url):
    before = ledger_head(session).seq
    session.rollback()
    settings = _settings(tmp_path, every=3)
    db = Database(database_url, ledger=settings)
    try:
        for n in range(1, 8):
            with db.sessionmaker() as s:
                writes.update_entry(s, TECH, made["source"], _source(f"v{n}"), base_version=n)
                s.commit()
    finally:
        db.dispose()
    session.expire_all()
    head = ledger_head(session).seq
    sizes = session.scalars(sa.select(Checkpoint.tree_size).order_by(Checkpoint.tree_size)).all()
    maps = session.scalars(
        sa.select(AuditEvent.seq).where(AuditEvent.seq > before, AuditEvent.system_id.is_(None))
    ).all()
    written = [s for s in range(before + 1, head + 1) if s not in maps]
    assert len(written) == 7 and head == before + 7 + len(maps)
    # Due with each write whose seq is a multiple of 3, signed at the map appended then.
    assert sizes == maps == [s + 1 for s in written if s % 3 == 0]
    assert verify_ledger(session, trusted_keys=[settings.signer.verifier_key]).ok


def _race(
    database_url: str, engine_name: str, first: Callable[[Any], None], second: Callable[[Any], Any]
) -> Any:
    """``second`` asks for the ledger lock while ``first`` holds it with a change not yet
    committed, and takes it (and reads its state under it) once ``first`` commits (on
    PostgreSQL; on SQLite a writer holds the lock from its first statement, so
    ``second`` simply comes after). Returns what ``second`` returned or raised."""
    db = Database(database_url)
    outcome: list[Any] = []

    def run_second() -> None:
        with db.sessionmaker() as s:
            try:
                outcome.append(second(s))
                s.commit()
            except Exception as exc:
                outcome.append(exc)

    try:
        with db.sessionmaker() as holder:
            first(holder)
            if engine_name != "postgresql":
                holder.commit()
                run_second()
                return outcome[0]
            thread = threading.Thread(target=run_second)
            thread.start()
            with db.engine.connect() as watcher:  # until the second writer waits for the lock
                for _ in range(6000):
                    waiting = watcher.scalar(
                        sa.text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND NOT granted"
                        )
                    )
                    watcher.rollback()
                    if waiting:
                        break
                    time.sleep(0.01)
                assert waiting, "the second writer never waited for the ledger lock"
            holder.commit()
            thread.join(60)
        return outcome[0]
    finally:
        db.dispose()


def test_a_decision_waits_for_the_lock_and_sees_the_change_before_it(
    session, made, database_url, engine_name
):
    """The second writer, based on version 1, waits for the lock the first holds; it
    reads the state under it, head 2 committed meanwhile, and refuses (412), instead of
    writing on a base that is gone."""
    session.rollback()
    source = made["source"]
    got = _race(
        database_url,
        engine_name,
        lambda s: writes.update_entry(s, OFFICER, source, _source("first"), base_version=1),
        lambda s: writes.update_entry(s, OFFICER, source, _source("second"), base_version=1),
    )
    assert isinstance(got, StaleVersion) and got.current == 2
    assert _versions(session, source) == [(1, False), (2, False)]


def test_an_owner_change_takes_the_right_away_mid_way(session, made, database_url, engine_name):
    """The technical owner's owner entry is retired while they wait for the lock; their
    right is read under it, without that entry: refused."""
    session.rollback()
    got = _race(
        database_url,
        engine_name,
        lambda s: writes.retire_entry(s, OFFICER, made["owner"], base_version=1),
        lambda s: writes.update_entry(s, TECH, made["source"], _source("mine"), base_version=1),
    )
    assert isinstance(got, PermissionDenied), got
    assert _versions(session, made["source"]) == [(1, False)]
    assert verify_ledger(session).ok


def test_a_write_validates_its_body_once(session, made, monkeypatch):
    """The body is checked by its kind's schema once per write: the state's reader
    (which needs the clean body for the records it names) hands it to the decision.
    An invalid body is checked again by the decision, and refused in its order."""
    loads: list[str] = []
    real = inputs.normalise_body

    def counted(kind: str, body: Any) -> Any:
        loads.append(kind)
        return real(kind, body)

    monkeypatch.setattr(inputs, "normalise_body", counted)
    version = writes.update_entry(
        session, OFFICER, made["source"], _source("Checked once"), base_version=1
    )
    assert version.number == 2 and loads == ["data_source"]
    system = session.get(AISystem, made["system"])
    writes.create_entry(session, OFFICER, system, "data_source", _source("New, once"))
    assert loads == ["data_source"] * 2
    with pytest.raises(PermissionDenied):  # refused for the right, before the body
        writes.update_entry(session, AUDITOR, made["source"], {"uses": 1}, base_version=2)
    assert len(loads) == 3  # by the reader only
    with pytest.raises(InvalidInput):
        writes.update_entry(session, OFFICER, made["source"], {"uses": 1}, base_version=2)
    assert len(loads) == 5  # by the reader, and again by the decision that refuses it
