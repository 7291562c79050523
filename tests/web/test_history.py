"""An entry's history, the diff of two versions, and a system as it was on a date, in
the server-rendered web UI (both engines)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pytest

import registry.ledger.store as store
from registry.instants import OUT_OF_RANGE
from registry.records import writes
from tests.records.samples import SAMPLES

UTC = dt.UTC
# Recorded times are the server's clock, always after the previous event's: a clock set
# far in the future (after the users' own events) gives every write a known day.
T1 = dt.datetime(2100, 1, 10, 10, 0, tzinfo=UTC)
T2 = dt.datetime(2100, 2, 10, 10, 0, tzinfo=UTC)
T3 = dt.datetime(2100, 3, 10, 10, 0, tzinfo=UTC)
SCRIPT = "<script>alert('owned')</script>"


@dataclass
class World:
    profile_id: int
    owner_id: int
    source_id: int


@pytest.fixture
def world(session, officer, profile, monkeypatch) -> World:
    clock = {"now": T1}
    monkeypatch.setattr(store, "utcnow", lambda: clock["now"])
    system, v1 = writes.create_system(session, officer, profile, reason="First record")
    owner = writes.create_entry(session, officer, system, "owner", SAMPLES["owner"])
    session.commit()

    clock["now"] = T2
    v2 = writes.update_entry(
        session,
        officer,
        v1.entry_id,
        {**profile, "stage": "proposed", "risk_tier": "limited", "known_misuse": SCRIPT},
        base_version=1,
        reason=f"Went live {SCRIPT}",
    )
    writes.retire_entry(session, officer, owner.entry_id, base_version=1, reason="Left")
    session.commit()

    clock["now"] = T3
    source = writes.create_entry(session, officer, system, "data_source", SAMPLES["data_source"])
    # Version 3 is recorded late but states an earlier effective time (a correction),
    # renames the system and drops its risk tier.
    v3 = {k: v for k, v in profile.items() if k != "risk_tier"}
    writes.update_entry(
        session,
        officer,
        v1.entry_id,
        {**v3, "name": "Renamed triage", "stage": "proposed", "known_misuse": SCRIPT},
        base_version=v2.number,
        effective_from=dt.datetime(2100, 1, 20, tzinfo=UTC),
        reason="Correction",
    )
    session.commit()
    return World(v1.entry_id, owner.entry_id, source.entry_id)


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def _history_url(entry_id: int) -> str:
    return f"/systems/sys-1/entries/{entry_id}/history"


def _diff_url(entry_id: int) -> str:
    return f"/systems/sys-1/entries/{entry_id}/diff"


# ----------------------------------------------------------------------------- history


def test_history_lists_every_version_newest_first(client, login_as, world):
    login_as("auditor")
    response = client.get(_history_url(world.profile_id))
    assert response.status_code == 200
    page = _text(response)
    positions = [page.index(f'<h3 id="version-{n}-heading">Version {n}') for n in (3, 2, 1)]
    assert positions == sorted(positions)
    assert "Renamed triage" in page  # the label of the latest version
    for reason in ("First record", "Correction"):
        assert reason in page
    assert '<time datetime="2100-02-10T10:00:00+00:00">2100-02-10 10:00:00 UTC</time>' in page
    # Version 3's stated effective time is shown beside its recorded time.
    assert '<time datetime="2100-01-20T00:00:00+00:00">' in page
    assert "compliance-officer@example.org" in page or "Compliance Officer" in page
    # Links to compare each version with the one before, and a form with labelled selects.
    assert f"{_diff_url(world.profile_id)}?from=2&amp;to=3" in page
    assert f"{_diff_url(world.profile_id)}?from=1&amp;to=2" in page
    assert '<label for="compare-from">' in page and '<label for="compare-to">' in page
    assert '<ol class="timeline" reversed>' in page


def test_history_marks_a_retirement(client, login_as, world):
    login_as("auditor")
    page = _text(client.get(_history_url(world.owner_id)))
    assert "Version 2 · retirement" in page
    assert "This entry is retired." in page
    assert "yes: the entry was retired by this version" in page
    assert "Bea Business" in page  # version 1's body is still shown


def test_system_page_links_to_history_and_as_of(client, login_as, world):
    login_as("auditor")
    page = _text(client.get("/systems/sys-1"))
    assert _history_url(world.profile_id) in page
    assert _history_url(world.source_id) in page
    assert "/systems/sys-1/as-of" in page


# ----------------------------------------------------------------------------- diff


def _rows(page: str) -> dict[str, tuple[str, str, str]]:
    """The diff table's rows: field label -> (change, before, after)."""
    found = re.findall(
        r'<tr class="(added|removed|changed)">\s*<th scope="row">([^<]*)</th>\s*'
        r'<td>[^<]*</td>\s*<td class="value">(.*?)</td>\s*<td class="value">(.*?)</td>',
        page,
        re.S,
    )
    return {path: (change, before, after) for change, path, before, after in found}


