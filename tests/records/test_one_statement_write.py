"""Committed updates and retirements: on PostgreSQL one autocommit statement
(``registry_write_version()``, migration 0007) that takes the ledger lock, fills in the
event's template and writes; elsewhere, and whenever something needs the other path,
the step-by-step write and a commit. Either way the ledger is the same."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.db import Database
from registry.errors import Conflict, NotFound, PermissionDenied, StaleVersion
from registry.ledger.canonical import canonical_bytes
from registry.ledger.chain import event_template, seal_event
from registry.ledger.checkpoints import LedgerSettings
from registry.ledger.keys import create_key
from registry.ledger.models import AuditEvent, Checkpoint
from registry.ledger.store import ledger_head, verify_ledger
from registry.records import reads, service
from registry.records.models import Entry, EntryVersion
from tests.records.samples import SAMPLES

TRICKY_FIELDS = [
    {"actor": 'Zoë "quoted" \\ back\\slash \u2028\u2029 \x00\x01\x1f\x7f', "n": 2**31 - 1},
    {"system": "\U0001f600-sys", "nested": {"b": [1, {"c": "é"}], "a": None, "": []}},
    {"big": 2**53 - 1, "neg": -(2**53) + 1, "float": 1e21, "small": 1e-7, "z": -0.0},
    {"seq_like": '"seq":1,', "prev_hash_like": '"prev_hash":"00"', "\u00e9": "key order"},
    {"effective_from": "2025-01-01T00:00:00.000000+00:00", "long": "x" * 5000},
]


@pytest.fixture
def entry_id(session, officer, profile) -> int:
    system, _ = service.create_system(session, officer, profile)
    version = service.create_entry(session, officer, system, "owner", SAMPLES["owner"])
    session.commit()
    return version.entry_id


def _head_number(session, entry_id: int) -> int:
    return session.scalar(sa.select(Entry.head_number).where(Entry.id == entry_id))


def _call(session, entry_id: int, base: int, fields: dict[str, Any], time_fields: tuple) -> Any:
    template = event_template(fields, time_fields)
    assert template is not None
    return session.execute(
        sa.text(
            "SELECT * FROM registry_write_version(:entry_id, :base, false, 1, 'owner', 'sys-1', "
            ":parts, :slots, '{}', :hash, NULL, NULL, 'system:test', '', NULL, NULL, NULL)"
        ),
        {
            "entry_id": entry_id,
            "base": base,
            "parts": list(template.parts),
            "slots": list(template.slots),
            "hash": "ab" * 32,
        },
    ).one()


@pytest.mark.parametrize("fields", TRICKY_FIELDS)
def test_the_database_fills_a_template_into_the_sealed_event(
    session, engine_name, entry_id, fields
):
    if engine_name != "postgresql":
        pytest.skip("the function exists on PostgreSQL")
    head = ledger_head(session)
    time_fields = ("time",) if "effective_from" in fields else ("time", "effective_from")
    row = _call(session, entry_id, _head_number(session, entry_id), fields, time_fields)
    assert row.outcome == "written" and row.new_seq == head.seq + 1
    stored = session.get(AuditEvent, row.new_seq)
    time = stored.recorded_at.isoformat(timespec="microseconds")
    expected = seal_event(
        row.new_seq, head.event_hash, {**dict.fromkeys(time_fields, time), **fields}
    )
    assert stored.event == expected.event
    assert stored.prev_hash == head.event_hash
    assert stored.event_hash == row.new_event_hash == hashlib.sha256(stored.event).hexdigest()
    assert stored.leaf_hash == expected.leaf_hash
    assert stored.recorded_at > head.recorded_at
    session.rollback()


@pytest.mark.parametrize(
    "previous",
    [
        dt.datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),  # the next is 3000-01-01
        dt.datetime(2100, 2, 28, 23, 59, 59, 999999, tzinfo=dt.UTC),  # 2100 is no leap year
        dt.datetime(2400, 2, 29, 12, 0, 0, 0, tzinfo=dt.UTC),
    ],
)
def test_event_times_are_written_as_python_writes_them(session, engine_name, entry_id, previous):
    """The event time is the server's clock, but after the previous event's: a head in
    the future sets it, to the microsecond, and its text must be Python's isoformat."""
    if engine_name != "postgresql":
        pytest.skip("the function exists on PostgreSQL")
    head = ledger_head(session)
    session.execute(
        sa.insert(AuditEvent),
        [
            {
                "seq": head.seq + 1,
                "recorded_at": previous,
                "event": b"{}",
                "prev_hash": head.event_hash,
                "event_hash": "cd" * 32,
                "leaf_hash": "cd" * 32,
                "system_id": None,
            }
        ],
    )
    row = _call(session, entry_id, _head_number(session, entry_id), {}, ("time",))
    expected_time = previous + dt.timedelta(microseconds=1)
    assert row.new_recorded_at == expected_time
    event = session.get(AuditEvent, row.new_seq).event
    assert b'"time":"%s"' % expected_time.isoformat(timespec="microseconds").encode() in event
    session.rollback()


