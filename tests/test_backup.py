"""``registry db backup``: an online copy of a SQLite registry that restores whole."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from tests.conftest import make_app


def _run(app, *args: str):
    # Each command in its own application context, as when run from a shell.
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def _export(app, as_of: str, out: Path) -> bytes:
    result = _run(app, "export", "demo-city-chatbot", "--as-of", as_of, "--out", str(out))
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1]).read_bytes()


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_backup_restores_into_a_registry_that_verifies_and_re_exports_the_same_packs(
    database_url, tmp_path
):
    instance = tmp_path / "instance"
    first = make_app(database_url, instance)
    assert _run(first, "keys", "init").exit_code == 0
    first.extensions["registry.db"].dispose()
    app = make_app(database_url, instance)  # signs checkpoints with the key
    result = _run(app, "demo", "--no-register")
    assert result.exit_code == 0, result.output
    time.sleep(0.01)
    before = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.01)
    # A change between the instant and the backup: the pack as of the instant leaves
    # it out, from the original and from the copy alike.
    assert _run(app, "users", "create", "late@example.org", "--role", "auditor").exit_code == 0

    backup = tmp_path / "backups" / "registry-backup.sqlite3"
    backup.parent.mkdir()
    result = _run(app, "db", "backup", str(backup))
    assert result.exit_code == 0, result.output
    assert "Checkpoint of" in result.output
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert list(backup.parent.iterdir()) == [backup]  # one file, nothing beside it
    with sqlite3.connect(backup) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert _run(app, "db", "backup", str(backup)).exit_code != 0  # never overwritten

    # The original goes on after the backup.
    assert _run(app, "users", "create", "later@example.org", "--role", "auditor").exit_code == 0
    original_pack = _export(app, before, tmp_path / "packs-original")
    app.extensions["registry.db"].dispose()

    # Restore: the file, and the signing key kept with it, into a new instance.
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copyfile(backup, restored / "registry.sqlite3")
    shutil.copyfile(instance / "ledger-signing.key", restored / "ledger-signing.key")
    shutil.copytree(instance / "documents", restored / "documents")  # the blob store
    again = make_app(f"sqlite:///{restored / 'registry.sqlite3'}", restored)
    try:
        result = _run(again, "ledger", "verify")
        assert result.exit_code == 0, result.output
        assert _export(again, before, tmp_path / "packs-restored") == original_pack
    finally:
        again.extensions["registry.db"].dispose()


@pytest.mark.parametrize("engine_name", ["postgresql"], indirect=True)
def test_on_postgresql_the_backup_command_gives_the_procedure(app, tmp_path):
    target = tmp_path / "backup.sqlite3"
    result = _run(app, "db", "backup", str(target))
    assert result.exit_code == 1
    assert "pg_dump" in result.output and "pg_restore" in result.output
    assert "Traceback" not in result.output
    assert not target.exists()
