"""Storing the readiness projection's new results (``readiness.projection``) in a short
write transaction of its own, so that a read (a read session, which never writes)
leaves what it evaluated for the next one."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from registry.outage import unavailable_reason
from registry.readiness.projection import upsert

log = logging.getLogger(__name__)


class Projector:
    """Keeps evaluated projection rows. Failing to store them costs only a later
    evaluation, so a database that is busy or away never fails the read that asked."""

    def __init__(self, writing: sessionmaker[Session]) -> None:
        self.writing = writing

    def keep(self, rows: list[dict[str, Any]], cursor: int | None = None) -> None:
        """Store ``rows`` and move the cursor to ``cursor`` (``projection.upsert``)."""
        try:
            with self.writing() as session:
                upsert(session, rows, cursor)
                session.commit()
        except sa.exc.OperationalError as exc:  # busy (SQLite's lock) or unavailable
            log.warning("readiness projection not stored: %s", exc)
        except sa.exc.DBAPIError as exc:
            if unavailable_reason(exc) is None:
                raise
            log.warning("readiness projection not stored: %s", exc)
