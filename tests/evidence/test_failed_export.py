"""A failed export says exactly what it changed: the checkpoint it may have signed to
cover its instant, or nothing; it keeps no pack and records no export."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.extensions import database
from registry.ledger.checkpoints import make_checkpoint, settings_of
from registry.ledger.models import AuditEvent, Checkpoint
from registry.records import reads, writes
from tests.api.conftest import ApiClient
from tests.conftest import csrf_token
from tests.evidence.test_surfaces import exports_of

OFFICER = Actor.system("officer", roles=frozenset({"compliance_officer"}))


def ledger(app):
    """(events, checkpoints, tree size of the last checkpoint), read afresh."""
    with database(app).read_sessionmaker() as read:
        events = read.scalar(sa.select(sa.func.max(AuditEvent.seq)))
        count = read.scalar(sa.select(sa.func.count()).select_from(Checkpoint))
        last = read.scalar(sa.select(sa.func.max(Checkpoint.tree_size)))
    return events, count, last


def unwritable_export_folder(app, tmp_path: Path) -> None:
    """The export folder is a file: no pack can be written there."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the export folder should be\n")
    app.config["EXPORT_DIR"] = str(blocker)


def cover_every_event(session) -> None:
    make_checkpoint(session, settings_of(session).signer)
    session.commit()


def record_one_more_event(app, session) -> None:
    """A write the latest checkpoint does not cover (a write landing on the signing
    cadence is covered at once: then one more)."""
    system = reads.get_system(session, "demo-city-chatbot")
    for n in range(2):
        body = {"title": f"One more risk {n}", "likelihood": "rare", "impact": "minor"}
        writes.create_entry(session, OFFICER, system, "risk", body)
        session.commit()
        events, _, last = ledger(app)
        if last < events:
            return
    raise AssertionError("every write was covered by a checkpoint at once")


def failed_job(api, body):
    """Ask for an export (its job runs at once here) and return the failed job's problem."""
    asked = api.post("/api/v1/exports", json=body)
    assert asked.status_code == 202, asked.get_json()
    job = api.get(asked.headers["Location"]).get_json()
    assert job["state"] == "failed", job
    return job["problem"]


def test_api_says_what_a_failed_export_changed(app, examples, tokens, tmp_path):
    api = ApiClient(app.test_client(), tokens["auditor"])
    unwritable_export_folder(app, tmp_path)
    cover_every_event(examples)
    before = ledger(app)

    problem = failed_job(api, {"system": "demo-city-chatbot"})

    assert problem["status"] == 500
    assert problem["code"] == "export_failed"
    assert (
        "No pack was kept and no export was recorded. Nothing was changed." in (problem["detail"])
    )
    assert ledger(app) == before
    assert exports_of(app) == []

    record_one_more_event(app, examples)
    events, count, _ = ledger(app)

    problem = failed_job(api, {})

    assert problem["status"] == 500
    detail = problem["detail"]
    assert "Nothing was changed" not in detail
    # Signed at the map of the systems' last events it appends (events + 1).
    assert f"a checkpoint of the ledger's first {events + 1} events was signed" in detail
    assert ledger(app) == (events + 1, count + 1, events + 1)  # that checkpoint, its map
    assert exports_of(app) == []


def test_an_unknown_system_is_refused_before_anything_is_signed(app, examples, tokens):
    record_one_more_event(app, examples)
    before = ledger(app)
    api = ApiClient(app.test_client(), tokens["auditor"])

    missing = api.post("/api/v1/exports", json={"system": "no-such-system"})

    assert missing.status_code == 404
    assert missing.get_json()["detail"] == "No system with reference 'no-such-system'."
    assert ledger(app) == before


def test_cli_and_web_say_what_a_failed_export_changed(app, examples, login_as, tmp_path):
    cover_every_event(examples)
    before = ledger(app)
    blocker = tmp_path / "blocker"
    blocker.write_text("")

    result = app.test_cli_runner().invoke(
        args=["export", "demo-city-chatbot", "--out", str(blocker / "packs")]
    )

    assert result.exit_code == 1
    # No traceback dumped on the user (the JSON log line on stderr, for operators, may
    # carry one as a field).
    assert not [line for line in result.output.splitlines() if line.startswith("Traceback")]
    assert "No pack was kept and no export was recorded. Nothing was changed." in result.output

    record_one_more_event(app, examples)
    events, count, _ = ledger(app)
    unwritable_export_folder(app, tmp_path)
    client = login_as("compliance_officer")
    token = csrf_token(client, "/exports")

    asked = client.post("/exports", data={"csrf_token": token, "as_of": ""})
    assert asked.status_code == 302 and "/jobs/" in asked.location
    page = client.get(asked.location)

    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "Failed: The evidence pack could not be made" in text
    # The events counted and the sign-in (an event), under the signed checkpoint.
    assert f"a checkpoint of the ledger&#39;s first {events + 2} events was signed" in text
    assert "Nothing was changed" not in text
    assert ledger(app) == (events + 2, count + 1, events + 2)
    assert before[1] == count
    assert exports_of(app) == []
