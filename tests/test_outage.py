"""``registry.outage``: which database errors mean the database is unavailable, from the
errors the drivers really raise where they can be provoked, and from the driver's own
error classes where they cannot (a full disk on PostgreSQL)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
import sqlalchemy as sa

from registry.outage import Reason, unavailable, unavailable_reason
from tests.serving import free_port


def _pg_error(sqlstate: str) -> psycopg.Error:
    """An instance of psycopg's class for ``sqlstate`` (as the driver raises for it)."""
    return psycopg.errors.lookup(sqlstate)(f"an error {sqlstate}")


@pytest.mark.parametrize(
    ("sqlstate", "reason"),
    [
        ("53100", Reason.FULL),  # psycopg.errors.DiskFull: not provoked, a class check
        ("53200", Reason.OUT_OF_RESOURCES),
        ("53300", Reason.UNREACHABLE),
        ("57P01", Reason.LOST),
        ("57P02", Reason.LOST),
        ("57P03", Reason.UNREACHABLE),
        ("08006", Reason.LOST),
        ("08001", Reason.UNREACHABLE),
        ("25006", Reason.READ_ONLY),
        ("55P03", Reason.BUSY),
    ],
)
def test_postgresql_states_by_class(sqlstate, reason):
    error = _pg_error(sqlstate)
    assert unavailable_reason(error) is reason
    wrapped = sa.exc.OperationalError("SELECT 1", {}, error)
    assert unavailable_reason(wrapped) is reason


def test_disk_full_is_psycopgs_disk_full_class():
    error = psycopg.errors.DiskFull("could not extend file: No space left on device")
    assert error.sqlstate == "53100"
    assert unavailable_reason(error) is Reason.FULL


@pytest.mark.parametrize(
    "sqlstate",
    ["23505", "42P01", "42601", "22P02", "40001", "57014"],  # integrity, syntax, data, …
)
def test_bugs_and_bad_data_are_not_an_outage(sqlstate):
    assert unavailable_reason(_pg_error(sqlstate)) is None
    assert unavailable_reason(ValueError("no")) is None
    assert unavailable_reason(psycopg.ProgrammingError("no")) is None


def test_a_refused_connection_is_unreachable():
    port = free_port()  # nothing listens there
    with pytest.raises(psycopg.OperationalError) as raised:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/test", connect_timeout=5)
    assert raised.value.sqlstate is None
    assert unavailable_reason(raised.value) is Reason.UNREACHABLE
    engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
    with pytest.raises(sa.exc.OperationalError) as wrapped:
        engine.connect()
    assert unavailable_reason(wrapped.value) is Reason.UNREACHABLE
    with pytest.raises(psycopg.OperationalError) as raw:  # as db.driver_connection meets it
        engine.raw_connection()
    assert unavailable_reason(raw.value) is Reason.UNREACHABLE
    engine.dispose()


def test_a_terminated_connection_is_lost():
    url = "postgresql://postgres@127.0.0.1:5432/test"
    with psycopg.connect(url, autocommit=True) as victim, psycopg.connect(url) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", [victim.info.backend_pid])
        with pytest.raises(psycopg.OperationalError) as first:
            victim.execute("SELECT 1")
        assert unavailable_reason(first.value) is Reason.LOST
        with pytest.raises(psycopg.OperationalError) as again:  # "the connection is closed"
            victim.execute("SELECT 1")
        assert unavailable_reason(again.value) is Reason.LOST


def test_sqlite_errors_by_result_code(tmp_path):
    folder = tmp_path / "gone"
    with pytest.raises(sqlite3.OperationalError) as cannot_open:
        sqlite3.connect(folder / "db.sqlite3")
    assert unavailable_reason(cannot_open.value) is Reason.UNREACHABLE

    path = tmp_path / "db.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as refused:
        read_only.execute("INSERT INTO t VALUES (1)")
    assert refused.value.sqlite_errorname == "SQLITE_READONLY"
    assert unavailable_reason(refused.value) is Reason.READ_ONLY

    full = sqlite3.connect(path)
    full.execute("PRAGMA max_page_count = 1")
    with pytest.raises(sqlite3.OperationalError) as no_room:
        full.execute("INSERT INTO t VALUES (?)", [b"x" * 100_000])
    assert unavailable_reason(no_room.value) is Reason.FULL

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, timeout=0.01, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as busy:
        waiter.execute("BEGIN IMMEDIATE")
    assert unavailable_reason(busy.value) is Reason.BUSY
    holder.rollback()

    with pytest.raises(sqlite3.OperationalError) as bug:
        waiter.execute("SELECT * FROM no_such_table")
    assert unavailable_reason(bug.value) is None
    with pytest.raises(sqlite3.IntegrityError) as integrity:
        waiter.execute("CREATE TABLE u (x UNIQUE)")
        waiter.execute("INSERT INTO u VALUES (1), (1)")
    assert unavailable_reason(integrity.value) is None


def test_the_message_says_what_is_known_of_the_outcome():
    refused = _pg_error("57P03")
    lost = _pg_error("57P01")
    read = unavailable(lost, changing=False, retry_after=7)
    assert read is not None and read.status == 503 and read.code == "database_unavailable"
    assert "Nothing was changed. Try again in 7 seconds." in read.message
    assert read.details["retry_after"] == 7
    write = unavailable(lost, changing=True, retry_after=7)
    assert write is not None and "Nothing was changed" not in write.message
    assert "it may have been saved: check before making it again" in write.message
    never_connected = unavailable(refused, changing=True, retry_after=7)
    assert never_connected is not None and "Nothing was changed." in never_connected.message
    command = unavailable(refused, changing=True, retry_after=None, what="command")
    assert command is not None and command.message.endswith("Try again later.")
    assert "retry_after" not in command.details
    assert unavailable(_pg_error("23505"), changing=True, retry_after=7) is None
