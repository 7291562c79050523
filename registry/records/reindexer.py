"""Keeping the systems' search index (``records.search_index``) after a write commits,
on a connection of its own.

A write of a profile or an owner entry only notes the system it changed
(:func:`search_index.changed`); once its transaction has committed (and released the
ledger lock), :meth:`Reindexer.after_commit` makes those systems' rows again from the
committed records: on PostgreSQL a read and an upsert in autocommit, two round trips
(``search_index.refresh_autocommit``), on SQLite the same statements in a short
transaction. So a write sends nothing more inside the
ledger lock, and the rows are always made from records that are committed. Two of
these running for one system at once cannot leave the older row: each row carries the
system's last ledger ``seq`` it was made from (read in the same statement as its
records), and a row never replaces one made from a later ``seq``. If the
database refuses those statements (busy or away), the rows lag until the system's
next write or ``registry search rebuild``; the write itself has already succeeded."""

from __future__ import annotations

import logging

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from registry.outage import unavailable_reason
from registry.records import search_index

log = logging.getLogger(__name__)


class Reindexer:
    """Session events of the app's sessions (``extensions.init_app``)."""

    def __init__(self, writing: sessionmaker[Session]) -> None:
        self.writing = writing

    def after_commit(self, session: Session) -> None:
        system_ids = search_index.take_changed(session)
        if not system_ids:
            return
        try:
            self._refresh(system_ids)
        except (sa.exc.OperationalError, psycopg.OperationalError) as exc:  # busy or away
            log.warning("search index not kept for systems %s: %s", system_ids, exc)
        except (sa.exc.DBAPIError, psycopg.Error) as exc:
            if unavailable_reason(exc) is None:
                raise
            log.warning("search index not kept for systems %s: %s", system_ids, exc)

    def _refresh(self, system_ids: list[int]) -> None:
        engine = self.writing.kw["bind"]
        if engine.dialect.name == "postgresql":
            search_index.refresh_autocommit(engine, system_ids)
            return
        with self.writing() as fresh:
            search_index.refresh(fresh, system_ids)
            fresh.commit()

    @staticmethod
    def after_rollback(session: Session) -> None:
        search_index.take_changed(session)
