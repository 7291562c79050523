"""Sending what the outbox holds, in three steps so that no write lock is held over the
network: :func:`outgoing` reads what is due to be sent (a read session), :func:`send`
sends it (SMTP, HTTP: no database), :func:`record` stores each outcome and the delivery
log in a short write transaction. A failure is retried with exponential backoff
(``BACKOFF`` doubling per attempt, at most ``MAX_BACKOFF``) until ``MAX_ATTEMPTS``;
then the message is marked failed, and an administrator can replay it."""

from __future__ import annotations

import datetime as dt
import json
import smtplib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.accounts.models import User
from registry.notifications import mail, webhooks
from registry.notifications.addresses import ANY, AddressPolicy, modes
from registry.notifications.models import (
    DeliveryAttempt,
    OutboxMessage,
    WebhookSubscription,
)

BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=6)
MAX_ATTEMPTS = 8
# How long a sender holds the messages it claimed before another may take them (it
# died, or its SMTP server hangs): longer than sending a batch takes.
CLAIM_LEASE = dt.timedelta(minutes=10)


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min, … 6 h."""
    return min(BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


@dataclass(frozen=True)
class Outgoing:
    """One e-mail or webhook request to make: the outbox rows it sends (a digest sends
    several)."""

    ids: tuple[int, ...]
    channel: str
    attempts: int
    items: list[dict[str, Any]]
    to: str | None = None
    day: dt.date | None = None
    url: str | None = None
    secret: str | None = None
    body: bytes = b""
    message_id: str = ""
    # An owner who is not a user: the address the unsubscribe link names.
    address: str | None = None
    # Not to be sent (the address is refused now, or asked for nothing): why.
    skip: str = ""


@dataclass(frozen=True)
class Outcome:
    outgoing: Outgoing
    ok: bool
    status_code: int | None
    error: str


def outgoing(
    session: Session, now: dt.datetime, *, limit: int = 1000, policy: AddressPolicy = ANY
) -> list[Outgoing]:
    """What is due to be sent at ``now``: pending e-mails and webhook messages whose next
    attempt has come, and the digests of days before ``now``'s (one per user or owner's
    address and day). A message to an owner's address that ``policy`` refuses now, or
    that has asked for nothing of its kind since it was queued, is marked to be
    skipped."""
    rows = session.execute(
        sa.select(OutboxMessage, User.email, WebhookSubscription)
        .outerjoin(User, User.id == OutboxMessage.user_id)
        .outerjoin(WebhookSubscription, WebhookSubscription.id == OutboxMessage.webhook_id)
        .where(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    chosen = modes(session, {m.address for m, _email, _hook in rows if m.address})
    found: list[Outgoing] = []
    # (to, day, the owner's address or ""): the messages of one digest.
    digests: dict[tuple[str, dt.date, str], list[OutboxMessage]] = defaultdict(list)
    for message, email, hook in rows:
        data = json.loads(message.payload)
        address = message.address
        skip = _refused(address, data["data"]["kind"], chosen, policy) if address else ""
        if message.channel == "digest":
            assert message.digest_day is not None
            if message.digest_day >= now.date():
                continue
            if address and skip:
                found.append(
                    Outgoing((message.id,), "digest", message.attempts, [], to=address, skip=skip)
                )
            elif address or email:
                to = address or email
                digests[(to, message.digest_day, address or "")].append(message)
        elif message.channel == "email" and (address or email):
            found.append(
                Outgoing(
                    (message.id,),
                    "email",
                    message.attempts,
                    [data["data"]],
                    to=address or email,
                    address=address,
                    skip=skip,
                )
            )
        elif message.channel == "webhook" and hook is not None:
            body = json.dumps(
                {**data, "timestamp": message.created_at.astimezone(dt.UTC).isoformat()},
                sort_keys=True,
            ).encode()
            found.append(
                Outgoing(
                    (message.id,),
                    "webhook",
                    message.attempts,
                    [data["data"]],
                    url=hook.url,
                    secret=hook.secret,
                    body=body,
                    message_id=f"msg_{message.id}",
                )
            )
    for (to, day, address), messages in sorted(digests.items()):
        items = [json.loads(m.payload)["data"] for m in messages]
        items.sort(key=lambda i: (i["due_at"], i["system"], i["key"]))
        found.append(
            Outgoing(
                tuple(m.id for m in messages),
                "digest",
                max(m.attempts for m in messages),
                items,
                to=to,
                day=day,
                address=address or None,
            )
        )
    return found


def _refused(
    address: str, kind: str, chosen: dict[tuple[str, str], str], policy: AddressPolicy
) -> str:
    """Why a message queued for an owner's address is not to be sent now (the address
    asked for nothing of its kind since, or ``policy`` refuses it), or ""."""
    if chosen.get((address, kind)) == "none":
        return "The address asked for no reminders of this kind."
    if not policy.allows(address):
        return "The address is refused by REGISTRY_NOTIFY_OWNER_DOMAINS."
    return ""


def claim(session: Session, batch: Sequence[Outgoing], now: dt.datetime) -> list[Outgoing]:
    """Take the messages of ``batch`` for this sender: each one's next attempt moved
    :data:`CLAIM_LEASE` ahead with a conditional UPDATE (still pending, still due), so two
    workers that read the same outbox send each message once. What is returned is what
    this sender got all of; the caller commits before sending."""
    mine = []
    for outgoing in batch:
        taken = session.execute(
            sa.update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(outgoing.ids),
                OutboxMessage.state == "pending",
                OutboxMessage.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == len(outgoing.ids):
            mine.append(outgoing)
    return mine


def send(
    batch: Sequence[Outgoing],
    *,
    smtp: mail.SmtpSettings | None,
    base_url: str,
    allow_private: bool,
    resolver: webhooks.Resolver = webhooks.resolve,
    unsubscribe_link: Callable[[str], str] | None = None,
) -> list[Outcome]:
    """Send each (no database): the outcome of each. ``unsubscribe_link``: the link
    each e-mail to an owner's address carries (from the address)."""
    outcomes = []
    for out in batch:
        if out.skip:
            outcomes.append(Outcome(out, False, None, out.skip))
            continue
        if out.channel == "webhook":
            assert out.url is not None and out.secret is not None
            sent = webhooks.post(
                out.url,
                out.secret,
                out.message_id,
                out.body,
                allow_private=allow_private,
                resolver=resolver,
            )
            outcomes.append(Outcome(out, sent.ok, sent.status_code, sent.error))
            continue
        if smtp is None:
            outcomes.append(Outcome(out, False, None, "No SMTP server configured."))
            continue
        assert out.to is not None
        unsubscribe = unsubscribe_link(out.address) if out.address and unsubscribe_link else None
        if out.address and unsubscribe is None:
            outcomes.append(Outcome(out, False, None, "No unsubscribe link to offer."))
            continue
        message = mail.compose(
            smtp.sender, out.to, out.items, base_url, day=out.day, unsubscribe=unsubscribe
        )
        try:
            mail.send(smtp, message)
            outcomes.append(Outcome(out, True, None, ""))
        except (smtplib.SMTPException, OSError) as exc:
            outcomes.append(Outcome(out, False, None, f"{type(exc).__name__}: {exc}"[:500]))
    return outcomes


