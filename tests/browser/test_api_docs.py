"""The interactive API documentation renders in a real browser under the page's CSP."""

from __future__ import annotations


def test_api_docs_render_every_operation(page, live_server):
    page.goto(f"{live_server}/api/docs")
    page.wait_for_selector(".opblock", timeout=15_000)
    text = page.inner_text("body")
    assert "AI governance evidence registry" in text
    for operation in ("/api/v1/systems", "/api/v1/entries/{entry_id}", "/api/v1/ledger/keys"):
        assert operation in text
    paths = page.locator(".opblock").count()
    assert paths >= 25
    # Nothing was refused by the Content-Security-Policy, and no script failed.
    assert page.errors == []
