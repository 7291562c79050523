"""Database plumbing: the declarative base, engines for SQLite and PostgreSQL, sessions.

The transaction boundary is here and nowhere else: a request (or a CLI command) gets
one session; services flush but never commit; the surface calls :func:`commit` once.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import json
import os
import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from registry.files import create_private

# The largest row id: ids are INTEGER columns, 32-bit on PostgreSQL. A larger number
# names no row, and PostgreSQL would refuse to compare it with one.
MAX_ID = 2**31 - 1

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC instant on both engines.

    PostgreSQL keeps ``timestamptz``; SQLite keeps naive UTC text in a fixed format, so
    comparisons in SQL order instants correctly. Python always sees aware UTC values.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a timezone")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# How long a SQLite connection waits for another's write lock before it gives up.
SQLITE_BUSY_TIMEOUT_MS = 60_000
# How long a write that gives way (:func:`giving_way`) waits for it.
SQLITE_GIVE_WAY_MS = 200


def bytewise(length: int | None = None) -> sa.types.TypeEngine[str]:
    """Text (of at most ``length`` characters) compared by code point, as Python
    compares text: in PostgreSQL's collation "C", whatever the database's default;
    SQLite's default already is. The systems list's orders compare so, and an index of
    such a column serves them."""
    if length is None:
        return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _create_database_file(database: str | None) -> None:
    """Create a new SQLite database file with mode 0600 before SQLite opens it (which
    would create it 0644, and its -wal and -shm files like it): it holds password and
    token hashes. Not for in-memory databases or ``file:`` URIs; a missing folder is
    left for SQLite to report."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    with suppress(FileNotFoundError):
        create_private(Path(database))


