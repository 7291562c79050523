"""Files only their owner may read (mode 0600 from the moment they exist): the
session secret, the ledger's signing key, the SQLite database and the demo passwords.

A file is never created with the default mode and narrowed afterwards (which leaves a
moment in which others may open it); it is created with mode 0600 by ``mkstemp`` or
``os.open`` and, when written, given its name only once complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE = 0o600


def write_private(path: Path, text: str, *, replace: bool = False) -> bool:
    """Write ``text`` to ``path`` (mode 0600), all at once: a reader sees the whole
    file or none. Without ``replace`` an existing file stands (another process may have
    written it first) and the answer is False; True when this call wrote the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)  # never overwrites
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (an existing file keeps its
    mode). SQLite takes an empty file for a new database, and gives the ``-wal`` and
    ``-shm`` files it makes beside it the database file's mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
