"""What the REST surface keeps between requests: the first answer to an idempotent POST."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base


class IdempotencyKey(Base):
    """A POST that carried an ``Idempotency-Key``: what was asked and what was answered.

    Written in the same transaction as the change it answers, so a stored answer exists
    exactly when the change was committed. Keys belong to a user; they are not part of
    the audit trail (the change they answered is) and may be purged once expired. The
    answer is replayed only to the token that made the request (``token_id``; none for
    keys stored before it was recorded, which are replayed to no token).
    """

    __tablename__ = "idempotency_key"
    __table_args__ = (sa.UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(255))
    method: Mapped[str] = mapped_column(sa.String(8))
    path: Mapped[str] = mapped_column(sa.String(2000))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int]
    response_body: Mapped[str] = mapped_column(sa.Text)
    response_headers: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    token_id: Mapped[int | None]
