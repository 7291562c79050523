"""Signed checkpoints of the ledger, and the keys recorded in it.

A checkpoint is a signed tree head over the first ``tree_size`` events, in the C2SP
tlog-checkpoint format. Each stores its Merkle frontier, so the next one hashes only
the events that came after it. Checkpoints are made under the ledger lock: every
``every_events`` events, when ``every_seconds`` have passed since this process last
made one, and on demand (``registry ledger checkpoint``, every export).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.ledger.keys import Signer
from registry.ledger.merkle import MerkleAccumulator
from registry.ledger.models import AuditEvent, Checkpoint
from registry.ledger.note import Checkpoint as CheckpointBody
from registry.ledger.note import format_body, sign_note
from registry.ledger.proofs import fill_blocks
from registry.ledger.store import LedgerHead, lock_ledger


@dataclass
class LedgerSettings:
    """How this process signs and how often; carried on its sessions' ``info``."""

    signer: Signer
    every_events: int = 1000
    every_seconds: float = 300.0
    last_made: float = field(default=0.0)  # monotonic time of this process's last one

    @property
    def origin(self) -> str:
        return self.signer.name


def settings_of(session: Session) -> LedgerSettings | None:
    return session.info.get("ledger")


def last_checkpoint(session: Session) -> Checkpoint | None:
    return session.scalar(sa.select(Checkpoint).order_by(Checkpoint.tree_size.desc()).limit(1))


def iter_leaf_hashes(
    session: Session, after: int, upto: int, batch: int = 20_000
) -> Iterator[bytes]:
    """Leaf hashes of events ``after+1 … upto``, in order."""
    while after < upto:
        rows = session.execute(
            sa.select(AuditEvent.seq, AuditEvent.leaf_hash)
            .where(AuditEvent.seq > after, AuditEvent.seq <= upto)
            .order_by(AuditEvent.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield bytes.fromhex(row.leaf_hash)
        after = rows[-1].seq


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
    the last checkpoint already covers every event it is returned as it is."""
    if head is None:
        head = lock_ledger(session)
    if head.seq == 0:
        return None
    last = last_checkpoint(session)
    if last is not None and last.tree_size == head.seq:
        return last
    accumulator = _accumulator_at(last)
    accumulator.extend(iter_leaf_hashes(session, accumulator.size, head.seq))
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
    fill_blocks(session, head.seq)
    return row


def maybe_checkpoint(session: Session, head: LedgerHead) -> None:
    """After an append (lock held, ``head`` the new event): checkpoint when the policy of
    this session's settings says so."""
    settings = settings_of(session)
    if settings is not None and checkpoint_due(session, head.seq):
        make_checkpoint(session, settings.signer, head=head)
        settings.last_made = time.monotonic()


def checkpoint_due(session: Session, seq: int) -> bool:
    """Whether this session's policy wants a signed checkpoint with event ``seq``."""
    settings = settings_of(session)
    return settings is not None and (
        seq % settings.every_events == 0 or checkpoint_due_by_time(settings)
    )


def checkpoint_due_by_time(settings: LedgerSettings) -> bool:
    """Whether ``every_seconds`` have passed since this process's last checkpoint."""
    return time.monotonic() - settings.last_made >= settings.every_seconds
