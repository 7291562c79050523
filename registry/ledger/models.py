"""Tables of the audit ledger: append-only events and (signed) checkpoints."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base


class AuditEvent(Base):
    """One event of the ledger, stored as the canonical JSON bytes that were hashed.

    ``seq`` is taken under the ledger lock (never from a sequence), so it is gapless;
    the unique ``prev_hash`` makes a fork impossible even with a locking bug.
    """

    __tablename__ = "audit_event"
    # A system's events by index, and its last event (the precondition of a write, see
    # ledger.append) from the index alone.
    # The audit trail's and the exports list's action filter, newest first, by index.
    __table_args__ = (
        sa.Index("ix_audit_event_system_id_seq", "system_id", "seq"),
        sa.Index("ix_audit_event_action_seq", "action", "seq"),
    )

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[dt.datetime]
    event: Mapped[bytes] = mapped_column(sa.LargeBinary)
    prev_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    event_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    leaf_hash: Mapped[str] = mapped_column(sa.String(64))
    # The system the event is about.
    system_id: Mapped[int | None]
    # The event's action and actor, as its bytes say (``verify`` checks them): what the
    # audit trail filters on, in SQL, instead of the bytes.
    action: Mapped[str | None] = mapped_column(sa.Text)
    actor: Mapped[str | None] = mapped_column(sa.Text)


class Checkpoint(Base):
    """A signed tree head over the first ``tree_size`` events."""

    __tablename__ = "checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    root_hash: Mapped[str] = mapped_column(sa.String(64))
    chain_head: Mapped[str] = mapped_column(sa.String(64))
    key_id: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime]
    # The perfect-subtree roots of the tree at this size (hex, largest first, space
    # separated): the next checkpoint hashes only the events after this one.
    frontier: Mapped[str] = mapped_column(sa.Text, server_default="")


class MerkleBlock(Base):
    """The root of the aligned subtree of events ``256·block + 1 … 256·(block + 1)``:
    proofs over a large ledger read these instead of every leaf. Derived from the
    events (verification recomputes everything), kept only for speed."""

    __tablename__ = "merkle_block"

    block: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(sa.String(64))


class WitnessCosignature(Base):
    """A witness's answer to a checkpoint submitted to it: its cosignature line, or
    (``refused``) the refusal it answered with, an alarm (a fork or rollback it saw)."""

    __tablename__ = "witness_cosignature"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    checkpoint_id: Mapped[int | None] = mapped_column(sa.ForeignKey("checkpoint.id"))
    witness: Mapped[str] = mapped_column(sa.String(255))  # the witness key's name
    url: Mapped[str] = mapped_column(sa.Text)
    key_id: Mapped[str] = mapped_column(sa.String(16))
    timestamp: Mapped[int | None] = mapped_column(sa.BigInteger)  # POSIX seconds, cosigned
    signature: Mapped[str | None] = mapped_column(sa.Text)  # the note signature line
    refused: Mapped[bool] = mapped_column(default=False)
    answer: Mapped[str | None] = mapped_column(sa.Text)  # the witness's refusal, as sent
    received_at: Mapped[dt.datetime]
