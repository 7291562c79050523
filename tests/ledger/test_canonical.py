"""Canonical JSON: the fast path gives exactly the bytes of the RFC 8785 package."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.ledger.canonical import canonical_bytes, instant_text

SAFE = 2**53 - 1
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-SAFE, SAFE)
    | st.text()  # every code point, controls and non-BMP included
    | st.floats(allow_nan=False, allow_infinity=False)
)
keys = st.text(max_size=8) | st.text(alphabet=st.characters(max_codepoint=127), max_size=8)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


def _surrogate_free(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=1500, deadline=None)
@given(values)
def test_same_bytes_as_the_reference_implementation(value):
    if not _surrogate_free(value):
        with pytest.raises(ValueError):
            canonical_bytes(value)
        return
    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, None, "x"]},
        {"\u00e9": 1, "z": 2, "\U0001f600": 3, "\ue000": 4},  # UTF-16 order of keys
        {"t": '\x00\x01\x1f\x7f\b\t\n\f\r"\\\u2028\u2029/'},
        {"n": [SAFE, -SAFE, 0, 1.5, 1e21, 1e-7, -0.0]},
    ],
)
def test_known_values(value):
    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_integers_outside_the_safe_range_are_refused_as_before():
    with pytest.raises(rfc8785.IntegerDomainError):
        canonical_bytes({"n": SAFE + 1})


def test_an_instant_is_written_in_utc_with_microseconds():
    """The one text of an instant in event bytes, bodies and packs: UTC, microseconds
    always, ``+00:00``; an offset is converted and a naive instant is UTC (SQLite's)."""
    utc = dt.datetime(2026, 12, 6, 15, 0, tzinfo=dt.UTC)
    assert instant_text(utc) == "2026-12-06T15:00:00.000000+00:00"
    two_hours_ahead = dt.timezone(dt.timedelta(hours=2))
    assert instant_text(utc.astimezone(two_hours_ahead)) == "2026-12-06T15:00:00.000000+00:00"
    naive = dt.datetime(2026, 12, 6, 15, 0, 0, 42)
    assert instant_text(naive) == "2026-12-06T15:00:00.000042+00:00"
