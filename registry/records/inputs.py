"""Input checked before anything is read: bodies, reasons, instants, ids (the writes'
checks; the reads check instants and ids by the same rules)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import ValidationError

from registry.db import MAX_ID
from registry.errors import InvalidInput
from registry.ledger.canonical import canonical_bytes
from registry.records.kinds import normalise_body
from registry.text import text_problem

MAX_REASON = 2_000


def validated(kind: str, body: Any) -> tuple[dict[str, Any], bytes]:
    """``body`` checked and normalised by the schema of ``kind``, and its canonical bytes."""
    try:
        clean = normalise_body(kind, body)
    except ValidationError as exc:
        messages = (
            exc.messages
            if isinstance(exc.messages, dict)
            else {exc.field_name or "_schema": exc.messages}
        )
        raise InvalidInput(f"The {kind} is not valid.", messages) from None
    try:
        return clean, canonical_bytes(clean)
    except (ValueError, UnicodeError) as exc:  # rfc8785's errors are ValueErrors
        raise InvalidInput(
            f"The {kind} cannot be recorded: {exc}",
            {
                "_schema": [
                    "The body holds text that is not valid Unicode or a number out of range."
                ]
            },
        ) from None


def check_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if problem := text_problem(reason):
        raise InvalidInput("The reason is not valid text.", {"reason": [problem]})
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            "The reason is too long.", {"reason": [f"Longer than maximum length {MAX_REASON}."]}
        )
    return reason


def check_instant(value: dt.datetime | None, name: str) -> dt.datetime | None:
    """``value`` unchanged when it is None or aware; InvalidInput naming the field
    ``name`` when it has no time zone (an instant without one is no instant)."""
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone.", {name: ["Not a valid aware datetime."]})
    return value


def valid_id(value: object) -> bool:
    """Whether ``value`` can name a row: an integer (not a bool) from 1 to ``db.MAX_ID``."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def check_base(base_version: object) -> int:
    if (
        not isinstance(base_version, int)
        or isinstance(base_version, bool)
        or not (0 <= base_version < MAX_ID)
    ):
        raise InvalidInput(
            "The base version is not valid.", {"base_version": ["Not a version number."]}
        )
    return base_version
