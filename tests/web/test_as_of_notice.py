"""The as-of view says what was in effect at the chosen instant but recorded only
after it, and links to the view as in effect then."""

from __future__ import annotations

import datetime as dt
import re

from registry.records import writes
from tests.records.samples import SAMPLES

PAST = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _link(page: str, text: str) -> str:
    match = re.search(rf'<a href="([^"]+)">{text}</a>', page)
    assert match, text
    return match.group(1).replace("&amp;", "&")


def test_a_system_recorded_after_the_instant_but_in_effect_then(
    session, officer, profile, client, login_as
):
    writes.create_system(session, officer, profile, effective_from=PAST)
    session.commit()
    login_as("auditor")
    response = client.get("/systems/sys-1/as-of", query_string={"date": "2025-06-30"})
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "did not exist" in page and "It was recorded later, at" in page
    assert "its profile is effective from" in page and "2024-01-01 00:00:00 UTC" in page
    link = _link(page, "Show it as in effect then")
    assert link == "/systems/sys-1/as-of?mode=effective&date=2025-06-30"
    shown = client.get(link)
    assert shown.status_code == 200
    text = shown.get_data(as_text=True)
    assert "Benefit fraud triage" in text and 'id="late-notice"' in text
    assert "Show only what was recorded by then" in text


def test_an_entry_recorded_after_the_instant_but_in_effect_then(
    session, officer, profile, client, login_as
):
    system, _ = writes.create_system(session, officer, profile, effective_from=PAST)
    session.commit()
    between = dt.datetime.now(dt.UTC)
    writes.create_entry(session, officer, system, "owner", SAMPLES["owner"], effective_from=PAST)
    session.commit()
    login_as("auditor")
    query = {"date": between.date().isoformat(), "time": between.time().isoformat()}
    page = client.get("/systems/sys-1/as-of", query_string=query).get_data(as_text=True)
    notice = page[page.index('id="late-notice"') :]
    assert "1 entry in effect then was recorded only after this instant" in notice
    assert "(owner): effective from" in notice and "2024-01-01 00:00:00 UTC" in notice
    link = _link(notice, "Show the system as in effect then")
    assert "mode=effective" in link and f"time={between.time().isoformat()}" in link
    effective = client.get(link).get_data(as_text=True)
    assert "Bea Business" in effective.split('id="kind-owner"')[1]
    # Nothing recorded late: no notice.
    query["date"] = (between + dt.timedelta(days=1)).date().isoformat()
    del query["time"]
    assert 'id="late-notice"' not in client.get(
        "/systems/sys-1/as-of", query_string=query
    ).get_data(as_text=True)
