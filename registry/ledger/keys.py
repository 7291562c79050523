"""The ledger's Ed25519 signing key, kept in a file in the signed-note key format.

The key's name is the registry's origin (the first line of its checkpoints). Only the
operator's machine holds the private key; the public key is published (the
``/ledger/keys`` page) and recorded in the ledger, so old checkpoints stay verifiable
after a rotation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.files import write_private
from registry.ledger.note import key_id, parse_signer_key, signer_key, verifier_key


@dataclass(frozen=True)
class Signer:
    name: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.name, self.public_key).hex()

    @property
    def verifier_key(self) -> str:
        """``<name>+<key id>+<public key>``: what verifiers are given."""
        return verifier_key(self.name, self.public_key)


class KeyFileError(Exception):
    """The key file is missing, unreadable or not a signer key."""


def create_key(path: Path, name: str) -> Signer:
    """Create a new signing key at ``path`` (mode 0600); never overwrites a file."""
    signer = Signer(name, Ed25519PrivateKey.generate())
    if not write_private(path, signer_key(name, signer.private_key) + "\n"):
        raise KeyFileError(f"{path} already exists; a signing key is never overwritten.")
    return signer


def load_key(path: Path) -> Signer:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise KeyFileError(
            f"No signing key at {path}: create one with 'registry keys init'."
        ) from None
    except OSError as exc:
        raise KeyFileError(f"Cannot read the signing key at {path}: {exc}") from None
    try:
        name, private_key = parse_signer_key(text)
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a signing key: {exc}") from None
    return Signer(name, private_key)


def retire_key_file(path: Path, signer: Signer) -> Path:
    """Move the current key file aside (kept: it is still the only proof of ownership
    an operator has for the old checkpoints) and return where it went."""
    target = path.with_name(f"{path.name}.{signer.key_id}.retired")
    path.rename(target)
    return target
