"""In a real browser: the readiness chart draws all ten areas, a fully documented
system's page and the lists fit a 375 px wide phone, and a skip link leads the
keyboard to the content."""

from __future__ import annotations

from registry.readiness.criteria import AREAS
from tests.browser.conftest import sign_in
from tests.web.test_readable_records import document_every_kind

PHONE = {"width": 375, "height": 740}


def test_the_readiness_chart_shows_all_ten_areas(page, live_server, session, users, officer):
    document_every_kind(session, officer)
    sign_in(page, live_server, users["auditor"].email)
    page.goto(f"{live_server}/systems/sys-1/readiness")
    box = page.locator("svg.readiness-chart").bounding_box()
    labels = page.locator("svg.readiness-chart text.label")
    assert labels.all_text_contents() == [area.title for area in AREAS]
    assert len(AREAS) == 10
    for shape in ("text.label", "rect.bar", "text.status"):
        drawn = page.locator(f"svg.readiness-chart {shape}")
        assert drawn.count() == 10
        for i in range(10):
            own = drawn.nth(i).bounding_box()
            assert own["height"] > 0
            # Inside the chart's box: not clipped away below its first row.
            assert box["y"] <= own["y"] and own["y"] + own["height"] <= box["y"] + box["height"]
    assert page.errors == []


def test_a_documented_system_and_the_lists_fit_a_phone(page, live_server, session, users, officer):
    ids = document_every_kind(session, officer)
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, users["compliance_officer"].email)
    for path in (
        "/systems/sys-1",
        "/systems",
        "/dashboard",
        "/my-systems",
        f"/systems/sys-1/entries/{ids['data_source']}/history",
        f"/systems/sys-1/entries/{ids['monitoring_plan']}/history",
        "/systems/sys-1/readiness",
        "/audit",
    ):
        page.goto(f"{live_server}{path}")
        # Every entry and event open: their longest values shown.
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a 375px screen"
    # The metrics table stacks on a phone: each value labelled by its column.
    page.goto(f"{live_server}/systems/sys-1")
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    cell = page.locator('table.grid td[data-label="Category"]').first
    assert cell.is_visible()
    label = cell.evaluate("e => getComputedStyle(e, '::before').content")
    assert "Category" in label
    assert page.errors == []


def test_tab_then_enter_skips_to_the_content(page, live_server, session, users, officer):
    document_every_kind(session, officer)
    sign_in(page, live_server, users["technical_owner"].email)
    for path in ("/systems/sys-1", "/systems", "/", "/login"):
        page.goto(f"{live_server}{path}")
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "[document.activeElement.tagName, document.activeElement.textContent]"
        )
        assert focused == ["A", "Skip to content"], path
        assert page.locator("a.skip-link").is_visible()  # shown once focused
        page.keyboard.press("Enter")
        inside = page.evaluate("document.querySelector('main').contains(document.activeElement)")
        assert inside, f"{path}: focus did not move into the main content"
        page.keyboard.press("Tab")  # the next stop is within the content, not the navigation
        assert (
            page.evaluate("document.querySelector('main').contains(document.activeElement)")
            or path == "/login"
        ), path
