"""Signed notes (c2sp.org/signed-note) and log checkpoints (c2sp.org/tlog-checkpoint).

Pure: the standard library and ``cryptography`` only, so the offline verifier can reuse
this module as is. Ed25519 (signature type 0x01) is the only signature type.

A checkpoint body is exactly three lines, each ending in a newline::

    <origin>
    <tree size, decimal, no leading zeros>
    <base64 of the 32-byte RFC 6962 root hash>

A signed note is the body, an empty line, then one line per signature::

    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>

(em dash U+2014, space, key name, space, base64, newline). The key id is
``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]``. Public keys travel as
verifier keys, ``<name>+<8 hex digits of key id>+<base64(0x01 || public key)>``, and
private keys as signer keys, ``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>``,
the formats of golang.org/x/mod/sumdb/note, so Go tooling reads our keys and notes.

Opening a note follows the spec: signatures from keys that are not known (by name *and*
key id) are ignored; a signature from a known key that does not verify rejects the whole
note; a note with no verified signature from a known key is rejected.

This module deliberately accepts no checkpoint extension lines (the spec allows them but
does not recommend them, and this ledger never writes them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Checkpoint",
    "KnownKeys",
    "NoteError",
    "NoteFormatError",
    "NoteSignature",
    "NoteVerificationError",
    "NoteVerifier",
    "check_key_name",
    "format_body",
    "key_id",
    "open_checkpoint",
    "open_note",
    "parse_body",
    "parse_note",
    "parse_signer_key",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
    "signer_key",
    "verifier_key",
]

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100  # the spec requires accepting at least 16; Go's reference allows 100
MAX_TREE_SIZE = 2**64 - 1
ROOT_SIZE = 32
_KEY_ID_SIZE = 4
_ED25519_SIG_SIZE = 64
_ED25519_KEY_SIZE = 32
_SIG_PREFIX = "\u2014 "  # em dash, space
_SIGNER_KEY_PREFIX = "PRIVATE+KEY+"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # every ASCII control character but \n


class NoteError(ValueError):
    """Base class of every error raised by this module."""


class NoteFormatError(NoteError):
    """Text that is not in the expected format: a note, checkpoint body, key or key name."""


class NoteVerificationError(NoteError):
    """A note could not be opened. ``reason`` says why:

    * ``"malformed"``: not a well-formed signed note (or checkpoint);
    * ``"bad-signature"``: a signature from a known key does not verify;
    * ``"unknown-key"``: no signature is from a known key;
    * ``"wrong-origin"``: a checkpoint from another log than the one expected.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- Text checks -------------------------------------------------------------------------


