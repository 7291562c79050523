"""The one way anything is appended to the ledger: lock, read, check, seal, store.

A writer takes the ledger lock and reads the state it decides on under it
(:func:`lock_and_read`), decides in Python with the precondition its decision rests
on: "the scope's last event is still ``seq``" (a scope is a system, whose every change
is an event naming it, or the whole ledger), which the lock makes hold. It then seals
the event (sequencing, chaining and hashing happen here, once, in Python, for every
engine: :func:`seal`) and stores it with its own rows (:func:`store`). A writer that
read before the lock (:func:`read`, then :func:`lock`) checks the precondition under it
and, if it no longer holds, reads and decides again.

The drivers only store; they know no rule of any write and compute no hash:

- PostgreSQL: :func:`lock_and_read` sends, as one pipeline, the transaction's
  ``BEGIN`` (sent by this module, not by psycopg, which would wait for its answer
  before sending the rest: see :func:`_begin_here`), what :func:`read_first` queued
  (an API token's lookup), the call of
  ``registry_ledger_lock_scope()`` (migration 0010: the advisory lock, then the head and
  the scope's last ``seq``, read with a snapshot taken once the lock is granted), the
  ids the new rows will take and the state reads, each statement seeing every change
  committed before the lock was granted (one round trip). :func:`store` builds one
  statement (the event's INSERT and the writer's, as data-modifying CTEs) and keeps it
  pending: it goes to the server with the transaction's ``COMMIT``, in one round trip
  (or before any other statement of the transaction, which must see it). Two round
  trips in all; the lock is held over the decision, the sealing and the last one.
- SQLite: a writing transaction starts with ``BEGIN IMMEDIATE`` (``registry.db``),
  which holds the database's write lock: the same statements, one after the other, at
  once; the precondition always holds.

Nothing commits here: the request or CLI command owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.pq import TransactionStatus
from psycopg.rows import namedtuple_row
from sqlalchemy.orm import Session

from registry.db import FirstExchangeLost, driver_sql, untested_checkout
from registry.ledger.checkpoints import checkpoint_due, maybe_checkpoint
from registry.ledger.models import AuditEvent
from registry.ledger.store import INSERT_EVENT, LedgerHead, event_time, head_from_row, next_event
from registry.ledger.systems_map import LINK

_event = AuditEvent.__table__
IDLE = TransactionStatus.IDLE

# A statement, or a pair of them (PostgreSQL's, SQLite's), with its parameters.
Statement = tuple[Any, dict[str, Any]]
PENDING = "registry.ledger.pending"  # on a connection's info: the statement not yet sent
FIRST = "registry.ledger.first"  # on a connection's info: reads queued by read_first
# On a connection's info: this module sent its transaction's BEGIN, with the driver in
# autocommit until the transaction ends (see _send).
OWN_BEGIN = "registry.ledger.own_begin"


@dataclass(frozen=True)
class Precondition:
    """What a decision rests on: the last event of system ``system_id`` (of the whole
    ledger when None) is still ``seq`` (0: there is none)."""

    system_id: int | None
    seq: int


@dataclass(frozen=True)
class Locked:
    """The ledger lock is held: the head and the scope's last event as read under it,
    and the ids the caller's new rows take."""

    head: LedgerHead
    scope_seq: int
    ids: list[int]

    def holds(self, precondition: Precondition) -> bool:
        return precondition.seq == self.scope_seq


def scope_seq(system_id: Any) -> sa.ScalarSelect[Any]:
    """The last ``seq`` of system ``system_id`` (a value or an SQL expression), for a
    caller's state read: what its decision's :class:`Precondition` names."""
    return (
        sa.select(sa.func.coalesce(sa.func.max(_event.c.seq), 0))
        .where(_event.c.system_id == system_id)
        .scalar_subquery()
    )


def ledger_seq() -> sa.ScalarSelect[Any]:
    """The ledger's last ``seq``, for a state read whose scope is the whole ledger."""
    return sa.select(sa.func.coalesce(sa.func.max(_event.c.seq), 0)).scalar_subquery()


_HEAD_COLUMNS = (
    sa.column("seq", sa.BigInteger),
    sa.column("event_hash", sa.String),
    sa.column("recorded_at", AuditEvent.__table__.c.recorded_at.type),
    sa.column("scope_seq", sa.BigInteger),
)


