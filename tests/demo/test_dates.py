"""Moving the examples' dates: the marked dates of their text and the date and instant
fields their kinds' schemas declare, nested ones included."""

from __future__ import annotations

import datetime as dt

import pytest

from registry.demo import dates
from registry.demo.examples import EXAMPLES
from registry.records.kinds import normalise_body


def test_marked_dates_are_moved_and_written_in_their_style():
    text = (
        "From {{2026-09-01|day}} ({{2026-09-01|iso}}, {{2026-09-01|day_month}}); the "
        "{{2026-03-09|month}} incident ({{2026-03-09|month_name}}); review "
        "{{2026-02-15|quarter}} / {{2026-02-15|year_quarter}} / {{2026-02-15|quarter_name}}; "
        "set {{2025-04-01|half}}; thresholds {{2026-06-22|year_month}}; the "
        "{{2026-07-01|year}} budget."
    )
    assert dates.render(text, 0) == (
        "From 1 September 2026 (2026-09-01, 1 September); the March 2026 incident (March); "
        "review Q1 2026 / 2026-Q1 / Q1; set 2025-H1; thresholds 2026-06; the 2026 budget."
    )
    assert dates.render(text, 200) == (
        "From 20 March 2027 (2027-03-20, 20 March); the September 2026 incident (September); "
        "review Q3 2026 / 2026-Q3 / Q3; set 2025-H2; thresholds 2027-01; the 2027 budget."
    )
    assert dates.render("No dates, 2026 stays.", 365) == "No dates, 2026 stays."


@pytest.mark.parametrize(
    "text", ["{{2026-02-30|day}}", "{{2026-09-01|weekday}}", "{{2026-09-01}}", "{{soon|day}}"]
)
def test_a_bad_placeholder_is_an_error(text):
    with pytest.raises(ValueError):
        dates.render(text, 1)


def test_schema_dates_and_instants_move_nested_ones_too():
    body = {
        "title": "Outage on {{2026-03-09|iso}}",
        "detected_at": "2026-03-09T10:40:00+01:00",
        "reported_at": "2026-03-13T14:20:00+01:00",
        "attachments": [{"name": "report-2026-03.pdf", "sha256": "a" * 64}],
    }
    moved = dates.shift_body("incident", body, 30)
    assert moved["title"] == "Outage on 2026-04-08"
    assert moved["detected_at"] == "2026-04-08T10:40:00+01:00"
    assert moved["reported_at"] == "2026-04-12T14:20:00+01:00"
    assert moved["attachments"] == body["attachments"]  # a name, not a date
    grant = dates.shift_body(
        "access_grant",
        {
            "principal": "x",
            "granted_at": "2026-08-28T10:00:00+02:00",
            "next_recertification": "2027-02-28",
        },
        1,
    )
    assert grant["granted_at"] == "2026-08-29T10:00:00+02:00"
    assert grant["next_recertification"] == "2027-03-01"
    # What is not a date is left for the schema to refuse.
    assert dates.shift_body("review", {"performed_on": "soon"}, 5) == {"performed_on": "soon"}


def test_every_example_body_renders_and_is_valid_on_any_day():
    for load_day in (dt.date(2026, 11, 24), dt.date(2028, 2, 29), dt.date(2024, 1, 1)):
        days = dates.offset_from(load_day)
        for example in EXAMPLES:
            bodies = [("profile", example["profile"])]
            bodies += [("profile", u["body"]) for u in example.get("profile_updates", [])]
            for item in example["entries"]:
                bodies += [(item["kind"], item["body"])]
                bodies += [(item["kind"], u["body"]) for u in item.get("updates", [])]
            for kind, body in bodies:
                moved = dates.shift_body(kind, body, days)
                assert "{{" not in repr(moved)
                if kind == "review":
                    moved = {**moved, "procedure_entry_id": 1}
                normalise_body(kind, moved)