def _no_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the step-by-step write was used")

    monkeypatch.setattr(service, "_write_version", refuse)


def test_committed_updates_and_retirements_verify(
    session, engine_name, entry_id, database_url, monkeypatch
):
    if engine_name == "postgresql":
        _no_step_by_step(monkeypatch)
    actor = Actor.system('import "Zoë" \\ \u2028 run', roles=frozenset({"compliance_officer"}))
    db = Database(database_url)
    try:
        for n in range(2, 6):
            with db.sessionmaker() as s:
                body = {
                    **SAMPLES["owner"],
                    "person": {"name": f"Ünïcode {n}", "email": "zoe@example.org"},
                }
                version = service.update_entry(
                    s,
                    actor,
                    entry_id,
                    body,
                    base_version=n - 1,
                    reason=f"reason {n} ✓",
                    commit=True,
                )
                assert not s.in_transaction()
                assert version.number == n and version.entry.head_number == n
                assert version.entry.system.reference == "sys-1"
                assert version.recorded_at == version.effective_from
        with db.sessionmaker() as s:
            later = dt.datetime(2031, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
            retired = service.retire_entry(
                s, actor, entry_id, base_version=5, effective_from=later, commit=True
            )
            assert retired.tombstone and retired.effective_from == later
    finally:
        db.dispose()
    session.expire_all()
    numbers = session.scalars(
        sa.select(EntryVersion.number).where(EntryVersion.entry_id == entry_id)
    ).all()
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]
    entry = session.get(Entry, entry_id)
    assert entry.head_number == 6 and entry.retired
    seqs = session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert seqs == list(range(1, len(seqs) + 1))
    report = verify_ledger(session)
    assert report.ok, report.problem
    # The bytes the statement assembled are the canonical event Python meant.
    written = session.scalars(
        sa.select(AuditEvent)
        .join(EntryVersion, EntryVersion.audit_seq == AuditEvent.seq)
        .where(EntryVersion.entry_id == entry_id, EntryVersion.number > 1)
        .order_by(AuditEvent.seq)
    ).all()
    assert len(written) == 5
    for n, event in enumerate(written, start=2):
        fields = json.loads(event.event)
        assert canonical_bytes(fields) == event.event
        assert fields["actor"] == actor.label and fields["seq"] == event.seq
        assert fields["prev_hash"] == event.prev_hash
        assert fields["action"] == ("entry.retire" if n == 6 else "entry.update")
        assert fields["version"] == n and fields["entry_id"] == entry_id
        if n < 6:
            reason = f"reason {n} ✓".encode()
            assert fields["reason_sha256"] == hashlib.sha256(reason).hexdigest()


def test_refusals_write_nothing(session, engine_name, entry_id, officer, database_url):
    before = ledger_head(session).seq
    session.rollback()  # SQLite: no write lock held by this session
    db = Database(database_url)
    try:
        with db.sessionmaker() as s:
            with pytest.raises(StaleVersion) as stale:
                service.update_entry(
                    s, officer, entry_id, SAMPLES["owner"], base_version=5, commit=True
                )
            assert stale.value.current == 1
        with db.sessionmaker() as s:
            with pytest.raises(NotFound):
                service.update_entry(
                    s, officer, 10**6, SAMPLES["owner"], base_version=1, commit=True
                )
        with db.sessionmaker() as s:
            service.retire_entry(s, officer, entry_id, base_version=1, commit=True)
        with db.sessionmaker() as s:
            with pytest.raises(Conflict):
                service.update_entry(
                    s, officer, entry_id, SAMPLES["owner"], base_version=2, commit=True
                )
        with db.sessionmaker() as s:
            with pytest.raises(NotFound):
                service.retire_entry(s, officer, 10**6, base_version=1, commit=True)
    finally:
        db.dispose()
    session.expire_all()
    assert ledger_head(session).seq == before + 1  # the retirement
    assert verify_ledger(session).ok


def _settings(tmp_path: Path, every: int) -> LedgerSettings:
    signer = create_key(tmp_path / "ledger-signing.key", "registry.test/ledger")
    # A last checkpoint "now": none is due by time during the test.
    return LedgerSettings(signer, every_events=every, every_seconds=3600, last_made=1e12)


