"""The latest signed checkpoint, kept outside the database as well.

Whoever owns the database can lift its triggers, delete the newest events with the
checkpoints covering them, or rewrite an event and re-chain the ones after it. The
registry would then sign the forged history with its real key. So each process keeps
the latest checkpoint it signed in a file of its own (``instance/latest-checkpoint``,
mode 0600, replaced atomically once the checkpoint is committed), and refuses to sign
a tree that does not extend it: a smaller tree, the same size with another root, or a
larger one that the consistency proof from the kept one (RFC 9162 2.1.4) does not
bind to it. Verification compares the ledger with the kept checkpoint too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from registry.errors import Conflict
from registry.files import write_private
from registry.ledger.merkle import verify_consistency
from registry.ledger.note import Checkpoint, NoteError, parse_body, parse_note
from registry.ledger.proofs import consistency_proof
from registry.ledger.verify import KnownCheckpoint

log = logging.getLogger(__name__)

_PENDING = "ledger.checkpoint_to_keep"


class CheckpointRefused(Conflict):
    """The registry will not sign a tree that does not extend the checkpoint it kept."""


@dataclass(frozen=True)
class KeptCheckpoint:
    """Where this installation keeps its latest signed checkpoint."""

    path: Path

    def note(self) -> str | None:
        """The kept checkpoint's signed note (None: none kept yet)."""
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def known(self) -> KnownCheckpoint | None:
        """The kept checkpoint, for verification to compare the ledger with."""
        note = self.note()
        if note is None:
            return None
        return KnownCheckpoint(f"the registry's kept checkpoint ({self.path})", note)

    def _checkpoint(self) -> Checkpoint | None:
        note = self.note()
        if note is None:
            return None
        text, _signatures = parse_note(note)
        return parse_body(text)

    def refusal(self, session: Session, size: int, root: bytes) -> str | None:
        """Why a checkpoint of ``size`` events with ``root`` must not be signed (None:
        it extends the kept one, or none is kept yet)."""
        try:
            kept = self._checkpoint()
        except (NoteError, OSError, UnicodeDecodeError) as exc:
            return (
                f"the kept checkpoint {self.path} cannot be read ({exc}); restore it from "
                "a backup of the instance folder"
            )
        if kept is None:
            return None
        if size < kept.size:
            return (
                f"the ledger holds {size} events, fewer than the {kept.size} of the latest "
                f"checkpoint this registry signed (kept in {self.path}): events at its end "
                f"were removed, or the database is an older copy. {_RESTORED}"
            )
        proof = consistency_proof(session, kept.size, size) if size > kept.size else []
        if not verify_consistency(kept.size, size, kept.root, root, proof):
            return (
                f"the ledger's first {kept.size} events no longer hash to the root of the "
                f"latest checkpoint this registry signed (kept in {self.path}): events were "
                f"rewritten, or the ledger was rolled back and grown again. {_RESTORED}"
            )
        return None

    def check(self, session: Session, size: int, root: bytes) -> None:
        """Raise :class:`CheckpointRefused` unless the tree extends the kept one."""
        reason = self.refusal(session, size, root)
        if reason is not None:
            log.error("Refused to sign a checkpoint of %d events: %s", size, reason)
            raise CheckpointRefused(f"Refused to sign a checkpoint: {reason}")

    def keep_on_commit(self, session: Session, note: str, size: int) -> None:
        """Keep ``note`` once the session's transaction commits (never before: a
        checkpoint rolled back was never signed as far as the ledger knows)."""
        session.info[_PENDING] = (self, note, size)

    def keep(self, note: str, size: int) -> None:
        """Replace the kept checkpoint with a larger one (atomically, mode 0600)."""
        try:
            kept = self._checkpoint()
        except (NoteError, OSError, UnicodeDecodeError):
            kept = None
        if kept is not None and kept.size >= size:
            return  # another process kept a larger (or this) one meanwhile
        write_private(self.path, note, replace=True)


_RESTORED = (
    "If the database was restored from an older backup on purpose, move that file aside "
    "(keep it: it shows what was signed before) and sign again."
)


def kept_of(session: Session) -> KeptCheckpoint | None:
    return session.info.get("kept_checkpoint")


def after_commit(session: Session) -> None:
    """Session event: keep the checkpoint the committed transaction signed."""
    pending = session.info.pop(_PENDING, None)
    if pending is not None:
        keeper, note, size = pending
        try:
            keeper.keep(note, size)
        except OSError as exc:
            # The checkpoint is committed and valid; the file only lags behind (the
            # next signing checks against the older kept one, which it extends).
            log.error(
                "Could not keep the checkpoint of %d events in %s: %s", size, keeper.path, exc
            )


def after_rollback(session: Session) -> None:
    """Session event: a checkpoint rolled back is not kept."""
    session.info.pop(_PENDING, None)
