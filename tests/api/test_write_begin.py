"""A write's transaction on PostgreSQL begins with a ``BEGIN`` the registry sends first
in its first pipeline (``registry.ledger.append``), the driver in autocommit meanwhile
so that it sends no ``BEGIN`` of its own. However the transaction ends (committed,
refused and rolled back, failed at the server, or left to the pool), its connection
goes back to the pool idle and out of autocommit: the next unit of work on it is a
transaction again, never a run of statements each committing by itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import pq

from registry.extensions import database
from registry.ledger import append
from registry.ledger.store import LEDGER_LOCK_KEY
from tests.api.test_database_away import assert_unavailable
from tests.records.samples import SAMPLES

IDLE = pq.TransactionStatus.IDLE


@pytest.fixture(autouse=True)
def _postgresql_only(engine_name: str) -> None:
    if engine_name != "postgresql":
        pytest.skip("the driver's BEGIN and autocommit: PostgreSQL")


@pytest.fixture
def returned(app: Any, entry: dict[str, Any]) -> Iterator[list[tuple[bool, Any, bool]]]:
    """(autocommit, transaction status, begun by the registry?) of each connection as
    it goes back to the pool, seen after the registry's own listeners (registered by
    the writes above)."""
    seen: list[tuple[bool, Any, bool]] = []

    def checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            status = dbapi_connection.info.transaction_status
            seen.append((dbapi_connection.autocommit, status, append.OWN_BEGIN in record.info))

    engine = database(app).engine
    sa.event.listen(engine, "checkin", checkin)
    yield seen
    sa.event.remove(engine, "checkin", checkin)


def assert_returned_clean(seen: list[tuple[bool, Any, bool]]) -> None:
    assert seen, "no connection went back to the pool"
    assert all(state == (False, IDLE, False) for state in seen), seen
    seen.clear()


def _versions(app: Any, entry_id: int) -> int:
    with database(app).engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM entry_version WHERE entry_id = :e"), {"e": entry_id}
        ).scalar_one()


def _update(api_as: Any, entry: dict[str, Any], etag: str, name: str) -> Any:
    return api_as("compliance_officer").put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": {**SAMPLES["data_source"], "name": name}},
        headers={"If-Match": etag},
    )


def test_committed_refused_and_failed_writes_leave_no_autocommit(
    app, api_as, entry, returned, database_url
):
    # Committed.
    updated = _update(api_as, entry, entry["etag"], "Committed")
    assert updated.status_code == 200, updated.get_data(as_text=True)
    assert_returned_clean(returned)
    # Refused under the lock (stale base: 412) and rolled back: nothing stored.
    stale = _update(api_as, entry, entry["etag"], "Refused")
    assert stale.status_code == 412, stale.get_data(as_text=True)
    assert_returned_clean(returned)
    assert _versions(app, entry["id"]) == 2
    # Failed at the server inside the first pipeline: the ledger lock is held by
    # another connection longer than the registry's connections wait (503).
    name = sa.engine.make_url(database_url).database
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET lock_timeout = '200ms'")
        database(app).dispose()  # new connections take the setting
        with admin.connect() as locking:
            locking.execute(sa.select(sa.func.pg_advisory_lock(LEDGER_LOCK_KEY)))
            busy = assert_unavailable(_update(api_as, entry, updated.headers["ETag"], "Busy"))
            assert "database is busy" in busy["detail"]
            locking.execute(sa.select(sa.func.pg_advisory_unlock(LEDGER_LOCK_KEY)))
        assert_returned_clean(returned)
        assert _versions(app, entry["id"]) == 2
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" RESET lock_timeout')
        admin.dispose()
    # And the next write on the pool's connections is one transaction as before.
    again = _update(api_as, entry, updated.headers["ETag"], "Again")
    assert again.status_code == 200, again.get_data(as_text=True)
    assert_returned_clean(returned)
    assert _versions(app, entry["id"]) == 3


def test_a_unit_of_work_closed_without_commit_is_rolled_back(app, entry, returned):
    """A unit of work whose transaction the ledger's pipeline began, closed without a
    commit: the rollback ends the transaction and the driver leaves autocommit; what
    it did is gone, and the next statements on the connection are a transaction."""
    engine = database(app).engine
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver.autocommit is False
        with sa.orm.Session(bind=conn) as session:
            [[row]] = append.read(session, [(sa.text("SELECT 1 AS n"), {})])
            assert row.n == 1
            assert driver.autocommit is True  # the registry's BEGIN is on the server
            assert driver.info.transaction_status != IDLE
            session.execute(sa.text("CREATE TABLE left_behind (n integer)"))
        assert driver.autocommit is False and driver.info.transaction_status == IDLE
        assert conn.exec_driver_sql("SELECT to_regclass('left_behind')").scalar() is None
        conn.exec_driver_sql("CREATE TABLE rolled_back (n integer)")
        assert driver.info.transaction_status != IDLE  # psycopg's own BEGIN
        conn.rollback()
        assert conn.exec_driver_sql("SELECT to_regclass('rolled_back')").scalar() is None
    assert_returned_clean(returned)


def test_a_failed_commit_leaves_no_autocommit(app, entry, returned):
    """The registry began the transaction, and its COMMIT fails (here a deferred
    foreign key, checked at the commit): the transaction is over, the driver out of
    autocommit at once (the connection may stay with its caller: the pool's reset
    comes only at its return), and the next unit of work on it is a transaction."""
    engine = database(app).engine
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE parent (id integer PRIMARY KEY)")
        conn.exec_driver_sql(
            "CREATE TEMP TABLE child (p integer REFERENCES parent DEFERRABLE INITIALLY DEFERRED)"
        )
        conn.commit()
        driver = conn.connection.driver_connection
        with sa.orm.Session(bind=conn) as session:
            append.read(session, [(sa.text("SELECT 1 AS n"), {})])
            assert driver.autocommit is True  # the registry's BEGIN
            session.execute(sa.text("INSERT INTO child VALUES (1)"))  # refused at COMMIT
            with pytest.raises(psycopg.errors.ForeignKeyViolation):  # from the commit's
                session.commit()  # listener, which sends it (with a pending store too)
            assert driver.autocommit is False and driver.info.transaction_status == IDLE
        conn.rollback()
        conn.exec_driver_sql("INSERT INTO parent VALUES (1)")
        assert driver.info.transaction_status != IDLE  # psycopg's own BEGIN again
        conn.rollback()
        assert conn.exec_driver_sql("SELECT count(*) FROM parent").scalar() == 0
    assert_returned_clean(returned)
