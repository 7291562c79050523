"""The PDF's Art 73 line: the deadline the records' rule gives (records.kinds), met,
missed or open as of the pack's instant."""

from __future__ import annotations

import datetime as dt

from registry.evidence.pdf import art73

AWARE = "2026-03-01T09:00:00+00:00"
AS_OF = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)


def test_not_serious_owes_no_report():
    assert art73({"serious": False, "detected_at": AWARE}, AS_OF) == (
        "not serious: no Art 73 report due"
    )


def test_the_deadline_counts_from_awareness_by_the_incidents_class():
    death = {"serious": True, "serious_category": "death", "became_aware_at": AWARE}
    line = art73({**death, "reported_at": "2026-03-11T08:00:00+00:00"}, AS_OF)
    assert line.startswith("deadline ") and "(10 days): met" in line
    assert "(10 days): MISSED" in art73(
        {**death, "reported_at": "2026-03-11T10:00:00+00:00"}, AS_OF
    )
    assert "(10 days): open, not yet reported" in art73(death, AS_OF)
    # Widespread: 2 days, from detection when no awareness is recorded; missed by then.
    widespread = {
        "serious": True,
        "serious_category": "widespread_or_critical_infrastructure",
        "detected_at": AWARE,
    }
    assert "(2 days): MISSED, not reported" in art73(widespread, AS_OF)
    # Any other serious incident: 15 days.
    assert "(15 days): open" in art73({"serious": True, "detected_at": AWARE}, AS_OF)
