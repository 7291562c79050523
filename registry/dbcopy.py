"""Moving a whole registry to another database (``registry db copy``): SQLite to
PostgreSQL, back, or to the same engine.

The source is read in one consistent snapshot (a SQLite read transaction; on
PostgreSQL a REPEATABLE READ, READ ONLY transaction) and must be at the code's head
revision with a ledger that verifies. The target must be empty: it is migrated to that
revision and filled, every table in dependency order with its ids as they are, in one
transaction, which commits only once every table's rows match the source's (count and
a digest of every value as the application reads it), the sequences are reset
(PostgreSQL) and the ledger verifies on the target. Anything less writes nothing.

Every table is copied, the idempotency keys too (expired ones included: the registry
purges them itself, and a retried POST must still find its first answer). Rows are
read and written in batches, so memory does not grow with the registry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.util import CommandError
from sqlalchemy.orm import Session

import registry.models  # noqa: F401  (every table on the metadata)
from registry.db import Base, make_engine, read_only, sqlite_file_exists, unreadable
from registry.ledger.models import Checkpoint
from registry.ledger.store import LEDGER_LOCK_KEY, verify_ledger
from registry.ledger.verify import LedgerReport
from registry.migrate import current_revision, head_revision, known_revision, upgrade_on
from registry.records.search_index import UNMAPPED_TABLES

BATCH = 2_000
ALEMBIC_TABLE = "alembic_version"
ENGINES = ("sqlite", "postgresql")


class CopyRefused(Exception):
    """The copy was not made (nothing was written to the target): one line says why."""


@dataclass
class TableCopied:
    name: str
    rows: int


@dataclass
class CopyReport:
    """What a copy did: the revision, the rows of each table, the target's ledger."""

    revision: str
    tables: list[TableCopied] = field(default_factory=list)
    ledger: LedgerReport = field(default_factory=LedgerReport)
    checkpoint: tuple[int, str] | None = None  # the latest signed one: tree size, key id

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def summary(self) -> str:
        lines = [
            f"Copied {len(self.tables)} tables, {self.rows} rows, at revision {self.revision}:",
            "  " + ", ".join(f"{t.name} {t.rows}" for t in self.tables),
            f"Ledger on the target intact up to seq {self.ledger.events} "
            f"({self.ledger.versions} versions, {self.ledger.checkpoints} signed "
            f"checkpoints, head {self.ledger.head}).",
        ]
        if self.checkpoint is None:
            lines.append("No signed checkpoint: the ledger has never been signed.")
        else:
            size, key_id = self.checkpoint
            lines.append(f"Latest checkpoint: {size} events, signed by key {key_id}.")
        if self.ledger.uncovered:
            lines.append(
                f"{self.ledger.unsigned_tail()}: run registry ledger checkpoint on the target."
            )
        return "\n".join(lines)


