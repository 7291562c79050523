"""Attaching received documents to an entry: its next version lists them among its
``attachments`` (by name, SHA-256, media type and size), written through
``records.writes`` like every change. For uploads that name the entry they support
(the API's ``entry_id``, the entry forms' file field)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.documents.models import Document
from registry.errors import Conflict
from registry.records import reads, writes
from registry.records.models import AISystem, EntryVersion


def attachment_of(document: Document) -> dict[str, Any]:
    return {
        "name": document.name,
        "sha256": document.sha256,
        "media_type": document.media_type,
        "size": document.size,
    }


def with_attachments(body: dict[str, Any], documents: Sequence[Document]) -> dict[str, Any]:
    """``body`` with every document among its attachments (once each)."""
    if not documents:
        return body
    listed = list(body.get("attachments") or [])
    present = {a.get("sha256") for a in listed if isinstance(a, dict)}
    for document in documents:
        if document.sha256 not in present:
            listed.append(attachment_of(document))
            present.add(document.sha256)
    return {**body, "attachments": listed}


def attach(
    session: Session,
    actor: Actor,
    system: AISystem,
    entry_id: int,
    documents: Sequence[Document],
) -> EntryVersion | None:
    """The entry's next version, with ``documents`` attached (None when all already
    were). The entry must be a live entry of ``system``."""
    entry = reads.get_entry(session, entry_id, system)
    if entry.retired:
        raise Conflict(f"Entry {entry_id} is retired; a retired entry cannot change.")
    head = reads.get_version(session, entry, entry.head_number)
    body = json.loads(head.body)
    changed = with_attachments(body, documents)
    if changed == body:
        return None
    names = ", ".join(d.name for d in documents)
    return writes.update_entry(
        session,
        actor,
        entry,
        changed,
        base_version=entry.head_number,
        reason=f"Attached {names}"[:2000],
    )
