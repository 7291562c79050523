"""Strong entity tags for entry versions, and ``If-Match`` on every change.

An entry version's representation never changes (versions are immutable), so the pair
(entry id, version number) is a strong validator: ``ETag: "12.3"``. A change names
the version it was based on with ``If-Match``; without it the registry answers 428,
and when another change came first, 412 with the current version. Several tags: the
change goes ahead, on the current version, when its tag is among them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import request

from registry.errors import RegistryError

_TAG = re.compile(r'"(\d{1,10})\.(\d{1,10})"')


class PreconditionRequired(RegistryError):
    status = 428
    title = "Precondition required"


def etag(entry_id: int, number: int) -> str:
    return f'"{entry_id}.{number}"'


def base_version(entry_id: int, current_version: Callable[[], int]) -> int:
    """The version an update or retirement of ``entry_id`` is based on, from If-Match.

    ``current_version`` reads the entry's head, only to explain a refusal here; the
    write itself checks the base version under the ledger lock.
    """
    header = request.headers.get("If-Match")
    if header is None or not header.strip():
        current = current_version()
        raise PreconditionRequired(
            f"Changing entry {entry_id} needs an If-Match header with the ETag of the "
            f"version you based the change on (the current one is {etag(entry_id, current)}).",
            entry_id=entry_id,
        )
    tags = [t.strip() for t in header.split(",")]
    if "*" in tags:
        current = current_version()
        raise PreconditionRequired(
            "If-Match: * would overwrite whatever is current: name the version you based "
            f"the change on, e.g. If-Match: {etag(entry_id, current)}.",
            entry_id=entry_id,
        )
    versions = [
        int(m.group(2))
        for t in tags
        if (m := _TAG.fullmatch(t))
        and int(m.group(1)) == entry_id
        and 0 < int(m.group(2)) < 2**31 - 1
    ]
    if not versions:
        # Weak tags, other entries' tags and anything unparsable never match: based on
        # "version 0", which the write refuses as stale (412) in the documented order,
        # after the problems of the body (422).
        return 0
    if len(set(versions)) == 1:
        return versions[0]
    # Several tags: the condition holds when the current one is among them (RFC 9110,
    # 13.1.1), and the change is then based on it; else on one that is not current,
    # refused as stale like a single stale tag. The write checks again under its lock.
    current = current_version()
    return current if current in versions else max(versions)