def _check_utf8(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteFormatError(f"{what} is not valid UTF-8") from None


def _check_note_text(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise NoteFormatError(f"{what} must be str, not {type(text).__name__}")
    _check_utf8(text, what)
    control = _CONTROL.search(text)
    if control:
        raise NoteFormatError(
            f"{what} contains control character {control.group()!r} at offset {control.start()}"
        )
    return text


def _b64decode_strict(text: str, what: str) -> bytes:
    """Standard, padded base64 with nothing non-canonical (RFC 4648 section 4)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise NoteFormatError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteFormatError(f"{what} is not canonical base64")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def check_key_name(name: object) -> str:
    """A key name: non-empty, no Unicode whitespace, no "+", no control characters."""
    if not isinstance(name, str):
        raise NoteFormatError(f"key name must be str, not {type(name).__name__}")
    if not name:
        raise NoteFormatError("key name is empty")
    if "+" in name:
        raise NoteFormatError(f"key name {name!r} contains '+'")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in name):
        raise NoteFormatError(f"key name {name!r} contains whitespace or a control character")
    _check_utf8(name, "key name")
    return name


# --- Checkpoints -------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log's ``origin``, its tree ``size`` and 32-byte ``root``."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise NoteFormatError("checkpoint origin must be a non-empty str")
        if "\n" in self.origin:
            raise NoteFormatError("checkpoint origin must be a single line")
        _check_note_text(self.origin, "checkpoint origin")
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= MAX_TREE_SIZE
        ):
            raise NoteFormatError(
                f"checkpoint size must be an int in [0, 2**64), not {self.size!r}"
            )
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_SIZE:
            raise NoteFormatError(f"checkpoint root must be {ROOT_SIZE} bytes")


def format_body(cp: Checkpoint) -> str:
    """The checkpoint note text: origin, size and base64 root, one per line."""
    return f"{cp.origin}\n{cp.size}\n{_b64(cp.root)}\n"


def parse_body(text: str) -> Checkpoint:
    """Parse a checkpoint note text strictly: exactly the three lines :func:`format_body` writes."""
    _check_note_text(text, "checkpoint")
    if not text.endswith("\n"):
        raise NoteFormatError("checkpoint must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) != 3:
        raise NoteFormatError(
            f"checkpoint must have exactly 3 lines (origin, size, root hash), got {len(lines)}"
        )
    origin, size_text, root_text = lines
    if not origin:
        raise NoteFormatError("checkpoint origin line is empty")
    if not _DECIMAL.fullmatch(size_text):
        raise NoteFormatError(
            f"checkpoint size {size_text!r} is not a decimal number without leading zeros"
        )
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise NoteFormatError(f"checkpoint size {size_text} is too large")
    root = _b64decode_strict(root_text, "checkpoint root hash")
    if len(root) != ROOT_SIZE:
        raise NoteFormatError(f"checkpoint root hash is {len(root)} bytes, not {ROOT_SIZE}")
    return Checkpoint(origin, size, root)


# --- Keys --------------------------------------------------------------------------------


def _public_raw(public_key: Ed25519PublicKey) -> bytes:
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError(f"expected an Ed25519PublicKey, not {type(public_key).__name__}")
    return public_key.public_bytes_raw()


def _key_id_raw(name: str, public_raw: bytes) -> bytes:
    return hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_raw
    ).digest()[:_KEY_ID_SIZE]


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key id: ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``."""
    return _key_id_raw(check_key_name(name), _public_raw(public_key))


@dataclass(frozen=True)
class NoteVerifier:
    """A known public key: its name, 4-byte key id and the key itself."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def of(cls, name: str, public_key: Ed25519PublicKey) -> NoteVerifier:
        return cls(name, key_id(name, public_key), public_key)

    @property
    def label(self) -> str:
        """``name+keyid``, as in error messages of the reference implementation."""
        return f"{self.name}+{self.key_id.hex()}"


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """``<name>+<hex key id>+<base64(0x01 || public key)>``."""
    raw = _public_raw(public_key)
    return (
        f"{check_key_name(name)}+{_key_id_raw(name, raw).hex()}+{_b64(bytes([ALG_ED25519]) + raw)}"
    )


def _parse_key(name: str, id_hex: str, material: str, size: int, what: str) -> bytes:
    check_key_name(name)
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise NoteFormatError(f"{what} key id {id_hex!r} is not 8 hex digits")
    raw = _b64decode_strict(material, f"{what} material")
    if not raw or raw[0] != ALG_ED25519:
        raise NoteFormatError(f"{what} uses an unsupported signature algorithm")
    if len(raw) != 1 + size:
        raise NoteFormatError(f"{what} key is {len(raw) - 1} bytes, not {size}")
    return raw[1:]


def parse_verifier_key(vkey: str) -> NoteVerifier:
    """Parse a verifier key string; the key id must match the name and key."""
    if not isinstance(vkey, str):
        raise NoteFormatError(f"verifier key must be str, not {type(vkey).__name__}")
    parts = vkey.split("+", 2)  # base64 may itself contain "+"; the name may not
    if len(parts) != 3:
        raise NoteFormatError("verifier key must be <name>+<key id>+<key>")
    name, id_hex, material = parts
    raw = _parse_key(name, id_hex, material, _ED25519_KEY_SIZE, "verifier key")
    try:
        public_key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise NoteFormatError("verifier key is not a valid Ed25519 public key") from None
    expected = _key_id_raw(name, raw)
    if bytes.fromhex(id_hex) != expected:
        raise NoteFormatError(
            f"verifier key id {id_hex} does not match its name and key ({expected.hex()})"
        )
    return NoteVerifier(name, expected, public_key)


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>``. A secret."""
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError(f"expected an Ed25519PrivateKey, not {type(private_key).__name__}")
    kid = key_id(name, private_key.public_key()).hex()
    seed = private_key.private_bytes_raw()
    return f"{_SIGNER_KEY_PREFIX}{name}+{kid}+{_b64(bytes([ALG_ED25519]) + seed)}"


def parse_signer_key(skey: str) -> tuple[str, Ed25519PrivateKey]:
    """Parse a signer key string into its name and private key."""
    if not isinstance(skey, str) or not skey.startswith(_SIGNER_KEY_PREFIX):
        raise NoteFormatError("signer key must start with PRIVATE+KEY+")
    parts = skey[len(_SIGNER_KEY_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise NoteFormatError("signer key must be PRIVATE+KEY+<name>+<key id>+<key>")
    name, id_hex, material = parts
    seed = _parse_key(name, id_hex, material, _ED25519_KEY_SIZE, "signer key")
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    expected = key_id(name, private_key.public_key())
    if bytes.fromhex(id_hex) != expected:
        raise NoteFormatError(
            f"signer key id {id_hex} does not match its name and key ({expected.hex()})"
        )
    return name, private_key


# --- Notes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note, not yet verified."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id.hex()}"


def _check_body(body: object) -> str:
    text = _check_note_text(body, "note text")
    if not text:
        raise NoteFormatError("note text is empty")
    if not text.endswith("\n"):
        raise NoteFormatError("note text must end with a newline")
    return text


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note: ``body``, an empty line and one Ed25519 signature line by ``name``."""
    text = _check_body(body)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError(f"expected an Ed25519PrivateKey, not {type(private_key).__name__}")
    kid = key_id(name, private_key.public_key())
    signature = private_key.sign(text.encode("utf-8"))
    return f"{text}\n{_SIG_PREFIX}{name} {_b64(kid + signature)}\n"


def parse_note(note: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines, verifying *nothing*.

    For display and diagnostics only: trust the text only from :func:`open_note`.
    ``note`` may be given as UTF-8 bytes (as read from a file).
    """
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteFormatError("note is not valid UTF-8") from None
    _check_note_text(note, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteFormatError("note has no empty line between its text and its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteFormatError("note has no signature lines")
    if not block.endswith("\n"):
        raise NoteFormatError("note's last signature line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteFormatError(f"note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(_SIG_PREFIX):
            raise NoteFormatError(f"signature line {number} does not start with an em dash")
        name, space, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not space:
            raise NoteFormatError(f"signature line {number} has no signature after the key name")
        try:
            check_key_name(name)
        except NoteFormatError as exc:
            raise NoteFormatError(f"signature line {number}: {exc}") from None
        raw = _b64decode_strict(encoded, f"signature line {number}")
        if len(raw) <= _KEY_ID_SIZE:
            raise NoteFormatError(f"signature line {number} is too short")
        signatures.append(NoteSignature(name, raw[:_KEY_ID_SIZE], raw[_KEY_ID_SIZE:]))
    return text, signatures


KnownKeys = Mapping[str, Ed25519PublicKey] | Iterable[NoteVerifier | str]
"""Trusted keys: ``{name: public key}``, or verifiers and/or verifier key strings (which
allows several keys under one name, e.g. across a key rotation)."""


def _index_known(known_keys: KnownKeys) -> dict[tuple[str, bytes], NoteVerifier]:
    if isinstance(known_keys, str | bytes):
        raise TypeError("known_keys must be a mapping or a list of keys, not a single string")
    if isinstance(known_keys, Mapping):
        verifiers = [NoteVerifier.of(name, key) for name, key in known_keys.items()]
    else:
        verifiers = []
        for item in known_keys:
            if isinstance(item, str):
                verifiers.append(parse_verifier_key(item))
            elif isinstance(item, NoteVerifier):
                verifiers.append(item)
            else:
                raise TypeError(
                    f"known key must be a NoteVerifier or str, not {type(item).__name__}"
                )
    index: dict[tuple[str, bytes], NoteVerifier] = {}
    for verifier in verifiers:
        slot = (verifier.name, verifier.key_id)
        known = index.setdefault(slot, verifier)
        if _public_raw(known.public_key) != _public_raw(verifier.public_key):
            raise ValueError(f"ambiguous key {verifier.label}: two different keys")
    return index


def open_note(note: str | bytes, known_keys: KnownKeys) -> tuple[str, list[str]]:
    """Verify ``note`` against ``known_keys``; return its text and the names that signed it.

    Raises :class:`NoteVerificationError` (see ``reason``) unless at least one signature
    from a known key verifies and none from a known key fails.
    """
    index = _index_known(known_keys)
    try:
        text, signatures = parse_note(note)
    except NoteFormatError as exc:
        raise NoteVerificationError("malformed", f"malformed note: {exc}") from exc
    data = text.encode("utf-8")
    verified: list[str] = []
    unknown: list[str] = []
    # Every signature by a known key is checked, repeated ones too (the spec's MUST; the Go
    # reference checks only a key's first signature). A key that signs twice counts once.
    for sig in signatures:
        verifier = index.get((sig.name, sig.key_id))
        if verifier is None:
            if sig.label not in unknown:
                unknown.append(sig.label)
            continue
        try:
            if len(sig.signature) != _ED25519_SIG_SIZE:
                raise InvalidSignature
            verifier.public_key.verify(sig.signature, data)
        except InvalidSignature:
            raise NoteVerificationError(
                "bad-signature", f"invalid signature for key {sig.label}"
            ) from None
        if sig.name not in verified:
            verified.append(sig.name)
    if not verified:
        seen_keys = ", ".join(unknown)
        raise NoteVerificationError(
            "unknown-key", f"note has no signature from a known key (signed by unknown {seen_keys})"
        )
    return text, verified


def sign_checkpoint(cp: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note of checkpoint ``cp``."""
    return sign_note(format_body(cp), name, private_key)


def open_checkpoint(
    note: str | bytes, known_keys: KnownKeys, origin: str | None = None
) -> tuple[Checkpoint, list[str]]:
    """Verify a signed checkpoint (as :func:`open_note`) and parse its body.

    With ``origin``, the checkpoint must also be from that log.
    """
    text, names = open_note(note, known_keys)
    try:
        cp = parse_body(text)
    except NoteFormatError as exc:
        raise NoteVerificationError("malformed", f"malformed checkpoint: {exc}") from exc
    if origin is not None and cp.origin != origin:
        raise NoteVerificationError(
            "wrong-origin", f"checkpoint is from {cp.origin!r}, expected {origin!r}"
        )
    return cp, names
