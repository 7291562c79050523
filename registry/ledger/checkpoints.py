"""Signed checkpoints of the ledger.

A checkpoint is a signed tree head over the first ``tree_size`` events, in the C2SP
tlog-checkpoint format. Each stores its Merkle frontier, so the next one hashes only
the events that came after it. Checkpoints are made under the ledger lock: every
``every_events`` events, at the first append ``every_seconds`` after the latest
checkpoint (whichever process signed it: a worker that has just started does not sign
at its first write when another signed a moment ago), and on demand
(``registry ledger checkpoint``, every export).

Just before signing, the ledger appends a ``ledger.systems`` event committing to each
system's last event (``ledger.systems_map``), and the checkpoint is signed at it: every
checkpoint's last leaf is that map, so witnesses cosign it.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.ledger.kept import CheckpointRefused, kept_of
from registry.ledger.keys import Signer
from registry.ledger.merkle import MerkleAccumulator
from registry.ledger.models import Checkpoint
from registry.ledger.note import Checkpoint as CheckpointBody
from registry.ledger.note import format_body, sign_note
from registry.ledger.proofs import extend_to, fill_blocks
from registry.ledger.store import (
    INSERT_EVENT,
    LedgerHead,
    lock_ledger,
    next_event,
    systems_map,
    update_systems_map,
)
from registry.ledger.systems_map import SystemsMap

# On a session's ``info``: the tree size of the checkpoint its transaction signed, which
# goes to the witnesses once the transaction commits (``ledger.submitter``).
SIGNED = "ledger.signed_checkpoint"


@dataclass
class LedgerSettings:
    """How this process signs and how often; carried on its sessions' ``info``."""

    signer: Signer
    every_events: int = 1000
    every_seconds: float = 300.0
    # Monotonic time of the latest checkpoint this process knows of (its own, or the
    # latest in the database when it last looked); 0: none yet.
    last_made: float = field(default=0.0)

    @property
    def origin(self) -> str:
        return self.signer.name


def settings_of(session: Session) -> LedgerSettings | None:
    return session.info.get("ledger")


def last_checkpoint(session: Session) -> Checkpoint | None:
    return session.scalar(sa.select(Checkpoint).order_by(Checkpoint.tree_size.desc()).limit(1))


def _accumulator_at(checkpoint: Checkpoint | None) -> MerkleAccumulator:
    if checkpoint is None:
        return MerkleAccumulator()
    frontier = [bytes.fromhex(h) for h in checkpoint.frontier.split()]
    return MerkleAccumulator.resume(checkpoint.tree_size, frontier)


def sign_body(body: str, signers: list[Signer]) -> str:
    """A signed note of ``body`` with one signature line per signer."""
    note = sign_note(body, signers[0].name, signers[0].private_key)
    for extra in signers[1:]:
        signature_line = sign_note(body, extra.name, extra.private_key)[len(body) + 1 :]
        note += signature_line
    return note


def make_checkpoint(
    session: Session,
    signer: Signer,
    *,
    cosigners: tuple[Signer, ...] = (),
    head: LedgerHead | None = None,
) -> Checkpoint | None:
    """Sign a checkpoint of the whole ledger now (None when the ledger is empty). When
    the last checkpoint already covers every event it is returned as it is.

    Raises :class:`~registry.ledger.kept.CheckpointRefused` (nothing signed) when the
    tree does not extend the checkpoint kept outside the database."""
    if head is None:
        head = lock_ledger(session)
    if head.seq == 0:
        return None
    last = last_checkpoint(session)
    if last is not None and last.tree_size == head.seq:
        return last
    accumulator = _accumulator_at(last)
    fill_blocks(session, head.seq)  # first: the new events' blocks, which extend_to reuses
    extend_to(session, accumulator, head.seq)
    keeper = kept_of(session)
    if keeper is not None:
        # Before the map is appended: a tree that extends the kept one still does with
        # one more leaf, and a refused one leaves no map behind.
        keeper.check(session, head.seq, accumulator.root())
    head, map_leaf = _append_map(session, head, last)
    accumulator.append(map_leaf)
    root = accumulator.root()
    body = format_body(CheckpointBody(signer.name, head.seq, root))
    row = Checkpoint(
        tree_size=head.seq,
        root_hash=root.hex(),
        chain_head=head.event_hash,
        key_id=signer.key_id,
        note=sign_body(body, [signer, *cosigners]),
        created_at=utcnow(),
        frontier=" ".join(h.hex() for h in accumulator.frontier),
    )
    session.add(row)
    session.flush()
    if keeper is not None:
        keeper.keep_on_commit(session, row.note, row.tree_size)
    session.info[SIGNED] = row.tree_size
    return row


