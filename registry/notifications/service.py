"""What the surfaces call: a user's preferences and subscriptions, webhook
subscriptions and their delivery log, and "My tasks". Each takes the actor and checks
the permission; none commits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.permissions import require
from registry.errors import InvalidInput, NotFound, PermissionDenied
from registry.notifications import addresses, due_list, webhooks
from registry.notifications.due import AHEAD, KINDS, DueItem
from registry.notifications.models import (
    MODES,
    DeliveryAttempt,
    NotificationPreference,
    OutboxMessage,
    SystemSubscription,
    WebhookSubscription,
)
from registry.notifications.outbox import EVENTS, named_systems, officers
from registry.records.models import AISystem
from registry.records.search import MAX_PAGE

DEFAULT_MODE = "email"


def _person(actor: Actor) -> int:
    if actor.user_id is None:
        raise PermissionDenied("Only a signed-in user has notification preferences.")
    return actor.user_id


def get_preferences(session: Session, actor: Actor) -> dict[str, str]:
    """The actor's mode for every kind of due item (e-mail at once unless chosen)."""
    user_id = _person(actor)
    chosen = {
        p.kind: p.mode
        for p in session.scalars(
            sa.select(NotificationPreference).where(NotificationPreference.user_id == user_id)
        )
    }
    return {kind: chosen.get(kind, DEFAULT_MODE) for kind in KINDS}


def _check(preferences: dict[str, str]) -> None:
    """422 naming each unknown kind or mode."""
    errors: dict[str, list[str]] = {}
    for kind, mode in preferences.items():
        if kind not in KINDS:
            errors[kind] = [f"Unknown kind; one of: {', '.join(KINDS)}."]
        elif mode not in MODES:
            errors[kind] = [f"Must be one of: {', '.join(MODES)}."]
    if errors:
        raise InvalidInput("Some notification preferences are not valid.", errors)


def set_preferences(session: Session, actor: Actor, preferences: dict[str, str]) -> dict[str, str]:
    """Set the actor's mode for the kinds named (the others stay): 422 naming each
    unknown kind or mode."""
    user_id = _person(actor)
    _check(preferences)
    for kind, mode in preferences.items():
        row = session.get(NotificationPreference, (user_id, kind))
        if row is None:
            session.add(NotificationPreference(user_id=user_id, kind=kind, mode=mode))
        else:
            row.mode = mode
    session.flush()
    return get_preferences(session, actor)


def link_address(secret: str, token: str, *, max_age: dt.timedelta) -> str:
    """The address whose preferences the link's ``token`` authorises (an owner who is
    not a user, e-mailed the link): 403 when the token was not signed here or has
    expired."""
    try:
        return addresses.address_of(secret, token, max_age=max_age)
    except addresses.LinkRefused as refused:
        if refused.expired:
            raise PermissionDenied(
                "This link has expired. Each reminder e-mailed to you carries a fresh one; "
                "follow the link in the latest."
            ) from refused
        raise PermissionDenied(
            "This link is not valid: it may have been cut short when copied. Follow the "
            "link in a reminder e-mailed to you."
        ) from refused


def get_address_preferences(session: Session, address: str) -> dict[str, str]:
    """The address's mode for every kind of due item (e-mail at once unless chosen). The
    caller has the address from a link's token (``link_address``)."""
    key = addresses.normalise(address)
    chosen = addresses.modes(session, [key])
    return {kind: chosen.get((key, kind), DEFAULT_MODE) for kind in KINDS}


def set_address_preferences(
    session: Session, address: str, preferences: dict[str, str], now: dt.datetime
) -> dict[str, str]:
    """Set the address's mode for the kinds named (the others stay), as
    ``set_preferences`` does a user's: 422 naming each unknown kind or mode."""
    _check(preferences)
    addresses.set_modes(session, address, preferences, now)
    return get_address_preferences(session, address)


