"""Submitting signed checkpoints to the witnesses, and storing their answers, in the
caller's transaction.

Checkpoints are signed inside write transactions (``checkpoints.maybe_checkpoint``
after an append, on demand, in pinning an export): the witnesses must never be asked
from inside one (HTTP under the ledger lock, or SQLite's write lock), and a witness that
is down must never fail the write. So the transaction only marks that it signed
(``checkpoints.SIGNED``); once it commits, the job queue's session event sends the
newest checkpoint to the witnesses as a job (``jobs.tasks``: the job commits what this
module stores, as ``registry ledger witness`` does), and every minute the schedule
submits it to any witness that has not cosigned it yet (one that was down).

Reads go through a read session of the submitter's own, so the writing session begins
no transaction before the witnesses have answered. Exports submit their pinned
checkpoint themselves, at once (:meth:`WitnessSubmitter.submit_now`), so that the pack
carries the cosignatures; they :meth:`~WitnessSubmitter.take` the mark so that no job
submits it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from registry.ledger.checkpoints import SIGNED, last_checkpoint
from registry.ledger.models import Checkpoint
from registry.ledger.witnessing import (
    DEFAULT_TIMEOUT,
    Outcome,
    WitnessConfigError,
    WitnessSpec,
    last_cosigned_size,
    submit,
)

log = logging.getLogger(__name__)

INFO_KEY = "ledger.witnesses"


class WitnessSubmitter:
    """Submits checkpoints to the witnesses ``specs()`` names (read at each round, so a
    changed setting applies at once), ``timeout`` seconds per HTTP request, reading
    through sessions of ``reading``. Stores the answers in the session handed in;
    never commits."""

    def __init__(
        self,
        reading: sessionmaker[Session],
        specs: Callable[[], list[WitnessSpec]],
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.reading = reading
        self.specs = specs
        self.timeout = timeout

    def configured(self) -> list[WitnessSpec]:
        try:
            return self.specs()
        except WitnessConfigError as exc:
            log.error("REGISTRY_WITNESSES: %s: no checkpoint is submitted", exc)
            return []

    @staticmethod
    def signed(session: Session) -> bool:
        """Whether the transaction just ended signed a checkpoint (the mark is taken)."""
        return session.info.pop(SIGNED, None) is not None

    @staticmethod
    def take(session: Session) -> None:
        """The caller submits the checkpoint its transaction signed itself, at once
        (:meth:`submit_now`, :meth:`submit_latest`): no job for it."""
        session.info.pop(SIGNED, None)

    def submit_latest(self, session: Session, *, behind_only: bool = False) -> list[Outcome]:
        """Submit the newest signed checkpoint to every witness (``behind_only``: to each
        that has not cosigned it nor a larger one yet); store their answers in
        ``session`` (flushed, not committed)."""
        specs = self.configured()
        if not specs:
            return []
        with self.reading() as read:
            checkpoint = last_checkpoint(read)
            if checkpoint is None:
                return []
            return self._submit(session, read, specs, checkpoint, self.timeout, behind_only)

    def submit_now(
        self, session: Session, tree_size: int, timeout: float | None = None
    ) -> list[Outcome]:
        """Submit the checkpoint of ``tree_size`` events now (an export's pinned one) to
        each witness that has not cosigned it nor a larger one yet; store their answers
        in ``session`` (flushed, not committed). ``timeout``: at most this many seconds
        per witness."""
        specs = self.configured()
        if not specs:
            return []
        wait = self.timeout if timeout is None else min(timeout, self.timeout)
        with self.reading() as read:
            checkpoint = read.scalar(sa.select(Checkpoint).where(Checkpoint.tree_size == tree_size))
            if checkpoint is None:
                return []
            outcomes = self._submit(session, read, specs, checkpoint, wait, True)
        for outcome in outcomes:
            log_outcome(outcome)
        return outcomes

    @staticmethod
    def _submit(
        session: Session,
        read: Session,
        specs: list[WitnessSpec],
        checkpoint: Checkpoint,
        timeout: float,
        behind_only: bool,
    ) -> list[Outcome]:
        return [
            submit(session, spec, checkpoint, timeout=timeout, read=read)
            for spec in specs
            if not behind_only or last_cosigned_size(read, spec) < checkpoint.tree_size
        ]


def log_outcome(outcome: Outcome) -> None:
    """A witness's answer in the log: a refusal is an alarm."""
    if outcome.result == "refused":
        log.error("ALARM: %s", outcome.line())
    elif outcome.result == "cosigned":
        log.info("%s", outcome.line())
    else:
        log.warning("%s", outcome.line())


def submitter_of(session: Session) -> WitnessSubmitter | None:
    """The submitter of the application the session belongs to (None: no witnesses
    are wired, e.g. a bare ``Database``)."""
    return session.info.get(INFO_KEY)
