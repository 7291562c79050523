"""The ledger's Ed25519 signing key, kept in a file in the signed-note key format.

The key's name is the registry's origin (the first line of its checkpoints), chosen once
by ``registry keys init`` (:func:`choose_origin`) and read from the key file from then
on: configuration only seeds it. Only the
operator's machine holds the private key; the public key is published (the
``/ledger/keys`` page) and recorded in the ledger, so old checkpoints stay verifiable
after a rotation.
"""

from __future__ import annotations

import re
import secrets
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


class OriginError(ValueError):
    """A name that cannot be the ledger's origin."""


# The origin's host when none is given: an installation's default origin adds a random
# path segment, so that two registries set up with defaults never share a log name.
DEFAULT_ORIGIN_HOST = "registry.example"
MAX_ORIGIN = 200
# A schema-less URL (c2sp.org/tlog-checkpoint): a host name, an optional port, an
# optional path; printable ASCII without space or '+' (a note key name's separator).
_ORIGIN = re.compile(
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)(?::[0-9]{1,5})?(?:/[!-*,-~]*)?"
)


def check_origin(origin: str) -> str:
    """``origin`` if it can name this ledger, else :class:`OriginError` saying why."""
    if not origin:
        raise OriginError("the origin is empty")
    if len(origin) > MAX_ORIGIN:
        raise OriginError(f"the origin is longer than {MAX_ORIGIN} characters")
    bad = next((c for c in origin if not "!" <= c <= "~"), None)
    if bad is not None:
        raise OriginError(f"the origin holds {bad!r}: only printable ASCII, no spaces, is allowed")
    if "://" in origin:
        raise OriginError(
            "the origin is a URL without its scheme: drop the 'https://' (e.g."
            " registry.example.org/ai-governance)"
        )
    if "+" in origin:
        raise OriginError("the origin holds '+', which separates a key's name from its id")
    if not _ORIGIN.fullmatch(origin):
        raise OriginError(
            "the origin is not a host name with an optional path (e.g."
            " registry.example.org/ai-governance)"
        )
    return origin


def default_origin() -> str:
    """A unique origin for a new installation: ``registry.example/ai-governance/<8 hex>``."""
    return f"{DEFAULT_ORIGIN_HOST}/ai-governance/{secrets.token_hex(4)}"


def choose_origin(given: str | None, configured: str | None) -> str:
    """The origin a new key is created under: ``given`` (``--origin``), else
    ``configured`` (REGISTRY_ORIGIN, when set), else a unique default; checked."""
    return check_origin(given or configured or default_origin())


def create_key(path: Path, name: str) -> Signer:
    """Create a new signing key at ``path`` (mode 0600) named ``name``, the origin;
    never overwrites a file. (``registry keys init`` checks a new origin first, with
    :func:`choose_origin`; a rotation keeps the old key's name.)"""
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
