"""An entry's term: the one rule of whether it includes a day (registry/terms.py), as
who an owner entry names (accounts.permissions) and what is in force (readiness) read it."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from registry.accounts.permissions import named_by
from registry.records.inputs import validated
from registry.terms import in_term
from tests.records.samples import SAMPLES

DAY = dt.date(2026, 6, 15)


@pytest.mark.parametrize(
    ("term", "included"),
    [
        ({}, True),  # open at both ends
        ({"start": None, "end": None}, True),
        ({"start": "2026-06-15"}, True),  # the first day is in it
        ({"start": "2026-06-16"}, False),
        ({"end": "2026-06-15"}, True),  # the last day too
        ({"end": "2026-06-14"}, False),
        ({"start": "2026-01-01", "end": "2026-12-31"}, True),
        ({"start": "2025-01-01", "end": "2025-12-31"}, False),
    ],
)
def test_a_term_includes_its_first_and_last_day_and_may_be_open(term, included):
    assert in_term(term, DAY) is included


def test_an_owner_entry_names_its_person_only_within_its_term():
    """The owner kind's stored body (nulls dropped, dates as ISO text) read by the rule:
    the person's keys on a day in the term, none outside it."""
    body = {**SAMPLES["owner"], "start": "2026-06-01", "end": "2026-06-30"}
    stored = json.loads(validated("owner", body)[1])
    person = {f"email:{SAMPLES['owner']['person']['email']}"}
    assert named_by(stored, DAY) == person
    assert named_by(stored, dt.date(2026, 7, 1)) == set()
    assert named_by(stored, dt.date(2026, 5, 31)) == set()
    open_ended = json.loads(validated("owner", {**SAMPLES["owner"], "start": None})[1])
    assert named_by(open_ended, DAY) == person
