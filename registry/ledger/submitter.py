"""Every newly signed checkpoint goes to the witnesses, after the commit that signed it.

Checkpoints are signed inside write transactions (``checkpoints.maybe_checkpoint``
after an append, on demand, in pinning an export): the witnesses must never be asked
from inside one (HTTP under the ledger lock, or SQLite's write lock), and a witness that
is down must never fail the write. So the transaction only marks that it signed
(``checkpoints.SIGNED``); once it commits, the session event :meth:`after_commit` wakes
this process's submitter, which sends the newest checkpoint to each configured witness
from a thread of its own, with sessions of its own: reads on a read session, the answers
stored in a short write transaction of their own.

The thread runs while there is work and ends when there is none; it is not a daemon,
so a command that signed a checkpoint waits for its submission (at most the witness
timeout per witness) before the process exits. Wake-ups while it works coalesce: the
newest checkpoint is what is sent. This is the one place a job queue replaces.

Exports submit their pinned checkpoint themselves, at once (:meth:`submit_now`), so that
the pack carries the cosignatures.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from registry.ledger.checkpoints import SIGNED
from registry.ledger.models import Checkpoint
from registry.ledger.witnessing import (
    DEFAULT_TIMEOUT,
    Outcome,
    WitnessConfigError,
    WitnessSpec,
    last_cosigned_size,
    submit,
    submit_latest,
)

log = logging.getLogger(__name__)

INFO_KEY = "ledger.witnesses"


class WitnessSubmitter:
    """Submits checkpoints to the witnesses ``specs()`` names (read at each round, so
    a changed setting applies at once), ``timeout`` seconds per HTTP request."""

    def __init__(
        self,
        writing: sessionmaker[Session],
        reading: sessionmaker[Session],
        specs: Callable[[], list[WitnessSpec]],
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.writing = writing
        self.reading = reading
        self.specs = specs
        self.timeout = timeout
        self._state = threading.Lock()  # guards _pending and _thread
        self._round = threading.Lock()  # one submission round at a time in this process
        self._pending = False
        self._thread: threading.Thread | None = None

    # --- session events ---------------------------------------------------------------

    def after_commit(self, session: Session) -> None:
        """Session event: a committed transaction that signed a checkpoint wakes the
        submitter."""
        if session.info.pop(SIGNED, None) is not None and self.configured():
            self.wake()

    @staticmethod
    def after_rollback(session: Session) -> None:
        """Session event: a checkpoint rolled back was never signed."""
        session.info.pop(SIGNED, None)

    # --- the background round ---------------------------------------------------------

    def wake(self) -> None:
        """Submit the newest checkpoint soon, from the submitter's thread."""
        with self._state:
            self._pending = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="witness-submitter", daemon=False
                )
                self._thread.start()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until nothing is left to submit (tests, shutdown); False on timeout."""
        with self._state:
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._state:
                if not self._pending:
                    self._thread = None
                    return
                self._pending = False
            try:
                for outcome in self.submit_latest():
                    self._log(outcome)
            except Exception:  # never let a witness round take the process down
                log.exception("Submitting the latest checkpoint to the witnesses failed")

    # --- rounds -----------------------------------------------------------------------

    def configured(self) -> list[WitnessSpec]:
        try:
            return self.specs()
        except WitnessConfigError as exc:
            log.error("REGISTRY_WITNESSES: %s: no checkpoint is submitted", exc)
            return []

    def submit_latest(self) -> list[Outcome]:
        """Submit the newest signed checkpoint to every witness now; store and commit
        their answers."""
        specs = self.configured()
        if not specs:
            return []
        with self._round, self.reading() as read, self.writing() as write:
            outcomes = submit_latest(write, specs, timeout=self.timeout, read=read)
            write.commit()
        return outcomes

    @staticmethod
    def take(session: Session) -> None:
        """The caller submits the checkpoint its transaction signed itself, at once
        (:meth:`submit_now`, :meth:`submit_latest`): no background round for it."""
        session.info.pop(SIGNED, None)

    def submit_now(self, tree_size: int, timeout: float | None = None) -> list[Outcome]:
        """Submit the checkpoint of ``tree_size`` events now (an export's pinned one) to
        each witness that has not cosigned it nor a larger one yet; store and commit
        their answers. ``timeout``: at most this many seconds per witness."""
        specs = self.configured()
        if not specs:
            return []
        wait = self.timeout if timeout is None else min(timeout, self.timeout)
        with self._round, self.reading() as read, self.writing() as write:
            checkpoint = read.scalar(sa.select(Checkpoint).where(Checkpoint.tree_size == tree_size))
            if checkpoint is None:
                return []
            outcomes = [
                submit(write, spec, checkpoint, timeout=wait, read=read)
                for spec in specs
                if last_cosigned_size(read, spec) < tree_size
            ]
            write.commit()
        for outcome in outcomes:
            self._log(outcome)
        return outcomes

    @staticmethod
    def _log(outcome: Outcome) -> None:
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
