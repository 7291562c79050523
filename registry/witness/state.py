"""What a witness knows: its key, the logs it follows and, per log, the last checkpoint
it cosigned (one file per origin, written whole with mode 0600)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.files import write_private
from registry.ledger.cosignature import WitnessSigner, parse_witness_signer
from registry.ledger.note import (
    Checkpoint,
    NoteError,
    NoteVerifier,
    open_checkpoint,
    parse_verifier_key,
)


class WitnessSetupError(Exception):
    """A key file, log list or state folder the witness cannot use."""


def create_witness_key(path: Path, name: str) -> WitnessSigner:
    """A new witness key at ``path`` (mode 0600); never overwrites a file."""
    try:
        signer = WitnessSigner(name, Ed25519PrivateKey.generate())
        text = signer.signer_key
    except NoteError as exc:
        raise WitnessSetupError(f"Bad witness name: {exc}") from None
    if not write_private(path, text + "\n"):
        raise WitnessSetupError(f"{path} already exists; a witness key is never overwritten.")
    return signer


def load_witness_key(path: Path) -> WitnessSigner:
    try:
        return parse_witness_signer(path.read_text().strip())
    except OSError as exc:
        raise WitnessSetupError(f"Cannot read the witness key at {path}: {exc}") from None
    except NoteError as exc:
        raise WitnessSetupError(f"{path} is not a witness key: {exc}") from None


def parse_logs(vkeys: list[str]) -> dict[str, list[NoteVerifier]]:
    """The logs followed, by origin: each log's verifier key is named by its origin."""
    logs: dict[str, list[NoteVerifier]] = {}
    for vkey in vkeys:
        try:
            verifier = parse_verifier_key(vkey.strip())
        except NoteError as exc:
            raise WitnessSetupError(f"Bad log key {vkey!r}: {exc}") from None
        logs.setdefault(verifier.name, []).append(verifier)
    if not logs:
        raise WitnessSetupError("The witness follows no log: give --log VKEY or --logs FILE.")
    return logs


@dataclass(frozen=True)
class Latest:
    """The last checkpoint cosigned for a log, and its note (with the cosignature)."""

    checkpoint: Checkpoint
    note: str


class WitnessState:
    """The state folder. ``locked()`` serialises check-and-update across threads and
    processes (a file lock), so two submissions can never both advance a log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._thread_lock = threading.Lock()
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise WitnessSetupError(f"Cannot use {folder} for the witness state: {exc}") from None

    def _path(self, origin: str) -> Path:
        return self.folder / f"{hashlib.sha256(origin.encode()).hexdigest()}.checkpoint"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._thread_lock:
            fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the lock

    def latest(self, origin: str, keys: list[NoteVerifier]) -> Latest | None:
        """The last checkpoint cosigned for ``origin`` (checked against the log's keys:
        a state file edited by hand is not believed)."""
        try:
            note = self._path(origin).read_text()
        except FileNotFoundError:
            return None
        try:
            checkpoint, _ = open_checkpoint(note, keys, origin=origin)
        except NoteError as exc:
            raise WitnessSetupError(f"The state of {origin!r} is damaged: {exc}") from None
        return Latest(checkpoint, note)

    def record(self, origin: str, note: str) -> None:
        write_private(self._path(origin), note, replace=True)