def test_diff_shows_exactly_the_changed_fields(client, login_as, world):
    login_as("auditor")
    response = client.get(_diff_url(world.profile_id), query_string={"from": 1, "to": 2})
    assert response.status_code == 200
    page = _text(response)
    rows = _rows(page)
    assert set(rows) == {"Stage", "Risk tier", "Known misuse"}
    assert rows["Stage"] == ("changed", "pilot", "proposed")
    assert rows["Risk tier"] == ("changed", "high", "limited")
    assert rows["Known misuse"][0] == "added"
    assert "(absent)" in rows["Known misuse"][1]
    assert "3 changed fields from version 1 to version 2" in page
    assert '<option value="1" selected>' in page and '<option value="2" selected>' in page


def test_diff_defaults_to_the_last_change_and_handles_removals(client, login_as, world):
    login_as("auditor")
    rows = _rows(_text(client.get(_diff_url(world.profile_id))))
    assert rows == {
        "Name": ("changed", "Benefit fraud triage", "Renamed triage"),
        "Risk tier": ("removed", "limited", '<span class="absent">(absent)</span>'),
    }
    # Backwards works too, and a version compared with itself has no changes.
    rows = _rows(_text(client.get(_diff_url(world.profile_id), query_string="from=3&to=2")))
    assert rows["Risk tier"][0] == "added"
    same = _text(client.get(_diff_url(world.profile_id), query_string="from=2&to=2"))
    assert "No field differs between version 2 and version 2." in same


def test_diff_shows_removed_values_for_people(client, login_as, world):
    login_as("auditor")
    rows = _rows(_text(client.get(_diff_url(world.owner_id), query_string="from=1&to=2")))
    # A retirement has no body: every field is removed; a person reads as name and e-mail.
    assert {change for change, _, _ in rows.values()} == {"removed"}
    assert set(rows) == {"Role", "Person", "Start"}
    assert rows["Person"][1] == "Bea Business &lt;bea@example.org&gt;"


# ----------------------------------------------------------------------------- as of


def _as_of(client, **params: str):
    return client.get("/systems/sys-1/as-of", query_string=params)


def test_as_of_form_alone(client, login_as, world):
    login_as("auditor")
    response = _as_of(client)
    assert response.status_code == 200
    page = _text(response)
    assert '<input type="date" id="as-of-date" name="date"' in page
    assert '<label for="as-of-date">' in page and '<label for="as-of-time">' in page
    assert '<label for="mode-recorded">' in page and '<label for="mode-effective">' in page
    assert "Shown as" not in page


def test_as_recorded_then_shows_old_values_and_retired_entries(client, login_as, world):
    login_as("auditor")
    response = _as_of(client, date="2100-02-01", mode="recorded")
    assert response.status_code == 200
    page = _text(response)
    # The end of the chosen day, in UTC, in transaction time.
    assert (
        'Shown as recorded at <time datetime="2100-02-01T23:59:59.999999+00:00">'
        "2100-02-01 23:59:59 UTC</time> (transaction time" in page
    )
    shown, notice = _apart(page)
    assert "Benefit fraud triage" in shown and "Renamed triage" not in shown
    assert "<dd>pilot</dd>" in page and "proposed" not in page
    assert "Renamed triage (profile)" in notice  # recorded later, in effect then
    # The owner, retired later, is shown as it was; the data source did not exist yet.
    assert "Bea Business" in page and "retired since" in page
    assert "Applications 2019-2024" not in page
    assert "No data source recorded then." in page


def test_as_recorded_then_with_a_time(client, login_as, world):
    login_as("auditor")
    before = _text(_as_of(client, date="2100-02-10", time="09:59:59", mode="recorded"))
    assert "<dd>pilot</dd>" in before and "Bea Business" in before
    after = _text(_as_of(client, date="2100-02-10", time="10:01", mode="recorded"))
    assert "<dd>proposed</dd>" in after and "Bea Business" not in after
    assert '<time datetime="2100-02-10T10:01:00+00:00">' in after


def _apart(page: str) -> tuple[str, str]:
    """The as-of page without, and with only, its notice of what was recorded later."""
    start = page.index('<div class="notice" id="late-notice">')
    end = page.index("</div>", start)
    return page[:start] + page[end:], page[start:end]


def test_as_in_effect_then_includes_later_corrections(client, login_as, world):
    login_as("auditor")
    recorded = _text(_as_of(client, date="2100-01-25", mode="recorded"))
    shown, notice = _apart(recorded)
    assert "Benefit fraud triage" in shown and "Renamed triage" not in shown
    assert "Renamed triage (profile)" in notice and "mode=effective" in notice
    effective = _text(_as_of(client, date="2100-01-25", mode="effective"))
    assert "Shown as in effect at" in effective and "(valid time" in effective
    assert "Renamed triage" in effective  # version 3, recorded later, effective 20 January
    assert '<input type="radio" id="mode-effective" name="mode" value="effective" checked>' in (
        effective
    )


