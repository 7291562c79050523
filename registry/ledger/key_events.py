"""Signing keys in the ledger: the event that records a key, or a rotation."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.ledger.append import append_event
from registry.ledger.keys import Signer
from registry.ledger.models import AuditEvent, Checkpoint


def key_recorded(session: Session, signer: Signer) -> bool:
    """Whether the ledger already holds the key event of ``signer``."""
    if session.scalar(sa.select(Checkpoint.id).where(Checkpoint.key_id == signer.key_id).limit(1)):
        return True
    pattern = f'%"verifier_key":"{signer.verifier_key}"%'.encode()
    return bool(
        session.scalar(
            sa.select(AuditEvent.seq).where(AuditEvent.event.op("LIKE")(pattern)).limit(1)
        )
    )


def record_key(
    session: Session, actor_label: str, signer: Signer, previous: Signer | None = None
) -> dict[str, Any]:
    """Record a signing key in the ledger (``key.add``), or a rotation (``key.rotate``,
    naming the key it replaces)."""
    fields: dict[str, Any] = {"actor": actor_label, "verifier_key": signer.verifier_key}
    if previous is None:
        fields["action"] = "key.add"
    else:
        fields.update(action="key.rotate", previous_verifier_key=previous.verifier_key)
    return append_event(session, fields)