def lock_statement(scope: Any) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The statement that takes the lock and reads the head and the last ``seq`` of the
    system ``scope`` (an SQL expression, None: the whole ledger), for PostgreSQL and for
    SQLite. Build it once per kind of scope (the driver compiles it once)."""
    locked = sa.func.registry_ledger_lock_scope(scope).table_valued(*_HEAD_COLUMNS).alias("l")
    postgresql = sa.select(*locked.c)
    last = sa.select(_event).order_by(_event.c.seq.desc()).limit(1).subquery()
    sqlite = sa.select(
        last.c.seq,
        last.c.event_hash,
        last.c.recorded_at,
        (ledger_seq() if scope is None else scope_seq(scope)).label("scope_seq"),
    ).select_from(sa.select(sa.literal(1)).subquery().outerjoin(last, sa.true()))
    return postgresql, sqlite


@functools.lru_cache(maxsize=8)
def _next_ids(tables: tuple[sa.Table, ...]) -> sa.Select[Any]:
    """The id the next row of each of ``tables`` takes: one more than the largest, read
    under the ledger lock (by a statement that starts once the lock is granted, so it
    sees every row committed before), on both engines. Rows are added to these tables
    only under the lock, so ids follow one another without gaps (a refused write takes
    none) and are the same on both engines; their PostgreSQL sequences are not used."""
    return sa.select(
        *(
            sa.select(sa.func.coalesce(sa.func.max(t.c.id), 0) + 1)
            .scalar_subquery()
            .label(f"id_{t.name}")
            for t in tables
        )
    )


def read(session: Session, reads: Sequence[Statement]) -> list[list[Any]]:
    """The caller's state, read before the ledger lock: the rows of each of ``reads``
    (one round trip on PostgreSQL, with the reads queued by :func:`read_first`)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return [connection.execute(_for(s, 1), values).all() for s, values in reads]
    return _pipeline(session, [(_for(s, 0), values) for s, values in reads])


# A read queued by read_first: its statement, parameters, what receives its rows, and
# the condition a ledger lock taken in the same exchange waits on (or None).
First = tuple[Any, dict[str, Any], Callable[[list[Any]], None], Any]


def read_first(
    session: Session,
    statement: Any,
    params: dict[str, Any],
    receive: Callable[[list[Any]], None],
    guard: sa.ColumnElement[bool] | None = None,
) -> None:
    """Queue a read that the unit of work needs before anything else it reads is used
    (an API token's lookup), on PostgreSQL: it goes to the server with the session's
    first round trip (a write's state reads, :func:`read`: the transaction's ``BEGIN``,
    it and those reads in one pipeline), or by itself just before any other statement
    of the session (:func:`send_first` sends it at once). ``receive`` gets its rows as
    soon as they are back, before any other result is returned; when it raises, nothing
    else read is used. It knows no rule: the caller's ``receive`` decides. A ledger
    lock taken in the same round trip (:func:`lock_and_read`) is taken only if
    ``guard`` (an SQL condition on ``params``, e.g. "a token with this hash exists")
    holds: a unit of work that ``receive`` will refuse need not hold the lock.

    Queued before anything else of the session, it makes the first exchange a test of
    the connection: a pooled one is handed out untested (``db.untested_checkout``, no
    ping), and found dead at that exchange, which began nothing on the server, it
    raises ``db.FirstExchangeLost``, on which the caller starts its unit of work again
    (then on a new connection)."""
    with untested_checkout():
        connection = session.connection()  # the session's one pooled connection
    _watch(connection.engine)
    connection.info.setdefault(FIRST, []).append((statement, params, receive, guard))


def send_first(session: Session) -> None:
    """Send what :func:`read_first` queued now, if it has not gone yet."""
    connection = session.connection()
    if FIRST in connection.info:
        _send_first(connection, session.get_bind())


def lock(
    session: Session, lock_with: tuple[sa.Select[Any], sa.Select[Any]], params: dict[str, Any]
) -> Locked:
    """Take the ledger lock with ``lock_with`` (from :func:`lock_statement`, given
    ``params``): one round trip on PostgreSQL."""
    return _locked(read(session, [(lock_with, params)])[0][0], None)


def _locked(head: Any, ids: Any) -> Locked:
    return Locked(
        head_from_row(head if head.seq is not None else None),
        int(head.scope_seq or 0),
        [] if ids is None else [int(i) for i in ids],
    )


