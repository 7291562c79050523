"""The one answer to "may this actor do this (to this system)?", for every surface.

- compliance officers read and write every record and create systems;
- technical owners read everything and write only to systems where a current
  ``owner`` entry of role ``technical`` names them (by user id or e-mail);
- only compliance officers grant waivers and approve promotions (``approve``), and
  govern a system (``govern``): retire and reinstate it, and classify it (the profile
  fields its kind declares ``officer_fields``);
- auditors read everything and write nothing;
- auditors and compliance officers export evidence packs (an export changes no record;
  it is recorded in the ledger, and an API token needs the ``read`` scope for it);
- administrators manage users and tokens, and are not users of the records;
- administrators and compliance officers manage webhook subscriptions and read and
  replay their delivery log (``manage_webhooks`` with the write scope,
  ``read_webhooks`` with the read scope).
An API token further limits its user to the token's scopes (``read``, ``write``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.errors import PermissionDenied
from registry.terms import in_term

ACTIONS = (
    "read",
    "create_system",
    "write",
    "approve",
    "govern",
    "manage_accounts",
    "export",
    "manage_webhooks",
    "read_webhooks",
)
EXPORTERS = frozenset({"compliance_officer", "auditor"})
WEBHOOK_MANAGERS = frozenset({"admin", "compliance_officer"})
READERS = frozenset({"compliance_officer", "technical_owner", "auditor"})


class System(Protocol):
    """What the permissions ask of a system (``records.models.AISystem``; accounts know
    nothing of records): its reference, to name it in a refusal, and the bodies of its
    live owner entries, read only when a technical owner's right to write depends on them."""

    @property
    def reference(self) -> str: ...

    def live_owner_bodies(self, session: Session) -> list[str]:
        """The bodies (JSON, as stored) of the system's live owner entries."""
        ...


def is_current_technical_owner(session: Session, actor: Actor, system: System) -> bool:
    """Whether a live owner entry of ``system`` names ``actor`` as technical owner today."""
    if actor.user_id is None and not actor.email:
        return False
    return names_technical_owner(actor, system.live_owner_bodies(session))


def names_technical_owner(actor: Actor, owner_bodies: Iterable[str]) -> bool:
    """Whether one of these owner entry bodies (JSON, as stored) names ``actor`` as
    technical owner today (UTC), by user id or e-mail."""
    return "technical" in roles_named(actor, owner_bodies)


def person_keys(person: dict[str, Any]) -> set[str]:
    """How an owner entry's person can name a user: ``user:<id>`` by user id,
    ``email:<address>`` by e-mail (compared without case)."""
    keys = set()
    if person.get("user_id") is not None:
        keys.add(f"user:{json.dumps(person['user_id'])}")
    email = str(person.get("email", "")).casefold()
    if email:
        keys.add(f"email:{email}")
    return keys


def actor_keys(actor: Actor) -> set[str]:
    """The keys by which owner entries name ``actor`` (:func:`person_keys`)."""
    return person_keys({"user_id": actor.user_id, "email": actor.email or ""})


def named_by(body: dict[str, Any], on: dt.date) -> set[str]:
    """The keys of the users an owner entry's body names on the day ``on``: its
    person's (:func:`person_keys`) within the entry's term (``terms.in_term``), else
    none. The one rule of who is named, which :func:`roles_named`
    and the readiness projection's owner index (``readiness_owner``) apply."""
    if not in_term(body, on):
        return set()
    person = body.get("person")
    return person_keys(person) if isinstance(person, dict) else set()


def roles_named(
    actor: Actor, owner_bodies: Iterable[str], *, on: dt.date | None = None
) -> set[str]:
    """The owner roles (``technical``, ``business``, …) in which these owner entry bodies
    (JSON, as stored) name ``actor`` on the day ``on`` (default today, UTC): by user id
    or e-mail, within the entry's term (:func:`named_by`)."""
    keys = actor_keys(actor)
    if not keys:
        return set()
    day = on or dt.datetime.now(dt.UTC).date()
    roles = set()
    for raw in owner_bodies:
        body = json.loads(raw)
        if named_by(body, day) & keys:
            roles.add(body.get("role", ""))
    return roles


def may_write_as_named_owner(actor: Actor) -> bool:
    """Whether ``actor``'s right to write depends on being named a system's technical
    owner (:func:`names_technical_owner`): a technical owner with the write scope who
    may not write everywhere."""
    return (
        "technical_owner" in actor.roles
        and actor.has_scope("write")
        and not may_write_everywhere(actor)
    )


def may_write_everywhere(actor: Actor) -> bool:
    """Whether ``actor`` may create systems and write to every system by its roles and
    scopes alone (nothing in the records can take that right away)."""
    return "compliance_officer" in actor.roles and actor.has_scope("write")


def can(session: Session, actor: Actor, action: str, system: System | None = None) -> bool:
    owner_bodies: list[str] = []
    if action == "write" and system is not None and may_write_as_named_owner(actor):
        owner_bodies = system.live_owner_bodies(session)
    return may(actor, action, owner_bodies, on_system=system is not None)


def may(
    actor: Actor, action: str, owner_bodies: Iterable[str] = (), *, on_system: bool = True
) -> bool:
    """The rule of :func:`can`, decided on the system's live owner entry bodies (JSON, as
    stored) already read: what a write decides on without reading again."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    roles = actor.roles
    if action == "manage_accounts":
        return "admin" in roles and actor.has_scope("write")
    if action == "read":
        return bool(roles & READERS) and actor.has_scope("read")
    if action == "export":
        return bool(roles & EXPORTERS) and actor.has_scope("read")
    if action in ("manage_webhooks", "read_webhooks"):
        scope = "write" if action == "manage_webhooks" else "read"
        return bool(roles & WEBHOOK_MANAGERS) and actor.has_scope(scope)
    if may_write_everywhere(actor):
        return True
    if not actor.has_scope("write") or action in ("approve", "govern"):
        return False
    if action == "write" and on_system and "technical_owner" in roles:
        return names_technical_owner(actor, owner_bodies)
    return False


def require(session: Session, actor: Actor, action: str, system: System | None = None) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` may do ``action``."""
    if not can(session, actor, action, system):
        raise denied(actor, action, system.reference if system is not None else None)


def denied(actor: Actor, action: str, reference: str | None = None) -> PermissionDenied:
    """The refusal of ``action`` to ``actor`` (on the system ``reference``)."""
    target = f" system {reference!r}" if reference is not None else ""
    verb = {
        "read": "read the records",
        "create_system": "register systems",
        "write": f"change{target or ' records'}",
        "approve": "grant waivers or approve promotions" + (f" for{target}" if target else ""),
        "govern": "retire, reinstate or classify" + (target or " systems"),
        "manage_accounts": "manage users and tokens",
        "export": "export evidence packs",
        "manage_webhooks": "manage webhook subscriptions",
        "read_webhooks": "read webhook subscriptions and deliveries",
    }[action]
    return PermissionDenied(f"{actor.label} may not {verb}.")
