"""``registry db copy``: a whole registry moved between engines (and within one),
whole or not at all."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import registry.models  # noqa: F401
from registry.accounts.actor import Actor
from registry.db import Base
from registry.dbcopy import CopyReport, copy_registry
from registry.extensions import db_session
from registry.ledger.verify import LedgerReport
from registry.migrate import head_revision, upgrade
from registry.records.search import search_systems
from registry.records.search_index import UNMAPPED_TABLES
from registry.records.writes import create_system
from tests.conftest import ENGINES, PROFILE, append_only_lifted, make_app

PAIRS = [(source, target) for source in ENGINES for target in ENGINES]


def _run(app, *args: str):
    # Each command in its own application context, as when run from a shell.
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def _export(app, as_of: str, out: Path) -> bytes:
    result = _run(app, "export", "demo-city-chatbot", "--as-of", as_of, "--out", str(out))
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1]).read_bytes()


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every registry table, as the application reads it, by primary key."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(row)
                    for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))
                ]
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def _scalar(url: str, sql: str) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize(("source_engine", "target_engine"), PAIRS)
def test_a_registry_copied_to_another_database_verifies_takes_new_writes_and_exports_the_same_packs(
    source_engine, target_engine, _factories, tmp_path
):
    source_url, drop_source = _factories[source_engine].new()
    # Across engines into a database with no schema at all; within one engine into a
    # migrated database that was never used.
    factory = _factories[target_engine]
    target_url, drop_target = factory.empty() if source_engine != target_engine else factory.new()
    instance = tmp_path / "instance"
    try:
        first = make_app(source_url, instance)
        assert _run(first, "keys", "init").exit_code == 0
        first.extensions["registry.db"].dispose()
        app = make_app(source_url, instance)  # signs checkpoints with the key
        result = _run(app, "demo", "--no-register")
        assert result.exit_code == 0, result.output
        time.sleep(0.01)
        before = dt.datetime.now(dt.UTC).isoformat()
        time.sleep(0.01)
        assert _run(app, "users", "create", "late@example.org", "--role", "auditor").exit_code == 0
        # A checkpoint covering the instant: a pack as of it is the same from either copy.
        assert _run(app, "ledger", "checkpoint").exit_code == 0
        original_pack = _export(app, before, tmp_path / "packs-source")

        result = _run(app, "db", "copy", source_url, target_url)
        assert result.exit_code == 0, result.output
        app.extensions["registry.db"].dispose()
        events = _scalar(source_url, "SELECT max(seq) FROM audit_event")
        assert f"Ledger on the target intact up to seq {events} " in result.output
        assert "Latest checkpoint: " in result.output
        if target_engine == "sqlite" and source_engine != target_engine:
            # Created by the copy: it holds password and token hashes.
            target_file = Path(sa.engine.make_url(target_url).database)
            assert stat.S_IMODE(target_file.stat().st_mode) == 0o600
        # Every value as it was: instants to the microsecond, event bytes, canonical
        # bodies, booleans, ids.
        copied = _rows(target_url)
        assert copied == _rows(source_url)
        assert copied["audit_event"] and copied["checkpoint"] and copied["user"]
        revision = "SELECT version_num FROM alembic_version"
        assert _scalar(target_url, revision) == _scalar(source_url, revision)

        moved = make_app(target_url, instance)  # the same signing key moved with it
        try:
            result = _run(moved, "ledger", "verify")
            assert result.exit_code == 0, result.output
            assert _export(moved, before, tmp_path / "packs-target") == original_pack

            # New writes continue the ids and the ledger where the source left them.
            last_user = _scalar(target_url, 'SELECT max(id) FROM "user"')
            last_system = _scalar(target_url, "SELECT max(id) FROM ai_system")
            last_version = _scalar(target_url, "SELECT max(id) FROM entry_version")
            result = _run(moved, "users", "create", "new@example.org", "--role", "auditor")
            assert result.exit_code == 0, result.output
            assert _scalar(target_url, 'SELECT max(id) FROM "user"') == last_user + 1
            head = _scalar(target_url, "SELECT max(seq) FROM audit_event")
            copied_system = _scalar(target_url, "SELECT reference FROM ai_system ORDER BY id")
            with moved.app_context():
                session = db_session()
                # The full-text index came with the copy (its own on either engine).
                found = [r.system.reference for r in search_systems(session, q=copied_system)]
                assert copied_system in found
                system, version = create_system(
                    session, Actor.system("test"), {**PROFILE, "reference": "after-the-move"}
                )
                session.commit()
                assert system.id == last_system + 1
                assert version.id == last_version + 1
                assert version.audit_seq == head + 1
            result = _run(moved, "ledger", "checkpoint")
            assert result.exit_code == 0, result.output
            assert f"Checkpoint of {head + 2} events" in result.output  # and its map
            result = _run(moved, "ledger", "verify")
            assert result.exit_code == 0, result.output
        finally:
            moved.extensions["registry.db"].dispose()
    finally:
        drop_target()
        drop_source()


@pytest.fixture
def source(app, database_url):
    """A registry with a user and a system, and its URL."""
    with app.app_context():
        result = app.test_cli_runner().invoke(
            args=["users", "create", "officer@example.org", "--role", "compliance_officer"]
        )
        assert result.exit_code == 0, result.output
        session = db_session()
        create_system(session, Actor.system("test"), dict(PROFILE))
        session.commit()
    return database_url


def _sqlite_target(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'target.sqlite3'}"


def test_the_copy_refuses_a_target_that_is_not_empty(app, source, db_factory):
    target_url, drop = db_factory.new()
    try:
        busy = make_app(target_url, Path(app.instance_path).parent / "busy")
        assert _run(busy, "users", "create", "x@example.org", "--role", "auditor").exit_code == 0
        busy.extensions["registry.db"].dispose()
        before = _rows(target_url)
        result = _run(app, "db", "copy", source, target_url)
        assert result.exit_code == 1
        assert "is not empty: table audit_event has rows" in result.output
        assert "Traceback" not in result.output
        assert _rows(target_url) == before
    finally:
        drop()


def test_the_copy_refuses_a_target_with_tables_not_the_registrys(app, source, db_factory):
    target_url, drop = db_factory.empty()
    try:
        engine = sa.create_engine(target_url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE notes (id integer primary key)"))
        engine.dispose()
        result = _run(app, "db", "copy", source, target_url)
        assert result.exit_code == 1
        assert "is not empty: it has tables the registry does not (notes)" in result.output
        assert _tables(target_url) == {"notes"}
    finally:
        drop()


def test_the_copy_refuses_the_same_database(app, source, engine_name):
    result = _run(app, "db", "copy", source, source)
    assert result.exit_code == 1
    assert "The source and the target are the same database" in result.output
    url = sa.engine.make_url(source)
    if engine_name == "sqlite":
        path = Path(url.database)
        other = f"sqlite:///{path.parent / '.' / path.name}"  # the same file, spelt apart
    else:
        other = url.set(username="someone", password="else").render_as_string(hide_password=False)
    result = _run(app, "db", "copy", source, other)
    assert result.exit_code == 1
    assert "same database" in result.output


def test_the_copy_refuses_a_source_it_cannot_read_and_writes_nothing(
    app, engine_name, db_factory, tmp_path
):
    target = _sqlite_target(tmp_path)
    missing = tmp_path / "missing.sqlite3"
    result = _run(app, "db", "copy", f"sqlite:///{missing}", target)
    assert result.exit_code == 1
    assert f"Cannot read the source: there is no database at {missing}" in result.output
    assert not missing.exists()  # not created by looking

    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database" * 100)
    result = _run(app, "db", "copy", f"sqlite:///{garbage}", target)
    assert result.exit_code == 1
    assert "Cannot read the source: the database cannot be read" in result.output

    empty_url, drop = db_factory.empty()
    try:
        if engine_name == "sqlite":
            Path(sa.engine.make_url(empty_url).database).touch()
        result = _run(app, "db", "copy", empty_url, target)
        assert result.exit_code == 1
        assert "Cannot read the source: it has no registry schema" in result.output
    finally:
        drop()

    if engine_name == "postgresql":
        nowhere = sa.engine.make_url(empty_url).set(database="registry_no_such_database")
        result = _run(app, "db", "copy", nowhere.render_as_string(hide_password=False), target)
        assert result.exit_code == 1
        assert "Cannot read the source: the database cannot be opened or reached" in result.output
    assert not Path(sa.engine.make_url(target).database).exists()
    assert "Traceback" not in result.output


def test_the_copy_refuses_a_source_behind_the_code(app, db_factory, tmp_path):
    source_url, drop = db_factory.empty()
    try:
        upgrade(source_url, "0008")
        result = _run(app, "db", "copy", source_url, _sqlite_target(tmp_path))
        assert result.exit_code == 1
        behind = f"The source is at revision 0008, the registry's code at {head_revision()}"
        assert behind in result.output
        assert "run registry db upgrade on the source first" in result.output
        assert not (tmp_path / "target.sqlite3").exists()
    finally:
        drop()


def test_the_copy_refuses_a_source_whose_ledger_does_not_verify(app, source, session, tmp_path):
    with append_only_lifted(session, "audit_event"):
        session.execute(sa.text("UPDATE audit_event SET leaf_hash = :h"), {"h": "0" * 64})
    result = _run(app, "db", "copy", source, _sqlite_target(tmp_path))
    assert result.exit_code == 1
    assert "The source's ledger does not verify (at event 1: " in result.output
    assert "only an intact ledger is copied" in result.output
    assert not (tmp_path / "target.sqlite3").exists()


@pytest.mark.parametrize("engine_name", ENGINES, indirect=True)
def test_a_target_that_refuses_a_row_is_left_as_it_was(_factories, engine_name, tmp_path):
    """All or nothing: the target's schema and the rows before the refused one go too."""
    source_url, drop_source = _factories["sqlite"].new()
    app = make_app(source_url, tmp_path / "instance")
    try:
        assert _run(app, "users", "create", "a@example.org", "--role", "auditor").exit_code == 0
        # A token of a user that does not exist, which only a source that does not check
        # its foreign keys can hold.
        with sqlite3.connect(sa.engine.make_url(source_url).database) as conn:
            conn.execute(
                "INSERT INTO api_token (id, user_id, name, prefix, token_hash, scopes, "
                "created_at, expires_at) VALUES (1, 99, '', 'reg_x', :h, 'read', "
                "'2026-12-01 00:00:00.000000', '2027-12-01 00:00:00.000000')",
                {"h": "a" * 64},
            )
        target_url, drop_target = _factories[engine_name].empty()
        try:
            result = _run(app, "db", "copy", source_url, target_url)
            assert result.exit_code == 1
            assert "Nothing was copied: the target refused a write" in result.output
            assert "Traceback" not in result.output
            if engine_name == "sqlite":
                assert not Path(sa.engine.make_url(target_url).database).exists()
            else:
                assert _tables(target_url) == set()
        finally:
            drop_target()
    finally:
        app.extensions["registry.db"].dispose()
        drop_source()


