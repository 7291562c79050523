"""A compliance officer records a system in a real browser — registers it, adds an
owner, a data source and an access grant, edits one, follows it through history — and
an auditor then finds no way to change anything; no script and no CSP error."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from tests.browser.conftest import sign_in

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1200, "height": 900}


def _add(page, kind_title: str) -> None:
    page.get_by_role("link", name=f"Add {kind_title}", exact=True).click()
    page.wait_for_selector("form.entry-form")


def _save(page, button: str) -> None:
    page.get_by_role("button", name=button).click()
    page.wait_for_selector("p.flash")


def test_officer_records_a_system_and_auditor_cannot_change_it(page, live_server, users):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(VIEWPORT)
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    sign_in(page, live_server, users["compliance_officer"].email)
    assert page.url == f"{live_server}/dashboard"  # an officer lands on the dashboard
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Systems").click()

    # Register a system.
    page.get_by_role("link", name="Register a system").click()
    page.fill("#f-name", "Benefit fraud triage")
    page.fill("#f-reference", "sys-2")
    page.select_option("#f-stage", "pilot")
    page.select_option("#f-risk_tier", "high")
    page.fill("#f-purpose", "Prioritises benefit applications for manual review.")
    page.fill("#f-reason", "First registration")
    _save(page, "Register system")
    assert "Registered system sys-2." in page.inner_text("p.flash")

    # An owner, a data source and an access grant.
    _add(page, "owner")
    page.select_option("#f-role", "technical")
    page.fill("#f-person-name", "Tess Technical")
    page.fill("#f-person-email", "tess@example.org")
    page.fill("#f-start", "2025-01-01")
    _save(page, "Add owner")
    _add(page, "data source")
    page.fill("#f-name", "Applications 2019-2024")
    page.get_by_label("training", exact=True).check()
    page.get_by_label("validation", exact=True).check()
    page.fill("#f-personal_data_categories", "income\nhousehold size")
    _save(page, "Add data source")
    _add(page, "access grant")
    page.fill("#f-principal", "ml-ops")
    page.select_option("#f-principal_type", "group")
    page.select_option("#f-resource", "logs")
    page.fill("#f-permission", "read")
    page.fill("#f-granted_at-date", "2025-02-01")
    page.fill("#f-granted_at-time", "09:00")
    page.select_option("#f-can_stop", "true")
    _save(page, "Add access grant")
    main = page.text_content("main")
    assert "Tess Technical" in main and "ml-ops" in main and "household size" in main

    # Edit the data source.
    page.locator("summary", has_text="Applications 2019-2024").click()  # open its details
    page.get_by_role("link", name="Edit Applications 2019-2024").click()
    page.wait_for_selector("form.entry-form")
    assert page.input_value("#f-personal_data_categories") == "income\nhousehold size"
    page.screenshot(path=str(SCREENSHOTS / "edit-form.png"))  # the top of the form, filled
    page.fill("#f-origin", "Case management exports")
    page.fill("#f-reason", "Origin documented")
    _save(page, "Save changes")
    assert "Case management exports" in page.text_content("main")
    page.locator("summary", has_text="Applications 2019-2024").click()
    page.screenshot(path=str(SCREENSHOTS / "system.png"), full_page=True)

    # Its history and the diff of the two versions.
    page.get_by_role("link", name="History of Applications 2019-2024").click()
    page.wait_for_selector("ol.timeline")
    assert "Origin documented" in page.inner_text("main")
    page.get_by_label("From version").select_option("1")
    page.get_by_label("to version").select_option("2")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_selector("table.diff")
    assert page.locator("table.diff tbody th").all_inner_texts() == ["Origin"]

    # The system as it was on a date.
    page.get_by_role("link", name="System sys-2").click()
    page.get_by_role("link", name="As it was on…").click()
    page.get_by_label("Date").fill(dt.datetime.now(dt.UTC).date().isoformat())
    page.get_by_role("button", name="Show").click()
    page.wait_for_selector(".shown-at")
    assert "ml-ops" in page.text_content("main")

    page.goto(f"{live_server}/dashboard")
    page.wait_for_selector("h1")
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("input[name=email]")

    # An auditor finds no way to change anything.
    sign_in(page, live_server, users["auditor"].email)
    assert page.url == f"{live_server}/systems"  # an auditor lands on the systems list
    assert page.get_by_role("link", name="Register a system").count() == 0
    page.get_by_role("link", name="Benefit fraud triage").click()
    page.wait_for_selector("h1")
    controls = re.compile(r"^(Add|Edit|Retire|Register)")
    assert page.get_by_role("link", name=controls).count() == 0
    assert page.get_by_role("button", name=controls).count() == 0
    # The forms an auditor has export evidence and follow the system (their own
    # reminders): neither changes a record.
    assert page.locator("main form:not(.export-form):not(.follow-form)").count() == 0
    assert page.get_by_role("button", name="Export evidence pack").count() == 1
    for path in ("/systems/new", "/systems/sys-2/entries/new?kind=risk"):
        assert page.request.get(f"{live_server}{path}").status == 403

    assert page.errors == []