def _create_database_file_on_connect(engine: Engine) -> None:
    """Create the database file (0600) just before the first connection would, so that
    only opening a database makes one."""
    database = engine.url.database

    @event.listens_for(engine, "do_connect")
    def _create(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
        _create_database_file(database)


class NoDatabaseFile(Exception):
    """There is no SQLite database file where the URL points (in a folder that exists),
    and the engine was made to open an existing database only (the command line's: a
    wrong path is reported, not made an empty database)."""

    def __init__(self, path: str | None) -> None:
        super().__init__(f"there is no database at {path}")
        self.path = path


def _refuse_missing_file_on_connect(engine: Engine) -> None:
    """Raise :class:`NoDatabaseFile` instead of connecting when the file does not exist
    (SQLite would create an empty one, with its -wal and -shm files). A missing folder
    is left for SQLite to report: the database is away (a volume not mounted, say)."""
    url = engine.url

    @event.listens_for(engine, "do_connect")
    def _refuse(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> None:
        if not sqlite_file_exists(url) and Path(url.database or "").parent.is_dir():
            raise NoDatabaseFile(url.database)


def _configure_sqlite(engine: Engine, read_only_file: bool = False) -> None:
    """WAL, full syncs, foreign keys, and BEGIN IMMEDIATE for every transaction that
    may write.

    ``synchronous=FULL``: every commit is synced to disk before it is acknowledged. With
    NORMAL in WAL mode a power loss can roll back the last commits, and an audit
    registry must keep every change it acknowledged.

    pysqlite's own transaction handling is switched off so that we emit BEGIN
    ourselves: IMMEDIATE takes SQLite's write lock at the start, which serialises
    writers (and the ledger's appends) across processes without deadlock-prone lock
    upgrades. Read-only work runs on ``read_only()`` connections, whose plain (deferred)
    BEGIN takes no write lock: with WAL they read alongside a writer.

    ``read_only_file``: the file was opened read-only; it keeps its journal mode and
    every transaction only reads.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        if read_only_file:
            return
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "connect")
    def _note_statistics(dbapi_connection: Any, record: Any) -> None:
        record.info[_STATISTICS] = _statistics(dbapi_connection)

    @event.listens_for(engine, "checkout")
    def _fresh_statistics(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get(_STATISTICS) != _statistics(dbapi_connection):
            # The pool replaces it (and tries again with a new connection).
            raise sa.exc.DisconnectionError("The planner's statistics have changed.")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        read_only = read_only_file or options.get(READ_ONLY, False)
        if read_only or not options.get(GIVE_WAY, False):
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
            return
        conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_GIVE_WAY_MS}")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


# On a pool connection record's info: the planner's statistics it read (:func:`_statistics`).
_STATISTICS = "registry.statistics"


def _statistics(dbapi_connection: Any) -> tuple[int, int]:
    """Which planner's statistics a SQLite database holds: how many rows ``sqlite_stat1``
    has, and its last. A connection reads them once, when it loads the schema, and an
    ANALYZE elsewhere does not make it read them again; so a connection handed out of
    the pool is replaced when they have changed since it opened (statistics added, as
    of a table analyzed once filled: ``readiness.projection``). A table analyzed again
    may keep both numbers: then the connection keeps statistics of that table a little
    older."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cursor.fetchone()[0] == 0:
            return (0, 0)
        cursor.execute("SELECT count(*), coalesce(max(rowid), 0) FROM sqlite_stat1")
        count, last = cursor.fetchone()
        return (int(count), int(last))
    finally:
        cursor.close()


READ_ONLY = "registry_read_only"
GIVE_WAY = "registry_give_way"


def giving_way(bind: Engine) -> Engine:
    """The same engine for writes that may give way to other writers, because losing
    them costs only work done again later (the readiness projection's rows a read
    evaluated): on SQLite their transaction waits at most SQLITE_GIVE_WAY_MS for the
    write lock, not SQLITE_BUSY_TIMEOUT_MS, before the busy error, so a read never
    waits behind a long write to store them. On PostgreSQL the same engine: there
    writers do not take a lock of the whole database."""
    if bind.dialect.name == "sqlite":
        return bind.execution_options(**{GIVE_WAY: True})
    return bind


def read_only(bind: Engine) -> Engine:
    """The same engine for work that only reads: on SQLite, transactions that take no
    write lock; on PostgreSQL, autocommit. PostgreSQL runs at READ COMMITTED, where each
    statement sees its own snapshot inside a transaction as well, so a reading request
    loses nothing and saves the BEGIN and ROLLBACK round trips."""
    if bind.dialect.name == "postgresql":
        return bind.execution_options(**{READ_ONLY: True}, isolation_level="AUTOCOMMIT")
    return bind.execution_options(**{READ_ONLY: True})


def see_committed(session: Session) -> None:
    """Let a read session's next statements see what other transactions have committed
    since its transaction began (what a read's keeper has just stored for it). On
    PostgreSQL nothing to do: a read session's every statement sees its own snapshot
    (:func:`read_only`). On SQLite its read transaction ends: it wrote nothing, so
    nothing is lost, and the next statement begins another on the newest data. Any
    other session is left alone."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite" and bind.get_execution_options().get(READ_ONLY, False):
        session.commit()  # only ends reading: a read session never holds a change


@contextmanager
def driver_connection(engine: Engine) -> Iterator[Any]:
    """A connection of ``engine``'s pool as the PostgreSQL driver's own (psycopg)
    connection, in autocommit mode: each statement sent on it commits by itself.

    For the few statements on the hottest paths (an API token's lookup, a write in one
    statement): SQLAlchemy's execution layer costs more CPU than the statement's own
    round trip there. SQL is sent in the driver's form (``%(name)s`` parameters; see
    :func:`driver_sql`). The connection goes back to the pool as it came (autocommit
    off). When the driver finds it broken (the server restarted, say), it is discarded
    and the pool replaced, as SQLAlchemy does on a disconnect: the pool's other
    connections are likely dead too.
    """
    pooled = engine.raw_connection()
    driver = pooled.driver_connection
    try:
        driver.autocommit = True  # the pool hands out idle connections: no round trip
        yield driver
        driver.autocommit = False
    except BaseException:
        if driver.broken or driver.closed:
            pooled.invalidate()
            engine.dispose()  # the idle ones closed; those checked out finish their work
        else:
            try:
                driver.autocommit = False
            except Exception:
                pooled.invalidate()
        raise
    finally:
        pooled.close()


def array_literal(values: Iterable[str]) -> str:
    """A PostgreSQL array literal (``{"a","b"}``) of text values, each quoted and escaped,
    to send as one text parameter cast to an array type (``%(p)s::text[]``). The driver
    adapts a Python list element by element in Python: for the arrays of a write in one
    statement, about 30 µs of CPU more than this literal. For ``bytea[]``, give each
    value's ``\\x…`` hex form."""
    return (
        "{"
        + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "}"
    )


def advance_cursor(session: Session, table: sa.Table, seq: int) -> None:
    """Move a kept view's one-row cursor (``id`` 1, ``seq``: the ledger position up to
    which the view is current) to ``seq``, never back: another transaction may have
    stored a later one first. Flushes only."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(id=1, seq=seq)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={"seq": statement.excluded.seq},
            where=statement.excluded.seq > table.c.seq,
        )
    )


# Storing at least this many rows at once in a table the registry keeps for its reads
# (the readiness projection, the due list, the notification outbox) makes the planner's
# statistics of that table again (:func:`analyze`).
ANALYZE_AFTER = 1_000


def analyze(session: Session, *tables: sa.Table) -> None:
    """The planner's statistics of ``tables`` made again, in the session's transaction,
    once many rows were stored at once (``ANALYZE_AFTER``: the first read of a register,
    a rebuild, a large enqueue), so that the planner chooses by what they hold now. On
    SQLite a table filled after its last ANALYZE has none (it was empty then): the
    planner takes it for a large table and drives joins from the other side (the systems
    list's order by last change sorted every system, the count of those not ready read
    every row) instead of from its indexes; PostgreSQL's autovacuum gets there later."""
    for table in tables:
        session.execute(sa.text(f"ANALYZE {table.name}"))


def json_table(
    session: Session,
    values: Sequence[Any],
    columns: Sequence[tuple[str, Any]] = (),
    name: str = "c",
) -> Any:
    """``values`` as a table named ``name`` in SQL, sent as one JSON parameter, so the
    statement's text is the same however many there are: with ``columns`` ((name, type)
    pairs), objects whose fields of those names are its columns, of those types; without,
    texts, as its column ``value``. PostgreSQL reads the document with
    ``jsonb_to_recordset`` / ``jsonb_array_elements_text``, SQLite with ``json_each``
    (and ``json_extract`` for each column)."""
    data = sa.literal(json.dumps(values), sa.Text)
    if session.get_bind().dialect.name == "postgresql":
        document = sa.cast(data, postgresql.JSONB)
        if not columns:
            return sa.func.jsonb_array_elements_text(document).table_valued("value").alias(name)
        records = sa.func.jsonb_to_recordset(document).table_valued(
            *(sa.column(column, type_) for column, type_ in columns)
        )
        return records.render_derived(name, with_types=True)
    each = sa.func.json_each(data).table_valued("value").alias(name)
    if not columns:
        return each
    return sa.select(
        *(
            sa.type_coerce(sa.func.json_extract(each.c.value, f"$.{column}"), type_).label(column)
            for column, type_ in columns
        )
    ).subquery(name)


class DriverSQL(NamedTuple):
    """A Core statement as :func:`driver_connection` sends it."""

    text: str  # compiled for the dialect, bound parameters as ``%(name)s``
    constants: dict[str, Any]  # the values of the statement's own bound constants

    def params(self, **given: Any) -> dict[str, Any]:
        """The parameters to send: the statement's constants and ``given``."""
        return {**self.constants, **given}


def driver_sql(statement: sa.ClauseElement, engine: Engine) -> DriverSQL:
    """``statement`` compiled once per statement and dialect for :func:`driver_connection`."""
    return _compiled(statement, engine.dialect)


@functools.lru_cache(maxsize=64)
def _compiled(statement: sa.ClauseElement, dialect: sa.Dialect) -> DriverSQL:
    compiled = statement.compile(dialect=dialect)
    constants = {k: v for k, v in compiled.params.items() if v is not None}
    return DriverSQL(str(compiled), constants)


def make_engine(
    url: str,
    echo: bool = False,
    pre_ping: bool = False,
    read_only_file: bool = False,
    create_file: bool = True,
) -> Engine:
    """Create the engine for ``url`` (``sqlite:///…`` or ``postgresql+psycopg://…``).

    ``read_only_file`` (SQLite): open the file read-only, so that nothing is written to
    it, not even its journal mode (a backup in rollback-journal mode stays one), and no
    missing file is created. ``create_file`` (SQLite): a missing file is created (mode
    0600) when first connecting; without it, connecting raises :class:`NoDatabaseFile`.

    PostgreSQL connections are recycled after 30 minutes (idle connections cut by a
    firewall or a proxy never reach a request). ``pre_ping`` tests every connection
    at each checkout from the pool (``driver_connection``'s too), but within
    :func:`untested_checkout`: one more round trip per checkout, in exchange for not
    failing the first request a worker serves after the server restarted (without it,
    that request fails, as a 503, and the pool's connections are replaced). The
    application turns it on unless ``REGISTRY_DATABASE_PRE_PING`` says otherwise.
    """
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
        database = sa.engine.make_url(url).database
        if read_only_file and database:
            path = urllib.parse.quote(str(Path(database).resolve()))
            kwargs["creator"] = lambda: sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, **kwargs["connect_args"]
            )
    else:
        kwargs["pool_recycle"] = 1800
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        if not read_only_file and create_file:
            _create_database_file_on_connect(engine)
        elif not read_only_file:
            _refuse_missing_file_on_connect(engine)
        _configure_sqlite(engine, read_only_file)
        return engine
    sa.event.listen(engine, "do_connect", _in_utc)
    if pre_ping:
        _ping_on_checkout(engine)
    return engine


