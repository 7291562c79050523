"""Instants given by people and programs: ISO 8601 with a time zone, read as UTC.

Every instant the registry stores or compares is in UTC. An offset can move a text
instant out of the calendar's years 1 to 9999 (``9999-12-31T23:59:59-01:00`` is in year
10000 in UTC), which Python cannot represent: such an instant is bad input, refused
where it is parsed, never an error further on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import ValidationError, fields

OUT_OF_RANGE = "is out of range: in UTC, an instant falls in the years 1 to 9999"


def in_utc(instant: dt.datetime) -> dt.datetime:
    """An aware instant in UTC; ValueError when UTC has no such instant (the messages
    of this module's ValueErrors follow "The instant ...")."""
    try:
        return instant.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(OUT_OF_RANGE) from None


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 instant with a time zone, in UTC; ValueError with the reason otherwise."""
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("is not an ISO 8601 instant (e.g. 2026-10-01T00:00:00Z)") from None
    if instant.tzinfo is None:
        raise ValueError("needs a time zone (Z or an offset)")
    return in_utc(instant)


class UtcInstant(fields.AwareDateTime):
    """A marshmallow field: an ISO 8601 instant with a time zone, loaded in UTC."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(format="iso", **kw)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime:
        instant = super()._deserialize(value, attr, data, **kwargs)
        try:
            return in_utc(instant)
        except ValueError as exc:
            raise ValidationError(f"The instant {exc}.") from None
