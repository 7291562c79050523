"""A compliance officer uploads two documents from a system's page in a real browser
and downloads one: the bytes come back as a download, an uploaded HTML page too
(never shown in the registry's origin), and no CSP error; withholds one from packs and
releases it again."""

from __future__ import annotations

from pathlib import Path

from registry.records import writes
from tests.browser.conftest import sign_in
from tests.records.samples import SAMPLES


def test_upload_several_and_download(page, live_server, session, users, officer, tmp_path):
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-1"})
    session.commit()
    card = tmp_path / "model-card.md"
    card.write_text("# Model card\nIntended use: triage.\n")
    html = tmp_path / "report.html"
    html.write_text("<html><body><script>document.title='ran'</script>report</body></html>")
    sign_in(page, live_server, users["compliance_officer"].email)
    page.goto(f"{live_server}/systems/sys-1")
    page.set_input_files("#document-files", [str(card), str(html)])
    page.select_option("#document-type", "model_card")
    page.fill("#document-valid-until", "2030-12-31")
    page.get_by_role("button", name="Upload documents").click()
    page.wait_for_selector("text=Received 2 documents")
    assert page.locator("section[aria-labelledby=documents] tbody tr").count() == 2
    with page.expect_download() as info:
        page.get_by_role("link", name="model-card.md").click()
    download = info.value
    saved = Path(download.path())
    assert saved.read_text() == card.read_text()
    assert download.suggested_filename == "model-card.md"
    with page.expect_download() as info:
        page.get_by_role("link", name="report.html").click()
    assert Path(info.value.path()).read_bytes() == html.read_bytes()
    assert page.title() != "ran" and page.url.endswith("/systems/sys-1#documents")
    # Withheld (confidential): packs carry its hash only; then released again.
    page.get_by_role("button", name="Withhold model-card.md").click()
    page.wait_for_selector("text=model-card.md is withheld: packs carry its hash")
    row = page.locator("section[aria-labelledby=documents] tbody tr", has_text="model-card.md")
    assert row.locator("strong", has_text="withheld").count() == 1
    page.get_by_role("button", name="Release model-card.md to packs").click()
    page.wait_for_selector("text=model-card.md is no longer withheld: packs carry its file.")
    assert row.locator("strong", has_text="withheld").count() == 0
    assert page.get_by_role("button", name="Withhold model-card.md").count() == 1
    assert page.errors == []
