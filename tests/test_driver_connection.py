"""``db.driver_connection``: a pooled psycopg connection in autocommit, handed back to
the pool as it came, or discarded when broken; ``db_traffic`` sees what it sends."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from registry.db import Database, array_literal, driver_connection, driver_sql
from registry.db_traffic import DriverTraffic
from tests.conftest import ENGINES


@pytest.fixture
def engine_name() -> str:
    if "postgresql" not in ENGINES:
        pytest.skip("the driver's connection is psycopg's: PostgreSQL only")
    return "postgresql"


@pytest.fixture
def pg(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def test_each_statement_commits_by_itself_and_the_connection_returns_as_it_came(pg):
    with driver_connection(pg.engine) as driver:
        assert driver.autocommit
        driver.execute("CREATE TABLE scratch (n integer)")
        driver.execute("INSERT INTO scratch VALUES (1)")
        assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with pg.engine.connect() as conn:  # the same pooled connection, SQLAlchemy's again
        assert not conn.connection.driver_connection.autocommit
        assert conn.exec_driver_sql("SELECT count(*) FROM scratch").scalar_one() == 1
        conn.exec_driver_sql("INSERT INTO scratch VALUES (2)")
        conn.rollback()  # a transaction again: the insert is undone
        assert conn.exec_driver_sql("SELECT count(*) FROM scratch").scalar_one() == 1
    assert pg.engine.pool.checkedout() == 0


def test_an_error_in_a_statement_keeps_a_healthy_connection(pg):
    with pytest.raises(psycopg.errors.UndefinedTable):
        with driver_connection(pg.engine) as driver:
            pooled_id = id(driver)
            driver.execute("SELECT * FROM no_such_table")
    with driver_connection(pg.engine) as driver:
        assert id(driver) == pooled_id  # kept in the pool, autocommit set afresh
        assert driver.execute("SELECT 1").fetchone() == (1,)
    with pg.engine.connect() as conn:
        assert not conn.connection.driver_connection.autocommit


def test_a_broken_connection_is_discarded(pg):
    with pg.engine.connect() as conn:
        victim = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    pool = pg.engine.pool
    killer = Database(pg.url)
    with pytest.raises(psycopg.OperationalError):
        with driver_connection(pg.engine) as driver:
            (pid,) = driver.execute("SELECT pg_backend_pid()").fetchone()
            assert pid == victim  # the pool's one connection
            with killer.engine.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({victim}, 10000)")
            driver.execute("SELECT 1")
    killer.dispose()
    # Discarded, and the pool replaced (its other connections are suspect too): the
    # next use works on a new backend.
    assert pg.engine.pool is not pool
    with driver_connection(pg.engine) as driver:
        (pid,) = driver.execute("SELECT pg_backend_pid()").fetchone()
    assert pid != victim


def test_driver_sql_is_the_statement_compiled_once_for_the_dialect(pg):
    statement = sa.select(sa.literal_column("1").label("one")).where(
        sa.bindparam("n", type_=sa.Integer) == 2, sa.literal("owner") == sa.bindparam("kind")
    )
    compiled = driver_sql(statement, pg.engine)
    assert "%(n)s" in compiled.text
    assert driver_sql(statement, pg.engine) is compiled
    with driver_connection(pg.engine) as driver:
        # The statement's own constants ('owner') go with the parameters given.
        assert driver.execute(compiled.text, compiled.params(n=2, kind="owner")).fetchall() == [
            (1,)
        ]
        assert driver.execute(compiled.text, compiled.params(n=2, kind="other")).fetchall() == []
    assert compiled.params(n=2, kind="x") is not compiled.params(n=2, kind="x")


def test_driver_traffic_counts_both_paths(pg):
    traffic = DriverTraffic(pg.engine)
    try:
        with driver_connection(pg.engine) as driver:
            driver.execute("SELECT 1")
        with pg.engine.begin() as conn:  # BEGIN, two statements, COMMIT
            conn.exec_driver_sql("SELECT 2")
            conn.exec_driver_sql("SELECT 3")
        assert traffic.statements == ["SELECT 1", "SELECT 2", "SELECT 3"]
        assert traffic.begins == 1
        assert traffic.round_trips == 5
        assert [autocommit for *_, autocommit in traffic.timings] == [True, False, False]
    finally:
        traffic.close()
    with driver_connection(pg.engine) as driver:
        driver.execute("SELECT 4")
    assert "SELECT 4" not in traffic.statements


def test_array_literals_round_trip(pg):
    texts = ["", "plain", 'quo"te', "back\\slash", "a,b", "{braces}", "NULL", " sp ", "Zoë ✓"]
    blobs = [b"", b'{"seq":', b'\x00\xff\\"', "é".encode()]
    with driver_connection(pg.engine) as driver:
        (got,) = driver.execute("SELECT %s::text[]", [array_literal(texts)]).fetchone()
        assert got == texts
        (got,) = driver.execute(
            "SELECT %s::bytea[]", [array_literal("\\x" + b.hex() for b in blobs)]
        ).fetchone()
        assert got == blobs
        (got,) = driver.execute("SELECT %s::text[]", [array_literal([])]).fetchone()
        assert got == []


def test_driver_traffic_counts_the_pings_of_pre_ping(database_url):
    db = Database(database_url, pre_ping=True)
    try:
        with driver_connection(db.engine) as driver:  # a new connection: not tested
            driver.execute("SELECT 1")
        traffic = DriverTraffic(db.engine)
        with driver_connection(db.engine) as driver:  # the pooled one: tested first
            driver.execute("SELECT 2")
        with driver_connection(db.engine) as driver:
            driver.execute("SELECT 3")
        assert traffic.statements == ["SELECT 2", "SELECT 3"]
        assert traffic.pings == 2 and traffic.round_trips == 4
        traffic.close()
    finally:
        db.dispose()