def stop_address(session: Session, address: str, now: dt.datetime) -> dict[str, str]:
    """Nothing of any kind for the address (the one-click unsubscribe, RFC 8058)."""
    return set_address_preferences(session, address, dict.fromkeys(KINDS, "none"), now)


def is_subscribed(session: Session, actor: Actor, system: AISystem) -> bool:
    if actor.user_id is None:
        return False
    return session.get(SystemSubscription, (actor.user_id, system.id)) is not None


def subscribe(session: Session, actor: Actor, system: AISystem, *, on: bool) -> bool:
    """Subscribe the actor to ``system``'s due items (or not, ``on`` False): any reader."""
    require(session, actor, "read", system)
    user_id = _person(actor)
    row = session.get(SystemSubscription, (user_id, system.id))
    if on and row is None:
        session.add(SystemSubscription(user_id=user_id, system_id=system.id))
    elif not on and row is not None:
        session.delete(row)
    session.flush()
    return on


# How many items a page of "My tasks" holds (at most records.search.MAX_PAGE, the
# register's pages' and the API's limit).
PER_PAGE = 50


@dataclass(frozen=True)
class Tasks:
    """A page of what is due for a user: the items from ``offset``, soonest first, and
    how many there are in all."""

    items: list[DueItem]
    total: int
    offset: int
    limit: int


def my_tasks(
    session: Session,
    actor: Actor,
    now: dt.datetime,
    *,
    ahead: dt.timedelta = AHEAD,
    offset: int = 0,
    limit: int = PER_PAGE,
) -> Tasks:
    """What is due for the actor (as owner named, compliance officer or subscriber),
    soonest first: the ``limit`` items from ``offset``, and how many in all. Any
    reader. Read from the kept list of due items (``due_list``); the systems whose owner
    entries name the actor from the readiness projection's owner index (the rule of
    ``recipients``: ``roles_named``, a role among ``TOLD_OWNERS``)."""
    require(session, actor, "read")
    user_id = _person(actor)
    errors: dict[str, list[str]] = {}
    if offset < 0:
        errors["offset"] = ["Must be 0 or more."]
    if not 1 <= limit <= MAX_PAGE:
        errors["limit"] = [f"Must be between 1 and {MAX_PAGE}."]
    if errors:
        raise InvalidInput("The page asked for is not valid.", errors)
    mine: set[int] | None = None
    if user_id not in officers(session):
        mine = set(
            session.scalars(
                sa.select(SystemSubscription.system_id).where(SystemSubscription.user_id == user_id)
            )
        )
        mine |= named_systems(session, actor, now)
    kept = due_list.current(session, now, ahead)
    if mine is not None and not mine:
        return Tasks([], 0, offset, limit)
    items = kept.page(session, mine, offset=offset, limit=limit)
    return Tasks(items, kept.count(session, mine), offset, limit)


def webhook_list(session: Session, actor: Actor) -> list[tuple[WebhookSubscription, str | None]]:
    """Every webhook subscription with its system's reference (None: registry-wide)."""
    require(session, actor, "read_webhooks")
    rows = session.execute(
        sa.select(WebhookSubscription, AISystem.reference)
        .outerjoin(AISystem, AISystem.id == WebhookSubscription.system_id)
        .order_by(WebhookSubscription.id)
    ).all()
    return [(hook, reference) for hook, reference in rows]


