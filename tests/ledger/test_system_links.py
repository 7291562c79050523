"""Each system's events form a chain (``system_prev``), and every signed checkpoint is
signed at a ``ledger.systems`` event: the map of each system's last event. Written by
the write path and by ``append_event``, checked by ``registry ledger verify``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.db import utcnow
from registry.ledger import trail
from registry.ledger.append import append_event
from registry.ledger.canonical import canonical_bytes
from registry.ledger.chain import GENESIS_HASH
from registry.ledger.checkpoints import sign_body
from registry.ledger.keys import load_key
from registry.ledger.merkle import MerkleAccumulator
from registry.ledger.models import AuditEvent, Checkpoint
from registry.ledger.note import Checkpoint as CheckpointBody
from registry.ledger.note import format_body
from registry.ledger.store import systems_changed
from registry.ledger.systems_map import MAP_ACTION, SystemsMap, leaf_bytes
from registry.ledger.verify import verify_ledger_rows
from registry.records import writes
from tests.conftest import append_only_lifted
from tests.ledger import test_verify
from tests.ledger.test_verify import _rewrite_from, _verify
from tests.records.samples import SAMPLES

signed = test_verify.signed  # 39 events, checkpoints 3, 11, 21, 31


def _events(session) -> list[dict]:
    return [json.loads(e) for e in session.scalars(sa.select(AuditEvent.event).order_by("seq"))]


def test_each_event_naming_a_system_links_to_the_previous_one(session):
    actor = Actor.system("test")
    a, _ = writes.create_system(session, actor, {"name": "A", "reference": "a", "stage": "pilot"})
    b, _ = writes.create_system(session, actor, {"name": "B", "reference": "b", "stage": "pilot"})
    append_event(session, {"action": "user.create", "actor": "system:test"})
    writes.create_entry(session, actor, a, "change_log", SAMPLES["change_log"])
    writes.create_entry(session, actor, b, "change_log", SAMPLES["change_log"])
    append_event(session, {"action": "evidence.export", "system": "a"}, system_id=a.id)
    writes.create_entry(session, actor, a, "change_log", SAMPLES["change_log"])
    session.commit()
    links = [(e["seq"], e.get("system_id"), e.get("system_prev"), e["v"]) for e in _events(session)]
    assert links == [
        (1, a.id, 0, 2),  # registration
        (2, b.id, 0, 2),
        (3, None, None, 2),  # names no system: no link
        (4, a.id, 1, 2),
        (5, b.id, 2, 2),
        (6, None, 4, 2),  # an export names its system by reference only
        (7, a.id, 6, 2),
    ]


def test_a_checkpoint_is_signed_at_the_map_of_each_systems_last_event(signed):
    app, session = signed
    actor = Actor.system("test")
    other, _ = writes.create_system(
        session, actor, {"name": "T", "reference": "t-2", "stage": "pilot"}
    )
    session.commit()
    result = app.test_cli_runner().invoke(args=["ledger", "checkpoint"])
    assert result.exit_code == 0, result.output
    last = session.scalar(sa.select(Checkpoint).order_by(Checkpoint.tree_size.desc()).limit(1))
    event = json.loads(session.get(AuditEvent, last.tree_size).event)
    assert event["action"] == MAP_ACTION and event["actor"] == "system:ledger"
    # s-1's last event is 39 (before it, 31 was the map); t-2's only one is 40.
    assert event["systems"] == 2 and other.id == 2
    expected = SystemsMap([39, 40])
    assert event["root"] == expected.root().hex()
    assert leaf_bytes(2, 40) == b'{"last_seq":40,"system_id":2}'
    assert _verify(app, session).ok


def test_verify_names_a_wrong_system_link(signed):
    app, session = signed

    def edit(seq, fields):
        if seq == 14:
            fields["system_prev"] = 12  # the previous event of s-1 is 13
        return fields

    _rewrite_from(session, 14, edit)
    session.commit()
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == 14
    assert "system_prev link names event 12" in report.problem
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 1 and "BROKEN at event 14" in result.output


def test_verify_names_a_missing_system_link(signed):
    app, session = signed

    def edit(seq, fields):
        if seq == 14:
            del fields["system_prev"]
        return fields

    _rewrite_from(session, 14, edit)
    session.commit()
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == 14 and "no system_prev link" in report.problem


def test_verify_names_a_wrong_map(signed):
    """A map event saying another last event for the system (then re-chained and even
    signed again: the operator holds the key) is recomputed and found wrong."""
    app, session = signed

    def edit(seq, fields):
        if seq == 21:
            fields["root"] = SystemsMap([19]).root().hex()  # s-1's last is 20
        return fields

    _rewrite_from(session, 21, edit)
    session.commit()
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == 21
    assert "map of the systems' last events is wrong" in report.problem


def test_events_of_format_1_carry_no_link_and_stay_valid():
    """An older ledger's events (format 1) name systems without a link: accepted, and
    the next event of format 2 links to the last of them."""
    rows = []
    prev = GENESIS_HASH
    bodies = [
        {"v": 1, "system_id": 1, "system": "a", "action": "system.create"},
        {"v": 1, "system_id": 1, "system": "a", "action": "entry.create"},
        {"v": 2, "system_id": 1, "system": "a", "action": "entry.create", "system_prev": 2},
    ]
    for seq, body in enumerate(bodies, 1):
        time = f"2026-01-01T00:00:0{seq}.000000+00:00"
        data = canonical_bytes({**body, "seq": seq, "prev_hash": prev, "time": time})
        digest = hashlib.sha256(data).hexdigest()
        leaf = hashlib.sha256(b"\x00" + data).hexdigest()
        rows.append((seq, data, prev, digest, leaf, time, 1))
        prev = digest
    assert verify_ledger_rows(rows, [], [], system_references={1: "a"}).ok
    wrong = bodies[2] | {"system_prev": 1}
    rows_wrong = rows[:2]
    data = canonical_bytes(
        {**wrong, "seq": 3, "prev_hash": rows[1][3], "time": "2026-01-01T00:00:03.000000+00:00"}
    )
    rows_wrong.append(
        (
            3,
            data,
            rows[1][3],
            hashlib.sha256(data).hexdigest(),
            hashlib.sha256(b"\x00" + data).hexdigest(),
            "2026-01-01T00:00:03.000000+00:00",
            1,
        )
    )
    report = verify_ledger_rows(rows_wrong, [], [], system_references={1: "a"})
    assert not report.ok and report.problem_seq == 3


def test_verify_names_a_checkpoint_not_signed_at_a_map(signed):
    """The operator signs a valid checkpoint of the ledger (the real key, the right
    root) whose last leaf is not a map: a pack pinned to it could not prove itself
    complete. Verify names it."""
    app, session = signed
    signer = load_key(Path(app.config["SIGNING_KEY_PATH"]))
    size = 35  # an ordinary event, after the maps at 3, 11, 21 and 31
    rows = session.execute(
        sa.select(AuditEvent.leaf_hash, AuditEvent.event_hash)
        .where(AuditEvent.seq <= size)
        .order_by(AuditEvent.seq)
    ).all()
    tree = MerkleAccumulator()
    for row in rows:
        tree.append(bytes.fromhex(row.leaf_hash))
    body = format_body(CheckpointBody(signer.name, size, tree.root()))
    with append_only_lifted(session, "checkpoint"):
        session.add(
            Checkpoint(
                tree_size=size,
                root_hash=tree.root().hex(),
                chain_head=rows[-1].event_hash,
                key_id=signer.key_id,
                note=sign_body(body, [signer]),
                created_at=utcnow(),
                frontier=" ".join(h.hex() for h in tree.frontier),
            )
        )
        session.commit()
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == size, report.summary()
    assert "not signed at a map of the systems' last events" in report.problem


def test_the_systems_changed_in_a_range_of_the_ledger_with_their_last_event(session):
    actor = Actor.system("test")
    a, _ = writes.create_system(session, actor, {"name": "A", "reference": "a", "stage": "pilot"})
    b, _ = writes.create_system(session, actor, {"name": "B", "reference": "b", "stage": "pilot"})
    append_event(session, {"action": "user.create", "actor": "system:test"})  # 3: no system
    writes.create_entry(session, actor, a, "change_log", SAMPLES["change_log"])  # 4
    writes.create_entry(session, actor, b, "change_log", SAMPLES["change_log"])  # 5
    writes.create_entry(session, actor, a, "change_log", SAMPLES["change_log"])  # 6
    session.commit()
    assert systems_changed(session, 0, 6) == {a.id: 6, b.id: 5}
    assert systems_changed(session, 2, 5) == {a.id: 4, b.id: 5}
    assert systems_changed(session, 2, 4) == {a.id: 4}
    assert systems_changed(session, 2, 3) == {}  # an event naming no system
    assert systems_changed(session, 6, 6) == {}  # nothing after the cursor
    assert all(type(i) is int for i in systems_changed(session, 0, 6))  # (ids, as stored)


def test_a_systems_last_change_is_the_time_of_its_latest_event(session):
    actor = Actor.system("test")
    a, _ = writes.create_system(session, actor, {"name": "A", "reference": "a", "stage": "pilot"})
    b, _ = writes.create_system(session, actor, {"name": "B", "reference": "b", "stage": "pilot"})
    writes.create_entry(session, actor, a, "change_log", SAMPLES["change_log"])
    writes.create_entry(session, actor, b, "change_log", SAMPLES["change_log"])
    writes.create_entry(session, actor, a, "change_log", SAMPLES["change_log"])
    session.commit()
    times = {
        row.system_id: row.recorded_at
        for row in session.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars()
        if row.system_id is not None
    }  # the last of each system's events, in ledger order
    assert len(set(times.values())) == 2
    assert trail.last_changed(session) == times
    assert trail.last_changed(session, [b.id]) == {b.id: times[b.id]}
    assert trail.last_changed(session, []) == {}