def _in_utc(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
    """PostgreSQL connections speak UTC whatever the server's or the database's
    ``TimeZone``: the statements the driver runs without the ORM (``ledger.append``'s
    reads) get their instants in UTC, as :class:`UTCDateTime` gives them, and no text
    the database writes of an instant depends on its settings. Added to the startup
    options a database URL may already carry, or else to those of the environment
    (``PGOPTIONS``, which libpq reads only when no options are given). A connection
    pooler in front of PostgreSQL must pass startup options on (PgBouncer 1.20 or
    later: docs/operations.md)."""
    given = params.get("options", os.environ.get("PGOPTIONS", ""))
    params["options"] = f"{given} -c TimeZone=UTC".strip()


# On a pool connection record's info: a new connection, not yet handed out (it is not
# tested), and whether the latest checkout tested it (``db_traffic`` counts these).
_FRESH = "registry.fresh"
PINGED = "registry.pinged"
_untested: contextvars.ContextVar[bool] = contextvars.ContextVar("untested", default=False)


@contextmanager
def untested_checkout() -> Iterator[None]:
    """Within it, a pooled connection is handed out without being tested first: for
    a caller whose first exchange on it begins nothing on the server (reads, a
    ``BEGIN``) and starts over on a new connection when that exchange finds it dead
    (:class:`FirstExchangeLost`). That exchange is then the test, and the round trip a
    ping would take is saved."""
    token = _untested.set(True)
    try:
        yield
    finally:
        _untested.reset(token)


class FirstExchangeLost(Exception):
    """The connection of an :func:`untested_checkout` was found dead at its first
    exchange, which had begun nothing on the server: the unit of work may start again
    (on a new connection: the pool was replaced). ``error`` is the driver's."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _ping_on_checkout(engine: Engine) -> None:
    """Test each pooled connection as it is handed out (a new one is not), as
    SQLAlchemy's ``pool_pre_ping`` does, but for an :func:`untested_checkout`. A dead
    one makes the pool start over, as SQLAlchemy's does: every connection it held
    before is replaced (the server restarted, say), and this checkout gets a new one."""

    @event.listens_for(engine, "connect")
    def _new(_dbapi_connection: Any, record: Any) -> None:
        record.info[_FRESH] = True

    @event.listens_for(engine, "checkout")
    def _test(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        record.info[PINGED] = False
        if record.info.pop(_FRESH, False) or _untested.get():
            return
        record.info[PINGED] = True
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if not engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise
            raise sa.exc.InvalidatePoolError(str(exc)) from exc


def sqlite_file_exists(url: sa.URL) -> bool:
    """Whether a SQLite URL names a database that exists (in-memory and ``file:`` URIs
    are taken to): connecting to a missing file would create an empty one."""
    name = url.database
    return name in (None, "", ":memory:") or name.startswith("file:") or Path(name).exists()


def _reason(exc: sa.exc.DBAPIError) -> str:
    return " ".join(str(exc.orig).split()) or type(exc.orig).__name__


def no_schema(exc: sa.exc.DBAPIError) -> bool:
    """Whether a database error says the database has no registry schema (a table is
    missing: never migrated, or not the registry's database)."""
    reason = _reason(exc)
    return isinstance(exc, sa.exc.OperationalError | sa.exc.ProgrammingError) and (
        "no such table" in reason or ("relation" in reason and "does not exist" in reason)
    )


def unreadable(exc: sa.exc.DBAPIError) -> str:
    """What a database error says about the database, in one line."""
    reason = _reason(exc)
    if no_schema(exc):
        return f"the database has no registry schema (run registry db upgrade?): {reason}"
    if isinstance(exc, sa.exc.OperationalError):
        return f"the database cannot be opened or reached: {reason}"
    return f"the database cannot be read (damaged, or not a registry database): {reason}"


class Database:
    """An engine and its session factory."""

    def __init__(
        self,
        url: str,
        echo: bool = False,
        ledger: Any = None,
        pre_ping: bool = False,
        kept_checkpoint: Any = None,
        create_file: bool = True,
    ) -> None:
        """``ledger``: the ledger's signing settings (``LedgerSettings``), given to every
        session in ``Session.info``; without them no checkpoints are signed.
        ``kept_checkpoint``: where the latest signed checkpoint is kept outside the
        database (``ledger.kept.KeptCheckpoint``), also in ``Session.info``.
        ``create_file``: as :func:`make_engine`'s."""
        self.url = url
        self.engine = make_engine(url, echo=echo, pre_ping=pre_ping, create_file=create_file)
        info: dict[str, Any] | None = {"ledger": ledger} if ledger else None
        if kept_checkpoint is not None:
            info = {**(info or {}), "kept_checkpoint": kept_checkpoint}
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, info=info)
        # For requests and commands that only read.
        self.read_engine = read_only(self.engine)
        self.read_sessionmaker = sessionmaker(self.read_engine, expire_on_commit=False, info=info)

    def share(self, key: str, value: Any, *, reading_only: bool = False) -> None:
        """Give every session made from now on ``value`` under ``key`` in its ``info``
        (as the signing settings; e.g. the witness submitter, which needs the
        sessionmakers first); with ``reading_only``, only the read sessions."""
        makers = [self.read_sessionmaker]
        if not reading_only:
            makers.append(self.sessionmaker)
        for maker in makers:
            maker.configure(info={**maker.kw.get("info", {}), key: value})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for one unit of work: commit on success, rollback on error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def answers(self) -> bool:
        """Whether the database answers a query now (the readiness check): one
        ``SELECT 1`` on a pooled read connection."""
        try:
            with self.read_engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
