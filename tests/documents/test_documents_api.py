"""Evidence documents over the API, on both engines and both blob stores: upload,
download, list, attach, and every kind of bad input refused with nothing kept."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import zlib
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from registry.accounts.actor import Actor
from registry.accounts.models import User
from registry.documents.models import Document
from registry.documents.service import collect
from registry.extensions import document_store
from registry.ledger.models import AuditEvent
from registry.records import writes
from tests.records.samples import SAMPLES

PDF = b"%PDF-1.4\n% a DPIA, of course\n" * 20


@pytest.fixture
def system(session: Any, officer: Any) -> str:
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-1"})
    session.commit()
    return "sys-1"


def upload(client: Any, data: bytes, name: str = "dpia.pdf", **fields: Any) -> Any:
    headers = fields.pop("headers", {})
    form: dict[str, Any] = {
        "file": (io.BytesIO(data), name, fields.pop("media", "application/pdf"))
    }
    form.update(fields)
    return client.post(
        "/api/v1/systems/sys-1/documents",
        data=form,
        content_type="multipart/form-data",
        headers=headers,
    )


def digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def test_upload_is_received_recorded_and_downloaded(app, api, system, session):
    client = api("compliance_officer")
    answer = upload(
        client,
        PDF,
        title="DPIA 2026",
        document_type="dpia",
        valid_until="2027-06-30",
        headers={"Content-Digest": digest(PDF)},
    )
    assert answer.status_code == 201, answer.get_json()
    out = answer.get_json()
    sha = hashlib.sha256(PDF).hexdigest()
    assert out["sha256"] == sha and out["size"] == len(PDF)
    assert out["media_type"] == "application/pdf" and out["name"] == "dpia.pdf"
    assert out["document_type"] == "dpia" and out["valid_until"] == "2027-06-30"
    assert out["title"] == "DPIA 2026" and out["withheld"] is False
    assert answer.headers["Location"] == f"/api/v1/documents/{sha}"
    # The receipt is a ledger event naming the system, the hash and who.
    event = json.loads(session.get(AuditEvent, out["receive_seq"]).event)
    session.rollback()  # (SQLite: the test's session would hold the write lock)
    assert event["action"] == "document.receive" and event["sha256"] == sha
    assert event["size"] == len(PDF) and event["actor"] == "user:compliance-officer@example.org"
    assert event["document_type"] == "dpia" and event["name"] == "dpia.pdf"
    assert document_store(app).has(sha)
    # The same bytes again: the document as first received.
    again = upload(client, PDF, name="other.pdf")
    assert again.status_code == 200 and again.get_json()["receive_seq"] == out["receive_seq"]
    # Listed and downloaded, byte for byte, as an inert attachment.
    listed = api("auditor").get("/api/v1/systems/sys-1/documents").get_json()["items"]
    assert [d["sha256"] for d in listed] == [sha]
    got = api("auditor").get(answer.headers["Location"])
    assert got.status_code == 200 and got.get_data() == PDF
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    got.close()


@pytest.mark.parametrize("size", [1, 3 * 1024 * 1024 + 7])
def test_an_uploads_crc32_is_recorded_on_its_row_not_in_its_event(app, api, system, session, size):
    # Of a few bytes (written when the upload closes) and of several 1 MiB batches and a
    # remainder (written by the receiving thread): the CRC-32 of every byte, in order.
    app.config["DOCUMENT_MAX_BYTES"] = size
    data = os.urandom(size)
    # The body encoded in memory (the test client would spool a large one to a file).
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), "report.bin")})
    answer = api("compliance_officer").post(
        "/api/v1/systems/sys-1/documents",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert answer.status_code == 201, answer.get_json()
    row = session.scalar(sa.select(Document).where(Document.sha256 == answer.get_json()["sha256"]))
    assert row.crc32 == zlib.crc32(data) and row.size == size
    # A check of the stored bytes, not evidence: the receive event stays as it was.
    event = json.loads(session.get(AuditEvent, row.receive_seq).event)
    session.rollback()
    assert "crc32" not in event and event["sha256"] == hashlib.sha256(data).hexdigest()


def test_html_is_served_inert_and_names_lose_their_paths(api, system):
    client = api("compliance_officer")
    page = b"<html><script>alert(document.cookie)</script></html>"
    answer = upload(client, page, name="../../etc/\x00evil.html", media="text/html")
    assert answer.status_code == 201
    assert answer.get_json()["name"] == "evil.html"
    got = client.get(answer.headers["Location"])
    assert got.headers["Content-Disposition"] == "attachment; filename=evil.html"
    assert got.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    got.close()
    hidden = upload(client, b"x", name="/srv/registry/.hidden\u202e.txt")
    assert hidden.get_json()["name"] == "hidden.txt"


def _nothing_kept(app: Any, session: Any) -> None:
    assert session.scalar(sa.select(sa.func.count()).select_from(Document)) == 0
    assert list(document_store(app).blobs()) == []
    parts = list((document_store(app).parts).glob("*"))
    assert parts == []


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "wrong digest",
        "bad digest",
        "bad digest and type",
        "over the limit",
        "over the limit, announced",
        "unknown type",
        "bad date",
        "no file",
        "two files",
        "unknown field",
        "not multipart",
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_kept(app, api, system, session, case):
    client = api("compliance_officer")
    path = "/api/v1/systems/sys-1/documents"
    if case == "empty":
        answer, status, where = upload(client, b""), 422, "file"
    elif case == "wrong digest":
        answer = upload(client, PDF, headers={"Content-Digest": digest(b"other")})
        status, where = 422, "Content-Digest"
    elif case == "bad digest":
        answer = upload(client, PDF, headers={"Content-Digest": "sha-256=nothex"})
        status, where = 422, "Content-Digest"
    elif case == "bad digest and type":
        headers = {"Content-Digest": "sha-256=:AAAA:"}
        answer = upload(client, PDF, document_type="memo", headers=headers)
        status, where = 422, "Content-Digest"
        errors = answer.get_json()["errors"]
        assert any(e.get("pointer") == "/document_type" for e in errors), errors
    elif case == "over the limit":  # streamed in chunks: no length announced up front
        body, boundary = _multipart(b"x" * 5000)
        answer = client.post(
            path,
            input_stream=io.BytesIO(body),
            content_type=f"multipart/form-data; boundary={boundary}",
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},  # as gunicorn says of it
        )
        status, where = 413, "file"
    elif case == "over the limit, announced":
        answer, status, where = upload(client, b"x" * (300 * 1024)), 413, "file"
    elif case == "unknown type":
        answer, status, where = upload(client, PDF, document_type="memo"), 422, "document_type"
    elif case == "bad date":
        answer, status, where = upload(client, PDF, valid_until="next year"), 422, "valid_until"
    elif case == "no file":
        answer = client.post(path, data={"title": "t"}, content_type="multipart/form-data")
        status, where = 422, "file"
    elif case == "two files":
        data = {"file": [(io.BytesIO(b"a"), "a.txt"), (io.BytesIO(b"b"), "b.txt")]}
        answer = client.post(path, data=data, content_type="multipart/form-data")
        status, where = 422, "file"
    elif case == "unknown field":
        answer, status, where = upload(client, PDF, colour="red"), 422, "colour"
    else:
        answer = client.post(path, json={"file": "x"})
        status, where = 415, None
    assert answer.status_code == status, answer.get_data(as_text=True)
    problem = answer.get_json()
    assert answer.mimetype == "application/problem+json"
    if where is not None and status == 422:
        # A header is named as a header; a form field by its pointer.
        at = {"header": where} if where == "Content-Digest" else {"pointer": f"/{where}"}
        assert any(at.items() <= e.items() for e in problem["errors"]), problem
    _nothing_kept(app, session)


def _multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "xyzzy"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), boundary


def test_unknown_system_and_unknown_document_are_404(api, system):
    client = api("compliance_officer")
    answer = client.post(
        "/api/v1/systems/nope/documents",
        data={"file": (io.BytesIO(b"x"), "x.txt")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 404
    assert client.get(f"/api/v1/documents/{'0' * 64}").status_code == 404
    assert client.get("/api/v1/documents/not-a-hash").status_code == 404
    # Exactly 64 lowercase hex digits name a document: nothing after them, no capitals.
    sha256 = upload(client, PDF).get_json()["sha256"]
    found = client.get(f"/api/v1/documents/{sha256}")
    assert found.status_code == 200
    found.close()
    path = "/api/v1/systems/sys-1/documents/{}/withheld"
    for other in (f"{sha256}zzz", f"{sha256}0", sha256.upper()):
        assert client.get(f"/api/v1/documents/{other}").status_code == 404, other
        answer = client.put(path.format(other), json={"withheld": True})
        assert answer.status_code == 404, other
    assert client.get("/api/v1/systems/sys-1/documents").get_json()["items"][0]["withheld"] is False


def test_the_documents_list_as_of_an_instant(api, system, session, app, officer):
    """With as_of, a system's documents are those received by then, withheld and
    collected as they were then; a bad as_of, or an unknown parameter, is refused."""
    client = api("compliance_officer")
    path = "/api/v1/systems/sys-1/documents"
    first = upload(client, PDF).get_json()
    second = upload(client, b"the minutes\n" * 10, "minutes.txt", withheld="true").get_json()
    answer = client.put(f"{path}/{first['sha256']}/withheld", json={"withheld": True})
    assert answer.status_code == 200
    between = dt.datetime.now(dt.UTC).isoformat()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    collect(session, officer, document_store(app), now=later, grace=dt.timedelta(0))
    session.commit()

    def listed(as_of: str | None = None) -> list[dict[str, Any]]:
        answer = client.get(path, query_string={"as_of": as_of} if as_of else {})
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()["items"]

    now = listed()
    assert [(d["sha256"], d["withheld"], d["collected"]) for d in now] == [
        (second["sha256"], True, True),
        (first["sha256"], True, True),
    ]
    assert listed("2000-01-01T00:00:00Z") == []
    assert listed(first["received_at"]) == [{**now[1], "withheld": False, "collected": False}]
    assert listed(second["received_at"]) == [
        {**now[0], "collected": False},
        {**now[1], "withheld": False, "collected": False},
    ]
    assert listed(between) == [{**now[0], "collected": False}, {**now[1], "collected": False}]
    for query, name in (
        ({"as_of": "garbage"}, "as_of"),
        ({"as_of": "2026-01-01T00:00:00"}, "as_of"),
        ({"bogus": "1"}, "bogus"),
    ):
        answer = client.get(path, query_string=query)
        assert answer.status_code == 422, query
        assert [e["parameter"] for e in answer.get_json()["errors"]] == [name]


def test_attachments_name_stored_documents_or_external_references(api, system, session):
    client = api("compliance_officer")
    sha = upload(client, PDF, document_type="data_sheet").get_json()["sha256"]
    entries = "/api/v1/systems/sys-1/entries"
    body = {**SAMPLES["data_source"], "attachments": [{"name": "sheet.pdf", "sha256": sha}]}
    made = client.post(entries, json={"kind": "data_source", "body": body})
    assert made.status_code == 201, made.get_json()
    unknown = {"name": "ghost.pdf", "sha256": "b" * 64}
    refused = client.post(
        entries,
        json={"kind": "data_source", "body": {**body, "attachments": [unknown]}},
    )
    assert refused.status_code == 422
    pointers = [e.get("pointer") for e in refused.get_json()["errors"]]
    assert pointers == ["/body/attachments/0/sha256"]
    external = {**unknown, "uri": "https://dms.example.org/ghost.pdf"}
    kept = client.post(
        entries, json={"kind": "data_source", "body": {**body, "attachments": [external]}}
    )
    assert kept.status_code == 201
    # A document of another system is not this system's to cite.
    writes.create_system(session, _officer(session), {**SAMPLES["profile"], "reference": "sys-2"})
    session.commit()
    elsewhere = client.post(
        "/api/v1/systems/sys-2/entries", json={"kind": "data_source", "body": body}
    )
    assert elsewhere.status_code == 422


def _officer(session: Any) -> Any:
    user = session.scalar(sa.select(User).where(User.email == "compliance-officer@example.org"))
    return Actor.for_user(user)


def test_an_upload_with_entry_id_attaches_the_document(api, system, session):
    client = api("compliance_officer")
    entry = client.post(
        "/api/v1/systems/sys-1/entries",
        json={"kind": "data_source", "body": SAMPLES["data_source"]},
    ).get_json()
    answer = upload(client, PDF, entry_id=str(entry["id"]))
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["attached_to"] == 2
    head = client.get(f"/api/v1/entries/{entry['id']}").get_json()
    attached = head["body"]["attachments"]
    assert attached[-1]["sha256"] == answer.get_json()["sha256"]
    assert attached[-1]["name"] == "dpia.pdf" and "uri" not in attached[-1]
    assert upload(client, b"other", entry_id="999999").status_code == 404
