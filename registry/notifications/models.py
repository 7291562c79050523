"""The notification tables: preferences, system subscriptions, webhook subscriptions,
the outbox (one row per due item or event, recipient and channel: its key is unique, so
a reminder is queued once however often the scan runs), the delivery log, and the
cursor over the ledger from which record-change webhooks are read."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, utcnow

# What a user, or an owner who is not a user for their address, may choose per kind of
# reminder.
MODES = ("email", "digest", "none")
CHANNELS = ("email", "digest", "webhook")
STATES = ("pending", "sent", "failed", "skipped")


class NotificationPreference(Base):
    """How one user wants one kind of due item: at once by e-mail, in a daily digest or
    not at all (no row: e-mail at once)."""

    __tablename__ = "notification_preference"
    __table_args__ = (sa.CheckConstraint(sa.text("mode IN " + str(MODES)), name="mode_known"),)

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    mode: Mapped[str] = mapped_column(sa.String(8))


class AddressPreference(Base):
    """How an owner who is not a registry user, named by ``address`` (case-folded) in
    owner entries, wants one kind of due item: as a user chooses (no row: e-mail at
    once). Set on the page the signed link of each reminder sent to the address leads to
    (``notifications.addresses``)."""

    __tablename__ = "notification_address_preference"
    __table_args__ = (sa.CheckConstraint(sa.text("mode IN " + str(MODES)), name="mode_known"),)

    address: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    mode: Mapped[str] = mapped_column(sa.String(8))
    changed_at: Mapped[dt.datetime]


class SystemSubscription(Base):
    """A user who wants to hear of a system's due items as its owners do."""

    __tablename__ = "system_subscription"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    system_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ai_system.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebhookSubscription(Base):
    """An endpoint told of events (``events``: space-separated names of
    ``webhooks.EVENTS``), of one system or (``system_id`` None) of the whole registry.
    ``secret`` signs the payloads (Standard Webhooks, ``whsec_…``)."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    secret: Mapped[str] = mapped_column(sa.String(100))
    system_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ai_system.id", ondelete="CASCADE"), index=True
    )
    events: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    created_by: Mapped[str] = mapped_column(sa.String(320))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)

    @property
    def event_set(self) -> frozenset[str]:
        return frozenset(self.events.split())


class OutboxMessage(Base):
    """One notification to send: a due item or an event, by e-mail (at once or in the
    digest of ``digest_day``) to one user or to an owner who is not a user at
    ``address``, or to one webhook. ``key`` (the item's identity, the recipient and
    the channel) is unique: queued once, sent once."""

    __tablename__ = "notification_outbox"
    __table_args__ = (
        sa.CheckConstraint(sa.text("channel IN " + str(CHANNELS)), name="channel_known"),
        sa.CheckConstraint(sa.text("state IN " + str(STATES)), name="state_known"),
        sa.Index("ix_notification_outbox_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(400), unique=True)
    channel: Mapped[str] = mapped_column(sa.String(8))
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    webhook_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("webhook_subscription.id", ondelete="CASCADE"), index=True
    )
    # An owner's address (case-folded) when the owner is not a registry user.
    address: Mapped[str | None] = mapped_column(sa.String(320))
    event_type: Mapped[str] = mapped_column(sa.String(64))
    # The due item or event as JSON (what the e-mail or the webhook's payload says).
    payload: Mapped[str] = mapped_column(sa.Text)
    digest_day: Mapped[dt.date | None]
    state: Mapped[str] = mapped_column(sa.String(8), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(sa.String(500), default="")


class DeliveryAttempt(Base):
    """One attempt at sending an outbox message: the delivery log."""

    __tablename__ = "notification_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("notification_outbox.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[dt.datetime]
    ok: Mapped[bool]
    status_code: Mapped[int | None]
    error: Mapped[str] = mapped_column(sa.String(500), default="")


class NotifyCursor(Base):
    """How far along the ledger the record-change notifications have read."""

    __tablename__ = "notify_cursor"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