def test_as_of_today_shows_the_current_state(client, login_as, world):
    login_as("auditor")
    page = _text(_as_of(client, date="2100-12-31"))
    assert "Renamed triage" in page and "Applications 2019-2024" in page
    assert "Bea Business" not in page


def test_as_of_before_the_system_existed_is_404(client, login_as, world):
    login_as("auditor")
    for mode in ("recorded", "effective"):
        response = _as_of(client, date="2100-01-09", mode=mode)
        assert response.status_code == 404
        assert "did not exist" in _text(response)
    assert _as_of(client, date="0001-01-01").status_code == 404


# ----------------------------------------------------------------------------- safety


def test_entry_bodies_are_escaped(client, login_as, world):
    login_as("auditor")
    pages = [
        client.get(_history_url(world.profile_id)),
        client.get(_diff_url(world.profile_id), query_string="from=1&to=2"),
        _as_of(client, date="2100-02-28"),
    ]
    for response in pages:
        page = _text(response)
        assert response.status_code == 200
        assert "<script>" not in page
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page


def test_anonymous_users_are_sent_to_login(client, world):
    for url in (
        _history_url(world.profile_id),
        _diff_url(world.profile_id),
        "/systems/sys-1/as-of?date=2100-02-01",
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_admin_alone_cannot_read_history(client, login_as, world):
    login_as("admin")
    for url in (
        _history_url(world.profile_id),
        _diff_url(world.profile_id),
        "/systems/sys-1/as-of?date=2100-02-01",
    ):
        response = client.get(url)
        assert response.status_code == 403
        assert "may not read the records" in _text(response)


@pytest.mark.parametrize(
    "query", ["date=9999-12-31&time=23:00-05:00", "date=0001-01-01&time=01:00%2B05:00"]
)
def test_as_of_instants_follow_the_one_rule(client, login_as, world, query):
    """The as-of view reads its date and time by registry.instants' rule, in its words."""
    login_as("auditor")
    response = client.get(f"/systems/sys-1/as-of?{query}")
    assert response.status_code == 400
    assert f"That date and time {OUT_OF_RANGE}." in _text(response)


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/systems/nope/entries/1/history", 404, "No system"),
        ("/systems/sys-1/entries/999999/history", 404, "No entry 999999"),
        ("/systems/sys-1/entries/99999999999/history", 404, "No entry"),
        ("/systems/nope/as-of?date=2100-01-01", 404, "No system"),
        ("DIFF?from=abc&to=2", 400, "must be a whole number"),
        ("DIFF?from=-1&to=2", 400, "must be a whole number"),
        ("DIFF?from=1&to=%EF%BC%92", 400, "must be a whole number"),  # a full-width digit
        ("DIFF?from=1&to=99", 404, "has no version 99"),
        ("DIFF?from=0&to=1", 404, "has no version 0"),
        ("DIFF?from=1&to=" + "9" * 30, 404, "has no version"),
        ("DIFF?from=1&to=" + "9" * 50, 400, "must be a whole number"),
        ("/systems/sys-1/as-of?date=yesterday", 400, "is not a date"),
        ("/systems/sys-1/as-of?date=2100-02-30", 400, "is not a date"),
        ("/systems/sys-1/as-of?date=2100-02-01&time=25:00", 400, "is not a time"),
        ("/systems/sys-1/as-of?date=2100-02-01&mode=sometime", 400, "Choose whether"),
        ("/systems/sys-1/as-of?date=9999-12-31&time=23:00-05:00", 400, "out of range"),
        ("/systems/sys-1/as-of?date=0001-01-01&time=01:00%2B05:00", 400, "out of range"),
        ("/systems/sys-1/as-of?date=" + "2" * 100, 400, "too long"),
        ("/systems/sys-1/as-of?date=2100-01-01%00", 400, "is not a date"),
    ],
)
def test_bad_input_gives_a_page_not_a_500(client, login_as, world, url, status, message):
    login_as("auditor")
    url = url.replace("DIFF", _diff_url(world.profile_id))
    response = client.get(url)
    assert response.status_code == status
    page = _text(response)
    assert message in page
    assert "<html" in page  # an HTML page, with the form to try again where there is one


def test_an_entry_of_another_system_is_not_found(client, login_as, session, officer, world):
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-2"})
    session.commit()
    login_as("auditor")
    response = client.get(f"/systems/sys-2/entries/{world.profile_id}/history")
    assert response.status_code == 404
    assert client.get(f"/systems/sys-2/entries/{world.owner_id}/diff").status_code == 404