def lock_and_read(
    session: Session,
    lock_with: tuple[sa.Select[Any], sa.Select[Any]],
    params: dict[str, Any],
    new_rows: Sequence[sa.Table],
    reads: Sequence[Statement],
) -> tuple[Locked, list[list[Any]]]:
    """Take the ledger lock as :func:`lock` does, read the ids of a new row of each
    table in ``new_rows`` (:func:`_next_ids`), then the caller's state under the lock
    (the rows of each of ``reads``): on PostgreSQL one pipeline, the transaction's
    ``BEGIN`` and the reads queued by :func:`read_first` with them (one round trip;
    each statement after the lock sees every change committed before it was granted).
    A decision on that state rests on a precondition that holds."""
    locking: Any = lock_with
    for _, values, _, guard in session.connection().info.get(FIRST, []):
        if guard is not None:  # goes in the same round trip: the lock waits on it
            locking = _guarded(lock_with, guard)
            params = {**params, **values}
    ids = [(_next_ids(tuple(new_rows)), {})] if new_rows else []
    rows = read(session, [(locking, params), *ids, *reads])
    if not rows[0]:  # its reader (receive) accepted what the guard did not
        raise RuntimeError("the ledger lock was not taken: its guard did not hold")
    return _locked(rows[0][0], rows[1][0] if ids else None), rows[1 + len(ids) :]


@functools.lru_cache(maxsize=32)
def _guarded(
    lock_with: tuple[sa.Select[Any], sa.Select[Any]], guard: sa.ColumnElement[bool]
) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """``lock_with`` taking the lock only if ``guard`` holds: PostgreSQL tests a
    condition that names nothing of the FROM clause once, before the function is
    called (a one-time filter). Queued reads are PostgreSQL's only."""
    return lock_with[0].where(guard), lock_with[1]


def seal(
    head: LedgerHead, fields: dict[str, Any], system_id: int | None, now: dt.datetime
) -> dict[str, Any]:
    """The row of the event after ``head``: its ``seq``, previous hash, time (``now``,
    from :func:`next_time`), canonical bytes and hashes."""
    return next_event(head, fields, system_id, now)


def next_time(head: LedgerHead) -> dt.datetime:
    """The time of the event after ``head`` (strictly after it: see ``store.event_time``)."""
    return event_time(head)


# On the session's ``info``: (action, kind) of each event stored in its transaction,
# which the app counts once the transaction commits (registry.metrics).
APPENDED = "registry.appended"


def appended(session: Session) -> list[tuple[str, str]]:
    """The (action, kind) of the events the session's transaction stored; forgotten."""
    return session.info.pop(APPENDED, [])


def store(session: Session, event: dict[str, Any], rows: Sequence[Statement] = ()) -> None:
    """Store the sealed ``event`` and then ``rows`` (the caller's statements, their
    parameters named not starting with ``e_``), and the checkpoint that may be due with
    it. On PostgreSQL one statement, sent with the transaction's ``COMMIT`` (or before
    the transaction's next statement), unless a checkpoint is due: then at once."""
    said = json.loads(event["event"])  # a few hundred bytes: microseconds
    session.info.setdefault(APPENDED, []).append((said["action"], said.get("kind") or ""))
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(INSERT_EVENT, event)
        for statement, values in rows:
            connection.execute(statement, values)
        maybe_checkpoint(session, _head_of(event))
        return
    statement = _together(tuple(statement for statement, _ in rows))
    params = {f"e_{name}": value for name, value in event.items()}
    for _, values in rows:
        params.update(values)
    compiled = driver_sql(statement, session.get_bind())
    _send_pending(connection)
    _watch(connection.engine)
    connection.info[PENDING] = (compiled.text, compiled.params(**params))
    if checkpoint_due(session, event["seq"]):
        _send_pending(connection)
        maybe_checkpoint(session, _head_of(event))


def flush(session: Session) -> None:
    """Send what :func:`store` keeps pending (the transaction's statements see it)."""
    _send_pending(session.connection())


def append_event(
    session: Session, fields: dict[str, Any], *, system_id: int | None = None
) -> dict[str, Any]:
    """Append one event that rests on nothing but the ledger (an export, a key, an
    account change): lock, seal, store, in the caller's transaction; its row. An event
    about system ``system_id`` locks with that system's scope and links to its last
    event (``system_prev``)."""
    if system_id is None:
        head = lock(session, _LOCK_LEDGER, {}).head
    else:
        locked = lock(session, _LOCK_SYSTEM, {"system_id": system_id})
        head = locked.head
        fields = {**fields, LINK: locked.scope_seq}
    event = seal(head, fields, system_id, next_time(head))
    store(session, event)
    return event