# The map of the last ``ledger.systems`` event this process appended, by engine: its
# seq, its event hash and the map. The next checkpoint (of any process) whose previous
# checkpoint is that very event updates it with the events since, instead of reading
# every system's last event again.
_MAPS: weakref.WeakKeyDictionary[Any, tuple[int, str, SystemsMap]] = weakref.WeakKeyDictionary()


def _append_map(
    session: Session, head: LedgerHead, last: Checkpoint | None
) -> tuple[LedgerHead, bytes]:
    """Append the ``ledger.systems`` event (lock held) that the checkpoint is signed at:
    each system's last event before it (ledger.systems_map); the new head and its leaf
    hash."""
    engine = session.get_bind()
    before = head.seq + 1
    cached = _MAPS.get(engine)
    if (
        cached is not None
        and last is not None
        and (cached[0], cached[1]) == (last.tree_size, last.chain_head)
    ):
        systems = update_systems_map(cached[2].copy(), session, last.tree_size, before)
    else:
        systems = systems_map(session, before)
    event = next_event(head, systems.event_fields())
    session.connection().execute(INSERT_EVENT, event)
    _MAPS[engine] = (event["seq"], event["event_hash"], systems)
    head = LedgerHead(event["seq"], event["event_hash"], event["recorded_at"])
    return head, bytes.fromhex(event["leaf_hash"])


def maybe_checkpoint(session: Session, head: LedgerHead) -> None:
    """After an append (lock held, ``head`` the new event): checkpoint when the policy of
    this session's settings says so."""
    settings = settings_of(session)
    if settings is None:
        return
    if head.seq % settings.every_events == 0 or _due_by_time(session, settings):
        try:
            make_checkpoint(session, settings.signer, head=head)
        except CheckpointRefused:
            # Logged; writes go on, unsigned. Verification and the ledger status report
            # the ledger against the kept checkpoint, and exports (which need a signed
            # checkpoint) say why they cannot be made.
            pass
        settings.last_made = time.monotonic()


def sign_if_due(session: Session, settings: LedgerSettings) -> Checkpoint | None:
    """The time policy for a quiet ledger (a scheduled job, ``jobs.tasks``): sign a
    checkpoint of the whole ledger when events are not covered by one yet and
    ``every_seconds`` have passed since the latest (None: none was due). Events
    appended after a checkpoint are otherwise signed only by the next append that
    finds one due, which a registry nobody writes to may not see for days."""
    head = lock_ledger(session)
    last = last_checkpoint(session)
    if head.seq == 0 or (last is not None and last.tree_size == head.seq):
        return None
    if last is not None and (utcnow() - last.created_at).total_seconds() < settings.every_seconds:
        return None
    try:
        row = make_checkpoint(session, settings.signer, head=head)
    except CheckpointRefused:
        return None  # logged; the ledger status and verification say why
    settings.last_made = time.monotonic()
    return row


def checkpoint_due(session: Session, seq: int) -> bool:
    """Whether this session's policy may want a signed checkpoint with event ``seq``: by
    count, or by time as far as this process knows (:func:`maybe_checkpoint` then
    decides on the latest checkpoint in the database)."""
    settings = settings_of(session)
    return settings is not None and (
        seq % settings.every_events == 0 or checkpoint_due_by_time(settings)
    )


def checkpoint_due_by_time(settings: LedgerSettings) -> bool:
    """Whether ``every_seconds`` have passed since the latest checkpoint this process
    knows of (always, in a process that knows of none): a checkpoint may be due, which
    :func:`maybe_checkpoint` decides on the database's latest."""
    return time.monotonic() - settings.last_made >= settings.every_seconds


def _due_by_time(session: Session, settings: LedgerSettings) -> bool:
    """Whether ``every_seconds`` have passed since the latest checkpoint in the database
    (lock held). Asked only when this process's own knowledge says so, so at most once
    per ``every_seconds`` per process; a recent one is remembered as the latest."""
    if not checkpoint_due_by_time(settings):
        return False
    latest = session.scalar(
        sa.select(Checkpoint.created_at).order_by(Checkpoint.tree_size.desc()).limit(1)
    )
    if latest is None:
        return True
    age = max((utcnow() - latest).total_seconds(), 0.0)
    if age >= settings.every_seconds:
        return True
    settings.last_made = time.monotonic() - age
    return False
