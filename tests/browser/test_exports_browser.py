"""An auditor exports a system's evidence pack in a real browser: the export's job page
shows it waiting, then (a real ``registry worker`` started) reloads itself until the
download is offered; the download verifies offline and the export is listed with who
made it."""

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
from tests.jobs.conftest import queue_settings

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app with a ledger signing key: packs are signed."""
    instance = tmp_path / "instance"
    create_key(instance / "ledger-signing.key", "registry.test/ledger")
    application = make_app(database_url, instance, **queue_settings("sqlite", instance))
    yield application
    application.extensions["registry.db"].dispose()


def test_auditor_exports_and_downloads_a_pack(
    page, live_server, session, users, officer, profile, tmp_path, start_worker
):
    writes.create_system(session, officer, profile)
    session.commit()
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page.set_viewport_size({"width": 1200, "height": 900})
    sign_in(page, live_server, users["auditor"].email)
    page.get_by_role("link", name="Benefit fraud triage").click()

    page.get_by_role("button", name="Export evidence pack").click()
    page.wait_for_selector("#job[data-state=queued]")
    assert "Waiting for a worker" in page.inner_text("main")
    assert page.locator("progress").count() == 1
    start_worker()
    link = page.locator("#download")
    link.wait_for(timeout=60_000)  # the page reloads itself until the pack is made
    assert "Finished:" in page.inner_text("main")
    page.screenshot(path=str(SCREENSHOTS / "export-job.png"), full_page=True)

    with page.expect_download() as download:
        link.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    summary = verifier.verify(str(saved))
    assert any("replayed to the stated state" in line for line in summary.lines)
    page.get_by_role("link", name="All exports").click()
    row = page.locator("table.exports tbody tr").first
    assert users["auditor"].email in row.inner_text() and saved.name in row.inner_html()
    with page.expect_download() as script:
        page.get_by_role("link", name="verify_pack.py").click()
    assert script.value.suggested_filename == "verify_pack.py"
    assert page.errors == []
