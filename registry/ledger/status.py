"""What readers are told about the ledger: its verifier keys, a shared verification
result, and inclusion proofs into signed checkpoints. No Flask: every surface uses it."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.errors import Conflict, NotFound
from registry.ledger.checkpoints import last_checkpoint, settings_of
from registry.ledger.kept import kept_of
from registry.ledger.models import AuditEvent, Checkpoint
from registry.ledger.proofs import inclusion_proof
from registry.ledger.store import ledger_head, verify_ledger
from registry.ledger.verify import LedgerReport

MAX_SEQ = 2**63 - 1


def recorded_keys(session: Session) -> list[str]:
    """Verifier keys recorded in the ledger's key events, oldest first."""
    rows = session.scalars(
        sa.select(AuditEvent.event)
        .where(AuditEvent.action >= "key.", AuditEvent.action < "key/")  # key.*, by index
        .order_by(AuditEvent.seq)
    )
    keys: list[str] = []
    for raw in rows:
        event = json.loads(raw)
        for name in ("previous_verifier_key", "verifier_key"):
            if event.get(name) and event[name] not in keys:
                keys.append(event[name])
    return keys


def verifier_keys(session: Session) -> list[str]:
    """The current signing key first, then every earlier key the ledger recorded."""
    settings = settings_of(session)
    keys = [settings.signer.verifier_key] if settings else []
    keys += [k for k in reversed(recorded_keys(session)) if k not in keys]
    return keys


def current_key(session: Session) -> str | None:
    settings = settings_of(session)
    return settings.signer.verifier_key if settings else None


# The last verification, per database: (ledger head, monotonic time, verified at, report).
# Verifying a large ledger takes seconds; readers share one result while the ledger has
# not grown, for at most VERIFY_MAX_AGE seconds.
_last: dict[str, tuple[int, float, dt.datetime, LedgerReport]] = {}
_lock = threading.Lock()
VERIFY_MAX_AGE = 60.0


def shared_verification(session: Session) -> tuple[LedgerReport, dt.datetime]:
    """The ledger verified against the current key: reused while the head is unchanged
    and the result is younger than ``VERIFY_MAX_AGE`` seconds."""
    url = session.get_bind().url.render_as_string(hide_password=True)
    head = ledger_head(session).seq
    key = current_key(session)
    with _lock:
        cached = _last.get(url)
        if cached and cached[0] == head and time.monotonic() - cached[1] < VERIFY_MAX_AGE:
            return cached[3], cached[2]
        keeper = kept_of(session)
        kept = keeper.known() if keeper is not None else None
        report = verify_ledger(session, [key] if key else [], known=[kept] if kept else [])
        now = dt.datetime.now(dt.UTC)
        _last[url] = (head, time.monotonic(), now, report)
        return report, now


@dataclass(frozen=True)
class InclusionProof:
    event: AuditEvent
    checkpoint: Checkpoint
    path: list[bytes]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.event.seq,
            "leaf_index": self.event.seq - 1,
            "leaf_hash": self.event.leaf_hash,
            "tree_size": self.checkpoint.tree_size,
            "root_hash": self.checkpoint.root_hash,
            "proof": [h.hex() for h in self.path],
            "checkpoint": self.checkpoint.note,
        }


def get_event(session: Session, seq: int) -> AuditEvent:
    event = session.get(AuditEvent, seq) if 0 < seq <= MAX_SEQ else None
    if event is None:
        raise NotFound(f"No event {seq} in the ledger.")
    return event


def prove_inclusion(session: Session, seq: int, tree_size: int | None = None) -> InclusionProof:
    """The audit path of event ``seq`` into a signed checkpoint: the one of ``tree_size``,
    or the latest one. Conflict when no signed checkpoint covers the event yet."""
    event = get_event(session, seq)
    if tree_size is None:
        checkpoint = last_checkpoint(session)
    else:
        checkpoint = session.scalar(sa.select(Checkpoint).where(Checkpoint.tree_size == tree_size))
        if checkpoint is None:
            raise NotFound(f"No signed checkpoint of tree size {tree_size}.")
    if checkpoint is None or checkpoint.tree_size < seq:
        raise Conflict(
            f"No signed checkpoint covers event {seq} yet; one is signed at least every "
            "few minutes, or run 'registry ledger checkpoint'."
        )
    return InclusionProof(event, checkpoint, inclusion_proof(session, seq, checkpoint.tree_size))


@dataclass(frozen=True)
class LedgerFigures:
    """What an operator watches: how many events, and when the latest signed
    checkpoint was made (None before the first)."""

    size: int
    latest_checkpoint_at: dt.datetime | None


def ledger_figures(session: Session) -> LedgerFigures:
    """The ledger's size (its head's sequence number) and its latest checkpoint's time:
    two index reads, no lock."""
    made = session.scalar(
        sa.select(Checkpoint.created_at).order_by(Checkpoint.tree_size.desc()).limit(1)
    )
    return LedgerFigures(ledger_head(session).seq, made)