def create_webhook(
    session: Session,
    actor: Actor,
    *,
    url: str,
    events: list[str],
    system: AISystem | None,
    description: str = "",
    allow_private: bool,
    resolver: webhooks.Resolver = webhooks.resolve,
) -> WebhookSubscription:
    """A new subscription (its secret made here): refused (422) for an unknown event or
    a URL that is not public unless ``allow_private``."""
    require(session, actor, "manage_webhooks")
    errors: dict[str, list[str]] = {}
    unknown = [e for e in events if e not in EVENTS]
    if not events or unknown:
        errors["events"] = [f"Name one or more of: {', '.join(EVENTS)}."]
    if len(url) > 2000:
        errors["url"] = ["At most 2000 characters."]
    if errors:
        raise InvalidInput("The webhook subscription is not valid.", errors)
    webhooks.check_url(url, allow_private=allow_private, resolver=resolver)
    hook = WebhookSubscription(
        url=url,
        secret=webhooks.new_secret(),
        system_id=system.id if system is not None else None,
        events=" ".join(sorted(set(events))),
        description=description[:200],
        created_by=actor.label,
        active=True,
    )
    session.add(hook)
    session.flush()
    return hook


def get_webhook(
    session: Session, actor: Actor, webhook_id: int, *, manage: bool = False
) -> WebhookSubscription:
    require(session, actor, "manage_webhooks" if manage else "read_webhooks")
    hook = session.get(WebhookSubscription, webhook_id)
    if hook is None:
        raise NotFound(f"No webhook subscription {webhook_id}.")
    return hook


def delete_webhook(
    session: Session, actor: Actor, webhook_id: int
) -> tuple[WebhookSubscription, str | None]:
    """Remove a subscription, its queued messages and their log: what was removed,
    with its system's reference (None: registry-wide), as :func:`webhook_list` says it."""
    hook = get_webhook(session, actor, webhook_id, manage=True)
    reference = None
    if hook.system_id is not None:
        reference = session.scalar(
            sa.select(AISystem.reference).where(AISystem.id == hook.system_id)
        )
    session.execute(sa.delete(OutboxMessage).where(OutboxMessage.webhook_id == webhook_id))
    session.delete(hook)
    session.flush()
    return hook, reference


@dataclass(frozen=True)
class Delivery:
    """An outbox message of a webhook with its attempts."""

    message: OutboxMessage
    attempts: list[DeliveryAttempt]

    def to_dict(self) -> dict[str, Any]:
        m = self.message
        return {
            "id": m.id,
            "webhook_id": m.webhook_id,
            "event_type": m.event_type,
            "state": m.state,
            "attempts": m.attempts,
            "next_attempt_at": _iso(m.next_attempt_at) if m.state == "pending" else None,
            "sent_at": _iso(m.sent_at) if m.sent_at else None,
            "last_error": m.last_error or None,
            "log": [
                {
                    "at": _iso(a.attempted_at),
                    "ok": a.ok,
                    "status_code": a.status_code,
                    "error": a.error or None,
                }
                for a in self.attempts
            ],
        }


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def deliveries(
    session: Session, actor: Actor, webhook_id: int, *, limit: int = 100
) -> list[Delivery]:
    """A subscription's latest messages, newest first, each with its attempts."""
    get_webhook(session, actor, webhook_id)
    messages = list(
        session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.webhook_id == webhook_id)
            .order_by(OutboxMessage.id.desc())
            .limit(limit)
        )
    )
    log: dict[int, list[DeliveryAttempt]] = {m.id: [] for m in messages}
    if messages:
        for attempt in session.scalars(
            sa.select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id.in_(list(log)))
            .order_by(DeliveryAttempt.id)
        ):
            log[attempt.message_id].append(attempt)
    return [Delivery(m, log[m.id]) for m in messages]


def replay(session: Session, actor: Actor, message_id: int, now: dt.datetime) -> Delivery:
    """Send a webhook message again (sent or failed): queued at once, attempts afresh."""
    require(session, actor, "manage_webhooks")
    message = session.get(OutboxMessage, message_id)
    if message is None or message.webhook_id is None:
        raise NotFound(f"No webhook delivery {message_id}.")
    message.state = "pending"
    message.attempts = 0
    message.next_attempt_at = now
    message.last_error = ""
    session.flush()
    attempts = list(
        session.scalars(
            sa.select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id == message_id)
            .order_by(DeliveryAttempt.id)
        )
    )
    return Delivery(message, attempts)
