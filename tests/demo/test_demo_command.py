"""``registry demo`` through the real CLI on both engines: it loads whole or not at all,
a second run adds nothing, and the examples tell their story on any day they are loaded."""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from registry.accounts.models import User
from registry.accounts.service import authenticate, new_password
from registry.config import load_config
from registry.demo import examples, loader, nl_register
from registry.extensions import database
from registry.ledger.models import AuditEvent, Checkpoint
from registry.records.models import AISystem, Entry, EntryVersion

CORPUS = Path(load_config()["DEMO_CORPUS"])
TABLES = (User, AISystem, Entry, EntryVersion, AuditEvent, Checkpoint)


def invoke(app, *args: str) -> Any:
    """Run ``registry ARGS`` as the console script does: in an application context of
    its own, whose teardown rolls back whatever the command did not commit."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def counts(app) -> dict[str, int]:
    """Row counts as committed, read on a connection of their own."""
    read = database(app).read_sessionmaker()
    try:
        return {
            t.__tablename__: read.scalar(sa.select(sa.func.count()).select_from(t)) or 0
            for t in TABLES
        }
    finally:
        read.close()


def write_corpus(folder: Path, changes: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "changes.jsonl.gz", "wt", encoding="utf-8") as fh:
        for change in changes:
            fh.write(json.dumps(change) + "\n")
    return folder


def valid_changes(n: int) -> list[dict[str, Any]]:
    return list(itertools.islice(nl_register.read_changes(CORPUS), n))


def test_a_second_run_adds_nothing(app, tmp_path):
    corpus = write_corpus(tmp_path / "corpus", valid_changes(3))
    first = invoke(app, "demo", "--corpus", str(corpus))
    assert first.exit_code == 0, first.output
    loaded = counts(app)
    assert loaded["ai_system"] == 3 + len(examples.EXAMPLES) and loaded["user"] == 4
    again = invoke(app, "demo", "--corpus", str(corpus))
    assert again.exit_code == 0, again.output
    assert "(0 examples added now)" in again.output
    assert counts(app) == loaded
    assert invoke(app, "ledger", "verify").exit_code == 0


def _broken_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Valid changes, then an update of a record the register never added.
    changes = valid_changes(5)
    ghost = {**changes[0], "seq": 6, "op": "update", "id": "no-such-record"}
    ghost["record"] = {**changes[0]["record"], "id": "no-such-record"}
    return write_corpus(tmp_path / "corpus", [*changes, ghost])


def _truncated_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Valid changes, then a change whose record lacks its title.
    changes = valid_changes(5)
    broken = copy.deepcopy(changes[1])
    broken.update(seq=6, op="update")
    del broken["record"]["title"]
    return write_corpus(tmp_path / "corpus", [*changes, broken])


def _invalid_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The register loads; the last example's last profile version is invalid.
    bad = copy.deepcopy(examples.EXAMPLES)
    bad[-1]["profile_updates"][-1]["body"]["stage"] = "abandoned"
    monkeypatch.setattr(examples, "EXAMPLES", bad)
    return write_corpus(tmp_path / "corpus", valid_changes(5))


def _unknown_date_style(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bad = copy.deepcopy(examples.EXAMPLES)
    bad[-1]["profile_updates"][-1]["reason"] = "Retired on {{2026-07-08|weekday}}"
    monkeypatch.setattr(examples, "EXAMPLES", bad)
    return write_corpus(tmp_path / "corpus", valid_changes(5))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_broken_stream, "No system with reference 'nl-no-such-record'"),
        (_truncated_record, "KeyError: 'title'"),
        (_invalid_example, "stage"),
        (_unknown_date_style, "unknown date style"),
    ],
)
def test_a_failure_part_way_leaves_nothing_behind(app, tmp_path, monkeypatch, breakage, message):
    # Something committed before, so that the ledger has a head the failure must keep.
    made = invoke(app, "users", "create", "ops@example.org", "--role", "auditor")
    assert made.exit_code == 0, made.output
    before = counts(app)
    corpus = breakage(tmp_path, monkeypatch)

    result = invoke(app, "demo", "--corpus", str(corpus))

    assert counts(app) == before  # no demo users, systems, versions, events
    assert result.exit_code == 1, result.output
    assert "Nothing was loaded" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not (Path(app.instance_path) / "demo_credentials.txt").exists()
    verified = invoke(app, "ledger", "verify")
    assert verified.exit_code == 0 and "Ledger intact: 1 events" in verified.output
    # Mended, the same command loads everything.
    monkeypatch.undo()
    fixed = write_corpus(tmp_path / "fixed", valid_changes(5))
    result = invoke(app, "demo", "--corpus", str(fixed))
    assert result.exit_code == 0, result.output
    assert counts(app)["ai_system"] == 5 + len(examples.EXAMPLES)
    assert invoke(app, "ledger", "verify").exit_code == 0


AREAS_THE_CHATBOT_MISSES = (
    "Integration readiness",
    "User adoption",
    "Monitoring",
    "Lifecycle funding",
)


@pytest.mark.parametrize("days_ahead", [0, 365])
def test_the_examples_keep_their_story_on_the_day_they_are_loaded(app, days_ahead):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=days_ahead)
    with time_machine.travel(later, tick=True):
        loaded = invoke(app, "demo", "--no-register")
        assert loaded.exit_code == 0, loaded.output
        triage = invoke(app, "readiness", "demo-benefits-triage", "--require", "production")
        chatbot = invoke(app, "readiness", "demo-city-chatbot", "--require", "production")
    assert triage.exit_code == 0, triage.output
    assert f"at {later.date().isoformat()}" in triage.stdout
    assert ": ready for production" in triage.stdout
    assert chatbot.exit_code == 1, chatbot.output
    assert "NOT READY" in chatbot.stdout
    missing = [line for line in chatbot.stdout.splitlines() if line.strip().startswith("missing")]
    assert [line.split(None, 1)[1] for line in missing] == list(AREAS_THE_CHATBOT_MISSES)
    for area in AREAS_THE_CHATBOT_MISSES:
        assert f"- {area}" in chatbot.stderr
    assert "not ready for production" in chatbot.stderr


def test_demo_users_get_passwords_from_the_accounts_generator(session, monkeypatch):
    """The demo's passwords are made by accounts.service.new_password, the generator of
    every password the registry makes up (``registry users create`` without one, …)."""
    made: list[str] = []

    def recorded() -> str:
        made.append(new_password())
        return made[-1]

    monkeypatch.setattr(loader, "new_password", recorded)
    officer = "officer@demo.registry.example"
    users = loader.ensure_demo_users(session, {officer: "kept from an earlier load"})
    passwords = {email: password for email, _, password in users}
    assert passwords.pop(officer) == "kept from an earlier load"
    assert sorted(made) == sorted(passwords.values())
    assert len(made) == len(loader.DEMO_USERS) - 1
    for email, password in [*passwords.items(), (officer, "kept from an earlier load")]:
        assert authenticate(session, email, password) is not None