@dataclass(frozen=True)
class Delivered:
    sent: int
    retrying: int
    failed: int
    skipped: int = 0


def record(session: Session, outcomes: Sequence[Outcome], now: dt.datetime) -> Delivered:
    """Store each outcome: sent, or the next attempt after the backoff, or failed after
    ``MAX_ATTEMPTS``; every attempt goes to the delivery log."""
    sent = retrying = failed = skipped = 0
    for outcome in outcomes:
        for message_id in outcome.outgoing.ids:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.state != "pending":
                continue
            if outcome.outgoing.skip:
                message.state, message.last_error = "skipped", outcome.error[:500]
                skipped += 1
                continue
            message.attempts += 1
            session.add(
                DeliveryAttempt(
                    message_id=message_id,
                    attempted_at=now,
                    ok=outcome.ok,
                    status_code=outcome.status_code,
                    error=outcome.error[:500],
                )
            )
            if outcome.ok:
                message.state, message.sent_at, message.last_error = "sent", now, ""
                sent += 1
            elif message.attempts >= MAX_ATTEMPTS:
                message.state, message.last_error = "failed", outcome.error[:500]
                failed += 1
            else:
                message.next_attempt_at = now + backoff(message.attempts)
                message.last_error = outcome.error[:500]
                retrying += 1
    session.flush()
    return Delivered(sent, retrying, failed, skipped)
