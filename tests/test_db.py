"""The database plumbing as the app uses it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa

import registry
from registry.db import make_engine
from registry.extensions import database


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_sqlite_syncs_every_commit_to_disk(app):
    # 2 is FULL: a commit is on disk before it is acknowledged, even through a power
    # loss. Both the writing and the reading engine's connections are checked.
    with app.app_context():
        db = database()
        for engine in (db.engine, db.read_engine):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.scalar(sa.text("PRAGMA foreign_keys")) == 1


def test_the_largest_row_id_is_written_once():
    """db.MAX_ID is the one rule of which numbers can be row ids: no module defines its own
    (the kinds' id fields, the API's and the URL converter's ranges all use it)."""
    package = Path(registry.__file__).parent
    defining = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "MAX_ID" for t in node.targets)
    )
    assert defining == ["db.py"]


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_sqlite_connections_are_replaced_once_the_statistics_change(app):
    """A SQLite connection reads the planner's statistics when it opens: once an ANALYZE
    has added some, a pooled connection is replaced as it is handed out, so every read
    plans with them; while they stay, it is handed out again."""
    with app.app_context():
        engine = database().read_engine

        def handed_out() -> object:
            with engine.connect() as conn:
                return conn.connection.dbapi_connection

        first = handed_out()
        assert handed_out() is first
        with database().engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        replaced = handed_out()
        assert replaced is not first
        assert handed_out() is replaced


def test_postgresql_connections_speak_utc_and_keep_the_options_given(
    engine_name, database_url, monkeypatch
):
    """Every PostgreSQL connection asks for the time zone UTC, beside the startup
    options of its URL, or else of PGOPTIONS (which libpq would otherwise drop)."""
    if engine_name != "postgresql":
        pytest.skip("startup options: PostgreSQL")

    def shown(url: str) -> tuple[str, str, str]:
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                return tuple(  # type: ignore[return-value]
                    connection.exec_driver_sql(f"SHOW {name}").scalar()
                    for name in ("TimeZone", "statement_timeout", "application_name")
                )
        finally:
            engine.dispose()

    monkeypatch.delenv("PGOPTIONS", raising=False)
    assert shown(database_url)[:2] == ("UTC", "0")
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=7")
    assert shown(database_url)[:2] == ("UTC", "7ms")
    given = sa.engine.make_url(database_url).update_query_dict(
        {"options": "-c statement_timeout=9", "application_name": "registry-test"}
    )
    assert shown(given.render_as_string(False)) == ("UTC", "9ms", "registry-test")
