"""Event templates: filled in, they are exactly the bytes seal_event makes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.ledger import chain
from registry.ledger.chain import event_template, seal_event

SAFE = 2**53 - 1
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-SAFE, SAFE)
    | st.integers()  # beyond JSON's safe range too (the RFC 8785 package's path)
    | st.text()  # every code point, controls and non-BMP included
    | st.floats(allow_nan=False, allow_infinity=False)
)
keys = st.text(max_size=8) | st.text(alphabet=st.characters(max_codepoint=127), max_size=8)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
field_names = keys.filter(lambda k: k not in ("v", "seq", "prev_hash", "time", "effective_from"))
instants = st.datetimes(
    min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31), timezones=st.just(dt.UTC)
)


def _encodable(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        seal_event(1, "0" * 64, {"x": value})
    except (UnicodeEncodeError, ValueError, OverflowError):
        return False
    return True


@settings(max_examples=800, deadline=None)
@given(
    st.dictionaries(field_names, values, max_size=6),
    st.integers(1, SAFE),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    instants,
    st.booleans(),
)
def test_a_filled_template_is_the_sealed_event(fields, seq, prev_hash, instant, effective_now):
    if not _encodable(fields):
        return
    time = instant.isoformat(timespec="microseconds")
    if effective_now:
        template = event_template(fields, ("time", "effective_from"))
        expected = {"time": time, "effective_from": time, **fields}
    else:
        fields = {**fields, "effective_from": "2025-01-01T00:00:00.000000+00:00"}
        template = event_template(fields, ("time",))
        expected = {"time": time, **fields}
    assert template is not None
    assert template.fill(seq, prev_hash, time) == seal_event(seq, prev_hash, expected).event


@pytest.mark.parametrize(
    "fields",
    [
        {"actor": 'Zoë "quotes" \\ back\\slash \u2028 \x00\x1f\x7f', "n": 2**31 - 1},
        {"system": "\U0001f600-sys", "nested": {"b": [1, {"c": "é"}], "a": None}},
        {"big": 2**53 - 1, "neg": -(2**53) + 1, "float": 1e21, "small": 1e-7, "z": -0.0},
        {"seq_like": '"seq":', "prev_hash_like": '"prev_hash":"00"'},
    ],
)
def test_tricky_fields(fields):
    time = "2026-11-26T06:20:00.000001+00:00"
    template = event_template(fields, ("time",))
    assert template is not None
    assert (
        template.fill(7, "ab" * 32, time)
        == seal_event(7, "ab" * 32, {"time": time, **fields}).event
    )


def test_a_mark_found_twice_gives_no_template(monkeypatch):
    monkeypatch.setattr(chain.secrets, "token_hex", lambda n: "fixed")
    assert event_template({"actor": "@slot-fixed-seq@"}, ("time",)) is None
    assert event_template({"actor": "@slot-fixed-time@"}, ("time",)) is None
    assert event_template({"actor": "plain"}, ("time",)) is not None


def test_the_ledger_sets_seq_and_prev_hash():
    with pytest.raises(ValueError):
        event_template({"seq": 1}, ("time",))
