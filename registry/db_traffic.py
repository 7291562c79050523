"""What a PostgreSQL engine's connections send, counted at the driver.

For the benchmarks and the tests that hold the hottest paths to their number of round
trips. It sees every path to the server: SQLAlchemy's execution layer and the driver
connections of :func:`registry.db.driver_connection` alike, because it counts in the
driver's cursors (installed on each connection as the pool hands it out, so one
already checked out when counting starts is not seen). One thread at a time.

- ``statements``: every statement sent, in order;
- ``begins``: transactions opened: psycopg sends ``BEGIN`` (a round trip of its own)
  before a statement on a connection that is not in autocommit and not already in a
  transaction. Each ends with a ``COMMIT`` or ``ROLLBACK``, another round trip;
- ``pipelines``: psycopg pipelines sent (``registry.ledger.append``): the statements
  in one, and a ``BEGIN`` it starts with, go to the server in one round trip
  (``piped``: how many statements went that way, ``piped_begins``: how many BEGINs,
  ``piped_ends``: how many COMMITs or ROLLBACKs, which then take no round trip of
  their own);
- ``timings``: (statement, when it was sent (``time.perf_counter()``), seconds until
  it returned, autocommit?) of each statement;
- ``pings``: connections tested before use (``REGISTRY_DATABASE_PRE_PING``,
  ``registry.db.make_engine``): a round trip at each checkout of a pooled connection
  but a new one's first and those of ``db.untested_checkout``, sent before the
  connection is handed out, and not among ``statements``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import pq

from registry.db import PINGED


class DriverTraffic:
    """Counts what ``engine``'s connections send from now until :meth:`close`."""

    def __init__(self, engine: sa.Engine) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("DriverTraffic counts psycopg's traffic: PostgreSQL only")
        self.engine = engine
        self.statements: list[str] = []
        self.begins = 0
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
                    traffic.begins += 1
                    traffic.piped_begins += piped
                text = query if isinstance(query, str) else str(query)
                traffic.statements.append(text)
                traffic.piped += piped
                if piped and text.strip().upper() in ("COMMIT", "ROLLBACK"):
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

    @staticmethod
    def _checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            dbapi_connection.cursor_factory = psycopg.Cursor
            dbapi_connection.__dict__.pop("pipeline", None)

    def reset(self) -> None:
        self.statements.clear()
        self.timings.clear()
        self.begins = 0
        self.pipelines = self.piped = self.piped_begins = self.piped_ends = 0
        self.pings = 0

    @property
    def round_trips(self) -> int:
        """Statements and pipelines, a BEGIN (unless pipelined) and an end of each
        transaction, and pings."""
        alone = len(self.statements) - self.piped
        begins = self.begins - self.piped_begins
        return alone + self.pipelines + begins + (self.begins - self.piped_ends) + self.pings

    def close(self) -> None:
        self.open = False
        sa.event.remove(self.engine, "checkout", self._checkout)
        sa.event.remove(self.engine, "checkin", self._checkin)
