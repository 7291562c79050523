"""``registry ledger verify`` on a database it cannot read: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_app


def _verify(url: str, instance: Path):
    app = make_app(url, instance)
    try:
        return app.test_cli_runner().invoke(args=["ledger", "verify"])
    finally:
        app.extensions["registry.db"].dispose()


def _assert_reported(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Cannot verify the ledger: ")
    for word in words:
        assert word in lines[0]


def test_a_database_without_the_schema(db_factory, engine_name, tmp_path):
    url, drop = db_factory.empty()
    if engine_name == "sqlite":
        Path(url.removeprefix("sqlite:///")).touch()  # an empty file: a database, no tables
    try:
        _assert_reported(_verify(url, tmp_path / "instance"), "no registry schema")
    finally:
        drop()


def test_a_database_that_cannot_be_reached(engine_name, tmp_path):
    if engine_name == "sqlite":
        folder = tmp_path / "a-folder"  # named where the database file should be
        folder.mkdir()
        url = f"sqlite:///{folder}"
    else:
        url = "postgresql+psycopg://postgres@127.0.0.1:1/registry"
    _assert_reported(_verify(url, tmp_path / "instance"), "cannot be opened or reached")


def test_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "registry.sqlite3"
    path.write_bytes(b"these are not the pages of a database\n" * 200)
    _assert_reported(_verify(f"sqlite:///{path}", tmp_path / "instance"), "cannot be read")


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_damaged_database(app, database_url, tmp_path):
    assert app.test_cli_runner().invoke(args=["ledger", "verify"]).exit_code == 0
    app.extensions["registry.db"].dispose()
    path = Path(database_url.removeprefix("sqlite:///"))
    data = bytearray(path.read_bytes())
    # The header stays, every page after the first is overwritten.
    data[4096:] = b"\xa5" * (len(data) - 4096)
    path.write_bytes(bytes(data))
    _assert_reported(_verify(database_url, tmp_path / "other"), "cannot be read")


def test_no_sqlite_file_is_reported_and_none_is_made(tmp_path):
    path = tmp_path / "instance" / "registry.sqlite3"
    _assert_reported(_verify(f"sqlite:///{path}", tmp_path / "instance"), "no database at")
    assert not path.exists()