def copy_registry(
    source_url: str,
    target_url: str,
    trusted_keys: list[str],
    *,
    batch: int = BATCH,
    progress: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy the registry at ``source_url`` into the empty database at ``target_url``.

    ``trusted_keys``: verifier keys the source's and the target's checkpoints are
    checked against (as ``registry ledger verify``). ``progress(table, rows)`` is told
    of every batch written. Raises :class:`CopyRefused` with nothing written.
    """
    source, target = _url(source_url, "source"), _url(target_url, "target")
    if same_database(source, target):
        raise CopyRefused("The source and the target are the same database: name another.")
    if source.get_backend_name() == "sqlite" and not sqlite_file_exists(source):
        raise CopyRefused(f"Cannot read the source: there is no database at {source.database}.")
    with _snapshot(source) as reading:
        revision = _check_source(reading, trusted_keys)
        with _empty_target(target) as writing:
            report = CopyReport(revision)
            try:
                upgrade_on(writing, revision)
            except CommandError as exc:
                raise CopyRefused(f"The target cannot be migrated: {exc}.") from None
            _check_tables(writing, "the target, once migrated,")
            for table in Base.metadata.sorted_tables:
                rows, digest = _copy_table(reading, writing, table, batch, progress)
                _check_copied(writing, table, rows, digest, batch)
                report.tables.append(TableCopied(table.name, rows))
            if writing.dialect.name == "postgresql":
                _reset_sequences(writing)
            report.ledger = _verify(writing, trusted_keys)
            if not report.ledger.ok:
                raise CopyRefused(f"The copy's ledger does not verify: {_problem(report.ledger)}")
            last = writing.execute(
                sa.select(Checkpoint.tree_size, Checkpoint.key_id)
                .order_by(Checkpoint.tree_size.desc())
                .limit(1)
            ).first()
            report.checkpoint = (int(last[0]), last[1]) if last else None
    return report


def same_database(a: sa.URL, b: sa.URL) -> bool:
    """Whether two URLs name the same database (whatever user or driver they use)."""
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        if a.database in (None, "", ":memory:") or b.database in (None, "", ":memory:"):
            return False
        return Path(a.database).resolve() == Path(b.database).resolve()
    return (a.host or "localhost", a.port or 5432, a.database) == (
        b.host or "localhost",
        b.port or 5432,
        b.database,
    )


def _url(text: str, which: str) -> sa.URL:
    try:
        url = sa.engine.make_url(text)
    except sa.exc.ArgumentError:
        raise CopyRefused(f"The {which} is not a database URL: {text!r}.") from None
    if url.get_backend_name() not in ENGINES:
        raise CopyRefused(
            f"The {which} must be a SQLite or PostgreSQL database, not {url.get_backend_name()}."
        )
    return url


def _shown(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


@contextmanager
def _snapshot(url: sa.URL) -> Iterator[sa.Connection]:
    """A connection to the source inside a transaction that reads one snapshot (a
    SQLite file is opened read-only: the copy writes nothing to it)."""
    engine = make_engine(url.render_as_string(hide_password=False), read_only_file=True)
    try:
        try:
            if engine.dialect.name == "postgresql":
                connection = engine.connect().execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            else:
                # A deferred BEGIN: the snapshot is taken at the first read and held to
                # the end, while the registry goes on writing (WAL).
                connection = read_only(engine).connect()
            connection.begin()
        except sa.exc.DBAPIError as exc:
            raise CopyRefused(f"Cannot read the source: {unreadable(exc)}") from None
        try:
            yield connection
        finally:
            connection.close()
    finally:
        engine.dispose()


def _check_source(reading: sa.Connection, trusted_keys: list[str]) -> str:
    """The source's revision, once it is the code's head, holds no table the registry
    does not know, and its ledger verifies."""
    try:
        revision = current_revision(reading)
        head = head_revision()
        if revision is None:
            raise CopyRefused("Cannot read the source: it has no registry schema (never migrated).")
        if revision != head:
            if known_revision(revision):
                raise CopyRefused(
                    f"The source is at revision {revision}, the registry's code at {head}: "
                    "run registry db upgrade on the source first."
                )
            raise CopyRefused(
                f"The source is at revision {revision}, which this registry's code does not "
                "know: copy it with the registry version that wrote it."
            )
        _check_tables(reading, "the source")
        report = _verify(reading, trusted_keys)
    except sa.exc.DBAPIError as exc:
        raise CopyRefused(f"Cannot read the source: {unreadable(exc)}") from None
    if not report.ok:
        raise CopyRefused(
            f"The source's ledger does not verify ({_problem(report)}): only an intact "
            "ledger is copied."
        )
    return revision


def _problem(report: LedgerReport) -> str:
    where = f"at event {report.problem_seq}: " if report.problem_seq is not None else ""
    return f"{where}{report.problem}"


def _check_tables(connection: sa.Connection, which: str) -> None:
    """A registry database at the head revision has exactly the metadata's tables (and
    Alembic's): a table made only in SQL would otherwise be left behind."""
    present = set(sa.inspect(connection).get_table_names())
    unknown = present - set(Base.metadata.tables) - {ALEMBIC_TABLE} - UNMAPPED_TABLES
    missing = set(Base.metadata.tables) - present
    if unknown or missing:
        raise CopyRefused(
            f"The tables of {which} are not the registry's: "
            + "; ".join(
                part
                for part in (
                    f"unknown {', '.join(sorted(unknown))}" if unknown else "",
                    f"missing {', '.join(sorted(missing))}" if missing else "",
                )
                if part
            )
            + "."
        )


def _verify(connection: sa.Connection, trusted_keys: list[str]) -> LedgerReport:
    """Verify the ledger as ``connection`` sees it (a snapshot, or rows not committed)."""
    session = Session(bind=connection)
    try:
        return verify_ledger(session, trusted_keys, own_connection=True)
    finally:
        session.close()


@contextmanager
def _empty_target(url: sa.URL) -> Iterator[sa.Connection]:
    """A connection to the empty target in a transaction that commits when the block
    succeeds. On any failure it rolls back, and a SQLite file this call created is
    removed: nothing is left written."""
    file = Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None
    created = file is not None and not file.exists()
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        try:
            connection = engine.connect()
            transaction = connection.begin()  # SQLite: BEGIN IMMEDIATE, the write lock
        except sa.exc.DBAPIError as exc:
            raise CopyRefused(f"Cannot write to the target: {unreadable(exc)}") from None
        try:
            if engine.dialect.name == "postgresql":
                # Any registry process writing to the target waits for the copy.
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(LEDGER_LOCK_KEY)))
            _check_empty(connection, url)
            yield connection
            transaction.commit()
        except sa.exc.DBAPIError as exc:
            raise CopyRefused(
                f"Nothing was copied: the target refused a write ({unreadable(exc)})."
            ) from None
        finally:
            if transaction.is_active:
                transaction.rollback()
            connection.close()
    except BaseException:
        engine.dispose()
        if created and file is not None:
            for leftover in (file, Path(f"{file}-wal"), Path(f"{file}-shm")):
                with suppress(FileNotFoundError):
                    leftover.unlink()
        raise
    engine.dispose()


