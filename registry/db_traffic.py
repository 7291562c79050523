"""What a PostgreSQL engine's connections send, counted at the driver.

For the benchmarks and the tests that hold the hottest paths to their number of round
trips. It sees every path to the server: SQLAlchemy's execution layer and the driver
connections of :func:`registry.db.driver_connection` alike, because it counts in the
driver's cursors (installed on each connection as the pool hands it out, so one
already checked out when counting starts is not seen). One thread at a time.

- ``statements``: every statement sent, in order;
- ``begins``: transactions opened. psycopg sends ``BEGIN`` before a statement on a
  connection that is not in autocommit and not already in a transaction, and waits
  for its answer: a round trip of its own, in a pipeline too (psycopg syncs the
  pipeline after it). A ``BEGIN`` sent as a statement (``registry.ledger.append``
  does, first in its pipeline) is counted here as well. Each transaction ends with a
  ``COMMIT`` or ``ROLLBACK``, another round trip;
- ``pipelines``: psycopg pipelines sent (``registry.ledger.append``): the statements
  in one go to the server in one round trip (``piped``: how many statements went that
  way, ``piped_begins``: how many of them were a ``BEGIN``, ``piped_ends``: how many
  COMMITs or ROLLBACKs, which then take no round trip of their own);
- ``timings``: (statement, when it was sent (``time.perf_counter()``), seconds until
  it returned, autocommit?) of each statement;
- ``pings``: connections tested before use (``REGISTRY_DATABASE_PRE_PING``,
  ``registry.db.make_engine``): a round trip at each checkout of a pooled connection
  but a new one's first and those of ``db.untested_checkout``, sent before the
  connection is handed out, and not among ``statements``.

With ``wire``, each connection's protocol messages are traced by libpq as well
(``PQtrace``), and ``exchanges`` counts the round trips that really happened: each
time the client, having sent, read the server's answer. The tests compare it with
``round_trips``, which is only this module's reading of what the driver does. Not
traced: the pings (sent before the trace starts), and what a connection sends at its
return to the pool after the counting began on it (psycopg's ``DEALLOCATE ALL`` after
a rollback once it has prepared statements, say). For tests: each trace leaves a small
stdio handle of the driver's open.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import pq

from registry.db import PINGED

# The pool's events before it closes a connection (invalidated, or closed as surplus).
CLOSING = ("invalidate", "close", "close_detached")


class DriverTraffic:
    """Counts what ``engine``'s connections send from now until :meth:`close`."""

    def __init__(self, engine: sa.Engine, *, wire: bool = False) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("DriverTraffic counts psycopg's traffic: PostgreSQL only")
        self.engine = engine
        self.wire = wire
        self._traced: list[tuple[Any, Any]] = []  # (libpq connection, its trace file)
        self._exchanged = 0  # round trips read from traces already closed
        self.statements: list[str] = []
        self.begins = 0
        self.own_begins = 0  # psycopg's: each a round trip of its own
        self.pipelines = 0
        self.piped = 0
        self.piped_begins = 0
        self.piped_ends = 0
        self.timings: list[tuple[str, float, float, bool]] = []
        self.pings = 0
        self.open = True
        traffic = self

        class CountingCursor(psycopg.Cursor):  # type: ignore[type-arg]
            def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
                if traffic.open:  # one batch: counted as one statement
                    traffic.statements.append(query if isinstance(query, str) else str(query))
                return super().executemany(query, params_seq, **kwargs)

            def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                if not traffic.open:  # on a connection checked out before close()
                    return super().execute(query, params, **kwargs)
                connection = self.connection
                autocommit = connection.autocommit
                idle = connection.pgconn.transaction_status == pq.TransactionStatus.IDLE
                piped = connection.pgconn.pipeline_status != pq.PipelineStatus.OFF
                if idle and not autocommit:
                    traffic.begins += 1  # psycopg's own: a round trip, piped or not
                    traffic.own_begins += 1
                text = query if isinstance(query, str) else str(query)
                word = text.strip().split(" ", 1)[0].upper()
                if word == "BEGIN":  # sent as a statement: goes as one
                    traffic.begins += 1
                    traffic.piped_begins += piped
                traffic.statements.append(text)
                traffic.piped += piped
                if piped and word in ("COMMIT", "ROLLBACK"):
                    traffic.piped_ends += 1  # the transaction ends with the pipeline
                started = time.perf_counter()
                try:
                    return super().execute(query, params, **kwargs)
                finally:
                    returned = time.perf_counter()
                    traffic.timings.append((text, started, returned - started, autocommit))

        self._cursor = CountingCursor
        sa.event.listen(engine, "checkout", self._checkout)
        sa.event.listen(engine, "checkin", self._checkin)
        for closing in CLOSING:  # libpq writes its trace before the connection goes
            sa.event.listen(engine, closing, self._closing)

    def _checkout(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # The engine's own checkout listener, registered first, tested it or not.
        self.pings += bool(record.info.get(PINGED))
        dbapi_connection.cursor_factory = self._cursor
        traffic = self
        pipeline = type(dbapi_connection).pipeline

        @contextlib.contextmanager
        def counted(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with pipeline(dbapi_connection, *args, **kwargs) as opened:
                yield opened
            if traffic.open:
                traffic.pipelines += 1

        dbapi_connection.pipeline = counted
        if self.wire:
            self._trace(dbapi_connection.pgconn)

    def _checkin(self, dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            dbapi_connection.cursor_factory = psycopg.Cursor
            dbapi_connection.__dict__.pop("pipeline", None)
            self._untrace(dbapi_connection.pgconn)

    def _closing(self, dbapi_connection: Any, *_args: Any) -> None:
        if dbapi_connection is not None:
            self._untrace(dbapi_connection.pgconn)

    def _trace(self, pgconn: Any) -> None:
        trace = tempfile.TemporaryFile()
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        self._traced.append((pgconn, trace))

    def _untrace(self, pgconn: Any) -> None:
        """Stop tracing ``pgconn`` (libpq writes what it holds) and count its trace."""
        for traced in [t for t in self._traced if t[0] is pgconn]:
            self._traced.remove(traced)
            with contextlib.suppress(psycopg.Error):
                pgconn.untrace()
            _, trace = traced
            trace.seek(0)
            self._exchanged += exchanges(trace.read().decode(errors="replace"))
            trace.close()

    def _read_traces(self) -> None:
        """Count what the traces hold so far; the connections still out are traced on."""
        for pgconn, _ in list(self._traced):
            self._untrace(pgconn)
            self._trace(pgconn)

    @property
    def exchanges(self) -> int:
        """Round trips on the wire so far (``wire`` only)."""
        if not self.wire:
            raise ValueError("exchanges are counted with wire=True")
        self._read_traces()
        return self._exchanged

    def reset(self) -> None:
        self.statements.clear()
        self.timings.clear()
        self.begins = self.own_begins = 0
        self.pipelines = self.piped = self.piped_begins = self.piped_ends = 0
        self.pings = 0
        self._read_traces()
        self._exchanged = 0

    @property
    def round_trips(self) -> int:
        """Statements sent alone and pipelines, psycopg's own BEGINs, an end of each
        transaction unless pipelined, and pings."""
        alone = len(self.statements) - self.piped  # a BEGIN sent alone among them
        ends = self.begins - self.piped_ends
        return alone + self.pipelines + self.own_begins + ends + self.pings

    def close(self) -> None:
        self.open = False
        sa.event.remove(self.engine, "checkout", self._checkout)
        sa.event.remove(self.engine, "checkin", self._checkin)
        for closing in CLOSING:
            sa.event.remove(self.engine, closing, self._closing)
        for pgconn, _ in list(self._traced):
            self._untrace(pgconn)


def exchanges(trace: str) -> int:
    """Round trips in a libpq trace: the times the server's messages (``B``) follow
    the client's (``F``)."""
    count, sent = 0, False
    for line in trace.splitlines():
        direction = line.split("\t", 1)[0]
        if direction == "F":
            sent = True
        elif direction == "B" and sent:
            count, sent = count + 1, False
    return count
