"""The example systems' dates, moved to the day the demo is loaded.

The examples (``registry.demo.examples``) are written as they stood on :data:`ANCHOR`,
the first day on which every record of theirs is in effect: ``demo-benefits-triage`` is
ready for production (its latest oversight review was performed the day before and
is next due six days later) and ``demo-city-chatbot`` misses the areas it was written
to miss. The loader moves every date and instant of the examples by the whole number
of days between that anchor and the day of loading (:func:`offset_from`), so the
demo tells the same story on any day it is loaded:

- structured fields: every field a kind's schema declares as a date (``IsoDate``) or
  an instant (``Instant``), found by walking the schema, nested schemas included, and
  the ``effective_from`` of every version;
- prose: a date written in free text is marked where it is written, as
  ``{{YYYY-MM-DD|style}}``; :func:`render` moves the date and writes it in the style
  (:data:`STYLES`: ``1 September 2026``, ``March 2026``, ``Q1 2026``, ``2025-H1``,
  ``2026``, …). A year or a month stands for a day in it chosen by the author (the
  day of the event it names, or the middle of a period), so it changes when that
  day, moved, falls in another year or month.

Identifiers that contain a year (document numbers, file names, decision numbers) are
names, not dates, and stay as written. The NL algorithm register is real data: its
dates are never moved.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields

from registry.records.kinds import KINDS, Instant, IsoDate

ANCHOR = dt.date(2026, 11, 24)

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _quarter(day: dt.date) -> int:
    return (day.month - 1) // 3 + 1


STYLES: dict[str, Callable[[dt.date], str]] = {
    "iso": lambda d: d.isoformat(),  # 2026-03-09
    "day": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",  # 9 March 2026
    "day_month": lambda d: f"{d.day} {MONTHS[d.month - 1]}",  # 9 March
    "month": lambda d: f"{MONTHS[d.month - 1]} {d.year}",  # March 2026
    "month_name": lambda d: MONTHS[d.month - 1],  # March
    "quarter": lambda d: f"Q{_quarter(d)} {d.year}",  # Q1 2026
    "quarter_name": lambda d: f"Q{_quarter(d)}",  # Q1
    "year_quarter": lambda d: f"{d.year}-Q{_quarter(d)}",  # 2026-Q1
    "half": lambda d: f"{d.year}-H{1 if d.month <= 6 else 2}",  # 2025-H1
    "year_month": lambda d: f"{d.year}-{d.month:02}",  # 2026-03
    "year": lambda d: str(d.year),  # 2026
}

PLACEHOLDER = re.compile(r"\{\{(?P<date>[^|{}]*)\|(?P<style>[^|{}]*)\}\}")


def offset_from(load_day: dt.date) -> int:
    """Days to add to the examples' dates when they are loaded on ``load_day``."""
    return (load_day - ANCHOR).days


def render(text: str, days: int) -> str:
    """``text`` with every ``{{YYYY-MM-DD|style}}`` replaced by that date moved by
    ``days``, in that style. A malformed or unknown placeholder is an error in the
    example data: ``ValueError``."""

    def one(match: re.Match[str]) -> str:
        style = STYLES.get(match["style"])
        if style is None:
            raise ValueError(f"unknown date style in {match[0]!r}; known: {', '.join(STYLES)}")
        try:
            day = dt.date.fromisoformat(match["date"])
        except ValueError:
            raise ValueError(f"not an ISO date in {match[0]!r}") from None
        return style(day + dt.timedelta(days=days))

    rendered = PLACEHOLDER.sub(one, text)
    if "{{" in rendered or "}}" in rendered:
        raise ValueError(f"malformed date placeholder in {text!r}")
    return rendered


def shift_instant(value: str, days: int) -> str:
    """An ISO 8601 instant moved by ``days`` (its UTC offset kept)."""
    return (dt.datetime.fromisoformat(value) + dt.timedelta(days=days)).isoformat()


def shift_date(value: str, days: int) -> str:
    return (dt.date.fromisoformat(value) + dt.timedelta(days=days)).isoformat()


def _shift_field(field: fields.Field, value: Any, days: int) -> Any:
    if value is None:
        return None
    if isinstance(field, Instant) and isinstance(value, str):
        try:
            return shift_instant(value, days)
        except ValueError:
            return value  # not an instant: the schema will say so when it is recorded
    if isinstance(field, IsoDate) and isinstance(value, str):
        try:
            return shift_date(value, days)
        except ValueError:
            return value
    if isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
        if field.many and isinstance(value, list):
            return [_shift_object(field.schema, v, days) for v in value]
        return _shift_object(field.schema, value, days)
    if isinstance(field, fields.List) and isinstance(value, list):
        return [_shift_field(field.inner, v, days) for v in value]
    return value


def _shift_object(schema: Schema, body: Any, days: int) -> Any:
    if not isinstance(body, dict):
        return body
    shifted = dict(body)
    for name, field in schema.fields.items():
        key = field.data_key or name
        if key in shifted:
            shifted[key] = _shift_field(field, shifted[key], days)
    return shifted


def _render_all(value: Any, days: int) -> Any:
    if isinstance(value, str):
        return render(value, days)
    if isinstance(value, dict):
        return {k: _render_all(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_all(v, days) for v in value]
    return value


def shift_body(kind: str, body: Any, days: int) -> Any:
    """An example body of ``kind`` with its dates and instants moved by ``days``: the
    fields the kind's schema declares as dates or instants, and the marked dates of
    its text. Fields the schema does not know are left for the schema to refuse."""
    rendered = _render_all(body, days)
    if kind not in KINDS:
        return rendered
    return _shift_object(KINDS[kind].schema(), rendered, days)
