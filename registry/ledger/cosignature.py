"""Witness cosignatures of checkpoints (c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1``).

Pure: the standard library, ``cryptography`` and note.py. A cosignature is a signed-note
signature line whose key id is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]`` (the
algorithm byte 0x04 tells it from a log's own signature, 0x01) and whose signature is
an 8-byte big-endian POSIX timestamp followed by the Ed25519 signature of::

    cosignature/v1
    time <timestamp>
    <the checkpoint body, final newline included>

Witness keys travel as verifier keys with algorithm byte 0x04
(``<name>+<key id hex>+<base64(0x04 || public key)>``) and signer keys as
``PRIVATE+KEY+<name>+<key id hex>+<base64(0x04 || seed)>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.ledger.note import NoteFormatError, NoteSignature, check_key_name, parse_note

ALG_COSIGNATURE_V1 = 0x04
MAX_TIMESTAMP = 2**63 - 1
_PREFIX = "PRIVATE+KEY+"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64strict(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, ValueError):
        raise NoteFormatError(f"{what} is not valid base64") from None
    if _b64(raw) != text:
        raise NoteFormatError(f"{what} is not canonical base64")
    return raw


def cosigner_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes_raw()
    digest = hashlib.sha256(check_key_name(name).encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]))
    digest.update(raw)
    return digest.digest()[:4]


def signed_message(body: str, timestamp: int) -> bytes:
    """What a ``cosignature/v1`` signature covers."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class Cosigner:
    """A witness's public key: its name, key id and Ed25519 key."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @property
    def vkey(self) -> str:
        material = bytes([ALG_COSIGNATURE_V1]) + self.public_key.public_bytes_raw()
        return f"{self.name}+{self.key_id.hex()}+{_b64(material)}"

    @classmethod
    def of(cls, name: str, public_key: Ed25519PublicKey) -> Cosigner:
        return cls(name, cosigner_key_id(name, public_key), public_key)


@dataclass(frozen=True)
class Cosignature:
    """One verified cosignature: who, when, and its note signature line."""

    name: str
    key_id: bytes
    timestamp: int
    line: str


def _split_key(text: str, what: str) -> tuple[str, str, bytes]:
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteFormatError(f"{what} must be <name>+<key id>+<key>")
    name, id_hex, material = parts
    check_key_name(name)
    raw = _b64strict(material, what)
    if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
        raise NoteFormatError(f"{what} is not an Ed25519 cosignature/v1 key (type 0x04)")
    return name, id_hex, raw[1:]


def parse_cosigner_key(vkey: str) -> Cosigner:
    """A witness's verifier key (type 0x04); the key id must match."""
    if not isinstance(vkey, str):
        raise NoteFormatError("witness key must be a str")
    name, id_hex, raw = _split_key(vkey.strip(), "witness key")
    try:
        cosigner = Cosigner.of(name, Ed25519PublicKey.from_public_bytes(raw))
    except ValueError:
        raise NoteFormatError("witness key is not a valid Ed25519 public key") from None
    if cosigner.key_id.hex() != id_hex.lower():
        raise NoteFormatError(f"witness key id {id_hex} does not match its name and key")
    return cosigner


@dataclass(frozen=True)
class WitnessSigner:
    """A witness's private key."""

    name: str
    private_key: Ed25519PrivateKey

    @property
    def cosigner(self) -> Cosigner:
        return Cosigner.of(self.name, self.private_key.public_key())

    @property
    def signer_key(self) -> str:
        material = bytes([ALG_COSIGNATURE_V1]) + self.private_key.private_bytes_raw()
        return f"{_PREFIX}{self.name}+{self.cosigner.key_id.hex()}+{_b64(material)}"

    def cosign(self, body: str, timestamp: int) -> str:
        """The cosignature line (ending in a newline) of checkpoint ``body`` at ``timestamp``."""
        if not 0 < timestamp <= MAX_TIMESTAMP:
            raise ValueError("a cosignature's timestamp is a positive POSIX time")
        signature = self.private_key.sign(signed_message(body, timestamp))
        raw = self.cosigner.key_id + struct.pack(">Q", timestamp) + signature
        return f"\u2014 {self.name} {_b64(raw)}\n"


def parse_witness_signer(text: str) -> WitnessSigner:
    if not isinstance(text, str) or not text.startswith(_PREFIX):
        raise NoteFormatError("witness signer key must start with PRIVATE+KEY+")
    name, id_hex, seed = _split_key(text[len(_PREFIX) :].strip(), "witness signer key")
    signer = WitnessSigner(name, Ed25519PrivateKey.from_private_bytes(seed))
    if signer.cosigner.key_id.hex() != id_hex.lower():
        raise NoteFormatError(f"witness signer key id {id_hex} does not match its name and key")
    return signer


def _line(sig: NoteSignature) -> str:
    return f"\u2014 {sig.name} {_b64(sig.key_id + sig.signature)}\n"


def verify_cosignatures(note: str, cosigners: list[Cosigner]) -> list[Cosignature]:
    """The cosignatures in signed ``note`` from ``cosigners`` that verify over its body.

    Lines from other keys are ignored (as the signed-note spec says); a line from a
    known cosigner that does not verify raises :class:`NoteFormatError`.
    """
    body, signatures = parse_note(note)
    index = {(c.name, c.key_id): c for c in cosigners}
    found: list[Cosignature] = []
    for sig in signatures:
        cosigner = index.get((sig.name, sig.key_id))
        if cosigner is None:
            continue
        if len(sig.signature) != 8 + 64:
            raise NoteFormatError(f"cosignature of {sig.name} has the wrong length")
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        if not 0 < timestamp <= MAX_TIMESTAMP:
            raise NoteFormatError(f"cosignature of {sig.name} has no valid timestamp")
        try:
            cosigner.public_key.verify(sig.signature[8:], signed_message(body, timestamp))
        except InvalidSignature:
            raise NoteFormatError(f"cosignature of {sig.name} does not verify") from None
        found.append(Cosignature(sig.name, sig.key_id, timestamp, _line(sig)))
    return found


def same_key(a: Cosigner, b: Cosigner) -> bool:
    return a.name == b.name and hmac.compare_digest(
        a.public_key.public_bytes_raw(), b.public_key.public_bytes_raw()
    )
