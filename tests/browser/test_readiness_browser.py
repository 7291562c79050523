"""A compliance officer reads a scorecard on a phone and approves a ready system, in a
real browser: the chart is SVG with its statuses written out, no script, no CSP error."""

from __future__ import annotations

from pathlib import Path

from registry.records import writes
from tests.conftest import PASSWORD
from tests.readiness.evidence import READY_PROFILE, make_ready

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_officer_reads_the_scorecard_on_a_phone_and_approves(
    page, live_server, session, users, officer
):
    system, _ = writes.create_system(session, officer, READY_PROFILE)
    make_ready(session, officer, system)
    session.commit()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 375, "height": 800})
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", users["compliance_officer"].email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/systems/sys-1")
    page.get_by_role("link", name="Production readiness scorecard").click()

    chart = page.get_by_role("img", name="Readiness by area")
    assert chart.is_visible()
    assert chart.bounding_box()["width"] <= 375
    assert page.locator("svg text.status").all_text_contents() == ["met"] * 10
    assert "Ready for production" in page.inner_text("p.verdict")
    # Nothing wider than the phone's screen but the tables, which scroll sideways.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    page.screenshot(path=str(SCREENSHOTS / "readiness.png"), full_page=True)

    page.get_by_label("Notes with the approval (optional)").fill("Review board of 12 May")
    page.get_by_role("button", name="Approve promotion to production").click()
    page.wait_for_selector("p.approval.current")
    assert "Promotion to production approved" in page.inner_text("main")
    assert page.errors == []
