"""Signed checkpoints, keys, and `registry ledger verify` catching every tampering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.extensions import db_session
from registry.ledger.chain import seal_event
from registry.ledger.checkpoints import make_checkpoint
from registry.ledger.keys import Signer, load_key
from registry.ledger.models import AuditEvent, Checkpoint
from registry.ledger.note import open_checkpoint
from registry.ledger.store import verify_ledger
from registry.records import writes
from registry.records.models import EntryVersion
from tests.conftest import append_only_lifted, make_app
from tests.records.samples import SAMPLES


def _origin(app):
    """The ledger's origin: the signing key's name (chosen by `keys init`)."""
    return load_key(Path(app.config["SIGNING_KEY_PATH"])).name


@pytest.fixture
def signed(database_url, tmp_path):
    """An app with a signing key, checkpoints every 10 events, and 35 events written:
    39 in the ledger with the map event each of the 4 checkpoints (3, 11, 21, 31) is
    signed at."""
    app = make_app(database_url, tmp_path / "instance", CHECKPOINT_EVERY_EVENTS=10)
    result = app.test_cli_runner().invoke(args=["keys", "init"])
    app.extensions["registry.db"].dispose()
    assert result.exit_code == 0, result.output
    app = make_app(database_url, tmp_path / "instance", CHECKPOINT_EVERY_EVENTS=10)
    with app.app_context():
        session = db_session()
        from registry.accounts.actor import Actor

        actor = Actor.system("test")
        system, _ = writes.create_system(
            session, actor, {"name": "S", "reference": "s-1", "stage": "pilot"}
        )
        for i in range(33):
            writes.create_entry(
                session, actor, system, "change_log", {**SAMPLES["change_log"], "summary": f"c{i}"}
            )
            session.commit()
        yield app, session
    app.extensions["registry.db"].dispose()


def _verify(app, session):
    signer = load_key(__import__("pathlib").Path(app.config["SIGNING_KEY_PATH"]))
    session.expire_all()
    return verify_ledger(session, [signer.verifier_key])


def test_checkpoints_are_made_signed_and_verify(signed):
    app, session = signed
    sizes = session.scalars(sa.select(Checkpoint.tree_size).order_by(Checkpoint.tree_size)).all()
    # Every 10 events (and one at the process's first append), each at its map event.
    assert sizes == [3, 11, 21, 31]
    signer = load_key(__import__("pathlib").Path(app.config["SIGNING_KEY_PATH"]))
    last = session.scalar(sa.select(Checkpoint).where(Checkpoint.tree_size == 31))
    body, names = open_checkpoint(last.note, [signer.verifier_key], origin=_origin(app))
    assert body.size == 31 and body.root.hex() == last.root_hash and names == [signer.name]
    report = _verify(app, session)
    assert report.ok, report.summary()
    assert report.events == 39 and report.versions == 34 and report.checkpoints == len(sizes)
    assert report.uncovered == 8
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0 and "Ledger intact: 39 events" in result.output
    assert "8 events after the last checkpoint" in result.output


def test_on_demand_checkpoint_and_public_keys(signed):
    app, session = signed
    result = app.test_cli_runner().invoke(args=["ledger", "checkpoint"])
    # 39 events and the map event the checkpoint is signed at.
    assert result.exit_code == 0 and "Checkpoint of 40 events" in result.output
    assert "\n\u2014 " + _origin(app) + " " in result.output  # a signature line
    assert _verify(app, session).uncovered == 0
    client = app.test_client()
    page = client.get("/ledger/keys")
    assert page.status_code == 200 and page.mimetype == "text/plain"
    signer = load_key(__import__("pathlib").Path(app.config["SIGNING_KEY_PATH"]))
    assert page.get_data(as_text=True).splitlines()[0] == signer.verifier_key


def _edit_event(session, seq, change):
    with append_only_lifted(session, "audit_event"):
        row = session.get(AuditEvent, seq)
        session.execute(
            sa.update(AuditEvent).where(AuditEvent.seq == seq).values(event=change(row.event))
        )


def test_an_edited_event_is_located(signed):
    app, session = signed
    _edit_event(session, 23, lambda b: b.replace(b'"change_log"', b'"risk"'))
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == 23 and "event hash" in report.problem
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 1 and "BROKEN at event 23" in result.output


def test_an_edited_version_body_is_located(signed):
    app, session = signed
    version = session.scalar(sa.select(EntryVersion).where(EntryVersion.number == 1).offset(5))
    with append_only_lifted(session, "entry_version"):
        session.execute(
            sa.update(EntryVersion)
            .where(EntryVersion.id == version.id)
            .values(body=version.body.replace('"model"', '"data"'))
        )
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == version.audit_seq
    assert "body does not match its stored hash" in report.problem
    # Also recomputing the stored body hash does not help: the event recorded the old one.
    import hashlib

    edited = version.body.replace('"model"', '"data"')
    with append_only_lifted(session, "entry_version"):
        session.execute(
            sa.update(EntryVersion)
            .where(EntryVersion.id == version.id)
            .values(body_hash=hashlib.sha256(edited.encode()).hexdigest())
        )
    report = _verify(app, session)
    assert (
        report.problem_seq == version.audit_seq
        and "not the one its event recorded" in report.problem
    )


def test_a_deleted_event_in_the_middle_is_located(signed):
    app, session = signed
    with append_only_lifted(session, "audit_event"), append_only_lifted(session, "entry_version"):
        session.execute(sa.delete(EntryVersion).where(EntryVersion.audit_seq == 17))
        session.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 17))
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == 17 and report.events == 16
    assert "event 17 is missing" in report.problem


def test_a_deleted_event_where_a_checkpoint_ends_is_located(signed):
    app, session = signed
    with append_only_lifted(session, "audit_event"), append_only_lifted(session, "entry_version"):
        session.execute(sa.delete(EntryVersion).where(EntryVersion.audit_seq == 20))
        session.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 20))
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == 20 and "event 20 is missing" in report.problem


def test_a_ledger_rewritten_around_a_planted_key_is_caught(signed):
    """The whole chain rewritten with the attacker's key in the key event, checkpoints
    replaced and signed with that key: the pinned key signs none of them."""
    app, session = signed
    attacker = Signer(_origin(app), Ed25519PrivateKey.generate())

    def edit(seq, fields):
        if fields.get("action") == "key.add":
            fields["verifier_key"] = attacker.verifier_key
        return fields

    _rewrite_from(session, 1, edit)
    with append_only_lifted(session, "checkpoint"):
        session.execute(sa.delete(Checkpoint))
    with append_only_lifted(session, "merkle_block"):
        session.execute(sa.text("DELETE FROM merkle_block"))
    # The attacker signs with tooling of their own (the registry itself would refuse:
    # the tree does not extend its kept checkpoint, see test_kept_checkpoint.py).
    session.info.pop("kept_checkpoint")
    make_checkpoint(session, attacker)
    session.commit()
    report = _verify(app, session)
    assert not report.ok and "not validly signed" in report.problem
    # Without a pinned key nothing is called intact.
    session.expire_all()
    report = verify_ledger(session, [])
    assert not report.ok and "no trusted key" in report.problem


def test_two_swapped_events_are_located(signed):
    app, session = signed
    a, b = session.get(AuditEvent, 12), session.get(AuditEvent, 13)
    columns = ("event", "prev_hash", "event_hash", "leaf_hash")
    first = {c: getattr(a, c) for c in columns}
    second = {c: getattr(b, c) for c in columns}
    parked = {"prev_hash": "p" * 64, "event_hash": "e" * 64}  # the unique columns step aside
    with append_only_lifted(session, "audit_event"):
        session.execute(sa.update(AuditEvent).where(AuditEvent.seq == 12).values(**parked))
        session.execute(sa.update(AuditEvent).where(AuditEvent.seq == 13).values(**first))
        session.execute(sa.update(AuditEvent).where(AuditEvent.seq == 12).values(**second))
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == 12


def _rewrite_from(session, start, edit):
    """Rewrite events ``start…`` with recomputed hashes, as an attacker with table
    ownership could (the versions' events keep their own body hashes)."""
    rows = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.seq >= start).order_by(AuditEvent.seq)
    ).all()
    prev = session.get(AuditEvent, start - 1).event_hash if start > 1 else "0" * 64
    with append_only_lifted(session, "audit_event"):
        for row in rows:
            fields = json.loads(row.event)
            for key in ("v", "seq", "prev_hash"):
                fields.pop(key)
            sealed = seal_event(row.seq, prev, edit(row.seq, fields))
            session.execute(
                sa.update(AuditEvent)
                .where(AuditEvent.seq == row.seq)
                .values(
                    event=sealed.event,
                    prev_hash=sealed.prev_hash,
                    event_hash=sealed.event_hash,
                    leaf_hash=sealed.leaf_hash,
                    # The columns that copy the bytes, rewritten alike.
                    action=fields.get("action"),
                    actor=fields.get("actor"),
                )
            )
            prev = sealed.event_hash