def _head_of(event: dict[str, Any]) -> LedgerHead:
    return LedgerHead(event["seq"], event["event_hash"], event["recorded_at"])


def _for(statement: Any, engine: int) -> Any:
    return statement[engine] if isinstance(statement, tuple) else statement


@functools.lru_cache(maxsize=16)
def _together(statements: tuple[sa.Executable, ...]) -> sa.Select[Any]:
    """``WITH ev AS (INSERT INTO audit_event …), r0 AS (statement 0 RETURNING …), …
    SELECT …``: every part runs, in one statement."""
    event = (
        sa.insert(_event)
        .values({c.name: sa.bindparam(f"e_{c.name}", type_=c.type) for c in _event.columns})
        .returning(_event.c.seq)
        .cte("ev")
    )
    parts = [statement.cte(f"r{i}") for i, statement in enumerate(statements)]  # type: ignore[attr-defined]
    columns = [sa.select(part.c[0]).scalar_subquery() for part in parts]
    return sa.select(sa.select(event.c.seq).scalar_subquery(), *columns)


def _pipeline(session: Session, statements: Sequence[Statement]) -> list[list[Any]]:
    """Send ``statements`` on the session's connection as one psycopg pipeline (one round
    trip: a ``BEGIN`` the transaction needs goes with them; one statement in a
    transaction is simply sent); their rows, in order."""
    connection = session.connection()
    _send_pending(connection)
    first: list[First] = connection.info.pop(FIRST, [])
    return _send(connection, session.get_bind(), [*first, *statements], first)


def _send(
    connection: sa.Connection,
    engine: sa.Engine,
    statements: Sequence[Statement | First],
    first: Sequence[First] = (),
) -> list[list[Any]]:
    """``statements`` in one round trip (a pipeline, or one statement alone when no
    ``BEGIN`` has to go with it); the first ``len(first)`` are handed to their
    receivers before the others' rows are returned."""
    driver = connection.connection.driver_connection
    began_nothing = driver.info.transaction_status == IDLE  # on the server, so far
    begin = began_nothing and not driver.autocommit
    cursors: list[Any] = []
    try:
        if len(statements) == 1 and not begin:
            compiled = driver_sql(statements[0][0], engine)
            cursor = driver.cursor(row_factory=namedtuple_row)
            results = [
                cursor.execute(compiled.text, compiled.params(**statements[0][1])).fetchall()
            ]
        else:
            if begin:
                _begin_here(connection, driver)
            with driver.pipeline():
                if begin:  # never prepared, as psycopg's own BEGIN is not
                    driver.execute(_begin_statement(driver), prepare=False)
                for statement, values, *_ in statements:
                    compiled = driver_sql(statement, engine)
                    cursor = driver.cursor(row_factory=namedtuple_row)
                    cursor.execute(compiled.text, compiled.params(**values))
                    cursors.append(cursor)
            results = [cursor.fetchall() for cursor in cursors]
    except psycopg.Error as exc:
        if driver.broken or driver.closed:
            # As SQLAlchemy does on a disconnect: this connection is discarded, and the
            # pool's others are likely dead too (the server restarted, say).
            connection.invalidate()
            engine.dispose()  # the idle ones closed; one checked out finishes its work
            if first and began_nothing:  # read_first's exchange: see there
                raise FirstExchangeLost(exc) from exc
        else:
            _received_before(first, cursors)
        raise
    for (_, _, receive, _), rows in zip(first, results, strict=False):
        receive(rows)
    return results[len(first) :]


def _begin_here(connection: sa.Connection, driver: psycopg.Connection[Any]) -> None:
    """This module sends the transaction's ``BEGIN``, first in its pipeline: psycopg,
    beginning a transaction in a pipeline, sends its ``BEGIN`` with a sync of its own
    and waits for the answer before anything else is sent (a round trip more). The
    driver is put in autocommit so that it sends none; its commit and rollback still
    end the transaction (they go by the server's transaction status), and once the
    transaction has ended the driver leaves autocommit again (:func:`_end_own_begin`,
    at the commit, the rollback, or the connection's return to the pool)."""
    _watch(connection.engine)
    driver.autocommit = True  # idle, no pipeline: only a flag of the driver's, no round trip
    connection.info[OWN_BEGIN] = True


