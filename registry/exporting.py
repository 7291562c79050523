"""An evidence pack's export in its two transactions, the same for every surface (the
API, the web and the command line): the surfaces' own transaction handling, since the
service (``evidence.pack``) never commits.

1. Pin the as-of instant to the ledger (``pack.pin``: under the ledger lock, perhaps
   signing a checkpoint) and commit, so the lock is not held while the pack is made.
   Then submit the pinned checkpoint to the witnesses (``pack.witness``) and commit
   their answers, so the pack carries their cosignatures (no witness job is queued for
   it: the export submits it before building).
2. Build the pack, place it and append the export's event (``pack.recorded``), and
   commit; the pack is kept only once that commit succeeds.

When the second step fails it is rolled back and the error says what the first one
left (``pack.failure``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.evidence import pack
from registry.ledger.submitter import submitter_of


def export(
    session: Session,
    read: Session,
    actor: Actor,
    out_dir: Path,
    files: pack.PackFiles,
    *,
    references: list[str] | None = None,
    as_of: dt.datetime | None = None,
    progress: pack.Progress | None = None,
) -> pack.Exported:
    """Export the pack of ``references`` (None: the whole registry) as of ``as_of``
    (None: now) into ``out_dir``, carrying the documents' files from ``files``, and
    record the export in the ledger: ``session`` writes, ``read`` reads the content."""
    pinned, signer = pack.pin(session, actor, as_of)
    submitter = submitter_of(session)
    if submitter is not None:
        submitter.take(session)  # submitted below, before the pack is built
    session.commit()
    try:
        witnessed = pack.witness(session, submitter, pinned)
        session.commit()  # the witnesses' answers, which the pack carries
        with pack.recorded(
            session, read, actor, out_dir, references, pinned, signer, files, progress
        ) as done:
            session.commit()
    except Exception as exc:
        session.rollback()
        error = pack.failure(exc, pinned)
        if error is exc:
            raise
        raise error from exc
    return dataclasses.replace(done, witnesses=witnessed)
