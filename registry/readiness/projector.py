"""Storing the readiness projection's new results (``readiness.projection``), or another
kept list's (the due items of ``notifications.due_list``), in a short write transaction
of its own, so that a read (a read session, which never writes) leaves what it
evaluated for the next one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from registry.outage import unavailable_reason
from registry.readiness.projection import upsert

log = logging.getLogger(__name__)


class Projector:
    """Keeps evaluated projection rows. Failing to store them costs only a later
    evaluation, so a database that is busy or away never fails the read that asked."""

    def __init__(
        self,
        writing: sessionmaker[Session],
        store: Callable[..., None] = upsert,
        name: str = "readiness projection",
    ) -> None:
        self.writing = writing
        self.store = store
        self.name = name

    def keep(self, *args: Any) -> None:
        """Store what a read evaluated: ``store(session, *args)`` (by default
        ``projection.upsert``: rows, and the cursor to move to) in one transaction."""
        try:
            with self.writing() as session:
                self.store(session, *args)
                session.commit()
        except sa.exc.OperationalError as exc:  # busy (SQLite's lock) or unavailable
            log.warning("%s not stored: %s", self.name, exc)
        except sa.exc.DBAPIError as exc:
            if unavailable_reason(exc) is None:
                raise
            log.warning("%s not stored: %s", self.name, exc)
