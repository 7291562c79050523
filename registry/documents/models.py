"""The ``document`` table: what the registry received and keeps in its blob store."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base

# The kinds of evidence document (the API's ``document_type``), with how people read them.
DOCUMENT_TYPES = {
    "dpia": "DPIA",
    "fria": "FRIA",
    "model_card": "Model card",
    "data_sheet": "Data sheet",
    "test_report": "Test report",
    "bias_assessment": "Bias or fairness assessment",
    "contract": "Contract",
    "policy": "Policy",
    "minutes": "Minutes",
    "other": "Other",
}


class Document(Base):
    """A document received for a system: its bytes are the blob ``sha256`` of the store.

    ``received_at`` and ``receive_seq`` are those of its ``document.receive`` event in the
    ledger (what proves when it was received); ``valid_until`` is the user's (the last
    day it is in force, none: no end). ``withheld`` marks it confidential: packs carry
    its hash and metadata only. ``collected_at``: its blob was removed by the collector
    (never attached to any entry version); the row stays, as the ledger's events do.
    ``crc32``: the CRC-32 of the bytes received (none for documents received before
    migration 0027), a storage check, not evidence: an export checks each file it copies
    against it and the size (``evidence.pack``); the SHA-256 stays the document's identity.
    """

    __tablename__ = "document"
    __table_args__ = (
        sa.UniqueConstraint("system_id", "sha256"),
        sa.Index("ix_document_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(sa.ForeignKey("ai_system.id", ondelete="RESTRICT"))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    media_type: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(255))
    title: Mapped[str] = mapped_column(sa.String(500), default="")
    document_type: Mapped[str] = mapped_column(sa.String(32))
    received_at: Mapped[dt.datetime]
    valid_until: Mapped[dt.date | None]
    withheld: Mapped[bool] = mapped_column(default=False)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="RESTRICT")
    )
    uploaded_by: Mapped[str] = mapped_column(sa.String(320))
    receive_seq: Mapped[int] = mapped_column(
        sa.ForeignKey("audit_event.seq", ondelete="RESTRICT"), unique=True
    )
    collected_at: Mapped[dt.datetime | None]
    crc32: Mapped[int | None] = mapped_column(sa.BigInteger)

    def in_force(self, day: dt.date) -> bool:
        """Whether the document is valid on ``day`` (its last day included)."""
        return self.valid_until is None or self.valid_until >= day