@pytest.mark.parametrize(
    ("field", "value", "caught_at", "message"),
    [
        # A field no version states: only the signed root tells.
        ("note", "added afterwards", 21, "do not hash to the signed root"),
        # The actor: the version's author no longer matches its event.
        ("actor", "user:someone-else@example.org", 14, "author is not the one its event recorded"),
    ],
)
def test_a_chain_rewritten_from_an_edited_event_is_caught(signed, field, value, caught_at, message):
    app, session = signed

    def edit(seq, fields):
        if seq == 14:
            fields[field] = value
        return fields

    _rewrite_from(session, 14, edit)
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == caught_at and message in report.problem


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [
        ("reason", "a different reason", "reason"),
        ("author", "user:mallory@example.org", "author"),
        ("tombstone", True, "retirement flag"),
    ],
)
def test_edited_version_metadata_is_located(signed, column, value, what):
    app, session = signed
    version = session.scalar(sa.select(EntryVersion).where(EntryVersion.audit_seq == 12))
    with append_only_lifted(session, "entry_version"):
        session.execute(
            sa.update(EntryVersion).where(EntryVersion.id == version.id).values({column: value})
        )
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == 12 and what in report.problem


def test_edited_version_times_are_located(signed):
    app, session = signed
    version = session.scalar(sa.select(EntryVersion).where(EntryVersion.audit_seq == 12))
    later = version.recorded_at + __import__("datetime").timedelta(seconds=1)
    original = {"recorded_at": version.recorded_at, "effective_from": version.effective_from}
    for column in ("recorded_at", "effective_from"):
        with append_only_lifted(session, "entry_version"):
            session.execute(
                sa.update(EntryVersion).where(EntryVersion.id == version.id).values({column: later})
            )
        report = _verify(app, session)
        assert not report.ok and report.problem_seq == 12, column
        with append_only_lifted(session, "entry_version"):
            session.execute(
                sa.update(EntryVersion)
                .where(EntryVersion.id == version.id)
                .values({column: original[column]})
            )
    assert _verify(app, session).ok


