"""evidence.pdf and the web pages format records through one formatter: the PDF read
back with pypdf shows the same strings as the system page for the same entries
(persons, booleans, instants, labels, money, enumerated values)."""

from __future__ import annotations

import html
import re

from tests.evidence.conftest import do_export, members
from tests.evidence.test_pack import pdf_text
from tests.web.test_readable_records import READABLE, document_every_kind


def test_the_pdf_shows_what_the_system_page_shows(app, session, users, officer, login_as):
    ids = document_every_kind(session, officer)
    client = login_as("auditor")
    page = html.unescape(client.get("/systems/sys-1").get_data(as_text=True))
    flat = " ".join(
        pdf_text(members(do_export(app, session, "sys-1").path)["evidence.pdf"]).split()
    )
    for text in READABLE:
        assert text in page, f"{text!r} not on the web page"
        assert text in flat, f"{text!r} not in evidence.pdf"
    for raw in ("annex_iii_area", "art_6_3_rationale", "dpia_reference", "human_oversight"):
        assert raw not in flat
    # Booleans, as on the page.
    assert re.search(r"Can stop Yes", flat) and "<dd>Yes</dd>" in page.replace("\n", "")
    assert "Substantial modification No" in flat
    # A review names its procedure the same way on both.
    procedure = f"Review procedure: human oversight (entry {ids['review_procedure']})"
    assert procedure in page and procedure in flat
    # The metrics as a table: its column heads, then a row per metric.
    assert "Name Category Threshold Direction Unit recall accuracy 0.8 min" in flat
    # No instant with microseconds or in ISO form in the PDF but the cover's exact as-of
    # instant (which names the pack).
    readable = re.sub(r"\(exactly \S+\)", "", flat)
    assert "(exactly " in flat
    assert not re.search(r"\d\d:\d\d:\d\d\.\d{6}", readable)
    assert not re.search(r"T\d\d:\d\d:\d\d", readable)