def test_the_nth_event_comes_with_its_checkpoint(
    session, engine_name, entry_id, tmp_path, database_url
):
    before = ledger_head(session).seq
    session.rollback()
    settings = _settings(tmp_path, every=4)
    db = Database(database_url, ledger=settings)
    try:
        for n in range(2, 13):
            with db.sessionmaker() as s:
                body = {**SAMPLES["owner"], "start": f"2025-01-{n:02d}"}
                service.update_entry(
                    s, Actor.system("t"), entry_id, body, base_version=n - 1, commit=True
                )
    finally:
        db.dispose()
    session.expire_all()
    head = ledger_head(session)
    sizes = session.scalars(sa.select(Checkpoint.tree_size).order_by(Checkpoint.tree_size)).all()
    assert head.seq == before + 11
    assert sizes == [s for s in range(before + 1, head.seq + 1) if s % 4 == 0]
    report = verify_ledger(session, trusted_keys=[settings.signer.verifier_key])
    assert report.ok, report.problem


def test_concurrent_writers_keep_one_verifiable_ledger(
    session, engine_name, officer, profile, tmp_path, database_url, actors
):
    """Writers in one statement (own entries, and two racing on one entry with If-Match
    retries), step-by-step writers (new entries; a technical owner) and checkpoints
    every 7 events, all at once."""
    system, _ = service.create_system(session, officer, profile)
    own = [
        service.create_entry(session, officer, system, "data_source", SAMPLES["data_source"])
        for _ in range(3)
    ]
    shared = service.create_entry(session, officer, system, "data_source", SAMPLES["data_source"])
    owner_body = {
        **SAMPLES["owner"],
        "role": "technical",
        "person": {"name": "Tech", "email": actors["technical_owner"].email},
    }
    owned = service.create_entry(session, officer, system, "owner", owner_body)
    session.commit()
    own_ids = [v.entry_id for v in own]
    shared_id, owned_id = shared.entry_id, owned.entry_id
    before = ledger_head(session).seq
    session.rollback()  # (SQLite: the threads' writers need the write lock)
    settings = _settings(tmp_path, every=7)
    db = Database(database_url, ledger=settings)
    errors: list[BaseException] = []
    stale = [0]

    def update(entry_id: int, n: int, actor: Actor, body: dict[str, Any]) -> None:
        while True:
            with db.sessionmaker() as s:
                base = reads.get_entry(s, entry_id).head_number
                s.commit()
                try:
                    service.update_entry(s, actor, entry_id, body, base_version=base, commit=True)
                    return
                except StaleVersion:
                    stale[0] += 1

    def run(work: Any) -> None:
        try:
            work()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def own_writer(k: int) -> None:
        for n in range(12):
            body = {**SAMPLES["data_source"], "name": f"own {k} {n}"}
            update(own_ids[k], n, officer, body)

    def racer(k: int) -> None:
        for n in range(10):
            body = {**SAMPLES["data_source"], "name": f"racer {k} {n}"}
            update(shared_id, n, officer, body)

    def creator() -> None:
        for n in range(8):
            with db.sessionmaker() as s:
                sys_ = reads.get_system(s, "sys-1")
                service.create_entry(
                    s, officer, sys_, "change_log", {**SAMPLES["change_log"], "summary": f"c{n}"}
                )
                s.commit()

    def technical_owner() -> None:
        for n in range(6):
            body = {**owner_body, "authority_scope": f"scope {n}"}
            update(owned_id, n, actors["technical_owner"], body)

    works = [
        *(lambda k=k: own_writer(k) for k in range(3)),
        *(lambda k=k: racer(k) for k in range(2)),
        creator,
        technical_owner,
    ]
    threads = [threading.Thread(target=run, args=(w,)) for w in works]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    db.dispose()
    assert errors == []
    session.expire_all()
    head = ledger_head(session)
    seqs = session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert seqs == list(range(1, head.seq + 1))
    assert head.seq == before + 3 * 12 + 2 * 10 + 8 + 6
    assert session.get(Entry, shared_id).head_number == 21
    times = session.scalars(sa.select(AuditEvent.recorded_at).order_by(AuditEvent.seq)).all()
    assert all(a < b for a, b in zip(times, times[1:], strict=False))
    sizes = set(session.scalars(sa.select(Checkpoint.tree_size)).all())
    assert {s for s in range(before + 1, head.seq + 1) if s % 7 == 0} <= sizes
    report = verify_ledger(session, trusted_keys=[settings.signer.verifier_key])
    assert report.ok, report.problem