def _check_empty(connection: sa.Connection, url: sa.URL) -> None:
    """The target has no table but the registry's (a database just created, or one
    migrated and never used), and none of them holds a row."""
    present = set(sa.inspect(connection).get_table_names())
    foreign = present - set(Base.metadata.tables) - {ALEMBIC_TABLE} - UNMAPPED_TABLES
    if foreign:
        raise CopyRefused(
            f"The target {_shown(url)} is not empty: it has tables the registry does not "
            f"({', '.join(sorted(foreign))})."
        )
    for name in sorted(present - {ALEMBIC_TABLE} - UNMAPPED_TABLES):
        if connection.execute(
            sa.select(sa.literal(1)).select_from(sa.table(name)).limit(1)
        ).first():
            raise CopyRefused(
                f"The target {_shown(url)} is not empty: table {name} has rows. "
                "Copy into a new, empty database."
            )


def _row_digest(row: Any) -> int:
    return int.from_bytes(hashlib.sha256(repr(tuple(row)).encode()).digest(), "big")


_DIGEST_MODULUS = 1 << 256


def _rows(connection: sa.Connection, table: sa.Table, batch: int) -> Iterator[list[Any]]:
    """The table's rows in batches, in primary-key order (a server-side cursor on
    PostgreSQL)."""
    result = connection.execute(
        sa.select(table).order_by(*table.primary_key.columns),
        execution_options={"yield_per": batch},
    )
    try:
        yield from result.partitions()
    finally:
        result.close()


def _source_rows(connection: sa.Connection, table: sa.Table, batch: int) -> Iterator[list[Any]]:
    """:func:`_rows` of the source, whose errors say they are the source's."""
    try:
        yield from _rows(connection, table, batch)
    except sa.exc.DBAPIError as exc:
        raise CopyRefused(
            f"Nothing was copied: cannot read the source ({unreadable(exc)})."
        ) from None


def _copy_table(
    reading: sa.Connection,
    writing: sa.Connection,
    table: sa.Table,
    batch: int,
    progress: Callable[[str, int], None] | None,
) -> tuple[int, int]:
    """Copy every row of ``table``; its row count and digest (a sum of row hashes,
    which does not depend on the order rows are read in)."""
    rows = digest = 0
    insert = table.insert()
    for part in _source_rows(reading, table, batch):
        writing.execute(insert, [dict(row._mapping) for row in part])
        rows += len(part)
        digest = (digest + sum(_row_digest(row) for row in part)) % _DIGEST_MODULUS
        if progress is not None:
            progress(table.name, len(part))
    return rows, digest


def _check_copied(
    writing: sa.Connection, table: sa.Table, rows: int, digest: int, batch: int
) -> None:
    """The target's rows of ``table``, read back as the application reads them, are the
    source's: as many, and the same values (instants to the microsecond, bytes, text,
    booleans, numbers)."""
    count = writing.scalar(sa.select(sa.func.count()).select_from(table))
    if count != rows:
        raise CopyRefused(
            f"Nothing was copied: table {table.name} has {count} rows on the target, "
            f"{rows} on the source."
        )
    back = 0
    for part in _rows(writing, table, batch):
        back = (back + sum(_row_digest(row) for row in part)) % _DIGEST_MODULUS
    if back != digest:
        raise CopyRefused(
            f"Nothing was copied: table {table.name} reads back differently on the target."
        )


_SEQUENCES = sa.text(
    "SELECT table_name, column_name, seq FROM ("
    " SELECT table_name, column_name,"
    "  pg_get_serial_sequence(quote_ident(table_name), column_name) AS seq"
    " FROM information_schema.columns WHERE table_schema = current_schema()"
    ") c WHERE seq IS NOT NULL ORDER BY table_name, column_name"
)


def _reset_sequences(writing: sa.Connection) -> None:
    """Every serial or identity column's sequence continues after the largest id
    copied (rows inserted with their ids do not move it)."""
    for table, column, sequence in writing.execute(_SEQUENCES).all():
        top = writing.scalar(sa.select(sa.func.max(sa.column(column))).select_from(sa.table(table)))
        writing.execute(_SETVAL, {"sequence": sequence, "next": (top or 0) + 1})


_SETVAL = sa.text("SELECT setval(CAST(:sequence AS regclass), :next, false)")
