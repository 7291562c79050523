"""Evidence packs carry the systems' documents (pack format 3), on both engines and both
blob stores: each file under files/<sha256>, covered by the signed manifest and
re-hashed by the offline verifier; a withheld, oversized or collected document carries
its hash and metadata only and is reported WITHHELD with its reason, never missing."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from registry.documents.service import Upload, collect, receive, remove_blobs, set_withheld
from registry.evidence import verifier
from registry.extensions import document_store
from registry.ledger.checkpoints import settings_of
from registry.ledger.models import AuditEvent
from registry.records import reads, writes
from tests.conftest import csrf_token
from tests.evidence.conftest import do_export, members
from tests.evidence.test_tampering import resign, write
from tests.records.samples import SAMPLES

REPORT = b"test report: every change was tested\n" * 10
SECRET = b"the vendor contract, confidential\n" * 10
LARGE = b"a large bias assessment\n" * 125  # 3000 bytes, over the pack's file limit


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def system(session: Any, officer: Any) -> str:
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-1"})
    session.commit()
    return "sys-1"


def add(app: Any, session: Any, actor: Any, data: bytes, name: str, **meta: Any) -> str:
    store = document_store(app)
    staged = store.stage(app.config["DOCUMENT_MAX_BYTES"]).copy_from(io.BytesIO(data))
    found = reads.get_system(session, "sys-1")
    receive(session, actor, found, store, staged, Upload(name, **meta))
    session.commit()
    return sha(data)


def check(path: Path, capsys: Any, key: str) -> tuple[int, str]:
    key_file = path.with_suffix(".pub")
    key_file.write_text(key + "\n")
    code = verifier.main([str(path), "--pubkey", str(key_file)])
    return code, capsys.readouterr().out


@pytest.fixture
def packed(app, session, officer, system):
    """A pack of sys-1 holding a carried, a withheld and an oversized document."""
    app.config["PACK_FILE_MAX_BYTES"] = 1000
    add(app, session, officer, REPORT, "report.txt", document_type="test_report")
    add(app, session, officer, SECRET, "contract.txt", document_type="contract", withheld=True)
    add(app, session, officer, LARGE, "bias.txt", document_type="bias_assessment")
    done = do_export(app, session, "sys-1")
    return done, members(done.path), settings_of(session).signer


def test_a_pack_carries_the_files_and_reports_the_withheld(packed, capsys):
    done, files, signer = packed
    assert files[f"files/{sha(REPORT)}"] == REPORT
    assert f"files/{sha(SECRET)}" not in files and f"files/{sha(LARGE)}" not in files
    manifest = json.loads(files["manifest.json"])
    assert manifest["format_version"] == 3 and manifest["file_limit"] == 1000
    assert manifest["files"][f"files/{sha(REPORT)}"] == sha(REPORT)
    listed = json.loads(files["systems/sys-1/documents.json"])["documents"]
    said = {d["name"]: (d["file"], d["left_out"], d["withheld"]) for d in listed}
    assert said == {
        "report.txt": (f"files/{sha(REPORT)}", None, False),
        "contract.txt": (None, "confidential", True),
        "bias.txt": (None, "over the file limit", False),
    }
    with zipfile.ZipFile(done.path) as z:  # stored as received: nothing to deflate
        assert z.getinfo(f"files/{sha(REPORT)}").compress_type == zipfile.ZIP_STORED
    code, out = check(done.path, capsys, signer.verifier_key)
    assert code == 0, out
    assert "3 documents listed as their receive events say: 1 files carried" in out
    assert f"WITHHELD files/{sha(SECRET)} (contract.txt, system sys-1): confidential" in out
    assert f"WITHHELD files/{sha(LARGE)} (bias.txt, system sys-1): over the file limit" in out
    assert "missing" not in out


def test_the_verifier_names_a_changed_or_missing_file(packed, tmp_path, capsys):
    _, files, signer = packed
    name = f"files/{sha(REPORT)}"
    changed = {**files, name: REPORT.replace(b"tested", b"TESTED")}
    code, out = check(write(tmp_path / "changed.zip", changed), capsys, signer.verifier_key)
    assert code == 1 and out.startswith(f"FAILED {name}: does not match its SHA-256"), out
    fewer = {n: d for n, d in files.items() if n != name}
    code, out = check(write(tmp_path / "fewer.zip", fewer), capsys, signer.verifier_key)
    assert code == 1 and out.startswith(f"FAILED {name}: is listed in the manifest but"), out
    # Even one who can sign again cannot drop a file, nor carry one for another.
    code, out = check(write(tmp_path / "r.zip", resign(fewer, signer)), capsys, signer.verifier_key)
    assert code == 1 and out.startswith(f"FAILED {name}: is missing from the pack"), out
    swapped = {**fewer, name: SECRET}
    code, out = check(
        write(tmp_path / "s.zip", resign(swapped, signer)), capsys, signer.verifier_key
    )
    assert code == 1 and out.startswith(f"FAILED {name}: is not the document"), out


@pytest.mark.parametrize(
    "edit, says",
    [
        (lambda d: d[1].update(withheld=False), "is not withheld as the system's events"),
        (lambda d: d[1].update(left_out="over the file limit"), "unlike its withheld mark"),
        (lambda d: d[2].update(left_out="no longer kept", size=10), "differs from event"),
        (lambda d: d[0].update(file=None, left_out="over the file limit"), "but is not"),
        (lambda d: d.pop(0), "does not list document"),
        (lambda d: d[0].update(valid_until="2099-01-01"), "in valid_until"),
    ],
)
def test_documents_json_is_what_the_events_say(packed, tmp_path, capsys, edit, says):
    _, files, signer = packed
    name = "systems/sys-1/documents.json"
    listed = json.loads(files[name])
    edit(listed["documents"])
    if not any(d.get("file") for d in listed["documents"]):
        files = {n: d for n, d in files.items() if not n.startswith("files/")}
    edited = resign({**files, name: json.dumps(listed).encode()}, signer)
    code, out = check(write(tmp_path / "e.zip", edited), capsys, signer.verifier_key)
    assert code == 1 and says in out, out


def test_withholding_after_upload_is_an_officers_recorded_decision(app, session, api, system):
    officer = api("compliance_officer")
    answer = officer.post(
        "/api/v1/systems/sys-1/documents",
        data={"file": (io.BytesIO(REPORT), "report.txt", "text/plain")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 201, answer.get_json()
    digest = sha(REPORT)
    path = f"/api/v1/systems/sys-1/documents/{digest}/withheld"
    before = do_export(app, session, "sys-1")
    # Refused: the wrong people, bad bodies, an unknown document.
    for role in ("auditor", "technical_owner", "admin"):
        assert api(role).put(path, json={"withheld": True}).status_code == 403, role
    for value in ("yes", "true", 1, 0, 1.0, None):  # JSON true or false only
        answer = officer.put(path, json={"withheld": value})
        assert answer.status_code == 422, value
        assert [e["pointer"] for e in answer.get_json()["errors"]] == ["/withheld"], value
    assert officer.put(path, json={"withheld": True, "why": 1}).status_code == 422
    assert officer.put(path, data="withheld=1", content_type="text/plain").status_code == 415
    assert officer.put(path.replace(digest, "0" * 64), json={"withheld": True}).status_code == 404
    answer = officer.put(path, json={"withheld": True})
    assert answer.status_code == 200 and answer.get_json()["withheld"] is True
    after = do_export(app, session, "sys-1")
    events = members(after.path)["ledger/events.jsonl"].splitlines()
    withheld = [json.loads(e) for e in events if b'"action":"document.withhold"' in e]
    assert [(e["sha256"], e["withheld"], e["actor"]) for e in withheld] == [
        (digest, True, "user:compliance-officer@example.org")
    ]
    # The pack as of before the decision still carries the file; as of after, withholds it.
    assert f"files/{digest}" in members(before.path)
    assert f"files/{digest}" not in members(after.path)
    assert before.as_of < after.as_of
    again = do_export(app, session, "sys-1", as_of=before.as_of)
    assert members(again.path) == members(before.path)
    for done in (before, after):
        assert verifier.verify(str(done.path), [settings_of(session).signer.verifier_key])
    session.rollback()


def test_withholding_from_the_web_and_the_command_line(app, session, officer, system, login_as):
    digest = add(app, session, officer, REPORT, "report.txt")
    path = f"/systems/sys-1/documents/{digest}/withheld"
    page = "/systems/sys-1"
    assert app.test_client().post(path, data={"withheld": "on"}).status_code in (302, 400)
    for role in ("auditor", "technical_owner"):
        web = login_as(role)
        assert "Withhold report.txt" not in web.get(page).get_data(as_text=True)
        refused = web.post(path, data={"withheld": "on", "csrf_token": csrf_token(web, page)})
        assert refused.status_code == 403, role
        web.post("/logout", data={"csrf_token": csrf_token(web, page)})
    web = login_as("compliance_officer")
    assert "Withhold report.txt" in web.get(page).get_data(as_text=True)
    answer = web.post(
        path, data={"withheld": "on", "csrf_token": csrf_token(web, page)}, follow_redirects=True
    )
    assert answer.status_code == 200
    assert "report.txt is withheld" in answer.get_data(as_text=True)
    assert "Release report.txt to packs" in answer.get_data(as_text=True)
    assert f"files/{digest}" not in members(do_export(app, session, "sys-1").path)
    runner = app.test_cli_runner()
    out = runner.invoke(args=["documents", "withhold", "sys-1", digest, "--release"])
    assert out.exit_code == 0 and "carried in packs" in out.output, out.output
    assert f"files/{digest}" in members(do_export(app, session, "sys-1").path)
    missing = runner.invoke(args=["documents", "withhold", "sys-1", "f" * 64])
    assert missing.exit_code == 2 and "keeps no document" in missing.output


def test_a_blob_lost_from_the_store_fails_the_export_by_name(app, session, officer, system):
    digest = add(app, session, officer, REPORT, "report.txt")
    document_store(app).delete(digest)
    with pytest.raises(Exception, match=f"lost the file of document {digest}"):
        do_export(app, session, "sys-1")
    session.rollback()


def test_set_withheld_twice_records_once(app, session, officer, system):
    digest = add(app, session, officer, REPORT, "report.txt")
    found = reads.get_system(session, "sys-1")
    set_withheld(session, officer, found, digest, True)
    set_withheld(session, officer, found, digest, True)
    session.commit()
    events = members(do_export(app, session, "sys-1").path)["ledger/events.jsonl"]
    assert events.count(b'"action":"document.withhold"') == 1


def test_a_pack_of_format_2_still_verifies(packed, tmp_path, capsys):
    _, files, signer = packed
    older = {
        n: d for n, d in files.items() if not n.startswith("files/") and "documents.json" not in n
    }
    manifest = json.loads(older["manifest.json"])
    manifest["format_version"] = 2
    del manifest["file_limit"]
    older["manifest.json"] = json.dumps(manifest).encode()
    key = signer.verifier_key
    code, out = check(write(tmp_path / "v2.zip", resign(older, signer)), capsys, key)
    assert code == 0 and "documents listed" not in out, out
    manifest["format_version"] = 4
    older["manifest.json"] = json.dumps(manifest).encode()
    code, out = check(write(tmp_path / "v4.zip", resign(older, signer)), capsys, key)
    assert code == 1 and "format version 4, not one of 2, 3" in out, out


def test_packs_as_of_before_a_collection_list_what_was_held_then(app, session, officer, system):
    store = document_store(app)
    kept = add(app, session, officer, REPORT, "report.txt")
    gone = add(app, session, officer, SECRET, "minutes.txt")
    first = do_export(app, session, "sys-1")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    done = collect(session, officer, store, now=later, grace=dt.timedelta(0))
    session.commit()
    remove_blobs(session, store, done.blobs)
    session.commit()
    assert sorted(done.blobs) == sorted([kept, gone])
    between = do_export(app, session, "sys-1")
    add(app, session, officer, REPORT, "report.txt")  # received anew
    now = do_export(app, session, "sys-1")
    again = do_export(app, session, "sys-1", as_of=first.as_of)
    key = settings_of(session).signer.verifier_key
    session.rollback()

    def said(done: Any) -> dict[str, str | None]:
        listed = json.loads(members(done.path)["systems/sys-1/documents.json"])["documents"]
        return {d["sha256"]: d["left_out"] for d in listed}

    assert said(first) == {kept: None, gone: None}
    assert said(between) == {}
    assert said(now) == {kept: None}
    # As of the first instant: both were held; one is kept again, the other's bytes gone.
    assert said(again) == {kept: None, gone: "no longer kept"}
    for pack in (first, between, now, again):
        summary = verifier.verify(str(pack.path), [key])
        if pack is again:
            assert f"WITHHELD files/{gone} (minutes.txt, system sys-1): no longer kept" in (
                summary.lines
            )


def _documented_events() -> dict[str, set[str]]:
    """docs/evidence-format.md's table of the events that name a system: each action
    and the fields it documents (those naming the system and the others)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "evidence-format.md").read_text()
    start = doc.index("**Events that name a system.**")
    table = doc[doc.index("\n|", start) : doc.index("\n\n", doc.index("\n|", start))]
    documented: dict[str, set[str]] = {}
    for row in table.strip().splitlines()[2:]:
        # The names in backquotes, but for those in parentheses ("(no `system_id`)").
        cells = [re.sub(r"\([^)]*\)", "", cell) for cell in row.split("|")[1:4]]
        actions, naming, others = (re.findall(r"`([^`]+)`", cell) for cell in cells)
        for action in actions:
            documented[action] = set(naming) | set(others)
    return documented


