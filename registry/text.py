"""Text the databases can store: the one rule every text input passes.

PostgreSQL keeps no NUL character in text (nor in JSON text read as ``jsonb``), and a
lone surrogate (U+D800 to U+DFFF, which JSON's ``\\ud800`` escapes can carry) has no
UTF-8 form, so neither engine can store it. Input holding either is refused where it
is parsed, with the field it came in.
"""

from __future__ import annotations

from marshmallow import ValidationError

NUL = "Contains a NUL character."
SURROGATE = "Not valid Unicode text (a lone surrogate)."


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return NUL
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE
    return None


def storable(value: str) -> None:
    """A marshmallow validator: refuse text no database can store."""
    problem = text_problem(value)
    if problem is not None:
        raise ValidationError(problem)
