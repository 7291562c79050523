"""Evidence packs: what they hold, that they verify, and that they are deterministic."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import pypdf
import pytest

from registry.accounts.actor import Actor
from registry.documents.models import DOCUMENT_TYPES
from registry.documents.service import documents_of, set_withheld
from registry.errors import InvalidInput, NotFound, PermissionDenied
from registry.evidence import verifier
from registry.evidence.pack import list_exports
from registry.ledger.checkpoints import make_checkpoint, settings_of
from registry.readiness import evaluate
from registry.records import display, reads, writes
from tests.evidence.conftest import do_export, members

OFFICER = Actor.system("officer", roles=frozenset({"compliance_officer"}))


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_a_system_pack_holds_its_records_and_verifies(app, examples):
    done = do_export(app, examples, "demo-benefits-triage")
    files = members(done.path)
    received = [
        json.loads(e)
        for e in files["ledger/events.jsonl"].splitlines()
        if b'"action":"document.receive"' in e
    ]
    assert len(received) == 3  # the demo's documents of the system
    assert {
        "manifest.json",
        "manifest.sig",
        "evidence.pdf",
        "keys.txt",
        "index.json",
        "ledger/checkpoint.txt",
        "ledger/events.jsonl",
        "ledger/proofs.json",
        "ledger/completeness.json",
        "systems/demo-benefits-triage/state.json",
        "systems/demo-benefits-triage/history.json",
        "systems/demo-benefits-triage/readiness.json",
        "systems/demo-benefits-triage/documents.json",
        *(f"files/{e['sha256']}" for e in received),
        "systems/demo-benefits-triage/coverage.json",
        "systems/demo-benefits-triage/statement-of-applicability.json",
        "oscal/catalogs/eu-ai-act.json",
        "oscal/catalogs/iso-42001.json",
        "oscal/catalogs/nist-ai-rmf.json",
        "oscal/assessment-results.json",
    } == set(files)
    # Each document's file is its bytes, named by their SHA-256, described as received.
    for event in received:
        data = files[f"files/{event['sha256']}"]
        assert hashlib.sha256(data).hexdigest() == event["sha256"]
        assert len(data) == event["size"]
    listed = json.loads(files["systems/demo-benefits-triage/documents.json"])["documents"]
    assert [(d["receive_seq"], d["sha256"], d["file"]) for d in listed] == [
        (e["seq"], e["sha256"], f"files/{e['sha256']}") for e in received
    ]
    manifest = json.loads(files["manifest.json"])
    assert manifest["scope"] == {"type": "system", "systems": ["demo-benefits-triage"]}
    assert manifest["as_of"] == done.as_of.isoformat(timespec="microseconds")
    assert set(manifest["files"]) == set(files) - {"manifest.json", "manifest.sig", "evidence.pdf"}
    state = json.loads(files["systems/demo-benefits-triage/state.json"])
    system = reads.get_system(examples, "demo-benefits-triage")
    live = reads.system_state(examples, system)
    assert sorted(e["entry_id"] for e in state["entries"]) == sorted(
        e.entry_id for e in live.entries
    )
    scorecard = json.loads(files["systems/demo-benefits-triage/readiness.json"])
    assert scorecard == evaluate(examples, "demo-benefits-triage", done.as_of).to_dict()
    history = json.loads(files["systems/demo-benefits-triage/history.json"])
    versions = sum(len(e["versions"]) for e in history["entries"])
    events = files["ledger/events.jsonl"].splitlines()
    assert versions + len(received) == len(events)  # one event per version, and per receipt
    summary = verifier.verify(str(done.path))
    assert any(f"{versions} versions" in line for line in summary.lines)
    assert any(f"{len(events)} events proven" in line for line in summary.lines)
    assert any("1 system(s) COMPLETE" in line for line in summary.lines)
    assert "3 documents listed as their receive events say: 3 files carried" in "\n".join(
        summary.lines
    )
    # The trusted key given explicitly verifies too.
    key = settings_of(examples).signer.verifier_key
    verifier.verify(str(done.path), [key])


def test_the_export_is_a_ledger_event_and_listed(app, examples):
    first = do_export(app, examples, "demo-city-chatbot")
    listed = list_exports(examples, done_dir(app))
    assert [e.file for e in listed] == [first.name]
    assert listed[0].actor == "system:test-auditor"
    assert listed[0].system == "demo-city-chatbot"
    assert listed[0].manifest_sha256 == first.manifest_sha256
    assert listed[0].available
    # The next pack of the system holds the first export's event, proven like the others.
    second = do_export(app, examples, "demo-city-chatbot")
    lines = members(second.path)["ledger/events.jsonl"].splitlines()
    exported = [json.loads(line) for line in lines if b"evidence.export" in line]
    assert [e["manifest_sha256"] for e in exported] == [first.manifest_sha256]
    verifier.verify(str(second.path))
    (done_dir(app) / first.name).unlink()
    assert [e.available for e in list_exports(examples, done_dir(app))] == [True, False]


def done_dir(app):
    return Path(app.config["EXPORT_DIR"])


def test_same_scope_same_instant_same_bytes_even_later(app, examples):
    before = do_export(app, examples, "demo-benefits-triage")
    kept = before.path.read_bytes()
    # The registry moves on: new versions, new checkpoints, another export.
    system = reads.get_system(examples, "demo-benefits-triage")
    writes.create_entry(
        examples,
        OFFICER,
        system,
        "risk",
        {"title": "Later", "likelihood": "rare", "impact": "minor"},
    )
    examples.commit()
    make_checkpoint(examples, settings_of(examples).signer)
    examples.commit()
    now = do_export(app, examples, "demo-benefits-triage")
    assert now.path.read_bytes() != kept
    again = do_export(app, examples, "demo-benefits-triage", as_of=before.as_of)
    assert again.name == before.name
    assert again.path.read_bytes() == kept


def test_a_pack_as_of_a_past_instant_shows_the_registry_then(app, examples):
    system = reads.get_system(examples, "demo-city-chatbot")
    then = dt.datetime.now(dt.UTC)
    writes.create_entry(
        examples, OFFICER, system, "funding", {"funder": "Later funder", "budget": "10.00"}
    )
    examples.commit()
    past = do_export(app, examples, "demo-city-chatbot", as_of=then)
    files = members(past.path)
    state = json.loads(files["systems/demo-city-chatbot/state.json"])
    assert "funding" not in {e["kind"] for e in state["entries"]}
    assert all(
        json.loads(line)["time"] <= past.as_of.isoformat(timespec="microseconds")
        for line in files["ledger/events.jsonl"].splitlines()
    )
    assert "No funding recorded." in pdf_text(files["evidence.pdf"])
    verifier.verify(str(past.path))
    current = do_export(app, examples, "demo-city-chatbot")
    state = json.loads(members(current.path)["systems/demo-city-chatbot/state.json"])
    assert "funding" in {e["kind"] for e in state["entries"]}


def test_the_pdf_holds_the_name_owners_gaps_and_digest(app, examples):
    done = do_export(app, examples, "demo-city-chatbot")
    files = members(done.path)
    text = pdf_text(files["evidence.pdf"])
    flat = " ".join(text.split())
    assert "Residents' question chatbot" in flat or "chatbot" in flat.lower()
    system = reads.get_system(examples, "demo-city-chatbot")
    for owner in reads.system_state(examples, system).of_kind("owner"):
        assert owner.body["person"]["name"] in flat
    for gap in (
        "No monitoring plan recorded.",
        "No funding recorded.",
        "No adoption plan recorded.",
    ):
        assert gap in flat
    assert done.manifest_sha256 in flat.replace(" ", "") or done.manifest_sha256 in text
    reader = pypdf.PdfReader(io.BytesIO(files["evidence.pdf"]))
    pages = len(reader.pages)
    assert f"Page 1 of {pages}" in reader.pages[0].extract_text()
    assert reader.metadata.creation_date.replace(microsecond=0) == done.as_of.replace(microsecond=0)
    contents = reader.pages[1].extract_text()
    for chapter in ("Executive summary", "Ownership", "Monitoring plan", "Audit-trail extract"):
        assert chapter in contents
    assert [o.title for o in reader.outline if not isinstance(o, list)][:2] == [
        "Executive summary",
        "Classification",
    ]


def test_the_cover_shows_the_signing_key_as_the_registry_publishes_it(app, examples):
    done = do_export(app, examples, "demo-city-chatbot")
    reader = pypdf.PdfReader(io.BytesIO(members(done.path)["evidence.pdf"]))
    cover = "".join(reader.pages[0].extract_text().split())
    published = app.test_client().get("/ledger/keys").get_data(as_text=True).splitlines()
    # Compared as text with the keys an auditor pins (--pubkey), nothing to compute.
    assert f"Signingkey{published[0]}" in cover, cover


def test_non_ascii_long_and_empty_records_lay_out(app, session):
    long_purpose = ("Zoë Çelik's résumé triage — ünïcödé, 中文, ελληνικά; " * 80)[:4000]
    system, _ = writes.create_system(
        session,
        OFFICER,
        {
            "name": "Ærøskøbing ÿ système",
            "reference": "odd",
            "stage": "pilot",
            "purpose": long_purpose,
        },
    )
    session.commit()
    done = do_export(app, session, "odd")
    text = " ".join(pdf_text(members(done.path)["evidence.pdf"]).split())
    assert "Ærøskøbing ÿ système" in text
    assert "ελληνικά" in text
    for gap in ("No owner recorded.", "No business owner recorded.", "No data source recorded."):
        assert gap in text
    verifier.verify(str(done.path))


def test_whole_registry_pack_has_every_system_and_the_whole_chain(app, examples):
    done = do_export(app, examples)
    files = members(done.path)
    index = json.loads(files["index.json"])
    refs = [s["reference"] for s in index["systems"]]
    assert refs == ["demo-benefits-triage", "demo-city-chatbot", "demo-invoice-ocr"]
    for ref in refs:
        assert f"systems/{ref}/state.json" in files
    counts = json.loads(files["frameworks/coverage.json"])["systems"]
    assert sorted(counts) == refs
    assert sum(counts["demo-invoice-ocr"]["iso-42001"].values()) == 38
    manifest = json.loads(files["manifest.json"])
    assert len(files["ledger/events.jsonl"].splitlines()) == manifest["ledger_size"]
    summary = verifier.verify(str(done.path))
    assert any("chained, 1 to the last" in line for line in summary.lines)
    text = " ".join(pdf_text(files["evidence.pdf"]).split())
    assert "Index of systems" in text and "demo-invoice-ocr" in text


def test_bad_requests_are_refused_and_change_nothing(app, examples):
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with pytest.raises(InvalidInput):
        do_export(app, examples, "demo-city-chatbot", as_of=future)
    examples.rollback()
    with pytest.raises(InvalidInput):
        do_export(app, examples, "demo-city-chatbot", as_of=dt.datetime(2026, 1, 1))
    examples.rollback()
    with pytest.raises(NotFound):
        do_export(app, examples, "no-such-system")
    examples.rollback()
    with pytest.raises(NotFound):
        do_export(app, examples, "demo-city-chatbot", as_of=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    examples.rollback()
    for role in ("technical_owner", "admin"):
        with pytest.raises(PermissionDenied):
            do_export(
                app,
                examples,
                "demo-city-chatbot",
                actor=Actor.system(role, roles=frozenset({role})),
            )
        examples.rollback()
    assert list_exports(examples, done_dir(app)) == []
    assert not list(done_dir(app).glob("*.zip"))


def test_a_system_registered_after_the_instant_is_not_found(app, examples):
    then = dt.datetime.now(dt.UTC)
    writes.create_system(
        examples, OFFICER, {"name": "New", "reference": "new-one", "stage": "proposed"}
    )
    examples.commit()
    with pytest.raises(NotFound, match="not yet registered"):
        do_export(app, examples, "new-one", as_of=then)


def test_the_pdf_lists_every_document_and_the_crosswalk_cites_them(app, examples):
    system = reads.get_system(examples, "demo-benefits-triage")
    held = documents_of(examples, system.id)
    assert len(held) == 3
    withheld = held[0]
    set_withheld(examples, OFFICER, system, withheld.sha256, True)
    examples.commit()
    done = do_export(app, examples, "demo-benefits-triage")
    # Cells wrap long names and hashes: the text is compared without its spaces.
    text = "".join(pdf_text(members(done.path)["evidence.pdf"]).split())
    chapter = text[text.index("Evidencedocuments3documentsheld") : text.index("CrosswalkArea")]
    for document in held:
        assert document.sha256 in chapter
        assert document.name in chapter
        assert f"{document.size}bytes" in chapter
        assert DOCUMENT_TYPES[document.document_type].replace(" ", "") in chapter
        until = document.valid_until.isoformat() if document.valid_until else "noend"
        assert until in chapter
        assert display.instant(document.received_at).replace(" ", "") in chapter
    assert chapter.count("carried(files/<SHA-256>)") == 2
    assert chapter.count("WITHHELD(confidential):hashandmetadataonly") == 1
    # The crosswalk names the documents the scorecard rests on, by name and hash.
    start = text.index("CrosswalkArea")
    crosswalk = text[start : text.index("Historyofeveryentry", start)]
    card = json.loads(members(done.path)["systems/demo-benefits-triage/readiness.json"])
    cited = {d["sha256"] for a in card["areas"] for c in a["criteria"] for d in c["documents"]}
    assert cited and cited <= {d.sha256 for d in held}
    for document in held:
        if document.sha256 in cited:
            assert f"document{document.name}" in crosswalk
            assert document.sha256[:16] in crosswalk