def test_the_whole_chain_rewritten_is_caught_by_the_first_checkpoint(signed):
    app, session = signed
    first = session.scalar(sa.select(sa.func.min(Checkpoint.tree_size)))

    def edit(seq, fields):
        fields["note"] = "rewritten"
        return fields

    _rewrite_from(session, 1, edit)
    report = _verify(app, session)
    # Every hash and link is consistent again; only the signed root tells.
    assert not report.ok and report.problem_seq == first
    assert "do not hash to the signed root" in report.problem


def test_a_forged_event_inserted_in_the_middle_is_caught(signed):
    app, session = signed
    # Insert a forged event 26, move the rest up by one, and rechain them all.
    rows = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.seq >= 26).order_by(AuditEvent.seq)
    ).all()
    contents = [{"action": "entry.update", "actor": "user:mallory", "time": "2026-01-01"}]
    for row in rows:
        fields = json.loads(row.event)
        contents.append({k: v for k, v in fields.items() if k not in ("v", "seq", "prev_hash")})
    prev = session.get(AuditEvent, 25).event_hash
    last_time = rows[-1].recorded_at
    with append_only_lifted(session, "audit_event"):
        for offset, fields in enumerate(contents):
            sealed = seal_event(26 + offset, prev, fields)
            values = {
                "event": sealed.event,
                "prev_hash": sealed.prev_hash,
                "event_hash": sealed.event_hash,
                "leaf_hash": sealed.leaf_hash,
            }
            if offset < len(rows):
                session.execute(
                    sa.update(AuditEvent).where(AuditEvent.seq == 26 + offset).values(**values)
                )
            else:
                session.add(AuditEvent(seq=26 + offset, recorded_at=last_time, **values))
                session.flush()
            prev = sealed.event_hash
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == 26


