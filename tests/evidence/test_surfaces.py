"""Exporting and verifying packs from the command line, the web UI and the API."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from registry.evidence import verifier
from registry.evidence.pack import list_exports
from registry.extensions import database
from registry.jobs.models import Job
from registry.jobs.tasks import job_queue
from registry.ledger.checkpoints import settings_of
from tests.api.conftest import ApiClient
from tests.conftest import csrf_token
from tests.evidence.conftest import do_export


def exports_of(app, _session=None):
    """The exports the ledger lists, read in a session of its own (a test's session
    would hold SQLite's write lock and stall the requests)."""
    with database(app).read_sessionmaker() as read:
        return list_exports(read, Path(app.config["EXPORT_DIR"]))


# ----------------------------------------------------------------------------- CLI


def test_cli_exports_prints_the_path_and_verifies(app, examples, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["export", "demo-city-chatbot", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.parent == tmp_path / "out" and path.is_file()
    assert "reading the records" in result.stderr or "%" in result.stderr  # the progress bar
    as_of = json.loads(__import__("zipfile").ZipFile(path).read("manifest.json"))["as_of"]
    again = runner.invoke(
        args=["export", "demo-city-chatbot", "--as-of", as_of, "--out", str(tmp_path / "again")]
    )
    assert again.exit_code == 0, again.output
    repeat = Path(again.stdout.strip().splitlines()[-1])
    assert repeat.read_bytes() == path.read_bytes()

    keys = tmp_path / "keys.txt"
    keys.write_text(settings_of(examples).signer.verifier_key + "\n")
    ok = runner.invoke(args=["verify-pack", str(path), "--pubkey", str(keys)])
    assert ok.exit_code == 0 and "VERIFIED" in ok.output
    expected = ["--system", "demo-city-chatbot", "--as-of", as_of]
    ok = runner.invoke(args=["verify-pack", str(path), "--pubkey", str(keys), *expected])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith(f"VERIFIED {path}: the pack of system demo-city-chatbot as of")
    other = ["--system", "demo-benefits-triage"]
    swapped = runner.invoke(args=["verify-pack", str(path), "--pubkey", str(keys), *other])
    assert swapped.exit_code == 1 and "not of system demo-benefits-triage" in swapped.output
    broken = tmp_path / "broken.zip"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    broken.write_bytes(bytes(data))
    bad = runner.invoke(args=["verify-pack", str(broken)])
    assert bad.exit_code in (1, 2) and bad.exit_code != 0


def test_cli_refuses_bad_arguments(app, examples):
    runner = app.test_cli_runner()
    for args, message in (
        (["export"], "Name one SYSTEM"),
        (["export", "demo-city-chatbot", "--all"], "Name one SYSTEM"),
        (["export", "demo-city-chatbot", "--as-of", "yesterday"], "not an ISO 8601 instant"),
        (["export", "demo-city-chatbot", "--as-of", "2026-01-01T00:00:00"], "time zone"),
        (["export", "demo-city-chatbot", "--as-of", "9999-12-31T23:59:59-01:00"], "out of range"),
        (["export", "nope"], "No system 'nope'"),
        (["export", "--all", "--as-of", "2999-01-01T00:00:00Z"], "(as_of: Must not be in the"),
    ):
        result = runner.invoke(args=args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
        # The field errors readable, no progress bar for a run refused at once.
        assert "{'" not in result.output and "%|" not in result.output, (args, result.output)


def test_the_verifier_runs_alone_from_a_copy(app, examples, tmp_path):
    done = do_export(app, examples, "demo-invoice-ocr")
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(verifier.__file__, alone / "verify_pack.py")
    shutil.copy(done.path, alone / "pack.zip")
    (alone / "keys.txt").write_text(settings_of(examples).signer.verifier_key + "\n")
    # -I: isolated (no PYTHONPATH, no current folder on the path): the registry is not
    # importable, only the standard library and installed packages (cryptography).
    result = subprocess.run(
        [sys.executable, "-I", "verify_pack.py", "pack.zip", "--pubkey", "keys.txt"],
        cwd=alone,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("VERIFIED pack.zip")
    # Without a pinned key it never says VERIFIED: consistent under its own keys, exit 3.
    unpinned = subprocess.run(
        [sys.executable, "-I", "verify_pack.py", "pack.zip"],
        cwd=alone,
        capture_output=True,
        text=True,
    )
    assert unpinned.returncode == 3, unpinned.stdout + unpinned.stderr
    assert unpinned.stdout.startswith("UNPINNED pack.zip") and "VERIFIED" not in unpinned.stdout


def test_the_verifier_needs_nothing_newer_than_python_3_10():
    """Auditors run the verifier on machines of their own: its docstring says Python 3.10
    or later. vermin's analysis of every module, member and syntax it uses agrees (it
    refused ``datetime.UTC``, 3.11's)."""
    check = "import sys, vermin; sys.exit(vermin.main())"
    result = subprocess.run(
        [sys.executable, "-c", check, "-t=3.10-", "--violations", "--no-tips", verifier.__file__],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Python 3.10 or later" in Path(verifier.__file__).read_text()


# ----------------------------------------------------------------------------- web


def test_web_export_list_and_download(app, examples, users, login_as):
    client = login_as("auditor")
    page = client.get("/systems/demo-city-chatbot").get_data(as_text=True)
    assert "Export evidence pack" in page
    token = csrf_token(client, "/systems/demo-city-chatbot")
    response = client.post(
        "/systems/demo-city-chatbot/export", data={"csrf_token": token, "as_of": ""}
    )
    assert response.status_code == 302 and "/jobs/" in response.location
    job = client.get(response.location).get_data(as_text=True)  # run at once here
    listing = client.get("/exports").get_data(as_text=True)
    [record] = exports_of(app, examples)
    assert record.actor == users["auditor"].email or users["auditor"].email in record.actor
    assert record.manifest_sha256 in listing and record.manifest_sha256 in job
    assert f"Download {record.file}" in job and 'http-equiv="refresh"' not in job
    download = client.get(f"/exports/{record.file}")
    assert download.status_code == 200
    assert download.mimetype == "application/zip"
    assert "no-store" in download.headers["Cache-Control"]
    saved = Path(app.config["EXPORT_DIR"]) / "download.zip"
    saved.write_bytes(download.get_data())
    download.close()
    verifier.verify(str(saved))
    # The whole registry, from the exports page.
    token = csrf_token(client, "/exports")
    response = client.post("/exports", data={"csrf_token": token, "as_of": ""})
    assert response.status_code == 302
    assert [r.scope for r in exports_of(app, examples)] == ["registry", "system"]


def test_web_bad_instant_is_a_message_not_an_error(app, examples, login_as):
    client = login_as("compliance_officer")
    token = csrf_token(client, "/systems/demo-city-chatbot")
    out_of_range = "As of: is out of range: in UTC, an instant falls in the years 1 to 9999."
    for value, message in (
        ("not a date", "As of: is not an ISO 8601 instant (e.g. 2026-10-01T00:00:00Z)."),
        ("2026-12-06T17:26:00", "As of: needs a time zone (Z or an offset)."),
        ("2999-01-01T00:00:00Z", "As of: must not be in the future."),
        ("9999-12-31T23:59:59-01:00", out_of_range),
        ("0001-01-01T00:00:00+01:00", out_of_range),
    ):
        for form in ("/systems/demo-city-chatbot/export", "/exports"):
            response = client.post(
                form, data={"csrf_token": token, "as_of": value}, follow_redirects=True
            )
            assert response.status_code == 200
            # One message, once, naming the field as the form labels it ("As of").
            page = response.get_data(as_text=True)
            flashed = re.findall(r'<p class="flash error" role="alert">([^<]*)</p>', page)
            assert [html.unescape(m) for m in flashed] == [message], (value, flashed)
    assert exports_of(app, examples) == []


def test_web_who_may_export(app, examples, client, login_as):
    script = client.get("/verify_pack.py")  # public
    assert script.status_code == 200 and b"def verify(" in script.get_data()
    script.close()
    assert client.get("/exports").status_code == 302  # sign in first
    for role in ("technical_owner", "admin"):
        signed_in = login_as(role)
        page = signed_in.get("/systems/demo-city-chatbot")
        assert "Export evidence pack" not in page.get_data(as_text=True)
        token = csrf_token(signed_in, "/exports" if role != "admin" else "/admin/users")
        response = signed_in.post("/systems/demo-city-chatbot/export", data={"csrf_token": token})
        assert response.status_code == 403, role
        assert signed_in.post("/exports", data={"csrf_token": token}).status_code == 403
        signed_in.post("/logout", data={"csrf_token": token})
    assert exports_of(app, examples) == []
    officer = login_as("compliance_officer")
    assert officer.get("/exports/evidence-nothing.zip").status_code == 404
    assert officer.get("/exports/..%2Fsecret.zip").status_code == 404


# ----------------------------------------------------------------------------- API


def exported(api, body):
    """Ask for an export (202 and the job), follow the job (run at once here: the
    immediate queue) and return its export."""
    asked = api.post("/api/v1/exports", json=body)
    assert asked.status_code == 202, asked.get_json()
    assert asked.headers["Location"] == asked.get_json()["url"]
    job = api.get(asked.headers["Location"]).get_json()
    assert job["state"] == "finished", job
    return job["export"]


def test_api_export_list_download(app, examples, tokens):
    api = ApiClient(app.test_client(), tokens["auditor"])
    body = exported(api, {"system": "demo-benefits-triage"})
    assert body["scope"] == "system" and body["system"] == "demo-benefits-triage"
    assert re.fullmatch(r"[0-9a-f]{64}", body["manifest_sha256"])
    download = api.get(body["url"])
    assert download.status_code == 200 and download.mimetype == "application/zip"
    saved = Path(app.config["EXPORT_DIR"]) / "api.zip"
    saved.write_bytes(download.get_data())
    download.close()
    verifier.verify(str(saved))
    again = exported(api, {"system": "demo-benefits-triage", "as_of": body["as_of"]})
    assert again["manifest_sha256"] == body["manifest_sha256"]
    listing = api.get("/api/v1/exports?system=demo-benefits-triage").get_json()["items"]
    assert [i["seq"] for i in listing] == [again["seq"], body["seq"]]
    assert exported(api, {})["scope"] == "registry"
    script = ApiClient(app.test_client(), None).get("/api/v1/exports/verify_pack.py")
    assert script.status_code == 200 and b"def verify(" in script.get_data()
    script.close()


def test_a_finished_jobs_export_is_the_export_the_ledger_lists(app, examples, tokens):
    api = ApiClient(app.test_client(), tokens["auditor"])
    # An instant in whole seconds, after everything the examples recorded.
    time.sleep(1)
    whole = dt.datetime.now(dt.UTC).replace(microsecond=0)
    asked = api.post(
        "/api/v1/exports",
        json={"system": "demo-benefits-triage", "as_of": whole.isoformat().replace("+00:00", "Z")},
    )
    job = api.get(asked.headers["Location"]).get_json()
    assert job["state"] == "finished", job
    export = job.pop("export")
    [listed] = api.get("/api/v1/exports").get_json()["items"]
    # The same values, read from the same ledger event: when it was recorded (not when
    # the job finished), the as-of instant with its six fractional digits.
    assert export.pop("witnesses") == []
    assert export == listed
    assert export["as_of"] == whole.isoformat(timespec="microseconds")
    assert export["as_of"].endswith(".000000+00:00")
    event = api.get(f"/api/v1/ledger/events/{export['seq']}").get_json()["event"]
    assert (export["at"], export["as_of"]) == (event["time"], event["as_of"])


def test_a_retried_export_with_an_idempotency_key_asks_for_one_pack(
    app, examples, tokens, monkeypatch
):
    queue = job_queue(app)
    sent: list[int] = []
    send = queue.enqueue_export

    def counted(job_id: int) -> None:
        sent.append(job_id)
        send(job_id)

    monkeypatch.setattr(queue, "enqueue_export", counted)
    api = ApiClient(app.test_client(), tokens["compliance_officer"])
    body = {"system": "demo-benefits-triage"}
    headers = {"Idempotency-Key": "pack-2026-12"}
    asked = api.post("/api/v1/exports", json=body, headers=headers)
    again = api.post("/api/v1/exports", json=body, headers=headers)
    assert asked.status_code == again.status_code == 202, asked.get_json()
    assert again.get_data() == asked.get_data()
    assert again.headers["Location"] == asked.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in asked.headers
    # Another token of the user: its request runs, meets the key and is undone (its job
    # never sent to a worker); the first answer.
    other = ApiClient(app.test_client(), tokens["officer_read_only"])
    third = other.post("/api/v1/exports", json=body, headers=headers)
    assert third.status_code == 202 and third.get_data() == asked.get_data()
    assert third.headers["Idempotent-Replayed"] == "true"
    assert sent == [asked.get_json()["id"]]
    assert api.get(asked.headers["Location"]).get_json()["state"] == "finished"
    assert len(exports_of(app)) == 1
    with database(app).read_sessionmaker() as read:
        assert read.scalar(sa.select(sa.func.count()).select_from(Job)) == 1


def test_api_refuses_bad_exports(app, examples, tokens):
    api = ApiClient(app.test_client(), tokens["compliance_officer"])
    cases = (
        ({"system": "nope"}, 404, None),
        ({"system": "demo-city-chatbot", "as_of": "2999-01-01T00:00:00Z"}, 422, "/as_of"),
        ({"system": "demo-city-chatbot", "as_of": "yesterday"}, 422, "/as_of"),
        ({"system": "demo-city-chatbot", "colour": "red"}, 422, "/colour"),
        ({"system": ""}, 422, "/system"),
    )
    for body, status, pointer in cases:
        response = api.post("/api/v1/exports", json=body)
        assert response.status_code == status, (body, response.get_json())
        assert response.mimetype == "application/problem+json"
        if pointer:
            pointers = [e.get("pointer") for e in response.get_json()["errors"]]
            assert pointer in pointers, response.get_json()
    assert api.get("/api/v1/exports/evidence-none.zip").status_code == 404
    assert exports_of(app, examples) == []
