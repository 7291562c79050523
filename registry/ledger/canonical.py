"""RFC 8785 canonical JSON and the hashes computed over it."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 (JCS) serialisation of ``value``: the bytes that get hashed."""
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leaf_hash_hex(event: bytes) -> str:
    """RFC 6962 leaf hash: SHA-256(0x00 || event)."""
    return hashlib.sha256(b"\x00" + event).hexdigest()