def test_a_truncated_tail_before_the_last_checkpoint_is_caught(signed):
    app, session = signed
    with append_only_lifted(session, "audit_event"), append_only_lifted(session, "entry_version"):
        session.execute(sa.delete(EntryVersion).where(EntryVersion.audit_seq > 27))
        session.execute(sa.delete(AuditEvent).where(AuditEvent.seq > 27))
    report = _verify(app, session)
    assert not report.ok and "covers 31 events but the ledger holds only 27" in report.problem


def test_bad_or_unknown_signatures_are_rejected(signed):
    app, session = signed
    cp = session.scalar(sa.select(Checkpoint).where(Checkpoint.tree_size == 21))
    body, sig = cp.note.split("\n\n")
    head, _, blob = sig.rstrip("\n").rpartition(" ")
    mangled = blob[:-4] + ("AAAA" if not blob.endswith("AAAA") else "BBBB")
    with append_only_lifted(session, "checkpoint"):
        session.execute(
            sa.update(Checkpoint)
            .where(Checkpoint.id == cp.id)
            .values(note=f"{body}\n\n{head} {mangled}\n")
        )
    report = _verify(app, session)
    assert not report.ok and report.problem_seq == 21 and "not validly signed" in report.problem

    # A checkpoint signed by a key the ledger never recorded.
    intruder = Signer(_origin(app), Ed25519PrivateKey.generate())
    with append_only_lifted(session, "checkpoint"):
        session.execute(sa.delete(Checkpoint))
    make_checkpoint(session, intruder)
    session.commit()
    report = _verify(app, session)
    assert not report.ok and "no signature from a known key" in report.problem


