"""When the database is away: the one rule that tells a database that is down,
restarting, full or read-only from a bug, and the error every surface answers with.

A request that fails because the database is unavailable is not the registry's fault
and not the client's: the API answers ``503`` with ``Retry-After`` (code
``database_unavailable``), the web a plain 503 page, the command line one line and exit
status 2. Any other database error (a programming error, an integrity error) stays a
bug: a 500.
"""

from __future__ import annotations

import enum
import sqlite3

import psycopg
import sqlalchemy as sa

from registry.db import FirstExchangeLost
from registry.errors import RegistryError


class Reason(enum.Enum):
    """Why the database is unavailable, as the sentence "The registry's database …"
    goes on."""

    UNREACHABLE = "cannot be reached"
    LOST = "closed the connection (it may be restarting)"
    FULL = "is full"
    OUT_OF_RESOURCES = "is out of resources"
    READ_ONLY = "is read-only"
    BUSY = "is busy (another transaction held a lock longer than the registry waits)"
    IO_ERROR = "reported a disk I/O error"


# PostgreSQL SQLSTATEs (appendix A of its manual): a whole class, or one condition.
_PG_STATES = {
    "08001": Reason.UNREACHABLE,  # sqlclient_unable_to_establish_sqlconnection
    "08004": Reason.UNREACHABLE,  # sqlserver_rejected_establishment_of_sqlconnection
    "53100": Reason.FULL,  # disk_full
    "53300": Reason.UNREACHABLE,  # too_many_connections
    "57P01": Reason.LOST,  # admin_shutdown
    "57P02": Reason.LOST,  # crash_shutdown
    "57P03": Reason.UNREACHABLE,  # cannot_connect_now (starting up, shutting down)
    "57P04": Reason.LOST,  # database_dropped
    "57P05": Reason.LOST,  # idle_session_timeout
    "25006": Reason.READ_ONLY,  # read_only_sql_transaction
    "55P03": Reason.BUSY,  # lock_not_available: lock_timeout ran out (SQLite's busy timeout)
}
_PG_CLASSES = {"08": Reason.LOST, "53": Reason.OUT_OF_RESOURCES}

# SQLite's primary result codes (extended codes share the name's prefix, e.g.
# SQLITE_READONLY_DBMOVED, SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT).
_SQLITE_CODES = {
    "SQLITE_FULL": Reason.FULL,
    "SQLITE_READONLY": Reason.READ_ONLY,
    "SQLITE_CANTOPEN": Reason.UNREACHABLE,
    "SQLITE_IOERR": Reason.IO_ERROR,
    "SQLITE_BUSY": Reason.BUSY,
    "SQLITE_LOCKED": Reason.BUSY,
}


def unavailable_reason(exc: BaseException) -> Reason | None:
    """Why ``exc`` means the database is unavailable, or None when it does not (a bug,
    bad data, anything else). ``exc`` may be SQLAlchemy's wrapper or the driver's own
    error (``db.driver_connection`` raises psycopg's)."""
    if isinstance(exc, FirstExchangeLost):  # not started again: the driver's error
        exc = exc.error
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:  # SQLAlchemy saw the connection break
            return Reason.LOST
        exc = exc.orig
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:
            # Raised by the client library, not the server: no connection could be
            # made, or the one in use broke or was already closed.
            if not isinstance(exc, psycopg.OperationalError):
                return None
            if str(exc).startswith("connection failed"):
                return Reason.UNREACHABLE
            return Reason.LOST
        return _PG_STATES.get(state) or _PG_CLASSES.get(state[:2])
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", None) or ""
        for prefix, reason in _SQLITE_CODES.items():
            if name == prefix or name.startswith(prefix + "_"):
                return reason
    return None


class DatabaseUnavailable(RegistryError):
    """The database is unavailable: down, restarting, full or read-only. Try again."""

    status = 503
    title = "Service unavailable"
    code = "database_unavailable"

    def __init__(self, message: str, reason: Reason) -> None:
        super().__init__(message, reason=reason.name.lower())
        self.reason = reason


def unavailable(
    exc: BaseException, *, changing: bool, retry_after: int | None, what: str = "request"
) -> DatabaseUnavailable | None:
    """The error a request (or, with ``what``, a command) that failed on ``exc`` answers
    with, or None when ``exc`` does not mean the database is unavailable. ``changing``:
    it may have changed something (a request other than GET or HEAD). ``retry_after``:
    the seconds to wait, or None (later).

    The outcome is told as it is known: nothing was changed, except that a connection
    lost while a change was being committed leaves unknown whether it was."""
    reason = unavailable_reason(exc)
    if reason is None:
        return None
    message = f"The registry's database {reason.value}, so this {what} was not completed."
    if changing and reason is Reason.LOST:
        message += (
            " If the connection was lost while the change was being committed, it may "
            "have been saved: check before making it again."
        )
    else:
        message += " Nothing was changed."
    if retry_after is None:
        message += " Try again later."
        return DatabaseUnavailable(message, reason)
    message += f" Try again in {retry_after} seconds."
    error = DatabaseUnavailable(message, reason)
    error.details["retry_after"] = retry_after
    return error
