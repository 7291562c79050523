"""An auditor follows an entry through time in a real browser: history, a diff of two
versions, and the system as in effect on a past date, with no script and no CSP error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from registry.records import writes
from tests.browser.conftest import sign_in
from tests.records.samples import SAMPLES

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _record(session, officer, profile) -> None:
    def at(day: str) -> dt.datetime:
        return dt.datetime.fromisoformat(f"{day}T00:00:00+00:00")

    system, v1 = writes.create_system(
        session, officer, profile, effective_from=at("2024-01-15"), reason="Registered"
    )
    writes.create_entry(
        session, officer, system, "owner", SAMPLES["owner"], effective_from=at("2024-01-15")
    )
    writes.update_entry(
        session,
        officer,
        v1.entry_id,
        {**profile, "stage": "proposed", "purpose": "Triage of every application."},
        base_version=1,
        effective_from=at("2025-03-01"),
        reason="Went live after the pilot",
    )
    writes.update_entry(
        session,
        officer,
        v1.entry_id,
        {**profile, "stage": "proposed", "risk_tier": "limited", "known_misuse": "<b>x</b>"},
        base_version=2,
        effective_from=at("2025-06-01"),
        reason="Reclassified by the oversight board",
    )
    session.commit()


def test_auditor_follows_an_entry_through_time(page, live_server, session, users, officer, profile):
    _record(session, officer, profile)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1200, "height": 900})
    # base.html names no icon, so the browser asks for /favicon.ico, which the app does
    # not serve (a 404 console error that is not this page's): answer it here.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))

    sign_in(page, live_server, users["auditor"].email)
    page.get_by_role("link", name="Benefit fraud triage").click()

    # History: every version, newest first.
    page.get_by_role("link", name="History of Benefit fraud triage").click()
    page.wait_for_selector("ol.timeline")
    headings = page.locator("ol.timeline h3").all_inner_texts()
    assert [h.split(" ·")[0] for h in headings] == ["Version 3", "Version 2", "Version 1"]
    assert "Reclassified by the oversight board" in page.inner_text("body")
    page.screenshot(path=str(SCREENSHOTS / "history.png"), full_page=True)

    # Compare version 1 with version 3.
    page.get_by_label("From version").select_option("1")
    page.get_by_label("to version").select_option("3")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_selector("table.diff")
    paths = page.locator("table.diff tbody th").all_inner_texts()
    assert paths == ["Known misuse", "Risk tier", "Stage"]
    assert "<b>x</b>" in page.locator("table.diff").inner_text()  # shown as text
    page.screenshot(path=str(SCREENSHOTS / "diff.png"), full_page=True)

    # The system as in effect on a past date.
    page.get_by_role("link", name="System sys-1").click()
    page.get_by_role("link", name="As it was on…").click()
    page.get_by_label("Date").fill("2024-06-30")
    page.get_by_label("as in effect then", exact=False).check()
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector(".shown-at")
    shown = page.inner_text(".shown-at")
    assert "as in effect at 2024-06-30 23:59:59 UTC" in shown
    body = page.inner_text("main")
    assert "pilot" in body and "Bea Business" in body
    assert "Reclassified" not in body
    page.screenshot(path=str(SCREENSHOTS / "as-of.png"), full_page=True)

    assert page.errors == []
