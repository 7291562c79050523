"""Files that hold secrets are their owner's alone from the moment they exist: the
SQLite database (password and token hashes) with its -wal and -shm files, the session
secret, the ledger's signing key and the demo passwords are created with mode 0600,
whatever the umask, and are never readable by others, not even for a moment."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.db import make_engine
from registry.demo.loader import read_credentials, write_credentials
from registry.migrate import upgrade
from tests.conftest import make_app

# Paths watched by the audit hook, and the modes they were seen with. Python raises an
# audit event before every open, chmod, rename, link… of the process: the hook notes the
# mode of each watched file that exists at that moment, so a file created readable by
# others and narrowed afterwards is caught between the two steps.
_WATCHED: dict[Path, set[int]] = {}


def _note_modes(_event: str, _args: tuple[object, ...]) -> None:
    if not _WATCHED:
        return
    for path, modes in list(_WATCHED.items()):
        try:
            modes.add(stat.S_IMODE(os.stat(path).st_mode))
        except OSError:
            pass


sys.addaudithook(_note_modes)


@pytest.fixture
def watch() -> Iterator[dict[Path, set[int]]]:
    yield _WATCHED
    _WATCHED.clear()


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that takes nothing away: only the mode a file is created with counts."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_files_are_private(tmp_path, open_umask):
    path = tmp_path / "instance" / "registry.sqlite3"
    path.parent.mkdir()
    url = f"sqlite:///{path}"
    upgrade(url)
    assert _mode(path) == 0o600
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    'INSERT INTO "user" (email, name, is_active, created_at) '
                    "VALUES ('a@example.org', '', 1, '2026-01-01')"
                )
            )
        # The pool keeps the connection open, and with it the -wal and -shm files.
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert wal.exists() and shm.exists()
        assert (_mode(path), _mode(wal), _mode(shm)) == (0o600, 0o600, 0o600)
    finally:
        engine.dispose()


def test_an_existing_database_keeps_its_mode(tmp_path):
    path = tmp_path / "registry.sqlite3"
    upgrade(f"sqlite:///{path}")
    path.chmod(0o640)  # the operator's choice
    make_engine(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o640


def test_the_session_secret_is_private_from_the_start(database_url, tmp_path, open_umask, watch):
    instance = tmp_path / "instance"
    secret = instance / "secret_key"
    watch[secret] = set()
    app = make_app(database_url, instance, SECRET_KEY=None)
    try:
        assert watch[secret] == {0o600}
        assert _mode(secret) == 0o600
        assert app.config["SECRET_KEY"] == secret.read_text().strip()
        assert len(app.config["SECRET_KEY"]) == 64
        again = make_app(database_url, instance, SECRET_KEY=None)  # kept, not replaced
        assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]
        again.extensions["registry.db"].dispose()
        assert [p.name for p in instance.iterdir() if p.name.startswith(".")] == []
    finally:
        app.extensions["registry.db"].dispose()


def test_the_signing_key_is_private_from_the_start(app, open_umask, watch):
    key = Path(app.config["SIGNING_KEY_PATH"])
    watch[key] = set()
    result = app.test_cli_runner().invoke(args=["keys", "init"])
    assert result.exit_code == 0, result.output
    assert watch[key] == {0o600} and _mode(key) == 0o600
    before = key.read_text()
    result = app.test_cli_runner().invoke(args=["keys", "init"])
    assert key.read_text() == before  # never overwritten


def test_the_demo_passwords_are_private_from_the_start(tmp_path, open_umask, watch):
    path = tmp_path / "instance" / "demo_credentials.txt"
    watch[path] = set()
    write_credentials(path, {"a@example.org": "first password"})
    write_credentials(path, {"a@example.org": "first password", "b@example.org": "second"})
    assert watch[path] == {0o600} and _mode(path) == 0o600
    assert read_credentials(path) == {"a@example.org": "first password", "b@example.org": "second"}
