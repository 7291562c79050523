"""Records as API representations (dicts the output schemas dump)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import request, url_for

from registry.accounts.models import ApiToken
from registry.api.conditional import etag
from registry.records import reads
from registry.records.models import Entry, EntryVersion
from registry.records.reads import RegisterRow


def api_path(*segments: object) -> str:
    """A path under /api/v1 (links are built on every answer: cheaper than url_for).
    Segments are ids, fixed words and references, which hold only URL-safe characters
    (``records.kinds.REFERENCE``)."""
    return f"{request.script_root}/api/v1/" + "/".join(map(str, segments))


def entry_out(entry: Entry, version: EntryVersion, *, written: bool = False) -> dict[str, Any]:
    """``written``: ``version`` was just written, so it is the head (which saves
    reloading the entry's head pointer that the write moved)."""
    head = version.number if written else entry.head_number
    return entry_dict(entry.id, entry.system.reference, entry.kind, head, version)


def entry_dict(entry_id: int, reference: str, kind: str, head: int, version: Any) -> dict[str, Any]:
    """An entry as the API shows it; ``version`` is an EntryVersion or a row with its
    columns (``records.reads.current_rows``)."""
    return {
        "id": entry_id,
        "system": reference,
        "kind": kind,
        "version": version.number,
        "head_version": head,
        "retired": version.tombstone,
        **_version_fields(entry_id, version),
        "links": {
            "self": api_path("entries", entry_id),
            "versions": api_path("entries", entry_id, "versions"),
            "system": api_path("systems", reference),
        },
    }


def _version_fields(entry_id: int, version: Any) -> dict[str, Any]:
    return {
        "etag": etag(entry_id, version.number),
        "body": json.loads(version.body),
        "body_hash": version.body_hash,
        "recorded_at": version.recorded_at,
        "effective_from": version.effective_from,
        "author": version.author,
        "reason": version.reason,
        "audit_seq": version.audit_seq,
    }


def version_out(entry: Entry, version: EntryVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "tombstone": version.tombstone,
        **_version_fields(entry.id, version),
    }


def system_summary(row: RegisterRow) -> dict[str, Any]:
    profile = row.profile
    return {
        "reference": row.system.reference,
        "name": profile.get("name", ""),
        "stage": profile.get("stage", ""),
        "risk_tier": profile.get("risk_tier"),
        "organisation": profile.get("organisation"),
        "retired": row.retired,
        "profile_entry_id": row.entry_id,
        "profile_version": row.version.number,
        "recorded_at": row.version.recorded_at,
        "effective_from": row.version.effective_from,
        "links": {
            "self": api_path("systems", row.system.reference),
            "versions": api_path("entries", row.entry_id, "versions"),
        },
    }


def token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": sorted(token.scope_set),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_on": token.last_used_at.astimezone(dt.UTC).date()
        if token.last_used_at is not None
        else None,
    }


def created_entry(
    session: Any, version: EntryVersion
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The answer to a request that created an entry: the entry, 201, where it is and
    its ETag."""
    entry = reads.get_entry(session, version.entry_id)
    return (
        entry_out(entry, version, written=True),
        201,
        {
            "Location": url_for("api_entries.entry", entry_id=entry.id),
            "ETag": etag(entry.id, version.number),
        },
    )
