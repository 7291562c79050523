"""Evidence documents on the web, on both engines and both blob stores: several files
uploaded from a system's page, files attached from an entry form, the Documents
section and the download, refusals as messages (never a 500)."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import sqlalchemy as sa

from registry.documents.models import Document
from registry.extensions import document_store
from registry.records import writes
from tests.conftest import csrf_token
from tests.records.samples import SAMPLES


def _system(session: Any, officer: Any) -> None:
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-1"})
    session.commit()


def test_several_files_from_the_system_page(app, client, login_as, session, officer):
    _system(session, officer)
    login_as("compliance_officer")
    page = client.get("/systems/sys-1").get_data(as_text=True)
    assert 'id="documents"' in page and 'name="files"' in page
    token = csrf_token(client, "/systems/sys-1")
    answer = client.post(
        "/systems/sys-1/documents",
        data={
            "csrf_token": token,
            "files": [(io.BytesIO(b"card"), "card.md"), (io.BytesIO(b"report"), "report.pdf")],
            "document_type": "model_card",
            "valid_until": "2030-01-31",
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    page = client.get("/systems/sys-1").get_data(as_text=True)
    assert "Received 2 documents: card.md, report.pdf." in page
    assert page.count("Model card</td>") == 2 and "2030-01-31" in page
    rows = session.scalars(sa.select(Document).order_by(Document.name)).all()
    assert [r.name for r in rows] == ["card.md", "report.pdf"]
    session.rollback()
    link = re.search(r'href="(/documents/[0-9a-f]{64})" download>card.md', page)
    assert link, page
    got = client.get(link.group(1))
    assert got.get_data() == b"card"
    assert got.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"] == "attachment; filename=card.md"
    got.close()
    # Only the hash itself names the document: not with more after it, nor in capitals.
    sha256 = link.group(1).removeprefix("/documents/")
    for other in (f"{sha256}zzz", f"{sha256}0", sha256.upper()):
        assert client.get(f"/documents/{other}").status_code == 404, other


def test_refusals_are_messages(app, client, login_as, session, officer, users):
    _system(session, officer)
    login_as("compliance_officer")
    token = csrf_token(client, "/systems/sys-1")
    empty = client.post(
        "/systems/sys-1/documents",
        data={"csrf_token": token, "files": [(io.BytesIO(b""), "empty.pdf")]},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert empty.status_code == 200
    assert "Nothing was uploaded: The file is empty." in empty.get_data(as_text=True)
    big = client.post(
        "/systems/sys-1/documents",
        data={"csrf_token": token, "files": [(io.BytesIO(b"x" * 5000), "big.bin")]},
        content_type="multipart/form-data",
    )
    assert big.status_code == 413 and "at most 4096 bytes" in big.get_data(as_text=True)
    no_token = client.post(
        "/systems/sys-1/documents",
        data={"files": [(io.BytesIO(b"x"), "x.txt")]},
        content_type="multipart/form-data",
    )
    assert no_token.status_code == 400
    assert session.scalar(sa.select(sa.func.count()).select_from(Document)) == 0
    assert list(document_store(app).blobs()) == []
    session.rollback()
    assert users["auditor"].email  # loaded now: the sign-in below reads it
    session.close()  # (SQLite: the test's session would hold the write lock)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/systems/sys-1")})
    login_as("auditor")
    refused = client.post(
        "/systems/sys-1/documents",
        data={
            "csrf_token": csrf_token(client, "/systems/sys-1"),
            "files": [(io.BytesIO(b"x"), "x")],
        },
        content_type="multipart/form-data",
    )
    assert refused.status_code == 403
    # Signed out: nothing is staged (the app's own body limit and CSRF check apply).
    client.post("/logout", data={"csrf_token": csrf_token(client, "/systems/sys-1")})
    anonymous = client.post(
        "/systems/sys-1/documents",
        data={"files": [(io.BytesIO(b"x" * 5000), "a.bin")]},  # over 4096: never staged
        content_type="multipart/form-data",
    )
    assert anonymous.status_code == 400
    assert list(document_store(app).parts.glob("*")) == []


def test_an_entry_form_attaches_its_files(app, client, login_as, session, officer):
    _system(session, officer)
    login_as("compliance_officer")
    path = "/systems/sys-1/entries/new?kind=risk"
    form = client.get(path).get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in form and 'name="attach_files"' in form
    answer = client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "title": "Disparate error rates",
            "likelihood": "possible",
            "impact": "major",
            "attach_files": [(io.BytesIO(b"bias audit"), "bias-audit.pdf")],
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)[:3000]
    version = session.execute(
        sa.text("select body from entry_version order by id desc limit 1")
    ).scalar_one()
    attachments = json.loads(version)["attachments"]
    assert [a["name"] for a in attachments] == ["bias-audit.pdf"]
    session.rollback()
    page = client.get("/systems/sys-1").get_data(as_text=True)
    assert f'<a href="/documents/{attachments[0]["sha256"]}">bias-audit.pdf' in page