def test_key_rotation_keeps_old_checkpoints_verifiable(signed):
    app, session = signed
    old = load_key(__import__("pathlib").Path(app.config["SIGNING_KEY_PATH"]))
    # As an operator would: a new process, whose first append would be due a checkpoint.
    fresh = make_app(app.config["DATABASE_URL"], app.instance_path, CHECKPOINT_EVERY_EVENTS=10)
    with fresh.app_context():
        result = fresh.test_cli_runner().invoke(args=["keys", "rotate"])
    fresh.extensions["registry.db"].dispose()
    assert result.exit_code == 0, result.output
    new = load_key(__import__("pathlib").Path(app.config["SIGNING_KEY_PATH"]))
    assert new.key_id != old.key_id
    rotation = session.scalar(sa.select(Checkpoint).order_by(Checkpoint.tree_size.desc()).limit(1))
    open_checkpoint(rotation.note, [old.verifier_key])  # the old key signed it
    open_checkpoint(rotation.note, [new.verifier_key])  # and so did the new one
    assert rotation.note.count("\n\u2014 ") == 2
    # Trusting only the new key: the old one is known from the ledger's rotation event.
    session.expire_all()
    report = verify_ledger(session, [new.verifier_key])
    assert report.ok, report.summary()
    assert old.verifier_key in report.keys and new.verifier_key in report.keys
    # Verifiers find both keys published: the current one first, then the earlier one.
    restarted = make_app(app.config["DATABASE_URL"], app.instance_path)
    published = restarted.test_client().get("/ledger/keys").get_data(as_text=True).splitlines()
    assert published == [new.verifier_key, old.verifier_key]
    # Packs after the rotation: statements signed by the new key (with the statement's
    # context), checkpoints by whichever key signed them; both verify under the
    # published keys, one pinned to a checkpoint of the old key's too.
    keys = Path(app.instance_path) / "published.txt"
    keys.write_text("".join(k + "\n" for k in published))
    before = rotation.created_at - __import__("datetime").timedelta(microseconds=1)
    runner = restarted.test_cli_runner()
    for args in (["export", "--all"], ["export", "--all", "--as-of", before.isoformat()]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        pack = result.stdout.strip().splitlines()[-1]
        result = runner.invoke(args=["verify-pack", pack, "--pubkey", str(keys)])
        assert result.exit_code == 0 and "VERIFIED" in result.output, result.output
    restarted.extensions["registry.db"].dispose()


def test_a_moved_head_pointer_is_caught(signed):
    app, session = signed
    from registry.records.models import Entry

    entry_id = session.scalar(sa.select(Entry.id).where(Entry.kind == "change_log").limit(1))
    session.execute(sa.update(Entry).where(Entry.id == entry_id).values(retired=True))
    session.commit()
    report = _verify(app, session)
    assert (
        not report.ok
        and f"entry {entry_id} says its current version is 1 (retired)" in report.problem
    )


def test_readers_see_the_verification_in_the_app(signed, monkeypatch):
    app, session = signed
    from registry.accounts.actor import Actor
    from registry.accounts.service import create_user
    from tests.conftest import PASSWORD, csrf_token

    create_user(
        session,
        Actor.system("t", frozenset({"admin"})),
        "reader@example.org",
        ["auditor"],
        PASSWORD,
    )
    session.commit()
    client = app.test_client()
    assert client.get("/ledger/").status_code == 302  # sign-in first
    client.post(
        "/login",
        data={
            "email": "reader@example.org",
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    page = client.get("/ledger/").get_data(as_text=True)
    # 39, the new user (40: a checkpoint is due, signed at its map, 41), their sign-in (42)
    assert "Intact" in page and "Ledger intact: 42 events" in page
    # Tampering shows once the cached result is older than its limit.
    _edit_event(session, 23, lambda b: b.replace(b'"change_log"', b'"risk"'))
    import registry.ledger.status as ledger_status

    monkeypatch.setattr(ledger_status, "VERIFY_MAX_AGE", 0.0)
    page = client.get("/ledger/").get_data(as_text=True)
    assert "BROKEN" in page and "event 23" in page


def test_one_event_after_the_last_checkpoint_is_said_in_the_singular(signed):
    """The command line, the ledger page and the API say the same sentence."""
    app, session = signed
    from registry.accounts.actor import Actor
    from registry.accounts.service import create_token, create_user
    from registry.records import reads
    from tests.conftest import PASSWORD, csrf_token

    admin = Actor.system("t", frozenset({"admin"}))
    user, _ = create_user(session, admin, "reader@example.org", ["auditor"], PASSWORD)
    _, secret = create_token(session, admin, user, scopes=("read",))
    session.commit()
    client = app.test_client()
    client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    runner = app.test_cli_runner()
    assert runner.invoke(args=["ledger", "checkpoint"]).exit_code == 0
    system = reads.get_system(session, "s-1")
    writes.create_entry(session, Actor.system("test"), system, "change_log", SAMPLES["change_log"])
    session.commit()
    said = "1 event after the last checkpoint is chained but not yet covered by a signature."
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0 and said in result.output, result.output
    assert said in client.get("/ledger/").get_data(as_text=True)
    answer = client.get(
        "/api/v1/ledger/verification", headers={"Authorization": f"Bearer {secret}"}
    ).get_json()
    assert answer["uncovered"] == 1 and said in answer["summary"]


def test_a_pubkey_file_that_holds_no_verifier_keys_is_said_in_one_line(signed, tmp_path):
    """The keys API's JSON saved as is, or a key with one character changed: the key
    file cannot be read, which is no verdict on the ledger (exit 2), as verify-pack."""
    app, _session = signed
    saved = tmp_path / "keys.json"
    saved.write_text(app.test_client().get("/api/v1/ledger/keys").get_data(as_text=True))
    key = load_key(Path(app.config["SIGNING_KEY_PATH"])).verifier_key
    changed = tmp_path / "changed.pub"
    changed.write_text(key[:-3] + ("B" if key[-3] != "B" else "C") + key[-2:] + "\n")
    good = tmp_path / "good.pub"
    good.write_text(key + "\n")
    runner = app.test_cli_runner()
    for path in (saved, changed):
        for command in (["ledger", "verify"], ["db", "copy", "sqlite:///a", "sqlite:///b"]):
            result = runner.invoke(args=[*command, "--pubkey", str(good), "--pubkey", str(path)])
            assert result.exit_code == 2, (command, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit)
            assert len(result.output.splitlines()) == 1, result.output
            assert result.output.startswith(f"Error: cannot read the keys: {path}")
        pack = runner.invoke(args=["verify-pack", str(tmp_path / "any.zip"), "--pubkey", str(path)])
        assert pack.exit_code == 2 and f"cannot read the keys: {path}" in pack.output
    result = runner.invoke(args=["ledger", "verify", "--pubkey", str(good)])
    assert result.exit_code == 0 and result.output.startswith("Ledger intact"), result.output
