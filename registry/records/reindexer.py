"""Keeping the systems' search index (``records.search_index``) after a write commits,
in a short transaction of its own.

A write of a profile or an owner entry only notes the system it changed
(:func:`search_index.changed`); once its transaction has committed (and released the
ledger lock), :meth:`Reindexer.after_commit` makes those systems' rows again from the
committed records. So a write sends nothing more inside the ledger lock, and the rows
are always made from records that are committed. Two of these running for one system
at once cannot leave the older row: each row carries the system's last ledger ``seq``
it was made from, and a row never replaces one made from a later ``seq``. If the
database refuses the short transaction (busy or away), the rows lag until the system's
next write or ``registry search rebuild``; the write itself has already succeeded."""

from __future__ import annotations

import logging

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
            with self.writing() as fresh:
                search_index.refresh(fresh, system_ids)
                fresh.commit()
        except sa.exc.OperationalError as exc:  # busy (SQLite's lock) or unavailable
            log.warning("search index not kept for systems %s: %s", system_ids, exc)
        except sa.exc.DBAPIError as exc:
            if unavailable_reason(exc) is None:
                raise
            log.warning("search index not kept for systems %s: %s", system_ids, exc)

    @staticmethod
    def after_rollback(session: Session) -> None:
        search_index.take_changed(session)
