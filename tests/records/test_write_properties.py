"""Generated sequences of writes by several actors, run on SQLite and on PostgreSQL:
both engines give the same answers and end with the same versions and the same event
bytes (but for what the server chooses: times and the hashes that chain them), and
both ledgers verify. Concurrent writers too: threads on each engine."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.accounts.actor import Actor
from registry.db import Database
from registry.errors import RegistryError, StaleVersion
from registry.ledger.models import AuditEvent
from registry.ledger.store import verify_ledger
from registry.readiness.gate import check_promotion
from registry.records import writes
from registry.records.models import AISystem, Entry, EntryVersion
from tests.records.samples import SAMPLES

OFFICER = Actor.system("officer")
TECH = Actor(
    label="user:tech@example.org", roles=frozenset({"technical_owner"}), email="tech@example.org"
)
AUDITOR = Actor(label="user:audit@example.org", roles=frozenset({"auditor"}))
ACTORS = {"officer": OFFICER, "tech": TECH, "auditor": AUDITOR}
PROFILE = SAMPLES["profile"]


def _owner(email: str) -> dict[str, Any]:
    return {**SAMPLES["owner"], "role": "technical", "person": {"name": "T", "email": email}}


actors = st.sampled_from(sorted(ACTORS))
OPS = st.one_of(
    st.tuples(st.just("create"), actors, st.sampled_from(["data_source", "change_log"])),
    st.tuples(
        st.just("name_owner"), actors, st.sampled_from(["tech@example.org", "x@example.org"])
    ),
    st.tuples(st.just("update"), actors, st.integers(0, 5), st.booleans()),
    st.tuples(st.just("retire"), actors, st.integers(0, 5), st.booleans()),
    st.tuples(st.just("promote"), actors),
    st.tuples(st.just("classify"), actors),
    st.tuples(st.just("retire_system"), actors),
    st.tuples(st.just("reinstate"), actors, st.booleans()),
)


def _apply(session: Any, op: tuple[Any, ...], step: int) -> Any:
    """One operation; raises what the registry refuses."""
    name, actor = op[0], ACTORS[op[1]]
    system = session.scalar(sa.select(AISystem))
    entries = session.scalars(
        sa.select(Entry).where(Entry.kind != "profile").order_by(Entry.id)
    ).all()
    profile = session.scalar(sa.select(Entry).where(Entry.kind == "profile"))
    if name == "create":
        body = {**SAMPLES[op[2]], "name": f"made {step}"} if op[2] == "data_source" else None
        body = body or {**SAMPLES["change_log"], "summary": f"made {step}"}
        return writes.create_entry(session, actor, system, op[2], body)
    if name == "name_owner":
        owners = [e for e in entries if e.kind == "owner"]
        if not owners:
            return writes.create_entry(session, actor, system, "owner", _owner(op[2]))
        head = owners[0].head_number
        return writes.update_entry(session, actor, owners[0], _owner(op[2]), base_version=head)
    if name in ("update", "retire"):
        if not entries:
            return "nothing"
        entry = entries[op[2] % len(entries)]
        base = entry.head_number + (1 if op[3] else 0)
        if name == "retire":
            return writes.retire_entry(session, actor, entry.id, base_version=base)
        field = {"data_source": "name", "change_log": "summary", "owner": "authority_scope"}
        body = _owner("tech@example.org") if entry.kind == "owner" else dict(SAMPLES[entry.kind])
        body[field[entry.kind]] = f"v{step}"
        return writes.update_entry(session, actor, entry.id, body, base_version=base)
    head = profile.head_number
    if name == "promote":
        body = {**PROFILE, "stage": "production"}
        return writes.update_entry(
            session, actor, profile.id, body, base_version=head, gate=check_promotion
        )
    if name == "classify":
        body = {**PROFILE, "risk_tier": "minimal", "purpose": f"step {step}"}
        return writes.update_entry(session, actor, profile.id, body, base_version=head)
    if name == "retire_system":
        return writes.retire_entry(session, actor, profile.id, base_version=head)
    base = head + (1 if op[2] else 0)
    return writes.reinstate_system(
        session, actor, system, base_version=base, reason="back", gate=check_promotion
    )


def _run(url: str, ops: list[tuple[Any, ...]]) -> list[str]:
    db = Database(url)
    answers = []
    try:
        with db.sessionmaker() as s:
            writes.create_system(s, OFFICER, PROFILE)
            s.commit()
        for step, op in enumerate(ops):
            with db.sessionmaker() as s:
                try:
                    done = _apply(s, op, step)
                    s.commit()
                    answers.append(f"{done.number}" if hasattr(done, "number") else str(done))
                except RegistryError as exc:
                    s.rollback()
                    answers.append(type(exc).__name__)
    finally:
        db.dispose()
    return answers


def _server_chosen_removed(event: bytes, *, seq: bool = True) -> dict[str, Any]:
    fields = json.loads(event)
    # Without seq, nor the links to seqs (system_prev): the order is the server's.
    for name in ("time", "effective_from", "prev_hash", *(() if seq else ("seq", "system_prev"))):
        fields.pop(name, None)
    return fields


def _ending(url: str, *, seq: bool = True) -> tuple[list[Any], list[Any], bool]:
    """The versions, the events without what the server chose, and whether the ledger
    verifies."""
    db = Database(url)
    try:
        with db.read_sessionmaker() as s:
            versions = s.execute(
                sa.select(
                    EntryVersion.entry_id,
                    EntryVersion.number,
                    EntryVersion.body,
                    EntryVersion.body_hash,
                    EntryVersion.tombstone,
                    EntryVersion.author,
                    EntryVersion.reason,
                    EntryVersion.audit_seq if seq else sa.literal(0),
                ).order_by(EntryVersion.entry_id, EntryVersion.number)
            ).all()
            events = [
                _server_chosen_removed(e, seq=seq)
                for e in s.scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq))
            ]
            ok = verify_ledger(s).ok
    finally:
        db.dispose()
    if not seq:
        events.sort(key=lambda e: json.dumps(e, sort_keys=True))
    return [tuple(v) for v in versions], events, ok


@pytest.fixture
def engines(_factories: Any) -> Any:
    made: list[Any] = []

    def fresh() -> dict[str, str]:
        urls = {}
        for engine in ("sqlite", "postgresql"):
            url, drop = _factories[engine].new()
            made.append(drop)
            urls[engine] = url
        return urls

    yield fresh
    for drop in made:
        drop()


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=1, max_size=14))
def test_both_engines_answer_and_record_the_same(engines, ops):
    urls = engines()
    answers = {engine: _run(url, ops) for engine, url in urls.items()}
    assert answers["sqlite"] == answers["postgresql"]
    endings = {engine: _ending(url) for engine, url in urls.items()}
    assert endings["sqlite"][2] and endings["postgresql"][2]
    assert endings["sqlite"][:2] == endings["postgresql"][:2]


def test_concurrent_writers_end_alike_on_both_engines(engines):
    """Threads writing at once, each to its own entries and all to one shared entry
    (retrying on a stale base): the interleaving differs, each entry's versions and the
    set of events do not, and both ledgers verify."""
    urls = engines()
    for url in urls.values():
        db = Database(url)
        try:
            with db.sessionmaker() as s:
                system, _ = writes.create_system(s, OFFICER, PROFILE)
                writes.create_entry(s, OFFICER, system, "owner", _owner("tech@example.org"))
                for k in range(4):
                    body = {**SAMPLES["data_source"], "name": f"own {k}"}
                    writes.create_entry(s, OFFICER, system, "data_source", body)
                s.commit()
            with db.sessionmaker() as s:
                query = sa.select(Entry.id).where(Entry.kind == "data_source").order_by(Entry.id)
                ids = list(s.scalars(query))
            errors: list[BaseException] = []

            def writer(
                k: int, db: Database = db, ids: list[int] = ids, errors: list[Any] = errors
            ) -> None:
                actor = TECH if k % 2 else OFFICER
                try:
                    for n in range(6):
                        body = {**SAMPLES["data_source"], "name": f"own {k} {n}"}
                        _until_written(db, actor, ids[k], body)
                    # The shared entry: the order of these writes differs, not their versions.
                    shared = {**SAMPLES["data_source"], "name": "shared"}
                    _until_written(db, OFFICER, ids[0], shared)
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=writer, args=(k,)) for k in range(1, 4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(300)
            assert errors == []
        finally:
            db.dispose()
    endings = {engine: _ending(url, seq=False) for engine, url in urls.items()}
    assert endings["sqlite"][2] and endings["postgresql"][2]
    assert endings["sqlite"][:2] == endings["postgresql"][:2]


def _until_written(db: Database, actor: Actor, entry_id: int, body: dict[str, Any]) -> None:
    while True:
        with db.sessionmaker() as s:
            base = s.get(Entry, entry_id).head_number
            try:
                writes.update_entry(s, actor, entry_id, body, base_version=base)
                s.commit()
                return
            except StaleVersion:
                s.rollback()
