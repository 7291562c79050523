"""Owners who are not registry users: the addresses owner entries name.

Such an owner (business, technical or oversight) is e-mailed their systems' due items at
once, at the address the owner entry gives, unless the policy refuses the address
(``REGISTRY_NOTIFY_OWNER_DOMAINS``: the domains such owners may be e-mailed at, ``*``
any, empty none) or the address has asked for nothing. Every such e-mail carries an
unsubscribe link holding a token signed with the application's secret key that names
the address: following it sets the address's stored preference, no sign-in needed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from registry.notifications.models import ADDRESS_MODES, AddressPreference

# What the unsubscribe tokens are signed for (never valid as another signed value).
SALT = "registry.notifications.unsubscribe"


def normalise(address: str) -> str:
    """An address as stored and compared: trimmed, case-folded."""
    return address.strip().casefold()


@dataclass(frozen=True)
class AddressPolicy:
    """The domains owners who are not users may be e-mailed at (None: any)."""

    domains: frozenset[str] | None

    @classmethod
    def of(cls, setting: str) -> AddressPolicy:
        """From ``REGISTRY_NOTIFY_OWNER_DOMAINS``: ``*`` any, else space- or
        comma-separated domains (empty: none)."""
        names = setting.replace(",", " ").split()
        if "*" in names:
            return cls(None)
        return cls(frozenset(normalise(n).lstrip("@") for n in names))

    def allows(self, address: str) -> bool:
        local, at, domain = normalise(address).rpartition("@")
        if not (local and at and domain) or any(c.isspace() for c in address.strip()):
            return False
        return self.domains is None or domain in self.domains


ANY = AddressPolicy(None)


def token(secret: str, address: str) -> str:
    """The unsubscribe token of an address."""
    return str(URLSafeSerializer(secret, salt=SALT).dumps(normalise(address)))


def address_of(secret: str, value: str) -> str | None:
    """The address an unsubscribe token names, or None when it is not one signed here."""
    try:
        found = URLSafeSerializer(secret, salt=SALT).loads(value)
    except BadSignature:
        return None
    return found if isinstance(found, str) else None


def unsubscribed(session: Session, addresses: Iterable[str] | None = None) -> set[str]:
    """The addresses (of ``addresses``; None: all) that asked for no reminders."""
    statement = sa.select(AddressPreference.address).where(AddressPreference.mode == "none")
    if addresses is not None:
        statement = statement.where(AddressPreference.address.in_(sorted(set(addresses))))
    return set(session.scalars(statement))


def mode_of(session: Session, address: str) -> str:
    """What an address asked for (none stored: e-mail at once)."""
    stored = session.get(AddressPreference, normalise(address))
    return stored.mode if stored is not None else "email"


def set_mode(session: Session, address: str, mode: str, now: dt.datetime) -> None:
    """Store what an address asks for (``email`` or ``none``). Flushes only."""
    if mode not in ADDRESS_MODES:
        raise ValueError(f"unknown mode {mode!r}")
    key = normalise(address)
    stored = session.get(AddressPreference, key)
    if stored is None:
        session.add(AddressPreference(address=key, mode=mode, changed_at=now))
    else:
        stored.mode, stored.changed_at = mode, now
    session.flush()