def test_the_format_documents_every_event_that_names_a_system(app, session, officer, system):
    # One event of each kind that names a system: its registration and a version, a
    # document received, withheld, collected, and an export of its pack.
    found = reads.get_system(session, "sys-1")
    entry = writes.create_entry(session, officer, found, "risk", SAMPLES["risk"])
    writes.retire_entry(session, officer, entry.entry_id, base_version=entry.number)
    digest = add(app, session, officer, REPORT, "report.txt")
    set_withheld(session, officer, found, digest, True)
    session.commit()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    collect(session, officer, document_store(app), now=later, grace=dt.timedelta(0))
    session.commit()
    do_export(app, session, "sys-1")
    do_export(app, session)  # the whole registry's: names no system
    events = [json.loads(e) for e in session.scalars(sa.select(AuditEvent.event).order_by("seq"))]
    documented = _documented_events()
    common = {"v", "seq", "prev_hash", "time", "action", "actor"}
    naming = [e for e in events if "system" in e or "system_id" in e or "system_prev" in e]
    assert {e["action"] for e in naming} == {
        "system.create",
        "entry.create",
        "entry.retire",
        "document.receive",
        "document.withhold",
        "document.collect",
        "evidence.export",
    }
    for event in naming:
        assert "system" in event and "system_prev" in event, event
        assert set(event) - common == documented[event["action"]], event
    [whole] = [e for e in events if e["action"] == "evidence.export" and e["scope"] == "registry"]
    assert not {"system", "system_id", "system_prev"} & set(whole)
