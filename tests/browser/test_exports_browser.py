"""An auditor exports a system's evidence pack in a real browser, finds it listed with
who exported it, downloads it, and the download verifies offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from registry.evidence import verifier
from registry.ledger.keys import create_key
from registry.records import writes
from tests.browser.conftest import sign_in
from tests.conftest import make_app

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app with a ledger signing key: packs are signed."""
    instance = tmp_path / "instance"
    create_key(instance / "ledger-signing.key", "registry.test/ledger")
    application = make_app(database_url, instance)
    yield application
    application.extensions["registry.db"].dispose()


def test_auditor_exports_and_downloads_a_pack(
    page, live_server, session, users, officer, profile, tmp_path
):
    writes.create_system(session, officer, profile)
    session.commit()
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page.set_viewport_size({"width": 1200, "height": 900})
    sign_in(page, live_server, users["auditor"].email)
    page.get_by_role("link", name="Benefit fraud triage").click()

    page.get_by_role("button", name="Export evidence pack").click()
    page.wait_for_selector("table.exports")
    assert "Exported evidence-sys-1-" in page.inner_text("main")
    row = page.locator("table.exports tbody tr").first
    assert users["auditor"].email in row.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "exports.png"), full_page=True)

    with page.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    summary = verifier.verify(str(saved))
    assert any("replayed to the stated state" in line for line in summary.lines)
    with page.expect_download() as script:
        page.get_by_role("link", name="verify_pack.py").click()
    assert script.value.suggested_filename == "verify_pack.py"
    assert page.errors == []