def test_wrongly_remembered_facts_are_never_recorded(
    session, engine_name, entry_id, officer, database_url
):
    """The entry's kind and system come from this process's memory; the function
    checks them under the lock, and a refusal for them is decided by the other path."""
    db = Database(database_url)
    try:
        with db.sessionmaker() as s:
            key = service._facts_key(s, entry_id)
        for n, wrong in enumerate([("owner", "sys-other", 999), ("data_source", "sys-1", 1)]):
            service._ENTRY_FACTS[key] = wrong
            with db.sessionmaker() as s:
                body = {**SAMPLES["owner"], "start": f"2025-02-0{n + 1}"}
                version = service.update_entry(
                    s, officer, entry_id, body, base_version=n + 1, commit=True
                )
                assert version.number == n + 2
            assert service._ENTRY_FACTS[key] == ("owner", "sys-1", 1)
    finally:
        db.dispose()
    session.expire_all()
    report = verify_ledger(session)
    assert report.ok, report.problem
    last = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert b'"system":"sys-1"' in last.event and b'"kind":"owner"' in last.event


def _technical_owner_of(session, officer, actor, reference: str = "sys-1") -> int:
    """An owner entry of ``reference`` naming ``actor`` as its technical owner."""
    system = reads.get_system(session, reference)
    body = {**SAMPLES["owner"], "role": "technical", "person": {"name": "T", "email": actor.email}}
    version = service.create_entry(session, officer, system, "owner", body)
    session.commit()
    return version.entry_id


def test_the_owner_checked_function_writes_only_on_the_owner_entries_given(
    session, engine_name, entry_id
):
    if engine_name != "postgresql":
        pytest.skip("the function exists on PostgreSQL")
    head = ledger_head(session)

    def call(owners: list[str]) -> Any:
        template = event_template({"action": "entry.update", "n": 1}, ("time",))
        return session.execute(
            sa.text(
                "SELECT * FROM registry_write_version_as_owner(:owners, :entry_id, 1, false, "
                "1, 'owner', 'sys-1', :parts, :slots, '{}', :hash, NULL, NULL, 'system:test', "
                "'', NULL, NULL, NULL)"
            ),
            {
                "owners": owners,
                "entry_id": entry_id,
                "parts": list(template.parts),
                "slots": list(template.slots),
                "hash": "ab" * 32,
            },
        ).one()

    body_hash = session.scalar(
        sa.select(EntryVersion.body_hash).where(
            EntryVersion.entry_id == entry_id, EntryVersion.number == 1
        )
    )
    live = f"{entry_id}:1:{body_hash}"
    for stale in (
        [],
        [f"{entry_id}:2:{body_hash}"],  # another version
        [f"{entry_id}:1:{'0' * 64}"],  # other bodies (a database restored under the app)
        [live, f"{entry_id + 1}:1:{body_hash}"],  # another entry
    ):
        assert call(stale).outcome == "owners"
        assert _head_number(session, entry_id) == 1 and ledger_head(session).seq == head.seq
    written = call([live])
    assert written.outcome == "written" and written.new_seq == head.seq + 1
    assert _head_number(session, entry_id) == 2
    session.rollback()


def test_a_technical_owners_right_is_read_again_when_owner_entries_change_meanwhile(
    session, engine_name, entry_id, officer, actors, database_url, monkeypatch
):
    """The right is decided on owner entries read without the lock; when another write
    changes them before the write takes the lock, the write goes the step-by-step way,
    which reads the right under the lock: here it is gone, so the write is refused."""
    if engine_name != "postgresql":
        pytest.skip("the one-statement write is PostgreSQL's")
    owner = actors["technical_owner"]
    own_entry = _technical_owner_of(session, officer, owner)
    data_source = service.create_entry(
        session,
        officer,
        reads.get_system(session, "sys-1"),
        "data_source",
        SAMPLES["data_source"],
    ).entry_id
    session.commit()
    db = Database(database_url)
    decided = []
    real = service.names_technical_owner

    def decide_then_lose_the_right(actor: Any, bodies: Any) -> bool:
        decided.append(real(actor, bodies))
        with db.sessionmaker() as other:  # another request retires the owner entry
            service.retire_entry(other, officer, own_entry, base_version=1, commit=True)
        return decided[-1]

    try:
        with db.sessionmaker() as s:  # first, a write that stands
            service.update_entry(
                s, owner, data_source, SAMPLES["data_source"], base_version=1, commit=True
            )
        monkeypatch.setattr(service, "names_technical_owner", decide_then_lose_the_right)
        with db.sessionmaker() as s:
            with pytest.raises(PermissionDenied):
                service.update_entry(
                    s, owner, data_source, SAMPLES["data_source"], base_version=2, commit=True
                )
    finally:
        db.dispose()
    assert decided == [True]  # decided on the old entries, then refused under the lock
    session.expire_all()
    assert _head_number(session, data_source) == 2
    assert _head_number(session, own_entry) == 2  # retired
    assert verify_ledger(session).ok
