"""A term: the days from an entry's ``start`` to its ``end`` (ISO 8601 dates, both
days included, either end open when absent or null). The one rule of whether a term
includes a day: who an owner entry names (``accounts.permissions.named_by``), and the
owners and funding in force (``readiness.criteria``)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def in_term(body: dict[str, Any], day: dt.date) -> bool:
    """Whether the term of ``body`` (its ``start`` and ``end``) includes ``day``."""
    start, end = body.get("start"), body.get("end")
    iso = day.isoformat()  # ISO dates compare as text in time order
    return (start is None or start <= iso) and (end is None or end >= iso)