def test_a_migrated_database_has_exactly_the_models_tables(database_url):
    """Every table the migrations make has a model, so the copy (which copies the
    models' tables) leaves none behind."""
    # The search index's full-text tables (SQLite) are the database's own, kept by
    # triggers from system_search, which is copied.
    made = _tables(database_url) - UNMAPPED_TABLES
    assert made == set(Base.metadata.tables) | {"alembic_version"}


def test_the_copy_is_the_source_as_of_one_snapshot_while_the_registry_writes_on(
    app, source, tmp_path
):
    """A change committed to the source while the copy runs (here: after its first
    batch is written) is not in the target, and what is copied is consistent."""
    target = _sqlite_target(tmp_path)
    written = []

    def write_meanwhile(table: str, rows: int) -> None:
        if written:
            return
        with app.app_context():
            session = db_session()
            system, _ = create_system(
                session, Actor.system("test"), {**PROFILE, "reference": "during-the-copy"}
            )
            session.commit()
            written.append(system.id)

    report = copy_registry(source, target, [], batch=1, progress=write_meanwhile)
    assert written
    assert report.ledger.ok
    copied = _rows(target)
    assert [row[1] for row in copied["ai_system"]] == [PROFILE["reference"]]
    assert len(copied["audit_event"]) == report.ledger.events
    assert _scalar(source, "SELECT count(*) FROM ai_system") == 2
    assert _scalar(source, "SELECT max(seq) FROM audit_event") > report.ledger.events


@pytest.mark.parametrize("engine_name", ["sqlite"], indirect=True)
def test_a_sqlite_source_is_only_read_even_a_backup_in_rollback_journal_mode(app, source, tmp_path):
    app.extensions["registry.db"].dispose()
    path = Path(sa.engine.make_url(source).database)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    conn.close()
    before = path.read_bytes()
    result = _run(app, "db", "copy", source, _sqlite_target(tmp_path))
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name)) == [
        path.name
    ]


def test_the_copys_report_counts_one_unsigned_event_in_the_singular():
    report = CopyReport("0001", ledger=LedgerReport(events=5, checkpoints=1, uncovered=1))
    assert (
        "1 event after the last checkpoint is chained but not yet covered by a signature: "
        "run registry ledger checkpoint on the target."
    ) in report.summary()
