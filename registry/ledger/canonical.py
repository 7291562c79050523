"""RFC 8785 canonical JSON, the hashes computed over it, and the text of an instant in
what is hashed (event bytes, entry bodies, packs)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import rfc8785

_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only what the standard library serialises exactly as RFC
    8785 does: objects with ASCII keys (so code-point order is UTF-16 order), text,
    booleans, null and integers within JSON's safe range. Not floats: RFC 8785 writes
    numbers as ECMAScript does, which differs from Python."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 (JCS) serialisation of ``value``: the bytes that get hashed.

    Values of the plain kind (nearly every body and every event) take the standard
    library's C encoder, whose output is identical for them (text escapes as RFC 8785
    prescribes: ``\\b \\t \\n \\f \\r``, other controls as lowercase ``\\u00xx``);
    the rest, floats above all, the ``rfc8785`` package. A property test holds the two
    to the same bytes.
    """
    if _plain(value):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
            "utf-8"
        )
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def instant_text(instant: dt.datetime) -> str:
    """An instant as the registry writes it wherever it is hashed, signed or exported
    (event bytes, entry bodies, packs): ISO 8601 in UTC with microseconds, ``+00:00``.
    A naive instant is in UTC (SQLite keeps them so)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(dt.UTC).isoformat(timespec="microseconds")