def _begin_statement(driver: psycopg.Connection[Any]) -> str:
    """The ``BEGIN`` that psycopg would send for the connection's settings."""
    parts = ["BEGIN"]
    if driver.isolation_level is not None:
        level = psycopg.IsolationLevel(driver.isolation_level).name.replace("_", " ")
        parts.append(f"ISOLATION LEVEL {level}")
    if driver.read_only is not None:
        parts.append("READ ONLY" if driver.read_only else "READ WRITE")
    if driver.deferrable is not None:
        parts.append("DEFERRABLE" if driver.deferrable else "NOT DEFERRABLE")
    return " ".join(parts)


def _end_own_begin(info: dict[Any, Any], driver: psycopg.Connection[Any]) -> None:
    """The transaction this module began ends (rolled back unless it already has: a
    commit ended it, or the connection is closed); the driver leaves autocommit. It
    never raises (it runs in the commit's, the rollback's and the pool's listeners):
    a connection that cannot be reset is closed, never left in autocommit, and the
    pool replaces it as a lost one at its next use."""
    if not info.pop(OWN_BEGIN, False) or driver.closed:
        return
    try:
        if driver.info.transaction_status != IDLE:
            driver.rollback()
        driver.autocommit = False
    except psycopg.Error:
        driver.close()


def _received_before(first: Sequence[First], cursors: list[Any]) -> None:
    """A statement of the pipeline failed: the first reads answered before it are
    handed to their receivers all the same, so that what they decide comes first (an
    unknown token is a 401, whatever failed after its lookup: a lock timeout, a
    cancelled statement)."""
    for (_, _, receive, _), cursor in zip(first, cursors, strict=False):
        try:
            rows = cursor.fetchall()
        except psycopg.Error:  # not answered: the failure came first
            return
        receive(rows)


def _send_first(connection: sa.Connection, engine: sa.Engine) -> None:
    first: list[First] = connection.info.pop(FIRST, [])
    if first:
        _send(connection, engine, first, first)


# ----------------------------------------------------------------------------- pending


def _send_pending(connection: sa.Connection) -> None:
    pending = connection.info.pop(PENDING, None)
    if pending is not None:
        connection.connection.driver_connection.execute(*pending)


_WATCHED: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def _watch(engine: sa.Engine) -> None:
    """Send a pending store before the transaction's next statement and with its
    commit; forget it when the transaction rolls back."""
    if engine in _WATCHED:
        return
    sa.event.listen(engine, "before_cursor_execute", _before_statement)
    sa.event.listen(engine, "commit", _with_commit)
    sa.event.listen(engine, "rollback", _forget)
    sa.event.listen(engine, "checkin", _forget_on_checkin)
    _WATCHED.add(engine)


def _before_statement(connection: sa.Connection, *_args: Any) -> None:
    if FIRST in connection.info:
        _send_first(connection, connection.engine)
    if PENDING in connection.info:
        _send_pending(connection)


def _with_commit(connection: sa.Connection) -> None:
    """The pending statement and ``COMMIT`` in one round trip; the driver's own commit
    that follows finds the transaction ended and sends nothing. A transaction this
    module began is committed here too, and the driver leaves autocommit."""
    pending = connection.info.pop(PENDING, None)
    if pending is None and OWN_BEGIN not in connection.info:
        return
    driver = connection.connection.driver_connection
    try:
        with driver.pipeline():
            if pending is not None:
                driver.execute(*pending)
            driver.execute("COMMIT")
    finally:
        # Committed; or failed, and then rolled back here: SQLAlchemy sends no
        # rollback of a transaction whose commit failed, and the connection may stay
        # with its caller (the pool's reset would come only at its return).
        _end_own_begin(connection.info, driver)


def _forget(connection: sa.Connection) -> None:
    if connection.invalidated:  # its record forgets it as it goes back to the pool
        return
    connection.info.pop(PENDING, None)
    connection.info.pop(FIRST, None)
    _end_own_begin(connection.info, connection.connection.driver_connection)


def _forget_on_checkin(dbapi_connection: Any, record: Any) -> None:
    record.info.pop(PENDING, None)
    record.info.pop(FIRST, None)
    if dbapi_connection is not None:
        _end_own_begin(record.info, dbapi_connection)


_LOCK_LEDGER = lock_statement(None)
_LOCK_SYSTEM = lock_statement(sa.bindparam("system_id", type_=sa.Integer))
